//! Typed getters over the TOML tree: each reads one value as a duration, a
//! number, a flag, a string, a path or one of an enum's names, and reports
//! what is wrong with it at its position (`what` names the table and key).
//! None means "reported": the caller leaves its default in place.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::context::Context;
use super::expand::expand;
use super::report::{Report, Value};
use super::variants::Variants;
use crate::units::parse_duration;

/// Puts a value that was read into its slot; a reported one leaves the
/// default.
pub(super) fn set<T>(slot: &mut T, read: Option<T>) {
    if let Some(value) = read {
        *slot = value;
    }
}

/// A sub-table (`[processes.api.health]`); `expected` names it.
pub(super) fn table<'a, 'i>(
    value: &'a Value<'i>,
    what: &str,
    expected: &str,
    report: &mut Report<'_>,
) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(table),
        _ => {
            report.wrong_type(value, what, expected);
            None
        }
    }
}

/// A duration value (`"15s"`).
pub(super) fn duration(value: &Value<'_>, what: &str, report: &mut Report<'_>) -> Option<Duration> {
    match value.get_ref() {
        DeValue::String(s) => match parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                report.error(&value.span(), format!("{what}: {e}"));
                None
            }
        },
        DeValue::Integer(i) => {
            report.error(
                &value.span(),
                format!(
                    "{what}: a duration needs a unit and quotes: write \"{}s\"",
                    i.as_str()
                ),
            );
            None
        }
        _ => {
            report.wrong_type(value, what, "a duration such as \"15s\"");
            None
        }
    }
}

/// A duration that must not be zero (a zero interval would spin).
pub(super) fn positive_duration(
    value: &Value<'_>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<Duration> {
    let d = duration(value, what, report)?;
    if d.is_zero() {
        report.error(&value.span(), format!("{what}: must be longer than 0s"));
        return None;
    }
    Some(d)
}

pub(super) fn boolean(value: &Value<'_>, what: &str, report: &mut Report<'_>) -> Option<bool> {
    match value.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            report.wrong_type(value, what, "true or false");
            None
        }
    }
}

/// A whole number from `min` to `max`; `example` shows one in the type error.
pub(super) fn whole_number(
    value: &Value<'_>,
    what: &str,
    (min, max): (u64, u64),
    example: &str,
    report: &mut Report<'_>,
) -> Option<u64> {
    let DeValue::Integer(i) = value.get_ref() else {
        report.wrong_type(value, what, &format!("a whole number such as {example}"));
        return None;
    };
    match u64::from_str_radix(i.as_str(), i.radix()) {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            report.error(
                &value.span(),
                format!("{what}: must be a whole number from {min} to {max}"),
            );
            None
        }
    }
}

/// A count from `min` to `u32::MAX`.
pub(super) fn count(
    value: &Value<'_>,
    what: &str,
    min: u64,
    example: &str,
    report: &mut Report<'_>,
) -> Option<u32> {
    let n = whole_number(value, what, (min, u64::from(u32::MAX)), example, report)?;
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One of the names of `variants`.
pub(super) fn choice<T: Copy + PartialEq>(
    value: &Value<'_>,
    what: &str,
    variants: &Variants<T>,
    report: &mut Report<'_>,
) -> Option<T> {
    let DeValue::String(text) = value.get_ref() else {
        report.wrong_type(value, what, &variants.either());
        return None;
    };
    let found = variants.parse(text);
    if found.is_none() {
        report.error(&value.span(), format!("{what}: {}", variants.refusal(text)));
    }
    found
}

/// A string with `${VAR}` expanded.
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

/// A path: an expanded string, not empty, made absolute against the
/// oxfile's directory.
pub(super) fn path(
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
    Some(resolve(ctx.base_dir, &text))
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

/// False (reported) when `text` holds a NUL byte. TOML allows one
/// (`"\u0000"`), but nothing oxinit hands to the kernel can: an argument, a
/// variable or a path ends at the first NUL, so the process would fail to
/// start (126) or the socket would not bind. Caught here, at its line.
pub(super) fn no_nul(text: &str, span: &Range<usize>, what: &str, report: &mut Report<'_>) -> bool {
    if !text.contains('\0') {
        return true;
    }
    report.error(
        span,
        format!("{what}: holds a NUL byte (\\u0000), which no argument, variable or path can hold (the system would cut it there); remove it"),
    );
    false
}
