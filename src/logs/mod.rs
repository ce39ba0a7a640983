//! The relay of children's stdout and stderr (`log_format = "prefixed"` or
//! `"json"`; `raw` children inherit oxinit's fds and need none of this).
//!
//! ```text
//!  child api  ─pipe─▶ relay task ─┐                 (batches of whole lines)
//!  child api  ─pipe─▶ relay task ─┼─ bounded channel ─▶ stdout writer thread ─▶ fd 1
//!  child db   ─pipe─▶ relay task ─┘
//!  (stderr pipes)  ─▶ relay tasks ── bounded channel ─▶ stderr writer thread ─▶ fd 2
//! ```
//!
//! - A relay task ([`LogSink::relay`]) runs on the runtime, reads its pipe in
//!   64 KiB chunks, cuts lines ([`lines`]), formats them ([`format`]) into one
//!   batch per read and sends the batch to the writer of its stream.
//! - Each output stream has one writer thread ([`writer`]) doing the blocking
//!   `write(2)` calls, so a slow log reader never blocks the supervisor, and
//!   since it alone writes whole lines, lines never interleave mid-line.
//! - When oxinit's stdout is slow, the writer blocks, its queue fills, relays
//!   wait before reading more, the child's pipe fills and the child blocks in
//!   `write` — as it would without oxinit. Nothing is dropped; only a write
//!   that fails (EPIPE, EIO) loses lines, and that is counted and reported.
//!   The runtime thread only ever waits on the queue, asynchronously: a
//!   reader that stops for good stalls the children, never the supervisor.
//! - At exit ([`LogSink::drain`]) oxinit waits for the relays' last lines, but
//!   not for a reader that has taken nothing for [`stall::STALL`]: what the
//!   writers still hold then is dropped.
//!
//! Channels: one bounded `tokio::sync::mpsc` per output stream (relay tasks →
//! writer thread), plus a `oneshot` per [`LogSink::flush`].

mod book;
mod format;
mod json;
mod lines;
mod relay;
mod ring;
pub(crate) mod stall;
pub(crate) mod timestamp;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use writer::{Target, Writer};

pub use book::{now_ms, LogBook, SHOWN_LINES};
pub use ring::{Bounds, LogLine};

/// Which of a child's output streams a pipe carries. Lines keep their stream:
/// a child's stderr goes to oxinit's stderr in every format, so `docker logs`
/// can still tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How relayed lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `api        | line`: the name left-aligned and padded to `width`
    /// characters (the longest process name, so the `|` line up), then the
    /// line's bytes untouched.
    Prefixed { width: usize },
    /// `{"ts":"2026-11-23T23:18:53.123Z","process":"api","stream":"stdout","line":"…"}`,
    /// invalid UTF-8 replaced by U+FFFD.
    Json,
}

/// What one relay moved, returned when its pipe reaches EOF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Bytes read from the child.
    pub bytes: u64,
    /// Lines emitted, counting each piece of a split line (and a last line
    /// without newline).
    pub lines: u64,
    /// The child's lines longer than 64 KiB, each emitted as several pieces.
    pub split_lines: u64,
}

/// Output lost because writing to oxinit's stream failed (only the tests
/// read the counts; the operator gets the first failure's warning).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteFailures {
    /// Batches whose write failed.
    pub writes: u64,
    /// Bytes of formatted output that were not written.
    pub bytes: u64,
}

/// How [`LogSink::drain`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every relay ended and everything was written.
    Done,
    /// oxinit's stdout or stderr took nothing for the stall limit.
    Stuck,
    /// Some pipe stayed open (a leftover process holds it) past the limit.
    TimedOut,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "cannot start the thread that writes children's {stream}: {source} \
         (is the container's pids limit or `ulimit -u` exhausted? \
         log_format = \"raw\" needs no thread)"
    )]
    SpawnWriter {
        stream: Stream,
        #[source]
        source: std::io::Error,
    },
}

/// Where relayed lines go: one writer per output stream. Cheap to clone; the
/// writer threads end once every clone and every relay is gone.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Inner>,
}

struct Inner {
    style: Style,
    stdout: Writer,
    stderr: Writer,
    /// Where every relayed line is also kept (`oxinit logs`).
    book: Option<LogBook>,
}

