//! `oxinit reload NAME` in the core: a second instance from its spawn to
//! the handover, then the old instance's stop and end. What a stop, a
//! shutdown or a crash does meanwhile is decided in `supervisor/reload.rs`.

use super::{fmt_duration, Action, Notice, Observation, Outcome, Phase, Supervisor};
use crate::config::{HealthCheck, Kind};
use crate::snapshot::{HealthResult, ReloadResult};
use crate::supervisor::ids::{ProcId, RunId};
use crate::supervisor::process::{Health, State, StopCause};
use crate::supervisor::reload::{Reload, Stage};
use crate::supervisor::transitions::{change, Why};
use crate::sys::reap::ExitStatus;
use crate::units::{format_size, format_size_approx};
use std::time::Duration;
use tokio::time::Instant;

impl Supervisor {
    /// True when `run` is the run of process `idx`'s reload instance.
    pub(super) fn is_reload_run(&self, idx: ProcId, run: RunId) -> bool {
        self.procs[idx]
            .reload
            .as_ref()
            .is_some_and(|r| r.run == run)
    }

    /// `oxinit reload NAME`: a new instance beside the running one, or a
    /// refusal that says what to do instead.
    pub(super) fn request_reload(
        &mut self,
        idx: ProcId,
        id: u64,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let refuse = |why: String, out: &mut Vec<Action>| {
            out.push(Action::Reply {
                id,
                result: Err(why),
            })
        };
        if p.kind != Kind::Service {
            let what = match p.kind {
                Kind::Oneshot => "a oneshot",
                _ => "a job",
            };
            return refuse(
                format!("{name} is {what}: only a service can be reloaded; run it again with `oxinit start {name}`"),
                out,
            );
        }
        let State::Running { pid, .. } = p.state else {
            return refuse(
                format!(
                    "{name} is not running ({}): nothing to reload; start it with `oxinit start {name}`",
                    p.state.word()
                ),
                out,
            );
        };
        let run = p.next_run_id();
        let mut state = State::Waiting;
        if !change(&name, &mut state, State::Starting, Why::Reload) {
            return refuse(format!("{name}: cannot start a second instance"), out);
        }
        tracing::info!(
            "reloading {name}: starting a new instance beside the old one (pid {pid}); it has {} to be ready",
            fmt_duration(p.spec.ready_timeout)
        );
        p.reload = Some(Reload {
            stage: Stage::Starting,
            state,
            run,
            health: Health::default(),
            memory_polled: false,
            ready_by: now + p.spec.ready_timeout,
            reply: Some(id),
        });
        out.push(Action::Spawn { idx, run });
    }

    /// The reload's new instance was spawned as `pid`.
    pub(super) fn reload_started(
        &mut self,
        idx: ProcId,
        pid: i32,
        polled: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let (probed, notify) = (p.probed(), p.spec.health.is_some() && !p.probed());
        let name = p.spec.name.clone();
        let old = p.state.pid();
        let Some(r) = p.reload.as_mut() else { return };
        change(
            &name,
            &mut r.state,
            State::Running { pid, since: now },
            Why::Spawned,
        );
        r.memory_polled = polled;
        r.health = Health::default();
        tracing::info!(
            "started the new instance of {name} (pid {pid}) beside the old one (pid {})",
            old.map_or("-".into(), |p| p.to_string())
        );
        let abandoned = matches!(r.stage, Stage::Abandoned { .. });
        if probed {
            r.health.next_probe = Some(now);
        }
        self.arm_memory_poll(now);
        match (abandoned, probed, notify) {
            (true, _, _) => self.stop_second(idx, now, out),
            // Its probes, or READY=1, make it ready.
            (_, true, _) | (_, _, true) => {}
            // Neither: ready once started.
            _ => self.handover(idx, now, out),
        }
    }

    /// The reload's new instance could not be spawned: the old one serves on.
    pub(super) fn reload_spawn_failed(&mut self, idx: ProcId, reason: &str, out: &mut Vec<Action>) {
        let p = &self.procs[idx];
        let name = p.spec.name.clone();
        let keeps = self.old_keeps_serving(idx);
        let (result, why) = match p.reload.as_ref().map(|r| &r.stage) {
            Some(Stage::Abandoned { result, why }) => (*result, why.clone()),
            _ => (
                ReloadResult::Failed,
                format!("{name}'s new instance could not start: {reason}; {keeps}"),
            ),
        };
        self.finish_reload(idx, result, Err(why), out);
    }

