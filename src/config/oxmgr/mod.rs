//! Oxmgr's `oxfile.toml` (`version`, `[defaults]`, `[[apps]]`), read as an
//! oxfile of oxinit's own.
//!
//! People who ran their app under Oxmgr (a PM2-like process manager) already
//! have a file in its schema. Rather than a second model, the file is
//! translated into oxinit's own text — `[processes.NAME]` tables, defaults
//! merged in, seconds turned into durations — and that text goes through the
//! one native parser. So both forms mean exactly the same thing, `oxinit
//! check` can print the translation for the user to keep, and every problem
//! the native parser finds is moved back to the line and column of the
//! Oxmgr key it came from (each translated line remembers its origin). The
//! caller runs the native parser between [`translate`] and
//! [`Translation::finish`], so this module needs nothing above it.
//!
//! Oxmgr keys oxinit cannot honour (`watch`, `cluster_mode`, `git_repo`…)
//! are errors that name the key and say why: ignoring them would run
//! something else than the file asks for.

mod emit;
mod keys;

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::report::{ConfigError, Key, Report, Value};
use super::schema::Config;
use emit::{Entry, Field, Native};

use keys::{default_keys, APP_ONLY};
pub(crate) use keys::{CANNOT_HONOUR, CANNOT_HONOUR_TOP, MAPPED, TOP_KEYS};

/// Whether a parsed document is in Oxmgr's format: it has `[[apps]]` or a
/// top-level `version` (oxinit's own format has neither).
pub(super) fn is_oxmgr(document: &DeTable<'_>) -> bool {
    document.get("apps").is_some() || document.get("version").is_some()
}

/// An Oxmgr file in oxinit's own format, with what it takes to move the
/// native parser's problems back to where the Oxmgr file wrote them.
pub(super) struct Translation<'t> {
    /// The native text, for the native parser.
    pub text: String,
    native: Native,
    /// The problems of the translation itself, over the Oxmgr text.
    report: Report<'t>,
}

/// Translates an Oxmgr-format file (`native_top`: the tables of oxinit's
/// own format, refused in it); the translation's own problems are errors
/// at their place in `text`.
pub(super) fn translate<'t>(
    text: &'t str,
    document: &DeTable<'_>,
    path: &Path,
    native_top: &[&str],
) -> Result<Translation<'t>, ConfigError> {
    let mut report = Report::new(text);
    let mut defaults: Vec<(&Key<'_>, &Value<'_>)> = Vec::new();
    let mut apps: Vec<&Value<'_>> = Vec::new();
    let mut apps_key = None;
    for (key, value) in document.iter() {
        let name = key.get_ref().as_ref();
        match name {
            "version" => check_version(value, &mut report),
            "defaults" => match value.get_ref() {
                DeValue::Table(table) => {
                    let valid = default_keys();
                    for (k, v) in table.iter() {
                        let k_name = k.get_ref().as_ref();
                        if APP_ONLY.contains(&k_name) {
                            report.error(&k.span(), format!("[defaults] {k_name}: only an [[apps]] entry can have {k_name}; move it there"));
                        } else if check_key(k, "[defaults]", &valid, &mut report) {
                            defaults.push((k, v));
                        }
                    }
                }
                _ => report.wrong_type(value, "[defaults]", "a table"),
            },
            "apps" => {
                apps_key = Some(key.span());
                match value.get_ref() {
                    DeValue::Array(items) => apps.extend(items.iter()),
                    _ => report.wrong_type(value, "apps", "[[apps]] tables"),
                }
            }
            other if native_top.contains(&other) => report.error(
                &key.span(),
                format!("[{other}] is oxinit's own format, but this file is in Oxmgr's ([[apps]], version): use one format; `oxinit check` on the file without [{other}] prints its translation to oxinit's format, where [{other}] can be added"),
            ),
            other => match keys::cannot_honour(other) {
                Some(why) => report.error(
                    &key.span(),
                    format!("Oxmgr's {other}: oxinit cannot honour it: {why}"),
                ),
                None => report.unknown_key(key, "the top level of an Oxmgr file", keys::TOP_KEYS, &[]),
            },
        }
    }

    let mut native = Native::new(path);
    let mut names: Vec<(String, usize)> = Vec::new();
    for app in &apps {
        let Some(entry) = gather(app, &defaults, &mut report) else {
            continue;
        };
        if entry.disabled {
            continue;
        }
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == entry.name) {
            let line = report.line_col(*first).0;
            report.error(
                &entry.name_span,
                format!("[[apps]] name: \"{}\" is used twice (first on line {line}); names must be unique", entry.name),
            );
            continue;
        }
        names.push((entry.name.clone(), entry.name_span.start));
        emit::entry(&mut native, &entry, &mut report);
    }
    if names.is_empty() && report.errors.is_empty() {
        let message =
            "nothing to run: add an [[apps]] entry with name and command (or set disabled = false)";
        match apps_key {
            Some(span) => report.error(&span, message),
            None => report.error_nowhere(message),
        }
    }
    if names.is_empty() {
        return Err(report.into_result(path).expect_err("an error was recorded"));
    }

    Ok(Translation {
        text: native.text(),
        native,
        report,
    })
}

