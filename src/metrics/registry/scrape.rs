//! What a scrape reads and sets: the gauges from the latest snapshot, memory
//! and CPU from cgroups or /proc (reused for [`USAGE_MAX_AGE`]), the SQLite
//! files' sizes, then the text the scraper gets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prometheus::core::GenericCounter;
use prometheus::TextEncoder;

use super::super::usage::{self, Scan};
use super::Metrics;
use crate::snapshot::Snapshot;
use crate::sqlite;

/// How long memory and CPU figures read from cgroups or /proc are reused.
/// Reading them costs a walk over every supervised process's files (about
/// a millisecond for 20 processes); a scraper polling many times a second
/// then costs one walk a second, not one per scrape. Prometheus scrapes
/// every 15 s by default, so it always sees fresh figures.
pub const USAGE_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Refresh {
    cpu_runs: HashMap<String, CpuRuns>,
    usage_read_at: Option<Instant>,
}

/// CPU of one process across its runs. A run's figure only grows while it
/// runs (its maximum is kept: a reaped descendant drops out of the /proc
/// sum) and starts from 0 in the next run's fresh cgroup or tree, so the
/// counter is the finished runs' total plus the current run's maximum.
#[derive(Debug, Default)]
struct CpuRuns {
    /// (pid, start time bits) of the run measured last.
    run: Option<(i32, u64)>,
    run_max: f64,
    finished: f64,
}

impl Metrics {
    /// Refreshes the gauges from `snapshot` (up, start time, memory and CPU
    /// read now from the processes' cgroups or /proc, limits) and the SQLite
    /// gauges, then encodes everything in the Prometheus text format.
    ///
    /// Reads files (cgroupfs, /proc, `stat` of the databases): call it off
    /// the event loop's thread when a database may sit on a network
    /// filesystem that can hang (the server does).
    pub fn render(&self, snapshot: &Snapshot, sqlite: &[PathBuf]) -> String {
        self.refresh_processes(snapshot);
        if let Some(mode) = snapshot.memory_enforcement {
            self.set_memory_enforcement(mode);
        }
        self.refresh_sqlite(sqlite);
        self.refresh_log_lines_dropped(crate::diag::lines_dropped());
        let mut text = String::with_capacity(16 * 1024);
        // Encoding fails only for metric families the registry itself
        // rejects at registration (no name, no value), which ours cannot be.
        TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut text)
            .expect("text encoding of registered metrics");
        text
    }

    fn refresh_processes(&self, snapshot: &Snapshot) {
        let mut scan = Scan::new(&self.proc_root);
        // A panic while holding the lock leaves figures that are still
        // valid numbers: carry on with them.
        let mut refresh = self
            .refresh
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let read_usage = refresh
            .usage_read_at
            .is_none_or(|at| now.duration_since(at) >= self.usage_max_age);
        if read_usage {
            refresh.usage_read_at = Some(now);
        }
        for p in &snapshot.processes {
            let label = &[p.name.as_str()];
            self.up.with_label_values(label).set(i64::from(p.up));
            let started = p.started_at.filter(|_| p.up);
            self.start_time
                .with_label_values(label)
                .set(started.unwrap_or(0.0));
            if let Some(exit) = &p.last_exit {
                self.last_exit_code
                    .with_label_values(label)
                    .set(i64::from(exit.code));
            }
            match p.memory_limit_bytes {
                Some(limit) => self.memory_limit.with_label_values(label).set(bytes(limit)),
                // No series rather than 0: `memory / limit` must not divide
                // by zero and fire an alert.
                None => {
                    let _ = self.memory_limit.remove_label_values(label);
                }
            }
            if !p.up {
                self.memory.with_label_values(label).set(0);
            } else if read_usage {
                let usage = usage::read_with(p, &mut scan);
                self.memory
                    .with_label_values(label)
                    .set(bytes(usage.memory_bytes.unwrap_or(0)));
                let runs = refresh.cpu_runs.entry(p.name.clone()).or_default();
                let total = runs.update(p.pid, started, usage.cpu_seconds);
                raise(&self.cpu.with_label_values(label), total);
            }
        }
    }

    /// The count lives in `diag` (oxinit's logger runs before any registry
    /// and in every mode); a scrape copies it.
    pub(in crate::metrics) fn refresh_log_lines_dropped(&self, total: u64) {
        let now = self.log_lines_dropped.get();
        if total > now {
            self.log_lines_dropped.inc_by(total - now);
        }
    }

    fn refresh_sqlite(&self, paths: &[PathBuf]) {
        for path in paths {
            let label = path.to_string_lossy();
            let label = &[label.as_ref()];
            let stats = sqlite::stats(path);
            self.sqlite_database
                .with_label_values(label)
                .set(bytes(stats.database_bytes));
            self.sqlite_wal
                .with_label_values(label)
                .set(bytes(stats.wal_bytes));
            self.sqlite_free
                .with_label_values(label)
                .set(bytes(stats.filesystem_free_bytes));
            for mode in sqlite::JournalMode::ALL {
                self.sqlite_journal
                    .with_label_values(&[label[0], mode.as_str()])
                    .set(i64::from(stats.journal_mode == Some(mode)));
            }
        }
    }
}

impl CpuRuns {
    /// Takes a reading of the run identified by `pid` and `started` and
    /// returns the total over all runs.
    fn update(&mut self, pid: Option<i32>, started: Option<f64>, seconds: Option<f64>) -> f64 {
        if let (Some(pid), Some(seconds)) = (pid, seconds) {
            let run = (pid, started.unwrap_or(0.0).to_bits());
            if self.run != Some(run) {
                self.finished += self.run_max;
                self.run_max = 0.0;
                self.run = Some(run);
            }
            self.run_max = self.run_max.max(seconds);
        }
        self.finished + self.run_max
    }
}

/// Moves a counter up to `total`; never down.
fn raise(counter: &GenericCounter<prometheus::core::AtomicF64>, total: f64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

fn bytes(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
