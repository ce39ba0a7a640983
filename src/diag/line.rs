//! One log line of oxinit's own, in the shapes tracing-subscriber's `fmt()`
//! wrote before we replaced it (log shippers and people's greps know them):
//!
//! ```text
//! 2026-11-24T01:26:28.123456Z  WARN cannot write stream=stderr errno=EPIPE lost_bytes=12
//! {"timestamp":"2026-11-24T01:26:28.123456Z","level":"WARN","fields":{"message":"cannot write","stream":"stderr","errno":"EPIPE","lost_bytes":12}}
//! ```
//!
//! Text: the level right-aligned to five columns, then the message, then each
//! field as `name=value` with `Debug` formatting (so strings are quoted and
//! `%`-fields show their `Display`). Json: every field, the message first, under
//! `"fields"`; numbers and booleans as JSON numbers and booleans, everything
//! else as a string.

use std::fmt::{self, Debug, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level};

use super::Format;
use crate::logs::timestamp;

/// Appends `event`, logged at `now`, as one line (newline included) to `out`.
pub(super) fn push(out: &mut Vec<u8>, format: Format, now: SystemTime, event: &Event<'_>) {
    let level = *event.metadata().level();
    match format {
        Format::Text { ansi } => {
            push_styled(out, ansi.then_some(DIM), |out| push_timestamp(out, now));
            out.push(b' ');
            push_styled(out, ansi.then(|| colour(level)), |out| {
                out.extend_from_slice(padded(level).as_bytes())
            });
            out.push(b' ');
            event.record(&mut TextFields {
                out,
                ansi,
                first: true,
            });
        }
        Format::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            push_timestamp(out, now);
            out.extend_from_slice(b"\",\"level\":\"");
            out.extend_from_slice(level.as_str().as_bytes());
            out.extend_from_slice(b"\",\"fields\":{");
            event.record(&mut JsonFields { out, first: true });
            out.extend_from_slice(b"}}");
        }
    }
    out.push(b'\n');
}

/// UTC RFC 3339 with microseconds: `2026-11-24T01:26:28.123456Z`.
pub(super) fn push_timestamp(out: &mut Vec<u8>, now: SystemTime) {
    // A clock set before 1970 is a broken host; print the epoch rather than
    // fail to log (as the child-output timestamps do).
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    // The calendar arithmetic is shared with the json relay's timestamps
    // (tested there); they stop at milliseconds, so keep `…:SS.` and put the
    // microseconds after it.
    let to_millis = timestamp::format(since_epoch);
    out.extend_from_slice(&to_millis[..20]);
    let mut micros = since_epoch.subsec_micros();
    let mut digits = *b"000000Z";
    for digit in digits[..6].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out.extend_from_slice(&digits);
}

/// The level as tracing-subscriber printed it, right-aligned to five columns.
fn padded(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => " WARN",
        Level::INFO => " INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

// SGR sequences, the ones tracing-subscriber (nu-ansi-term) used.
const DIM: &str = "\x1b[2m";
const ITALIC: &str = "\x1b[3m";
const RESET: &str = "\x1b[0m";

fn colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m", // red
        Level::WARN => "\x1b[33m",  // yellow
        Level::INFO => "\x1b[32m",  // green
        Level::DEBUG => "\x1b[34m", // blue
        Level::TRACE => "\x1b[35m", // purple
    }
}

/// Runs `write` between `style` and a reset, or bare when `style` is None.
fn push_styled(out: &mut Vec<u8>, style: Option<&str>, write: impl FnOnce(&mut Vec<u8>)) {
    match style {
        Some(style) => {
            out.extend_from_slice(style.as_bytes());
            write(out);
            out.extend_from_slice(RESET.as_bytes());
        }
        None => write(out),
    }
}

/// `message name=value name=value`, space-separated.
struct TextFields<'a> {
    out: &'a mut Vec<u8>,
    ansi: bool,
    first: bool,
}

impl Visit for TextFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            // `info!(message = "…")`: the message unquoted, like a literal one.
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    /// Every other type ends here (tracing's defaults route numbers, booleans,
    /// errors and `%`-fields through `Debug`), which is why `%x` prints its
    /// `Display` and `x = "s"` prints `"s"`.
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b' ');
        }
        // `write!` into a Vec fails only when a Debug impl returns an error;
        // the line then carries what it wrote so far.
        let _ = if field.name() == "message" {
            // The message may quote what a child or a client sent: keep it
            // from driving the operator's terminal.
            write!(self.out, "{:?}", Sanitized(value))
        } else if self.ansi {
            let name = field.name();
            write!(self.out, "{ITALIC}{name}{RESET}{DIM}={RESET}{value:?}")
        } else {
            write!(self.out, "{}={value:?}", field.name())
        };
    }
}

/// Formats the inner value with the terminal control characters that can
/// start an escape sequence shown as text (`\x1b`), like tracing-subscriber's
/// `EscapeGuard`. Newlines and tabs pass, as they did.
struct Sanitized<'a>(&'a dyn Debug);

impl Debug for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                for ch in text.chars() {
                    match ch {
                        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                            write!(self.0, "\\x{:02x}", ch as u32)?
                        }
                        '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
                        _ => self.0.write_char(ch)?,
                    }
                }
                Ok(())
            }
        }
        write!(Escaping(f), "{:?}", self.0)
    }
}

/// `"name":value,…` inside the `"fields"` object.
struct JsonFields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl JsonFields<'_> {
    /// Writes the separator and `"name":`, then the value through serde_json,
    /// whose string escaping (quotes, backslashes, control characters) the
    /// binary carries anyway.
    fn push(&mut self, field: &Field, value: impl serde::Serialize) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        // Serializing into a Vec cannot fail for these types.
        let _ = serde_json::to_writer(&mut *self.out, field.name());
        self.out.push(b':');
        let _ = serde_json::to_writer(&mut *self.out, &value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value);
    }

    /// NaN and infinities become `null`: JSON has no spelling for them.
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value);
    }

    /// Everything else (`?x`, `%x`, the message, errors, 128-bit integers):
    /// a string of its `Debug`, escaped while it is formatted, without an
    /// intermediate String.
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.push(field, AsString(value));
    }
}

struct AsString<'a>(&'a dyn Debug);

impl serde::Serialize for AsString<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:?}", self.0))
    }
}
