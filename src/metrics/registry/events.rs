//! Counting as events happen: the event loop calls these when a run ends,
//! a check answers, a job finishes or a signal arrives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Metrics;
use crate::snapshot::{ExitReason, HealthResult, JobResult, MemoryEnforcement, ReloadResult};

impl Metrics {
    /// A run ended.
    pub fn process_exited(&self, name: &str, reason: ExitReason, code: i32) {
        self.exits.with_label_values(&[name, reason.as_str()]).inc();
        self.last_exit_code
            .with_label_values(&[name])
            .set(i64::from(code));
    }

    pub fn process_restarted(&self, name: &str) {
        self.restarts.with_label_values(&[name]).inc();
    }

    pub fn health_check(&self, name: &str, result: HealthResult, took: Duration) {
        self.health_checks
            .with_label_values(&[name, result.as_str()])
            .inc();
        self.health_duration
            .with_label_values(&[name])
            .observe(took.as_secs_f64());
    }

    pub fn oneshot_finished(&self, name: &str, took: Duration) {
        self.oneshot_duration
            .with_label_values(&[name])
            .set(took.as_secs_f64());
    }

    /// `at` is when the run ended.
    pub fn job_run(&self, name: &str, result: JobResult, at: SystemTime) {
        self.job_runs
            .with_label_values(&[name, result.as_str()])
            .inc();
        if result == JobResult::Success {
            self.job_last_success
                .with_label_values(&[name])
                .set(unix_seconds(at));
        }
    }

    /// An `oxinit reload` ended.
    pub fn process_reloaded(&self, name: &str, result: ReloadResult) {
        self.reloads
            .with_label_values(&[name, result.as_str()])
            .inc();
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

    /// 1 for `mode`, 0 for the others.
    pub fn set_memory_enforcement(&self, mode: MemoryEnforcement) {
        for m in MemoryEnforcement::ALL {
            self.enforcement
                .with_label_values(&[m.as_str()])
                .set(i64::from(m == mode));
        }
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
