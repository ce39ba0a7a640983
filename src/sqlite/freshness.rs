//! How far a Litestream replica is behind: the age of the oldest WAL change
//! that Litestream is not known to have synced.
//!
//! Two things are observed, never by opening the database: the `-wal`
//! file's change time (`stat`), and Litestream 0.5's own counters for the
//! database, `litestream_sync_count{db}` minus `litestream_sync_error_count{db}`
//! (successful syncs). Litestream syncs on a timer (every second by default);
//! each successful sync copies the WAL up to its end at the time the sync
//! began. The counters say when a sync completed, not when it began, so one
//! sync after an observation proves nothing about that observation; but
//! syncs run one at a time, so **two** successful syncs completed since an
//! observation taken at time T prove that the second one began after T, and
//! so that every WAL change before T is synced. `synced_at` is the latest
//! such T.
//!
//! A change of the WAL after `synced_at` is unsynced until a later proof
//! passes it. The lag is the time since the earliest such change seen (the
//! WAL's mtime at the first observation that found it newer than
//! `synced_at`), or 0 when there is none. It reads 0 to about two
//! observation periods while Litestream keeps up, and grows by one second a
//! second while Litestream is stopped, stalled or unreachable and the app
//! writes. Without writes nothing is unsynced, whatever Litestream does.
//!
//! What this cannot see: the upload from Litestream's local staging to the
//! replica (S3…): 0.5 counts uploads per replica type, not per database
//! (`litestream_replica_operation_errors_total`, which `[metrics] include`
//! passes through, is the figure for that).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The coarse clock that stamps mtimes may lag the clock that stamps
/// observations by a tick (4 ms at HZ=250); a proof is taken as this much
/// older than the observation so a write right after it never counts as
/// synced.
const CLOCK_MARGIN: Duration = Duration::from_millis(20);
/// Bounds on what one database keeps (observations come every second; an
/// outage adds one entry per distinct WAL change time seen).
const MAX_READINGS: usize = 128;
const MAX_UNSYNCED: usize = 128;

/// The observations of one database.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// (when observed, successful syncs then), oldest first.
    readings: VecDeque<(SystemTime, f64)>,
    /// Every WAL change before this is synced.
    synced_at: Option<SystemTime>,
    /// WAL change times seen after `synced_at`, oldest first.
    unsynced: VecDeque<SystemTime>,
    /// The first WAL change time seen: changes before any proof count only
    /// from here on (an old WAL was synced by an earlier run, as far as
    /// anyone can tell).
    baseline: Option<SystemTime>,
    /// Litestream has reported this database at least once.
    seen: bool,
}

impl Tracker {
    /// One observation at `at` (taken before Litestream was asked):
    /// `wal_changed` is the WAL's mtime (None without a WAL or when the stat
    /// failed), `synced` Litestream's count of successful syncs (None when
    /// it did not answer or does not replicate this database).
    pub fn observe(
        &mut self,
        at: SystemTime,
        wal_changed: Option<SystemTime>,
        synced: Option<f64>,
    ) {
        if let Some(n) = synced {
            self.seen = true;
            // A smaller count: Litestream restarted; older readings say
            // nothing about the new process's syncs.
            if self.readings.back().is_some_and(|&(_, last)| n < last) {
                self.readings.clear();
            }
            self.readings.push_back((at, n));
            if let Some(i) = self.readings.iter().rposition(|&(_, then)| n - then >= 2.0) {
                let proven = self.readings[i]
                    .0
                    .checked_sub(CLOCK_MARGIN)
                    .unwrap_or(self.readings[i].0);
                if self.synced_at.is_none_or(|s| proven > s) {
                    self.synced_at = Some(proven);
                }
                self.readings.drain(..i);
            }
            while self.readings.len() > MAX_READINGS {
                self.readings.pop_front();
            }
        }
        if let Some(m) = wal_changed {
            let baseline = *self.baseline.get_or_insert(m);
            let after = match self.synced_at {
                Some(s) => m > s,
                None => m > baseline,
            };
            if after && self.unsynced.back() != Some(&m) {
                self.unsynced.push_back(m);
                if self.unsynced.len() > MAX_UNSYNCED {
                    // The oldest is what the lag counts from: keep it.
                    self.unsynced.remove(1);
                }
            }
        }
        if let Some(s) = self.synced_at {
            self.unsynced.retain(|&m| m > s);
        }
    }