impl Translation<'_> {
    /// The native parser's result for [`Translation::text`], with every
    /// problem moved back to the Oxmgr key it came from.
    pub fn finish(
        self,
        parsed: Result<Config, ConfigError>,
        path: &Path,
    ) -> Result<Config, ConfigError> {
        let Translation {
            text,
            native,
            mut report,
        } = self;
        match parsed {
            Ok(mut config) => {
                for warning in std::mem::take(&mut config.warnings) {
                    let located = native.locate(warning, &mut report);
                    report.warnings.push(located);
                }
                config.warnings = report.into_result(path)?;
                config.translation = Some(text);
                Ok(config)
            }
            Err(ConfigError::Invalid { problems, .. }) => {
                for problem in problems {
                    let located = native.locate(problem, &mut report);
                    report.errors.push(located);
                }
                Err(report.into_result(path).expect_err("errors were recorded"))
            }
            Err(other) => Err(other),
        }
    }
}

/// `version = 1`: the only version of Oxmgr's format there is.
fn check_version(value: &Value<'_>, report: &mut Report<'_>) {
    match value.get_ref() {
        DeValue::Integer(i) if i.as_str() == "1" && i.radix() == 10 => {}
        DeValue::Integer(i) => report.error(
            &value.span(),
            format!(
                "version: Oxmgr format version {i} is not known to oxinit; only version = 1 is"
            ),
        ),
        _ => report.wrong_type(value, "version", "1"),
    }
}

/// Reports a key that is not honoured or not known; true when it is mapped.
fn check_key(key: &Key<'_>, table: &str, valid: &[&str], report: &mut Report<'_>) -> bool {
    let name = key.get_ref().as_ref();
    if MAPPED.iter().any(|(k, _)| *k == name) {
        return true;
    }
    match keys::cannot_honour(name) {
        Some(why) => report.error(
            &key.span(),
            format!("{table} {name}: oxinit cannot honour Oxmgr's {name}: {why}; remove {name}"),
        ),
        None => report.unknown_key(key, table, valid, &[]),
    }
    false
}

/// One `[[apps]]` entry with `[defaults]` under it; None when it has no
/// usable name (reported).
fn gather<'a, 'i>(
    app: &'a Value<'i>,
    defaults: &[(&'a Key<'i>, &'a Value<'i>)],
    report: &mut Report<'_>,
) -> Option<Entry<'a, 'i>> {
    let DeValue::Table(table) = app.get_ref() else {
        report.wrong_type(app, "apps", "an [[apps]] table");
        return None;
    };
    let valid = keys::app_keys();
    let mut fields: Vec<Field<'a, 'i>> = defaults
        .iter()
        .map(|(key, value)| Field {
            key,
            value,
            from_defaults: true,
        })
        .collect();
    let mut name = None;
    let mut disabled = false;
    for (key, value) in table.iter() {
        let k = key.get_ref().as_ref();
        if !check_key(key, "[[apps]]", &valid, report) {
            continue;
        }
        match k {
            "name" => name = Some(value),
            "disabled" => match value.get_ref() {
                DeValue::Boolean(b) => disabled = *b,
                _ => report.wrong_type(value, "[[apps]] disabled", "true or false"),
            },
            _ => {
                // The entry's own value wins over [defaults]; env is merged
                // key by key later, so both are kept for it.
                if k != "env" {
                    fields.retain(|f| f.key.get_ref().as_ref() != k);
                }
                fields.push(Field {
                    key,
                    value,
                    from_defaults: false,
                });
            }
        }
    }
    let Some(name_value) = name else {
        // The table's own span points at its first key.
        let at = table
            .iter()
            .next()
            .map(|(k, _)| k.span())
            .unwrap_or_else(|| app.span());
        let hint = fields
            .iter()
            .find(|f| f.key.get_ref().as_ref() == "command")
            .and_then(|f| f.value.get_ref().as_str())
            .and_then(|c| c.split_whitespace().next())
            .map(|program| program.rsplit('/').next().unwrap_or(program).to_string())
            .filter(|p| !p.is_empty())
            .map(|p| format!(" such as name = \"{p}\""))
            .unwrap_or_default();
        report.error(
            &at,
            format!("[[apps]]: missing name; oxinit needs a name for every process: add name = \"…\"{hint}"),
        );
        return None;
    };
    let DeValue::String(text) = name_value.get_ref() else {
        report.wrong_type(name_value, "[[apps]] name", "a string");
        return None;
    };
    Some(Entry {
        name: text.to_string(),
        name_span: name_value.span(),
        disabled,
        fields,
    })
}

#[cfg(test)]
mod tests;
