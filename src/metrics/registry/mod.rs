//! Every oxinit metric, its help text and labels, and how it is refreshed.
//!
//! Counters (restarts, exits, health checks, jobs, signals, zombies) are
//! counted by the event loop as events happen (oxinit's dropped log lines by
//! its logger, copied at scrape time); gauges (up, start time,
//! memory, limits, SQLite sizes) are set from the latest [`Snapshot`] and
//! from files read at scrape time. Every per-process series is created at 0
//! by [`Metrics::new`], so `increase()` and absence-free alerts work from
//! the first scrape, before the process ever ran.
//!
//! - this file: the metrics, their help text, and their creation at boot.
//! - [`labels`]: the label values series are created with.
//! - [`events`]: counting as events happen.
//! - [`scrape`]: what a scrape reads and sets, and the text it returns.
//!
//! [`Snapshot`]: crate::snapshot::Snapshot

mod events;
mod labels;
mod scrape;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::core::{Collector, GenericCounterVec};
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry,
};

pub use labels::{
    ENFORCEMENT_MODES, EXIT_REASONS, HEALTH_RESULTS, JOB_RESULTS, RELOAD_RESULTS, SIGNALS,
};
pub use scrape::USAGE_MAX_AGE;

use super::own_process::OwnProcess;
use scrape::Refresh;

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
    reloads: IntCounterVec,
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
            reloads: counter_vec(
                &registry,
                "oxinit_process_reloads_total",
                "`oxinit reload` of the service, by result (ok; not_ready: not ready within \
                 ready_timeout; failed: the new instance could not start or ended; aborted).",
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
    #[cfg(test)]
    pub fn with_proc_root(mut self, root: impl Into<PathBuf>) -> Metrics {
        self.proc_root = root.into();
        self
    }

    /// Reuses memory and CPU figures for `age` instead of [`USAGE_MAX_AGE`]
    /// (tests: `Duration::ZERO` reads them at every render).
    #[cfg(test)]
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
                for result in RELOAD_RESULTS {
                    self.reloads.with_label_values(&[name, result]);
                }
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

    /// The registry, to add collectors (tests, embedding).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
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
