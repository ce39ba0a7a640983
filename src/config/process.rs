//! One `[processes.NAME]` table → [`ProcessSpec`], every problem reported.
//!
//! Keys are read in file order into a draft; the rules that tie keys
//! together (oneshot vs restart, schedule vs oneshot, health on a service
//! only, timeout, backoff bounds) run afterwards, in [`super::kinds`], so
//! their result does not depend on the order the keys were written in.
//! `health` and `limits` sub-tables have their own modules.

use std::collections::HashSet;
use std::ops::Range;

use nix::sys::signal::Signal;
use toml::de::{DeTable, DeValue};

use super::command;
use super::condition;
use super::context::Context;
use super::envfile::{parse_env_file, read_env_file, Vars};
use super::expand::{expand, is_valid_name};
use super::kinds::check_combinations;
use super::report::{Key, Report};
use super::schema::{ProcessSpec, RestartPolicy};
use super::signal::parse_signal;
use super::table::{duration, flag, key, walk, Item, KeyDef};
use super::value::{no_nul, resolve, set};
use super::{health, limits, listen, machine};
use crate::schedule::Schedule;
use crate::sys::listen::Endpoint;

/// The keys of a `[processes.NAME]` table, in the order messages list them.
pub(super) const PROCESS: &[KeyDef<Draft>] = &[
    key("command", |d, item, r| {
        d.spec.argv = command::parse(item, r)
    }),
    key("cwd", |d, item, r| {
        set(&mut d.spec.cwd, item.path(r).map(Some))
    }),
    key("env", |d, item, r| d.inline_env = env(item, r)),
    key("env_file", |d, item, r| d.file_env = env_file(item, r)),
    key("user", |d, item, r| {
        set(&mut d.spec.user, user(item, r).map(Some))
    }),
    key("restart", |d, item, r| {
        set(
            &mut d.spec.restart,
            item.choice(&RestartPolicy::VARIANTS, r),
        )
    }),
    duration("restart_delay", |d| &mut d.spec.restart_delay),
    duration("restart_delay_max", |d| &mut d.spec.restart_delay_max),
    duration("restart_reset", |d| &mut d.spec.restart_reset),
    key("max_restarts", |d, item, r| {
        set(&mut d.spec.max_restarts, item.count(0, "10", r))
    }),
    duration("restart_window", |d| &mut d.spec.restart_window),
    flag("critical", |d| &mut d.spec.critical),
    key("stop_signal", |d, item, r| {
        set(&mut d.spec.stop_signal, stop_signal(item, r))
    }),
    duration("stop_timeout", |d| &mut d.spec.stop_timeout),
    duration("ready_timeout", |d| &mut d.spec.ready_timeout),
    key("depends_on", |d, item, r| {
        d.depends_on_spans = depends_on(item, r)
    }),
    flag("oneshot", |d| &mut d.spec.oneshot),
    key("timeout", |d, item, r| d.spec.timeout = item.duration(r)),
    key("schedule", |d, item, r| d.spec.schedule = schedule(item, r)),
    key("health", |d, item, r| {
        d.spec.health = health::parse(&d.spec.name, item, r)
    }),
    key("limits", |d, item, r| {
        d.spec.limits = limits::parse(&d.spec.name, item, r)
    }),
    key("log_buffer_lines", |d, item, r| {
        d.spec.log_buffer_lines = super::log_buffer::lines(item, r)
    }),
    key("log_buffer_bytes", |d, item, r| {
        d.spec.log_buffer_bytes = super::log_buffer::bytes(item, r)
    }),
    // Written as false when it is not a boolean: the error rejects the file.
    key("replicator", |d, item, r| {
        d.spec.replicator = Some(item.boolean(r).unwrap_or(false))
    }),
    key("listen", |d, item, r| {
        d.listen_spans = listen::parse(item, r)
    }),
    key("backlog", |d, item, r| {
        set(&mut d.spec.backlog, listen::backlog(item, r))
    }),
    key("when", |d, item, r| {
        d.spec.when = condition::parse(&d.spec.name, item, r)
    }),
];

/// A parsed process plus the positions the cross-process checks need.
pub(super) struct ProcessDraft {
    pub spec: ProcessSpec,
    /// Each `depends_on` entry with its position.
    pub depends_on_spans: Vec<(String, Range<usize>)>,
    /// Where `stop_timeout` was written, else the table's name.
    pub stop_timeout_span: Range<usize>,
    /// Each `listen` entry with its position.
    pub listen_spans: Vec<(Endpoint, Range<usize>)>,
}

/// A process table as its keys are read, in file order.
pub(super) struct Draft {
    spec: ProcessSpec,
    depends_on_spans: Vec<(String, Range<usize>)>,
    inline_env: Vec<(String, String)>,
    file_env: Vec<(String, String)>,
    listen_spans: Vec<(Endpoint, Range<usize>)>,
}

