//! UTC RFC 3339 timestamps with milliseconds (`2026-11-23T23:18:53.123Z`) for
//! the `json` log format; the calendar work is [`crate::units::civil`]'s.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use crate::units::civil::{timestamp as format, TIMESTAMP_LEN as LEN};

/// The current wall-clock time, formatted.
pub(crate) fn now() -> [u8; LEN] {
    // A clock set before 1970 is a broken container host; print the epoch
    // rather than fail to log.
    format(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}
