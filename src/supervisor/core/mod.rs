//! The supervisor's logic as a pure function: `handle(event, now) → actions`.
//!
//! It owns the state of every process and decides what happens next; it never
//! touches a process itself. The event loop (`event_loop/`) turns signals,
//! reaped children, probe answers, control requests and deadlines into
//! [`Event`]s and carries out the returned [`Action`]s, which carry what it
//! needs (the run to spawn, the pid to signal). Every deadline lives in the
//! state (backoff end, stop timeout, oneshot timeout, next probe, an exec
//! probe's timeout, watchdog, next job run, the memory poll, shutdown cap), so
//! the loop only asks [`Supervisor::next_deadline`] and there are no timers to
//! cancel. States change only through the table in `transitions`. Unit tests
//! drive it with explicit instants.
//!
//! One concept a file:
//! - [`events`]: the events in, the actions out, the observations;
//! - `start`: starting what is ready, level by level, and the boot's end;
//! - `exits`: what a process's end means (restart, backoff, give up, abort);
//! - `health`: probe answers, sd_notify notices, memory over its limit;
//! - `condition`: `when`, checked before a start, and a skip;
//! - `control`: `oxinit restart|stop|start|reload NAME`;
//! - `reload`: a reload's second instance, from its start to the handover
//!   and the old one's end (and what a stop, a shutdown or a crash does
//!   meanwhile); `reload_ready`: the new one's readiness and the deadlines;
//! - `deadlines`: every timer of the system, and acting on the due ones;
//! - `shutdown`: signals, stopping one process, the ordered shutdown.

mod condition;
mod control;
mod deadlines;
pub mod events;
mod exits;
mod health;
mod reload;
mod reload_ready;
mod shutdown;
mod start;

pub use events::{Action, Command, Event, Notice, Observation, Outcome};

use super::process::Process;
use crate::config::{Config, InitSettings};
use crate::supervisor::ids::{ProcId, RunId};
use std::time::SystemTime;
use tokio::time::Instant;

/// Why the shutdown started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// TERM/INT/QUIT: exit 0, or 137 if something had to be SIGKILLed.
    Requested,
    /// A oneshot or critical service failed: exit with its code.
    Failed(i32),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Running,
    /// Stopping `stop_levels[level]`; everything is SIGKILLed at `deadline`.
    ShuttingDown {
        cause: Cause,
        level: usize,
        deadline: Instant,
    },
    Finished,
}

/// The whole system: every process plus the boot/shutdown phase.
#[derive(Debug)]
pub struct Supervisor {
    procs: Vec<Process>,
    /// Indices of processes, level by level, in boot order.
    start_levels: Vec<Vec<ProcId>>,
    deps: Vec<Vec<ProcId>>,
    init: InitSettings,
    phase: Phase,
    /// Boot finished once (latched: a later crash does not make it "booting").
    boot_done: bool,
    /// Something got SIGKILL during the shutdown.
    killed_any: bool,
    /// Every process was SIGKILLed at once: the sweep gets no grace either.
    hurried: bool,
    /// Exec probes that are running, and when each is killed.
    probe_timeouts: Vec<(ProcId, RunId, Instant)>,
    /// The next memory poll, while a process runs that needs one.
    memory_poll: Option<Instant>,
    /// The wall clock at `mono0`, to place cron times on the monotonic clock.
    wall0: SystemTime,
    mono0: Instant,
}

impl Supervisor {
    pub fn new(config: &Config, now: Instant, wall: SystemTime) -> Supervisor {
        let indices = config.indices();
        let index = |name: &str| ProcId(*indices.get(name).expect("plan names a known process"));
        let plan = crate::config::plan::plan(config);
        let start_levels = plan
            .start_levels
            .iter()
            .map(|lvl| lvl.iter().map(|n| index(n)).collect())
            .collect();
        // `depends_on` plus the edges replicators imply, as the plan has them.
        let deps = crate::config::replicator::dependencies(&config.processes)
            .into_iter()
            .map(|d| d.into_iter().map(ProcId).collect())
            .collect();
        Supervisor {
            procs: config.processes.iter().cloned().map(Process::new).collect(),
            start_levels,
            deps,
            init: config.init.clone(),
            phase: Phase::Running,
            boot_done: false,
            killed_any: false,
            hurried: false,
            probe_timeouts: Vec::new(),
            memory_poll: None,
            wall0: wall,
            mono0: now,
        }
    }

