//! Filesystem calls that may never return, made without blocking the
//! supervisor.
//!
//! A stat on a FUSE mount whose daemon hangs (LiteFS stuck on its lease,
//! a dead sshfs) waits in the kernel, uninterruptibly, for as long as the
//! daemon does. On the supervisor's one thread that would stop reaping,
//! signals and the ordered shutdown. So each such call runs on a thread of
//! its own, and the caller awaits it with a timeout. A call that outlives
//! its timeout is abandoned, not cancelled (nothing can cancel it): its
//! thread ends whenever the kernel lets it. At most [`MAX_STUCK`] of them
//! exist at once, so a mount that stays hung while probes keep coming
//! costs a few threads, not one per probe.
//!
//! A plain thread rather than `spawn_blocking`: a runtime waits for its
//! blocking tasks when it shuts down, and oxinit's exit must not wait for
//! a hung mount.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The most calls running at once, stuck ones included.
pub const MAX_STUCK: usize = 4;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("no answer within {}", crate::config::units::format_duration(*.0))]
    TimedOut(Duration),
    #[error("{MAX_STUCK} earlier filesystem calls have not returned yet (a hung mount?)")]
    TooManyStuck,
    #[error("cannot start a thread for it: {0}")]
    NoThread(String),
}

/// Runs `call` on a thread of its own; its result, if it comes within
/// `timeout`.
pub async fn run<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    if RUNNING.fetch_add(1, Ordering::SeqCst) >= MAX_STUCK {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        return Err(Unanswered::TooManyStuck);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("oxinit-fs".into())
        .spawn(move || {
            let result = call();
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        return Err(Unanswered::NoThread(e.to_string()));
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(result)) => Ok(result),
        // The thread ended without sending: `call` panicked.
        Ok(Err(_)) => Err(Unanswered::NoThread("it panicked".into())),
        Err(_) => Err(Unanswered::TimedOut(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_comes_back_and_a_hung_call_is_abandoned_and_bounded() {
        assert_eq!(run(Duration::from_secs(5), || 42).await, Ok(42));
        // Calls that block until released, as a stat on a hung mount does.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Arc::new(std::sync::Mutex::new(blocked));
        let mut answers = Vec::new();
        for _ in 0..MAX_STUCK + 1 {
            let blocked = blocked.clone();
            let t0 = std::time::Instant::now();
            let answer = run(Duration::from_millis(50), move || {
                let _ = blocked.lock().unwrap().recv();
            })
            .await;
            assert!(t0.elapsed() < Duration::from_secs(2));
            answers.push(answer);
        }
        // Each of the first MAX_STUCK timed out; the next was refused.
        assert!(answers[..MAX_STUCK]
            .iter()
            .all(|a| *a == Err(Unanswered::TimedOut(Duration::from_millis(50)))));
        assert_eq!(answers[MAX_STUCK], Err(Unanswered::TooManyStuck));
        // Released, the stuck threads end and calls run again.
        for _ in 0..MAX_STUCK {
            release.send(()).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while RUNNING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(run(Duration::from_secs(5), || 7).await, Ok(7));
    }
}
