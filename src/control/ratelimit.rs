//! Rate-limited warnings: a client flooding the socket with garbage must not
//! flood oxinit's log (which is the container's log) with it.

use std::time::{Duration, Instant};

/// Lets `burst` warnings through per `window`; counts the rest and reports
/// how many were held back with the next warning that gets through.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    window: Duration,
    burst: u32,
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub(crate) fn new(burst: u32, window: Duration) -> Self {
        LogLimiter {
            window,
            burst,
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// Whether a warning at `now` may be logged; `Some(n)` says yes and that
    /// `n` warnings were held back since the last one logged.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let fresh = match self.window_start {
            None => true,
            Some(start) => now.saturating_duration_since(start) >= self.window,
        };
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Logs `message` as a warning unless the budget is spent.
    pub(crate) fn warn(&mut self, message: std::fmt::Arguments<'_>) {
        match self.admit(Instant::now()) {
            Some(0) => tracing::warn!("{message}"),
            Some(held) => tracing::warn!(
                "{message} ({held} similar warnings were held back to protect the log)"
            ),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rest_is_counted_and_reported_later() {
        let t0 = Instant::now();
        let mut limiter = LogLimiter::new(3, Duration::from_secs(10));
        let admitted: Vec<_> = (0..5).map(|_| limiter.admit(t0)).collect();
        assert_eq!(admitted, [Some(0), Some(0), Some(0), None, None]);
        // Still inside the window: held back.
        assert_eq!(limiter.admit(t0 + Duration::from_secs(9)), None);
        // A new window: logged, with the three held back before it.
        assert_eq!(limiter.admit(t0 + Duration::from_secs(10)), Some(3));
        assert_eq!(limiter.admit(t0 + Duration::from_secs(11)), Some(0));
    }
}
