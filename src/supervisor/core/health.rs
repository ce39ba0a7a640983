//! Readiness and health: probe answers, sd_notify notices, and memory over
//! its limit (polling mode).

use super::{fmt_duration, Action, Notice, Observation, Outcome, Supervisor};
use crate::snapshot::HealthResult;
use crate::supervisor::ids::{ProcId, RunId};
use crate::supervisor::process::{State, StopCause};
use crate::units::{format_size, format_size_approx};
use std::time::Duration;
use tokio::time::Instant;

impl Supervisor {
    pub(super) fn on_probe(
        &mut self,
        idx: ProcId,
        run: RunId,
        outcome: Outcome,
        took: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        // An answer, however late: its exec probe needs no killing.
        self.probe_timeouts
            .retain(|&(i, r, _)| (i, r) != (idx, run));
        let p = &mut self.procs[idx];
        let (State::Running { since, .. }, true) = (p.state.clone(), p.run == run) else {
            return;
        };
        let Some(h) = p.spec.health.clone() else {
            return;
        };
        p.health.probing = false;
        if let Outcome::NotCounted(why) = &outcome {
            // During a reload: another instance answered. Only the next
            // probe is due.
            let started = p.health.probe_started.unwrap_or(now);
            let (ready, quick) = (p.health.ready, p.health.readiness_probes);
            p.health.next_probe = Some(crate::supervisor::cadence::next_probe(
                &h, ready, quick, started, now,
            ));
            tracing::debug!("{}: probe not counted ({why})", p.spec.name);
            return;
        }
        let result = match outcome {
            Outcome::Healthy => HealthResult::Ok,
            Outcome::Unhealthy(_) => HealthResult::Fail,
            Outcome::TimedOut | Outcome::NotCounted(_) => HealthResult::Timeout,
        };
        out.push(Action::Record(Observation::Health { idx, result, took }));
        let started = p.health.probe_started.unwrap_or(now);
        let ready = p.health.ready || outcome == Outcome::Healthy;
        let quick = p.health.readiness_probes;
        p.health.next_probe = Some(crate::supervisor::cadence::next_probe(
            &h, ready, quick, started, now,
        ));
        let counts = crate::supervisor::cadence::failure_counts(&h, &p.health, since, now);
        if !p.health.ready {
            p.health.readiness_probes += 1;
        }
        match outcome {
            Outcome::Healthy => {
                p.health.failures = 0;
                p.health.healthy = Some(true);
                p.health.status = None;
                if !p.health.ready {
                    p.health.ready = true;
                    tracing::info!("{} is ready (health check passed)", p.spec.name);
                }
            }
            Outcome::Unhealthy(_) | Outcome::TimedOut | Outcome::NotCounted(_) => {
                let why = match &outcome {
                    Outcome::Unhealthy(why) => why.clone(),
                    _ => format!("no answer within {}", fmt_duration(h.timeout)),
                };
                p.health.status = Some(why.clone());
                if !counts {
                    tracing::debug!("{}: not ready yet ({why})", p.spec.name);
                    return;
                }
                if !p.health.ready {
                    p.health.last_counted = Some(now);
                }
                p.health.failures += 1;
                if p.health.failures < h.retries {
                    tracing::warn!(
                        "{}: health check failed ({why}), {} of {}",
                        p.spec.name,
                        p.health.failures,
                        h.retries
                    );
                    return;
                }
                p.health.healthy = Some(false);
                tracing::warn!(
                    "{} is unhealthy: {} consecutive failed checks (last: {why}); restarting it",
                    p.spec.name,
                    p.health.failures
                );
                self.stop(idx, StopCause::Health, now, out);
            }
        }
    }

    pub(super) fn on_notice(&mut self, idx: ProcId, run: RunId, notice: Notice, now: Instant) {
        let watchdog = self.procs[idx].watchdog();
        let p = &mut self.procs[idx];
        if p.run != run || !matches!(p.state, State::Running { .. } | State::Stopping { .. }) {
            return;
        }
        match notice {
            Notice::Ready => {
                if !p.health.ready {
                    tracing::info!("{} is ready (READY=1)", p.spec.name);
                }
                p.health.ready = true;
                p.health.healthy = Some(true);
                p.health.watchdog_deadline = watchdog.map(|w| now + w);
            }
            Notice::Watchdog => {
                p.health.healthy = Some(true);
                p.health.watchdog_deadline = watchdog.map(|w| now + w);
            }
            Notice::Status(s) => p.health.status = Some(s),
            Notice::Stopping => p.health.status = Some("stopping (STOPPING=1)".into()),
        }
    }

    /// Run `run` of process `idx` uses `bytes`, over its limit (polling mode).
    pub(super) fn over_memory(
        &mut self,
        idx: ProcId,
        run: RunId,
        bytes: u64,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &self.procs[idx];
        if p.run == run && matches!(p.state, State::Running { .. }) {
            let limit = p.spec.limits.memory.unwrap_or(0);
            tracing::warn!(
                "{} uses {}, over its memory limit of {}: stopping it",
                p.spec.name,
                format_size_approx(bytes),
                format_size(limit)
            );
            self.stop(idx, StopCause::Memory, now, out);
        }
    }
}
