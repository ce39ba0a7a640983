//! The state of one process, as the supervisor sees it.
//!
//! Its states change only through [`Process::transition`], by the table in
//! [`super::transitions`] (README.md shows it as a diagram).
//!
//! Only `Running` and `Stopping` hold a pid: a pid is signalled only while it is
//! in one of them, i.e. before the reaper has collected it (an unreaped pid
//! cannot be reused).

use super::backoff::Backoff;
use super::ids::{ProcId, RunId};
use crate::config::{HealthCheck, Kind, ProcessSpec};
pub use crate::snapshot::ExitReason;
use crate::snapshot::ProcessState;
use crate::snapshot::ReloadResult;
use crate::sys::reap::ExitStatus;
use std::ops::{Index, IndexMut};
use std::time::Duration;
use tokio::time::Instant;

/// Why a process is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The ordered shutdown reached it.
    Shutdown,
    /// A oneshot or job outlived its `timeout`.
    Timeout,
    /// Its health check failed `retries` times in a row (or its watchdog expired).
    Health,
    /// It used more memory than its limit (polling mode).
    Memory,
    /// `oxinit restart NAME`: start it again as soon as it is gone.
    Restart,
    /// `oxinit stop NAME`: it stays stopped until `oxinit start NAME`.
    Manual,
    /// `oxinit reload NAME`: the old instance after the handover, or a new
    /// one that did not become ready.
    Reload,
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
        /// When it started (its uptime runs from here).
        since: Instant,
        /// When it was asked to stop (the stop's own length runs from here).
        asked: Instant,
        kill_at: Instant,
        killed: bool,
        cause: StopCause,
    },
    /// A job between two runs (the next one is `Process::next_run`).
    Scheduled,
    /// Finished and stays so: a oneshot that succeeded, a service that was
    /// stopped at shutdown or is not restarted.
    Exited {
        status: ExitStatus,
    },
    /// Gave up: a oneshot that failed, a crash-looping service.
    Failed {
        status: ExitStatus,
    },
    /// A oneshot whose `when` did not hold: it never ran, and what depends
    /// on it starts as if it had succeeded (`Health::status` says why).
    Skipped,
    /// Stopped by `oxinit stop`; stays so until `oxinit start`.
    Stopped,
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

    /// How the outside sees this state (before health tells a running
    /// process apart, see `picture`).
    pub fn status(&self) -> ProcessState {
        match self {
            State::Waiting => ProcessState::Waiting,
            State::Starting => ProcessState::Starting,
            State::Running { .. } => ProcessState::Running,
            State::Backoff { .. } => ProcessState::Backoff,
            State::Stopping { .. } => ProcessState::Stopping,
            State::Scheduled => ProcessState::Scheduled,
            State::Exited { .. } => ProcessState::Exited,
            State::Failed { .. } => ProcessState::Failed,
            State::Skipped => ProcessState::Skipped,
            State::Stopped => ProcessState::Stopped,
            State::Cancelled => ProcessState::NotStarted,
        }
    }

    /// A short word for logs and status.
    pub fn word(&self) -> &'static str {
        self.status().as_str()
    }
}

/// Readiness and health of the current run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// Passed its first check (or sent READY=1); dependents may start.
    pub ready: bool,
    /// None until the first check.
    pub healthy: Option<bool>,
    /// Consecutive failed checks.
    pub failures: u32,
    /// When the next probe is due (probe-type checks).
    pub next_probe: Option<Instant>,
    /// A probe was asked for and has not answered yet.
    pub probing: bool,
    /// When the last probe was asked for (the next one is timed from it).
    pub probe_started: Option<Instant>,
    /// Probes answered before the first success (the quick readiness ones).
    pub readiness_probes: u32,
    /// When a failure before the first success last counted toward retries.
    pub last_counted: Option<Instant>,
    /// STATUS= from sd_notify, or the last failure.
    pub status: Option<String>,
    /// Notify watchdog: unhealthy unless WATCHDOG=1 arrives before this.
    pub watchdog_deadline: Option<Instant>,
}

/// How the last run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastExit {
    pub status: ExitStatus,
    pub reason: ExitReason,
    pub at: Instant,
}

