//! `oxinit reload NAME` in the core: while it runs, a service has a second
//! instance ([`Reload`](crate::supervisor::process::Reload)).
//!
//! The process's own `state` is always the instance that serves (the old
//! one until the new one is ready, the new one after), so everything that
//! reads it — readiness, dependents, /health, forwarded signals — keeps
//! meaning what it meant. The [`Reload`] holds the other instance: first
//! the new one, starting; after the handover the old one, stopping. Its
//! state changes through the same table (`transitions`) as the process's.
//!
//! What else happens during a reload:
//! - the new instance is not ready within `ready_timeout`, exits, or cannot
//!   be spawned: it is stopped, the old one keeps serving untouched, and the
//!   client gets 1 with the reason;
//! - the old instance ends by itself before the handover: the reload is
//!   given up (the new one stopped) and the process goes through its
//!   restart policy, as any exit; stopped for its health or memory but
//!   not gone yet when the new one is ready, it is replaced all the same;
//! - `oxinit stop NAME` before the handover gives the reload up and stops
//!   the old one as usual; after it, it stops the new one (the old one is
//!   stopping already);
//! - `oxinit restart`/`start`/`reload` of it are refused until it is done;
//! - a shutdown gives up a reload before its handover; either instance is
//!   stopped with the process's stop level, and the shutdown waits for both;
//! - the old instance's exit after the handover is the reload's end: it is
//!   not an exit of the process (no restart, no exit reason, no failure).

use super::{fmt_duration, Action, Observation, Phase, Supervisor};
use crate::config::{HealthCheck, Kind};
use crate::snapshot::ReloadResult;
use crate::supervisor::ids::{ProcId, RunId};
use crate::supervisor::process::{Health, Reload, Stage, State, StopCause};
use crate::supervisor::transitions::{change, Why};
use crate::sys::reap::ExitStatus;
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

    /// The new instance is ready: it becomes the process's instance, and the
    /// old one gets its single stop signal (SIGKILL at its stop_timeout).
    pub(super) fn handover(&mut self, idx: ProcId, now: Instant, out: &mut Vec<Action>) {
        if self.phase != Phase::Running {
            let why = "oxinit is shutting down".to_string();
            return self.abandon_reload(idx, ReloadResult::Aborted, why, now, out);
        }
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let health = p.spec.health.clone();
        let Some(r) = p.reload.as_mut() else { return };
        // The old one may be stopping already, for its health or memory:
        // the new one takes over all the same, and no restart is needed.
        let (State::Running { pid, since }, old @ (State::Running { .. } | State::Stopping { .. })) =
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
    pub(super) fn stop_second(&mut self, idx: ProcId, now: Instant, out: &mut Vec<Action>) {
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
    pub(super) fn old_keeps_serving(&self, idx: ProcId) -> String {
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
}
