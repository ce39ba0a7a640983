//! UTC RFC 3339 timestamps with milliseconds (`2026-11-23T23:18:53.123Z`) for
//! the `json` log format.
//!
//! Written by hand instead of pulling in chrono or time: the only calendar work
//! needed is days-since-epoch → (year, month, day), which is a dozen lines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of a formatted timestamp: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) const LEN: usize = 24;

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

/// Formats `since_epoch` (time since 1970-01-01T00:00:00Z) as RFC 3339 UTC with
/// milliseconds. Instants past year 9999 do not fit the four-digit year and are
/// clamped to its last millisecond.
pub(crate) fn format(since_epoch: Duration) -> [u8; LEN] {
    const LAST_MILLI_OF_9999: Duration = Duration::from_millis(253_402_300_799_999);
    let since_epoch = since_epoch.min(LAST_MILLI_OF_9999);

    let secs = since_epoch.as_secs();
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);

    let mut out = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], month);
    put_digits(&mut out[8..10], day);
    put_digits(&mut out[11..13], of_day / 3600);
    put_digits(&mut out[14..16], of_day % 3600 / 60);
    put_digits(&mut out[17..19], of_day % 60);
    put_digits(&mut out[20..23], u64::from(since_epoch.subsec_millis()));
    out
}

/// Writes `value` as zero-padded decimal filling `into` exactly.
fn put_digits(into: &mut [u8], mut value: u64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month 1-12, day 1-31) of the `days`-th day after 1970-01-01 in the
/// proleptic Gregorian calendar.
///
/// Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>), restricted to
/// days >= 0. It counts in 400-year eras that start on March 1st, so the leap
/// day is the last day of its "year" and month lengths follow a fixed pattern.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch from 1970-01-01 to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let shifted_month = (5 * day_of_year + 2) / 153; // [0, 11], 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> String {
        let formatted = format(Duration::from_millis(secs * 1000 + millis));
        String::from_utf8(formatted.to_vec()).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        assert_eq!(at(1_000_000_000, 123), "2001-09-09T01:46:40.123Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        // 2100 is not a leap year: February 28th is followed by March 1st.
        assert_eq!(at(4_107_542_399, 7), "2100-02-28T23:59:59.007Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(at(1_795_475_933, 123), "2026-11-23T23:18:53.123Z");
        assert_eq!(at(253_402_300_799, 999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn clamps_past_year_9999() {
        assert_eq!(at(253_402_300_800, 0), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            &format(Duration::MAX),
            b"9999-12-31T23:59:59.999Z",
            "the largest Duration must not overflow"
        );
    }

    /// Walks every day from 1970 to 2400 and checks each date is the day after
    /// the previous one, with month lengths and leap years computed the
    /// textbook way: an independent oracle for `civil_from_days`.
    #[test]
    fn every_day_follows_the_previous_one() {
        fn is_leap(year: u64) -> bool {
            year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        }
        fn month_len(year: u64, month: u64) -> u64 {
            match month {
                2 if is_leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        let mut expected = (1970, 1, 1);
        for days in 0..158_000 {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (year, month, day) = expected;
            expected = if day < month_len(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
        }
        assert!(expected.0 > 2399, "the walk should cross 2400");
    }
}
