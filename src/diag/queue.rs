//! The bounded queue between oxinit's own log lines and its stderr.
//!
//! A PID 1 must never wait on its log pipe: when the reader stops (a stalled
//! Docker log driver, a blocked sidecar), a `write(2)` to fd 2 blocks until
//! it comes back, and so does whoever holds std's stderr lock, which the
//! relay's stderr writer keeps across such a write. On the runtime thread
//! that meant no reaping, no restarts, no signals: SIGTERM waited for the
//! reader. So a line is only handed over here — copied into a queue under a
//! lock that is never held across a write — and a thread of its own writes
//! it. When the queue is full the line is dropped and counted
//! ([`lines_dropped`], exported as `oxinit_log_lines_dropped_total`); once the
//! writer gets through again it says how many were lost.
//!
//! ```text
//!  any thread ── push (never waits) ──▶ queue (≤ 64 KiB) ──▶ oxinit-log thread ──▶ fd 2
//!                   └─ full: drop, count                        (std's stderr lock, shared
//!                                                                 with the relay's writer)
//! ```

use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};

use crate::logs::stall::{self, Progress};

/// What the queue holds at most, in bytes of formatted lines: as much as a
/// pipe buffer, hundreds of oxinit's lines. A line is always taken when the
/// queue is empty, however long (a config error listing every problem).
pub(crate) const QUEUED_BYTES: usize = 64 * 1024;

/// The longest [`flush`] waits, even for a reader that keeps taking bytes.
pub(crate) const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// The writer thread formats nothing; a small stack is plenty.
const STACK_SIZE: usize = 128 * 1024;

static QUEUE: Queue = Queue {
    state: Mutex::new(State {
        lines: VecDeque::new(),
        bytes: 0,
        writing: false,
    }),
    queued: Condvar::new(),
    written: Condvar::new(),
    progress: Progress::new(),
};

/// Lines go through the queue ([`enable`] was called).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether the writer thread runs; started with the first line, so a
/// single-command oxinit that has nothing to say (the usual case at its
/// `warn` level) never pays for the thread.
static WRITER: OnceLock<bool> = OnceLock::new();

/// Lines dropped because the queue was full, since the start.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// oxinit's own log lines dropped so far because its stderr was not read
/// fast enough (or at all).
pub fn lines_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

struct Queue {
    state: Mutex<State>,
    /// A line was queued (for the writer thread).
    queued: Condvar,
    /// A line was written or given up on (for [`flush`]).
    written: Condvar,
    progress: Progress,
}

struct State {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    /// The writer thread holds a line it took from `lines`.
    writing: bool,
}

/// From now on [`push`] takes every line (the writer thread starts with the
/// first one).
pub(super) fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// The queue, once lines go through it and its writer thread runs; starts
/// the thread on first use. None when not enabled, or when no thread could
/// be started (a pids limit): lines are then written directly, as before the
/// queue existed, and that is said once.
fn running() -> Option<&'static Queue> {
    if !ENABLED.load(Ordering::Acquire) {
        return None;
    }
    WRITER.get_or_init(start).then_some(&QUEUE)
}

fn start() -> bool {
    let started = std::thread::Builder::new()
        .name("oxinit-log".into())
        .stack_size(STACK_SIZE)
        .spawn(|| {
            // Signals are for the supervisor's signalfd; main blocked them
            // all before any thread started, but make sure (as the relay's
            // writer does): a default action would hit the whole process.
            let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
            QUEUE.run();
        });
    if let Err(e) = &started {
        let _ = io::stderr().lock().write_all(
            format!(
                "oxinit: cannot start the thread that writes oxinit's own log lines ({e}); \
                 they are written directly, so a stalled stderr can stall oxinit \
                 (is the pids limit exhausted?)\n"
            )
            .as_bytes(),
        );
    }
    started.is_ok()
}

/// Hands `line` (newline included) to the writer thread, or drops and counts
/// it when the queue is full. Never waits for the writer. False when there is
/// no queue (not enabled, or no thread): the caller writes the line itself.
pub(super) fn push(line: &[u8]) -> bool {
    let Some(queue) = running() else {
        return false;
    };
    let mut state = queue.lock();
    if !state.lines.is_empty() && state.bytes + line.len() > QUEUED_BYTES {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    state.bytes += line.len();
    state.lines.push_back(line.to_vec());
    drop(state);
    queue.queued.notify_one();
    true
}

/// Waits until every queued line is written, but not for a stderr that has
/// taken nothing for [`stall::STALL`] (returning at once when the writer has
/// been stuck that long already), nor longer than [`FLUSH_LIMIT`] for a
/// reader that trickles: what is left then is dropped (oxinit is about to
/// exit, and a stalled log reader must not hold up the container's stop).
pub fn flush() {
    // Not `running()`: nothing queued yet must not start the thread now.
    if WRITER.get() != Some(&true) {
        return;
    }
    let queue = &QUEUE;
    let give_up = Instant::now() + FLUSH_LIMIT;
    let mut state = queue.lock();
    while (state.writing || !state.lines.is_empty())
        && !queue.progress.stuck(stall::STALL)
        && Instant::now() < give_up
    {
        // Woken by each written line; the timeout re-checks the clocks.
        state = queue
            .written
            .wait_timeout(state, Duration::from_millis(20))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Lines and a byte count stay consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: takes one line at a time and writes it with the
    /// queue unlocked.
    fn run(&self) {
        let mut reported = 0;
        loop {
            let line = {
                let mut state = self.lock();
                loop {
                    if let Some(line) = state.lines.pop_front() {
                        state.bytes -= line.len();
                        state.writing = true;
                        break line;
                    }
                    state = self
                        .queued
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let written = self.write(&line);
            self.lock().writing = false;
            self.written.notify_all();
            let dropped = lines_dropped();
            if written && dropped > reported {
                // Queued behind the lines that made it, so it reads in order.
                tracing::warn!(
                    dropped = dropped - reported,
                    "oxinit's stderr was not being read: its own log lines in between were \
                     dropped (oxinit_log_lines_dropped_total counts them)"
                );
                reported = dropped;
            }
        }
    }

    /// One line under std's stderr lock, which the relay's stderr writer
    /// holds across each of its batches: lines never land inside a batch.
    /// Errors drop the line, as before: there is nowhere to report them, and
    /// a PID 1 must not die of a closed stderr (EBADF, EPIPE).
    fn write(&self, line: &[u8]) -> bool {
        // Stamped before the lock: waiting for it behind a stuck relay write
        // is being stuck too.
        self.progress.stamp();
        let stderr = io::stderr();
        let lock = stderr.lock();
        let result = stall::write_all(stderr.as_fd(), line, &self.progress);
        drop(lock);
        self.progress.idle();
        result.is_ok()
    }
}