    /// The lag at `now`; None until Litestream reported this database.
    pub fn lag(&self, now: SystemTime) -> Option<Duration> {
        if !self.seen {
            return None;
        }
        Some(
            self.unsynced
                .front()
                .map(|&oldest| now.duration_since(oldest).unwrap_or_default())
                .unwrap_or_default(),
        )
    }
}

/// The trackers of every `[sqlite] databases` entry, and the health limit.
#[derive(Debug, Default)]
pub struct Replication {
    trackers: Mutex<BTreeMap<PathBuf, Tracker>>,
    /// `[sqlite] max_replication_lag`: past it, `/health` fails.
    pub max_lag: Option<Duration>,
}

impl Replication {
    pub fn new(databases: &[PathBuf], max_lag: Option<Duration>) -> Replication {
        Replication {
            trackers: Mutex::new(
                databases
                    .iter()
                    .map(|p| (p.clone(), Tracker::default()))
                    .collect(),
            ),
            max_lag,
        }
    }

    pub fn observe(
        &self,
        path: &Path,
        at: SystemTime,
        wal_changed: Option<SystemTime>,
        synced: Option<f64>,
    ) {
        if let Some(t) = self.lock().get_mut(path) {
            t.observe(at, wal_changed, synced);
        }
    }

    /// Each database's lag at `now` (None until Litestream reported it).
    pub fn lags(&self, now: SystemTime) -> Vec<(PathBuf, Option<Duration>)> {
        self.lock()
            .iter()
            .map(|(path, t)| (path.clone(), t.lag(now)))
            .collect()
    }

