//! Every process's [`Ring`], and the wake-up of those who follow them.
//!
//! ```text
//!  relay (api, stdout) ─┐ push (a short lock, never a wait)
//!  relay (api, stderr) ─┼──▶ ring api ──┐
//!  relay (db,  stdout) ─┴──▶ ring db  ──┼── read by `oxinit logs` (control socket)
//!                  watch<u64> ──────────┘   and `oxinit status` (last stderr lines)
//! ```
//!
//! Followers (`oxinit logs -f`) are not sent lines: they are woken (a
//! `watch` that holds one number, so waking costs the relay the same with
//! one follower or fifty) and read what came after their cursor in each
//! ring. The rings are the only buffer: a follower that reads slower than a
//! process writes finds its cursor behind the oldest line kept, and is told
//! how many lines it missed ([`super::ring::Since::lost`]). So no follower,
//! however slow or stuck, makes a relay wait or oxinit hold more than the
//! rings' bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::ring::{Bounds, LogLine, Ring, Since};
use super::Stream;

/// Stderr lines shown in a status or an event are cut here (the ring keeps
/// them whole, for `oxinit logs`).
pub const SHOWN_CHARS: usize = 1000;
/// How many stderr lines a status or an exited event shows.
pub const SHOWN_LINES: usize = 5;

/// The rings of every process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogBook {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// False with `log_format = "raw"`: the processes write to oxinit's own
    /// fds and no line passes through oxinit.
    relayed: bool,
    /// In the oxfile's order.
    names: Vec<String>,
    rings: HashMap<String, Arc<Mutex<Ring>>>,
    seq: AtomicU64,
    /// Bumped after every read a relay made: followers wake up.
    wake: watch::Sender<u64>,
}

impl LogBook {
    /// A ring for each of `processes`; `relayed` is false when the
    /// processes' output does not pass through oxinit (`raw`).
    pub fn new(processes: impl IntoIterator<Item = (String, Bounds)>, relayed: bool) -> LogBook {
        let mut names = Vec::new();
        let mut rings = HashMap::new();
        for (name, bounds) in processes {
            names.push(name.clone());
            let ring = Ring::new(name.as_str().into(), bounds);
            rings.insert(name, Arc::new(Mutex::new(ring)));
        }
        LogBook {
            inner: Arc::new(Inner {
                relayed,
                names,
                rings,
                seq: AtomicU64::new(0),
                wake: watch::Sender::new(0),
            }),
        }
    }

    /// Whether the processes' lines pass through oxinit at all.
    pub fn relayed(&self) -> bool {
        self.inner.relayed
    }

    /// The processes, in the oxfile's order.
    pub fn names(&self) -> &[String] {
        &self.inner.names
    }

    /// Keeps a line of `process` read at `at_ms`; a process without a ring
    /// (not in the oxfile) is ignored.
    pub fn record(&self, process: &str, stream: Stream, at_ms: u64, text: &[u8]) {
        if let Some(mut keeper) = self.keeper(process) {
            keeper.stage(stream, at_ms, text);
            keeper.keep();
        }
    }

    /// What a relay of `process` keeps its lines with: its ring, found once
    /// (a lookup by name per line cost the relay as much as the rest of
    /// keeping it).
    pub fn keeper(&self, process: &str) -> Option<Keeper> {
        Some(Keeper {
            ring: self.inner.rings.get(process)?.clone(),
            book: self.clone(),
            text: Vec::new(),
            lines: Vec::new(),
        })
    }

