//! Cutting a child's byte stream into lines, without allocating per line.
//!
//! [`Lines`] owns one fixed buffer of `MAX_LINE + 1` bytes. The relay reads
//! into its spare tail, takes out every complete line as a borrowed slice, then
//! moves the unfinished last line to the front. Because a complete line must fit
//! the buffer, a line longer than `MAX_LINE` can never be held whole: it is cut
//! into `MAX_LINE` pieces, each emitted as its own line. The extra byte lets us
//! see whether the byte after a full `MAX_LINE` is the newline, so a line of
//! exactly 64 KiB is not split.

use super::RelayStats;

/// The longest line emitted whole; longer ones are split into pieces this long.
pub(crate) const MAX_LINE: usize = 64 * 1024;

pub(crate) struct Lines {
    buf: Box<[u8]>,
    /// Start of the first line not yet handed out.
    start: usize,
    /// `buf[start..scanned]` is known to hold no newline.
    scanned: usize,
    /// `buf[..filled]` holds data read from the child.
    filled: usize,
    /// The line at `start` already had a piece cut off.
    in_split: bool,
    stats: RelayStats,
}

impl Lines {
    pub(crate) fn new() -> Lines {
        Lines {
            buf: vec![0; MAX_LINE + 1].into_boxed_slice(),
            start: 0,
            scanned: 0,
            filled: 0,
            in_split: false,
            stats: RelayStats::default(),
        }
    }

    /// Where the next read goes. Never empty: `next_line` cuts a piece as soon
    /// as the buffer is full of one unfinished line, and `compact` is called
    /// before each read.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        self.compact();
        &mut self.buf[self.filled..]
    }

    /// Records that `n` bytes were read into `spare()`.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.filled + n <= self.buf.len());
        self.filled += n;
        self.stats.bytes += n as u64;
    }

    /// The next complete line (without its newline, and without a `\r` right
    /// before the newline), or the next `MAX_LINE` piece of an overlong one.
    pub(crate) fn next_line(&mut self) -> Option<&[u8]> {
        if let Some(at) = find_newline(&self.buf[self.scanned..self.filled]) {
            let newline = self.scanned + at;
            let mut end = newline;
            // Strip the `\r` of a `\r\n` ending (apps written for Windows, or
            // writing to what they think is a terminal): it would show as `^M`
            // in log viewers and end up inside the JSON string.
            if end > self.start && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            let line = self.start..end;
            self.start = newline + 1;
            self.scanned = self.start;
            self.in_split = false;
            self.stats.lines += 1;
            return Some(&self.buf[line]);
        }
        self.scanned = self.filled;
        if self.filled - self.start > MAX_LINE {
            return Some(self.cut_piece());
        }
        None
    }

    /// At end of input: the unfinished last line, if any. It is emitted like a
    /// complete one, so output that does not end in a newline is not lost.
    pub(crate) fn rest(&mut self) -> Option<&[u8]> {
        if self.start == self.filled {
            return None;
        }
        let line = self.start..self.filled;
        self.start = self.filled;
        self.scanned = self.filled;
        self.stats.lines += 1;
        Some(&self.buf[line])
    }

    pub(crate) fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Hands out the first `MAX_LINE` bytes (or a little less, see below) of
    /// the unfinished line at `start`, which is longer than `MAX_LINE`.
    fn cut_piece(&mut self) -> &[u8] {
        let mut len = MAX_LINE;
        // Do not cut a UTF-8 character in two, which would turn it into two
        // U+FFFD in json: if the next piece would start on a continuation byte
        // (0b10xx_xxxx), back off to the character's first byte. A character
        // is at most 4 bytes; after 3 continuation bytes it is not UTF-8, so
        // cut at the limit.
        let continues = |b: u8| b & 0b1100_0000 == 0b1000_0000;
        let mut back = 0;
        while back < 3 && continues(self.buf[self.start + len - back]) {
            back += 1;
        }
        if back < 3 || !continues(self.buf[self.start + len - back]) {
            len -= back;
        }
        let piece = self.start..self.start + len;
        self.start += len;
        if !self.in_split {
            self.in_split = true;
            self.stats.split_lines += 1;
        }
        self.stats.lines += 1;
        &self.buf[piece]
    }

    /// Moves the unfinished line to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
    }
}

