//! The last lines of one process, kept for `oxinit logs` and `oxinit status`.
//!
//! Bounded twice: in lines (`log_buffer_lines`) and in bytes of line text
//! (`log_buffer_bytes`), whichever is reached first; the oldest lines go
//! first. A single line longer than the byte bound is cut to it (and marked
//! cut) rather than dropped: the start of an overlong stack trace line is
//! still worth showing. Pushing never waits and never fails: the relay
//! appends from its read loop.
//!
//! The texts live end to end in one byte queue, beside a queue of each
//! line's facts: keeping a line is two copies into memory the ring already
//! has, with no allocation per line (the relay keeps every line it passes
//! on, so this is on its hot path), and the memory held is the byte bound
//! plus a few words a line. Readers, which are rare, get copies.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Stream;

/// One line a process wrote, as readers get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Increases with every line of every process: the order across
    /// processes.
    pub seq: u64,
    pub process: Arc<str>,
    pub stream: Stream,
    /// When the relay read it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The line without its newline, as the process wrote it (not UTF-8
    /// checked).
    pub text: Vec<u8>,
    /// The line was longer than the byte bound and `text` is its start.
    pub cut: bool,
}

/// A ring's two bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Lines kept at most (at least 1).
    pub lines: usize,
    /// Bytes of line text kept at most.
    pub bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            lines: 1000,
            bytes: 1 << 20,
        }
    }
}

/// What a line is besides its text.
#[derive(Debug, Clone, Copy)]
struct Facts {
    seq: u64,
    stream: Stream,
    at_ms: u64,
    len: usize,
    cut: bool,
}

/// The last lines of one process, within its [`Bounds`].
#[derive(Debug)]
pub struct Ring {
    process: Arc<str>,
    bounds: Bounds,
    facts: VecDeque<Facts>,
    /// The texts of `facts`, end to end, oldest first.
    text: VecDeque<u8>,
    /// Lines pushed since the start, kept or not: a follower's cursor counts
    /// in these, so it knows how many it missed.
    pushed: u64,
}

/// What a follower gets from [`Ring::since`].
#[derive(Debug, Default)]
pub struct Since {
    /// Lines pushed after the cursor that the ring no longer holds.
    pub lost: u64,
    /// The lines after the cursor that it still holds, oldest first.
    pub lines: Vec<LogLine>,
    /// The cursor for the next call.
    pub cursor: u64,
}

impl Ring {
    pub fn new(process: Arc<str>, bounds: Bounds) -> Ring {
        Ring {
            process,
            bounds,
            facts: VecDeque::new(),
            text: VecDeque::new(),
            pushed: 0,
        }
    }

    /// Keeps a line (`seq` orders it among every process's lines), dropping
    /// the oldest lines to stay within the bounds; one longer than the byte
    /// bound is cut to it.
    pub fn push(&mut self, seq: u64, stream: Stream, at_ms: u64, text: &[u8]) {
        let cut = text.len() > self.bounds.bytes;
        let text = &text[..text.len().min(self.bounds.bytes)];
        while !self.facts.is_empty()
            && (self.facts.len() >= self.bounds.lines
                || self.text.len() + text.len() > self.bounds.bytes)
        {
            self.pop();
        }
        self.pushed += 1;
        self.text.extend(text);
        self.facts.push_back(Facts {
            seq,
            stream,
            at_ms,
            len: text.len(),
            cut,
        });
    }

    /// The last `n` lines of the streams `wanted` accepts, oldest first.
    pub fn last(&self, n: usize, wanted: impl Fn(Stream) -> bool) -> Vec<LogLine> {
        self.last_since(0, n, wanted)
    }

    /// [`Ring::last`] among the lines pushed after `cursor` only (those of
    /// one run of the process, say).
    pub fn last_since(
        &self,
        cursor: u64,
        n: usize,
        wanted: impl Fn(Stream) -> bool,
    ) -> Vec<LogLine> {
        let first_held = self.pushed - self.facts.len() as u64;
        let newer = (self.pushed - cursor.clamp(first_held, self.pushed)) as usize;
        let mut end = self.text.len();
        let mut out = Vec::new();
        for facts in self.facts.iter().rev().take(newer) {
            if out.len() == n {
                break;
            }
            let start = end - facts.len;
            if wanted(facts.stream) {
                out.push(self.line(facts, start));
            }
            end = start;
        }
        out.reverse();
        out
    }

    /// The lines pushed after `cursor` (a count of lines pushed, as
    /// [`Ring::cursor`] and earlier calls return it), and how many of them
    /// were dropped before the follower came back for them.
    pub fn since(&self, cursor: u64) -> Since {
        let first_held = self.pushed - self.facts.len() as u64;
        let lost = first_held.saturating_sub(cursor);
        let skip = cursor.saturating_sub(first_held) as usize;
        let mut start: usize = self.facts.iter().take(skip).map(|f| f.len).sum();
        let mut lines = Vec::new();
        for facts in self.facts.iter().skip(skip) {
            lines.push(self.line(facts, start));
            start += facts.len;
        }
        Since {
            lost,
            lines,
            cursor: self.pushed,
        }
    }

    /// Where a follower starts that has seen every line so far.
    pub fn cursor(&self) -> u64 {
        self.pushed
    }

