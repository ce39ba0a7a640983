//! Every deadline of the system lives in the state (backoff end, stop
//! timeout, oneshot timeout, next probe, watchdog, next job run, shutdown
//! cap): the loop asks for the earliest and ticks when it is due.

use super::{fmt_duration, Action, Observation, Phase, Supervisor};
use crate::config::Kind;
use crate::snapshot::JobResult;
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::{State, StopCause};
use crate::supervisor::transitions::Why;
use tokio::time::Instant;

impl Supervisor {
    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let running = self.phase == Phase::Running;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for p in &self.procs {
            match p.state {
                State::Backoff { until } if running => consider(until),
                State::Stopping {
                    kill_at,
                    killed: false,
                    ..
                } => consider(kill_at),
                State::Running { since, .. } => {
                    if let (true, Some(t)) = (p.kind != Kind::Service, p.spec.timeout) {
                        consider(since + t);
                    }
                    if let (Some(t), false) = (p.health.next_probe, p.health.probing) {
                        consider(t);
                    }
                    if let Some(t) = p.health.watchdog_deadline {
                        consider(t);
                    }
                }
                _ => {}
            }
            if let (Some(t), true, false) = (p.next_run, running, p.held) {
                consider(t);
            }
        }
        if let Phase::ShuttingDown { deadline, .. } = self.phase {
            if !self.hurried {
                consider(deadline);
            }
        }
        next
    }

    /// Acts on every deadline that is due at `now`.
    pub(super) fn on_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        let running = self.phase == Phase::Running;
        for idx in ProcId::all(self.procs.len()) {
            let next_cron = self.next_cron(idx, now);
            let p = &mut self.procs[idx];
            // Jobs: a run is due.
            if let (Some(t), true, false) = (p.next_run, running, p.held) {
                if t <= now {
                    p.next_run = next_cron;
                    if p.state.pid().is_some() || p.state == State::Starting {
                        tracing::warn!("job {} is still running: skipping this run", p.spec.name);
                        out.push(Action::Record(Observation::JobRun {
                            idx,
                            result: JobResult::Skipped,
                        }));
                    } else {
                        p.transition(State::Starting, Why::Due);
                        out.push(Action::Spawn(idx));
                    }
                }
            }
            let p = &mut self.procs[idx];
            match p.state {
                State::Backoff { until } if running && until <= now => {
                    p.transition(State::Starting, Why::DelayOver);
                    out.push(Action::Spawn(idx));
                }
                State::Stopping {
                    ref mut killed,
                    kill_at,
                    ..
                } if !*killed && kill_at <= now => {
                    *killed = true;
                    if !running {
                        self.killed_any = true;
                    }
                    tracing::warn!(
                        "{} did not stop within {}: SIGKILL",
                        p.spec.name,
                        fmt_duration(p.spec.stop_timeout)
                    );
                    out.push(Action::Signal {
                        idx,
                        sig: nix::sys::signal::Signal::SIGKILL,
                    });
                }
                State::Running { since, .. } => {
                    if let (true, Some(t)) = (p.kind != Kind::Service, p.spec.timeout) {
                        if since + t <= now {
                            tracing::error!(
                                "{} is still running after its timeout of {}: stopping it",
                                p.spec.name,
                                fmt_duration(t)
                            );
                            self.stop(idx, StopCause::Timeout, now, out);
                            continue;
                        }
                    }
                    if let Some(t) = p.health.watchdog_deadline {
                        if t <= now {
                            let w = p.watchdog().map(fmt_duration).unwrap_or_default();
                            tracing::warn!(
                                "{} is unhealthy: no WATCHDOG=1 for {w}; restarting it",
                                p.spec.name
                            );
                            p.health.healthy = Some(false);
                            p.health.status = Some(format!("watchdog: no WATCHDOG=1 for {w}"));
                            self.stop(idx, StopCause::Health, now, out);
                            continue;
                        }
                    }
                    if let (Some(t), false) = (p.health.next_probe, p.health.probing) {
                        if t <= now {
                            p.health.probing = true;
                            p.health.probe_started = Some(now);
                            out.push(Action::Probe { idx, run: p.run });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Phase::ShuttingDown { deadline, .. } = self.phase {
            if !self.hurried && deadline <= now {
                tracing::warn!(
                    "shutdown_timeout of {} reached: killing every process",
                    fmt_duration(self.init.shutdown_timeout)
                );
                self.kill_everything(now, out);
            }
        }
    }

    /// The next cron time of job `idx` after `now`, on the monotonic clock.
    pub(super) fn next_cron(&self, idx: ProcId, now: Instant) -> Option<Instant> {
        let schedule = self.procs[idx].spec.schedule.as_ref()?;
        let wall_now = self.wall(now);
        let next = schedule.next_after(wall_now)?;
        Some(now + next.duration_since(wall_now).unwrap_or_default())
    }
}
