//! The last lines of one process, kept for `oxinit logs` and `oxinit status`.
//!
//! Bounded twice: in lines (`log_buffer_lines`) and in bytes of line text
//! (`log_buffer_bytes`), whichever is reached first; the oldest lines go
//! first. A single line longer than the byte bound is cut to it (and marked
//! cut) rather than dropped: the start of an overlong stack trace line is
//! still worth showing. Pushing never waits and never fails: the relay
//! appends from its read loop.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Stream;

/// One line a process wrote, as kept and as followers receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Increases with every line of every process: the order across
    /// processes, and where a follower's backlog ends.
    pub seq: u64,
    pub process: Arc<str>,
    pub stream: Stream,
    /// When the relay read it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The line without its newline, as the process wrote it (not UTF-8
    /// checked).
    pub text: Box<[u8]>,
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

/// The last lines of one process, within its [`Bounds`].
#[derive(Debug)]
pub struct Ring {
    bounds: Bounds,
    lines: VecDeque<Arc<LogLine>>,
    /// Bytes of text in `lines`.
    bytes: usize,
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
    pub lines: Vec<Arc<LogLine>>,
    /// The cursor for the next call.
    pub cursor: u64,
}

impl Ring {
    pub fn new(bounds: Bounds) -> Ring {
        Ring {
            bounds,
            lines: VecDeque::new(),
            bytes: 0,
            pushed: 0,
        }
    }

    /// Keeps `line`, dropping the oldest lines to stay within the bounds.
    /// Returns the line as kept (cut to the byte bound if longer).
    pub fn push(&mut self, mut line: LogLine) -> Arc<LogLine> {
        if line.text.len() > self.bounds.bytes {
            let mut text = std::mem::take(&mut line.text).into_vec();
            text.truncate(self.bounds.bytes);
            line.text = text.into_boxed_slice();
            line.cut = true;
        }
        let line = Arc::new(line);
        self.pushed += 1;
        while self.lines.len() >= self.bounds.lines
            || (!self.lines.is_empty() && self.bytes + line.text.len() > self.bounds.bytes)
        {
            self.pop();
        }
        self.bytes += line.text.len();
        self.lines.push_back(line.clone());
        line
    }

    /// The last `n` lines of the streams `wanted` accepts, oldest first.
    pub fn last(&self, n: usize, wanted: impl Fn(Stream) -> bool) -> Vec<Arc<LogLine>> {
        let mut out: Vec<Arc<LogLine>> = self
            .lines
            .iter()
            .rev()
            .filter(|l| wanted(l.stream))
            .take(n)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// The lines pushed after `cursor` (a count of lines pushed, as
    /// [`Ring::cursor`] and earlier calls return it), and how many of them
    /// were dropped before the follower came back for them.
    pub fn since(&self, cursor: u64) -> Since {
        let first_held = self.pushed - self.lines.len() as u64;
        let lost = first_held.saturating_sub(cursor);
        let skip = cursor.saturating_sub(first_held) as usize;
        Since {
            lost,
            lines: self.lines.iter().skip(skip).cloned().collect(),
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
        (self.lines.len(), self.bytes)
    }

    fn pop(&mut self) {
        if let Some(old) = self.lines.pop_front() {
            self.bytes -= old.text.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, stream: Stream, text: &str) -> LogLine {
        LogLine {
            seq,
            process: "api".into(),
            stream,
            at_ms: 0,
            text: text.as_bytes().into(),
            cut: false,
        }
    }

    fn texts(lines: &[Arc<LogLine>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn keeps_at_most_its_lines_dropping_the_oldest() {
        let mut ring = Ring::new(Bounds {
            lines: 3,
            bytes: 1 << 20,
        });
        for i in 0..10 {
            ring.push(line(i, Stream::Stdout, &format!("line {i}")));
        }
        assert_eq!(ring.held().0, 3);
        assert_eq!(
            texts(&ring.last(100, |_| true)),
            ["line 7", "line 8", "line 9"]
        );
        assert_eq!(texts(&ring.last(2, |_| true)), ["line 8", "line 9"]);
    }

    #[test]
    fn keeps_at_most_its_bytes_dropping_the_oldest() {
        let mut ring = Ring::new(Bounds {
            lines: 1000,
            bytes: 10,
        });
        ring.push(line(0, Stream::Stdout, "aaaa"));
        ring.push(line(1, Stream::Stdout, "bbbb"));
        assert_eq!(ring.held(), (2, 8));
        ring.push(line(2, Stream::Stdout, "cccc"));
        assert_eq!(ring.held(), (2, 8), "aaaa made room");
        assert_eq!(texts(&ring.last(10, |_| true)), ["bbbb", "cccc"]);
        ring.push(line(3, Stream::Stdout, "dddddddddd"));
        assert_eq!(ring.held(), (1, 10), "exactly the bound fits alone");
    }

    #[test]
    fn a_line_longer_than_the_byte_bound_is_cut_and_kept_alone() {
        let mut ring = Ring::new(Bounds {
            lines: 1000,
            bytes: 8,
        });
        ring.push(line(0, Stream::Stderr, "short"));
        let kept = ring.push(line(1, Stream::Stderr, "0123456789abcdef"));
        assert!(kept.cut);
        assert_eq!(&*kept.text, b"01234567");
        assert_eq!(ring.held(), (1, 8), "the older line made room");
        let next = ring.push(line(2, Stream::Stderr, "x"));
        assert!(!next.cut);
        assert_eq!(ring.held(), (1, 1), "the cut line is dropped for the next");
    }

    #[test]
    fn last_filters_by_stream_and_keeps_order() {
        let mut ring = Ring::new(Bounds::default());
        ring.push(line(0, Stream::Stderr, "e1"));
        ring.push(line(1, Stream::Stdout, "o1"));
        ring.push(line(2, Stream::Stderr, "e2"));
        ring.push(line(3, Stream::Stdout, "o2"));
        let errors = ring.last(5, |s| s == Stream::Stderr);
        assert_eq!(texts(&errors), ["e1", "e2"]);
        assert_eq!(texts(&ring.last(3, |_| true)), ["o1", "e2", "o2"]);
    }

    #[test]
    fn a_follower_gets_what_came_after_its_cursor_and_counts_what_it_missed() {
        let mut ring = Ring::new(Bounds {
            lines: 3,
            bytes: 1 << 20,
        });
        ring.push(line(0, Stream::Stdout, "a"));
        let cursor = ring.cursor();
        ring.push(line(1, Stream::Stdout, "b"));
        let since = ring.since(cursor);
        assert_eq!(
            (since.lost, texts(&since.lines)),
            (0, vec!["b".to_string()])
        );
        let cursor = since.cursor;
        assert!(ring.since(cursor).lines.is_empty(), "nothing new");
        for (i, text) in ["c", "d", "e", "f", "g"].iter().enumerate() {
            ring.push(line(2 + i as u64, Stream::Stdout, text));
        }
        let since = ring.since(cursor);
        assert_eq!(since.lost, 2, "c and d were dropped before it came back");
        assert_eq!(texts(&since.lines), ["e", "f", "g"]);
        assert_eq!(since.cursor, 7);
    }
}
