//! One `[processes.NAME]` table → [`ProcessSpec`], every problem reported.
//!
//! Keys are read in file order into a draft; the rules that tie keys
//! together (oneshot vs restart, schedule vs oneshot, health on a service
//! only, timeout, backoff bounds) run afterwards, in [`super::kinds`], so
//! their result does not depend on the order the keys were written in.
//! `health` and `limits` sub-tables have their own modules.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use toml::de::{DeTable, DeValue};

use super::command;
use super::envfile::{parse_env_file, read_env_file, Vars};
use super::expand::{expand, is_valid_name};
use super::kinds::check_combinations;
use super::parse::{duration, no_nul, set_bool, whole_number, Key, Report, Value};
use super::schema::{ProcessSpec, RestartPolicy};
use super::units::parse_signal;
use super::users::Accounts;
use super::{condition, health, limits};
use crate::schedule::Schedule;

pub(super) const PROCESS_KEYS: &[&str] = &[
    "command",
    "cwd",
    "env",
    "env_file",
    "user",
    "restart",
    "restart_delay",
    "restart_delay_max",
    "restart_reset",
    "max_restarts",
    "restart_window",
    "critical",
    "stop_signal",
    "stop_timeout",
    "depends_on",
    "oneshot",
    "timeout",
    "schedule",
    "health",
    "limits",
    "replicator",
    "when",
];

/// Keys reserved for a later version, as `(key, "what it is")`: refused
/// with a clear message instead of being ignored. To reserve one, add a
/// line; to implement it, delete the line, add the key to [`PROCESS_KEYS`]
/// and a match arm in [`parse_process`]. Empty today.
const NOT_YET: &[(&str, &str)] = &[];

/// What a process table is resolved against.
pub(super) struct Context<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub base_dir: &'a Path,
    pub lookups: super::Lookups,
}

/// A parsed process plus the positions the cross-process checks need.
pub(super) struct ProcessDraft {
    pub spec: ProcessSpec,
    /// Each `depends_on` entry with its position.
    pub depends_on_spans: Vec<(String, Range<usize>)>,
    /// Where `stop_timeout` was written, else the table's name.
    pub stop_timeout_span: Range<usize>,
}

/// Where each key of the table was written (for the cross-key rules).
#[derive(Default)]
pub(super) struct Seen {
    pub keys: BTreeMap<&'static str, Range<usize>>,
}

