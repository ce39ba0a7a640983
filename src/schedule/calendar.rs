//! Proleptic Gregorian calendar arithmetic on "naive" seconds: seconds since
//! 1970-01-01 00:00 of a wall clock, with no zone attached. The cron search
//! walks wall-clock time in this form; `zone.rs` maps it to real instants.
//!
//! The day/date conversions are [`crate::units::civil`]'s, shared with the
//! timestamps of the logs.

/// Day of the week, 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday).
pub(super) fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// The most days month `month` can have in any year (February: 29).
pub(super) fn max_days_in_month(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::civil::days_from_civil;

    fn is_leap_year(year: i64) -> bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        if month == 2 && !is_leap_year(year) {
            28
        } else {
            max_days_in_month(month)
        }
    }

    #[test]
    fn weekdays_and_leap_years() {
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday(days_from_civil(2024, 2, 29)), 4);
        assert_eq!(weekday(days_from_civil(2025, 6, 1)), 0, "a Sunday");
        assert_eq!(weekday(-1), 3);
        assert!(is_leap_year(2000) && is_leap_year(2024));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2025));
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2400, 2), 29);
    }
}
