//! Every oxinit metric, its help text and labels, and how it is refreshed.
//!
//! Counters (restarts, exits, health checks, jobs, signals, zombies) are
//! counted by the event loop as events happen (oxinit's dropped log lines by
//! its logger, copied at scrape time); gauges (up, start time,
//! memory, limits, SQLite sizes) are set from the latest [`Snapshot`] and
//! from files read at scrape time. Every per-process series is created at 0
//! by [`Metrics::new`], so `increase()` and absence-free alerts work from
//! the first scrape, before the process ever ran.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::core::{Collector, GenericCounter, GenericCounterVec};
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use super::own_process::OwnProcess;
use super::usage::{self, Scan};
use crate::sqlite;
use crate::supervisor::snapshot::Snapshot;

/// Labels of `oxinit_process_exits_total`.
pub const EXIT_REASONS: [&str; 6] = ["exit", "signal", "oom", "memory", "health", "stop"];
/// Labels of `oxinit_health_checks_total`.
pub const HEALTH_RESULTS: [&str; 3] = ["ok", "fail", "timeout"];
/// Labels of `oxinit_job_runs_total`.
pub const JOB_RESULTS: [&str; 4] = ["success", "failure", "timeout", "skipped"];
/// Labels of `oxinit_memory_enforcement` (see `cgroup::Mode::as_str`).
pub const ENFORCEMENT_MODES: [&str; 3] = ["cgroup2", "cgroup1", "poll"];
/// Signals oxinit acts on, created at 0 so `increase()` sees the first one.
pub const SIGNALS: [&str; 6] = [
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2",
];

/// Health-check latencies: from a local TCP connect (sub-millisecond) to a
/// slow HTTP handler near the usual 2–10 s timeouts.
const HEALTH_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The registry and a handle on every metric in it. `Send + Sync`: the
/// event loop counts through an `Arc<Metrics>` while the HTTP server renders.
pub struct Metrics {
    registry: Registry,
    proc_root: PathBuf,
    up: IntGaugeVec,
    restarts: IntCounterVec,
    exits: IntCounterVec,
    last_exit_code: IntGaugeVec,
    start_time: GaugeVec,
    memory: IntGaugeVec,
    memory_limit: IntGaugeVec,
    cpu: CounterVec,
    oom_kills: IntCounterVec,
    health_checks: IntCounterVec,
    health_duration: HistogramVec,
    oneshot_duration: GaugeVec,
    job_last_success: GaugeVec,
    job_runs: IntCounterVec,
    zombies: IntCounter,
    log_lines_dropped: IntCounter,
    signals: IntCounterVec,
    enforcement: IntGaugeVec,
    sqlite_database: IntGaugeVec,
    sqlite_wal: IntGaugeVec,
    sqlite_free: IntGaugeVec,
    sqlite_journal: IntGaugeVec,
    /// What a scrape must remember between scrapes.
    refresh: Mutex<Refresh>,
    usage_max_age: Duration,
}

