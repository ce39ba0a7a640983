//! The label values every per-process series is created with at boot, so
//! `increase()` and absence-free alerts work from the first scrape.
//! The sets come from the enums of [`crate::snapshot`], so a new variant
//! gets its series without a second list to keep in step.

use crate::snapshot::{ExitReason, HealthResult, JobResult, MemoryEnforcement, ReloadResult};

/// Labels of `oxinit_process_exits_total`.
pub const EXIT_REASONS: [&str; 6] = ExitReason::LABELS;
/// Labels of `oxinit_health_checks_total`.
pub const HEALTH_RESULTS: [&str; 3] = HealthResult::LABELS;
/// Labels of `oxinit_job_runs_total`.
pub const JOB_RESULTS: [&str; 4] = JobResult::LABELS;
/// Labels of `oxinit_process_reloads_total`.
pub const RELOAD_RESULTS: [&str; 4] = ReloadResult::LABELS;
/// Labels of `oxinit_memory_enforcement`.
pub const ENFORCEMENT_MODES: [&str; 3] = MemoryEnforcement::LABELS;
/// Signals oxinit acts on, created at 0 so `increase()` sees the first one.
pub const SIGNALS: [&str; 6] = [
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2",
];
