//! The time zone cron schedules are read in: UTC unless `$TZ` names a zone.
//!
//! `$TZ` may be a zone name (`Europe/Berlin`), the same with glibc's leading
//! colon (`:Europe/Berlin`), an absolute path to a TZif file, or a POSIX rule
//! (`CET-1CEST,M3.5.0,M10.5.0/3`), which needs no files at all. Zone names are
//! read from `$TZDIR`, `/usr/share/zoneinfo`, `/share/zoneinfo` and
//! `/etc/zoneinfo` by the `tz-rs` crate (TZif v1–v4 and the POSIX footer
//! rule that covers the years after the last listed transition). A scratch or
//! distroless image usually has no zoneinfo: then schedules run in UTC and
//! [`Zone::from_tz`] says why, for the boot log.
//!
//! Wall-clock times that a DST change skips or repeats follow cronie (Vixie
//! cron's descendant), which treats "fixed-time" jobs (minute and hour fields
//! both without a leading `*`, e.g. `30 2 * * *`) differently from
//! "wildcard" jobs (`*/15 * * * *`, `30 * * * *`):
//! - skipped by a spring-forward gap: a fixed-time job runs once, right
//!   when the gap ends (02:30 in Berlin's missing hour runs at 03:00 CEST); a
//!   wildcard job skips the missing times, it runs again soon anyway.
//! - repeated by a fall-back overlap: a fixed-time job runs once, at the
//!   first occurrence; a wildcard job follows the wall clock and runs in both
//!   (every 15 minutes of real time stays every 15 minutes).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tz::timezone::TransitionRule;
use tz::{TimeZone, TimeZoneSettings};

const ZONEINFO_DIRS: &[&str] = TimeZoneSettings::DEFAULT_DIRECTORIES;

/// Values of `$TZ` that mean UTC even where no zoneinfo is installed.
const UTC_NAMES: &[&str] = &[
    "UTC",
    "UTC0",
    "Etc/UTC",
    "GMT",
    "GMT0",
    "Etc/GMT",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
];

