use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::zone::{system_time, unix_seconds};
use super::*;
use crate::units::civil::{civil_from_days, days_from_civil, SECS_PER_DAY};

/// A UTC instant from "YYYY-MM-DD HH:MM" (optionally ":SS").
fn utc(text: &str) -> SystemTime {
    let nums: Vec<i64> = text
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap())
        .collect();
    let days = days_from_civil(nums[0], nums[1] as u32, nums[2] as u32);
    let secs = days * SECS_PER_DAY + nums[3] * 3600 + nums[4] * 60 + nums.get(5).unwrap_or(&0);
    system_time(secs).unwrap()
}

fn show(time: Option<SystemTime>) -> String {
    let Some(time) = time else {
        return "None".into();
    };
    let secs = unix_seconds(time);
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let s = secs.rem_euclid(SECS_PER_DAY);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// The next run after `after`, in `zone`, shown as UTC "YYYY-MM-DD HH:MM".
fn next_in(schedule: &str, after: &str, zone: &Zone) -> String {
    let schedule = Schedule::parse(schedule).unwrap();
    show(schedule.next_after_in(utc(after), zone))
}

fn next(schedule: &str, after: &str) -> String {
    next_in(schedule, after, &Zone::utc())
}

/// The first `count` runs after `after`, each found from the previous one.
fn runs_in(schedule: &str, after: &str, count: usize, zone: &Zone) -> Vec<String> {
    let schedule = Schedule::parse(schedule).unwrap();
    let mut at = utc(after);
    (0..count)
        .map(|_| {
            at = schedule.next_after_in(at, zone).unwrap();
            show(Some(at))
        })
        .collect()
}

#[test]
fn every_field_kind() {
    assert_eq!(next("0 3 * * *", "2025-01-01 02:59:30"), "2025-01-01 03:00");
    assert_eq!(
        next("0 3 * * *", "2025-01-01 03:00"),
        "2025-01-02 03:00",
        "strictly after"
    );
    assert_eq!(next("*/15 * * * *", "2025-01-01 10:07"), "2025-01-01 10:15");
    assert_eq!(next("*/15 * * * *", "2025-12-31 23:59"), "2026-01-01 00:00");
    assert_eq!(next("5,35 * * * *", "2025-01-01 10:35"), "2025-01-01 11:05");
    assert_eq!(
        next("0 9-17/4 * * mon-fri", "2025-06-06 17:00"),
        "2025-06-09 09:00"
    );
    assert_eq!(
        next("30 4 * jan,JUL sat", "2025-01-01 00:00"),
        "2025-01-04 04:30"
    );
    assert_eq!(
        next("0 12 * * 7", "2025-06-02 00:00"),
        "2025-06-08 12:00",
        "7 = Sunday"
    );
    assert_eq!(next("0 12 * * 0", "2025-06-02 00:00"), "2025-06-08 12:00");
    assert_eq!(
        next("10/20 * * * *", "2025-01-01 10:31"),
        "2025-01-01 10:50"
    );
    assert_eq!(next("0 0 1 */3 *", "2025-02-10 00:00"), "2025-04-01 00:00");
    assert_eq!(next("0 0 1 1 *", "2025-01-01 00:00"), "2026-01-01 00:00");
}

#[test]
fn month_ends_and_leap_days() {
    assert_eq!(next("0 0 31 * *", "2025-01-31 00:00"), "2025-03-31 00:00");
    assert_eq!(next("59 23 30 * *", "2025-01-30 23:59"), "2025-03-30 23:59");
    assert_eq!(next("0 0 29 2 *", "2024-03-01 00:00"), "2028-02-29 00:00");
    assert_eq!(next("0 0 29 2 *", "2024-02-28 12:00"), "2024-02-29 00:00");
    // 2100 is no leap year: eight years between leap days.
    assert_eq!(next("0 0 29 2 *", "2096-03-01 00:00"), "2104-02-29 00:00");
    assert_eq!(
        next("0 0 28-31 2 *", "2025-02-27 00:00"),
        "2025-02-28 00:00"
    );
    assert_eq!(
        next("0 0 28-31 2 *", "2025-02-28 00:00"),
        "2026-02-28 00:00"
    );
}

#[test]
fn day_fields_follow_vixie() {
    // Both restricted: the 1st OR a Monday. 2025-06-01 is a Sunday.
    assert_eq!(next("0 0 1 * 1", "2025-06-01 00:00"), "2025-06-02 00:00");
    assert_eq!(next("0 0 1 * 1", "2025-06-28 00:00"), "2025-06-30 00:00");
    assert_eq!(next("0 0 1 * 1", "2025-06-30 00:00"), "2025-07-01 00:00");
    // One field begins with '*': both must match (odd days that are Mondays).
    assert_eq!(next("0 0 */2 * 1", "2025-06-01 00:00"), "2025-06-09 00:00");
    assert_eq!(next("0 0 13 * */5", "2025-01-01 00:00"), "2025-04-13 00:00");
    // dow '*' alone: the day of month decides.
    assert_eq!(next("0 0 13 * *", "2025-01-14 00:00"), "2025-02-13 00:00");
    // Both restricted and the date impossible: the weekday still matches.
    assert_eq!(next("0 0 30 2 mon", "2025-06-01 00:00"), "2026-02-02 00:00");
    // A rare AND: Feb 29 on a Sunday.
    assert_eq!(next("0 0 29 2 */7", "2025-01-01 00:00"), "2032-02-29 00:00");
}

#[test]
fn macros() {
    let after = "2025-06-04 10:20"; // a Wednesday
    assert_eq!(next("@hourly", after), "2025-06-04 11:00");
    assert_eq!(next("@daily", after), "2025-06-05 00:00");
    assert_eq!(next("@midnight", after), "2025-06-05 00:00");
    assert_eq!(next("@weekly", after), "2025-06-08 00:00", "Sunday");
    assert_eq!(next("@monthly", after), "2025-07-01 00:00");
    assert_eq!(next("@yearly", after), "2026-01-01 00:00");
    assert_eq!(next("@ANNUALLY", after), "2026-01-01 00:00");
}

#[test]
fn every_adds_the_interval_to_the_exact_time() {
    let schedule = Schedule::parse("@every 10m").unwrap();
    let after = utc("2025-01-01 00:00") + Duration::from_millis(1500);
    assert_eq!(
        schedule.next_after(after),
        Some(after + Duration::from_secs(600))
    );
    assert_eq!(schedule.interval(), Some(Duration::from_secs(600)));
    assert_eq!(schedule.as_str(), "@every 10m");
    assert_eq!(
        Schedule::parse("  @every 1h30m ").unwrap().as_str(),
        "@every 1h30m"
    );
    assert!(Schedule::parse("@every 1s").is_ok());
}

#[test]
fn errors_say_what_is_wrong_and_what_is_accepted() {
    for (text, needle) in [
        (
            "0 0 3 * * *",
            "six fields: oxinit schedules have one-minute precision",
        ),
        ("0 3 * *", "4 fields instead of 5"),
        ("", "it is empty"),
        ("@every 500ms", "shorter than the minimum of 1s"),
        ("@every", "@every needs an interval"),
        ("@every 10", "a duration needs a unit"),
        ("@reboot", "make it a oneshot process"),
        ("@fortnightly", "unknown macro @fortnightly"),
        ("@daily 3", "@daily takes no argument"),
        ("0 0 30 2 *", "never runs"),
        ("61 * * * *", "61 is out of range 0–59"),
    ] {
        let err = Schedule::parse(text).unwrap_err();
        assert!(err.contains(needle), "{text:?}: {err}");
        assert!(
            err.contains(&format!("invalid schedule \"{text}\"")),
            "{err}"
        );
        assert!(
            err.contains("five cron fields") && err.contains("@every 10m"),
            "{err}"
        );
    }
}

#[test]
fn an_impossible_search_ends() {
    // parse refuses this one; build it anyway to prove the search is bounded.
    let cron = cron::Cron::parse_unchecked(&["0", "0", "30", "2", "*"]);
    let started = Instant::now();
    assert_eq!(next_cron(&cron, 0, &Zone::utc()), None);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // A time near the end of the search range gives None, not an overflow.
    let schedule = Schedule::parse("* * * * *").unwrap();
    assert!(schedule
        .next_after_in(utc("9999-12-31 23:59"), &Zone::utc())
        .is_some());
}

/// The zone `name` from the system's zoneinfo, or `None` with a SKIP line.
fn system_zone(name: &str) -> Option<Zone> {
    if !Path::new("/usr/share/zoneinfo").join(name).exists() {
        eprintln!("SKIP: /usr/share/zoneinfo/{name} is not installed");
        return None;
    }
    Some(Zone::load(name, &["/usr/share/zoneinfo"]).unwrap())
}

fn check_berlin(zone: &Zone) {
    // Spring forward 2025-03-30: 02:00 CET (01:00 UTC) becomes 03:00 CEST.
    // A fixed-time job in the missing hour runs when the gap ends, once.
    assert_eq!(
        next_in("30 2 * * *", "2025-03-29 12:00", zone),
        "2025-03-30 01:00"
    );
    assert_eq!(
        next_in("30 2 * * *", "2025-03-30 01:00", zone),
        "2025-03-31 00:30"
    );
    assert_eq!(
        next_in("0,30 2 * * *", "2025-03-29 12:00", zone),
        "2025-03-30 01:00"
    );
    assert_eq!(
        next_in("0,30 2 * * *", "2025-03-30 01:00", zone),
        "2025-03-31 00:00"
    );
    // Wildcard jobs skip the missing times.
    assert_eq!(
        runs_in("*/30 * * * *", "2025-03-30 00:15", 3, zone),
        ["2025-03-30 00:30", "2025-03-30 01:00", "2025-03-30 01:30"]
    );
    assert_eq!(
        next_in("30 * * * *", "2025-03-30 00:30", zone),
        "2025-03-30 01:30"
    );
    // Fall back 2025-10-26: 03:00 CEST (01:00 UTC) becomes 02:00 CET.
    // A fixed-time job in the repeated hour runs at the first occurrence only.
    assert_eq!(
        runs_in("30 2 * * *", "2025-10-25 12:00", 2, zone),
        ["2025-10-26 00:30", "2025-10-27 01:30"]
    );
    // Wildcard jobs follow real time through both occurrences.
    assert_eq!(
        runs_in("*/30 * * * *", "2025-10-25 23:45", 5, zone),
        [
            "2025-10-26 00:00",
            "2025-10-26 00:30",
            "2025-10-26 01:00",
            "2025-10-26 01:30",
            "2025-10-26 02:00"
        ]
    );
    // An ordinary summer and winter day.
    assert_eq!(
        next_in("0 3 * * *", "2025-07-01 00:00", zone),
        "2025-07-01 01:00"
    );
    assert_eq!(
        next_in("0 3 * * *", "2025-12-01 00:00", zone),
        "2025-12-01 02:00"
    );
    // Far beyond the file's transitions: the POSIX footer rule still applies.
    assert_eq!(
        next_in("30 2 * * *", "2100-03-27 12:00", zone),
        "2100-03-28 01:00"
    );
}

#[test]
fn dst_in_europe_berlin() {
    if let Some(zone) = system_zone("Europe/Berlin") {
        check_berlin(&zone);
        let colon = Zone::load(":Europe/Berlin", &["/usr/share/zoneinfo"]).unwrap();
        check_berlin(&colon);
    }
}

#[test]
fn dst_from_a_posix_rule_needs_no_files() {
    let zone = Zone::load("CET-1CEST,M3.5.0,M10.5.0/3", &[]).unwrap();
    check_berlin(&zone);
}

#[test]
fn dst_in_america_new_york() {
    let Some(zone) = system_zone("America/New_York") else {
        return;
    };
    // Spring forward 2025-03-09 02:00 EST (07:00 UTC) → 03:00 EDT.
    assert_eq!(
        next_in("0 2 * * *", "2025-03-08 12:00", &zone),
        "2025-03-09 07:00"
    );
    assert_eq!(
        next_in("0 2 * * *", "2025-03-09 07:00", &zone),
        "2025-03-10 06:00"
    );
    assert_eq!(
        next_in("15 2 * * *", "2025-03-08 12:00", &zone),
        "2025-03-09 07:00"
    );
    // Fall back 2025-11-02 02:00 EDT (06:00 UTC) → 01:00 EST.
    assert_eq!(
        runs_in("30 1 * * *", "2025-11-01 12:00", 2, &zone),
        ["2025-11-02 05:30", "2025-11-03 06:30"]
    );
    assert_eq!(
        runs_in("30 * * * *", "2025-11-02 04:45", 3, &zone),
        ["2025-11-02 05:30", "2025-11-02 06:30", "2025-11-02 07:30"]
    );
    assert_eq!(
        next_in("0 3 * * *", "2025-07-01 00:00", &zone),
        "2025-07-01 07:00"
    );
}

#[test]
fn missing_zoneinfo_falls_back_to_utc_with_a_reason() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let err = Zone::load("Europe/Berlin", &[dir]).unwrap_err();
    assert!(
        err.contains("TZ=\"Europe/Berlin\"") && err.contains(dir),
        "{err}"
    );
    assert!(
        err.contains("copy /usr/share/zoneinfo") && err.contains("UTC"),
        "{err}"
    );
    // UTC needs no file.
    for name in ["UTC", ":UTC", "Etc/UTC", "GMT", ""] {
        assert!(Zone::load(name, &[dir]).unwrap().is_utc(), "{name}");
    }
    assert_eq!(Zone::from_tz(None), (Zone::utc(), None));
    assert!(Zone::from_tzif("junk", b"not a tzif file").is_err());
    let (zone, note) = Zone::from_tz(Some("No/Such_Zone"));
    assert!(zone.is_utc());
    assert!(note.unwrap().contains("No/Such_Zone"));
}