    /// The reload's second instance was reaped.
    pub(super) fn reload_instance_ended(
        &mut self,
        idx: ProcId,
        status: ExitStatus,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let keeps = self.old_keeps_serving(idx);
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let new_pid = p.state.pid();
        let Some(r) = p.reload.as_mut() else { return };
        let asked = match r.state {
            State::Stopping { asked, .. } => Some(now.duration_since(asked)),
            _ => None,
        };
        let why = match r.stage {
            Stage::Retiring => Why::Replaced,
            _ => Why::Ended,
        };
        change(&name, &mut r.state, State::Exited { status }, why);
        let (result, answer) = match r.stage.clone() {
            Stage::Retiring => {
                let took = asked.map(fmt_duration).unwrap_or_default();
                (
                    ReloadResult::Ok,
                    Ok(format!(
                        "{name} reloaded: the new instance (pid {}) serves; the old one stopped ({status}) in {took}",
                        new_pid.map_or("-".into(), |p| p.to_string())
                    )),
                )
            }
            Stage::Starting => (
                ReloadResult::Failed,
                Err(format!(
                    "{name}'s new instance ended ({status}) before it was ready; {keeps}"
                )),
            ),
            Stage::Abandoned { result, why } => (result, Err(why)),
        };
        self.finish_reload(idx, result, answer, out);
    }

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
            Outcome::Unhealthy(why) | Outcome::NotCounted(why) => r.health.status = Some(why),
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

    /// The new instance is ready: it becomes the process's instance, and the
    /// old one gets its single stop signal (SIGKILL at its stop_timeout).
    fn handover(&mut self, idx: ProcId, now: Instant, out: &mut Vec<Action>) {
        if self.phase != Phase::Running {
            let why = "oxinit is shutting down".to_string();
            return self.abandon_reload(idx, ReloadResult::Aborted, why, now, out);
        }
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let health = p.spec.health.clone();
        let Some(r) = p.reload.as_mut() else { return };
        let (State::Running { pid, since }, old @ State::Running { .. }) =
            (r.state.clone(), p.state.clone())
        else {
            return;
        };
        change(
            &name,
            &mut p.state,
            State::Running { pid, since },
            Why::Handover,
        );
        // The old instance moves to the reload's place, in the state it is
        // in: the same instance, not a change of its state.
        r.state = old;
        r.stage = Stage::Retiring;
        std::mem::swap(&mut p.health, &mut r.health);
        std::mem::swap(&mut p.run, &mut r.run);
        std::mem::swap(&mut p.memory_polled, &mut r.memory_polled);
        p.health.ready = true;
        if let Some(h) = &health {
            if matches!(h.check, HealthCheck::Notify { .. }) {
                p.health.next_probe = None;
            }
        }
        r.health = Health::default();
        tracing::info!(
            "{name}: the new instance (pid {pid}) serves; stopping the old one (pid {})",
            r.pid().map_or("-".into(), |p| p.to_string())
        );
        self.stop_second(idx, now, out);
    }

    /// Gives a reload up before its handover: the new instance is stopped
    /// (at once if it runs, as soon as it has started otherwise); the
    /// request is answered when it is gone.
    pub(super) fn abandon_reload(
        &mut self,
        idx: ProcId,
        result: ReloadResult,
        why: String,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let Some(r) = p.reload.as_mut() else { return };
        if r.stage != Stage::Starting {
            return;
        }
        tracing::warn!("{why}");
        r.stage = Stage::Abandoned { result, why };
        r.health.next_probe = None;
        if matches!(r.state, State::Running { .. }) {
            self.stop_second(idx, now, out);
        }
    }

    /// The stop signal to the second instance, once; SIGKILL follows at the
    /// process's stop_timeout.
    fn stop_second(&mut self, idx: ProcId, now: Instant, out: &mut Vec<Action>) {
        let p = &mut self.procs[idx];
        let (name, sig, timeout) = (p.spec.name.clone(), p.spec.stop_signal, p.spec.stop_timeout);
        let Some(r) = p.reload.as_mut() else { return };
        let State::Running { pid, since } = r.state else {
            return;
        };
        let stopping = State::Stopping {
            pid,
            since,
            asked: now,
            kill_at: now + timeout,
            killed: false,
            cause: StopCause::Reload,
        };
        change(&name, &mut r.state, stopping, Why::Stop);
        r.health.next_probe = None;
        out.push(Action::Signal { idx, pid, sig });
        out.push(Action::Continue { idx, pid });
    }

    /// The reload is over: answered, counted, forgotten.
    fn finish_reload(
        &mut self,
        idx: ProcId,
        result: ReloadResult,
        answer: Result<String, String>,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let Some(r) = p.reload.take() else { return };
        match &answer {
            Ok(message) => tracing::info!("{message}"),
            Err(why) => tracing::warn!("reload of {} failed: {why}", p.spec.name),
        }
        if let Some(id) = r.reply {
            out.push(Action::Reply { id, result: answer });
        }
        out.push(Action::Record(Observation::Reloaded { idx, result }));
    }

    /// "the old one (pid 42) keeps serving", for the reasons of a failure.
    fn old_keeps_serving(&self, idx: ProcId) -> String {
        match self.procs[idx].state.pid() {
            Some(pid) => format!("it is stopped and the old one (pid {pid}) keeps serving"),
            None => "the old one is not running either".into(),
        }
    }

    /// The process's own instance ended while its reload waits for the new
    /// one: the reload is given up, and the end goes the usual way.
    pub(super) fn reload_lost_its_old(
        &mut self,
        idx: ProcId,
        status: ExitStatus,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let name = self.procs[idx].spec.name.clone();
        let why = format!(
            "{name}'s old instance ended ({status}) during the reload; the new one is stopped and {name} restarts by its restart policy"
        );
        self.abandon_reload(idx, ReloadResult::Aborted, why, now, out);
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
