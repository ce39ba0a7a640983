//! `log_buffer_lines` and `log_buffer_bytes`: how much of each process's
//! output oxinit keeps for `oxinit logs` (see `crate::logs`'s ring). Read in
//! `[init]`, the default of every process, and in `[processes.NAME]`, for
//! the one that needs more or less: the memory it costs is per process, so
//! a chatty worker can keep less without shortening the app's history.

use toml::de::DeValue;

use super::report::Report;
use super::table::Item;
use crate::units::{format_size, parse_size};

const MAX_LINES: u64 = 1_000_000;
/// Below one line of the relay's longest (64 KiB) a long line is always
/// cut; below 1 KiB the history is of no use.
const MIN_BYTES: u64 = 1024;
const MAX_BYTES: u64 = 1 << 30;

/// `log_buffer_lines`: 1 to a million.
pub(super) fn lines(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<usize> {
    let n = item.whole_number((1, MAX_LINES), "1000", report)?;
    Some(n as usize)
}

/// `log_buffer_bytes`: a size from 1 KiB to 1 GiB.
pub(super) fn bytes(item: &Item<'_, '_>, report: &mut Report<'_>) -> Option<u64> {
    let bytes = match item.value.get_ref() {
        DeValue::String(s) => parse_size(s).map_err(|e| item.error(e, report)).ok()?,
        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok()?,
        _ => {
            report.wrong_type(item.value, &item.what, "a size such as \"1MiB\"");
            return None;
        }
    };
    if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
        item.error(
            format_args!(
                "{} is out of range: keep from {} to {} of each process's output (e.g. \"1MiB\")",
                format_size(bytes),
                format_size(MIN_BYTES),
                format_size(MAX_BYTES)
            ),
            report,
        );
        return None;
    }
    Some(bytes)
}