    /// Lines and bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        (self.facts.len(), self.text.len())
    }

    fn line(&self, facts: &Facts, start: usize) -> LogLine {
        LogLine {
            seq: facts.seq,
            process: self.process.clone(),
            stream: facts.stream,
            at_ms: facts.at_ms,
            text: self.text.range(start..start + facts.len).copied().collect(),
            cut: facts.cut,
        }
    }

    fn pop(&mut self) {
        if let Some(old) = self.facts.pop_front() {
            self.text.drain(..old.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: usize, bytes: usize) -> Ring {
        Ring::new("api".into(), Bounds { lines, bytes })
    }

    fn push(ring: &mut Ring, stream: Stream, text: &str) {
        let seq = ring.cursor();
        ring.push(seq, stream, 0, text.as_bytes());
    }

    fn texts(lines: &[LogLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn keeps_at_most_its_lines_dropping_the_oldest() {
        let mut ring = ring(3, 1 << 20);
        for i in 0..10 {
            push(&mut ring, Stream::Stdout, &format!("line {i}"));
        }
        assert_eq!(ring.held(), (3, 18));
        assert_eq!(
            texts(&ring.last(100, |_| true)),
            ["line 7", "line 8", "line 9"]
        );
        assert_eq!(texts(&ring.last(2, |_| true)), ["line 8", "line 9"]);
        let seqs: Vec<u64> = ring.last(3, |_| true).iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [7, 8, 9]);
    }

    #[test]
    fn keeps_at_most_its_bytes_dropping_the_oldest() {
        let mut ring = ring(1000, 10);
        push(&mut ring, Stream::Stdout, "aaaa");
        push(&mut ring, Stream::Stdout, "bbbb");
        assert_eq!(ring.held(), (2, 8));
        push(&mut ring, Stream::Stdout, "cccc");
        assert_eq!(ring.held(), (2, 8), "aaaa made room");
        assert_eq!(texts(&ring.last(10, |_| true)), ["bbbb", "cccc"]);
        push(&mut ring, Stream::Stdout, "dddddddddd");
        assert_eq!(ring.held(), (1, 10), "exactly the bound fits alone");
        assert_eq!(texts(&ring.last(10, |_| true)), ["dddddddddd"]);
    }

    #[test]
    fn a_line_longer_than_the_byte_bound_is_cut_and_kept_alone() {
        let mut ring = ring(1000, 8);
        push(&mut ring, Stream::Stderr, "short");
        push(&mut ring, Stream::Stderr, "0123456789abcdef");
        let kept = ring.last(10, |_| true);
        assert_eq!(kept.len(), 1, "the older line made room");
        assert!(kept[0].cut);
        assert_eq!(kept[0].text, b"01234567");
        assert_eq!(ring.held(), (1, 8));
        push(&mut ring, Stream::Stderr, "x");
        let kept = ring.last(10, |_| true);
        assert_eq!(texts(&kept), ["x"], "the cut line is dropped for the next");
        assert!(!kept[0].cut);
    }

    #[test]
    fn last_filters_by_stream_and_keeps_order() {
        let mut ring = ring(1000, 1 << 20);
        push(&mut ring, Stream::Stderr, "e1");
        push(&mut ring, Stream::Stdout, "o1");
        push(&mut ring, Stream::Stderr, "e2");
        push(&mut ring, Stream::Stdout, "o2");
        let errors = ring.last(5, |s| s == Stream::Stderr);
        assert_eq!(texts(&errors), ["e1", "e2"]);
        assert_eq!(texts(&ring.last(3, |_| true)), ["o1", "e2", "o2"]);
        assert_eq!(texts(&ring.last(1, |s| s == Stream::Stderr)), ["e2"]);
        assert_eq!(&*ring.last(1, |_| true)[0].process, "api");
    }

    #[test]
    fn a_follower_gets_what_came_after_its_cursor_and_counts_what_it_missed() {
        let mut ring = ring(3, 1 << 20);
        push(&mut ring, Stream::Stdout, "a");
        let cursor = ring.cursor();
        push(&mut ring, Stream::Stdout, "b");
        let since = ring.since(cursor);
        assert_eq!(
            (since.lost, texts(&since.lines)),
            (0, vec!["b".to_string()])
        );
        let cursor = since.cursor;
        assert!(ring.since(cursor).lines.is_empty(), "nothing new");
        for text in ["c", "dd", "e", "ff", "g"] {
            push(&mut ring, Stream::Stdout, text);
        }
        let since = ring.since(cursor);
        assert_eq!(since.lost, 2, "c and dd were dropped before it came back");
        assert_eq!(texts(&since.lines), ["e", "ff", "g"]);
        assert_eq!(since.cursor, 7);
        // A cursor inside what is held starts after its own line.
        assert_eq!(texts(&ring.since(5).lines), ["ff", "g"]);
        assert_eq!(texts(&ring.last_since(5, 10, |_| true)), ["ff", "g"]);
        assert_eq!(texts(&ring.last_since(5, 1, |_| true)), ["g"]);
        assert_eq!(texts(&ring.last_since(0, 10, |_| true)), ["e", "ff", "g"]);
        assert!(ring.last_since(7, 10, |_| true).is_empty());
    }
}
