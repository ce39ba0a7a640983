//! Sending signals. Each child leads its own process group (it called setsid),
//! so a stop signal goes to the group: a shell wrapper and whatever it started
//! get it together.
//!
//! After a stop signal, SIGCONT goes only to the processes that are stopped
//! (state `T` in /proc), so a stopped one can act on the signal waiting for
//! it, while a running one gets exactly the one stop signal (dumb-init does
//! the same, and its test suite counts the signals).

use crate::proc_stat::{self, ProcStat};
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

fn to_signal(sig: i32) -> Option<Signal> {
    Signal::try_from(sig).ok()
}

/// Signals the process group `pgid`. Returns false when the group is empty.
pub fn group(pgid: i32, sig: i32) -> bool {
    let Some(s) = to_signal(sig) else {
        return false;
    };
    match killpg(Pid::from_raw(pgid), s) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::warn!(
                "cannot send {} to process group {pgid}: {e}",
                super::signals::name(sig)
            );
            false
        }
    }
}

/// Signals one process. Returns false when it does not exist.
pub fn process(pid: i32, sig: i32) -> bool {
    let Some(s) = to_signal(sig) else {
        return false;
    };
    matches!(kill(Pid::from_raw(pid), s), Ok(()))
}

/// As PID 1: signals every process in the namespace except ourselves (kill(-1)).
/// Returns false when there was nobody to signal.
pub fn everyone(sig: i32) -> bool {
    let Some(s) = to_signal(sig) else {
        return false;
    };
    kill(Pid::from_raw(-1), s).is_ok()
}

/// SIGCONT to each of `procs` that is stopped; returns how many got it.
pub fn continue_stopped(procs: &[ProcStat]) -> usize {
    procs
        .iter()
        .filter(|p| p.is_stopped())
        .filter(|p| process(p.pid, libc::SIGCONT))
        .count()
}

/// SIGCONT to the stopped members of process group `pgid`. Its members are
/// oxinit's descendants (children, or orphans that came to the subreaper), so
/// only that part of /proc is read.
pub fn continue_stopped_in_group(pgid: i32) -> usize {
    let members: Vec<ProcStat> = descendants_of_us()
        .into_iter()
        .filter(|p| p.pgid == pgid)
        .collect();
    continue_stopped(&members)
}

/// oxinit's descendants (not itself), from /proc.
pub fn descendants_of_us() -> Vec<ProcStat> {
    let me = std::process::id() as i32;
    let root = std::path::Path::new("/proc");
    let procs = proc_stat::scan_descendants(root, me)
        .unwrap_or_else(|| proc_stat::with_descendants(&proc_stat::scan(root), |p| p.ppid == me));
    procs.into_iter().filter(|p| p.pid != me).collect()
}
