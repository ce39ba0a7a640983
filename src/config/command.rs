//! `command = "node dist/server.js"`: split like a POSIX shell would, then
//! exec'd directly, without a shell. That keeps scratch/distroless images
//! working and sends stop signals to the app rather than to a shell.
//!
//! The price is that shell syntax does nothing: `a | b` runs `a` with the
//! arguments `|` and `b`. [`shell_syntax`] spots that so `check` can warn.

use toml::de::DeValue;

use super::expand::expand;
use super::report::Report;
use super::value::{no_nul, Item};

/// Reads a `command` item (string or array) into argv, reporting every
/// problem; returns an empty argv when there were errors.
pub(super) fn parse(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<String> {
    let (value, what) = (item.value, &item.what);
    let span = value.span();
    // Where each word was written: an array item has its own position.
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    let words: Vec<String> = match value.get_ref() {
        DeValue::String(text) => {
            let words = match split(text) {
                Ok(words) => words,
                Err(e) => {
                    item.error(e, report);
                    return Vec::new();
                }
            };
            if let Some(syntax) = shell_syntax(text) {
                if !runs_a_shell(&words) {
                    let quoted = serde_json::to_string(text.as_ref()).unwrap_or_default();
                    report.warn(
                        &span,
                        format!("{what}: \"{syntax}\" means something only to a shell, but this command runs without a shell (the program gets \"{syntax}\" as an argument); wrap it: command = [\"sh\", \"-c\", {quoted}]"),
                    );
                }
            }
            words
        }
        DeValue::Array(items) => {
            let mut words = Vec::new();
            for word in items.iter() {
                match word.get_ref() {
                    DeValue::String(s) => {
                        words.push(s.to_string());
                        spans.push(word.span());
                    }
                    _ => report.wrong_type(word, what, "a string in the command array"),
                }
            }
            if words.len() != items.len() {
                return Vec::new();
            }
            words
        }
        _ => {
            report.wrong_type(value, what, "a string or an array of strings");
            return Vec::new();
        }
    };
    if words.is_empty() {
        item.error("the command is empty; name a program to run", report);
        return Vec::new();
    }
    // Expanded per word after splitting, so a value with spaces stays one argument.
    let mut argv = Vec::with_capacity(words.len());
    for (index, word) in words.iter().enumerate() {
        let at = spans.get(index).unwrap_or(&span);
        match expand(word, item.ctx.env) {
            Ok(expanded) if !no_nul(&expanded, at, what, report) => return Vec::new(),
            Ok(expanded) => argv.push(expanded),
            Err(e) => {
                report.error(at, format!("{what}: {e}"));
                return Vec::new();
            }
        }
    }
    if argv[0].is_empty() {
        item.error("the program name (first word) is empty", report);
    }
    argv
}

/// Splits a string command into words (quotes, backslashes and `#` comments
/// as in a POSIX shell; no expansion of any kind).
///
/// A `${VAR:-a default}` reference is kept whole even when its default holds
/// spaces or quotes: it is hidden behind a placeholder while shlex splits,
/// then put back, so the expansion that follows sees it intact.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let (masked, references) = mask_references(text);
    let words = shlex::split(&masked).ok_or_else(|| {
        "unbalanced quotes or a trailing backslash; close every ' and \" (or write command as an array of strings)".to_string()
    })?;
    Ok(words
        .into_iter()
        .map(|word| unmask_references(&word, &references))
        .collect())
}

// Private-use characters: they never occur in a real command line.
const MASK_OPEN: char = '\u{F8F0}';
const MASK_CLOSE: char = '\u{F8F1}';

/// Replaces each `${…}` with `OPEN index CLOSE`; `$$` is skipped so `$${X}`
/// stays literal. An unclosed `${` is left for the expansion to report.
fn mask_references(text: &str) -> (String, Vec<&str>) {
    let mut masked = String::with_capacity(text.len());
    let mut references = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        masked.push_str(&rest[..dollar]);
        let from_dollar = &rest[dollar..];
        let reference_len = if from_dollar.starts_with("${") {
            from_dollar.find('}').map(|close| close + 1)
        } else {
            None
        };
        match reference_len {
            Some(len) => {
                masked.push(MASK_OPEN);
                masked.push_str(&references.len().to_string());
                masked.push(MASK_CLOSE);
                references.push(&from_dollar[..len]);
                rest = &from_dollar[len..];
            }
            None => {
                // `$$` as a pair, so the second `$` cannot start a `${`.
                let len = if from_dollar.starts_with("$$") { 2 } else { 1 };
                masked.push_str(&from_dollar[..len]);
                rest = &from_dollar[len..];
            }
        }
    }
    masked.push_str(rest);
    (masked, references)
}

