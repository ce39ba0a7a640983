//! What the outside sees of the supervisor: a read-only picture published over
//! a `tokio::sync::watch` channel after every batch of events. `/metrics`,
//! `/health`, `/status` and the control socket read the latest picture; none
//! of them ever waits on the supervisor.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole system at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub version: String,
    /// oxinit's own pid (1 in a container).
    pub pid: u32,
    /// When oxinit started, in Unix seconds.
    pub started_at: f64,
    /// "booting" | "running" | "stopping" | "stopped".
    pub phase: String,
    /// True once every oneshot succeeded and every service became ready.
    pub booted: bool,
    /// "cgroup2" | "cgroup1" | "poll" (see crate::cgroup::Mode).
    pub memory_enforcement: String,
    pub processes: Vec<ProcessStatus>,
}

/// One process at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProcessStatus {
    pub name: String,
    /// "service" | "oneshot" | "job".
    pub kind: String,
    /// "waiting" | "starting" | "running" | "ready" | "unhealthy" | "backoff" |
    /// "stopping" | "exited" | "failed" | "skipped" | "stopped" | "not started" | "scheduled".
    pub state: String,
    /// Its pid (also its process group) while it runs.
    pub pid: Option<i32>,
    /// Running (or stopping) right now.
    pub up: bool,
    /// Ready: running and, where it has a health check, passed it.
    pub ready: bool,
    /// None without a health check.
    pub healthy: Option<bool>,
    /// `STATUS=` from sd_notify, or why it is unhealthy.
    pub status_text: Option<String>,
    pub critical: bool,
    /// Start of the current run, in Unix seconds.
    pub started_at: Option<f64>,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// Next scheduled run of a job, in Unix seconds.
    pub next_run: Option<f64>,
    pub memory_limit_bytes: Option<u64>,
    /// Its cgroup directories, when it has any (memory/CPU are read from them).
    pub cgroups: Vec<PathBuf>,
}

/// How the last run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    /// The shell's exit code (128+N for signal N).
    pub code: i32,
    /// "exit" | "signal" | "oom" | "memory" | "health" | "stop" (the label of
    /// oxinit_process_exits_total).
    pub reason: String,
    /// When, in Unix seconds.
    pub at: f64,
}

impl Snapshot {
    /// Healthy for `/health` and `oxinit healthcheck`: boot has finished and
    /// every service is up and ready. Returns the reasons when it is not.
    pub fn health(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !self.booted && self.phase == "booting" {
            problems.push("boot has not finished".to_string());
        }
        if self.phase == "stopping" || self.phase == "stopped" {
            problems.push(format!("oxinit is {}", self.phase));
        }
        for p in self.processes.iter().filter(|p| p.kind == "service") {
            // Ready implies up; both are checked in case a state says
            // otherwise.
            if !p.up || !p.ready {
                problems.push(format!("{} is {}", p.name, p.state));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Snapshot {
    /// The picture of `sup` at `now`. `cgroups` gives each process's cgroup
    /// directories (by index), where it has any.
    pub fn of(
        sup: &super::core::Supervisor,
        started_at: std::time::SystemTime,
        memory_enforcement: &str,
        cgroups: &dyn Fn(usize) -> Vec<PathBuf>,
    ) -> Snapshot {
        use super::process::State;
        let processes = sup
            .processes()
            .iter()
            .enumerate()
            .map(|(idx, p)| {
                let state = match (&p.state, p.spec.health.is_some()) {
                    (State::Running { .. }, true) if p.health.healthy == Some(false) => "unhealthy",
                    (State::Running { .. }, true) if p.health.ready => "ready",
                    (State::Running { .. }, true) => "starting",
                    (s, _) => s.word(),
                };
                let since = match p.state {
                    State::Running { since, .. } | State::Stopping { since, .. } => Some(since),
                    _ => None,
                };
                ProcessStatus {
                    name: p.spec.name.clone(),
                    kind: match p.kind {
                        crate::config::Kind::Service => "service",
                        crate::config::Kind::Oneshot => "oneshot",
                        crate::config::Kind::Job => "job",
                    }
                    .to_string(),
                    state: state.to_string(),
                    pid: p.state.pid(),
                    up: p.state.pid().is_some(),
                    ready: p.ready(),
                    healthy: p.spec.health.as_ref().and(p.health.healthy),
                    status_text: p.health.status.clone(),
                    critical: p.spec.critical && p.kind == crate::config::Kind::Service,
                    started_at: since.map(|t| unix(sup.wall(t))),
                    restarts: p.restarts,
                    last_exit: p.last_exit.map(|e| ExitInfo {
                        code: e.status.code(),
                        reason: e.reason.as_str().to_string(),
                        at: unix(sup.wall(e.at)),
                    }),
                    next_run: p.next_run.filter(|_| !p.held).map(|t| unix(sup.wall(t))),
                    memory_limit_bytes: p.spec.limits.memory,
                    cgroups: cgroups(idx),
                }
            })
            .collect();
        Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_at: unix(started_at),
            phase: sup.phase().to_string(),
            booted: sup.booted(),
            memory_enforcement: memory_enforcement.to_string(),
            processes,
        }
    }
}
