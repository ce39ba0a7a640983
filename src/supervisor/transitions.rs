//! Every state change of a process goes through one door,
//! [`Supervisor::transition`](super::core::Supervisor), and this table says
//! which changes there are (after Horust's `service_handler`): a change the
//! table does not have is a bug, refused and logged in a release build and a
//! panic in a debug one (every test). README.md's state diagram is printed
//! from this table and a test keeps the two the same.
//!
//! Changes of a state's own data (a stop's cause, the SIGKILL already sent)
//! are not transitions: the state stays what it was.

use super::ids::RunId;
use super::process::{Process, State};
use std::fmt;

/// A state without its data: what the table speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Waiting,
    Starting,
    Running,
    Backoff,
    Stopping,
    Scheduled,
    Exited,
    Failed,
    Skipped,
    Stopped,
    Cancelled,
}

/// Why a process changes state: the edges' labels in the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its dependencies are met.
    DepsMet,
    /// A job's dependencies are met: it waits for its first run time.
    FirstRun,
    /// The event loop started it.
    Spawned,
    /// A critical service's first start failed in a way no retry can fix.
    CannotStart,
    /// Its stop signal was sent (or SIGKILL, when everything is killed at once).
    Stop,
    /// It ended and stays so (done, not restarted, or stopped by the shutdown).
    Ended,
    /// It ended and failed for good (a oneshot, the crash-loop cutoff).
    GaveUp,
    /// It ended and is restarted after its delay.
    Crashed,
    /// A job's run ended: it waits for the next one.
    RunEnded,
    /// Its restart delay is over.
    DelayOver,
    /// A job's run time came.
    Due,
    /// `oxinit restart`: it stopped and starts again.
    Restarted,
    /// `oxinit start` (or `restart` of something not running).
    StartRequested,
    /// `oxinit stop`.
    StopRequested,
    /// The shutdown began before it ran (again).
    Shutdown,
    /// Its `when` did not hold when it would have started.
    ConditionFalse,
    /// `oxinit reload`: a second instance starts beside the running one.
    Reload,
    /// `oxinit reload`: the new instance is ready and takes the old one's place.
    Handover,
    /// `oxinit reload`: the old instance, stopped after the handover, is gone.
    Replaced,
}

use Step::*;
use Why::*;

/// The states a run can end from: spawned and reaped, or never spawned (a
/// failed spawn counts as an exit with 126/127).
const ENDING: [Step; 3] = [Starting, Running, Stopping];
/// The states `oxinit start` acts on.
const IDLE: [Step; 7] = [
    Waiting, Backoff, Scheduled, Exited, Failed, Skipped, Stopped,
];
/// The states `oxinit stop` acts on without a signal: nothing runs (a
/// spawn asked for is answered before a request can arrive).
const NOT_RUNNING: [Step; 8] = [
    Waiting, Starting, Backoff, Scheduled, Exited, Failed, Skipped, Stopped,
];

/// Every allowed change: from one of `from`, to `to`, because `why`.
pub const TRANSITIONS: &[(&[Step], Step, Why)] = &[
    (&[Waiting], Starting, DepsMet),
    (&[Waiting], Scheduled, FirstRun),
    (&[Starting], Running, Spawned),
    (&[Starting], Failed, CannotStart),
    (&[Running], Stopping, Stop),
    (&ENDING, Exited, Ended),
    (&ENDING, Failed, GaveUp),
    (&ENDING, Backoff, Crashed),
    (&ENDING, Scheduled, RunEnded),
    (&[Backoff], Starting, DelayOver),
    (&[Scheduled], Starting, Due),
    (&[Stopping], Starting, Restarted),
    (&[Stopping], Stopped, StopRequested),
    (&IDLE, Starting, StartRequested),
    (&NOT_RUNNING, Stopped, StopRequested),
    (&[Waiting, Backoff, Scheduled], Cancelled, Shutdown),
    // `when`: checked while Starting, before the spawn (core/condition.rs).
    (&[Starting], Skipped, ConditionFalse),
    (&[Starting], Scheduled, ConditionFalse),
    (&[Starting], Cancelled, Shutdown),
    (&[Waiting], Starting, Reload),
    (&[Running, Stopping], Running, Handover),
    (&[Stopping], Exited, Replaced),
];