/// One process: its settings, its state and its history.
#[derive(Debug, Clone)]
pub struct Process {
    pub spec: ProcessSpec,
    pub kind: Kind,
    pub state: State,
    pub backoff: Backoff,
    /// Restarts so far (not counting the first start).
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    /// The last non-zero exit code of any run (126/127 for a failed start).
    pub last_failure: Option<i32>,
    /// Counts the runs (every spawn asked for, the failed ones too); probe
    /// and notify results name the run they belong to, so a late answer
    /// about a previous run is ignored.
    pub run: RunId,
    pub health: Health,
    /// Jobs: when the next run is due.
    pub next_run: Option<Instant>,
    /// Stopped by `oxinit stop`: never restarted until `oxinit start`.
    pub held: bool,
    /// A control request answered once this process has started/stopped.
    pub pending_reply: Option<u64>,
    /// This run needs the memory poll (see `Event::Started`).
    pub memory_polled: bool,
    /// A spawn succeeded once: it has run (`run` counts the attempts).
    pub ran: bool,
    /// The last run number handed out (a reload's new instance takes one).
    pub issued: RunId,
    /// `oxinit reload` under way: the second instance.
    pub reload: Option<Reload>,
}

impl Process {
    pub fn new(spec: ProcessSpec) -> Process {
        Process {
            kind: spec.kind(),
            spec,
            state: State::Waiting,
            backoff: Backoff::default(),
            restarts: 0,
            last_exit: None,
            last_failure: None,
            run: RunId::default(),
            health: Health::default(),
            next_run: None,
            held: false,
            pending_reply: None,
            memory_polled: false,
            ran: false,
            issued: RunId::default(),
            reload: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// oxinit's exit code when this process has failed (crash-loop cutoff,
    /// health, a failed oneshot): its last non-zero code, else 1. A service
    /// crash-looping with exit 0 must not end the container with 0, which
    /// Docker's and Fly's `on-failure` read as success and do not restart.
    pub fn failure_code(&self) -> i32 {
        self.last_failure.unwrap_or(1)
    }

    /// A oneshot that is done for its dependents: it succeeded, or its
    /// `when` did not hold and it was skipped.
    pub fn done(&self) -> bool {
        match self.state {
            State::Exited { status } => status.success(),
            State::Skipped => true,
            _ => false,
        }
    }

    /// True when its readiness comes from probes the supervisor schedules.
    pub fn probed(&self) -> bool {
        matches!(
            self.spec.health.as_ref().map(|h| &h.check),
            Some(
                HealthCheck::Http { .. }
                    | HealthCheck::Tcp { .. }
                    | HealthCheck::Exec { .. }
                    | HealthCheck::Mount { .. }
            )
        )
    }

    /// Ready for its dependents and for /health: running, and healthy where checked.
    pub fn ready(&self) -> bool {
        matches!(self.state, State::Running { .. })
            && (self.spec.health.is_none() || self.health.ready)
    }

    /// The watchdog period of a notify check, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        match self.spec.health.as_ref().map(|h| &h.check) {
            Some(HealthCheck::Notify { watchdog }) => *watchdog,
            _ => None,
        }
    }
}

/// The snapshot's word for an oxfile `kind`.
pub fn kind_word(kind: Kind) -> crate::snapshot::Kind {
    match kind {
        Kind::Service => crate::snapshot::Kind::Service,
        Kind::Oneshot => crate::snapshot::Kind::Oneshot,
        Kind::Job => crate::snapshot::Kind::Job,
    }
}

impl Index<ProcId> for Vec<Process> {
    type Output = Process;
    fn index(&self, id: ProcId) -> &Process {
        &self[id.0]
    }
}

impl IndexMut<ProcId> for Vec<Process> {
    fn index_mut(&mut self, id: ProcId) -> &mut Process {
        &mut self[id.0]
    }
}

impl Index<ProcId> for [Process] {
    type Output = Process;
    fn index(&self, id: ProcId) -> &Process {
        &self[id.0]
    }
}

/// Where a reload is.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// The second instance is the new one: waiting for it to be ready.
    Starting,
    /// The new one serves; the second instance is the old one, stopping.
    Retiring,
    /// The new one is stopped because the reload failed: how and why.
    Abandoned { result: ReloadResult, why: String },
}

/// A reload under way: the process's second instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    pub stage: Stage,
    /// The second instance's state.
    pub state: State,
    /// The second instance's run (probe answers and notices name it).
    pub run: RunId,
    pub health: Health,
    /// The second instance needs the memory poll.
    pub memory_polled: bool,
    /// The new instance must be ready by then (its `ready_timeout`).
    pub ready_by: Instant,
    /// The control request answered when the reload is done.
    pub reply: Option<u64>,
}

impl Reload {
    /// The second instance's pid, while it may be signalled.
    pub fn pid(&self) -> Option<i32> {
        self.state.pid()
    }
}