    /// Why `/health` fails, when `max_lag` is set: a database behind more
    /// than it, or no database reported by Litestream at all (a database
    /// that is not reported while another is counts as not replicated).
    pub fn problems(&self, now: SystemTime) -> Vec<String> {
        let Some(max) = self.max_lag else {
            return Vec::new();
        };
        let limit = crate::units::format_duration(max);
        let lags = self.lags(now);
        let none_reported = lags.iter().all(|(_, lag)| lag.is_none());
        lags.into_iter()
            .filter_map(|(path, lag)| match lag {
                None if !none_reported => None,
                None => Some(format!(
                    "replication of {} is unknown: no answer in [metrics] include reports \
                     litestream_sync_count{{db=\"{}\"}} (add Litestream's metrics address, its \
                     `addr:`, e.g. \"http://127.0.0.1:9090/metrics\")",
                    path.display(),
                    path.display()
                )),
                Some(lag) if lag > max => Some(format!(
                    "replication of {} is {:.0}s behind, more than [sqlite] \
                     max_replication_lag = \"{limit}\": is Litestream running and syncing?",
                    path.display(),
                    lag.as_secs_f64()
                )),
                Some(_) => None,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Tracker>> {
        // A panic while holding the lock leaves trackers that are still
        // consistent enough to read.
        self.trackers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The one `Replication` of supervisor mode, installed at boot. `/health`
/// and `oxinit healthcheck` read it through [`judge`] (the snapshot they
/// judge is the supervisor's; this is the sampler's).
static INSTALLED: OnceLock<std::sync::Arc<Replication>> = OnceLock::new();

/// Installs `replication` for [`judge`]; the first one wins.
pub fn install(replication: std::sync::Arc<Replication>) {
    let _ = INSTALLED.set(replication);
}

/// The supervisor's health `verdict` (`Snapshot::health`) with the
/// installed replication's problems added; unchanged when nothing is
/// installed (no `[sqlite] max_replication_lag`, or not supervisor mode).
pub fn judge(verdict: Result<(), Vec<String>>) -> Result<(), Vec<String>> {
    let more = INSTALLED
        .get()
        .map(|r| r.problems(SystemTime::now()))
        .unwrap_or_default();
    match verdict {
        _ if more.is_empty() => verdict,
        Ok(()) => Err(more),
        Err(mut problems) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_000_000.0 + secs)
    }

    fn secs(lag: Option<Duration>) -> f64 {
        (lag.expect("a lag").as_secs_f64() * 10.0).round() / 10.0
    }

    #[test]
    fn unknown_until_litestream_reports_the_database() {
        let mut tr = Tracker::default();
        tr.observe(t(0.0), Some(t(-5.0)), None);
        tr.observe(t(1.0), Some(t(0.5)), None);
        assert_eq!(tr.lag(t(2.0)), None);
        tr.observe(t(2.0), Some(t(0.5)), Some(7.0));
        // The change at 0.5 came after the first look and nothing proves it
        // synced yet.
        assert_eq!(secs(tr.lag(t(2.0))), 1.5);
    }

    #[test]
    fn keeping_up_reads_zero_and_an_old_wal_is_not_a_lag() {
        let mut tr = Tracker::default();
        // A WAL last written an hour ago, Litestream syncing every second.
        for i in 0..5 {
            tr.observe(t(f64::from(i)), Some(t(-3600.0)), Some(f64::from(i)));
            assert_eq!(secs(tr.lag(t(f64::from(i)))), 0.0, "at {i}");
        }
        // Writes every second: at most about two observation periods.
        for i in 5..20 {
            let now = t(f64::from(i));
            tr.observe(now, Some(t(f64::from(i) - 0.3)), Some(f64::from(i)));
            let lag = secs(tr.lag(now));
            assert!(lag <= 2.5, "at {i}: {lag}");
        }
    }

    #[test]
    fn a_stopped_litestream_makes_the_lag_grow_and_its_return_clears_it() {
        let mut tr = Tracker::default();
        for i in 0..5 {
            tr.observe(t(f64::from(i)), Some(t(-10.0)), Some(f64::from(i)));
        }
        // Stopped from 5 on (no answer); the app writes at 5.5, 6.5, ...
        for i in 5..30 {
            tr.observe(t(f64::from(i) + 1.0), Some(t(f64::from(i) + 0.5)), None);
        }
        assert_eq!(secs(tr.lag(t(31.0))), 25.5);
        // Still answering but not syncing (stalled): the same.
        tr.observe(t(31.0), Some(t(30.5)), Some(4.0));
        assert_eq!(secs(tr.lag(t(31.0))), 25.5);
        // Back: one sync proves nothing, the second proves everything
        // before the observation the first followed.
        tr.observe(t(32.0), Some(t(31.5)), Some(5.0));
        assert!(secs(tr.lag(t(32.0))) > 25.0);
        tr.observe(t(33.0), Some(t(31.5)), Some(6.0));
        assert_eq!(secs(tr.lag(t(33.0))), 1.5, "only the write at 31.5 is left");
        tr.observe(t(34.0), Some(t(31.5)), Some(7.0));
        assert_eq!(secs(tr.lag(t(34.0))), 0.0);
    }

    #[test]
    fn a_restarted_litestream_counts_from_zero_again() {
        let mut tr = Tracker::default();
        for i in 0..5 {
            tr.observe(t(f64::from(i)), Some(t(-10.0)), Some(100.0 + f64::from(i)));
        }
        tr.observe(t(5.0), Some(t(4.5)), Some(0.0));
        tr.observe(t(6.0), Some(t(4.5)), Some(1.0));
        assert!(secs(tr.lag(t(6.0))) > 1.0, "100 → 1 is no progress");
        tr.observe(t(7.0), Some(t(4.5)), Some(2.0));
        assert_eq!(secs(tr.lag(t(7.0))), 0.0);
    }

    #[test]
    fn problems_only_with_a_limit() {
        let db = PathBuf::from("/data/app.db");
        let off = Replication::new(std::slice::from_ref(&db), None);
        assert!(off.problems(t(0.0)).is_empty());
        let on = Replication::new(std::slice::from_ref(&db), Some(Duration::from_secs(60)));
        let unknown = on.problems(t(0.0));
        assert!(unknown[0].contains("[metrics] include"), "{unknown:?}");
        on.observe(&db, t(0.0), Some(t(-1.0)), Some(1.0));
        on.observe(&db, t(1.0), Some(t(0.5)), None);
        assert!(on.problems(t(60.0)).is_empty());
        let behind = on.problems(t(62.0));
        assert_eq!(
            behind,
            [
                "replication of /data/app.db is 62s behind, more than [sqlite] \
              max_replication_lag = \"1m\": is Litestream running and syncing?"
            ]
        );
        // A path that is not configured is ignored.
        on.observe(Path::new("/other.db"), t(0.0), None, Some(1.0));
        assert_eq!(on.lags(t(0.0)).len(), 1);
    }

    #[test]
    fn a_database_litestream_never_reports_is_unknown_only_when_none_is_reported() {
        let (a, b) = (PathBuf::from("/data/a.db"), PathBuf::from("/data/b.db"));
        let r = Replication::new(&[a.clone(), b.clone()], Some(Duration::from_secs(60)));
        assert_eq!(r.problems(t(0.0)).len(), 2, "{:?}", r.problems(t(0.0)));
        r.observe(&a, t(0.0), None, Some(1.0));
        assert_eq!(
            r.problems(t(0.0)),
            Vec::<String>::new(),
            "b is not replicated"
        );
    }
}
