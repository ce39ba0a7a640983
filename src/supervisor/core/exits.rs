//! What the end of a run means: a restart asked for, a job's result, a
//! oneshot's success or the boot's abort, a service's restart, backoff or
//! giving up. [`Supervisor::ended`] takes these steps in order; the first
//! that applies decides.

use super::condition::launch;
use super::{fmt_duration, Action, Cause, Observation, Phase, Supervisor};
use crate::config::{Kind, RestartPolicy};
use crate::snapshot::JobResult;
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::{ExitReason, LastExit, State, StopCause};
use crate::supervisor::transitions::Why;
use crate::sys::reap::ExitStatus;
use crate::units::format_size;
use std::time::Duration;
use tokio::time::Instant;

impl Supervisor {
    /// Process `idx` could not be started. A critical service whose first
    /// start fails in a way no retry can fix aborts the boot at once, with
    /// the spawn's code and one line, instead of retrying with backoff while
    /// the rest runs without it. Anything else counts as an exit with `code`.
    pub(super) fn spawn_failed(
        &mut self,
        idx: ProcId,
        code: i32,
        reason: &str,
        permanent: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let message = format!("{}: {reason}", p.spec.name);
        match (p.kind, p.pending_reply.take()) {
            // `oxinit start ONESHOT` ends with the run's code: 126/127 here.
            (Kind::Oneshot, Some(id)) => out.push(Action::ReplyExit { id, code, message }),
            (_, Some(id)) => out.push(Action::Reply {
                id,
                result: Err(message),
            }),
            (_, None) => {}
        }
        // Never spawned yet (a spawn that failed for a passing reason, then
        // this one, is still its first start).
        let first_start = !p.ran && p.kind == Kind::Service;
        if !(permanent && first_start && p.spec.critical && self.phase == Phase::Running) {
            tracing::error!("{}: {reason} (counts as exit code {code})", p.spec.name);
            self.ended(idx, ExitStatus::Code(code), false, now, out);
            return;
        }
        tracing::error!(
            "{}: {reason}; it is critical and a restart cannot fix this: boot aborted (exit code {code})",
            p.spec.name
        );
        let status = ExitStatus::Code(code);
        p.last_exit = Some(LastExit {
            status,
            reason: ExitReason::Exit,
            at: now,
        });
        p.last_failure = Some(code);
        p.transition(State::Failed { status }, Why::CannotStart);
        out.push(Action::Record(Observation::Exited {
            idx,
            reason: ExitReason::Exit,
            code,
        }));
        self.begin_shutdown(Cause::Failed(code), now);
    }

    /// Process `idx` ended (or could not start) with `status`.
    pub(super) fn ended(
        &mut self,
        idx: ProcId,
        status: ExitStatus,
        oom: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if self.procs[idx].reload.is_some() {
            self.reload_lost_its_old(idx, status, now, out);
        }
        let end = self.record_end(idx, status, oom, now, out);
        // Requests from the control socket come first.
        if self.ended_on_request(idx, &end, out) {
            return;
        }
        let p = &mut self.procs[idx];
        if let (Kind::Oneshot, Some(id)) = (p.kind, p.pending_reply) {
            // `oxinit start ONESHOT` waits for the run and ends with its code.
            p.pending_reply = None;
            let what = match status.success() {
                true => "finished",
                false => "failed",
            };
            out.push(Action::ReplyExit {
                id,
                code: status.code(),
                message: format!(
                    "{} {what} ({status}) in {}",
                    p.spec.name,
                    fmt_duration(end.uptime)
                ),
            });
        }
        if let Some(id) = p.pending_reply.take() {
            out.push(Action::Reply {
                id,
                result: Err(format!(
                    "{} ended ({status}) before the request completed",
                    p.spec.name
                )),
            });
        }
        let shutting_down = self.phase != Phase::Running;
        match p.kind {
            Kind::Job => self.job_ended(idx, &end, out),
            _ if shutting_down || end.cause == Some(StopCause::Shutdown) => {
                tracing::info!("{} {}", p.spec.name, end.how());
                p.transition(State::Exited { status }, Why::Ended);
            }
            Kind::Oneshot => self.oneshot_ended(idx, &end, now, out),
            Kind::Service => self.service_ended(idx, &end, now, out),
        }
    }