fn unmask_references(word: &str, references: &[&str]) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(open) = rest.find(MASK_OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + MASK_OPEN.len_utf8()..];
        let close = after.find(MASK_CLOSE).unwrap_or(after.len());
        let index: usize = after[..close].parse().unwrap_or(usize::MAX);
        out.push_str(references.get(index).copied().unwrap_or_default());
        rest = after.get(close + MASK_CLOSE.len_utf8()..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The first piece of `text` that a shell would have interpreted but that
/// reaches the program literally here: an unquoted operator (`|`, `||`,
/// `&&`, `;`, `>`, `>>`, `<`, `&`, also when glued to a word as in `2>&1`),
/// or a `$(…)`/backtick substitution outside single quotes. `${VAR}` is
/// ours (expanded by oxinit) and is skipped.
pub fn shell_syntax(text: &str) -> Option<String> {
    #[derive(PartialEq)]
    enum State {
        Normal,
        Single,
        Double,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut state = State::Normal;
    let mut word_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at_word_start = word_start;
        word_start = false;
        match state {
            State::Single => {
                if c == '\'' {
                    state = State::Normal;
                }
            }
            State::Normal | State::Double => {
                let next = chars.get(i + 1).copied();
                match c {
                    '\\' => i += 1,
                    '$' if next == Some('{') => {
                        while i < chars.len() && chars[i] != '}' {
                            i += 1;
                        }
                    }
                    '$' if next == Some('(') => return Some("$(".to_string()),
                    '`' => return Some("`".to_string()),
                    '"' if state == State::Double => state = State::Normal,
                    '"' => state = State::Double,
                    '\'' if state == State::Normal => state = State::Single,
                    c if c.is_whitespace() && state == State::Normal => word_start = true,
                    '#' if state == State::Normal && at_word_start => {
                        // A comment, as shlex treats it: skip to the end of the line.
                        while i < chars.len() && chars[i] != '\n' {
                            i += 1;
                        }
                    }
                    '|' | '&' | ';' | '<' | '>' if state == State::Normal => {
                        let run: String = chars[i..]
                            .iter()
                            .take_while(|c| matches!(c, '|' | '&' | ';' | '<' | '>'))
                            .collect();
                        return Some(run);
                    }
                    _ => {}
                }
            }
        }
        i += 1;
    }
    None
}

/// True when argv runs a shell with a script (`sh -c '…'`, `bash -ec '…'`):
/// then shell syntax is intended and reaches a shell.
pub fn runs_a_shell(argv: &[String]) -> bool {
    const SHELLS: [&str; 5] = ["sh", "bash", "dash", "ash", "zsh"];
    let Some(program) = argv.first() else {
        return false;
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    if !SHELLS.contains(&base) {
        return false;
    }
    argv[1..]
        .iter()
        .take_while(|arg| arg.starts_with('-') && *arg != "--")
        .any(|arg| !arg.starts_with("--") && arg.contains('c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split("sqlite3 /data/app.db 'PRAGMA optimize'").unwrap(),
            words(&["sqlite3", "/data/app.db", "PRAGMA optimize"])
        );
        assert_eq!(
            split(r#"a "b c" d\ e "q\"x" # comment"#).unwrap(),
            words(&["a", "b c", "d e", "q\"x"])
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn references_stay_whole_while_splitting() {
        assert_eq!(
            split("run ${A:-x y} '${B}' pre${C:-\"q\"}post $${D} z").unwrap(),
            words(&[
                "run",
                "${A:-x y}",
                "${B}",
                "pre${C:-\"q\"}post",
                "$${D}",
                "z"
            ])
        );
        assert_eq!(split("a ${OPEN b").unwrap(), words(&["a", "${OPEN", "b"]));
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert!(split("echo 'oops")
            .unwrap_err()
            .contains("unbalanced quotes"));
        assert!(split("echo \"oops").is_err());
        assert!(split("echo oops\\").is_err());
    }

    #[test]
    fn operators_as_tokens_are_spotted() {
        for (command, found) in [
            ("ps aux | grep x", "|"),
            ("a || b", "||"),
            ("migrate && serve", "&&"),
            ("a ; b", ";"),
            ("serve > log", ">"),
            ("serve >> log", ">>"),
            ("serve < in", "<"),
            ("serve &", "&"),
            ("serve 2>&1", ">&"),
            ("cd /srv; exec x", ";"),
            ("echo $(date)", "$("),
            ("echo \"now $(date)\"", "$("),
            ("echo `date`", "`"),
        ] {
            assert_eq!(shell_syntax(command).as_deref(), Some(found), "{command}");
        }
    }

    #[test]
    fn quoted_or_escaped_operators_are_fine() {
        for command in [
            "node dist/server.js",
            "grep -E 'a|b' file",
            "echo \"a && b\"",
            "echo a\\;b",
            "echo '$(not run)' '`x`'",
            "serve --url ${URL:-a|b}",
            "serve # comment with | pipe",
            "echo $HOME",
        ] {
            assert_eq!(shell_syntax(command), None, "{command}");
        }
    }

    #[test]
    fn shells_with_a_script_are_recognised() {
        assert!(runs_a_shell(&words(&["sh", "-c", "a | b"])));
        assert!(runs_a_shell(&words(&["/bin/bash", "-ec", "a | b"])));
        assert!(runs_a_shell(&words(&["zsh", "-l", "-c", "x"])));
        assert!(!runs_a_shell(&words(&["sh", "script.sh", "-c"])));
        assert!(!runs_a_shell(&words(&["sh", "--", "-c"])));
        assert!(!runs_a_shell(&words(&["fish", "-c", "x"])));
        assert!(!runs_a_shell(&words(&["node", "-c", "x"])));
        assert!(!runs_a_shell(&[]));
    }
}
