//! Every deadline of the system lives in the state (backoff end, stop
//! timeout, oneshot timeout, next probe, an exec probe's timeout, watchdog,
//! next job run, the memory poll, shutdown cap): the loop asks for the
//! earliest and ticks when it is due. It keeps no timer of its own.

use super::condition::launch;
use super::{fmt_duration, Action, Observation, Phase, Supervisor};
use crate::config::{HealthCheck, Kind};
use crate::snapshot::JobResult;
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::{State, StopCause};
use crate::supervisor::transitions::Why;
use std::time::Duration;
use tokio::time::Instant;

/// How often memory is measured in polling mode (only while a process that
/// needs it runs).
pub const MEMORY_POLL: Duration = Duration::from_secs(2);

impl Supervisor {
    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let running = self.phase == Phase::Running;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for (i, p) in self.procs.iter().enumerate() {
            if let Some(t) = self.reload_deadline(ProcId(i)) {
                consider(t);
            }
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
        for &(_, _, t) in &self.probe_timeouts {
            consider(t);
        }
        if let Some(t) = self.memory_poll {
            consider(t);
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
            self.reload_deadlines(idx, now, out);
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
                        if let Some(run) = p.begin_run(Why::Due) {
                            out.push(launch(idx, run, p));
                        }
                    }
                }
            }
            let p = &mut self.procs[idx];
            match p.state {
                State::Backoff { until } if running && until <= now => {
                    if let Some(run) = p.begin_run(Why::DelayOver) {
                        out.push(launch(idx, run, p));
                    }
                }
                State::Stopping {
                    pid,
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
                        pid,
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
                            // An exec probe is a child: the loop kills it at
                            // its timeout (HTTP and TCP probes time out alone).
                            if let Some(h) = p.spec.health.as_ref() {
                                if matches!(h.check, HealthCheck::Exec { .. }) {
                                    self.probe_timeouts.push((idx, p.run, now + h.timeout));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.probe_timeouts.retain(|&(idx, run, t)| {
            if t <= now {
                out.push(Action::KillProbe { idx, run });
            }
            t > now
        });
        if self.memory_poll.is_some_and(|t| t <= now) {
            out.push(Action::PollMemory);
            self.memory_poll = None;
            self.arm_memory_poll(now);
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

    /// Arms the next memory poll while some process that needs it (see
    /// `Event::Started`) runs.
    pub(super) fn arm_memory_poll(&mut self, now: Instant) {
        let needed = self.procs.iter().any(|p| {
            let second = p.reload.as_ref();
            (p.memory_polled && p.state.pid().is_some())
                || second.is_some_and(|r| r.memory_polled && r.pid().is_some())
        });
        if needed && self.memory_poll.is_none() {
            self.memory_poll = Some(now + MEMORY_POLL);
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
