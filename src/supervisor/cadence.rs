//! When the next health probe of one process runs, and which failures count.
//!
//! Pure functions of the check's settings, the run's [`Health`] and explicit
//! instants, so the schedule is unit-tested without a clock.
//!
//! - The first probe runs as soon as the process has started. Until it is
//!   first ready, probes follow quickly: every [`READINESS_FIRST`] for the
//!   first [`READINESS_FLAT`] probes (about 5 s, as long as most apps take to
//!   boot), then doubling up to [`READINESS_CAP`], never slower than
//!   `interval`. So a service is ready within about 100 ms of answering
//!   instead of one `interval` late, and one that takes long to boot is not
//!   probed ten times a second forever. A refused connection costs
//!   microseconds; an exec check a spawn.
//! - Probes of one process never overlap: the next starts `step` after the
//!   previous one started or when it ended, whichever is later. A `timeout`
//!   longer than `interval` is allowed (Docker and Kubernetes allow it): a
//!   slow probe is then followed at once by the next.
//! - The quick probes before readiness must not restart a slow starter: a
//!   failure then counts toward `retries` only after `start_period` and at
//!   most once per `interval` (the cadence the failures had when probes ran
//!   every `interval`). Once ready, every failure counts.

use super::process::Health;
use crate::config::HealthSpec;
use std::time::Duration;
use tokio::time::Instant;

/// The gap between readiness probes at first.
pub const READINESS_FIRST: Duration = Duration::from_millis(100);
/// How many readiness probes come every [`READINESS_FIRST`] before the gap
/// starts doubling.
pub const READINESS_FLAT: u32 = 50;
/// The longest gap between readiness probes (or `interval`, if shorter).
pub const READINESS_CAP: Duration = Duration::from_secs(1);

/// The gap between the start of readiness probe `n` (0 = the first) and the
/// start of the next one.
pub fn readiness_step(n: u32, interval: Duration) -> Duration {
    let cap = READINESS_CAP.min(interval);
    let doublings = n.saturating_sub(READINESS_FLAT - 1).min(16);
    READINESS_FIRST
        .checked_mul(1u32 << doublings)
        .map_or(cap, |d| d.min(cap))
}

/// When the probe after the one that started at `started` and answered at
/// `now` runs; `ready`: the process is ready once this answer is applied,
/// `readiness_probes`: the probes answered before this one while not ready.
pub fn next_probe(
    spec: &HealthSpec,
    ready: bool,
    readiness_probes: u32,
    started: Instant,
    now: Instant,
) -> Instant {
    let step = if ready {
        spec.interval
    } else {
        readiness_step(readiness_probes, spec.interval)
    };
    (started + step).max(now)
}

/// Whether a failed probe answered at `now`, of a run started at `since`,
/// counts toward `retries`.
pub fn failure_counts(spec: &HealthSpec, health: &Health, since: Instant, now: Instant) -> bool {
    if health.ready {
        return true;
    }
    let after_start_period = now >= since + spec.start_period;
    let last = health.last_counted.unwrap_or(since);
    after_start_period && now >= last + spec.interval
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HealthCheck;

    fn spec(interval: u64, start_period: u64) -> HealthSpec {
        let mut spec = HealthSpec::new(HealthCheck::Tcp {
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        spec.interval = Duration::from_secs(interval);
        spec.start_period = Duration::from_secs(start_period);
        spec
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn readiness_steps_are_100ms_then_double_up_to_a_second_or_the_interval() {
        let ten = Duration::from_secs(10);
        assert!((0..50).all(|n| readiness_step(n, ten) == ms(100)));
        let steps: Vec<Duration> = (49..56).map(|n| readiness_step(n, ten)).collect();
        let expected = [100, 200, 400, 800, 1000, 1000, 1000].map(ms);
        assert_eq!(steps, expected);
        assert_eq!(readiness_step(60, ms(300)), ms(300));
        assert_eq!(readiness_step(0, ms(50)), ms(50));
        assert_eq!(readiness_step(u32::MAX, ms(50)), ms(50));
    }

    #[test]
    fn the_next_probe_starts_a_step_after_the_last_start_or_when_it_ended() {
        let t0 = Instant::now();
        let h = spec(1, 0);
        // A quick answer: one interval after the start, not after the answer.
        assert_eq!(
            next_probe(&h, true, 9, t0, t0 + ms(300)),
            t0 + Duration::from_secs(1)
        );
        // A probe that took longer than interval (timeout > interval): the
        // next one follows at once, never overlapping it.
        assert_eq!(next_probe(&h, true, 0, t0, t0 + ms(1700)), t0 + ms(1700));
        // Before readiness, the quick step applies.
        assert_eq!(next_probe(&h, false, 2, t0, t0 + ms(5)), t0 + ms(100));
        assert_eq!(next_probe(&h, false, 51, t0, t0 + ms(5)), t0 + ms(400));
    }

    #[test]
    fn before_readiness_failures_count_once_per_interval_after_start_period() {
        let since = Instant::now();
        let h = spec(10, 0);
        let mut health = Health::default();
        assert!(!failure_counts(&h, &health, since, since + ms(100)));
        assert!(!failure_counts(&h, &health, since, since + ms(9_900)));
        assert!(failure_counts(&h, &health, since, since + ms(10_000)));
        health.last_counted = Some(since + ms(10_050));
        assert!(!failure_counts(&h, &health, since, since + ms(19_000)));
        assert!(failure_counts(&h, &health, since, since + ms(20_100)));

        // start_period longer than interval: nothing counts inside it.
        let h = spec(5, 30);
        let health = Health::default();
        assert!(!failure_counts(&h, &health, since, since + ms(29_000)));
        assert!(failure_counts(&h, &health, since, since + ms(30_000)));

        // Once ready, every failure counts.
        let ready = Health {
            ready: true,
            last_counted: Some(since + ms(29_000)),
            ..Default::default()
        };
        assert!(failure_counts(&h, &ready, since, since + ms(29_100)));
    }
}
