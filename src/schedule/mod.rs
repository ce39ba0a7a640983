//! When a scheduled job (`schedule = "…"` in oxfile.toml) runs next.
//!
//! Accepted forms:
//! - five cron fields `minute hour day-of-month month day-of-week`, with `*`,
//!   `a,b`, `a-b`, `*/n`, `a-b/n`, `a/n` (= `a-max/n`), month names
//!   `jan`–`dec`, day names `sun`–`sat`, and 7 = Sunday; Vixie cron's rule for
//!   the two day fields (see `cron.rs`);
//! - the macros `@yearly` `@annually` `@monthly` `@weekly` `@daily`
//!   `@midnight` `@hourly`;
//! - `@every 10m`: a fixed interval (at least 1s) from the previous run.
//!
//! Cron times are read in UTC unless `$TZ` names a zone (see `zone.rs`, also
//! for what happens at DST changes). Precision is one minute: a six-field
//! expression with seconds is refused rather than misread.

mod calendar;
mod cron;
mod zone;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

pub use zone::Zone;

use crate::units::parse_duration;
use cron::Cron;
use zone::{system_time, unix_seconds};

const ACCEPTED: &str = "write five cron fields \"minute hour day-of-month month day-of-week\" \
     (e.g. \"0 3 * * *\" for 03:00 daily, \"*/15 * * * *\" for every 15 minutes), \
     one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually, \
     or \"@every 10m\"";

/// How far ahead the search looks before it gives up. A schedule that `parse`
/// accepts always runs within 400 years (the Gregorian cycle holds every
/// date on every weekday); the cap only guards against a hang.
const SEARCH_YEARS: i64 = 400;

/// A parsed `schedule` value.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Cron(Cron),
    Every(Duration),
}

impl Schedule {
    /// Parses a `schedule` value. The error says what is wrong and shows
    /// the accepted forms.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let trimmed = text.trim();
        let invalid = |why: String| format!("invalid schedule \"{text}\": {why}; {ACCEPTED}");
        let kind = if let Some(macro_name) = trimmed.strip_prefix('@') {
            let (name, argument) = match macro_name.split_once(char::is_whitespace) {
                Some((name, argument)) => (name, Some(argument.trim())),
                None => (macro_name, None),
            };
            let name = name.to_ascii_lowercase();
            let fields = match (name.as_str(), argument) {
                ("every", Some(argument)) => {
                    let every = parse_duration(argument).map_err(&invalid)?;
                    if every < Duration::from_secs(1) {
                        return Err(invalid(format!(
                            "@every {argument} is shorter than the minimum of 1s"
                        )));
                    }
                    return Ok(Schedule {
                        text: trimmed.to_string(),
                        kind: Kind::Every(every),
                    });
                }
                ("every", None) => return Err(invalid("@every needs an interval".into())),
                ("yearly" | "annually", None) => "0 0 1 1 *",
                ("monthly", None) => "0 0 1 * *",
                ("weekly", None) => "0 0 * * 0",
                ("daily" | "midnight", None) => "0 0 * * *",
                ("hourly", None) => "0 * * * *",
                ("reboot", _) => {
                    return Err(invalid(
                        "@reboot is not a schedule here: make it a oneshot process \
                         (oneshot = true), which runs once at boot"
                            .into(),
                    ))
                }
                (_, Some(_)) => return Err(invalid(format!("@{name} takes no argument"))),
                _ => return Err(invalid(format!("unknown macro @{name}"))),
            };
            Kind::Cron(Cron::parse(&fields.split(' ').collect::<Vec<_>>()).map_err(invalid)?)
        } else {
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            match fields.len() {
                5 => Kind::Cron(Cron::parse(&fields).map_err(invalid)?),
                6 => {
                    return Err(invalid(
                        "six fields: oxinit schedules have one-minute precision and take no \
                         seconds field; drop the first field"
                            .into(),
                    ))
                }
                0 => return Err(invalid("it is empty".into())),
                n => return Err(invalid(format!("{n} fields instead of 5"))),
            }
        };
        Ok(Schedule {
            text: trimmed.to_string(),
            kind,
        })
    }

    /// The schedule as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `@every` schedules: the interval.
    pub fn interval(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(every) => Some(every),
            Kind::Cron(_) => None,
        }
    }

    /// The first run strictly after `after`, in the zone `$TZ` names (UTC
    /// when unset or not loadable, see [`Zone::from_tz`]). `None` when
    /// there is none within 400 years or it lies beyond `SystemTime`'s range.
    ///
    /// At DST changes (as cronie): a fixed-time job (`30 2 * * *`) whose time
    /// a spring-forward gap skips runs once when the gap ends, and runs once
    /// (the first time) in an hour a fall-back repeats; a wildcard job
    /// (`*/15 * * * *`, `30 * * * *`) follows the wall clock: it skips the
    /// missing times and runs in both repeated hours. `@every` ignores zones.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        self.next_after_in(after, process_zone())
    }

    /// [`Schedule::next_after`] in a given zone.
    pub fn next_after_in(&self, after: SystemTime, zone: &Zone) -> Option<SystemTime> {
        match &self.kind {
            Kind::Every(every) => after.checked_add(*every),
            Kind::Cron(cron) => system_time(next_cron(cron, unix_seconds(after), zone)?),
        }
    }

    /// The zone cron schedules use in this process, read from `$TZ` once.
    pub fn zone() -> &'static Zone {
        process_zone()
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn process_zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| Zone::from_tz(std::env::var("TZ").ok().as_deref()).0)
}

/// The first instant after Unix second `after` whose wall clock in `zone`
/// matches `cron`.
///
/// Wall-clock order and real order agree except around offset changes, and
/// they disagree by at most the zone's offset spread: a candidate at wall
/// time `w` lies at `w - offset`, with the offset in `[min, max]`. So the
/// search walks wall-clock minutes from `after + min`, keeps the earliest
/// real instant it finds, and stops once `w - max` passes it.
fn next_cron(cron: &Cron, after: i64, zone: &Zone) -> Option<i64> {
    let (min_offset, max_offset) = zone.offset_range();
    let first_naive = after + min_offset + 1;
    let mut naive = first_naive.div_euclid(60) * 60;
    if naive < first_naive {
        naive += 60;
    }
    let limit = naive + SEARCH_YEARS * 366 * crate::units::civil::SECS_PER_DAY;
    let mut best: Option<i64> = None;
    while let Some(wall) = cron.next_match(naive, limit) {
        if best.is_some_and(|best| wall - max_offset > best) {
            break;
        }
        let instants = zone.instants_at(wall);
        let candidate = match instants.as_slice() {
            [] if cron.wildcard_time => None,
            [] => Some(zone.gap_end(wall)).filter(|&end| end > after),
            // A fixed-time job runs at the first occurrence only.
            [first, ..] if !cron.wildcard_time => Some(*first).filter(|&first| first > after),
            all => all.iter().copied().find(|&unix| unix > after),
        };
        if let Some(candidate) = candidate {
            best = Some(best.map_or(candidate, |best| best.min(candidate)));
            if zone.is_utc() {
                break;
            }
        }
        naive = wall + 60;
    }
    best
}
