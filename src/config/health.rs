//! `[processes.NAME.health]` → [`HealthSpec`].
//!
//! The table's `type` decides which other keys belong in it, and it may be
//! written after them, so it is read first; then every key is checked
//! against the keys of that type. A key of another type gets its own
//! message (`url` on a `tcp` check is a mix-up, not a typo).

use toml::de::{DeTable, DeValue};

use super::address::{parse_host_port, parse_http_url, Port};
use super::command;
use super::condition::absolute;
use super::report::{Key, Report};
use super::schema::{HealthCheck, HealthSpec};
use super::table::{duration, key, walk_with, Item, KeyDef};
use super::value::set;
use super::variants::either;
use crate::units::format_duration;

/// Keys every type accepts, with the timing they set.
pub(super) const COMMON: &[KeyDef<HealthSpec>] = &[
    // Read before the others, see `read_type`.
    key("type", |_, _, _| {}),
    key("interval", |h, item, r| {
        set(&mut h.interval, item.positive_duration(r))
    }),
    key("timeout", |h, item, r| {
        set(&mut h.timeout, item.positive_duration(r))
    }),
    key("retries", |h, item, r| {
        set(&mut h.retries, item.count(1, "3", r))
    }),
    duration("start_period", |h| &mut h.start_period),
];

/// One type of check, declared once: its name, its own key, and how the
/// check is built from that key's value.
pub(super) struct CheckType {
    pub name: &'static str,
    pub key: &'static str,
    /// What to add when the own key is missing; None: it is optional.
    example: Option<&'static str>,
    /// Builds the check from its own key, when written.
    build: fn(Option<&Item<'_, '_>>, &mut Report<'_>) -> Option<HealthCheck>,
}

pub(super) const TYPES: &[CheckType] = &[
    CheckType {
        name: "http",
        key: "url",
        example: Some("\"http://127.0.0.1:3000/health\""),
        build: http,
    },
    CheckType {
        name: "tcp",
        key: "address",
        example: Some("\"127.0.0.1:5432\""),
        build: tcp,
    },
    CheckType {
        name: "exec",
        key: "command",
        example: Some("\"pg_isready -h 127.0.0.1\""),
        build: exec,
    },
    CheckType {
        name: "notify",
        key: "watchdog",
        example: None,
        build: notify,
    },
    CheckType {
        name: "mount",
        key: "path",
        example: Some("\"/litefs\""),
        build: mount,
    },
];

/// `"http", "tcp", "exec", "notify" or "mount"`.
fn type_list() -> String {
    either(TYPES.iter().map(|t| format!("\"{}\"", t.name)))
}

/// Parses the `health` item of process `name`. None when it had errors.
pub(super) fn parse(
    name: &str,
    item: &Item<'_, '_>,
    report: &mut Report<'_>,
) -> Option<HealthSpec> {
    let label = format!("[processes.{name}.health]");
    let table = item.table(&format!("a {label} table"), report)?;
    let kind = read_type(table, item.key, &label, report);
    // The keys of the table's type; every type's when the type is unknown.
    let mut valid: Vec<&str> = vec![COMMON[0].name];
    let own = TYPES
        .iter()
        .filter(|t| kind.is_none_or(|k| k.name == t.name));
    valid.extend(own.map(|t| t.key));
    valid.extend(COMMON[1..].iter().map(|k| k.name));

    // The check is built once the whole table is read.
    let mut spec = HealthSpec::new(HealthCheck::Notify { watchdog: None });
    let before = report.errors.len();
    let other = |key: &Key<'_>, report: &mut Report<'_>| {
        let name = key.get_ref().as_ref();
        match (TYPES.iter().find(|t| t.key == name), kind) {
            (Some(owner), Some(kind)) if owner.name != kind.name => report.error(
                &key.span(),
                format!(
                    "{label} {name}: {name} belongs to type = \"{}\", not to a \"{}\" check; valid keys for type = \"{}\": {}",
                    owner.name,
                    kind.name,
                    kind.name,
                    valid.join(", ")
                ),
            ),
            // The type's own key, read below; or the type is missing or
            // bad, which has its own error.
            (Some(_), _) => {}
            (None, _) => report.unknown_key(key, &label, &valid, &[]),
        }
    };
    walk_with(table, &label, COMMON, &mut spec, item.ctx, report, other);

    // Built even when something above failed, so its problems are reported
    // in the same run. A timeout longer than interval is fine (as in Docker
    // and Kubernetes): probes never overlap, see supervisor::cadence.
    let kind = kind?;
    let own = table.get_key_value(kind.key).map(|(key, value)| Item {
        key,
        value,
        what: format!("{label} {}", kind.key),
        ctx: item.ctx,
    });
    let check = match (&own, kind.example) {
        (None, Some(example)) => {
            let key = kind.key;
            report.error(
                &item.key.span(),
                format!(
                    "{label}: a \"{}\" check needs {key}; add {key} = {example}",
                    kind.name
                ),
            );
            None
        }
        (own, _) => (kind.build)(own.as_ref(), report),
    };
    let check = check.filter(|_| report.errors.len() == before)?;
    Some(HealthSpec { check, ..spec })
}

/// The check's type, or None (reported) when it is missing or unknown.
fn read_type(
    table: &DeTable<'_>,
    key: &Key<'_>,
    label: &str,
    report: &mut Report<'_>,
) -> Option<&'static CheckType> {
    let Some(value) = table.get("type") else {
        report.error(
            &key.span(),
            format!("{label}: missing type; add type = {}", type_list()),
        );
        return None;
    };
    let what = format!("{label} type");
    let DeValue::String(text) = value.get_ref() else {
        report.wrong_type(value, &what, &type_list());
        return None;
    };
    let found = TYPES.iter().find(|t| t.name == text.as_ref());
    if found.is_none() {
        let hint = if text.eq_ignore_ascii_case("https") {
            " (for an https endpoint, probe the app's plain-HTTP port on 127.0.0.1 with type = \"http\")"
        } else {
            ""
        };
        report.error(
            &value.span(),
            format!(
                "{what}: \"{text}\" is not a check type; use {}{hint}",
                type_list()
            ),
        );
    }
    found
}

