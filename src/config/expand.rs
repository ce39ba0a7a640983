//! `${VAR}` expansion from oxinit's own environment.
//!
//! Only the braced forms are ours: `${VAR}` and `${VAR:-default}`. A bare
//! `$VAR` is left untouched because it belongs to a shell (`sh -c 'echo $HOME'`
//! must reach the shell as written). `$$` is a literal `$`, the escape for a
//! literal `${`.

use std::collections::BTreeMap;

/// Why a string could not be expanded. The caller adds the process, key and
/// position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error(
        "${{{name}}} is not set in oxinit's environment; set it, or write ${{{name}:-default}}"
    )]
    Unset { name: String },
    #[error("\"${{\" is not closed by \"}}\" (write $${{ for a literal \"${{\")")]
    Unclosed,
    #[error("\"${{{inner}}}\" is not a variable reference: write ${{NAME}} or ${{NAME:-default}} with NAME made of letters, digits and _")]
    BadName { inner: String },
}

/// Expands `${VAR}`, `${VAR:-default}` and `$$` in `text`.
///
/// `${VAR:-default}` uses the default when VAR is unset *or empty*, as the
/// shell does; the default itself is taken literally.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body.find('}').ok_or(ExpandError::Unclosed)?;
            out.push_str(&lookup(&body[..close], env)?);
            rest = &body[close + 1..];
        } else {
            // A bare `$NAME` (or a lone `$`): the shell's business, kept as is.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(inner: &str, env: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_valid_name(name) {
        return Err(ExpandError::BadName {
            inner: inner.to_string(),
        });
    }
    match (env.get(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_string()),
        (Some(value), _) => Ok(value.clone()),
        (None, Some(default)) => Ok(default.to_string()),
        (None, None) => Err(ExpandError::Unset {
            name: name.to_string(),
        }),
    }
}

/// An environment variable name as POSIX shells accept it: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("HOME", "/root"),
            ("PORT", "3000"),
            ("EMPTY", ""),
            ("SPACED", "a b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn braced_variables_expand() {
        assert_eq!(expand("${HOME}/app", &env()).unwrap(), "/root/app");
        assert_eq!(expand(":${PORT}:${PORT}", &env()).unwrap(), ":3000:3000");
        assert_eq!(expand("${SPACED}", &env()).unwrap(), "a b");
        assert_eq!(expand("${EMPTY}x", &env()).unwrap(), "x");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(expand("${NOPE:-8080}", &env()).unwrap(), "8080");
        assert_eq!(expand("${EMPTY:-fallback}", &env()).unwrap(), "fallback");
        assert_eq!(expand("${PORT:-8080}", &env()).unwrap(), "3000");
        assert_eq!(expand("${NOPE:-}", &env()).unwrap(), "");
        assert_eq!(expand("${NOPE:-a:-b}", &env()).unwrap(), "a:-b");
    }

    #[test]
    fn unset_variable_is_an_error_naming_it() {
        let err = expand("x${DATABASE_URL}", &env()).unwrap_err();
        assert_eq!(
            err,
            ExpandError::Unset {
                name: "DATABASE_URL".into()
            }
        );
        assert!(
            err.to_string().contains("${DATABASE_URL} is not set"),
            "{err}"
        );
        assert!(
            err.to_string().contains("${DATABASE_URL:-default}"),
            "{err}"
        );
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(expand("$${HOME}", &env()).unwrap(), "${HOME}");
        assert_eq!(expand("cost $$5", &env()).unwrap(), "cost $5");
        assert_eq!(expand("$$$${X}", &env()).unwrap(), "$${X}");
    }

    #[test]
    fn bare_dollar_names_are_left_for_the_shell() {
        assert_eq!(
            expand("echo $HOME $1 $", &env()).unwrap(),
            "echo $HOME $1 $"
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert_eq!(expand("${HOME", &env()), Err(ExpandError::Unclosed));
        assert!(matches!(
            expand("${}", &env()),
            Err(ExpandError::BadName { .. })
        ));
        assert!(matches!(
            expand("${1X}", &env()),
            Err(ExpandError::BadName { .. })
        ));
        assert!(matches!(
            expand("${A B}", &env()),
            Err(ExpandError::BadName { .. })
        ));
    }

    #[test]
    fn names() {
        assert!(is_valid_name("PORT"));
        assert!(is_valid_name("_x9"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("9X"));
        assert!(!is_valid_name("A-B"));
    }
}
