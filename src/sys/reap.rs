//! The one reaper: the only code in oxinit that waits for a child.
//!
//! On SIGCHLD the event loop calls [`reap`], which drains `waitpid(-1, WNOHANG)`
//! until it returns 0 (children still running) or ECHILD (no children at all).
//! SIGCHLDs coalesce, so one signal may stand for many exits: draining is what
//! keeps orphans from piling up as zombies (tini's `reap_zombies` does the same).
//! Nothing else may wait: `tokio::process` and `Command::wait/status/output`
//! would race this loop for the same pids.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called exit(code).
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// The shell's convention, which Docker and tini follow: the code, or 128+N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(n) => 128 + n,
        }
    }

    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(n) => write!(
                f,
                "signal {} (exit code {})",
                super::signals::name(*n),
                128 + n
            ),
        }
    }
}

/// What one drain of `waitpid` found.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Every child that ended, in the order the kernel reported them.
    pub exited: Vec<(i32, ExitStatus)>,
    /// True when `waitpid` said ECHILD: oxinit has no children left at all.
    pub no_children: bool,
}

/// Reaps every child that has ended, without blocking.
pub fn reap() -> Reaped {
    let mut out = Reaped::default();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                out.exited.push((pid.as_raw(), ExitStatus::Code(code)))
            }
            Ok(WaitStatus::Signaled(pid, sig, _core)) => out
                .exited
                .push((pid.as_raw(), ExitStatus::Signal(sig as i32))),
            Ok(WaitStatus::StillAlive) => return out,
            // Stops and continues are not asked for (no WUNTRACED/WCONTINUED).
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => {
                out.no_children = true;
                return out;
            }
            Err(e) => {
                tracing::error!("waitpid failed: {e}");
                return out;
            }
        }
    }
}
