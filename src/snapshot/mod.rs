//! What the outside sees of the supervisor: a read-only picture published over
//! a `tokio::sync::watch` channel after every batch of events. `/metrics`,
//! `/health`, `/status` and the control socket read the latest picture; none
//! of them ever waits on the supervisor.
//!
//! A leaf: it imports nothing of the crate, so the supervisor that writes the
//! picture and the metrics and control socket that read it all import it and
//! none of them the others. [`words`] holds its enums and their labels.

mod event;
mod words;

pub use event::Event;
pub use words::{
    EventKind, ExitReason, HealthResult, JobResult, Kind, MemoryEnforcement, Phase, ProcessState,
    ReloadResult,
};

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
    pub phase: Phase,
    /// True once every oneshot succeeded and every service became ready.
    pub booted: bool,
    /// None only before the supervisor's first picture.
    pub memory_enforcement: Option<MemoryEnforcement>,
    pub processes: Vec<ProcessStatus>,
}

/// One process at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProcessStatus {
    pub name: String,
    pub kind: Kind,
    pub state: ProcessState,
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
    /// The last lines it wrote to stderr, when it has failed or waits to
    /// be restarted (filled in by the control socket, from `oxinit logs`'
    /// buffer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_stderr: Vec<String>,
    /// `oxinit reload` under way: the second instance (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadStatus>,
}

/// The second instance of a process while `oxinit reload` runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReloadStatus {
    /// "new" (starting, not ready yet), "old" (stopping after the handover)
    /// or "abandoned" (the new one, stopped because the reload failed).
    pub instance: String,
    pub state: ProcessState,
    pub pid: Option<i32>,
    pub ready: bool,
    /// Start of that instance, in Unix seconds.
    pub started_at: Option<f64>,
    /// Why it is not ready yet, or why the reload failed.
    pub status_text: Option<String>,
}

/// How the last run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    /// The shell's exit code (128+N for signal N).
    pub code: i32,
    /// The label of oxinit_process_exits_total.
    pub reason: ExitReason,
    /// When, in Unix seconds.
    pub at: f64,
}

impl Snapshot {
    /// Healthy for `/health` and `oxinit healthcheck`: boot has finished and
    /// every service is up and ready. Returns the reasons when it is not.
    pub fn health(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !self.booted && self.phase == Phase::Booting {
            problems.push("boot has not finished".to_string());
        }
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            problems.push(format!("oxinit is {}", self.phase));
        }
        for p in self.processes.iter().filter(|p| p.kind == Kind::Service) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of `/status` and of the control socket's `status`, as it was
    /// when these fields were strings: clients parse it.
    const PINNED: &str = r#"{"version":"0.9.0","pid":1,"started_at":1795000000.5,"phase":"running","booted":true,"memory_enforcement":"cgroup2","processes":[{"name":"api","kind":"service","state":"ready","pid":42,"up":true,"ready":true,"healthy":true,"status_text":"serving","critical":true,"started_at":1795000001.25,"restarts":2,"last_exit":{"code":137,"reason":"oom","at":1795000000.75},"next_run":null,"memory_limit_bytes":536870912,"cgroups":["/sys/fs/cgroup/oxinit/api"]},{"name":"backup","kind":"job","state":"not started","pid":null,"up":false,"ready":false,"healthy":null,"status_text":null,"critical":false,"started_at":null,"restarts":0,"last_exit":null,"next_run":1795003600.0,"memory_limit_bytes":null,"cgroups":[]}]}"#;

    fn sample() -> Snapshot {
        Snapshot {
            version: "0.9.0".into(),
            pid: 1,
            started_at: 1795000000.5,
            phase: Phase::Running,
            booted: true,
            memory_enforcement: Some(MemoryEnforcement::Cgroup2),
            processes: vec![
                ProcessStatus {
                    name: "api".into(),
                    kind: Kind::Service,
                    state: ProcessState::Ready,
                    pid: Some(42),
                    up: true,
                    ready: true,
                    healthy: Some(true),
                    status_text: Some("serving".into()),
                    critical: true,
                    started_at: Some(1795000001.25),
                    restarts: 2,
                    last_exit: Some(ExitInfo {
                        code: 137,
                        reason: ExitReason::Oom,
                        at: 1795000000.75,
                    }),
                    next_run: None,
                    memory_limit_bytes: Some(536870912),
                    cgroups: vec!["/sys/fs/cgroup/oxinit/api".into()],
                    last_stderr: Vec::new(),
                    reload: None,
                },
                ProcessStatus {
                    name: "backup".into(),
                    kind: Kind::Job,
                    state: ProcessState::NotStarted,
                    next_run: Some(1795003600.0),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn the_json_is_what_it_was_with_strings() {
        assert_eq!(serde_json::to_string(&sample()).unwrap(), PINNED);
        let back: Snapshot = serde_json::from_str(PINNED).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), PINNED);
    }

    /// Every label, as the JSON and the metrics have always spelled it.
    #[test]
    fn the_labels_are_the_known_strings() {
        assert_eq!(Phase::LABELS, ["booting", "running", "stopping", "stopped"]);
        assert_eq!(Kind::LABELS, ["service", "oneshot", "job"]);
        assert_eq!(
            ProcessState::LABELS,
            [
                "waiting",
                "starting",
                "running",
                "ready",
                "unhealthy",
                "backoff",
                "stopping",
                "exited",
                "failed",
                "skipped",
                "stopped",
                "not started",
                "scheduled"
            ]
        );
        assert_eq!(
            ExitReason::LABELS,
            ["exit", "signal", "oom", "memory", "health", "stop"]
        );
        assert_eq!(HealthResult::LABELS, ["ok", "fail", "timeout"]);
        assert_eq!(
            JobResult::LABELS,
            ["success", "failure", "timeout", "skipped"]
        );
        assert_eq!(MemoryEnforcement::LABELS, ["cgroup2", "cgroup1", "poll"]);
        // Serde, Display and as_str say the same.
        for s in ProcessState::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(s.to_string(), s.as_str());
        }
        for r in ExitReason::ALL {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
    }
}
