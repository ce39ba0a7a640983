//! The words between the core and the event loop: what happened ([`Event`]),
//! what to do ([`Action`]) and what the metrics should hear ([`Observation`]).

use crate::snapshot::{ExitReason, HealthResult, JobResult, ReloadResult};
use crate::supervisor::ids::{ProcId, RunId};
use crate::supervisor::signal_event::{ShutdownEvent, SignalEvent};
use crate::sys::reap::ExitStatus;
use nix::sys::signal::Signal;
use std::time::Duration;

/// What a health probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    Unhealthy(String),
    TimedOut,
    /// During a reload: another instance (or nobody yet) accepted the
    /// probe's connection, so it says nothing of this one.
    NotCounted(String),
}

/// What a process said over its NOTIFY_SOCKET (systemd's sd_notify protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Ready,
    Stopping,
    Status(String),
    Watchdog,
}

/// A request from `oxinit restart|stop|start NAME`.
pub use crate::verb::Verb as Command;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The event loop started process `idx` as `pid`. `polled`: its memory
    /// is measured, or its cgroup's OOM counter read, on the memory poll
    /// (a limit without a cgroup, or a cgroup without an OOM watch).
    Started {
        idx: ProcId,
        run: RunId,
        pid: i32,
        polled: bool,
    },
    /// Process `idx` could not be started; `code` is 126/127. `permanent`:
    /// starting it again cannot help (not found, not executable, no cwd).
    SpawnFailed {
        idx: ProcId,
        run: RunId,
        code: i32,
        reason: String,
        permanent: bool,
    },
    /// The reaper collected `pid`; `oom` when its cgroup saw an OOM kill.
    Exited {
        pid: i32,
        status: ExitStatus,
        oom: bool,
    },
    /// TERM, INT or QUIT arrived: stop everything (classified at the edge,
    /// see [`SignalEvent`](crate::supervisor::signal_event::SignalEvent)).
    Shutdown(ShutdownEvent),
    /// Another catchable signal arrived: pass it on to the running processes.
    Forward(Signal),
    /// A health probe of run `run` of process `idx` answered.
    Probe {
        idx: ProcId,
        run: RunId,
        outcome: Outcome,
        took: Duration,
    },
    /// Run `run` of process `idx` sent a notification.
    Notify {
        idx: ProcId,
        run: RunId,
        notice: Notice,
    },
    /// Run `run` of process `idx` uses `bytes`, over its limit (polling mode).
    OverMemory { idx: ProcId, run: RunId, bytes: u64 },
    /// A control request, answered by an [`Action::Reply`] with the same id.
    Control {
        id: u64,
        command: Command,
        name: String,
    },
    /// The `when` conditions of run `run` of process `idx` were checked
    /// (see [`Action::Check`]): `Ok(None)` they hold, `Ok(Some(why))` one
    /// does not, `Err` one could not be checked.
    Checked {
        idx: ProcId,
        run: RunId,
        verdict: Result<Option<String>, String>,
    },
    /// Time passed: act on every deadline that is due.
    Tick,
}

impl Event {
    /// The core's event for a classified signal; None for SIGCHLD (the
    /// loop reaps) and for signals nobody acts on.
    pub fn from_signal(signal: SignalEvent) -> Option<Event> {
        match signal {
            SignalEvent::Shutdown(request) => Some(Event::Shutdown(request)),
            SignalEvent::Forward(sig) => Some(Event::Forward(sig)),
            SignalEvent::Child | SignalEvent::Ignore => None,
        }
    }
}

/// Facts for the metrics; the supervisor does not depend on who listens.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Exited {
        idx: ProcId,
        reason: ExitReason,
        code: i32,
    },
    Restarted {
        idx: ProcId,
    },
    Health {
        idx: ProcId,
        result: HealthResult,
        took: Duration,
    },
    OneshotFinished {
        idx: ProcId,
        took: Duration,
    },
    JobRun {
        idx: ProcId,
        result: JobResult,
    },
    /// An `oxinit reload` ended.
    Reloaded {
        idx: ProcId,
        result: ReloadResult,
    },
}

/// What the event loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start run `run` of process `idx`; answer with Started or SpawnFailed.
    Spawn {
        idx: ProcId,
        run: RunId,
    },
    /// Check the `when` conditions of process `idx` before run `run`, off
    /// the supervisor's thread (a path on a hung mount never answers);
    /// answer with Event::Checked, then Spawn follows if they hold.
    Check {
        idx: ProcId,
        run: RunId,
    },
    /// Signal the whole process group of process `idx`, which runs as
    /// `pid` (not reaped yet, so the pid is still its own).
    Signal {
        idx: ProcId,
        pid: i32,
        sig: Signal,
    },
    /// SIGCONT to the members of process group `pid` that are stopped, so
    /// they can act on the stop signal just sent; a running one gets none.
    Continue {
        idx: ProcId,
        pid: i32,
    },
    /// Run the health probe of process `idx` (answer with Event::Probe).
    Probe {
        idx: ProcId,
        run: RunId,
    },
    /// The exec probe of run `run` of process `idx` outlived its timeout:
    /// kill it (its answer, TimedOut, comes when it is reaped).
    KillProbe {
        idx: ProcId,
        run: RunId,
    },
    /// Measure memory (answer with Event::OverMemory) and read the OOM
    /// counters that have no watch.
    PollMemory,
    /// Answer control request `id`.
    Reply {
        id: u64,
        result: Result<String, String>,
    },
    /// Answer control request `id` with a run's exit code (`oxinit start
    /// ONESHOT` ends with it).
    ReplyExit {
        id: u64,
        code: i32,
        message: String,
    },
    Record(Observation),
    /// Every process is stopped: sweep the leftovers and exit with `code`.
    Finish {
        code: i32,
    },
}
