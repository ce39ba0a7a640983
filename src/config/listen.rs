//! A service's `listen` (the sockets oxinit binds at boot and holds, see
//! `crate::sys::listen`) and its `backlog`; and the rule across the file:
//! one address is held once.
//!
//! `"0.0.0.0:3000"`, `"[::]:3000"`, `"127.0.0.1:8080"`, `"localhost:8080"`
//! (127.0.0.1: no DNS), `"unix:/run/app.sock"` (relative: to the oxfile's
//! directory). Port 0 is refused: the kernel would pick a port nobody knows.

use std::ops::Range;

use toml::de::DeValue;

use super::address::{parse_host_port, Port};
use super::report::Report;
use super::schema::ProcessSpec;
use super::table::Item;
use super::value::resolve;
use crate::sys::listen::Endpoint;

/// `sun_path` holds 108 bytes with its NUL.
const MAX_UNIX_PATH: usize = 107;
/// systemd's longest `LISTEN_FDNAMES` entry.
const MAX_FD_NAME: usize = 255;

const EXAMPLES: &str =
    "(e.g. \"0.0.0.0:3000\", \"[::]:3000\", \"127.0.0.1:8080\" or \"unix:/run/app.sock\")";

/// Held addresses, each with where it was written.
pub(super) type Spanned = Vec<(Endpoint, Range<usize>)>;

/// `listen = [...]`: each address with where it was written.
pub(super) fn parse(item: &Item<'_, '_>, report: &mut Report<'_>) -> Spanned {
    let what = &item.what;
    let DeValue::Array(entries) = item.value.get_ref() else {
        let hint = match item.value.get_ref() {
            DeValue::String(s) => format!("an array: write listen = [\"{s}\"]"),
            _ => format!("an array of addresses {EXAMPLES}"),
        };
        report.wrong_type(item.value, what, &hint);
        return Vec::new();
    };
    let mut listed: Spanned = Vec::new();
    for entry in entries.iter() {
        let entry_item = item.entry(entry);
        let Some(text) = entry_item.string(report) else {
            continue;
        };
        let Some(endpoint) = endpoint(&text, &entry_item, report) else {
            continue;
        };
        if listed.iter().any(|(e, _)| *e == endpoint) {
            entry_item.error(format_args!("{endpoint} is listed twice"), report);
            continue;
        }
        listed.push((endpoint, entry.span()));
    }
    if entries.iter().next().is_none() {
        item.error(
            format_args!("empty: list the addresses to hold {EXAMPLES}, or remove listen"),
            report,
        );
    }
    listed
}

fn endpoint(text: &str, item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<Endpoint> {
    let Some(path) = text.strip_prefix("unix:") else {
        return match parse_host_port(text, Port::Held) {
            Ok(addr) => Some(Endpoint::Tcp(addr)),
            Err(e) => {
                item.error(format_args!("{e} {EXAMPLES}"), report);
                None
            }
        };
    };
    if path.is_empty() || path.starts_with('@') {
        item.error(
            format_args!("\"{text}\": write a socket path after unix: (abstract sockets are not supported), e.g. \"unix:/run/app.sock\""),
            report,
        );
        return None;
    }
    let endpoint = Endpoint::Unix(resolve(item.ctx.base_dir, path));
    let Endpoint::Unix(full) = &endpoint else {
        return None;
    };
    let len = full.as_os_str().len();
    if len > MAX_UNIX_PATH {
        item.error(
            format_args!("{} is {len} bytes long, but a Unix socket path holds at most {MAX_UNIX_PATH}; choose a shorter path such as \"unix:/run/app.sock\"", full.display()),
            report,
        );
        return None;
    }
    if endpoint.fd_name().len() > MAX_FD_NAME {
        item.error(
            format_args!("{} is too long for its LISTEN_FDNAMES name (at most {MAX_FD_NAME} bytes, each byte that is not printable ASCII taking 3); choose a shorter or plain ASCII path", full.display()),
            report,
        );
        return None;
    }
    Some(endpoint)
}

/// `backlog = 1024`.
pub(super) fn backlog(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<u32> {
    let n = item.whole_number((1, 65535), "1024", report)?;
    Some(n as u32)
}

/// Whether `a` and `b` cannot both be bound: the same address, or the same
/// port of one family where one of them is the wildcard (`0.0.0.0:3000`
/// already takes `127.0.0.1:3000`). An IPv4 and an IPv6 address never
/// collide here: oxinit makes the IPv6 one v6-only then (see
/// `crate::sys::listen`).
pub fn collide(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (Endpoint::Tcp(a), Endpoint::Tcp(b)) => {
            a.port() == b.port()
                && a.is_ipv4() == b.is_ipv4()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        (Endpoint::Unix(a), Endpoint::Unix(b)) => a == b,
        _ => false,
    }
}

/// Every pair of held addresses that collide, across and within processes,
/// and with the metrics address: reported at the later one.
pub(super) fn check_across(
    held: &[(&str, &Spanned)],
    metrics: Option<std::net::SocketAddr>,
    report: &mut Report<'_>,
) {
    let all: Vec<(&str, &Endpoint, &Range<usize>)> = held
        .iter()
        .flat_map(|(name, list)| list.iter().map(move |(e, span)| (*name, e, span)))
        .collect();
    for (i, &(name, endpoint, span)) in all.iter().enumerate() {
        let what = format!("[processes.{name}] listen");
        let earlier = all[..i]
            .iter()
            .find(|(_, other, _)| *other != endpoint && collide(other, endpoint));
        if let Some((other_name, other, _)) = earlier {
            report.error(
                span,
                format!("{what}: {endpoint} cannot be bound beside {other} of [processes.{other_name}] (the same port, and one of them takes every address); hold one of them"),
            );
            continue;
        }
        let same = all[..i].iter().find(|(_, other, _)| *other == endpoint);
        if let Some((other_name, _, _)) = same.filter(|(n, _, _)| *n != name) {
            report.error(
                span,
                format!("{what}: {endpoint} is already held for [processes.{other_name}]; a socket is passed to one process: remove it from one of them"),
            );
            continue;
        }
        if let Some(m) = metrics.filter(|m| collide(&Endpoint::Tcp(*m), endpoint)) {
            report.error(
                span,
                format!("{what}: {endpoint} collides with [metrics] listen = \"{m}\"; give the metrics or the process another port"),
            );
        }
    }
}

/// `check`'s line for the held sockets of `p`: what oxinit binds, and what
/// each start gets.
pub(super) fn describe(p: &ProcessSpec) -> String {
    let addresses: Vec<String> = p.listen.iter().map(|e| e.to_string()).collect();
    let names: Vec<String> = p.listen.iter().map(|e| e.fd_name()).collect();
    let n = p.listen.len();
    let fds = if n == 1 {
        "fd 3".to_string()
    } else {
        format!("fds 3-{}", n + 2)
    };
    format!(
        "{}: bound by oxinit at boot and held while it runs (connections wait while the process is down); each start gets {fds} with LISTEN_FDS={n}, LISTEN_PID and LISTEN_FDNAMES={}; backlog {} (capped by net.core.somaxconn)",
        addresses.join(", "),
        names.join(":"),
        p.backlog
    )
}
