//! Proleptic Gregorian calendar arithmetic on "naive" seconds: seconds since
//! 1970-01-01 00:00 of a wall clock, with no zone attached. The cron search
//! walks wall-clock time in this form; `zone.rs` maps it to real instants.
//!
//! The day/date conversions are Howard Hinnant's `days_from_civil` and
//! `civil_from_days` (<http://howardhinnant.github.io/date_algorithms.html>):
//! exact for every year, no tables, no loops.

pub(super) const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of the date `year-month-day` (month 1–12).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) of a count of days since 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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
