//! oxinit's own log lines: `tracing` to stderr, human-readable by default,
//! `OXINIT_LOG=json` for JSON, `OXINIT_LOG_LEVEL` (error, warn, info, debug,
//! trace) for the level.
//!
//! A small [`tracing::Subscriber`] of our own instead of tracing-subscriber's
//! `fmt()`: that one cost ~100 KB of a binary meant to stay under 2 MB and
//! built a span registry at every start, while oxinit uses no spans, one
//! writer and a level filter. What a PID 1's logger must get right:
//!
//! - never wait on its output: as PID 1 (run and single-command mode) every
//!   line goes through a bounded queue to a writer thread of its own
//!   ([`queue`]), which drops and counts what does not fit instead of making
//!   the supervisor wait for a reader that stopped reading;
//! - one `write` per line through std's stderr lock, which the child-output
//!   writer threads take too (`logs::writer`), so lines never interleave;
//!   only writer threads take it (and the CLI commands, which write directly);
//! - never panic on its output: a closed stderr or a gone reader (EPIPE)
//!   drops the line;
//! - never deadlock when a field's `Debug` impl logs in turn;
//! - a disabled `debug!` costs a level comparison ([`Subscriber::max_level_hint`]).

mod line;
mod queue;
#[cfg(test)]
mod tests;

pub use queue::{flush, lines_dropped};

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(test)]
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

/// How oxinit's lines reach stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Written by the calling thread, waiting as long as stderr makes it:
    /// for the CLI commands (`check`, `status`…), whose reader is a person
    /// or a script that wants every line.
    Direct,
    /// Through the bounded queue and its writer thread, dropping (and
    /// counting) what does not fit: for PID 1, which must never wait on a
    /// pipe someone else may stop reading. Call [`flush`] before exiting.
    Queued,
}

/// Installs the subscriber. `default_level` applies when OXINIT_LOG_LEVEL is
/// unset. With [`Output::Queued`] also routes [`say!`](crate::say) and
/// panic messages through the queue.
pub fn init(default_level: &str, output: Output) {
    if output == Output::Queued {
        queue::enable();
        route_panics();
    }
    let default = parse_level(default_level).unwrap_or(LevelFilter::INFO);
    let requested = std::env::var("OXINIT_LOG_LEVEL").unwrap_or_default();
    let level = requested_level(&requested, default);
    let format = if std::env::var("OXINIT_LOG").as_deref() == Ok("json") {
        Format::Json
    } else {
        // Colours only for a person at a terminal, and not for one who asked
        // for none (https://no-color.org).
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Format::Text {
            ansi: tty && !no_color,
        }
    };
    if level.is_none() {
        write_stderr(format!(
            "oxinit: OXINIT_LOG_LEVEL={requested:?} is not a level (error, warn, info, debug, trace); using {default_level}\n"
        ).as_bytes());
    }
    let subscriber = Subscriber::new(level.unwrap_or(default), format);
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        write_stderr(format!("oxinit: cannot set up logging: {e}\n").as_bytes());
    }
}

/// `error`, `warn`, `info`, `debug`, `trace` (any case), `off`, or 0–5:
/// what tracing's `LevelFilter` accepts, as before. Not the empty string,
/// which `LevelFilter` would take for `error`.
pub fn parse_level(value: &str) -> Option<LevelFilter> {
    if value.is_empty() {
        return None;
    }
    value.parse().ok()
}

/// The level for OXINIT_LOG_LEVEL=`value`: `default` when it is empty (what
/// an unset variable passed on by a compose file looks like), None when it
/// names no level.
fn requested_level(value: &str, default: LevelFilter) -> Option<LevelFilter> {
    if value.is_empty() {
        return Some(default);
    }
    parse_level(value)
}

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `2026-11-24T01:26:28.123456Z  INFO message key=value`, with ANSI
    /// colours when `ansi`.
    Text { ansi: bool },
    /// `{"timestamp":"…","level":"INFO","fields":{"message":"…","key":"value"}}`.
    Json,
}

