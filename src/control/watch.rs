//! The client side of the answers that last: `oxinit logs [-f]` and
//! `oxinit events`. Sends the request, reads `{"ok":true}` (or the error)
//! within the usual wait, then prints one line per item until oxinit ends
//! the answer or, following, until this client is stopped (Ctrl-C).
//!
//! ```text
//! $ oxinit logs api -n 2
//! 2026-12-04T19:00:01.234Z stdout GET / 200
//! 2026-12-04T19:00:01.240Z stderr slow query (1.2s)
//! $ oxinit logs -n 1
//! api    | 2026-12-04T19:00:01.240Z stderr slow query (1.2s)
//! worker | 2026-12-04T19:00:02.001Z stdout job 17 done
//! $ oxinit events
//! 2026-12-04T19:00:03.500Z exited api pid=42 reason=exit code=3 uptime=12.020s
//!   stderr| Error: boom
//! 2026-12-04T19:00:03.500Z restarting api delay=1.000s restart=1
//! ```

use super::protocol::{Item, LogItem};
use super::{Request, Response};
use crate::snapshot::Event;
use crate::units::civil::timestamp;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Streams `request` (`logs` or `events`) from the connected `stream` to
/// `out`; returns the exit code: 0 when the answer ended or `out` closed,
/// 1 when oxinit refused or the connection broke.
pub(super) fn watch(
    request: &Request,
    stream: UnixStream,
    path: &Path,
    json: bool,
    wait: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match watch_inner(request, stream, json, wait, out) {
        Ok(code) => code,
        Err(Problem::Refused(error)) => {
            let _ = writeln!(err, "oxinit: {error}");
            1
        }
        Err(Problem::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            let _ = writeln!(
                err,
                "oxinit: no answer from oxinit on {} within {}",
                path.display(),
                crate::units::format_duration(wait)
            );
            1
        }
        Err(Problem::Io(e)) => {
            let _ = writeln!(
                err,
                "oxinit: cannot talk to oxinit on {}: {e}",
                path.display()
            );
            1
        }
        Err(Problem::Garbled(reason)) => {
            let _ = writeln!(
                err,
                "oxinit: oxinit on {} answered something this client cannot read ({reason}); is it another version?",
                path.display()
            );
            1
        }
    }
}

enum Problem {
    Refused(String),
    Io(io::Error),
    Garbled(String),
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Problem {
        Problem::Io(e)
    }
}

fn watch_inner(
    request: &Request,
    mut stream: UnixStream,
    json: bool,
    wait: Duration,
    out: &mut dyn Write,
) -> Result<i32, Problem> {
    let mut line = serde_json::to_vec(request).expect("a request always encodes");
    line.push(b'\n');
    stream.set_write_timeout(Some(wait))?;
    stream.write_all(&line)?;
    stream.set_read_timeout(Some(wait))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut text = String::new();
    if reader.read_line(&mut text)? == 0 {
        return Err(Problem::Garbled(
            "the connection closed without an answer".into(),
        ));
    }
    let head: Response<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| Problem::Garbled(e.to_string()))?;
    if !head.ok {
        let error = head
            .error
            .unwrap_or_else(|| "refused, without a reason".into());
        return Err(Problem::Refused(error));
    }
    let follows = matches!(
        request,
        Request::Logs { follow: true, .. } | Request::Events {}
    );
    // Following has no end but the user's: wait for as long as it takes.
    stream.set_read_timeout(if follows { None } else { Some(wait) })?;
    let width = head.names.iter().map(String::len).max().unwrap_or(0);
    let prefixed = head.names.len() != 1;
    loop {
        text.clear();
        if reader.read_line(&mut text)? == 0 {
            return Ok(0);
        }
        let shown = match (json, request) {
            (true, _) => text.trim_end().to_string(),
            (false, Request::Events {}) => match parse::<Event>(&text)? {
                Item::One(event) => format!(
                    "{} {}",
                    stamp(Duration::from_secs_f64(event.at.max(0.0))),
                    event.text()
                ),
                Item::Lost { lost } => lost_notice(lost, "events"),
            },
            (false, _) => match parse::<LogItem>(&text)? {
                Item::One(line) => log_line(&line, prefixed.then_some(width)),
                Item::Lost { lost } => lost_notice(lost, "lines"),
            },
        };
        if writeln!(out, "{shown}").and_then(|()| out.flush()).is_err() {
            // `oxinit logs -f | head`: the reader has what it wanted.
            return Ok(0);
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<Item<T>, Problem> {
    serde_json::from_str(text).map_err(|e| Problem::Garbled(e.to_string()))
}

/// `api    | 2026-12-04T19:00:01.234Z stdout GET / 200`, or without the
/// name when one process is shown.
fn log_line(line: &LogItem, prefix: Option<usize>) -> String {
    let mut shown = match prefix {
        Some(width) => format!("{:<width$} | ", line.process),
        None => String::new(),
    };
    shown.push_str(&stamp(Duration::from_millis(line.at_ms)));
    shown.push(' ');
    shown.push_str(&line.stream);
    shown.push(' ');
    shown.push_str(&line.line);
    if line.cut {
        shown.push('…');
    }
    shown
}

fn lost_notice(lost: u64, what: &str) -> String {
    format!("… {lost} {what} lost: this client read too slowly")
}

fn stamp(since_epoch: Duration) -> String {
    String::from_utf8_lossy(&timestamp(since_epoch)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_show_time_and_stream_and_the_name_when_several() {
        let line = LogItem {
            process: "api".into(),
            at_ms: 1_795_000_000_123,
            stream: "stderr".into(),
            line: "boom".into(),
            cut: false,
        };
        let one = log_line(&line, None);
        assert!(one.ends_with(".123Z stderr boom"), "{one}");
        assert!(one.starts_with("2026-"), "{one}");
        let several = log_line(&line, Some(6));
        assert!(several.starts_with("api    | 2026-"), "{several}");
        let cut = log_line(&LogItem { cut: true, ..line }, None);
        assert!(cut.ends_with("boom…"));
        assert_eq!(
            lost_notice(1234, "lines"),
            "… 1234 lines lost: this client read too slowly"
        );
    }
}
