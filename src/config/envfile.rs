//! `env_file` parsing: the `.env` format most tools agree on.
//!
//! - `KEY=VALUE` and `export KEY=VALUE`; blank lines and `#` comment lines;
//! - an unquoted value is taken up to the end of the line (trimmed); a `#`
//!   inside it is part of the value, as with Docker's `--env-file`;
//! - `'single quoted'` values are literal; `"double quoted"` ones understand
//!   `\n`, `\t`, `\"` and `\\` (any other backslash is kept as is); after the
//!   closing quote only a `# comment` may follow.
//!
//! Values are **not** `${VAR}`-expanded, like Docker's `--env-file`: the file
//! holds data (often secrets), not templates. Expansion applies to the `env`
//! table in oxfile.toml.

use super::expand::is_valid_name;

/// One malformed line of an env file (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileError {
    pub line: usize,
    pub message: String,
}

/// Parses the text of an env file into `(key, value)` pairs in file order. A
/// key set twice keeps its last value (at its first position). Every malformed
/// line is reported, not just the first.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, Vec<EnvFileError>> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((key, value))) => set(&mut pairs, key, value),
            Err(message) => errors.push(EnvFileError {
                line: index + 1,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(pairs)
    } else {
        Err(errors)
    }
}

/// Sets `key` in an ordered list of pairs, replacing an earlier value in place.
pub fn set(pairs: &mut Vec<(String, String)>, key: String, value: String) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key, value)),
    }
}

fn parse_line(raw: &str) -> Result<Option<(String, String)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    };
    let Some((key, value)) = line.split_once('=') else {
        return Err(format!(
            "expected KEY=VALUE, found \"{line}\" (to pass a variable through from oxinit's environment, use env = {{ {line} = \"${{{line}}}\" }} in oxfile.toml)"
        ));
    };
    let key = key.trim();
    if !is_valid_name(key) {
        return Err(format!(
            "\"{key}\" is not a valid variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok(Some((key.to_string(), parse_value(value.trim())?)))
}

fn parse_value(value: &str) -> Result<String, String> {
    let (parsed, after) = if let Some(body) = value.strip_prefix('\'') {
        let close = body
            .find('\'')
            .ok_or("single quote is not closed on this line")?;
        (body[..close].to_string(), &body[close + 1..])
    } else if let Some(body) = value.strip_prefix('"') {
        parse_double_quoted(body)?
    } else {
        return Ok(value.to_string());
    };
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(format!(
            "unexpected \"{after}\" after the closing quote (only a # comment may follow)"
        ));
    }
    Ok(parsed)
}

/// Returns the unescaped value and what follows the closing quote.
fn parse_double_quoted(body: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[index + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            other => out.push(other),
        }
    }
    Err("double quote is not closed on this line".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_export_comments_and_blank_lines() {
        let text =
            "# a comment\n\nA=1\nexport B=two words  \n  C = spaced\r\nD=\nE=x#not-a-comment\n";
        assert_eq!(
            parse_env_file(text).unwrap(),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "spaced"),
                ("D", ""),
                ("E", "x#not-a-comment")
            ])
        );
    }

    #[test]
    fn quoted_values() {
        let text = concat!(
            "S='lit ${X} \\n'\n",
            "D=\"line1\\nline2 \\\"q\\\" back\\\\slash \\$keep\"\n",
            "C=\"v\" # trailing comment\n",
            "EQ=\"a=b\"\n",
        );
        assert_eq!(
            parse_env_file(text).unwrap(),
            pairs(&[
                ("S", "lit ${X} \\n"),
                ("D", "line1\nline2 \"q\" back\\slash \\$keep"),
                ("C", "v"),
                ("EQ", "a=b"),
            ])
        );
    }

    #[test]
    fn values_are_not_expanded() {
        assert_eq!(
            parse_env_file("URL=${HOME}/x").unwrap(),
            pairs(&[("URL", "${HOME}/x")])
        );
    }

    #[test]
    fn later_duplicate_wins_in_place() {
        assert_eq!(
            parse_env_file("A=1\nB=2\nA=3\n").unwrap(),
            pairs(&[("A", "3"), ("B", "2")])
        );
    }

    #[test]
    fn every_malformed_line_is_reported_with_its_number() {
        let text = "OK=1\nNOEQUALS\n1BAD=x\nQ=\"open\nS='open\nT=\"x\" junk\nexportX=1\n";
        let errors = parse_env_file(text).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert!(
            errors[0].message.contains("expected KEY=VALUE"),
            "{errors:?}"
        );
        assert!(errors[0].message.contains("${NOEQUALS}"), "{errors:?}");
        assert!(errors[1].message.contains("\"1BAD\" is not a valid"));
        assert!(errors[2].message.contains("double quote is not closed"));
        assert!(errors[3].message.contains("single quote is not closed"));
        assert!(errors[4].message.contains("unexpected \"junk\""));
    }
}
