//! `when`: a oneshot or job that runs only where its conditions hold.
//!
//! The conditions are checked at the moment the process would start (its
//! dependencies are met), not at load: `/litefs/.primary` exists only once
//! the LiteFS mount is up. Checking one stats a path, maybe on that very
//! mount, so the core does not do it: it asks with [`Action::Check`], the
//! event loop checks off its thread with a timeout, and the answer comes
//! back as [`Event::Checked`](super::Event::Checked). Until then the process
//! is `Starting`, with the run number the spawn will carry.
//!
//! - holds: it is spawned as usual;
//! - does not hold: a oneshot is `Skipped` (logged once with the reason,
//!   done for its dependents, no exit recorded); a job's run is skipped
//!   (`oxinit_job_runs_total{result="skipped"}`) and it waits for its next
//!   time, when the condition is checked again;
//! - cannot be checked (permission denied, a hung mount): a failed start,
//!   exit code 1, so a oneshot aborts the boot rather than guess whether
//!   this node is the primary.

use super::{Action, Observation, Phase, Supervisor};
use crate::config::Kind;
use crate::snapshot::JobResult;
use crate::supervisor::ids::{ProcId, RunId};
use crate::supervisor::process::{Process, State};
use crate::supervisor::transitions::Why;
use tokio::time::Instant;

/// What starts run `run` of process `idx`, already `Starting`: its spawn,
/// or first the check of its conditions.
pub(super) fn launch(idx: ProcId, run: RunId, p: &Process) -> Action {
    if p.spec.when.is_empty() {
        Action::Spawn { idx, run }
    } else {
        Action::Check { idx, run }
    }
}

impl Supervisor {
    /// The answer to an [`Action::Check`] of run `run` of process `idx`.
    pub(super) fn checked(
        &mut self,
        idx: ProcId,
        run: RunId,
        verdict: Result<Option<String>, String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let running = self.phase == Phase::Running;
        let p = &mut self.procs[idx];
        // A late answer: the process was stopped, or started again, since.
        if p.state != State::Starting || p.run != run {
            return;
        }
        if !running {
            // The shutdown began while the check ran: it is not started.
            p.transition(State::Cancelled, Why::Shutdown);
            return;
        }
        let why = match verdict {
            Ok(None) => {
                out.push(Action::Spawn { idx, run });
                return;
            }
            Ok(Some(why)) => why,
            Err(e) => {
                let reason = format!("cannot check its condition: {e}");
                self.spawn_failed(idx, 1, &reason, false, now, out);
                return;
            }
        };
        let name = p.spec.name.clone();
        if p.kind == Kind::Job {
            tracing::info!("job {name}: this run is skipped: {why}");
            p.transition(State::Scheduled, Why::ConditionFalse);
            out.push(Action::Record(Observation::JobRun {
                idx,
                result: JobResult::Skipped,
            }));
        } else {
            tracing::info!("{name} skipped: {why}");
            p.transition(State::Skipped, Why::ConditionFalse);
        }
        // Shown by `oxinit status`; a later start resets it.
        p.health.status = Some(format!("skipped: {why}"));
        if let Some(id) = p.pending_reply.take() {
            out.push(Action::Reply {
                id,
                result: Ok(format!("{name} skipped: {why}")),
            });
        }
    }
}
