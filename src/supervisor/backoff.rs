//! When a service that ended may start again: the delay that doubles from
//! `restart_delay` up to `restart_delay_max` (reset after `restart_reset` of
//! uptime), and the crash-loop cutoff: more than `max_restarts` restarts within
//! `restart_window` and the process has failed.

use crate::config::ProcessSpec;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// The answer for one exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    /// Crash loop: `max_restarts` restarts already happened within the window.
    GiveUp,
}

/// Restart history of one process.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    /// The delay used for the last restart, doubled next time.
    last_delay: Option<Duration>,
    /// When each restart within the window was decided, oldest first.
    recent: VecDeque<Instant>,
}

impl Backoff {
    /// Decides for a process that just ended after running for `uptime`.
    pub fn on_exit(&mut self, spec: &ProcessSpec, uptime: Duration, now: Instant) -> Decision {
        while let Some(&t) = self.recent.front() {
            if now.duration_since(t) >= spec.restart_window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= spec.max_restarts as usize {
            return Decision::GiveUp;
        }
        self.recent.push_back(now);
        let delay = match self.last_delay {
            Some(d) if uptime < spec.restart_reset => (d * 2).min(spec.restart_delay_max),
            _ => spec.restart_delay,
        };
        self.last_delay = Some(delay);
        Decision::RestartAfter(delay)
    }
}
