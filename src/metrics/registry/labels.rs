//! The label values every per-process series is created with at boot, so
//! `increase()` and absence-free alerts work from the first scrape.

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
