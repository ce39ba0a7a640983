//! The tables that configure oxinit itself rather than a process: `[init]`,
//! `[metrics]` and `[sqlite]`.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::address::{parse_host_port, parse_http_url, Port};
use super::parse::{duration, set_bool, Report, Value};
use super::process::{expanded_string, resolve, Context};
use super::schema::{IncludeUrl, InitSettings, LogFormat, MetricsSettings, SqliteSettings};
use super::units::parse_size;

pub(super) const INIT_KEYS: &[&str] = &[
    "shutdown_timeout",
    "orphan_grace",
    "log_format",
    "control_socket",
    "memory_enforcement",
];
pub(super) const METRICS_KEYS: &[&str] = &[
    "enabled",
    "listen",
    "include",
    "include_timeout",
    "include_max_size",
];
pub(super) const SQLITE_KEYS: &[&str] = &["databases", "require_volume", "max_replication_lag"];

/// The longest `[metrics] include_timeout`: the includes are fetched while a
/// scrape waits, and oxinit answers a scrape within 10s (Prometheus's
/// default `scrape_timeout` too), its own figures included.
const MAX_INCLUDE_TIMEOUT: Duration = Duration::from_secs(8);

/// `sun_path` holds 108 bytes including the terminating NUL: a longer path
/// cannot be bound, and the error at boot would be an opaque EINVAL.
const MAX_SOCKET_PATH: usize = 107;

pub(super) fn parse_init(
    table: &DeTable<'_>,
    init: &mut InitSettings,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) {
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let what = format!("[init] {name}");
        match name {
            "shutdown_timeout" => {
                if let Some(d) = duration(value, &what, report) {
                    init.shutdown_timeout = d;
                }
            }
            "orphan_grace" => {
                if let Some(d) = duration(value, &what, report) {
                    init.orphan_grace = d;
                }
            }
            "log_format" => match value.get_ref() {
                DeValue::String(s) => match s.as_ref() {
                    "prefixed" => init.log_format = LogFormat::Prefixed,
                    "raw" => init.log_format = LogFormat::Raw,
                    "json" => init.log_format = LogFormat::Json,
                    other => report.error(
                        &value.span(),
                        format!("{what}: \"{other}\" is not a log format; use \"prefixed\", \"raw\" or \"json\""),
                    ),
                },
                _ => report.wrong_type(value, &what, "\"prefixed\", \"raw\" or \"json\""),
            },
            "control_socket" => {
                if let Some(path) = socket_path(value, &what, ctx, report) {
                    init.control_socket = Some(path);
                }
            }
            "memory_enforcement" => match value.get_ref() {
                DeValue::String(s) => match s.parse() {
                    Ok(requested) => init.memory_enforcement = requested,
                    Err(_) => report.error(
                        &value.span(),
                        format!("{what}: \"{s}\" is not a mode; use \"auto\" (cgroups when usable, else polling), \"cgroup\" (cgroups or refuse to boot) or \"poll\""),
                    ),
                },
                _ => report.wrong_type(value, &what, "\"auto\", \"cgroup\" or \"poll\""),
            },
            _ => report.unknown_key(key, "[init]", INIT_KEYS, &[]),
        }
    }
}

pub(super) fn socket_path(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let text = expanded_string(value, what, ctx, report)?;
    if text.is_empty() {
        report.error(&value.span(), format!("{what}: empty path"));
        return None;
    }
    let path = resolve(ctx.base_dir, &text);
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        report.error(
            &value.span(),
            format!(
                "{what}: {} is {len} bytes long, but a Unix socket path holds at most {MAX_SOCKET_PATH}; choose a shorter path such as \"/run/oxinit.sock\"",
                path.display()
            ),
        );
        return None;
    }
    Some(path)
}

pub(super) fn parse_metrics(
    table: &DeTable<'_>,
    metrics: &mut MetricsSettings,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) {
    let mut includes = Vec::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let what = format!("[metrics] {name}");
        match name {
            "enabled" => set_bool(&mut metrics.enabled, value, &what, report),
            "listen" => {
                if let DeValue::Integer(port) = value.get_ref() {
                    report.error(
                        &value.span(),
                        format!("{what}: write the address and the port as a string: listen = \"0.0.0.0:{}\"", port.as_str()),
                    );
                    continue;
                }
                let Some(text) = expanded_string(value, &what, ctx, report) else {
                    continue;
                };
                match parse_host_port(&text, Port::Listen) {
                    Ok(addr) => metrics.listen = addr,
                    Err(e) => report.error(
                        &value.span(),
                        format!("{what}: {e} (e.g. \"0.0.0.0:9091\", \"[::]:9091\" or \"localhost:9091\")"),
                    ),
                }
            }
            "include" => includes = parse_includes(value, &what, ctx, report),
            "include_timeout" => {
                if let Some(d) = duration(value, &what, report) {
                    if d.is_zero() || d > MAX_INCLUDE_TIMEOUT {
                        report.error(
                            &value.span(),
                            format!("{what}: must be more than 0s and at most \"8s\": the includes are fetched while the scrape waits, and oxinit answers a scrape within 10s (Prometheus's default scrape_timeout too); e.g. include_timeout = \"2s\""),
                        );
                    } else {
                        metrics.include_timeout = d;
                    }
                }
            }
            "include_max_size" => match value.get_ref() {
                DeValue::String(text) => match parse_size(text) {
                    Ok(0) => report.error(
                        &value.span(),
                        format!("{what}: must be more than 0, e.g. \"4MiB\""),
                    ),
                    Ok(n) => metrics.include_max_size = n,
                    Err(e) => report.error(&value.span(), format!("{what}: {e}")),
                },
                _ => report.wrong_type(value, &what, "a size such as \"4MiB\""),
            },
            _ => report.unknown_key(key, "[metrics]", METRICS_KEYS, &[]),
        }
    }
    for (include, span) in includes {
        if metrics.enabled && is_own_address(include.addr, metrics.listen) {
            report.error(
                &span,
                format!(
                    "[metrics] include: \"{}\" is oxinit's own /metrics ([metrics] listen = \"{}\"); it would fetch itself at every scrape. Include other programs' endpoints only, e.g. Litestream's \"http://127.0.0.1:9090/metrics\"",
                    include.url, metrics.listen
                ),
            );
            continue;
        }
        metrics.include.push(include);
    }
}

