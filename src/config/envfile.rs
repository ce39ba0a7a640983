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
//! table in oxfile.toml. For the same reason no error shows a value, and
//! none shows a line that might be one.
//!
//! PID 1 reads the file before anything runs, so [`read_env_file`] reads
//! only a regular file, and at most [`MAX_ENV_FILE`] bytes of it.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::expand::is_valid_name;

/// The largest env file read. Linux passes at most about 2 MiB of
/// arguments and environment to a program (a quarter of the default 8 MiB
/// stack), so a bigger file could never reach the process anyway; the cap
/// keeps a wrong path (a log, a database) from being read into PID 1.
pub const MAX_ENV_FILE: u64 = 1 << 20;

/// Reads an env file: a regular file of at most [`MAX_ENV_FILE`] bytes.
///
/// Anything else is refused before it is read: a FIFO blocks the open (and
/// so `check` and boot) until some writer appears, `/dev/zero` never ends,
/// and opening some devices does something (`/dev/watchdog` arms the
/// watchdog). The error names the path and what it is instead.
pub fn read_env_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    check_regular(path, &metadata)?;
    // O_NONBLOCK: should the path become a FIFO between the stat and the
    // open, the open returns at once instead of waiting for a writer, and
    // the fstat below refuses it. It changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    check_regular(path, &metadata)?;
    let mut bytes = Vec::new();
    // One byte past the cap tells a file of exactly the cap from a longer
    // one (or one that grew since the stat).
    file.take(MAX_ENV_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_ENV_FILE {
        return Err(too_big(path));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = memchr::memchr_iter(b'\n', valid).count() + 1;
        format!(
            "{shown} is not UTF-8 text (line {line} holds bytes that are not); save it as UTF-8"
        )
    })
}

fn check_regular(path: &Path, metadata: &Metadata) -> Result<(), String> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return if metadata.len() > MAX_ENV_FILE {
            Err(too_big(path))
        } else {
            Ok(())
        };
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(format!(
        "{} is {what}; env_file must name a regular file (a pipe or a device could block oxinit or never end): write the variables to a file",
        path.display()
    ))
}

fn too_big(path: &Path) -> String {
    format!(
        "{} is larger than {} KiB, the most an env file may hold (a program cannot be given more than about 2 MiB of environment); is this the right file?",
        path.display(),
        MAX_ENV_FILE >> 10
    )
}

/// One malformed line of an env file (1-based line number). The message
/// names the key when there is one, and never shows a value: env files
/// hold secrets, and `check` output ends up in CI logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileError {
    pub line: usize,
    pub message: String,
}

/// Parses the text of an env file into `(key, value)` pairs in file order. A
/// key set twice keeps its last value (at its first position). Every malformed
/// line is reported, not just the first.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, Vec<EnvFileError>> {
    let mut vars = Vars::default();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((key, value))) => vars.set(key, value),
            Err(message) => errors.push(EnvFileError {
                line: index + 1,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(vars.into_pairs())
    } else {
        Err(errors)
    }
}

/// Variables in the order they were first set; setting a key again
/// replaces its value in place. Keys are found by map, so 100,000 of them
/// cost 100,000 steps, not 100,000².
#[derive(Debug, Default)]
pub struct Vars {
    pairs: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Vars {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Vars {
        let mut vars = Vars::default();
        for (key, value) in pairs {
            vars.set(key, value);
        }
        vars
    }

    pub fn set(&mut self, key: String, value: String) {
        match self.index.get(&key) {
            Some(&at) => self.pairs[at].1 = value,
            None => {
                self.index.insert(key.clone(), self.pairs.len());
                self.pairs.push((key, value));
            }
        }
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
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
        return Err(no_equals(line));
    };
    let key = key.trim();
    if !is_valid_name(key) {
        return Err(bad_name(key));
    }
    let value = parse_value(value.trim()).map_err(|why| format!("{key}: {why}"))?;
    if value.contains('\0') {
        return Err(format!(
            "{key}: the value holds a NUL byte, which cannot be passed in a program's environment (it would end the value there); remove it"
        ));
    }
    Ok(Some((key.to_string(), value)))
}

/// A line without `=`. When it starts with a name and a `:`
/// (`SECRET_TOKEN: s3cr3t`, the YAML habit), that name is the key and is
/// shown; the rest is the value and is not. Any other line is not shown at
/// all: a single word may be a key to pass through, but it may as well be a
/// token pasted on its own line, the second line of a value, or the first
/// word of a passphrase.
fn no_equals(line: &str) -> String {
    let name_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let (name, rest) = line.split_at(name_len);
    if is_valid_name(name) && rest.starts_with(':') {
        return format!(
            "{name}: expected KEY=VALUE, found no \"=\" after the name; write {name}=VALUE (the rest of the line is not shown: it may be a secret)"
        );
    }
    "expected KEY=VALUE, found a line without \"=\" (not shown: it may be a secret; a value cannot span lines, write \\n in a double-quoted value instead); to pass a variable through from oxinit's environment, write env = { NAME = \"${NAME}\" } in oxfile.toml".to_string()
}

/// A key that is not a variable name. It is described, not shown: a line
/// that is not meant as `KEY=VALUE` (the middle of a multi-line value, a
/// base64 line with `=` padding) would otherwise be printed.
fn bad_name(key: &str) -> String {
    let rule = "names are letters, digits and _, and do not start with a digit";
    let bad = key
        .chars()
        .enumerate()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())));
    let what = match bad {
        None => "there is no name before \"=\"".to_string(),
        Some((i, c)) if c.is_ascii_graphic() || c == ' ' => {
            format!("character {} of the name before \"=\" is \"{c}\"", i + 1)
        }
        Some((i, c)) => format!(
            "character {} of the name before \"=\" is {}",
            i + 1,
            c.escape_unicode()
        ),
    };
    format!("not a valid variable name: {what} ({rule}; the line is not shown: it may be part of a value)")
}

fn parse_value(value: &str) -> Result<String, String> {
    let (parsed, after) = if let Some(body) = value.strip_prefix('\'') {
        let close = body
            .find('\'')
            .ok_or("single quote is not closed on this line (a value cannot span lines)")?;
        (body[..close].to_string(), &body[close + 1..])
    } else if let Some(body) = value.strip_prefix('"') {
        parse_double_quoted(body)?
    } else {
        return Ok(value.to_string());
    };
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(
            "unexpected text after the closing quote (only a # comment may follow; the text is not shown: it may be a secret)"
                .to_string(),
        );
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
    Err("double quote is not closed on this line (a value cannot span lines: write \\n for a line break)".to_string())
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
        // No line's own text is shown: it may be (part of) a value.
        assert!(errors[0].message.contains("${NAME}"), "{errors:?}");
        assert!(!errors[0].message.contains("NOEQUALS"), "{errors:?}");
        assert!(errors[1]
            .message
            .contains("not a valid variable name: character 1 of the name before \"=\" is \"1\""));
        assert!(!errors[1].message.contains("BAD"), "{errors:?}");
        assert!(errors[2]
            .message
            .starts_with("Q: double quote is not closed"));
        assert!(errors[3]
            .message
            .starts_with("S: single quote is not closed"));
        assert!(errors[4]
            .message
            .starts_with("T: unexpected text after the closing quote"));
        assert!(!errors[4].message.contains("junk"), "{errors:?}");
    }
}