pub(super) fn parse_process(
    name_key: &Key<'_>,
    table: &DeTable<'_>,
    ctx: &Context<'_>,
    accounts: &mut Accounts,
    report: &mut Report<'_>,
) -> ProcessDraft {
    let name = name_key.get_ref().as_ref();
    check_name(name_key, report);
    let label = format!("[processes.{name}]");
    let mut spec = ProcessSpec::new(name, Vec::new());
    let mut seen = Seen::default();
    let mut depends_on_spans = Vec::new();
    let mut inline_env: Vec<(String, String)> = Vec::new();
    let mut file_env: Vec<(String, String)> = Vec::new();
    let reserved: Vec<&str> = NOT_YET.iter().map(|(k, _)| *k).collect();

    for (key, value) in table.iter() {
        let key_name = key.get_ref().as_ref();
        let Some(&known) = PROCESS_KEYS.iter().find(|k| **k == key_name) else {
            match NOT_YET.iter().find(|(k, _)| *k == key_name) {
                Some((_, feature)) => report.not_yet(key, &label, feature),
                None => report.unknown_key(key, &label, PROCESS_KEYS, &reserved),
            }
            continue;
        };
        seen.keys.insert(known, value.span());
        let what = format!("{label} {known}");
        match known {
            "command" => spec.argv = command::parse(value, &what, ctx, report),
            "cwd" => {
                if let Some(dir) = expanded_string(value, &what, ctx, report) {
                    if dir.is_empty() {
                        report.error(&value.span(), format!("{what}: empty path"));
                    } else {
                        spec.cwd = Some(resolve(ctx.base_dir, &dir));
                    }
                }
            }
            "env" => inline_env = parse_env(value, &what, ctx, report),
            "env_file" => file_env = parse_env_file_key(value, &what, ctx, report),
            "user" => {
                let text = match value.get_ref() {
                    DeValue::String(s) => Some(s.to_string()),
                    DeValue::Integer(i) => Some(i.as_str().to_string()),
                    _ => {
                        report.wrong_type(value, &what, "a user name, a uid or \"uid:gid\"");
                        None
                    }
                };
                if let Some(text) = text {
                    match accounts.resolve(&text) {
                        Ok(user) => spec.user = Some(user),
                        Err(e) if super::users::is_malformed(&text) => {
                            report.error(&value.span(), format!("{what}: {e}"))
                        }
                        Err(e) => report.not_here(&value.span(), format!("{what}: {e}")),
                    }
                }
            }
            "restart" => match value.get_ref() {
                DeValue::String(s) => match s.as_ref() {
                    "always" => spec.restart = RestartPolicy::Always,
                    "on-failure" => spec.restart = RestartPolicy::OnFailure,
                    "never" => spec.restart = RestartPolicy::Never,
                    other => report.error(
                        &value.span(),
                        format!("{what}: \"{other}\" is not a restart policy; use \"always\", \"on-failure\" or \"never\""),
                    ),
                },
                _ => report.wrong_type(value, &what, "\"always\", \"on-failure\" or \"never\""),
            },
            "restart_delay" => set_duration(&mut spec.restart_delay, value, &what, report),
            "restart_delay_max" => {
                set_duration(&mut spec.restart_delay_max, value, &what, report)
            }
            "restart_reset" => set_duration(&mut spec.restart_reset, value, &what, report),
            "restart_window" => set_duration(&mut spec.restart_window, value, &what, report),
            "stop_timeout" => set_duration(&mut spec.stop_timeout, value, &what, report),
            "timeout" => spec.timeout = duration(value, &what, report),
            "max_restarts" => {
                let range = (0, u64::from(u32::MAX));
                if let Some(n) = whole_number(value, &what, range, "10", report) {
                    spec.max_restarts = u32::try_from(n).unwrap_or(u32::MAX);
                }
            }
            "critical" => set_bool(&mut spec.critical, value, &what, report),
            "oneshot" => set_bool(&mut spec.oneshot, value, &what, report),
            "replicator" => {
                let mut flag = false;
                set_bool(&mut flag, value, &what, report);
                spec.replicator = Some(flag);
            }
            "stop_signal" => parse_stop_signal(&mut spec, value, &what, report),
            "depends_on" => depends_on_spans = parse_depends_on(value, &what, report),
            "schedule" => match value.get_ref() {
                DeValue::String(s) => match Schedule::parse(s) {
                    Ok(schedule) => spec.schedule = Some(schedule),
                    Err(e) => report.error(&value.span(), format!("{what}: {e}")),
                },
                _ => report.wrong_type(value, &what, "a schedule such as \"0 3 * * *\""),
            },
            "health" => spec.health = health::parse(name, key, value, ctx, report),
            "limits" => spec.limits = limits::parse(name, value, report),
            "when" => spec.when = condition::parse(name, value, ctx, report),
            _ => unreachable!("every entry of PROCESS_KEYS has an arm"),
        }
    }

    if !seen.keys.contains_key("command") {
        report.error(
            &name_key.span(),
            format!("{label}: missing command; add command = \"program args…\""),
        );
    }
    let mut env = Vars::from_pairs(file_env);
    for (key, value) in inline_env {
        env.set(key, value);
    }
    spec.env = env.into_pairs();
    spec.depends_on = depends_on_spans.iter().map(|(d, _)| d.clone()).collect();
    check_combinations(&mut spec, &seen, &label, report);
    super::machine::check_process(&spec, &seen, &label, ctx, report);
    let stop_timeout_span = seen
        .keys
        .get("stop_timeout")
        .cloned()
        .unwrap_or_else(|| name_key.span());
    ProcessDraft {
        spec,
        depends_on_spans,
        stop_timeout_span,
    }
}

fn check_name(key: &Key<'_>, report: &mut Report<'_>) {
    let name = key.get_ref().as_ref();
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if name.is_empty() || name.len() > 32 || !valid_chars {
        report.error(
            &key.span(),
            format!("[processes.{name}]: invalid process name \"{name}\": use 1 to 32 letters, digits, \"_\", \".\" or \"-\""),
        );
    }
}