/// A loaded time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    /// `None` is UTC: no lookups at all.
    tz: Option<TimeZone>,
    /// Every UTC offset (seconds) the zone uses, sorted, deduplicated. The
    /// search uses their spread to bound how far wall-clock order and real
    /// order can disagree.
    offsets: Vec<i32>,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name && self.tz == other.tz
    }
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_string(),
            tz: None,
            offsets: vec![0],
        }
    }

    /// The zone named by a `$TZ` value (`None` or empty: UTC). When it
    /// cannot be loaded the answer is UTC plus a note saying why and what to
    /// do, for the boot log.
    pub fn from_tz(value: Option<&str>) -> (Zone, Option<String>) {
        let tzdir = std::env::var("TZDIR").ok().filter(|dir| !dir.is_empty());
        let mut dirs: Vec<&str> = tzdir.iter().map(String::as_str).collect();
        dirs.extend_from_slice(ZONEINFO_DIRS);
        match value {
            None => (Zone::utc(), None),
            Some(value) => match Zone::load(value, &dirs) {
                Ok(zone) => (zone, None),
                Err(reason) => (Zone::utc(), Some(reason)),
            },
        }
    }

    /// Loads the zone a `$TZ` value names, looking up names in `dirs`.
    pub fn load(value: &str, dirs: &[&str]) -> Result<Zone, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() || UTC_NAMES.contains(&trimmed.trim_start_matches(':')) {
            return Ok(Zone::utc());
        }
        let settings = TimeZoneSettings::new(dirs, |path| Ok(std::fs::read(path)?));
        let tz = settings.parse_posix_tz(trimmed).map_err(|err| {
            let name = trimmed.trim_start_matches(':');
            let is_file = |dir: &&str| Path::new(dir).join(name).is_file();
            // tz-rs tries a file, then a POSIX rule, and reports the rule's
            // error; a zone name without digits was meant as a file.
            let why = if !name.starts_with('/')
                && !dirs.iter().any(is_file)
                && !name.contains(|c: char| c.is_ascii_digit())
            {
                format!("no file {name} in {}", dirs.join(", "))
            } else {
                err.to_string()
            };
            format!(
                "TZ={value:?} names no time zone oxinit can load ({why}): \
                 scheduled jobs run in UTC. In a scratch or distroless image copy \
                 /usr/share/zoneinfo into the image, or set TZ to a POSIX rule such as \
                 \"CET-1CEST,M3.5.0,M10.5.0/3\""
            )
        })?;
        Ok(Zone::from_time_zone(value.to_string(), tz))
    }

    /// A zone from the bytes of a TZif file (tests, and callers that read the
    /// file themselves).
    #[cfg(test)]
    pub fn from_tzif(name: &str, bytes: &[u8]) -> Result<Zone, String> {
        let tz = TimeZone::from_tz_data(bytes)
            .map_err(|err| format!("{name}: not a valid TZif file: {err}"))?;
        Ok(Zone::from_time_zone(name.to_string(), tz))
    }

    fn from_time_zone(name: String, tz: TimeZone) -> Zone {
        let zone_ref = tz.as_ref();
        let mut offsets: Vec<i32> = zone_ref
            .local_time_types()
            .iter()
            .map(|t| t.ut_offset())
            .collect();
        match zone_ref.extra_rule() {
            Some(TransitionRule::Fixed(t)) => offsets.push(t.ut_offset()),
            Some(TransitionRule::Alternate(alt)) => {
                offsets.extend([alt.std().ut_offset(), alt.dst().ut_offset()])
            }
            None => {}
        }
        offsets.sort_unstable();
        offsets.dedup();
        Zone {
            name,
            tz: Some(tz),
            offsets,
        }
    }

    /// The `$TZ` value this zone was loaded from, or `UTC`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_utc(&self) -> bool {
        self.tz.is_none()
    }

    /// The UTC offset in seconds at a Unix time.
    pub fn offset_at(&self, unix: i64) -> Option<i32> {
        match &self.tz {
            None => Some(0),
            Some(tz) => tz.find_local_time_type(unix).ok().map(|t| t.ut_offset()),
        }
    }

    /// The smallest and largest offset the zone ever uses.
    pub(super) fn offset_range(&self) -> (i64, i64) {
        let first = self.offsets.first().copied().unwrap_or(0);
        let last = self.offsets.last().copied().unwrap_or(0);
        (i64::from(first), i64::from(last))
    }

    /// Every real instant (Unix seconds, ascending) whose wall clock reads
    /// `naive`: one normally, none in a spring-forward gap, two in a
    /// fall-back overlap.
    pub(super) fn instants_at(&self, naive: i64) -> Vec<i64> {
        let mut found: Vec<i64> = self
            .offsets
            .iter()
            .map(|&offset| naive - i64::from(offset))
            .filter(|&unix| {
                self.offset_at(unix)
                    .is_some_and(|o| naive - i64::from(o) == unix)
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// For a wall-clock time inside a gap: the instant the gap ends, i.e.
    /// the first instant whose wall clock reads later than `naive`.
    pub(super) fn gap_end(&self, naive: i64) -> i64 {
        let (min, max) = self.offset_range();
        // Invariant: wall(lo) <= naive < wall(hi), since every offset lies
        // within [min, max].
        let (mut lo, mut hi) = (naive - max, naive - min + 1);
        let wall = |unix: i64| self.offset_at(unix).map(|o| unix + i64::from(o));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match wall(mid) {
                Some(w) if w <= naive => lo = mid,
                _ => hi = mid,
            }
        }
        hi
    }
}

/// Unix seconds of a `SystemTime`, rounded down (also before 1970).
pub(super) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(before) => {
            let before = before.duration();
            -(before.as_secs() as i64) - i64::from(before.subsec_nanos() > 0)
        }
    }
}

pub(super) fn system_time(unix: i64) -> Option<SystemTime> {
    if unix >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(unix as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(unix.unsigned_abs()))
    }
}
