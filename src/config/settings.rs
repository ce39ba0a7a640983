//! The tables that configure oxinit itself rather than a process: `[init]`,
//! `[metrics]` and `[sqlite]`, each declared as its list of keys.

use std::path::PathBuf;

use toml::de::DeValue;

use super::address::{parse_host_port, Port};
use super::log_buffer;
use super::report::Report;
use super::schema::{InitSettings, LogFormat, MetricsSettings, SqliteSettings};
use super::table::{duration, flag, key, Item, KeyDef};
use super::value::set;
use super::variants::Variants;
use crate::cgroup::Requested;

pub(super) const INIT: &[KeyDef<InitSettings>] = &[
    duration("shutdown_timeout", |init| &mut init.shutdown_timeout),
    duration("orphan_grace", |init| &mut init.orphan_grace),
    key("log_format", |init, item, r| {
        set(&mut init.log_format, item.choice(&LogFormat::VARIANTS, r))
    }),
    key("control_socket", |init, item, r| {
        set(&mut init.control_socket, socket_path(item, r).map(Some))
    }),
    key("memory_enforcement", |init, item, r| {
        set(
            &mut init.memory_enforcement,
            item.choice(&MEMORY_ENFORCEMENT, r),
        )
    }),
    key("log_buffer_lines", |init, item, r| {
        set(&mut init.log_buffer_lines, log_buffer::lines(item, r))
    }),
    key("log_buffer_bytes", |init, item, r| {
        set(&mut init.log_buffer_bytes, log_buffer::bytes(item, r))
    }),
];

pub(super) const METRICS: &[KeyDef<MetricsSettings>] = &[
    flag("enabled", |m| &mut m.enabled),
    key("listen", |m, item, r| set(&mut m.listen, listen(item, r))),
];

pub(super) const SQLITE: &[KeyDef<SqliteSettings>] = &[
    key("databases", |s, item, r| s.databases = databases(item, r)),
    flag("require_volume", |s| &mut s.require_volume),
];

/// `[init] memory_enforcement`.
pub(super) const MEMORY_ENFORCEMENT: Variants<Requested> = Variants {
    noun: "a mode",
    list: &[
        ("auto", Requested::Auto, "cgroups when usable, else polling"),
        ("cgroup", Requested::Cgroup, "cgroups or refuse to boot"),
        ("poll", Requested::Poll, ""),
    ],
};

/// `sun_path` holds 108 bytes including the terminating NUL: a longer path
/// cannot be bound, and the error at boot would be an opaque EINVAL.
const MAX_SOCKET_PATH: usize = 107;

pub(super) fn socket_path(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<PathBuf> {
    let path = item.path(report)?;
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        let path = path.display();
        item.error(format_args!("{path} is {len} bytes long, but a Unix socket path holds at most {MAX_SOCKET_PATH}; choose a shorter path such as \"/run/oxinit.sock\""), report);
        return None;
    }
    Some(path)
}

fn listen(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<std::net::SocketAddr> {
    if let DeValue::Integer(port) = item.value.get_ref() {
        let port = port.as_str();
        let hint = format!("listen = \"0.0.0.0:{port}\"");
        item.error(
            format_args!("write the address and the port as a string: {hint}"),
            report,
        );
        return None;
    }
    let text = item.string(report)?;
    let examples = "(e.g. \"0.0.0.0:9091\", \"[::]:9091\" or \"localhost:9091\")";
    parse_host_port(&text, Port::Listen)
        .map_err(|e| item.error(format_args!("{e} {examples}"), report))
        .ok()
}

fn databases(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<PathBuf> {
    let what = &item.what;
    let DeValue::Array(items) = item.value.get_ref() else {
        let hint = match item.value.get_ref() {
            DeValue::String(s) => format!("an array: write databases = [\"{s}\"]"),
            _ => "an array of database paths".to_string(),
        };
        report.wrong_type(item.value, what, &hint);
        return Vec::new();
    };
    let mut databases: Vec<PathBuf> = Vec::new();
    for entry in items.iter() {
        let Some(path) = item.entry(entry).path(report) else {
            continue;
        };
        if databases.contains(&path) {
            report.error(
                &entry.span(),
                format!("{what}: {} is listed twice", path.display()),
            );
            continue;
        }
        databases.push(path);
    }
    databases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The match makes a new mode a compile error here, so it cannot be
    /// left out of the list.
    #[test]
    fn every_memory_enforcement_mode_is_listed() {
        let all = [Requested::Auto, Requested::Cgroup, Requested::Poll];
        for mode in all {
            match mode {
                Requested::Auto | Requested::Cgroup | Requested::Poll => {}
            }
            let name = MEMORY_ENFORCEMENT.name(mode);
            assert_eq!(MEMORY_ENFORCEMENT.parse(name), Some(mode), "{mode:?}");
        }
        assert_eq!(MEMORY_ENFORCEMENT.list.len(), all.len());
    }
}