/// Index of the first `\n` in `haystack`.
///
/// Finding newlines is the largest part of the relay's own work on short
/// lines. A hand-written 8-bytes-at-a-time search took ~1.5 instructions a
/// byte (a byte loop, more); memchr's SIMD search takes about a third of that
/// on 100-byte lines (callgrind, `format_cost` in `tests.rs`). memchr is
/// already in the build through serde_json.
pub(crate) fn find_newline(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in reads of `chunk` bytes; returns the emitted lines.
    fn split(input: &[u8], chunk: usize) -> (Vec<Vec<u8>>, RelayStats) {
        let mut lines = Lines::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let spare = lines.spare();
                let n = spare.len().min(piece.len());
                spare[..n].copy_from_slice(&piece[..n]);
                lines.commit(n);
                piece = &piece[n..];
                while let Some(line) = lines.next_line() {
                    out.push(line.to_vec());
                }
            }
        }
        if let Some(line) = lines.rest() {
            out.push(line.to_vec());
        }
        (out, lines.stats())
    }

    #[test]
    fn finds_the_first_newline() {
        for len in 0..40 {
            for at in 0..=len {
                let mut haystack = vec![b'\n' ^ 0x80; len];
                // Bytes that differ from '\n' by one bit, or sit just below
                // and above it, to catch borrow mistakes.
                for (i, b) in haystack.iter_mut().enumerate() {
                    *b = [0x0b, 0x09, 0x8a, 0x00, 0xff][i % 5];
                }
                if at < len {
                    haystack[at] = b'\n';
                    if at + 1 < len {
                        haystack[at + 1] = b'\n';
                    }
                }
                let expected = haystack.iter().position(|&b| b == b'\n');
                assert_eq!(find_newline(&haystack), expected, "len {len} at {at}");
            }
        }
    }

    #[test]
    fn splits_lines_across_reads_and_strips_cr() {
        let input = b"one\r\ntwo\n\nthree\rstill three\nlast, no newline";
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            let (lines, stats) = split(input, chunk);
            assert_eq!(
                lines,
                [
                    &b"one"[..],
                    b"two",
                    b"",
                    b"three\rstill three",
                    b"last, no newline"
                ],
                "reads of {chunk} bytes"
            );
            assert_eq!(stats.lines, 5);
            assert_eq!(stats.bytes, input.len() as u64);
            assert_eq!(stats.split_lines, 0);
        }
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_not_split() {
        let mut input = vec![b'x'; MAX_LINE];
        input.push(b'\n');
        input.extend_from_slice(b"next\n");
        let (lines, stats) = split(&input, 4096);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(stats.split_lines, 0);
    }

    #[test]
    fn overlong_lines_are_cut_into_limit_sized_pieces() {
        let mut input: Vec<u8> = (0..200 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        input.push(b'\n');
        input.extend_from_slice(b"short\n");
        let (lines, stats) = split(&input, 65536);
        let lens: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, MAX_LINE, 8 * 1024, 5]);
        assert_eq!(lines.concat(), [&input[..200 * 1024], b"short"].concat());
        assert_eq!(stats.split_lines, 1, "one line was split");
        assert_eq!(stats.lines, 5);
    }

    #[test]
    fn a_cut_does_not_split_a_utf8_character() {
        // "é" is 2 bytes; place one across the 64 KiB boundary.
        let mut input = vec![b'x'; MAX_LINE - 1];
        input.extend_from_slice("é".as_bytes());
        input.extend_from_slice(b"yz\n");
        let (lines, _) = split(&input, 65536);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE - 1);
        assert_eq!(lines[1], "éyz".as_bytes());
    }

    #[test]
    fn a_cut_in_binary_garbage_stays_at_the_limit() {
        let mut input = vec![0x80u8; MAX_LINE + 10];
        input.push(b'\n');
        let (lines, _) = split(&input, 65536);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1].len(), 10);
    }
}