pub(super) fn parse_sqlite(
    table: &DeTable<'_>,
    sqlite: &mut SqliteSettings,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) {
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let what = format!("[sqlite] {name}");
        match name {
            "databases" => sqlite.databases = parse_databases(value, &what, ctx, report),
            "require_volume" => set_bool(&mut sqlite.require_volume, value, &what, report),
            "max_replication_lag" => {
                if let Some(d) = duration(value, &what, report) {
                    if d.is_zero() {
                        report.error(
                            &value.span(),
                            format!("{what}: \"0s\" would fail /health at every write; write the lag to tolerate, e.g. \"60s\", or leave the key out"),
                        );
                    } else {
                        sqlite.max_replication_lag = Some(d);
                    }
                }
            }
            _ => report.unknown_key(key, "[sqlite]", SQLITE_KEYS, &[]),
        }
    }
}

fn parse_databases(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<PathBuf> {
    let DeValue::Array(items) = value.get_ref() else {
        let hint = match value.get_ref() {
            DeValue::String(s) => format!("an array: write databases = [\"{s}\"]"),
            _ => "an array of database paths".to_string(),
        };
        report.wrong_type(value, what, &hint);
        return Vec::new();
    };
    let mut databases: Vec<PathBuf> = Vec::new();
    for item in items.iter() {
        let Some(text) = expanded_string(item, what, ctx, report) else {
            continue;
        };
        if text.is_empty() {
            report.error(&item.span(), format!("{what}: empty path"));
            continue;
        }
        let path = resolve(ctx.base_dir, &text);
        if databases.contains(&path) {
            report.error(
                &item.span(),
                format!("{what}: {} is listed twice", path.display()),
            );
            continue;
        }
        databases.push(path);
    }
    databases
}

/// `[metrics] include = ["http://127.0.0.1:9090/metrics", …]`.
fn parse_includes(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<(IncludeUrl, Range<usize>)> {
    let DeValue::Array(items) = value.get_ref() else {
        let hint = match value.get_ref() {
            DeValue::String(s) => format!("an array: write include = [\"{s}\"]"),
            _ => "an array of URLs such as [\"http://127.0.0.1:9090/metrics\"]".to_string(),
        };
        report.wrong_type(value, what, &hint);
        return Vec::new();
    };
    let mut urls: Vec<(IncludeUrl, Range<usize>)> = Vec::new();
    for item in items.iter() {
        let Some(text) = expanded_string(item, what, ctx, report) else {
            continue;
        };
        let lower = text.to_ascii_lowercase();
        let parsed = if lower.starts_with("http://") {
            parse_http_url(&text)
        } else if lower.starts_with("https://") {
            Err(format!("\"{text}\": https is not supported (oxinit carries no TLS stack); include the exporter's plain-HTTP address, e.g. \"http://127.0.0.1:9090/metrics\""))
        } else {
            Err(format!("\"{text}\" is not an http:// URL: write e.g. \"http://127.0.0.1:9090/metrics\" (Litestream's `addr:`)"))
        };
        if urls.iter().any(|(u, _)| u.url == text) {
            report.error(&item.span(), format!("{what}: \"{text}\" is listed twice"));
            continue;
        }
        match parsed {
            Ok(url) => urls.push((
                IncludeUrl {
                    url: text,
                    addr: url.addr,
                    host: url.host,
                    path: url.path,
                },
                item.span(),
            )),
            Err(e) => report.error(&item.span(), format!("{what}: {e}")),
        }
    }
    urls
}

/// An include of oxinit's own listening address would fetch itself at every
/// scrape, which fetches itself again, until the connection cap.
fn is_own_address(include: SocketAddr, listen: SocketAddr) -> bool {
    include.port() == listen.port()
        && (listen.ip().is_unspecified()
            || include.ip() == listen.ip()
            || (include.ip().is_loopback() && listen.ip().is_loopback()))
}

/// `[sqlite] max_replication_lag` judges Litestream's own figures for the
/// databases, which oxinit reads through `[metrics] include`: without both,
/// `/health` could never pass.
pub(super) fn check_replication_lag(
    document: &DeTable<'_>,
    metrics: &MetricsSettings,
    sqlite: &SqliteSettings,
    report: &mut Report<'_>,
) {
    if sqlite.max_replication_lag.is_none() {
        return;
    }
    let missing = match (sqlite.databases.is_empty(), metrics.include.is_empty()) {
        (true, _) => "[sqlite] databases lists no database to watch: add the replicated one, e.g. databases = [\"/data/app.db\"]",
        (false, true) => "[metrics] include has no URL to read Litestream's metrics from: add its `addr:`, e.g. include = [\"http://127.0.0.1:9090/metrics\"]",
        (false, false) => return,
    };
    let span = match document.get("sqlite").map(|v| v.get_ref()) {
        Some(DeValue::Table(table)) => table.get("max_replication_lag").map(|v| v.span()),
        _ => None,
    };
    let message = format!("[sqlite] max_replication_lag: {missing}");
    match span {
        Some(span) => report.error(&span, message),
        None => report.error_nowhere(message),
    }
}
