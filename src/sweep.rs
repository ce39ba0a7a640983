//! The final sweep: after the work is done, no process may outlive oxinit.
//!
//! TERM (and CONT to those that are stopped, so they can act on it; a running
//! one gets exactly one TERM, as with dumb-init) to every leftover — the
//! given process groups, plus every other process in the namespace as PID 1
//! (kill(-1)) or every descendant as a subreaper — then wait up to `grace`
//! reaping as they go, then SIGKILL what is left and reap until no child
//! remains. A TERM/INT received meanwhile skips the grace and kills at once.
//!
//! [`Sweep`] holds those steps; two drivers wait for it: [`sweep`] in the
//! supervisor's event loop (which keeps relaying the leftovers' output
//! meanwhile) and [`sweep_blocking`] in single-command mode (no event loop).

use crate::sys::signals::{BlockingSignals, Signals};
use crate::sys::{kill, pid1, reap};
use std::time::{Duration, Instant};

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

/// Stops every leftover process, waiting in the event loop; see the module docs.
pub async fn sweep(signals: &mut Signals, groups: &[i32], grace: Duration) -> Swept {
    let mut sweep = Sweep::start(groups, grace);
    while let Some(deadline) = sweep.deadline() {
        let batch = tokio::select! {
            batch = signals.recv() => batch.unwrap_or_default(),
            _ = tokio::time::sleep_until(deadline.into()) => Vec::new(),
        };
        sweep.woke(&batch);
    }
    sweep.swept
}

/// The same, blocking in poll(2) for single-command mode.
pub fn sweep_blocking(signals: &mut BlockingSignals, groups: &[i32], grace: Duration) -> Swept {
    let mut sweep = Sweep::start(groups, grace);
    while let Some(deadline) = sweep.deadline() {
        let batch = signals.wait(Some(deadline)).unwrap_or_default();
        sweep.woke(batch);
    }
    sweep.swept
}

/// Where a sweep stands. Each wake-up (signals, or a deadline passing) reaps
/// what has ended and moves it on.
struct Sweep {
    groups: Vec<i32>,
    grace: Duration,
    phase: Phase,
    swept: Swept,
}

enum Phase {
    /// TERM sent; KILL at this instant, or at a second TERM/INT.
    Grace(Instant),
    /// KILL sent; give up waiting at this instant.
    Killed(Instant),
    Done,
}

impl Sweep {
    /// Reaps what has already ended; TERMs what is left, if anything.
    fn start(groups: &[i32], grace: Duration) -> Sweep {
        let mut sweep = Sweep {
            groups: groups.to_vec(),
            grace,
            phase: Phase::Done,
            swept: Swept::default(),
        };
        if !sweep.drain() {
            sweep.signal_leftovers(libc::SIGTERM);
            // The groups' members are among them: our descendants.
            pid1::continue_stopped_leftovers();
            sweep.phase = Phase::Grace(Instant::now() + grace);
        }
        sweep
    }

    /// When to wake up at the latest; None once the sweep is over.
    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Grace(at) | Phase::Killed(at) => Some(at),
            Phase::Done => None,
        }
    }

    /// After a wake-up with these signals (empty: a deadline passed).
    fn woke(&mut self, signals: &[i32]) {
        if self.drain() {
            self.phase = Phase::Done;
            return;
        }
        let now = Instant::now();
        match self.phase {
            Phase::Grace(at) => {
                let hurried = signals
                    .iter()
                    .any(|&s| s == libc::SIGTERM || s == libc::SIGINT);
                if hurried {
                    tracing::warn!("second stop signal: killing every leftover process now");
                } else if now >= at {
                    tracing::warn!(
                        "leftover processes did not exit within {:?} of SIGTERM: sending SIGKILL",
                        self.grace
                    );
                } else {
                    return;
                }
                self.swept.killed = true;
                self.signal_leftovers(libc::SIGKILL);
                self.phase = Phase::Killed(now + KILL_WAIT);
            }
            Phase::Killed(at) if now >= at => {
                tracing::error!("some processes survived SIGKILL for {KILL_WAIT:?} (uninterruptible sleep?); exiting anyway");
                self.phase = Phase::Done;
            }
            Phase::Killed(_) | Phase::Done => {}
        }
    }

    /// Reaps what has ended; true when no child is left.
    fn drain(&mut self) -> bool {
        let r = reap::reap();
        self.swept.reaped += r.exited.len();
        r.no_children
    }

    fn signal_leftovers(&self, sig: i32) {
        for &pgid in &self.groups {
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
}
