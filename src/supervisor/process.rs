//! The state of one process, as the supervisor sees it.
//!
//! ```text
//!  Waiting ──deps met──▶ Starting ──spawned──▶ Running ──exit──▶ Backoff ──delay──▶ Starting
//!     │                     │                     │  └──stop──▶ Stopping ──exit──▶ Exited
//!     └──shutdown──▶ Cancelled                    └──exit, no restart──▶ Exited / Failed
//! ```
//! Only `Running` and `Stopping` hold a pid: a pid is signalled only while it is
//! in one of them, i.e. before the reaper has collected it (an unreaped pid
//! cannot be reused).

use super::backoff::Backoff;
use crate::config::ProcessSpec;
use crate::sys::reap::ExitStatus;
use tokio::time::Instant;

/// Why a process is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The ordered shutdown reached it.
    Shutdown,
    /// A oneshot outlived its `timeout`: when it is gone, boot fails.
    Timeout,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not started yet: its dependencies are not met.
    Waiting,
    /// A spawn was asked for; the event loop reports Started or SpawnFailed.
    Starting,
    Running {
        pid: i32,
        since: Instant,
    },
    /// Ended; starts again at `until`.
    Backoff {
        until: Instant,
    },
    /// Got its stop signal; SIGKILL at `kill_at` unless it is gone by then.
    Stopping {
        pid: i32,
        since: Instant,
        kill_at: Instant,
        killed: bool,
        cause: StopCause,
    },
    /// Finished and stays so: a oneshot that succeeded, a service that was
    /// stopped or is not restarted.
    Exited {
        status: ExitStatus,
    },
    /// Gave up: a oneshot that failed, a crash-looping service.
    Failed {
        status: ExitStatus,
    },
    /// Never started, or its restart was cancelled by the shutdown.
    Cancelled,
}

impl State {
    /// The pid that may be signalled, if any.
    pub fn pid(&self) -> Option<i32> {
        match *self {
            State::Running { pid, .. } | State::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// A short word for logs and status.
    pub fn word(&self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running { .. } => "running",
            State::Backoff { .. } => "backoff",
            State::Stopping { .. } => "stopping",
            State::Exited { .. } => "exited",
            State::Failed { .. } => "failed",
            State::Cancelled => "not started",
        }
    }
}

/// One process: its settings, its state and its history.
#[derive(Debug, Clone)]
pub struct Process {
    pub spec: ProcessSpec,
    pub state: State,
    pub backoff: Backoff,
    /// Restarts so far (not counting the first start).
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
}

impl Process {
    pub fn new(spec: ProcessSpec) -> Process {
        Process {
            spec,
            state: State::Waiting,
            backoff: Backoff::default(),
            restarts: 0,
            last_exit: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
}
