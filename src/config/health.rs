//! `[processes.NAME.health]` → [`HealthSpec`].
//!
//! The table's `type` decides which other keys belong in it, and it may be
//! written after them, so it is read first; then every key is checked
//! against the keys of that type. A key of another type gets its own
//! message (`url` on a `tcp` check is a mix-up, not a typo).

use toml::de::{DeTable, DeValue};

use super::address::{parse_host_port, parse_http_url, Port};
use super::command;
use super::parse::{duration, whole_number, Key, Report, Value};
use super::process::{expanded_string, Context};
use super::schema::{HealthCheck, HealthSpec};
use super::units::format_duration;

/// Keys every type accepts.
pub(super) const COMMON_KEYS: &[&str] = &["type", "interval", "timeout", "retries", "start_period"];

/// Each type with its own keys; the first is required (none for notify).
pub(super) const TYPES: &[(&str, &[&str])] = &[
    ("http", &["url"]),
    ("tcp", &["address"]),
    ("exec", &["command"]),
    ("notify", &["watchdog"]),
    ("mount", &["path"]),
];

const TYPE_LIST: &str = "\"http\", \"tcp\", \"exec\", \"notify\" or \"mount\"";

/// Parses the `health` value of process `name`. None when it had errors.
pub(super) fn parse(
    name: &str,
    key: &Key<'_>,
    value: &Value<'_>,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<HealthSpec> {
    let label = format!("[processes.{name}.health]");
    let DeValue::Table(table) = value.get_ref() else {
        report.wrong_type(
            value,
            &format!("[processes.{name}] health"),
            &format!("a {label} table"),
        );
        return None;
    };
    let kind = read_type(table, key, &label, report);
    let valid = valid_keys(kind);

    // The check is filled in once the type's own key has been read.
    let mut spec = HealthSpec::new(HealthCheck::Notify { watchdog: None });
    // The value of the type's own key (url, address, command, watchdog).
    let mut own: Option<&Value<'_>> = None;
    let before = report.errors.len();

    for (key, value) in table.iter() {
        let key_name = key.get_ref().as_ref();
        let what = format!("{label} {key_name}");
        match key_name {
            "type" => {}
            "interval" => {
                if let Some(d) = positive_duration(value, &what, report) {
                    spec.interval = d;
                }
            }
            "timeout" => {
                if let Some(d) = positive_duration(value, &what, report) {
                    spec.timeout = d;
                }
            }
            "start_period" => {
                if let Some(d) = duration(value, &what, report) {
                    spec.start_period = d;
                }
            }
            "retries" => {
                let range = (1, u64::from(u32::MAX));
                if let Some(n) = whole_number(value, &what, range, "3", report) {
                    spec.retries = u32::try_from(n).unwrap_or(u32::MAX);
                }
            }
            _ => match TYPES.iter().find(|(_, keys)| keys.contains(&key_name)) {
                Some((owner, _)) => match kind {
                    Some(kind) if *owner != kind => report.error(
                        &key.span(),
                        format!(
                            "{what}: {key_name} belongs to type = \"{owner}\", not to a \"{kind}\" check; valid keys for type = \"{kind}\": {}",
                            valid.join(", ")
                        ),
                    ),
                    Some(_) => own = Some(value),
                    // The missing or bad type has its own error.
                    None => {}
                },
                None => report.unknown_key(key, &label, &valid, &[]),
            },
        }
    }

    // Built even when something above failed, so its problems are reported
    // in the same run. A timeout longer than interval is fine (as in Docker
    // and Kubernetes): probes never overlap, see supervisor::cadence.
    let check = kind.and_then(|kind| build_check(kind, own, key, &label, ctx, report));
    let check = check.filter(|_| report.errors.len() == before)?;
    Some(HealthSpec { check, ..spec })
}

/// The check's type, or None (reported) when it is missing or unknown.
fn read_type(
    table: &DeTable<'_>,
    key: &Key<'_>,
    label: &str,
    report: &mut Report<'_>,
) -> Option<&'static str> {
    let Some(value) = table.get("type") else {
        report.error(
            &key.span(),
            format!("{label}: missing type; add type = {TYPE_LIST}"),
        );
        return None;
    };
    let what = format!("{label} type");
    let DeValue::String(text) = value.get_ref() else {
        report.wrong_type(value, &what, TYPE_LIST);
        return None;
    };
    let found = TYPES.iter().find(|(name, _)| *name == text.as_ref());
    if found.is_none() {
        let hint = if text.eq_ignore_ascii_case("https") {
            " (for an https endpoint, probe the app's plain-HTTP port on 127.0.0.1 with type = \"http\")"
        } else {
            ""
        };
        report.error(
            &value.span(),
            format!("{what}: \"{text}\" is not a check type; use {TYPE_LIST}{hint}"),
        );
    }
    found.map(|(name, _)| *name)
}

