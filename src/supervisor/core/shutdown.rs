//! Signals to oxinit, stopping one process (signal, SIGCONT, SIGKILL at its
//! stop_timeout), and the ordered shutdown: reverse boot order, level by
//! level, under the shutdown_timeout cap.

use super::{fmt_duration, Action, Cause, Phase, Supervisor};
use crate::snapshot::ReloadResult;
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::{Stage, State, StopCause};
use crate::supervisor::signal_event::ShutdownEvent;
use crate::supervisor::transitions::{change, Why};
use nix::sys::signal::Signal;
use tokio::time::Instant;

impl Supervisor {
    /// TERM, INT or QUIT: the ordered shutdown; a second TERM or INT kills
    /// everything now.
    pub(super) fn on_shutdown_request(
        &mut self,
        request: ShutdownEvent,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let sig = request.signal().as_str();
        match self.phase {
            Phase::Running => {
                tracing::info!("received {sig}: shutting down");
                self.begin_shutdown(Cause::Requested, now);
            }
            Phase::ShuttingDown { .. } if request.escalates() => {
                tracing::warn!("received {sig} again: killing every process now");
                self.kill_everything(now, out);
            }
            _ => {}
        }
    }

    /// Any other catchable signal: passed on to every running process.
    pub(super) fn forward(&mut self, sig: Signal, out: &mut Vec<Action>) {
        for (idx, p) in self.procs.iter().enumerate() {
            let second = p.reload.as_ref().map(|r| &r.state);
            for state in std::iter::once(&p.state).chain(second) {
                if let State::Running { pid, .. } = *state {
                    out.push(Action::Signal {
                        idx: ProcId(idx),
                        pid,
                        sig,
                    });
                }
            }
        }
    }

    /// Stops the next level of the shutdown (reverse boot order) once the one
    /// before is gone; finishes when every level is.
    pub(super) fn stop_next_level(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Phase::ShuttingDown {
            cause,
            mut level,
            deadline,
        } = self.phase
        else {
            return;
        };
        let stop_levels: Vec<Vec<ProcId>> = self.start_levels.iter().rev().cloned().collect();
        while level < stop_levels.len() {
            for &idx in &stop_levels[level] {
                // A reload not handed over yet is given up; its new
                // instance is stopped with this level.
                let why = format!(
                    "oxinit is shutting down: the reload of {} was given up",
                    self.procs[idx].spec.name
                );
                self.abandon_reload(idx, ReloadResult::Aborted, why, now, out);
                if matches!(self.procs[idx].state, State::Running { .. }) {
                    self.stop(idx, StopCause::Shutdown, now, out);
                }
            }
            if stop_levels[level]
                .iter()
                .any(|&i| self.procs[i].state.pid().is_some() || self.procs[i].reload.is_some())
            {
                break;
            }
            level += 1;
        }
        if level < stop_levels.len() {
            self.phase = Phase::ShuttingDown {
                cause,
                level,
                deadline,
            };
        } else {
            self.phase = Phase::Finished;
            let code = match cause {
                Cause::Failed(code) => code,
                Cause::Requested if self.killed_any => crate::exit::KILLED,
                Cause::Requested => 0,
            };
            for p in &mut self.procs {
                let second = p.reload.take().and_then(|r| r.reply);
                if let Some(id) = p.pending_reply.take().or(second) {
                    out.push(Action::Reply {
                        id,
                        result: Err("oxinit shut down".into()),
                    });
                }
            }
            out.push(Action::Finish { code });
        }
    }

    /// Sends the stop signal exactly once, then SIGCONT to what of the group is
    /// stopped, so it can act on it; SIGKILL follows at `stop_timeout`.
    pub(super) fn stop(
        &mut self,
        idx: ProcId,
        cause: StopCause,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let State::Running { pid, since } = p.state else {
            return;
        };
        tracing::info!(
            "stopping {} with {} (stop_timeout {})",
            p.spec.name,
            p.spec.stop_signal.as_str(),
            fmt_duration(p.spec.stop_timeout)
        );
        let kill_at = now + p.spec.stop_timeout;
        p.transition(
            State::Stopping {
                pid,
                since,
                asked: now,
                kill_at,
                killed: false,
                cause,
            },
            Why::Stop,
        );
        p.health.next_probe = None;
        p.health.watchdog_deadline = None;
        out.push(Action::Signal {
            idx,
            pid,
            sig: p.spec.stop_signal,
        });
        out.push(Action::Continue { idx, pid });
    }

    pub(super) fn begin_shutdown(&mut self, cause: Cause, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        for p in &mut self.procs {
            p.next_run = None;
            if matches!(
                p.state,
                State::Waiting | State::Backoff { .. } | State::Scheduled
            ) {
                p.transition(State::Cancelled, Why::Shutdown);
            }
        }
        self.phase = Phase::ShuttingDown {
            cause,
            level: 0,
            deadline: now + self.init.shutdown_timeout,
        };
    }

    /// Second TERM/INT, or shutdown_timeout: SIGKILL every process group now.
    pub(super) fn kill_everything(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.hurried = true;
        self.killed_any = true;
        for (idx, p) in self
            .procs
            .iter_mut()
            .enumerate()
            .map(|(i, p)| (ProcId(i), p))
        {
            let name = p.spec.name.clone();
            if let Some(r) = p.reload.as_mut().filter(|r| r.stage == Stage::Starting) {
                r.stage = Stage::Abandoned {
                    result: ReloadResult::Aborted,
                    why: format!(
                        "oxinit is killing every process: the reload of {name} was given up"
                    ),
                };
            }
            let first = kill_now(&name, &mut p.state, now);
            let second = p
                .reload
                .as_mut()
                .and_then(|r| kill_now(&name, &mut r.state, now));
            for pid in first.into_iter().chain(second) {
                out.push(Action::Signal {
                    idx,
                    pid,
                    sig: Signal::SIGKILL,
                });
            }
        }
    }
}

/// Marks an instance as SIGKILLed now; its pid, if it has one to kill.
fn kill_now(name: &str, state: &mut State, now: Instant) -> Option<i32> {
    match *state {
        State::Running { pid, since } => {
            let killed = State::Stopping {
                pid,
                since,
                asked: now,
                kill_at: since,
                killed: true,
                cause: StopCause::Shutdown,
            };
            change(name, state, killed, Why::Stop);
            Some(pid)
        }
        State::Stopping {
            pid,
            ref mut killed,
            ..
        } => {
            *killed = true;
            Some(pid)
        }
        _ => None,
    }
}
