//! The supervisor's picture for the outside ([`Snapshot`]): what `/status`,
//! `/health`, the metrics and the control socket read.

use super::core::Supervisor;
use super::ids::ProcId;
use super::process::State;
use super::process::{Reload, Stage};
use crate::snapshot::{
    ExitInfo, MemoryEnforcement, ProcessState, ProcessStatus, ReloadStatus, Snapshot,
};
use std::path::PathBuf;
use std::time::SystemTime;

fn unix(t: SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A reload's second instance, as `status` shows it beside the process.
fn second(sup: &Supervisor, r: &Reload) -> ReloadStatus {
    let (state, since) = match r.state {
        State::Running { since, .. } if r.health.ready => (ProcessState::Ready, Some(since)),
        State::Running { since, .. } => (ProcessState::Starting, Some(since)),
        State::Stopping { since, .. } => (ProcessState::Stopping, Some(since)),
        ref s => (s.status(), None),
    };
    let (instance, why) = match &r.stage {
        Stage::Starting => ("new", r.health.status.clone()),
        Stage::Retiring => ("old", None),
        Stage::Abandoned { why, .. } => ("abandoned", Some(why.clone())),
    };
    ReloadStatus {
        instance: instance.into(),
        state,
        pid: r.pid(),
        ready: r.health.ready,
        started_at: since.map(|t| unix(sup.wall(t))),
        status_text: why,
    }
}

/// The picture of `sup` now. `cgroups` gives each process's cgroup
/// directories, where it has any.
pub fn picture(
    sup: &Supervisor,
    started_at: SystemTime,
    memory_enforcement: MemoryEnforcement,
    cgroups: &dyn Fn(ProcId) -> Vec<PathBuf>,
) -> Snapshot {
    let processes = sup
        .processes()
        .iter()
        .enumerate()
        .map(|(idx, p)| {
            let state = match (&p.state, p.spec.health.is_some()) {
                (State::Running { .. }, true) if p.health.healthy == Some(false) => {
                    ProcessState::Unhealthy
                }
                (State::Running { .. }, true) if p.health.ready => ProcessState::Ready,
                (State::Running { .. }, true) => ProcessState::Starting,
                (s, _) => s.status(),
            };
            let since = match p.state {
                State::Running { since, .. } | State::Stopping { since, .. } => Some(since),
                _ => None,
            };
            ProcessStatus {
                name: p.spec.name.clone(),
                kind: super::process::kind_word(p.kind),
                state,
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
                    reason: e.reason,
                    at: unix(sup.wall(e.at)),
                }),
                next_run: p.next_run.filter(|_| !p.held).map(|t| unix(sup.wall(t))),
                memory_limit_bytes: p.spec.limits.memory,
                cgroups: cgroups(ProcId(idx)),
                last_stderr: Vec::new(),
                reload: p.reload.as_ref().map(|r| second(sup, r)),
            }
        })
        .collect();
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started_at: unix(started_at),
        phase: sup.phase(),
        booted: sup.booted(),
        memory_enforcement: Some(memory_enforcement),
        processes,
    }
}