/// The keys a check of `kind` accepts; every key when the type is unknown.
fn valid_keys(kind: Option<&str>) -> Vec<&'static str> {
    let mut keys: Vec<&str> = COMMON_KEYS[..1].to_vec();
    for (name, own) in TYPES {
        if kind.is_none() || kind == Some(*name) {
            keys.extend_from_slice(own);
        }
    }
    keys.extend_from_slice(&COMMON_KEYS[1..]);
    keys
}

/// The type-specific part, from the type's own key (if written).
fn build_check(
    kind: &str,
    own_value: Option<&Value<'_>>,
    health_key: &Key<'_>,
    label: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<HealthCheck> {
    let required = |key: &str, example: &str, report: &mut Report<'_>| {
        report.error(
            &health_key.span(),
            format!("{label}: a \"{kind}\" check needs {key}; add {key} = {example}"),
        );
    };
    match kind {
        "http" => {
            let Some(value) = own_value else {
                required("url", "\"http://127.0.0.1:3000/health\"", report);
                return None;
            };
            let what = format!("{label} url");
            let url = expanded_string(value, &what, ctx, report)?;
            match parse_http_url(&url) {
                Ok(parsed) => Some(HealthCheck::Http {
                    url,
                    addr: parsed.addr,
                    host: parsed.host,
                    path: parsed.path,
                }),
                Err(e) => {
                    report.error(&value.span(), format!("{what}: {e}"));
                    None
                }
            }
        }
        "tcp" => {
            let Some(value) = own_value else {
                required("address", "\"127.0.0.1:5432\"", report);
                return None;
            };
            let what = format!("{label} address");
            let text = expanded_string(value, &what, ctx, report)?;
            match parse_host_port(&text, Port::Required) {
                Ok(addr) => Some(HealthCheck::Tcp { addr }),
                Err(e) => {
                    report.error(&value.span(), format!("{what}: {e}"));
                    None
                }
            }
        }
        "exec" => {
            let Some(value) = own_value else {
                required("command", "\"pg_isready -h 127.0.0.1\"", report);
                return None;
            };
            let argv = command::parse(value, &format!("{label} command"), ctx, report);
            (!argv.is_empty()).then_some(HealthCheck::Exec { argv })
        }
        "mount" => {
            let Some(value) = own_value else {
                required("path", "\"/litefs\"", report);
                return None;
            };
            let what = format!("{label} path");
            let path = expanded_string(value, &what, ctx, report)?;
            match super::condition::absolute(&path, "/litefs") {
                Ok(path) => Some(HealthCheck::Mount { path }),
                Err(e) => {
                    report.error(&value.span(), format!("{what}: {e}"));
                    None
                }
            }
        }
        _ => {
            let watchdog = match own_value {
                Some(value) => Some(watchdog(value, &format!("{label} watchdog"), report)?),
                None => None,
            };
            Some(HealthCheck::Notify { watchdog })
        }
    }
}

/// The longest `watchdog`. It reaches the app as `WATCHDOG_USEC`, which
/// sd_watchdog_enabled(3) reads as a 64-bit count of microseconds (the
/// longest durations oxfile.toml can spell do not fit), and clients turn
/// it into timers of their own, some of which hold no more than 2^31 ms
/// (Node's setTimeout: 24.8 days, beyond which it fires at once). A
/// watchdog is there to notice a hung process within minutes; a day is
/// far past any use of it, and every client handles it.
pub(super) const MAX_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn watchdog(value: &Value<'_>, what: &str, report: &mut Report<'_>) -> Option<std::time::Duration> {
    let d = positive_duration(value, what, report)?;
    if d > MAX_WATCHDOG {
        report.error(
            &value.span(),
            format!(
                "{what}: must be at most {} (the app is told it as WATCHDOG_USEC and pings at least that often; a watchdog notices a hang within minutes): lower it, or remove watchdog to go without one",
                format_duration(MAX_WATCHDOG)
            ),
        );
        return None;
    }
    Some(d)
}

/// A duration that must not be zero (a zero interval would spin).
fn positive_duration(
    value: &Value<'_>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<std::time::Duration> {
    let d = duration(value, what, report)?;
    if d.is_zero() {
        report.error(&value.span(), format!("{what}: must be longer than 0s"));
        return None;
    }
    Some(d)
}