#[test]
fn a_tzif_file_read_by_the_caller() {
    let path = Path::new("/usr/share/zoneinfo/Europe/Berlin");
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("SKIP: {} is not installed", path.display());
        return;
    };
    let zone = Zone::from_tzif("Europe/Berlin", &bytes).unwrap();
    assert_eq!(zone.name(), "Europe/Berlin");
    assert_eq!(
        zone.offset_at(unix_seconds(utc("2025-07-01 00:00"))),
        Some(7200)
    );
    check_berlin(&zone);
}

#[test]
fn the_search_is_cheap() {
    // Generous bounds: this guards against a search that walks minute by
    // minute (half a million steps a year), not against a slow machine.
    let berlin = Zone::load("CET-1CEST,M3.5.0,M10.5.0/3", &[]).unwrap();
    for (text, zone) in [
        ("* * * * *", &berlin),
        ("0 0 29 2 */7", &berlin),
        ("0 0 29 2 *", &Zone::utc()),
    ] {
        let schedule = Schedule::parse(text).unwrap();
        let mut at = utc("2025-01-01 00:00");
        let started = Instant::now();
        for _ in 0..200 {
            at = schedule.next_after_in(at, zone).unwrap();
        }
        let each = started.elapsed() / 200;
        eprintln!("{text:?} in {}: {each:?} per next_after", zone.name());
        assert!(each < Duration::from_millis(20), "{text}: {each:?}");
    }
}