    /// Notes how the run ended (last exit, last failure, the exit's
    /// observation, an OOM kill's line) and returns it.
    fn record_end(
        &mut self,
        idx: ProcId,
        status: ExitStatus,
        oom: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Ending {
        let p = &mut self.procs[idx];
        let (uptime, stop_took, cause) = match p.state {
            State::Running { since, .. } => (now.duration_since(since), None, None),
            State::Stopping {
                since,
                asked,
                cause,
                ..
            } => (
                now.duration_since(since),
                Some(now.duration_since(asked)),
                Some(cause),
            ),
            _ => (Duration::ZERO, None, None),
        };
        let reason = match (oom, cause) {
            (true, _) => ExitReason::Oom,
            (false, Some(StopCause::Health)) => ExitReason::Health,
            (false, Some(StopCause::Memory)) => ExitReason::Memory,
            (false, Some(_)) => ExitReason::Stop,
            (false, None) if matches!(status, ExitStatus::Signal(_)) => ExitReason::Signal,
            (false, None) => ExitReason::Exit,
        };
        p.last_exit = Some(LastExit {
            status,
            reason,
            at: now,
        });
        if status.code() != 0 {
            p.last_failure = Some(status.code());
        }
        p.health = Default::default();
        out.push(Action::Record(Observation::Exited {
            idx,
            reason,
            code: status.code(),
        }));
        if oom {
            let limit = p
                .spec
                .limits
                .memory
                .map(format_size)
                .unwrap_or_else(|| "memory".into());
            tracing::error!(
                "{} was killed by the kernel OOM killer at its {limit} limit",
                p.spec.name
            );
        }
        Ending {
            status,
            reason,
            cause,
            uptime,
            stop_took,
        }
    }

    /// `oxinit restart` (start it again) or `oxinit stop` (keep it stopped,
    /// answer the request). Returns true when the end was one of them.
    fn ended_on_request(&mut self, idx: ProcId, end: &Ending, out: &mut Vec<Action>) -> bool {
        let shutting_down = self.phase != Phase::Running;
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        match end.cause {
            Some(StopCause::Restart) if !shutting_down => {
                tracing::info!("{name} {}; starting it again", end.how());
                p.restarts += 1;
                let run = p.begin_run(Why::Restarted);
                out.push(Action::Record(Observation::Restarted { idx }));
                if let Some(run) = run {
                    out.push(launch(idx, run, p));
                }
                true
            }
            Some(StopCause::Manual) => {
                tracing::info!("{name} {} on request", end.how());
                p.transition(State::Stopped, Why::StopRequested);
                if let Some(id) = p.pending_reply.take() {
                    out.push(Action::Reply {
                        id,
                        result: Ok(format!("{name} stopped ({})", end.status)),
                    });
                }
                true
            }
            _ => false,
        }
    }

    /// A job's run ended: its result, then it waits for its next run.
    fn job_ended(&mut self, idx: ProcId, end: &Ending, out: &mut Vec<Action>) {
        let shutting_down = self.phase != Phase::Running;
        let p = &mut self.procs[idx];
        let (name, status) = (p.spec.name.clone(), end.status);
        let result = match (end.cause, status.success()) {
            (Some(StopCause::Timeout), _) => JobResult::Timeout,
            (_, true) => JobResult::Success,
            (_, false) => JobResult::Failure,
        };
        out.push(Action::Record(Observation::JobRun { idx, result }));
        match result {
            JobResult::Success => {
                tracing::info!(
                    "job {name} finished ({status}) in {}",
                    fmt_duration(end.uptime)
                )
            }
            JobResult::Timeout => {
                tracing::error!("job {name} timed out and was stopped ({status})")
            }
            _ => tracing::error!(
                "job {name} failed ({status}) after {}",
                fmt_duration(end.uptime)
            ),
        }
        match shutting_down {
            true => p.transition(State::Exited { status }, Why::Ended),
            false => p.transition(State::Scheduled, Why::RunEnded),
        };
    }

    /// A oneshot ended: done, a failure after boot (reported), or a failure
    /// during boot (the boot is aborted).
    fn oneshot_ended(&mut self, idx: ProcId, end: &Ending, now: Instant, out: &mut Vec<Action>) {
        let boot_done = self.boot_done;
        let p = &mut self.procs[idx];
        let (name, status) = (p.spec.name.clone(), end.status);
        let timed_out = end.cause == Some(StopCause::Timeout);
        if status.success() && !timed_out {
            tracing::info!("{name} finished ({status}) in {}", fmt_duration(end.uptime));
            p.transition(State::Exited { status }, Why::Ended);
            out.push(Action::Record(Observation::OneshotFinished {
                idx,
                took: end.uptime,
            }));
        } else if boot_done {
            // Run again by hand after boot: a failure is reported, not fatal.
            tracing::error!("{name} failed ({status})");
            p.transition(State::Failed { status }, Why::GaveUp);
        } else {
            let what = if timed_out {
                "timed out and was stopped"
            } else {
                "failed"
            };
            tracing::error!("{name} {what} ({status}): boot aborted");
            p.transition(State::Failed { status }, Why::GaveUp);
            let code = p.failure_code();
            self.begin_shutdown(Cause::Failed(code), now);
        }
    }

    /// A service ended: not restarted (a critical one shuts everything
    /// down), restarted after its backoff, or given up on.
    fn service_ended(&mut self, idx: ProcId, end: &Ending, now: Instant, out: &mut Vec<Action>) {
        let p = &self.procs[idx];
        let wants_restart = match p.spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => end.reason.is_failure(end.status.success()),
            RestartPolicy::Never => false,
        };
        if wants_restart {
            self.restart_or_give_up(idx, end, now, out);
        } else {
            self.not_restarted(idx, end, now);
        }
    }