fn http(own: Option<&Item<'_, '_>>, report: &mut Report<'_>) -> Option<HealthCheck> {
    let own = own?;
    let url = own.string(report)?;
    let parsed = parse_http_url(&url)
        .map_err(|e| own.error(e, report))
        .ok()?;
    Some(HealthCheck::Http {
        url,
        addr: parsed.addr,
        host: parsed.host,
        path: parsed.path,
    })
}

fn tcp(own: Option<&Item<'_, '_>>, report: &mut Report<'_>) -> Option<HealthCheck> {
    let own = own?;
    let text = own.string(report)?;
    let addr = parse_host_port(&text, Port::Required).map_err(|e| own.error(e, report));
    Some(HealthCheck::Tcp { addr: addr.ok()? })
}

fn exec(own: Option<&Item<'_, '_>>, report: &mut Report<'_>) -> Option<HealthCheck> {
    let own = own?;
    let argv = command::parse(own, report);
    (!argv.is_empty()).then_some(HealthCheck::Exec { argv })
}

/// An absolute path, compared as written with /proc/self/mountinfo.
fn mount(own: Option<&Item<'_, '_>>, report: &mut Report<'_>) -> Option<HealthCheck> {
    let own = own?;
    let text = own.string(report)?;
    let path = absolute(&text, "/litefs").map_err(|e| own.error(e, report));
    Some(HealthCheck::Mount { path: path.ok()? })
}

/// The longest `watchdog`. It reaches the app as `WATCHDOG_USEC`, which
/// sd_watchdog_enabled(3) reads as a 64-bit count of microseconds (the
/// longest durations oxfile.toml can spell do not fit), and clients turn
/// it into timers of their own, some of which hold no more than 2^31 ms
/// (Node's setTimeout: 24.8 days, beyond which it fires at once). A
/// watchdog is there to notice a hung process within minutes; a day is
/// far past any use of it, and every client handles it.
pub(super) const MAX_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn notify(own: Option<&Item<'_, '_>>, report: &mut Report<'_>) -> Option<HealthCheck> {
    let Some(own) = own else {
        return Some(HealthCheck::Notify { watchdog: None });
    };
    let d = own.positive_duration(report)?;
    if d > MAX_WATCHDOG {
        let max = format_duration(MAX_WATCHDOG);
        own.error(format!("must be at most {max} (the app is told it as WATCHDOG_USEC and pings at least that often; a watchdog notices a hang within minutes): lower it, or remove watchdog to go without one"), report);
        return None;
    }
    Some(HealthCheck::Notify { watchdog: Some(d) })
}
