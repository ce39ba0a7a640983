//! `[processes.NAME.limits]` → [`Limits`]: memory, memory_high, pids.
//!
//! Only what can be checked without the machine is checked here (values,
//! memory_high below memory). How the limits are enforced (cgroup v2, v1 or
//! polling) is decided at boot.

use toml::de::DeValue;

use super::report::Report;
use super::table::{key, walk, Item, KeyDef};
use crate::cgroup::Limits;
use crate::units::{format_size, parse_size};

pub(super) const LIMITS: &[KeyDef<Limits>] = &[
    key("memory", |l, item, r| l.memory = size(item, r)),
    key("memory_high", |l, item, r| l.memory_high = size(item, r)),
    key("pids", |l, item, r| {
        l.pids = item.whole_number((1, MAX_PIDS), "64", r)
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
fn size(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<u64> {
    let bytes = match item.value.get_ref() {
        DeValue::String(s) => parse_size(s).map_err(|e| item.error(e, report)).ok()?,
        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| {
                let hint = "must be a number of bytes, 0 or more, or a size such as \"512M\"";
                item.error(hint, report)
            })
            .ok()?,
        _ => {
            report.wrong_type(item.value, &item.what, "a size such as \"512M\"");
            return None;
        }
    };
    if bytes == 0 {
        item.error(
            "0 leaves no memory at all; remove the key for no limit",
            report,
        );
        return None;
    }
    if bytes < SUSPICIOUSLY_SMALL {
        let hint = match item.value.get_ref() {
            DeValue::Integer(_) => format!(" A bare number is bytes: did you mean \"{bytes}M\"?"),
            _ => String::new(),
        };
        report.warn(
            &item.value.span(),
            format!(
                "{}: {} is too little for almost any program to start.{hint}",
                item.what,
                format_size(bytes)
            ),
        );
    }
    Some(bytes)
}