    /// Wakes the followers: called once per read, not per line.
    pub fn wake(&self) {
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The last `n` lines of `process` from the streams `wanted` accepts,
    /// and the cursor after them.
    pub fn last(
        &self,
        process: &str,
        n: usize,
        wanted: impl Fn(Stream) -> bool,
    ) -> (Vec<LogLine>, u64) {
        match self.ring(process) {
            Some(ring) => (ring.last(n, wanted), ring.cursor()),
            None => (Vec::new(), 0),
        }
    }

    /// Where the next line of `process` will be: a run starting now writes
    /// after this.
    pub fn cursor(&self, process: &str) -> u64 {
        self.ring(process).map_or(0, |ring| ring.cursor())
    }

    /// What `process` wrote after `cursor`.
    pub fn since(&self, process: &str, cursor: u64) -> Since {
        match self.ring(process) {
            Some(ring) => ring.since(cursor),
            None => Since::default(),
        }
    }

    /// The last `n` lines `process` wrote to stderr, as text (lossy UTF-8,
    /// each cut to [`SHOWN_CHARS`]): what `oxinit status` and an exited
    /// event show of a process that failed.
    pub fn last_stderr(&self, process: &str, n: usize) -> Vec<String> {
        self.last_stderr_since(process, 0, n)
    }

    /// [`LogBook::last_stderr`] among the lines after `cursor` (see
    /// [`LogBook::cursor`]): those of one run.
    pub fn last_stderr_since(&self, process: &str, cursor: u64, n: usize) -> Vec<String> {
        let Some(ring) = self.ring(process) else {
            return Vec::new();
        };
        let lines = ring.last_since(cursor, n, |s| s == Stream::Stderr);
        drop(ring);
        lines
            .iter()
            .map(|l| {
                let text = String::from_utf8_lossy(&l.text);
                match text.char_indices().nth(SHOWN_CHARS) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text.into_owned(),
                }
            })
            .collect()
    }

    /// Resolves (`changed()`) after the next read of any relay.
    pub fn woken(&self) -> watch::Receiver<u64> {
        self.inner.wake.subscribe()
    }

    fn ring(&self, process: &str) -> Option<MutexGuard<'_, Ring>> {
        Some(lock(self.inner.rings.get(process)?))
    }
}

/// One process's ring, for one of its relays. The relay stages the lines
/// of a read, then keeps them all at once: one lock and one count of the
/// order a read, not one a line (which doubled the relay's cost per line).
#[derive(Debug)]
pub struct Keeper {
    ring: Arc<Mutex<Ring>>,
    book: LogBook,
    /// The staged lines' texts, end to end…
    text: Vec<u8>,
    /// …and each one's stream, time and length.
    lines: Vec<(Stream, u64, usize)>,
}

impl Keeper {
    /// Stages a line read at `at_ms`.
    pub fn stage(&mut self, stream: Stream, at_ms: u64, text: &[u8]) {
        self.text.extend_from_slice(text);
        self.lines.push((stream, at_ms, text.len()));
    }

    /// Keeps the staged lines and wakes the followers.
    pub fn keep(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        let n = self.lines.len() as u64;
        let mut seq = self.book.inner.seq.fetch_add(n, Ordering::Relaxed);
        {
            let mut ring = lock(&self.ring);
            let mut start = 0;
            for &(stream, at_ms, len) in &self.lines {
                ring.push(seq, stream, at_ms, &self.text[start..start + len]);
                start += len;
                seq += 1;
            }
        }
        self.text.clear();
        self.lines.clear();
        self.book.wake();
    }
}

fn lock(ring: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    // A panic while holding a ring leaves it consistent (a push is a few
    // field updates): keep using it.
    ring.lock().unwrap_or_else(|p| p.into_inner())
}

/// Now, in milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_per_process_in_one_order() {
        let book = LogBook::new(
            [
                ("api".to_string(), Bounds::default()),
                ("db".to_string(), Bounds::default()),
            ],
            true,
        );
        let (api, db) = ("api", "db");
        let woken = book.woken();
        book.record(api, Stream::Stdout, 1, b"one");
        book.record(db, Stream::Stderr, 2, b"two");
        book.record(api, Stream::Stderr, 3, b"three");
        book.record("ghost", Stream::Stdout, 4, b"nobody keeps this");
        book.wake();
        assert!(woken.has_changed().unwrap());
        let (lines, cursor) = book.last("api", 10, |_| true);
        assert_eq!(cursor, 2);
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [0, 2]);
        let (errors, _) = book.last("db", 10, |s| s == Stream::Stderr);
        assert_eq!(errors[0].text, b"two");
        assert_eq!(book.since("api", 1).lines.len(), 1);
        assert!(book.last("ghost", 10, |_| true).0.is_empty());
        assert_eq!(book.names(), ["api", "db"]);
    }
}