    pub fn processes(&self) -> &[Process] {
        &self.procs
    }

    /// The pid of process `idx`, while it may be signalled.
    #[cfg(test)]
    pub fn pid(&self, idx: ProcId) -> Option<i32> {
        self.procs[idx].state.pid()
    }

    /// The process running as `pid` (not an adopted orphan).
    pub fn owner(&self, pid: i32) -> Option<ProcId> {
        self.procs
            .iter()
            .position(|p| p.state.pid() == Some(pid))
            .map(ProcId)
    }

    /// The process whose reload's second instance runs as `pid`.
    pub fn second_owner(&self, pid: i32) -> Option<ProcId> {
        self.procs
            .iter()
            .position(|p| p.reload.as_ref().and_then(|r| r.pid()) == Some(pid))
            .map(ProcId)
    }

    /// The process named `name`.
    pub fn find(&self, name: &str) -> Option<ProcId> {
        self.procs.iter().position(|p| p.name() == name).map(ProcId)
    }

    /// True once everything was SIGKILLed at once (second signal, shutdown cap).
    pub fn hurried(&self) -> bool {
        self.hurried
    }

    /// True once boot has finished: every oneshot succeeded and every service
    /// was ready at the same time.
    pub fn booted(&self) -> bool {
        self.boot_done
    }

    /// Where the whole system is, as the outside sees it.
    pub fn phase(&self) -> crate::snapshot::Phase {
        use crate::snapshot::Phase as Seen;
        match self.phase {
            Phase::Running if self.boot_done => Seen::Running,
            Phase::Running => Seen::Booting,
            Phase::ShuttingDown { .. } => Seen::Stopping,
            Phase::Finished => Seen::Stopped,
        }
    }

    /// The wall-clock time of a monotonic instant.
    pub fn wall(&self, t: Instant) -> SystemTime {
        match t.checked_duration_since(self.mono0) {
            Some(d) => self.wall0 + d,
            None => self.wall0 - (self.mono0 - t),
        }
    }

    /// Handles one event; returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Started {
                idx,
                run,
                pid,
                polled,
            } => match self.is_reload_run(idx, run) {
                true => self.reload_started(idx, pid, polled, now, &mut out),
                false => self.started(idx, pid, polled, now, &mut out),
            },
            Event::SpawnFailed {
                idx,
                run,
                code,
                reason,
                permanent,
            } => match self.is_reload_run(idx, run) {
                true => self.reload_spawn_failed(idx, &reason, &mut out),
                false => self.spawn_failed(idx, code, &reason, permanent, now, &mut out),
            },
            Event::Exited { pid, status, oom } => {
                if let Some(idx) = self.owner(pid) {
                    self.ended(idx, status, oom, now, &mut out);
                } else if let Some(idx) = self.second_owner(pid) {
                    self.reload_instance_ended(idx, status, now, &mut out);
                }
            }
            Event::Shutdown(request) => self.on_shutdown_request(request, now, &mut out),
            Event::Forward(sig) => self.forward(sig, &mut out),
            Event::Probe {
                idx,
                run,
                outcome,
                took,
            } => match self.is_reload_run(idx, run) {
                true => self.reload_probe(idx, outcome, took, now, &mut out),
                false => self.on_probe(idx, run, outcome, took, now, &mut out),
            },
            Event::Notify { idx, run, notice } => match self.is_reload_run(idx, run) {
                true => self.reload_notice(idx, notice, now, &mut out),
                false => self.on_notice(idx, run, notice, now),
            },
            Event::OverMemory { idx, run, bytes } => match self.is_reload_run(idx, run) {
                true => self.reload_over_memory(idx, bytes, now, &mut out),
                false => self.over_memory(idx, run, bytes, now, &mut out),
            },
            Event::Control { id, command, name } => {
                self.on_control(id, command, &name, now, &mut out)
            }
            Event::Checked { idx, run, verdict } => self.checked(idx, run, verdict, now, &mut out),
            Event::Tick => {}
        }
        self.on_deadlines(now, &mut out);
        self.advance(now, &mut out);
        out
    }
}

/// "250ms", "1.5s", "2m30s" — for log lines: the units leaf's approximate form.
pub use crate::units::format_duration_approx as fmt_duration;