    fn not_restarted(&mut self, idx: ProcId, end: &Ending, now: Instant) {
        let p = &mut self.procs[idx];
        let (name, status) = (p.spec.name.clone(), end.status);
        p.transition(State::Exited { status }, Why::Ended);
        if !p.spec.critical {
            tracing::warn!("{name} exited ({status}) and is not restarted");
            return;
        }
        tracing::warn!(
            "{name} exited ({status}) and is not restarted; it is critical: shutting down"
        );
        // Stopped for its health or memory, it failed even if it then
        // exited 0: the container must not end as a success.
        let code = match end.reason.is_failure(status.success()) {
            true => p.failure_code(),
            false => status.code(),
        };
        self.begin_shutdown(Cause::Failed(code), now);
    }

    /// The crash-loop cutoff decides: backoff, or failed for good.
    fn restart_or_give_up(
        &mut self,
        idx: ProcId,
        end: &Ending,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let (name, status) = (p.spec.name.clone(), end.status);
        match p.backoff.on_exit(&p.spec, end.uptime, now) {
            crate::supervisor::backoff::Decision::RestartAfter(delay) => {
                p.restarts += 1;
                p.transition(State::Backoff { until: now + delay }, Why::Crashed);
                out.push(Action::Record(Observation::Restarted { idx }));
                tracing::warn!(
                    "{name} exited ({status}, reason {}) after {}; restarting in {} (restart {})",
                    end.reason.as_str(),
                    fmt_duration(end.uptime),
                    fmt_duration(delay),
                    p.restarts
                );
            }
            crate::supervisor::backoff::Decision::GiveUp => {
                p.transition(State::Failed { status }, Why::GaveUp);
                let (max, window) = (p.spec.max_restarts, fmt_duration(p.spec.restart_window));
                if p.spec.critical {
                    let code = p.failure_code();
                    tracing::error!("{name} failed: it exited ({status}) after {max} restarts within {window}; it is critical: shutting down (exit code {code})");
                    self.begin_shutdown(Cause::Failed(code), now);
                } else {
                    tracing::error!("{name} failed: it exited ({status}) after {max} restarts within {window}; left stopped (critical = false)");
                }
            }
        }
    }
}

/// What is known about a run the moment it ends.
struct Ending {
    status: ExitStatus,
    reason: ExitReason,
    /// Why oxinit stopped it, when it did.
    cause: Option<StopCause>,
    uptime: Duration,
    /// How long its stop took, when it was stopped.
    stop_took: Option<Duration>,
}

impl Ending {
    fn how(&self) -> String {
        stopped_how(self.status, self.stop_took, self.uptime)
    }
}

/// "stopped (exit 0) in 120ms, after running 9.9s": how long the stop took
/// and how long the process had run, told apart ("stopped after 9.9s" read
/// as a slow stop).
fn stopped_how(status: ExitStatus, stop_took: Option<Duration>, uptime: Duration) -> String {
    match stop_took {
        Some(took) => format!(
            "stopped ({status}) in {}, after running {}",
            fmt_duration(took),
            fmt_duration(uptime)
        ),
        None => format!("ended ({status}) after running {}", fmt_duration(uptime)),
    }
}
