//! The words of the snapshot and of the metrics' labels, each enum with its
//! label strings beside it: the JSON of `/status` and the control socket, the
//! label sets of the metrics and the status table all come from here, so a
//! new variant is one line and a label cannot silently stop matching.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares an enum whose variants serialize to, print as, and list their
/// label strings.
macro_rules! words {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $label:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $label)] $variant,)+
        }

        impl $name {
            /// Every variant, in order.
            pub const ALL: [$name; [$($label),+].len()] = [$($name::$variant),+];
            /// Every variant's label, in the same order.
            pub const LABELS: [&'static str; [$($label),+].len()] = [$($label),+];

            /// The label: what the JSON, the metrics and the logs say.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            /// The variant whose label is `label`.
            fn from_str(label: &str) -> Result<$name, UnknownWord> {
                match label {
                    $($label => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        what: stringify!($name),
                        word: label.to_string(),
                        known: &$name::LABELS,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A label that names no variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    what: &'static str,
    word: String,
    known: &'static [&'static str],
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a {}; use one of: {}",
            self.word,
            self.what,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for UnknownWord {}

words! {
    /// Where the whole system is.
    #[derive(Default)]
    pub enum Phase {
        /// Not every oneshot has succeeded and every service been ready yet.
        #[default]
        Booting = "booting",
        Running = "running",
        /// The ordered shutdown is under way.
        Stopping = "stopping",
        Stopped = "stopped",
    }
}

words! {
    /// What sort of process it is (`kind` in the oxfile).
    #[derive(Default)]
    pub enum Kind {
        #[default]
        Service = "service",
        Oneshot = "oneshot",
        Job = "job",
    }
}

words! {
    /// A process's state as the outside sees it: the supervisor's state, with
    /// a running process that has a health check told apart by its health.
    #[derive(Default)]
    pub enum ProcessState {
        /// Not started yet: its dependencies are not met.
        #[default]
        Waiting = "waiting",
        /// Asked to start; or running, with a health check not yet passed.
        Starting = "starting",
        Running = "running",
        /// Running, and its health check passed.
        Ready = "ready",
        /// Running, and its health check failed.
        Unhealthy = "unhealthy",
        /// Ended; starts again after its restart delay.
        Backoff = "backoff",
        Stopping = "stopping",
        /// Finished and stays so.
        Exited = "exited",
        /// Given up on: a failed oneshot, a crash-looping service.
        Failed = "failed",
        /// A oneshot whose `when` did not hold: never ran, done for its
        /// dependents.
        Skipped = "skipped",
        /// Stopped by `oxinit stop`.
        Stopped = "stopped",
        /// Never started, or its restart was cancelled by the shutdown.
        NotStarted = "not started",
        /// A job between two runs.
        Scheduled = "scheduled",
    }
}

words! {
    /// Why the last run ended: the `reason` label of oxinit_process_exits_total.
    pub enum ExitReason {
        /// It exited by itself.
        Exit = "exit",
        /// A signal oxinit did not send killed it.
        Signal = "signal",
        /// The kernel's OOM killer, at its cgroup memory limit.
        Oom = "oom",
        /// oxinit stopped it for using more than its memory limit (polling).
        Memory = "memory",
        /// oxinit stopped it because its health check failed.
        Health = "health",
        /// oxinit stopped it: shutdown, timeout, `oxinit stop/restart`.
        Stop = "stop",
    }
}

impl ExitReason {
    /// Did the process fail (for restart = "on-failure")? `success`: it
    /// exited 0.
    pub fn is_failure(self, success: bool) -> bool {
        match self {
            ExitReason::Oom | ExitReason::Memory | ExitReason::Health => true,
            _ => !success,
        }
    }
}

words! {
    /// What one health probe found: the `result` label of
    /// oxinit_health_checks_total.
    pub enum HealthResult {
        Ok = "ok",
        Fail = "fail",
        Timeout = "timeout",
    }
}

words! {
    /// How one run of a job went: the `result` label of oxinit_job_runs_total.
    pub enum JobResult {
        Success = "success",
        Failure = "failure",
        /// It outlived its `timeout` and was stopped.
        Timeout = "timeout",
        /// Its time came while the previous run was still going.
        Skipped = "skipped",
    }
}

words! {
    /// How memory limits are enforced here: the `mode` label of
    /// oxinit_memory_enforcement.
    pub enum MemoryEnforcement {
        Cgroup2 = "cgroup2",
        Cgroup1 = "cgroup1",
        Poll = "poll",
    }
}

words! {
    /// What happened, as `oxinit events` names it (see `super::event`).
    pub enum EventKind {
        /// A run of a process began (it was spawned).
        Started = "started",
        /// It became ready: its health check passed, READY=1, or started
        /// without a check.
        Ready = "ready",
        /// Its health check failed `retries` times: it is stopped.
        Unhealthy = "unhealthy",
        /// A run ended.
        Exited = "exited",
        /// It is started again after its restart delay.
        Restarting = "restarting",
        /// Given up on: a failed oneshot, a crash-looping service.
        Failed = "failed",
        /// Stopped by `oxinit stop`.
        Stopped = "stopped",
        /// The kernel OOM-killed processes in its cgroup.
        Oom = "oom",
        /// A run of a job ended, or was skipped.
        Job = "job",
        /// oxinit began its ordered shutdown.
        Shutdown = "shutdown",
        /// `oxinit reload` ended (handed over, or given up: see its result).
        Reloaded = "reloaded",
    }
}

words! {
    /// How one `oxinit reload` ended: the `result` label of
    /// oxinit_process_reloads_total.
    pub enum ReloadResult {
        /// The new instance serves and the old one is gone.
        Ok = "ok",
        /// The new instance was not ready within its `ready_timeout`.
        NotReady = "not_ready",
        /// The new instance could not start, or ended before it was ready.
        Failed = "failed",
        /// Given up before the handover: the old instance ended, `oxinit
        /// stop`, or the shutdown.
        Aborted = "aborted",
    }
}