/// Writes each enabled event as one line. Spans are accepted and ignored:
/// oxinit has none, and a span from a dependency must not break anything.
pub struct Subscriber {
    level: LevelFilter,
    format: Format,
    sink: Sink,
}

enum Sink {
    Stderr,
    #[cfg(test)]
    Memory(Arc<Mutex<Vec<u8>>>),
}

impl Subscriber {
    /// Lines at `level` and more severe, to stderr.
    pub fn new(level: LevelFilter, format: Format) -> Subscriber {
        Subscriber {
            level,
            format,
            sink: Sink::Stderr,
        }
    }

    /// The same lines appended to `buffer` instead, for tests that read them.
    #[cfg(test)]
    pub fn writing_to(self, buffer: Arc<Mutex<Vec<u8>>>) -> Subscriber {
        Subscriber {
            sink: Sink::Memory(buffer),
            ..self
        }
    }

    fn write(&self, line: &[u8]) {
        match &self.sink {
            Sink::Stderr => write_stderr(line),
            #[cfg(test)]
            Sink::Memory(buffer) => buffer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(line),
        }
    }
}

/// Queues `line` for the writer thread when the queue runs ([`Output::Queued`]:
/// never waits, drops when full), else one `write_all` under std's stderr
/// lock. Stderr is unbuffered, so that is one write(2) unless the kernel
/// takes part of it (a pipe's reader slower than us). Errors drop the line:
/// there is nowhere else to report them, and a PID 1 must not die of a closed
/// stderr. (std already treats EBADF as success; EPIPE arrives as an error
/// since SIGPIPE is blocked or ignored.)
pub fn write_stderr(line: &[u8]) {
    if !queue::push(line) {
        let _ = std::io::stderr().lock().write_all(line);
    }
}

/// std's default panic hook writes under the stderr lock, which a stuck
/// writer may hold forever: the panic would then never reach `main`'s
/// emergency stop. Panic messages go through the queue like every line.
fn route_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        // Honours RUST_BACKTRACE like the default hook (capture is a no-op
        // without it).
        let backtrace = std::backtrace::Backtrace::capture();
        let trace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
            _ => String::new(),
        };
        write_stderr(format!("oxinit: thread '{name}' {info}{trace}\n").as_bytes());
    }));
}

/// `eprintln!("oxinit: …")` for the messages that do not go through `tracing`
/// (before it is set up, or where the message is the exit's reason), without
/// `eprintln!`'s panic when stderr is a broken pipe: in a PID 1 that panic
/// would turn a closed log pipe into an emergency stop of everything. Queued
/// like every line once [`init`] started the queue.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::api::diag::write_stderr(format!("oxinit: {}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// A line buffer grown past this is freed after its line is written, so a rare
/// huge line does not stay in oxinit's idle memory.
const KEPT_CAPACITY: usize = 4096;

thread_local! {
    /// Each thread formats into its own buffer, reused from line to line:
    /// no allocation per line, and no lock held while formatting.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl tracing::Subscriber for Subscriber {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The level never changes after start: tell tracing once per callsite
        // so it can skip disabled ones without asking again.
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Ids must be non-zero and should be unique while the span lives;
        // nothing is stored under them.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Id::from_u64(NEXT.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let now = SystemTime::now();
        let format_and_write = |line: &mut Vec<u8>| {
            line.clear();
            line::push(line, self.format, now, event);
            self.write(line);
        };
        let reused = LINE.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut line) => {
                format_and_write(&mut line);
                if line.capacity() > KEPT_CAPACITY {
                    *line = Vec::new();
                }
                true
            }
            // A field's Debug impl logged while we formatted this line.
            Err(_) => false,
        });
        // That, or the thread is exiting and its buffer is gone: a fresh one.
        if !matches!(reused, Ok(true)) {
            format_and_write(&mut Vec::new());
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