/// How long memory and CPU figures read from cgroups or /proc are reused.
/// Reading them costs a walk over every supervised process's files (about
/// a millisecond for 20 processes); a scraper polling many times a second
/// then costs one walk a second, not one per scrape. Prometheus scrapes
/// every 15 s by default, so it always sees fresh figures.
pub const USAGE_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Refresh {
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
    /// Registers every metric and creates each process's series at 0.
    /// `processes` are (name, kind) with kind "service", "oneshot" or "job":
    /// health series exist for services, the oneshot duration for oneshots,
    /// job series for jobs.
    pub fn new(processes: &[(String, String)], version: &str) -> Metrics {
        let registry = Registry::new();
        let m = Metrics {
            up: gauge_vec(
                &registry,
                "oxinit_process_up",
                "1 while the process is running (or stopping), else 0.",
                &["process"],
            ),
            restarts: counter_vec(
                &registry,
                "oxinit_process_restarts_total",
                "Restarts of the process by its restart policy.",
                &["process"],
            ),
            exits: counter_vec(
                &registry,
                "oxinit_process_exits_total",
                "Runs of the process that ended, by reason: exit (exited by itself), signal \
                 (killed by a signal), oom (kernel OOM killer), memory (stopped by oxinit over its \
                 limit), health (stopped after failed health checks), stop (stopped on request).",
                &["process", "reason"],
            ),
            last_exit_code: gauge_vec(
                &registry,
                "oxinit_process_last_exit_code",
                "Exit code of the process's last run (128+N for signal N); 0 before the first.",
                &["process"],
            ),
            start_time: float_gauge_vec(
                &registry,
                "oxinit_process_start_time_seconds",
                "Start of the process's current run since the Unix epoch; 0 while it is not \
                 running.",
                &["process"],
            ),
            memory: gauge_vec(
                &registry,
                "oxinit_process_memory_bytes",
                "Memory of the process: its cgroup's charge (page cache included) where it has \
                 one, else the resident set of its process tree; 0 while it is not running.",
                &["process"],
            ),
            memory_limit: gauge_vec(
                &registry,
                "oxinit_process_memory_limit_bytes",
                "Memory limit of the process (only processes with a limit have this series).",
                &["process"],
            ),
            cpu: register(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "oxinit_process_cpu_seconds_total",
                        "User and system CPU time of the process and its descendants, summed \
                         over its runs (sampled at scrape time).",
                    ),
                    &["process"],
                ),
            ),
            oom_kills: counter_vec(
                &registry,
                "oxinit_process_oom_kills_total",
                "Processes of this process's cgroup killed by the kernel OOM killer.",
                &["process"],
            ),
            health_checks: counter_vec(
                &registry,
                "oxinit_health_checks_total",
                "Health checks of the process, by result (ok, fail, timeout).",
                &["process", "result"],
            ),
            health_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "oxinit_health_check_duration_seconds",
                        "Time health checks of the process took.",
                    )
                    .buckets(HEALTH_BUCKETS.to_vec()),
                    &["process"],
                ),
            ),
            oneshot_duration: float_gauge_vec(
                &registry,
                "oxinit_oneshot_duration_seconds",
                "Time the oneshot's last run took; 0 before it finished once.",
                &["process"],
            ),
            job_last_success: float_gauge_vec(
                &registry,
                "oxinit_job_last_success_timestamp_seconds",
                "End of the job's last successful run since the Unix epoch; 0 before the first.",
                &["process"],
            ),
            job_runs: counter_vec(
                &registry,
                "oxinit_job_runs_total",
                "Runs of the scheduled job, by result (success, failure, timeout, skipped: still \
                 running at the next scheduled time).",
                &["process", "result"],
            ),
            zombies: register(
                &registry,
                IntCounter::new(
                    "oxinit_zombies_reaped_total",
                    "Adopted orphan processes oxinit reaped (not counting its own children).",
                ),
            ),
            log_lines_dropped: register(
                &registry,
                IntCounter::new(
                    "oxinit_log_lines_dropped_total",
                    "oxinit's own log lines dropped because its stderr was not being read (its \
                     queue of 64 KiB was full): supervision never waits on the log pipe. \
                     Children's output is never dropped this way; it waits in their pipes.",
                ),
            ),
            signals: counter_vec(
                &registry,
                "oxinit_signals_received_total",
                "Signals oxinit received, by name.",
                &["signal"],
            ),
            enforcement: gauge_vec(
                &registry,
                "oxinit_memory_enforcement",
                "1 for the way memory limits are enforced here (cgroup2, cgroup1, poll), 0 for \
                 the others.",
                &["mode"],
            ),
            sqlite_database: gauge_vec(
                &registry,
                "oxinit_sqlite_database_bytes",
                "Size of the SQLite database file (0 while it does not exist).",
                &["path"],
            ),
            sqlite_wal: gauge_vec(
                &registry,
                "oxinit_sqlite_wal_bytes",
                "Size of the database's -wal file (0 when there is none).",
                &["path"],
            ),
            sqlite_free: gauge_vec(
                &registry,
                "oxinit_sqlite_filesystem_free_bytes",
                "Bytes available to unprivileged writers on the database's filesystem.",
                &["path"],
            ),
            sqlite_journal: gauge_vec(
                &registry,
                "oxinit_sqlite_journal_mode",
                "1 for the database's journal mode from its file header (wal, rollback), 0 for \
                 the other; all 0 while the file is missing or not a database.",
                &["path", "mode"],
            ),
            registry,
            proc_root: PathBuf::from("/proc"),
            refresh: Mutex::new(Refresh::default()),
            usage_max_age: USAGE_MAX_AGE,
        };
        let build_info = gauge_vec(
            &m.registry,
            "oxinit_build_info",
            "Always 1; the version label says which oxinit runs.",
            &["version"],
        );
        build_info.with_label_values(&[version]).set(1);
        // oxinit's own process_cpu_seconds_total, process_resident_memory_bytes…
        // Its names are unlike every oxinit_* name above: it cannot clash.
        m.registry
            .register(Box::new(OwnProcess::new()))
            .expect("process collector registers in a fresh registry");
        for mode in ENFORCEMENT_MODES {
            m.enforcement.with_label_values(&[mode]);
        }
        for signal in SIGNALS {
            m.signals.with_label_values(&[signal]);
        }
        for (name, kind) in processes {
            m.create_process(name, kind);
        }
        m
    }

    /// Reads process trees from `root` instead of /proc (tests).
    pub fn with_proc_root(mut self, root: impl Into<PathBuf>) -> Metrics {
        self.proc_root = root.into();
        self
    }

    /// Reuses memory and CPU figures for `age` instead of [`USAGE_MAX_AGE`]
    /// (tests: `Duration::ZERO` reads them at every render).
    pub fn with_usage_max_age(mut self, age: Duration) -> Metrics {
        self.usage_max_age = age;
        self
    }

    fn create_process(&self, name: &str, kind: &str) {
        let p = &[name];
        self.up.with_label_values(p);
        self.restarts.with_label_values(p);
        self.last_exit_code.with_label_values(p);
        self.start_time.with_label_values(p);
        self.memory.with_label_values(p);
        self.cpu.with_label_values(p);
        self.oom_kills.with_label_values(p);
        for reason in EXIT_REASONS {
            self.exits.with_label_values(&[name, reason]);
        }
        match kind {
            "service" => {
                for result in HEALTH_RESULTS {
                    self.health_checks.with_label_values(&[name, result]);
                }
                self.health_duration.with_label_values(p);
            }
            "oneshot" => {
                self.oneshot_duration.with_label_values(p);
            }
            "job" => {
                self.job_last_success.with_label_values(p);
                for result in JOB_RESULTS {
                    self.job_runs.with_label_values(&[name, result]);
                }
            }
            _ => {}
        }
    }

    /// A run ended; `reason` is one of [`EXIT_REASONS`].
    pub fn process_exited(&self, name: &str, reason: &str, code: i32) {
        self.exits.with_label_values(&[name, reason]).inc();
        self.last_exit_code
            .with_label_values(&[name])
            .set(i64::from(code));
    }

    pub fn process_restarted(&self, name: &str) {
        self.restarts.with_label_values(&[name]).inc();
    }

    /// `result` is one of [`HEALTH_RESULTS`].
    pub fn health_check(&self, name: &str, result: &str, took: Duration) {
        self.health_checks.with_label_values(&[name, result]).inc();
        self.health_duration
            .with_label_values(&[name])
            .observe(took.as_secs_f64());
    }

    pub fn oneshot_finished(&self, name: &str, took: Duration) {
        self.oneshot_duration
            .with_label_values(&[name])
            .set(took.as_secs_f64());
    }

    /// `result` is one of [`JOB_RESULTS`]; `at` is when the run ended.
    pub fn job_run(&self, name: &str, result: &str, at: SystemTime) {
        self.job_runs.with_label_values(&[name, result]).inc();
        if result == "success" {
            self.job_last_success
                .with_label_values(&[name])
                .set(unix_seconds(at));
        }
    }

    /// `n` processes of `name`'s cgroup were OOM-killed (workers included,
    /// whether or not the main process survived).
    pub fn oom_kills(&self, name: &str, n: u64) {
        self.oom_kills.with_label_values(&[name]).inc_by(n);
    }

    pub fn zombies_reaped(&self, n: u64) {
        self.zombies.inc_by(n);
    }

    /// `signal_name` as "SIGTERM" (a name without "SIG" gets it added, so
    /// "TERM" and "SIGTERM" count in one series).
    pub fn signal_received(&self, signal_name: &str) {
        let full;
        let name = if signal_name.starts_with("SIG") {
            signal_name
        } else {
            full = format!("SIG{signal_name}");
            &full
        };
        self.signals.with_label_values(&[name]).inc();
    }

    /// `mode` is one of [`ENFORCEMENT_MODES`]: 1 for it, 0 for the others.
    pub fn set_memory_enforcement(&self, mode: &str) {
        for m in ENFORCEMENT_MODES {
            self.enforcement
                .with_label_values(&[m])
                .set(i64::from(m == mode));
        }
        if !ENFORCEMENT_MODES.contains(&mode) {
            self.enforcement.with_label_values(&[mode]).set(1);
        }
    }

    /// Refreshes the gauges from `snapshot` (up, start time, memory and CPU
    /// read now from the processes' cgroups or /proc, limits) and the SQLite
    /// gauges, then encodes everything in the Prometheus text format.
    ///
    /// Reads files (cgroupfs, /proc, `stat` of the databases): call it off
    /// the event loop's thread when a database may sit on a network
    /// filesystem that can hang (the server does).
    pub fn render(&self, snapshot: &Snapshot, sqlite: &[PathBuf]) -> String {
        self.refresh_processes(snapshot);
        if !snapshot.memory_enforcement.is_empty() {
            self.set_memory_enforcement(&snapshot.memory_enforcement);
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
    pub(super) fn refresh_log_lines_dropped(&self, total: u64) {
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

    /// The registry, to add collectors (tests, embedding).
    pub fn registry(&self) -> &Registry {
        &self.registry
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

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Registers a metric whose name and help are constants of this file: a
/// failure is a bug caught by every test.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<C>,
) -> C {
    let metric = metric.expect("valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        GenericCounterVec::new(Opts::new(name, help), labels),
    )
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn float_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(registry, GaugeVec::new(Opts::new(name, help), labels))
}

// The event loop and the HTTP server share one `Arc<Metrics>`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Metrics>();
};