impl LogSink {
    /// Relays to oxinit's own fd 1 and fd 2, keeping every line in `book`
    /// too. Starts the two writer threads; it needs no runtime, but
    /// [`LogSink::relay`] does.
    pub fn stdio(style: Style, book: Option<LogBook>) -> Result<LogSink, LogError> {
        LogSink::new(
            style,
            Target::Stdio(Stream::Stdout),
            Target::Stdio(Stream::Stderr),
            book,
        )
    }

    /// Relays to any two fds (files, pipes): for tests and benchmarks.
    pub fn to_writers(
        style: Style,
        stdout: impl Into<OwnedFd>,
        stderr: impl Into<OwnedFd>,
    ) -> Result<LogSink, LogError> {
        LogSink::new(
            style,
            Target::Fd(stdout.into()),
            Target::Fd(stderr.into()),
            None,
        )
    }

    /// [`LogSink::to_writers`], keeping every line in `book` too.
    pub fn to_writers_keeping(
        style: Style,
        stdout: impl Into<OwnedFd>,
        stderr: impl Into<OwnedFd>,
        book: LogBook,
    ) -> Result<LogSink, LogError> {
        LogSink::new(
            style,
            Target::Fd(stdout.into()),
            Target::Fd(stderr.into()),
            Some(book),
        )
    }

    fn new(
        style: Style,
        stdout: Target,
        stderr: Target,
        book: Option<LogBook>,
    ) -> Result<LogSink, LogError> {
        Ok(LogSink {
            inner: Arc::new(Inner {
                style,
                stdout: Writer::spawn(Stream::Stdout, stdout)?,
                stderr: Writer::spawn(Stream::Stderr, stderr)?,
                book,
            }),
        })
    }

    /// Spawns a task relaying `read_end` (a pipe whose write end the child
    /// holds) to this sink's `stream` until EOF, that is until the child and
    /// every descendant holding the write end have closed it. Await the
    /// handle, then [`LogSink::flush`], so the last lines are written before
    /// oxinit exits. Must be called inside the tokio runtime.
    pub fn relay(
        &self,
        process: &str,
        stream: Stream,
        read_end: OwnedFd,
    ) -> JoinHandle<RelayStats> {
        let formatter = format::Formatter::new(self.inner.style, process, stream);
        let writer = self.writer(stream).clone();
        let keep = self
            .inner
            .book
            .as_ref()
            .and_then(|book| book.keeper(process));
        tokio::spawn(relay::run(
            process.to_owned(),
            stream,
            read_end,
            formatter,
            writer,
            keep,
        ))
    }

    /// Waits until everything relayed so far (handed to the writers by the
    /// relays) has been written. Lines still in a child's pipe are not
    /// covered: await the relay handles first. May wait for as long as
    /// oxinit's stdout is stalled; wrap it in a timeout at exit.
    pub async fn flush(&self) {
        self.inner.stdout.flush().await;
        self.inner.stderr.flush().await;
    }

    /// At exit: waits until `relays` have ended (their pipes closed) and
    /// everything they handed over has been written — for at most `limit`,
    /// and only while oxinit's stdout and stderr take bytes: once a writer
    /// has taken nothing for `stall` the wait ends and what is left is
    /// dropped. A reader that stopped long ago ends it at once.
    pub async fn drain(
        &self,
        relays: Vec<JoinHandle<RelayStats>>,
        limit: Duration,
        stall: Duration,
    ) -> Drained {
        let all = async {
            for relay in relays {
                let _ = relay.await;
            }
            self.flush().await;
        };
        let stuck = async {
            // Polled: the writer threads cannot wake the runtime, and a
            // tenth of the stall is precise enough for an exit.
            while !(self.inner.stdout.stuck(stall) || self.inner.stderr.stuck(stall)) {
                sleep(stall / 10).await;
            }
        };
        let deadline = Instant::now() + limit;
        tokio::select! {
            _ = all => Drained::Done,
            _ = stuck => Drained::Stuck,
            _ = tokio::time::sleep_until(deadline) => Drained::TimedOut,
        }
    }

    /// Output lost so far because writing to `stream` failed.
    #[cfg(test)]
    pub fn write_failures(&self, stream: Stream) -> WriteFailures {
        self.writer(stream).failures()
    }

    fn writer(&self, stream: Stream) -> &Writer {
        match stream {
            Stream::Stdout => &self.inner.stdout,
            Stream::Stderr => &self.inner.stderr,
        }
    }
}