fn parse_env(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<(String, String)> {
    let DeValue::Table(table) = value.get_ref() else {
        report.wrong_type(value, what, "a table such as { PORT = \"3000\" }");
        return Vec::new();
    };
    let mut env = Vec::new();
    for (key, item) in table.iter() {
        let name = key.get_ref().as_ref();
        let item_what = format!("{what}.{name}");
        if !is_valid_name(name) {
            report.error(
                &key.span(),
                format!("{what}: \"{name}\" is not a valid variable name (letters, digits and _, not starting with a digit)"),
            );
            continue;
        }
        // Numbers and booleans are written as they read (PORT = 3000).
        let text = match item.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n.to_string(),
                Err(_) => {
                    report.error(
                        &item.span(),
                        format!("{item_what}: integer out of range; write it as a string"),
                    );
                    continue;
                }
            },
            DeValue::Boolean(b) => b.to_string(),
            _ => {
                report.wrong_type(item, &item_what, "a string");
                continue;
            }
        };
        match expand(&text, ctx.env) {
            Ok(expanded) if !no_nul(&expanded, &item.span(), &item_what, report) => {}
            Ok(expanded) => env.push((name.to_string(), expanded)),
            Err(e) => report.error(&item.span(), format!("{item_what}: {e}")),
        }
    }
    env
}

fn parse_env_file_key(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<(String, String)> {
    let Some(relative) = expanded_string(value, what, ctx, report) else {
        return Vec::new();
    };
    let path = resolve(ctx.base_dir, &relative);
    let text = match read_env_file(&path) {
        Ok(text) => text,
        Err(e) => {
            report.error(&value.span(), format!("{what}: {e}"));
            return Vec::new();
        }
    };
    match parse_env_file(&text) {
        Ok(pairs) => pairs,
        Err(errors) => {
            for error in errors {
                report.error(
                    &value.span(),
                    format!(
                        "{what}: {}:{}: {}",
                        path.display(),
                        error.line,
                        error.message
                    ),
                );
            }
            Vec::new()
        }
    }
}

fn parse_stop_signal(
    spec: &mut ProcessSpec,
    value: &Value<'_>,
    what: &str,
    report: &mut Report<'_>,
) {
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.as_str().to_string(),
        _ => {
            report.wrong_type(value, what, "a signal such as \"SIGTERM\"");
            return;
        }
    };
    match parse_signal(&text) {
        Ok(Signal::SIGSTOP) => report.error(
            &value.span(),
            format!("{what}: SIGSTOP pauses a process instead of stopping it; use SIGTERM, SIGINT or SIGQUIT"),
        ),
        Ok(signal) => {
            if signal == Signal::SIGKILL {
                report.warn(
                    &value.span(),
                    format!("{what}: SIGKILL cannot be caught, so the process gets no chance to finish its work (e.g. flush SQLite); prefer SIGTERM"),
                );
            }
            spec.stop_signal = signal;
        }
        Err(e) => report.error(&value.span(), format!("{what}: {e}")),
    }
}

fn parse_depends_on(
    value: &Value<'_>,
    what: &str,
    report: &mut Report<'_>,
) -> Vec<(String, Range<usize>)> {
    let DeValue::Array(items) = value.get_ref() else {
        let hint = match value.get_ref() {
            DeValue::String(s) => format!("an array: write depends_on = [\"{s}\"]"),
            _ => "an array of process names".to_string(),
        };
        report.wrong_type(value, what, &hint);
        return Vec::new();
    };
    let mut deps: Vec<(String, Range<usize>)> = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) if !listed.insert(s.as_ref()) => {
                report.error(&item.span(), format!("{what}: \"{s}\" is listed twice"));
            }
            DeValue::String(s) => deps.push((s.to_string(), item.span())),
            _ => report.wrong_type(item, what, "a process name"),
        }
    }
    deps
}

pub(super) fn expanded_string(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<String> {
    let DeValue::String(text) = value.get_ref() else {
        report.wrong_type(value, what, "a string");
        return None;
    };
    match expand(text, ctx.env) {
        Ok(expanded) => no_nul(&expanded, &value.span(), what, report).then_some(expanded),
        Err(e) => {
            report.error(&value.span(), format!("{what}: {e}"));
            None
        }
    }
}

fn set_duration(slot: &mut Duration, value: &Value<'_>, what: &str, report: &mut Report<'_>) {
    if let Some(d) = duration(value, what, report) {
        *slot = d;
    }
}

/// `path` made absolute against `base`, without `.` components. `..` is
/// kept: with symlinks it cannot be resolved lexically.
pub(super) fn resolve(base: &Path, path: &str) -> PathBuf {
    let joined = base.join(path);
    joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
