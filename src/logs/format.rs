//! Turning one line of a child's output into one line of oxinit's output.
//!
//! Everything that is the same for every line of a relay (the padded name, the
//! JSON keys with the escaped process name and stream) is rendered once when
//! the relay starts; a line then costs a few `extend_from_slice` calls into the
//! batch buffer.

use super::{json, timestamp, Stream, Style};

pub(crate) enum Formatter {
    /// `api        | ` before the raw bytes of the line.
    Prefixed { prefix: Vec<u8> },
    /// `{"ts":"<stamp>` + `middle` + the line as a JSON string + `}`.
    Json {
        middle: Vec<u8>,
        stamp: [u8; timestamp::LEN],
    },
}

impl Formatter {
    pub(crate) fn new(style: Style, process: &str, stream: Stream) -> Formatter {
        match style {
            Style::Prefixed { width } => Formatter::Prefixed {
                prefix: format!("{process:<width$} | ").into_bytes(),
            },
            Style::Json => {
                let mut middle = b"\",\"process\":".to_vec();
                json::push_string(&mut middle, process.as_bytes());
                middle.extend_from_slice(b",\"stream\":\"");
                middle.extend_from_slice(stream.as_str().as_bytes());
                middle.extend_from_slice(b"\",\"line\":");
                Formatter::Json {
                    middle,
                    stamp: timestamp::now(),
                }
            }
        }
    }

    /// Sets the time stamped on the following lines. Called once per read,
    /// not per line: lines read together arrived together, and a clock read
    /// per line would cost more than formatting it.
    pub(crate) fn set_time(&mut self, now: impl FnOnce() -> [u8; timestamp::LEN]) {
        if let Formatter::Json { stamp, .. } = self {
            *stamp = now();
        }
    }

    /// Appends `line` (without newline), formatted and newline-terminated.
    pub(crate) fn push_line(&self, out: &mut Vec<u8>, line: &[u8]) {
        match self {
            Formatter::Prefixed { prefix } => {
                // The child's bytes pass through untouched, UTF-8 or not.
                out.extend_from_slice(prefix);
                out.extend_from_slice(line);
            }
            Formatter::Json { middle, stamp } => {
                out.extend_from_slice(b"{\"ts\":\"");
                out.extend_from_slice(stamp);
                out.extend_from_slice(middle);
                // JSON strings must be Unicode: invalid UTF-8 becomes U+FFFD
                // here, and only here.
                json::push_string(out, line);
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(style: Style, process: &str, stream: Stream, line: &[u8]) -> Vec<u8> {
        let mut formatter = Formatter::new(style, process, stream);
        formatter.set_time(|| *b"2026-11-23T23:18:53.123Z");
        let mut out = b"before\n".to_vec();
        formatter.push_line(&mut out, line);
        out
    }

    #[test]
    fn prefixed_pads_the_name_and_keeps_bytes() {
        let out = render(
            Style::Prefixed { width: 10 },
            "api",
            Stream::Stdout,
            b"x\xff y",
        );
        assert_eq!(out, b"before\napi        | x\xff y\n");
        let out = render(Style::Prefixed { width: 2 }, "worker", Stream::Stderr, b"");
        assert_eq!(
            out, b"before\nworker | \n",
            "a name wider than width is kept whole"
        );
    }

    #[test]
    fn json_escapes_and_replaces_invalid_utf8() {
        let out = render(
            Style::Json,
            "a\"pi",
            Stream::Stderr,
            b"say \"hi\"\t\x01\xff",
        );
        let text = std::str::from_utf8(&out).unwrap();
        let json = text.strip_prefix("before\n").unwrap();
        assert!(json.ends_with("}\n"), "{json:?}");
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["ts"], "2026-11-23T23:18:53.123Z");
        assert_eq!(value["process"], "a\"pi");
        assert_eq!(value["stream"], "stderr");
        assert_eq!(value["line"], "say \"hi\"\t\u{1}\u{fffd}");
        assert_eq!(
            json.lines().count(),
            1,
            "control characters must be escaped"
        );
    }
}
