//! Typed getters over the TOML tree: an [`Item`] (one `key = value` with
//! the name messages give it) is read as a duration, a number, a flag, a
//! string, a path, a sub-table or one of an enum's names, and what is wrong
//! with it is reported at its position. None means "reported": the caller
//! leaves its default in place.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::context::Context;
use super::expand::expand;
use super::report::{Key, Report, Value};
use super::variants::Variants;
use crate::units::parse_duration;

/// One `key = value` being read.
pub(super) struct Item<'a, 'i> {
    pub key: &'a Key<'i>,
    pub value: &'a Value<'i>,
    /// How messages name it: `[processes.api] restart`.
    pub what: String,
    pub ctx: &'a Context<'a>,
}

impl<'a, 'i> Item<'a, 'i> {
    /// `value` (an entry of this item's array) under the same name.
    pub fn entry(&self, value: &'a Value<'i>) -> Item<'a, 'i> {
        self.named(value, self.what.clone())
    }

    /// `value` under the name `what`, resolved as this item is.
    pub fn named(&self, value: &'a Value<'i>, what: String) -> Item<'a, 'i> {
        Item {
            key: self.key,
            value,
            what,
            ctx: self.ctx,
        }
    }

    /// Reports `problem` with the value: `[processes.api] cwd: problem`.
    pub fn error(&self, problem: impl std::fmt::Display, report: &mut Report<'_>) {
        report.error(&self.value.span(), format!("{}: {problem}", self.what));
    }

    /// A sub-table (`[processes.api.health]`); `expected` names it.
    pub fn table(&self, expected: &str, report: &mut Report<'_>) -> Option<&'a DeTable<'i>> {
        match self.value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                report.wrong_type(self.value, &self.what, expected);
                None
            }
        }
    }

    /// A duration (`"15s"`).
    pub fn duration(&self, report: &mut Report<'_>) -> Option<Duration> {
        match self.value.get_ref() {
            DeValue::String(s) => parse_duration(s).map_err(|e| self.error(e, report)).ok(),
            DeValue::Integer(i) => {
                let hint = format!(
                    "a duration needs a unit and quotes: write \"{}s\"",
                    i.as_str()
                );
                self.error(hint, report);
                None
            }
            _ => {
                report.wrong_type(self.value, &self.what, "a duration such as \"15s\"");
                None
            }
        }
    }

    /// A duration that must not be zero (a zero interval would spin).
    pub fn positive_duration(&self, report: &mut Report<'_>) -> Option<Duration> {
        let d = self.duration(report)?;
        if d.is_zero() {
            self.error("must be longer than 0s", report);
            return None;
        }
        Some(d)
    }

    pub fn boolean(&self, report: &mut Report<'_>) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                report.wrong_type(self.value, &self.what, "true or false");
                None
            }
        }
    }

    /// A whole number from `min` to `max`; `example` shows one in the type
    /// error.
    pub fn whole_number(
        &self,
        (min, max): (u64, u64),
        example: &str,
        report: &mut Report<'_>,
    ) -> Option<u64> {
        let DeValue::Integer(i) = self.value.get_ref() else {
            let expected = format!("a whole number such as {example}");
            report.wrong_type(self.value, &self.what, &expected);
            return None;
        };
        match u64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    format_args!("must be a whole number from {min} to {max}"),
                    report,
                );
                None
            }
        }
    }

    /// A count from `min` to `u32::MAX`.
    pub fn count(&self, min: u64, example: &str, report: &mut Report<'_>) -> Option<u32> {
        let n = self.whole_number((min, u64::from(u32::MAX)), example, report)?;
        Some(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// One of the names of `variants`.
    pub fn choice<T: Copy + PartialEq>(
        &self,
        variants: &Variants<T>,
        report: &mut Report<'_>,
    ) -> Option<T> {
        choice(self.value, &self.what, variants, report)
    }

    /// A string with `${VAR}` expanded.
    pub fn string(&self, report: &mut Report<'_>) -> Option<String> {
        let DeValue::String(text) = self.value.get_ref() else {
            report.wrong_type(self.value, &self.what, "a string");
            return None;
        };
        let expanded = expand(text, self.ctx.env)
            .map_err(|e| self.error(e, report))
            .ok()?;
        no_nul(&expanded, &self.value.span(), &self.what, report).then_some(expanded)
    }

    /// A path: an expanded string, not empty, made absolute against the
    /// oxfile's directory.
    pub fn path(&self, report: &mut Report<'_>) -> Option<PathBuf> {
        let text = self.string(report)?;
        if text.is_empty() {
            self.error("empty path", report);
            return None;
        }
        Some(resolve(self.ctx.base_dir, &text))
    }
}

/// Puts a value that was read into its slot; a reported one leaves the
/// default.
pub(super) fn set<T>(slot: &mut T, read: Option<T>) {
    if let Some(value) = read {
        *slot = value;
    }
}

/// One of the names of `variants` (also for Oxmgr's keys, which are read
/// without a [`Context`]).
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
