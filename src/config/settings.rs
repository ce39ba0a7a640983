//! The tables that configure oxinit itself rather than a process: `[init]`,
//! `[metrics]` and `[sqlite]`, each declared as its list of keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use super::address::{parse_host_port, parse_http_url, Port};
use super::log_buffer;
use super::report::Report;
use super::schema::{IncludeUrl, InitSettings, LogFormat, MetricsSettings, SqliteSettings};
use super::table::{duration, flag, key, Item, KeyDef, Seen};
use super::value::set;
use super::variants::Variants;
use crate::cgroup::Requested;
use crate::units::parse_size;

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
    key("include", |m, item, r| m.include = includes(item, r)),
    key("include_timeout", |m, item, r| {
        set(&mut m.include_timeout, include_timeout(item, r))
    }),
    key("include_max_size", |m, item, r| {
        set(&mut m.include_max_size, include_max_size(item, r))
    }),
];

pub(super) const SQLITE: &[KeyDef<SqliteSettings>] = &[
    key("databases", |s, item, r| s.databases = databases(item, r)),
    flag("require_volume", |s| &mut s.require_volume),
    key("max_replication_lag", |s, item, r| {
        set(
            &mut s.max_replication_lag,
            replication_lag(item, r).map(Some),
        )
    }),
];

/// The longest `[metrics] include_timeout`: the includes are fetched while a
/// scrape waits, and oxinit answers a scrape within 10s (Prometheus's
/// default `scrape_timeout` too), its own figures included.
const MAX_INCLUDE_TIMEOUT: Duration = Duration::from_secs(8);

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

/// `[metrics] include = ["http://127.0.0.1:9090/metrics", …]`.
fn includes(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<IncludeUrl> {
    let what = &item.what;
    let DeValue::Array(entries) = item.value.get_ref() else {
        let hint = match item.value.get_ref() {
            DeValue::String(s) => format!("an array: write include = [\"{s}\"]"),
            _ => "an array of URLs such as [\"http://127.0.0.1:9090/metrics\"]".to_string(),
        };
        report.wrong_type(item.value, what, &hint);
        return Vec::new();
    };
    let mut urls: Vec<IncludeUrl> = Vec::new();
    for entry in entries.iter() {
        let entry = item.entry(entry);
        let Some(text) = entry.string(report) else {
            continue;
        };
        if urls.iter().any(|u| u.url == text) {
            entry.error(format_args!("\"{text}\" is listed twice"), report);
            continue;
        }
        let lower = text.to_ascii_lowercase();
        let parsed = if lower.starts_with("http://") {
            parse_http_url(&text)
        } else if lower.starts_with("https://") {
            Err(format!("\"{text}\": https is not supported (oxinit carries no TLS stack); include the exporter's plain-HTTP address, e.g. \"http://127.0.0.1:9090/metrics\""))
        } else {
            Err(format!("\"{text}\" is not an http:// URL: write e.g. \"http://127.0.0.1:9090/metrics\" (Litestream's `addr:`)"))
        };
        match parsed {
            Ok(url) => urls.push(IncludeUrl {
                url: text,
                addr: url.addr,
                host: url.host,
                path: url.path,
            }),
            Err(e) => entry.error(e, report),
        }
    }
    urls
}

fn include_timeout(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<Duration> {
    let d = item.duration(report)?;
    if d.is_zero() || d > MAX_INCLUDE_TIMEOUT {
        item.error("must be more than 0s and at most \"8s\": the includes are fetched while the scrape waits, and oxinit answers a scrape within 10s (Prometheus's default scrape_timeout too); e.g. include_timeout = \"2s\"", report);
        return None;
    }
    Some(d)
}

fn include_max_size(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<u64> {
    let DeValue::String(text) = item.value.get_ref() else {
        report.wrong_type(item.value, &item.what, "a size such as \"4MiB\"");
        return None;
    };
    match parse_size(text) {
        Ok(0) => {
            item.error("must be more than 0, e.g. \"4MiB\"", report);
            None
        }
        Ok(n) => Some(n),
        Err(e) => {
            item.error(e, report);
            None
        }
    }
}

fn replication_lag(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<Duration> {
    let d = item.duration(report)?;
    if d.is_zero() {
        item.error("\"0s\" would fail /health at every write; write the lag to tolerate, e.g. \"60s\", or leave the key out", report);
        return None;
    }
    Some(d)
}

/// The rules between `[metrics]` and `[sqlite]`, once both are read
/// (`*_seen`: where their keys were written).
pub(super) fn check_metrics_and_sqlite(
    metrics: &mut MetricsSettings,
    sqlite: &SqliteSettings,
    metrics_seen: &Seen,
    sqlite_seen: &Seen,
    report: &mut Report<'_>,
) {
    // An include of oxinit's own address would fetch itself at every
    // scrape, which fetches itself again, until the connection cap.
    if metrics.enabled {
        let listen = metrics.listen;
        let (own, others): (Vec<IncludeUrl>, Vec<IncludeUrl>) =
            std::mem::take(&mut metrics.include)
                .into_iter()
                .partition(|u| is_own_address(u.addr, listen));
        metrics.include = others;
        for url in own {
            let message = format!("[metrics] include: \"{}\" is oxinit's own /metrics ([metrics] listen = \"{listen}\"); it would fetch itself at every scrape. Include other programs' endpoints only, e.g. Litestream's \"http://127.0.0.1:9090/metrics\"", url.url);
            match metrics_seen.get("include") {
                Some(span) => report.error(span, message),
                None => report.error_nowhere(message),
            }
        }
    }
    // `max_replication_lag` judges Litestream's own figures for the
    // databases, read through `[metrics] include`: without both, `/health`
    // could never pass.
    if sqlite.max_replication_lag.is_some() {
        let missing = match (sqlite.databases.is_empty(), metrics.include.is_empty()) {
            (true, _) => Some("[sqlite] databases lists no database to watch: add the replicated one, e.g. databases = [\"/data/app.db\"]"),
            (false, true) => Some("[metrics] include has no URL to read Litestream's metrics from: add its `addr:`, e.g. include = [\"http://127.0.0.1:9090/metrics\"]"),
            (false, false) => None,
        };
        if let Some(missing) = missing {
            let message = format!("[sqlite] max_replication_lag: {missing}");
            match sqlite_seen.get("max_replication_lag") {
                Some(span) => report.error(span, message),
                None => report.error_nowhere(message),
            }
        }
    }
}

fn is_own_address(include: SocketAddr, listen: SocketAddr) -> bool {
    include.port() == listen.port()
        && (listen.ip().is_unspecified()
            || include.ip() == listen.ip()
            || (include.ip().is_loopback() && listen.ip().is_loopback()))
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
