//! Starting what is ready: level by level in boot order, each process once
//! its dependencies are met; jobs get their first run time instead.

use super::condition::launch;
use super::{fmt_duration, Action, Phase, Supervisor};
use crate::config::Kind;
use crate::supervisor::ids::ProcId;
use crate::supervisor::process::State;
use crate::supervisor::transitions::Why;
use tokio::time::Instant;

impl Supervisor {
    pub(super) fn started(
        &mut self,
        idx: ProcId,
        pid: i32,
        polled: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        p.transition(State::Running { pid, since: now }, Why::Spawned);
        p.memory_polled = polled;
        p.ran = true;
        p.health = Default::default();
        if p.probed() {
            // The first probe right away: see `cadence`.
            p.health.next_probe = Some(now);
        }
        tracing::info!("started {} (pid {pid})", p.spec.name);
        // `oxinit start ONESHOT` is answered when the run ends, with its code.
        let waits = p.kind == Kind::Oneshot;
        if let Some(id) = p.pending_reply.take_if(|_| !waits) {
            out.push(Action::Reply {
                id,
                result: Ok(format!("{} started (pid {pid})", p.spec.name)),
            });
        }
        self.arm_memory_poll(now);
    }

    /// Starts whatever is ready; moves the shutdown along, level by level.
    pub(super) fn advance(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Running => self.start_ready(now, out),
            Phase::ShuttingDown { .. } => self.stop_next_level(now, out),
            Phase::Finished => {}
        }
    }

    /// Starts every process whose dependencies are met; notes the end of boot.
    fn start_ready(&mut self, now: Instant, out: &mut Vec<Action>) {
        for level in 0..self.start_levels.len() {
            for i in 0..self.start_levels[level].len() {
                let idx = self.start_levels[level][i];
                if self.procs[idx].state != State::Waiting || !self.deps_met(idx) {
                    continue;
                }
                if self.procs[idx].kind == Kind::Job {
                    let next = self.next_cron(idx, now);
                    let p = &mut self.procs[idx];
                    p.transition(State::Scheduled, Why::FirstRun);
                    p.next_run = next;
                    match next {
                        Some(t) => tracing::info!(
                            "job {} scheduled ({}), first run in {}",
                            p.spec.name,
                            p.spec.schedule.as_ref().map(|s| s.as_str()).unwrap_or(""),
                            fmt_duration(t - now)
                        ),
                        None => tracing::warn!(
                            "job {} has no future run time: it will never run",
                            p.spec.name
                        ),
                    }
                } else {
                    let p = &mut self.procs[idx];
                    if let Some(run) = p.begin_run(Why::DepsMet) {
                        out.push(launch(idx, run, p));
                    }
                }
            }
        }
        if !self.boot_done && self.all_up() {
            self.boot_done = true;
            tracing::info!("boot finished: every service is ready");
        }
    }

    /// Every oneshot succeeded (or was skipped) and every service is ready.
    fn all_up(&self) -> bool {
        self.procs.iter().all(|p| match p.kind {
            Kind::Oneshot => p.done(),
            Kind::Service => p.ready(),
            Kind::Job => true,
        })
    }

    /// A dependency is met when a oneshot succeeded or was skipped, or a
    /// service is ready.
    pub(super) fn deps_met(&self, idx: ProcId) -> bool {
        self.deps[idx.0].iter().all(|&d| {
            let dep = &self.procs[d];
            match dep.kind {
                Kind::Oneshot => dep.done(),
                _ => dep.ready(),
            }
        })
    }
}
