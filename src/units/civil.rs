//! Calendar dates in the proleptic Gregorian calendar, counted in days
//! since 1970-01-01, and the UTC RFC 3339 timestamps built on them.
//!
//! Written by hand instead of pulling in chrono or time: the only calendar
//! work needed is days ↔ (year, month, day). These are Howard Hinnant's
//! `days_from_civil` and `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact for every
//! year, no tables, no loops. They count in 400-year eras that start on
//! March 1st, so the leap day is the last day of its "year" and month
//! lengths follow a fixed pattern.

use std::time::Duration;

/// Seconds in a calendar day (no leap seconds, as in Unix time).
pub const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of the date `year-month-day` (month 1–12).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch from 1970-01-01 to 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_index = (5 * day_of_year + 2) / 153; // [0, 11], 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Length of a [`timestamp`]: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub const TIMESTAMP_LEN: usize = 24;

/// `since_epoch` (time since 1970-01-01T00:00:00Z) as RFC 3339 UTC with
/// milliseconds (`2026-11-23T23:18:53.123Z`), in a fixed-size buffer so the
/// log relay formats one per line without allocating. Instants past year
/// 9999 do not fit the four-digit year and are clamped to its last
/// millisecond.
pub fn timestamp(since_epoch: Duration) -> [u8; TIMESTAMP_LEN] {
    const LAST_MILLI_OF_9999: Duration = Duration::from_millis(253_402_300_799_999);
    let since_epoch = since_epoch.min(LAST_MILLI_OF_9999);

    // Both fit: the clamp keeps the seconds far below i64::MAX.
    let secs = since_epoch.as_secs() as i64;
    let of_day = secs.rem_euclid(SECS_PER_DAY) as u64;
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));

    let mut out = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut out[0..4], year as u64);
    put_digits(&mut out[5..7], u64::from(month));
    put_digits(&mut out[8..10], u64::from(day));
    put_digits(&mut out[11..13], of_day / 3600);
    put_digits(&mut out[14..16], of_day % 3600 / 60);
    put_digits(&mut out[17..19], of_day % 60);
    put_digits(&mut out[20..23], u64::from(since_epoch.subsec_millis()));
    out
}

/// `2026-01-02T03:04:05Z`: RFC 3339 in UTC, whole seconds (the log relay's
/// millisecond timestamp without its milliseconds). A time before 1970 (only
/// from a broken clock) prints as the epoch.
pub fn format_utc(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = timestamp(Duration::from_secs(since.as_secs()));
    let text = String::from_utf8_lossy(&stamp);
    format!("{}Z", &text[..19])
}

/// Writes `value` as zero-padded decimal filling `into` exactly.
fn put_digits(into: &mut [u8], mut value: u64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_leap_year(year: i64) -> bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        match month {
            2 if is_leap_year(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    fn at(secs: u64, millis: u64) -> String {
        let formatted = timestamp(Duration::from_millis(secs * 1000 + millis));
        String::from_utf8(formatted.to_vec()).unwrap()
    }

    #[test]
    fn known_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert!(d >= 1 && d <= days_in_month(y, m), "{y}-{m}-{d}");
        }
    }

    /// Walks every day from 1970 to 2400 and checks each date is the day
    /// after the previous one, with month lengths and leap years computed
    /// the textbook way: an independent oracle for `civil_from_days`.
    #[test]
    fn every_day_follows_the_previous_one() {
        let mut expected = (1970, 1, 1);
        for days in 0..158_000 {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (year, month, day) = expected;
            expected = if day < days_in_month(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
        }
        assert!(expected.0 > 2399, "the walk should cross 2400");
        assert!(is_leap_year(2000) && is_leap_year(2024));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2025));
    }

    #[test]
    fn timestamps_of_known_instants() {
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
    fn timestamps_clamp_past_year_9999() {
        assert_eq!(at(253_402_300_800, 0), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            &timestamp(Duration::MAX),
            b"9999-12-31T23:59:59.999Z",
            "the largest Duration must not overflow"
        );
    }

    #[test]
    fn utc_timestamps() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let at = |secs: u64| -> SystemTime { UNIX_EPOCH + Duration::from_secs(secs) };
        assert_eq!(format_utc(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(at(1_709_251_199)), "2024-02-29T23:59:59Z");
        assert_eq!(format_utc(at(4_107_542_400)), "2100-03-01T00:00:00Z");
        assert_eq!(
            format_utc(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }
}
