//! Who hears what happened: the metrics, in oxinit (the wiring gives the
//! supervisor its registry behind this trait), or a test's recorder. The
//! supervisor depends on no listener.

use crate::snapshot::{Event, ExitReason, HealthResult, JobResult, ReloadResult};
use std::time::{Duration, SystemTime};

/// What the supervisor tells the outside as it happens (the rest is in the
/// snapshot it publishes).
pub trait Observer {
    /// A run of `name` ended.
    fn process_exited(&self, name: &str, reason: ExitReason, code: i32);
    fn process_restarted(&self, name: &str);
    fn health_check(&self, name: &str, result: HealthResult, took: Duration);
    fn oneshot_finished(&self, name: &str, took: Duration);
    /// A run of job `name` ended (or was skipped) at `at`.
    fn job_run(&self, name: &str, result: JobResult, at: SystemTime);
    /// An `oxinit reload` of `name` ended with `result`.
    fn process_reloaded(&self, name: &str, result: ReloadResult);
    /// `n` processes of `name`'s cgroup were OOM-killed.
    fn oom_kills(&self, name: &str, n: u64);
    /// Adopted orphans were reaped.
    fn zombies_reaped(&self, n: u64);
    /// oxinit received `signal_name` ("SIGTERM").
    fn signal_received(&self, signal_name: &str);
    /// Something happened that `oxinit events` tells. Listeners that only
    /// count (the metrics) need not hear it.
    fn event(&self, _event: &Event) {}
}
