//! A reload's new instance becoming ready: its probes (answers from the
//! other instance count for neither), READY=1 on its own socket, memory
//! over its limit; and the reload's deadlines (`ready_timeout`, the next
//! probe, the second instance's SIGKILL).

use super::{fmt_duration, Action, Notice, Observation, Outcome, Supervisor};
use crate::config::HealthCheck;
use crate::snapshot::{HealthResult, ReloadResult};
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::{Stage, State};
use crate::units::{format_size, format_size_approx};
use std::time::Duration;
use tokio::time::Instant;

impl Supervisor {
    /// A probe of the reload's new instance answered: the first success
    /// hands over; failures only wait (`ready_timeout` bounds the wait).
    pub(super) fn reload_probe(
        &mut self,
        idx: ProcId,
        outcome: Outcome,
        took: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let Some(h) = p.spec.health.clone() else {
            return;
        };
        let Some(r) = p.reload.as_mut() else { return };
        if r.stage != Stage::Starting || !matches!(r.state, State::Running { .. }) {
            return;
        }
        r.health.probing = false;
        let result = match outcome {
            Outcome::Healthy => Some(HealthResult::Ok),
            Outcome::Unhealthy(_) => Some(HealthResult::Fail),
            Outcome::TimedOut => Some(HealthResult::Timeout),
            // The old instance answered: no check of this one.
            Outcome::NotCounted(_) => None,
        };
        if let Some(result) = result {
            out.push(Action::Record(Observation::Health { idx, result, took }));
        }
        let healthy = outcome == Outcome::Healthy;
        let started = r.health.probe_started.unwrap_or(now);
        let quick = r.health.readiness_probes;
        r.health.readiness_probes += 1;
        r.health.next_probe = Some(crate::supervisor::cadence::next_probe(
            &h, healthy, quick, started, now,
        ));
        match outcome {
            Outcome::Healthy => {
                r.health.ready = true;
                r.health.healthy = Some(true);
                r.health.status = None;
                tracing::info!(
                    "{}'s new instance is ready (health check passed)",
                    p.spec.name
                );
                self.handover(idx, now, out);
            }
            Outcome::NotCounted(why) => {
                tracing::debug!("{}'s new instance: probe not counted ({why})", p.spec.name);
                r.health.status = Some(why)
            }
            Outcome::Unhealthy(why) => r.health.status = Some(why),
            Outcome::TimedOut => {
                r.health.status = Some(format!("no answer within {}", fmt_duration(h.timeout)))
            }
        }
    }

    /// The reload's new instance sent a notification (its own socket: the
    /// sender is exact).
    pub(super) fn reload_notice(
        &mut self,
        idx: ProcId,
        notice: Notice,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let watchdog = self.procs[idx].watchdog();
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let Some(r) = p.reload.as_mut() else { return };
        if !matches!(r.state, State::Running { .. }) {
            return;
        }
        match notice {
            Notice::Ready if r.stage == Stage::Starting => {
                tracing::info!("{name}'s new instance is ready (READY=1)");
                r.health.ready = true;
                r.health.healthy = Some(true);
                r.health.watchdog_deadline = watchdog.map(|w| now + w);
                self.handover(idx, now, out);
            }
            Notice::Status(s) => r.health.status = Some(s),
            _ => {}
        }
    }

    /// The reload's new instance uses more than its memory limit (polling).
    pub(super) fn reload_over_memory(
        &mut self,
        idx: ProcId,
        bytes: u64,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &self.procs[idx];
        if p.reload.as_ref().map(|r| &r.stage) != Some(&Stage::Starting) {
            return;
        }
        let why = format!(
            "{}'s new instance used {}, over its memory limit of {}; {}",
            p.spec.name,
            format_size_approx(bytes),
            format_size(p.spec.limits.memory.unwrap_or(0)),
            self.old_keeps_serving(idx)
        );
        self.abandon_reload(idx, ReloadResult::Failed, why, now, out);
    }

    /// The reload's deadlines that are due: the new instance's readiness
    /// (`ready_timeout`), its next probe, the second instance's SIGKILL.
    pub(super) fn reload_deadlines(&mut self, idx: ProcId, now: Instant, out: &mut Vec<Action>) {
        let keeps = self.old_keeps_serving(idx);
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let (timeout, kill_after) = (p.spec.ready_timeout, p.spec.stop_timeout);
        let exec_timeout = p.spec.health.as_ref().and_then(|h| match h.check {
            HealthCheck::Exec { .. } => Some(h.timeout),
            _ => None,
        });
        let Some(r) = p.reload.as_mut() else { return };
        if let State::Stopping {
            pid,
            ref mut killed,
            kill_at,
            ..
        } = r.state
        {
            if !*killed && kill_at <= now {
                *killed = true;
                tracing::warn!(
                    "{name}'s {} instance did not stop within {}: SIGKILL",
                    if r.stage == Stage::Retiring {
                        "old"
                    } else {
                        "new"
                    },
                    fmt_duration(kill_after)
                );
                out.push(Action::Signal {
                    idx,
                    pid,
                    sig: nix::sys::signal::Signal::SIGKILL,
                });
            }
            return;
        }
        if r.stage != Stage::Starting {
            return;
        }
        if r.ready_by <= now {
            let last = r
                .health
                .status
                .as_ref()
                .map(|s| format!(" (last check: {s})"))
                .unwrap_or_default();
            let why = format!(
                "{name}'s new instance was not ready within its ready_timeout of {}{last}; {keeps}",
                fmt_duration(timeout)
            );
            return self.abandon_reload(idx, ReloadResult::NotReady, why, now, out);
        }
        if let (State::Running { .. }, Some(t), false) =
            (&r.state, r.health.next_probe, r.health.probing)
        {
            if t <= now {
                r.health.probing = true;
                r.health.probe_started = Some(now);
                out.push(Action::Probe { idx, run: r.run });
                if let Some(limit) = exec_timeout {
                    self.probe_timeouts.push((idx, r.run, now + limit));
                }
            }
        }
    }

    /// The earliest deadline of process `idx`'s reload, if it has one.
    pub(super) fn reload_deadline(&self, idx: ProcId) -> Option<Instant> {
        let r = self.procs[idx].reload.as_ref()?;
        match r.state {
            State::Stopping {
                kill_at,
                killed: false,
                ..
            } => Some(kill_at),
            State::Stopping { .. } => None,
            _ if r.stage != Stage::Starting => None,
            State::Running { .. } if !r.health.probing => Some(
                r.health
                    .next_probe
                    .map_or(r.ready_by, |t| t.min(r.ready_by)),
            ),
            _ => Some(r.ready_by),
        }
    }
}
