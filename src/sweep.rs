//! The final sweep: after the work is done, no process may outlive oxinit.
//!
//! TERM (and CONT, so stopped processes can act on it) to every leftover — the
//! given process groups, plus every other process in the namespace as PID 1
//! (kill(-1)) or every descendant as a subreaper — then wait up to `grace`
//! reaping as they go, then SIGKILL what is left and reap until no child
//! remains. A TERM/INT received meanwhile skips the grace and kills at once.

use crate::sys::{kill, pid1, reap, signals::Signals};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// How the sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Swept {
    /// Processes reaped during the sweep (not counting earlier ones).
    pub reaped: usize,
    /// True when something was still alive after the grace and got SIGKILL.
    pub killed: bool,
}

/// After SIGKILL, how long we wait for the kernel to finish off processes
/// (one stuck in uninterruptible sleep may take a while; we do not wait forever).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Stops every leftover process; see the module docs.
pub async fn sweep(signals: &mut Signals, groups: &[i32], grace: Duration) -> Swept {
    let mut swept = Swept::default();
    if drain(&mut swept) {
        return swept;
    }
    signal_leftovers(groups, libc::SIGTERM);
    signal_leftovers(groups, libc::SIGCONT);
    if wait_for_none(signals, &mut swept, Instant::now() + grace, true).await {
        return swept;
    }
    swept.killed = true;
    tracing::warn!("leftover processes did not exit within {grace:?} of SIGTERM: sending SIGKILL");
    signal_leftovers(groups, libc::SIGKILL);
    if !wait_for_none(signals, &mut swept, Instant::now() + KILL_WAIT, false).await {
        tracing::error!("some processes survived SIGKILL for {KILL_WAIT:?} (uninterruptible sleep?); exiting anyway");
    }
    swept
}

fn signal_leftovers(groups: &[i32], sig: i32) {
    for &pgid in groups {
        kill::group(pgid, sig);
    }
    if pid1::is_pid1() {
        kill::everyone(sig);
    } else {
        for pid in pid1::descendants(std::process::id() as i32) {
            kill::process(pid, sig);
        }
    }
}

/// Reaps what has ended; true when no child is left.
fn drain(swept: &mut Swept) -> bool {
    let r = reap::reap();
    swept.reaped += r.exited.len();
    r.no_children
}

/// Reaps until no child is left (true) or the deadline passes (false). With
/// `escalate`, a TERM/INT ends the wait early (false) so the caller kills now.
async fn wait_for_none(
    signals: &mut Signals,
    swept: &mut Swept,
    deadline: Instant,
    escalate: bool,
) -> bool {
    loop {
        if drain(swept) {
            return true;
        }
        tokio::select! {
            batch = signals.recv() => {
                let Ok(batch) = batch else { return false };
                if escalate && batch.iter().any(|&s| s == libc::SIGTERM || s == libc::SIGINT) {
                    tracing::warn!("second stop signal: killing every leftover process now");
                    return false;
                }
            }
            _ = sleep_until(deadline) => return drain(swept),
        }
    }
}
