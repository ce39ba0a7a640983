//! `[processes.NAME.limits]` → [`Limits`]: memory, memory_high, pids.
//!
//! Only what can be checked without the machine is checked here (values,
//! memory_high below memory). How the limits are enforced (cgroup v2, v1 or
//! polling) is decided at boot.

use toml::de::DeValue;

use super::report::{Report, Value};
use super::table::{key, walk, Item, KeyDef};
use crate::cgroup::Limits;
use crate::units::{format_size, parse_size};

pub(super) const LIMITS: &[KeyDef<Limits>] = &[
    key("memory", |l, item, r| {
        l.memory = size(item.value, &item.what, r)
    }),
    key("memory_high", |l, item, r| {
        l.memory_high = size(item.value, &item.what, r)
    }),
    key("pids", |l, item, r| {
        l.pids = super::value::whole_number(item.value, &item.what, (1, MAX_PIDS), "64", r)
    }),
];

/// The kernel's PID_MAX_LIMIT on 64-bit: no pids.max above it can matter.
const MAX_PIDS: u64 = 4_194_304;

/// Below this a memory limit is almost certainly a unit left out
/// (`memory = 512` is 512 bytes).
const SUSPICIOUSLY_SMALL: u64 = 4 << 20;

/// Reads the `limits` item of process `name`; limits with errors are left
/// unset (the whole file is rejected anyway).
pub(super) fn parse(name: &str, item: &Item<'_, '_>, report: &mut Report<'_>) -> Limits {
    let label = format!("[processes.{name}.limits]");
    let mut limits = Limits::default();
    let Some(table) = item.table(&format!("a {label} table"), report) else {
        return limits;
    };
    let seen = walk(table, &label, LIMITS, &mut limits, item.ctx, report);
    if let (Some(memory), Some(high), Some(span)) =
        (limits.memory, limits.memory_high, seen.get("memory_high"))
    {
        if high >= memory {
            report.error(
                span,
                format!(
                    "{label} memory_high: memory_high ({}) must be below memory ({}): memory_high is where the kernel starts to reclaim and throttle, memory is where it kills; lower memory_high or remove it",
                    format_size(high),
                    format_size(memory)
                ),
            );
        }
    }
    limits
}

/// A size: `"512M"`, `"64MiB"`, `"1G"` or bytes as an integer. Zero is
/// refused, a tiny value warned about.
fn size(value: &Value<'_>, what: &str, report: &mut Report<'_>) -> Option<u64> {
    let bytes = match value.get_ref() {
        DeValue::String(s) => match parse_size(s) {
            Ok(n) => n,
            Err(e) => {
                report.error(&value.span(), format!("{what}: {e}"));
                return None;
            }
        },
        DeValue::Integer(i) => {
            match u64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n,
                Err(_) => {
                    report.error(
                    &value.span(),
                    format!("{what}: must be a number of bytes, 0 or more, or a size such as \"512M\""),
                );
                    return None;
                }
            }
        }
        _ => {
            report.wrong_type(value, what, "a size such as \"512M\"");
            return None;
        }
    };
    if bytes == 0 {
        report.error(
            &value.span(),
            format!("{what}: 0 leaves no memory at all; remove the key for no limit"),
        );
        return None;
    }
    if bytes < SUSPICIOUSLY_SMALL {
        let hint = match value.get_ref() {
            DeValue::Integer(_) => format!(" A bare number is bytes: did you mean \"{bytes}M\"?"),
            _ => String::new(),
        };
        report.warn(
            &value.span(),
            format!(
                "{what}: {} is too little for almost any program to start.{hint}",
                format_size(bytes)
            ),
        );
    }
    Some(bytes)
}
