//! The words between the core and the event loop: what happened ([`Event`]),
//! what to do ([`Action`]) and what the metrics should hear ([`Observation`]).

use super::super::process::ExitReason;
use crate::sys::reap::ExitStatus;
use std::time::Duration;

/// What a health probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    Unhealthy(String),
    TimedOut,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Restart,
    Stop,
    Start,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The event loop started process `idx` as `pid`.
    Started { idx: usize, pid: i32 },
    /// Process `idx` could not be started; `code` is 126/127. `permanent`:
    /// starting it again cannot help (not found, not executable, no cwd).
    SpawnFailed {
        idx: usize,
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
    /// oxinit received a signal (other than SIGCHLD).
    Signal(i32),
    /// A health probe of run `run` of process `idx` answered.
    Probe {
        idx: usize,
        run: u64,
        outcome: Outcome,
        took: Duration,
    },
    /// Run `run` of process `idx` sent a notification.
    Notify {
        idx: usize,
        run: u64,
        notice: Notice,
    },
    /// Run `run` of process `idx` uses `bytes`, over its limit (polling mode).
    OverMemory { idx: usize, run: u64, bytes: u64 },
    /// A control request, answered by an [`Action::Reply`] with the same id.
    Control {
        id: u64,
        command: Command,
        name: String,
    },
    /// Time passed: act on every deadline that is due.
    Tick,
}

/// Facts for the metrics; the supervisor does not depend on who listens.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Exited {
        idx: usize,
        reason: ExitReason,
        code: i32,
    },
    Restarted {
        idx: usize,
    },
    Health {
        idx: usize,
        result: &'static str,
        took: Duration,
    },
    OneshotFinished {
        idx: usize,
        took: Duration,
    },
    /// result: "success" | "failure" | "timeout" | "skipped".
    JobRun {
        idx: usize,
        result: &'static str,
    },
}

/// What the event loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Spawn(usize),
    /// Signal process `idx`'s whole process group.
    Signal {
        idx: usize,
        sig: i32,
    },
    /// SIGCONT to the members of process `idx`'s group that are stopped, so
    /// they can act on the stop signal just sent; a running one gets none.
    Continue {
        idx: usize,
    },
    /// Run the health probe of process `idx` (answer with Event::Probe).
    Probe {
        idx: usize,
        run: u64,
    },
    /// Answer control request `id`.
    Reply {
        id: u64,
        result: Result<String, String>,
    },
    Record(Observation),
    /// Every process is stopped: sweep the leftovers and exit with `code`.
    Finish {
        code: i32,
    },
}