/// Whether the table has `from → to` because `why`.
pub fn allowed(from: Step, to: Step, why: Why) -> bool {
    TRANSITIONS
        .iter()
        .any(|(f, t, w)| f.contains(&from) && *t == to && *w == why)
}

impl State {
    /// This state's row and column in the table.
    pub fn step(&self) -> Step {
        match self {
            State::Waiting => Waiting,
            State::Starting => Starting,
            State::Running { .. } => Running,
            State::Backoff { .. } => Backoff,
            State::Stopping { .. } => Stopping,
            State::Scheduled => Scheduled,
            State::Exited { .. } => Exited,
            State::Failed { .. } => Failed,
            State::Skipped => Skipped,
            State::Stopped => Stopped,
            State::Cancelled => Cancelled,
        }
    }
}

impl Process {
    /// The one door: moves this process to `to` because `why`, if the table
    /// has that change. Returns false (and changes nothing) if it does not.
    pub fn transition(&mut self, to: State, why: Why) -> bool {
        change(&self.spec.name, &mut self.state, to, why)
    }

    /// Asks for a new run: to `Starting` because `why`, with the next run
    /// number, which the spawn action carries (the loop never works it out).
    pub fn begin_run(&mut self, why: Why) -> Option<RunId> {
        if !self.transition(State::Starting, why) {
            return None;
        }
        self.run = self.next_run_id();
        Some(self.run)
    }

    /// A run number never used before by this process (a reload's new
    /// instance takes one too, so a failed one's late answers never count
    /// for a later run).
    pub fn next_run_id(&mut self) -> RunId {
        self.issued = self.issued.next();
        self.issued
    }
}

/// The door for any instance's state (a process's own, or a reload's second
/// instance): `state` becomes `to` because `why` if the table has that change.
pub fn change(name: &str, state: &mut State, to: State, why: Why) -> bool {
    let (from, step) = (state.step(), to.step());
    if !allowed(from, step, why) {
        tracing::warn!(
            "{name}: refused state change {from} → {step} ({why}): a bug in oxinit, please report it"
        );
        debug_assert!(false, "{name}: {from} → {step} ({why}) is not in the table");
        return false;
    }
    *state = to;
    true
}

impl Why {
    /// The edge's label in the diagram.
    pub fn label(self) -> &'static str {
        match self {
            DepsMet => "dependencies met",
            FirstRun => "job: dependencies met",
            Spawned => "spawned",
            CannotStart => "critical, cannot start",
            Stop => "stop signal",
            Ended => "ended, not restarted",
            GaveUp => "failed for good",
            Crashed => "ended, restart",
            RunEnded => "job run ended",
            DelayOver => "restart delay over",
            Due => "job due",
            Restarted => "oxinit restart",
            StartRequested => "oxinit start",
            StopRequested => "oxinit stop",
            Shutdown => "shutdown",
            ConditionFalse => "when does not hold",
            Reload => "oxinit reload: a second instance",
            Handover => "oxinit reload: the new instance is ready",
            Replaced => "oxinit reload: the old instance is gone",
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The state diagram, one edge a line, as README.md shows it (the test
/// below checks README.md against it).
#[cfg(test)]
pub fn diagram() -> String {
    let mut out = String::new();
    for (from, to, why) in TRANSITIONS {
        let from: Vec<String> = from.iter().map(Step::to_string).collect();
        out.push_str(&format!("{} ──{why}──▶ {to}\n", from.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README.md's "States of a process" block is this table.
    #[test]
    fn the_readme_diagram_is_the_table() {
        let readme = include_str!("../../README.md");
        let begin = "<!-- states: generated from src/supervisor/transitions.rs -->\n```text\n";
        let start = readme.find(begin).expect("README.md has the states block") + begin.len();
        let end = start + readme[start..].find("```").expect("the block ends");
        assert_eq!(
            &readme[start..end],
            diagram(),
            "README.md's state diagram differs from the table; paste this:\n{}",
            diagram()
        );
    }

    #[test]
    fn the_table_refuses_what_it_does_not_have() {
        assert!(allowed(Waiting, Starting, DepsMet));
        assert!(allowed(Stopping, Exited, Ended));
        assert!(!allowed(Waiting, Running, Spawned), "a spawn comes first");
        assert!(!allowed(Exited, Running, Spawned));
        assert!(!allowed(Running, Starting, Restarted), "stopped first");
        assert!(!allowed(Cancelled, Starting, StartRequested));
    }
}
