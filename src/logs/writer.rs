//! The writer of one output stream: a dedicated thread doing blocking writes.
//!
//! Why a thread and not the runtime: fd 1 and fd 2 are usually a pipe to the
//! container runtime's log driver. When it is slow the pipe fills and
//! `write(2)` blocks. It must not block on the runtime thread (the supervisor
//! would stop reaping and forwarding signals), and we must not make fd 1/2
//! non-blocking: `O_NONBLOCK` lives on the open file description, which is
//! shared with whoever else holds it (`docker exec` shells, the app in `raw`
//! mode, the process that started us), and would break their writes.
//!
//! Why a dedicated thread and not tokio's blocking pool: batches must be
//! written in order, so a pool would give us one long-lived task per stream
//! anyway, and `Runtime` drop waits for blocking-pool tasks — a write stuck on
//! a stalled log pipe would then keep PID 1 from exiting. A plain thread is
//! simply abandoned at `exit`. It also lets us block signals in it (below).
//!
//! Relays send whole formatted lines in batches over a bounded channel; the
//! thread writes each batch with as few `write(2)` calls as the kernel allows,
//! so lines of different processes never interleave mid-line. A full channel
//! makes relays wait (they stop reading, the child's pipe fills, the child
//! blocks): backpressure, never loss.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use tokio::sync::{mpsc, oneshot};

use super::stall::{self, Progress};
#[cfg(test)]
use super::WriteFailures;
use super::{LogError, Stream};

/// Batches queued per stream before relays wait. With batches of about
/// `BATCH_BYTES`, this bounds what oxinit holds for a slow reader of its output
/// (plus one batch per relay being formatted and one being written).
const QUEUED_BATCHES: usize = 4;

/// A relay sends its batch once it holds this much, even in the middle of a
/// read: one 64 KiB read of tiny lines grows several times in json, and the
/// queue is bounded in batches, not bytes. Larger batches (256 KiB) saved no
/// measurable CPU: a busy child's pipe is empty after each 64 KiB read, so a
/// batch is one read either way.
pub(crate) const BATCH_BYTES: usize = 64 * 1024;

/// Room for a full batch plus one more line of up to 64 KiB and its prefix,
/// so a `prefixed` batch never reallocates.
const BATCH_CAPACITY: usize = 2 * BATCH_BYTES + 1024;

/// Written batches kept for reuse. Allocating a fresh 128 KiB batch per read
/// showed up in profiles (the allocator hands such blocks back to the kernel
/// and faults them in again); two spares per stream cover the steady state of
/// a busy relay without holding much memory when idle.
const SPARE_BATCHES: usize = 2;

/// The writer thread touches little stack (no recursion, formatting is done
/// by the relays); the default 2 MiB is only address space, but say so.
const STACK_SIZE: usize = 256 * 1024;

pub(crate) enum Message {
    /// Whole formatted lines, each ending in `\n`.
    Lines(Vec<u8>),
    /// Answered once every earlier batch has been written (or failed).
    Flush(oneshot::Sender<()>),
}

/// Where a writer thread writes.
pub(crate) enum Target {
    /// oxinit's own fd 1 or fd 2.
    Stdio(Stream),
    /// Any fd (tests, benchmarks).
    Fd(OwnedFd),
}

/// The sending side of one stream's writer thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Message>,
    /// The thread's counts of lost output, read by the tests.
    #[cfg(test)]
    failures: Arc<Failures>,
    spares: Arc<Spares>,
    progress: Arc<Progress>,
}

/// Empty batch buffers handed back by the writer thread.
#[derive(Default)]
struct Spares(Mutex<Vec<Vec<u8>>>);

#[derive(Default)]
struct Failures {
    writes: AtomicU64,
    bytes: AtomicU64,
    warned: AtomicBool,
}

impl Writer {
    /// Starts the thread writing `stream` to `target`.
    pub(crate) fn spawn(stream: Stream, target: Target) -> Result<Writer, LogError> {
        let (tx, rx) = mpsc::channel(QUEUED_BATCHES);
        let failures = Arc::new(Failures::default());
        let spares = Arc::new(Spares::default());
        let progress = Arc::new(Progress::default());
        let thread = Thread {
            stream,
            target,
            failures: Arc::clone(&failures),
            spares: Arc::clone(&spares),
            progress: Arc::clone(&progress),
        };
        std::thread::Builder::new()
            .name(format!("oxinit-{stream}"))
            .stack_size(STACK_SIZE)
            .spawn(move || thread.run(rx))
            .map_err(|source| LogError::SpawnWriter { stream, source })?;
        Ok(Writer {
            tx,
            #[cfg(test)]
            failures,
            spares,
            progress,
        })
    }

