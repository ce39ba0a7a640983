//! Five-field cron expressions (minute hour day-of-month month day-of-week)
//! with Vixie cron / cronie semantics, and the search for the next matching
//! wall-clock minute.
//!
//! Each field becomes a bit set. The two day fields follow Vixie's rule
//! literally: a field "is a star" when its text begins with `*` (so `*/2` counts
//! as a star); when either day field is a star both must match, otherwise
//! either may match. So `0 0 1,15 * mon` runs on the 1st, the 15th and every
//! Monday, while `0 0 */2 * mon` runs on Mondays with an odd day number.

use super::calendar::{max_days_in_month, weekday};
use crate::units::civil::{civil_from_days, days_from_civil, SECS_PER_DAY};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cron {
    minutes: u64, // bits 0–59
    hours: u32,   // bits 0–23
    days: u32,    // bits 1–31
    months: u16,  // bits 1–12
    weekdays: u8, // bits 0–6, 0 = Sunday
    day_star: bool,
    weekday_star: bool,
    /// Minute or hour begins with `*`: a "wildcard job" in cronie's DST
    /// rules, which simply follows the wall clock (see `zone.rs`).
    pub(super) wildcard_time: bool,
}

struct FieldKind {
    name: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldKind = FieldKind {
    name: "minute",
    low: 0,
    high: 59,
    names: &[],
};
const HOUR: FieldKind = FieldKind {
    name: "hour",
    low: 0,
    high: 23,
    names: &[],
};
const DAY: FieldKind = FieldKind {
    name: "day-of-month",
    low: 1,
    high: 31,
    names: &[],
};
// names[i] stands for low + i.
const MONTH: FieldKind = FieldKind {
    name: "month",
    low: 1,
    high: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
// 7 is accepted as Sunday and folded onto 0 after parsing.
const WEEKDAY: FieldKind = FieldKind {
    name: "day-of-week",
    low: 0,
    high: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Cron {
    /// Parses the five whitespace-separated fields. Errors name the field and
    /// the offending text; the caller adds the accepted forms.
    pub(super) fn parse(fields: &[&str]) -> Result<Cron, String> {
        let [minute, hour, day, month, weekday] = fields else {
            unreachable!("the caller checks the field count");
        };
        let mut weekdays = parse_field(weekday, &WEEKDAY)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let cron = Cron {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)? as u32,
            days: parse_field(day, &DAY)? as u32,
            months: parse_field(month, &MONTH)? as u16,
            weekdays: weekdays as u8,
            day_star: day.starts_with('*'),
            weekday_star: weekday.starts_with('*'),
            wildcard_time: minute.starts_with('*') || hour.starts_with('*'),
        };
        cron.check_possible(day)?;
        Ok(cron)
    }

    /// `parse` without the never-runs check, to test that the search ends.
    #[cfg(test)]
    pub(super) fn parse_unchecked(fields: &[&str]) -> Cron {
        let [minute, hour, day, month, weekday] = fields else {
            panic!("five fields");
        };
        Cron {
            minutes: parse_field(minute, &MINUTE).unwrap(),
            hours: parse_field(hour, &HOUR).unwrap() as u32,
            days: parse_field(day, &DAY).unwrap() as u32,
            months: parse_field(month, &MONTH).unwrap() as u16,
            weekdays: parse_field(weekday, &WEEKDAY).unwrap() as u8,
            day_star: day.starts_with('*'),
            weekday_star: weekday.starts_with('*'),
            wildcard_time: false,
        }
    }

    /// Refuses a day-of-month that no selected month ever has ("0 0 30 2 *"):
    /// such a job would silently never run.
    fn check_possible(&self, day_text: &str) -> Result<(), String> {
        let day_must_match = self.day_star || self.weekday_star;
        if !day_must_match {
            return Ok(()); // either day field may match: every month has every weekday
        }
        let possible = (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| (1..=max_days_in_month(m)).any(|d| self.days & (1 << d) != 0));
        if possible {
            return Ok(());
        }
        let mut months: Vec<&str> = (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .map(|m| MONTH_NAMES[m as usize - 1])
            .collect();
        let last = months.pop().unwrap_or("any month");
        let months = if months.is_empty() {
            last.to_string()
        } else {
            format!("{} or {last}", months.join(", "))
        };
        Err(format!(
            "this schedule never runs: day-of-month \"{day_text}\" never occurs in {months}"
        ))
    }

    fn day_matches(&self, days: i64, day_of_month: u32) -> bool {
        let by_day = self.days & (1 << day_of_month) != 0;
        let by_weekday = self.weekdays & (1 << weekday(days)) != 0;
        if self.day_star || self.weekday_star {
            by_day && by_weekday
        } else {
            by_day || by_weekday
        }
    }

    /// The first wall-clock minute at or after `from` (naive seconds, a
    /// multiple of 60) that matches, searching no later than `limit`
    /// (naive seconds). Skips whole months, days and hours that cannot match,
    /// so even a leap-day schedule costs a few hundred steps.
    pub(super) fn next_match(&self, from: i64, limit: i64) -> Option<i64> {
        let mut days = from.div_euclid(SECS_PER_DAY);
        let second_of_day = from.rem_euclid(SECS_PER_DAY);
        let mut hour = (second_of_day / 3600) as u32;
        let mut minute = (second_of_day % 3600 / 60) as u32;
        loop {
            if days * SECS_PER_DAY > limit {
                return None;
            }
            let (year, month, day) = civil_from_days(days);
            if self.months & (1 << month) == 0 {
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                days = days_from_civil(next_year, next_month, 1);
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(days, day) {
                days += 1;
                (hour, minute) = (0, 0);
                continue;
            }
            let Some(next_hour) = next_bit(u64::from(self.hours), hour) else {
                days += 1;
                (hour, minute) = (0, 0);
                continue;
            };
            if next_hour != hour {
                (hour, minute) = (next_hour, 0);
            }
            match next_bit(self.minutes, minute) {
                Some(next_minute) => {
                    let at = days * SECS_PER_DAY + i64::from(hour) * 3600;
                    let at = at + i64::from(next_minute) * 60;
                    return (at <= limit).then_some(at);
                }
                None if hour == 23 => {
                    days += 1;
                    (hour, minute) = (0, 0);
                }
                None => (hour, minute) = (hour + 1, 0),
            }
        }
    }
}

/// The lowest set bit of `mask` at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

/// One field: a comma-separated list of `*`, `N`, `N-M`, with an optional
/// `/STEP` after `*`, a range, or a single number (`5/15` = `5-max/15`).
fn parse_field(text: &str, kind: &FieldKind) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!(
                "{} field \"{text}\" has an empty list item",
                kind.name
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    format!(
                        "{} field \"{text}\": step \"{step}\" is not a number",
                        kind.name
                    )
                })?;
                if step == 0 {
                    return Err(format!(
                        "{} field \"{text}\": a step of 0 never advances; use 1 or more",
                        kind.name
                    ));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (first, last) = if range == "*" {
            (kind.low, kind.high)
        } else if let Some((a, b)) = range.split_once('-') {
            let first = parse_value(a, text, kind)?;
            let mut last = parse_value(b, text, kind)?;
            // "fri-sun": Sunday closing a range is day 7, as people mean it.
            if kind.name == WEEKDAY.name && last == 0 && first > 0 {
                last = 7;
            }
            if first > last {
                let span = |a: u32, b: u32| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                };
                return Err(format!(
                    "{} field \"{text}\": range {range} runs backwards; write it as two ranges, e.g. {},{}",
                    kind.name,
                    span(first, kind.high),
                    span(kind.low, last)
                ));
            }
            (first, last)
        } else {
            let value = parse_value(range, text, kind)?;
            (value, if step.is_some() { kind.high } else { value })
        };
        let step = step.unwrap_or(1) as usize;
        for value in (first..=last).step_by(step) {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

fn parse_value(token: &str, field: &str, kind: &FieldKind) -> Result<u32, String> {
    let lower = token.to_ascii_lowercase();
    if let Some(index) = kind.names.iter().position(|name| *name == lower) {
        return Ok(kind.low + index as u32);
    }
    let names = if kind.names.is_empty() {
        String::new()
    } else {
        format!(
            " or a name {}–{}",
            kind.names[0],
            kind.names[kind.names.len() - 1]
        )
    };
    match token.parse::<u32>() {
        Ok(value) if (kind.low..=kind.high).contains(&value) => Ok(value),
        Ok(value) => Err(format!(
            "{} field \"{field}\": {value} is out of range {}–{}{}",
            kind.name,
            kind.low,
            kind.high,
            if kind.name == "day-of-week" {
                " (0 and 7 are Sunday)"
            } else {
                ""
            }
        )),
        Err(_) => Err(format!(
            "{} field \"{field}\": \"{token}\" is not a number {}–{}{names}",
            kind.name, kind.low, kind.high
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(text: &str) -> Result<Cron, String> {
        Cron::parse(&text.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn fields_become_bit_sets() {
        let c = cron("*/15 9-17/4 1,15 jan-mar,DEC 7").unwrap();
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, 1 << 9 | 1 << 13 | 1 << 17);
        assert_eq!(c.days, 1 << 1 | 1 << 15);
        assert_eq!(c.months, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 12);
        assert_eq!(c.weekdays, 1, "7 is Sunday");
        assert!(c.wildcard_time && !c.day_star && !c.weekday_star);
        let c = cron("5/20 3 * * fri-sun").unwrap();
        assert_eq!(c.minutes, 1 << 5 | 1 << 25 | 1 << 45, "5/20 = 5-59/20");
        assert_eq!(c.weekdays, 1 | 1 << 5 | 1 << 6);
        assert!(!c.wildcard_time && c.day_star && !c.weekday_star);
        assert_eq!(cron("0 0 * * 5-7").unwrap().weekdays, 1 | 1 << 5 | 1 << 6);
        assert_eq!(cron("0 0 * * sat-0").unwrap().weekdays, 1 | 1 << 6);
        assert_eq!(cron("0 0 * * sun-mon").unwrap().weekdays, 1 | 1 << 1);
    }

    #[test]
    fn bad_fields_are_named() {
        for (text, needle) in [
            ("60 * * * *", "minute field \"60\": 60 is out of range 0–59"),
            ("* 24 * * *", "hour field"),
            (
                "* * 0 * *",
                "day-of-month field \"0\": 0 is out of range 1–31",
            ),
            ("* * * 13 *", "month field"),
            ("* * * * 8", "(0 and 7 are Sunday)"),
            (
                "* * * foo *",
                "\"foo\" is not a number 1–12 or a name jan–dec",
            ),
            ("*/0 * * * *", "a step of 0"),
            ("*/x * * * *", "step \"x\" is not a number"),
            ("1,,2 * * * *", "empty list item"),
            (
                "* 22-2 * * *",
                "runs backwards; write it as two ranges, e.g. 22-23,0-2",
            ),
            ("* * * * sat-mon", "e.g. 6-7,0-1"),
            ("* * 31-1 * *", "e.g. 31,1"),
            (
                "0 0 30 2 *",
                "never runs: day-of-month \"30\" never occurs in February",
            ),
            ("0 0 30,31 2 *", "\"30,31\" never occurs in February"),
            (
                "0 0 31 4,6,feb *",
                "never occurs in February, April or June",
            ),
            ("0 0 31 4 */2", "never runs"),
        ] {
            let err = cron(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        // Both day fields restricted: either may match, so this does run.
        assert!(cron("0 0 30 2 mon").is_ok());
    }

    #[test]
    fn next_bit_finds_the_next_set_bit() {
        assert_eq!(next_bit(0b1010, 0), Some(1));
        assert_eq!(next_bit(0b1010, 2), Some(3));
        assert_eq!(next_bit(0b1010, 4), None);
        assert_eq!(next_bit(1 << 59, 59), Some(59));
        assert_eq!(next_bit(u64::MAX, 64), None);
    }
}
