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
//! exist at once for one path, so a mount that stays hung while probes
//! keep coming costs a few threads, not one per probe, and a hung mount
//! does not use up the turns of another that answers.
//!
//! A plain thread rather than `spawn_blocking`: a runtime waits for its
//! blocking tasks when it shuts down, and oxinit's exit must not wait for
//! a hung mount.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The most calls on one path running at once, stuck ones included.
pub const MAX_STUCK: usize = 2;

/// Calls running, by the path they are about.
static RUNNING: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

fn running() -> MutexGuard<'static, Option<HashMap<String, usize>>> {
    // A panic while holding it leaves the counts as they were: still usable.
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a call on `path` for as long as it lives.
struct Slot(String);

impl Slot {
    fn take(path: &str) -> Option<Slot> {
        let mut guard = running();
        let count = guard
            .get_or_insert_with(HashMap::new)
            .entry(path.to_string())
            .or_insert(0);
        if *count >= MAX_STUCK {
            return None;
        }
        *count += 1;
        Some(Slot(path.to_string()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = running();
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(count) = map.get_mut(&self.0) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.0);
            }
        }
    }
}

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("no answer within {}", crate::units::format_duration(*.0))]
    TimedOut(Duration),
    #[error("{MAX_STUCK} earlier calls on it have not returned yet (a hung mount?)")]
    TooManyStuck,
    #[error("cannot start a thread for it: {0}")]
    NoThread(String),
}

/// Runs `call`, a filesystem call on `path`, on a thread of its own; its
/// result, if it comes within `timeout`.
pub async fn run<T: Send + 'static>(
    path: &str,
    timeout: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    let slot = Slot::take(path).ok_or(Unanswered::TooManyStuck)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("oxinit-fs".into())
        .spawn(move || {
            let result = call();
            drop(slot);
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
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

    fn calls_on(path: &str) -> usize {
        running()
            .as_ref()
            .and_then(|m| m.get(path).copied())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn an_answer_comes_back_and_a_hung_call_is_abandoned_and_bounded() {
        assert_eq!(run("/ok", Duration::from_secs(5), || 42).await, Ok(42));
        assert_eq!(calls_on("/ok"), 0);
        // Calls that block until released, as a stat on a hung mount does.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Arc::new(std::sync::Mutex::new(blocked));
        let mut answers = Vec::new();
        for _ in 0..MAX_STUCK + 1 {
            let blocked = blocked.clone();
            let t0 = std::time::Instant::now();
            let answer = run("/hung", Duration::from_millis(50), move || {
                let _ = blocked.lock().unwrap().recv();
            })
            .await;
            assert!(t0.elapsed() < Duration::from_secs(2));
            answers.push(answer);
        }
        // Each of the first MAX_STUCK timed out; the next was refused.
        let timed_out = Err(Unanswered::TimedOut(Duration::from_millis(50)));
        assert!(answers[..MAX_STUCK].iter().all(|a| *a == timed_out));
        assert_eq!(answers[MAX_STUCK], Err(Unanswered::TooManyStuck));
        // Another path still gets its turn.
        assert_eq!(run("/other", Duration::from_secs(5), || 1).await, Ok(1));
        // Released, the stuck threads end and calls on it run again.
        for _ in 0..MAX_STUCK {
            release.send(()).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while calls_on("/hung") > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(run("/hung", Duration::from_secs(5), || 7).await, Ok(7));
    }
}