    /// An empty buffer to format a batch into.
    pub(crate) fn batch(&self) -> Vec<u8> {
        self.spares
            .take()
            .unwrap_or_else(|| Vec::with_capacity(BATCH_CAPACITY))
    }

    /// Queues a batch; waits (without blocking the thread) while the queue
    /// is full. Returns the batch back if the writer thread is gone.
    pub(crate) async fn send(&self, lines: Vec<u8>) -> Result<(), Vec<u8>> {
        self.tx
            .send(Message::Lines(lines))
            .await
            .map_err(|err| match err.0 {
                Message::Lines(lines) => lines,
                Message::Flush(_) => unreachable!("we sent lines"),
            })
    }

    /// Waits until every batch queued before this call has been written.
    pub(crate) async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            // An error means the thread is gone: nothing more will be written.
            let _ = done.await;
        }
    }

    /// The thread's current write has taken nothing for `limit` or more: its
    /// reader has stopped reading.
    pub(crate) fn stuck(&self, limit: Duration) -> bool {
        self.progress.stuck(limit)
    }

    #[cfg(test)]
    pub(crate) fn failures(&self) -> WriteFailures {
        WriteFailures {
            writes: self.failures.writes.load(Ordering::Relaxed),
            bytes: self.failures.bytes.load(Ordering::Relaxed),
        }
    }
}

/// What the writer thread owns.
struct Thread {
    stream: Stream,
    target: Target,
    failures: Arc<Failures>,
    spares: Arc<Spares>,
    progress: Arc<Progress>,
}

impl Thread {
    fn run(self, mut rx: mpsc::Receiver<Message>) {
        let stream = self.stream;
        // Process-directed signals go to any thread that does not block them. If
        // this one took SIGTERM or SIGCHLD, a supervisor waiting for signals on
        // the runtime thread (signalfd, sigwait) would miss them, and a default
        // action would apply to the whole process. Block them all here.
        if let Err(errno) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None) {
            tracing::warn!(%stream, %errno, "cannot block signals in the log writer thread");
        }
        while let Some(message) = rx.blocking_recv() {
            match message {
                Message::Lines(lines) => {
                    // Stamped before the stream's lock is taken: waiting for
                    // it behind a stuck writer of oxinit's own lines is
                    // being stuck too.
                    self.progress.stamp();
                    let written = self.target.write_all(&lines, &self.progress);
                    self.progress.idle();
                    if let Err((errno, unwritten)) = written {
                        self.failures.record(stream, errno, unwritten);
                    }
                    self.spares.put(lines);
                }
                Message::Flush(ack) => {
                    // The flusher may have stopped waiting; that is fine.
                    let _ = ack.send(());
                }
            }
        }
    }
}

impl Spares {
    fn take(&self) -> Option<Vec<u8>> {
        self.lock().pop()
    }

    fn put(&self, mut batch: Vec<u8>) {
        // A batch that grew for huge json lines is not kept.
        if batch.capacity() > BATCH_CAPACITY {
            return;
        }
        batch.clear();
        let mut spares = self.lock();
        if spares.len() < SPARE_BATCHES {
            spares.push(batch);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // The list stays consistent even if a holder panicked.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Failures {
    /// Counts a failed write, and says so once: a broken stdout (EPIPE: the
    /// log reader went away, EIO: the terminal closed) would otherwise repeat
    /// the warning for every batch. The lines are dropped: they cannot be
    /// written anywhere, and blocking the children would not bring the reader
    /// back.
    fn record(&self, stream: Stream, errno: Errno, unwritten: usize) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(unwritten as u64, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %stream,
                %errno,
                lost_bytes = unwritten,
                "cannot write children's output to oxinit's {stream}; those lines are lost, \
                 and further failures are only counted (is the log reader of the container gone?)"
            );
        }
    }
}

impl Target {
    /// Writes all of `bytes`; on failure returns the error and how many bytes
    /// were not written.
    fn write_all(&self, bytes: &[u8], progress: &Progress) -> Result<(), (Errno, usize)> {
        match self {
            // Hold std's lock on the stream while writing, so oxinit's own
            // lines (the `diag` writer thread takes the same lock) never land
            // inside a batch. Only writer threads take it, never the runtime
            // thread: a write stuck here holds the lock for as long as the
            // reader stays away. The write itself goes to
            // the fd directly: std's `Stdout` would hide EBADF and lose track
            // of partial writes on EAGAIN.
            Target::Stdio(Stream::Stdout) => {
                let stdout = io::stdout();
                let _lock = stdout.lock();
                stall::write_all(stdout.as_fd(), bytes, progress)
            }
            Target::Stdio(Stream::Stderr) => {
                let stderr = io::stderr();
                let _lock = stderr.lock();
                stall::write_all(stderr.as_fd(), bytes, progress)
            }
            Target::Fd(fd) => stall::write_all(fd.as_fd(), bytes, progress),
        }
    }
}
