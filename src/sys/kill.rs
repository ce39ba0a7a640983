//! Sending signals. Each child leads its own process group (it called setsid),
//! so a stop signal goes to the group: a shell wrapper and whatever it started
//! get it together.

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