/// Reads the table of process `name_key`; the rules that tie its keys
/// together run once the whole table is read.
pub(super) fn parse_process(
    name_key: &Key<'_>,
    table: &DeTable<'_>,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> ProcessDraft {
    let name = name_key.get_ref().as_ref();
    check_name(name_key, report);
    let label = format!("[processes.{name}]");
    let mut draft = Draft {
        spec: ProcessSpec::new(name, Vec::new()),
        depends_on_spans: Vec::new(),
        inline_env: Vec::new(),
        file_env: Vec::new(),
        listen_spans: Vec::new(),
    };
    let seen = walk(table, &label, PROCESS, &mut draft, ctx, report);
    let Draft {
        mut spec,
        depends_on_spans,
        inline_env,
        file_env,
        listen_spans,
    } = draft;

    if !seen.contains_key("command") {
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
    spec.listen = listen_spans.iter().map(|(e, _)| e.clone()).collect();
    check_combinations(&mut spec, &seen, &label, report);
    machine::check_process(&spec, &seen, &label, ctx, report);
    let stop_timeout_span = seen
        .get("stop_timeout")
        .cloned()
        .unwrap_or_else(|| name_key.span());
    ProcessDraft {
        spec,
        depends_on_spans,
        stop_timeout_span,
        listen_spans,
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

/// `user = "node"`, `1000`, `"1000:1000"` or `"node:staff"`.
fn user(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<super::schema::UserSpec> {
    let (value, what) = (item.value, &item.what);
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.as_str().to_string(),
        _ => {
            report.wrong_type(value, what, "a user name, a uid or \"uid:gid\"");
            return None;
        }
    };
    match item.ctx.accounts.resolve(&text) {
        Ok(user) => return Some(user),
        Err(e) if super::users::is_malformed(&text) => item.error(e, report),
        Err(e) => report.not_here(&value.span(), format!("{what}: {e}")),
    }
    None
}

fn schedule(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<Schedule> {
    let DeValue::String(s) = item.value.get_ref() else {
        report.wrong_type(item.value, &item.what, "a schedule such as \"0 3 * * *\"");
        return None;
    };
    Schedule::parse(s).map_err(|e| item.error(e, report)).ok()
}

/// `env = { PORT = "3000" }`; numbers and booleans are written as they
/// read (`PORT = 3000`).
fn env(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<(String, String)> {
    let what = &item.what;
    let DeValue::Table(table) = item.value.get_ref() else {
        report.wrong_type(item.value, what, "a table such as { PORT = \"3000\" }");
        return Vec::new();
    };
    let mut env = Vec::new();
    for (key, entry) in table.iter() {
        let name = key.get_ref().as_ref();
        let entry_what = format!("{what}.{name}");
        if !is_valid_name(name) {
            report.error(
                &key.span(),
                format!("{what}: \"{name}\" is not a valid variable name (letters, digits and _, not starting with a digit)"),
            );
            continue;
        }
        let text = match entry.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n.to_string(),
                Err(_) => {
                    report.error(
                        &entry.span(),
                        format!("{entry_what}: integer out of range; write it as a string"),
                    );
                    continue;
                }
            },
            DeValue::Boolean(b) => b.to_string(),
            _ => {
                report.wrong_type(entry, &entry_what, "a string");
                continue;
            }
        };
        match expand(&text, item.ctx.env) {
            Ok(expanded) if !no_nul(&expanded, &entry.span(), &entry_what, report) => {}
            Ok(expanded) => env.push((name.to_string(), expanded)),
            Err(e) => report.error(&entry.span(), format!("{entry_what}: {e}")),
        }
    }
    env
}

fn env_file(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<(String, String)> {
    let Some(relative) = item.string(report) else {
        return Vec::new();
    };
    let path = resolve(item.ctx.base_dir, &relative);
    let text = match read_env_file(&path) {
        Ok(text) => text,
        Err(e) => {
            item.error(e, report);
            return Vec::new();
        }
    };
    parse_env_file(&text).unwrap_or_else(|errors| {
        for e in errors {
            item.error(
                format_args!("{}:{}: {}", path.display(), e.line, e.message),
                report,
            );
        }
        Vec::new()
    })
}

fn stop_signal(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<Signal> {
    let (value, what) = (item.value, &item.what);
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.as_str().to_string(),
        _ => {
            report.wrong_type(value, what, "a signal such as \"SIGTERM\"");
            return None;
        }
    };
    match parse_signal(&text) {
        Ok(Signal::SIGSTOP) => item.error(
            "SIGSTOP pauses a process instead of stopping it; use SIGTERM, SIGINT or SIGQUIT",
            report,
        ),
        Ok(signal) => {
            if signal == Signal::SIGKILL {
                report.warn(
                    &value.span(),
                    format!("{what}: SIGKILL cannot be caught, so the process gets no chance to finish its work (e.g. flush SQLite); prefer SIGTERM"),
                );
            }
            return Some(signal);
        }
        Err(e) => item.error(e, report),
    }
    None
}

fn depends_on(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<(String, Range<usize>)> {
    let (value, what) = (item.value, &item.what);
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
    for entry in items.iter() {
        match entry.get_ref() {
            DeValue::String(s) if !listed.insert(s.as_ref()) => {
                report.error(&entry.span(), format!("{what}: \"{s}\" is listed twice"));
            }
            DeValue::String(s) => deps.push((s.to_string(), entry.span())),
            _ => report.wrong_type(entry, what, "a process name"),
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::table::names;

    /// The rules of `kinds.rs` name keys of this table.
    #[test]
    fn service_only_keys_are_process_keys() {
        let keys = names(PROCESS);
        for key in super::super::kinds::SERVICE_ONLY {
            assert!(keys.contains(key), "{key}");
        }
    }
}
