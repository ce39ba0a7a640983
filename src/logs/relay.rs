//! One relay: a tokio task reading a child's pipe until EOF, cutting lines,
//! formatting them into batches and handing the batches to a writer thread.

use std::io::ErrorKind;
use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::book::Keeper;
use super::format::Formatter;
use super::lines::Lines;
use super::writer::{Writer, BATCH_BYTES};
use super::{now_ms, timestamp, RelayStats, Stream};

pub(crate) async fn run(
    process: String,
    stream: Stream,
    read_end: OwnedFd,
    formatter: Formatter,
    writer: Writer,
    keep: Option<Keeper>,
) -> RelayStats {
    // Sets O_NONBLOCK on the read end: only oxinit holds it, so no one else
    // is affected (the child holds the write end, a different description).
    let mut pipe = match pipe::Receiver::from_owned_fd(read_end) {
        Ok(pipe) => pipe,
        Err(error) => {
            tracing::warn!(
                process,
                %stream,
                %error,
                "cannot relay the output of this process: its {stream} is not a readable pipe"
            );
            return RelayStats::default();
        }
    };
    let mut relay = Relay {
        process,
        stream,
        writer,
        formatter,
        lines: Lines::new(),
        batch: Vec::new(),
        lost: false,
        keep,
    };
    let mut open = true;
    while open {
        let mut read = pipe.read(relay.lines.spare()).await;
        // Then take what is already waiting in the pipe (a chatty child's
        // many small writes), without waiting, until the batch is full:
        // fewer batches mean fewer wake-ups of the writer thread, a large
        // part of the relay's cost. A lone line is still sent at once.
        loop {
            match read {
                Ok(0) => open = false,
                Ok(n) => relay.take(n).await,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    // Reading a pipe only fails on a bug (EBADF, EFAULT): stop
                    // rather than spin, and say so.
                    tracing::warn!(
                        process = relay.process,
                        %stream,
                        %error,
                        "cannot read this process's {stream}; its further output is not relayed"
                    );
                    open = false;
                }
            }
            if !open || relay.batch.len() >= BATCH_BYTES {
                break;
            }
            read = pipe.try_read(relay.lines.spare());
        }
        relay.send().await;
    }
    relay.finish().await
}

struct Relay {
    process: String,
    stream: Stream,
    writer: Writer,
    formatter: Formatter,
    lines: Lines,
    batch: Vec<u8>,
    /// The writer thread is gone and we said so.
    lost: bool,
    keep: Option<Keeper>,
}

impl Relay {
    /// Formats the lines completed by `n` bytes just read into `lines.spare()`.
    async fn take(&mut self, n: usize) {
        self.lines.commit(n);
        self.formatter.set_time(timestamp::now);
        self.start_batch();
        let at = self.keep.as_ref().map(|_| now_ms());
        while let Some(line) = self.lines.next_line() {
            self.formatter.push_line(&mut self.batch, line);
            // Kept before the batch may wait for the writer: a stalled
            // stdout must not keep a line out of `oxinit logs`.
            if let (Some(keep), Some(at)) = (&mut self.keep, at) {
                keep.stage(self.stream, at, line);
            }
            if self.batch.len() >= BATCH_BYTES {
                if let Some(keep) = &mut self.keep {
                    keep.keep();
                }
                self.send().await;
                self.start_batch();
            }
        }
        if let Some(keep) = &mut self.keep {
            keep.keep();
        }
    }

    /// At EOF: emits the unfinished last line, if any.
    async fn finish(mut self) -> RelayStats {
        if let Some(line) = self.lines.rest() {
            if self.batch.capacity() == 0 {
                self.batch = self.writer.batch();
            }
            self.formatter.set_time(timestamp::now);
            self.formatter.push_line(&mut self.batch, line);
            if let Some(keep) = &mut self.keep {
                keep.stage(self.stream, now_ms(), line);
                keep.keep();
            }
        }
        self.send().await;
        self.lines.stats()
    }

    /// Makes sure `batch` has room. Buffers come from the writer's spares
    /// and go back with each batch, so an idle relay rarely holds one.
    fn start_batch(&mut self) {
        if self.batch.capacity() == 0 {
            self.batch = self.writer.batch();
        }
    }

    async fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if self.writer.send(batch).await.is_err() && !self.lost {
            // Only if the writer thread panicked. Keep reading so the child
            // does not block on a full pipe forever, but do not stay silent.
            self.lost = true;
            tracing::warn!(
                process = self.process,
                stream = %self.stream,
                "the {} writer thread is gone; this process's output is lost",
                self.stream
            );
        }
    }
}
