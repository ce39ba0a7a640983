//! The expected lines below are what tracing-subscriber 0.3.23's `fmt()` (with
//! oxinit's settings) printed for the same events, captured before it was
//! replaced: the shapes must not change under the log shippers that parse them.

use super::*;
use std::fmt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};

/// What the subscriber writes while `log` runs, as text.
fn capture(level: LevelFilter, format: Format, log: impl FnOnce()) -> String {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let subscriber = Subscriber::new(level, format).writing_to(buffer.clone());
    tracing::subscriber::with_default(subscriber, log);
    let bytes = buffer.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// `text` with each `2026-11-24T01:26:28.123456Z` replaced by `TS`; panics
/// unless there is exactly one per event.
fn without_timestamps(text: &str, events: usize) -> String {
    const SHAPE: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    let matches = |window: &[u8]| {
        window.iter().zip(SHAPE).all(|(&byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            _ => byte == shape,
        })
    };
    let (bytes, mut out, mut at, mut found) = (text.as_bytes(), Vec::new(), 0, 0);
    while at < bytes.len() {
        if bytes.len() - at >= SHAPE.len() && matches(&bytes[at..at + SHAPE.len()]) {
            out.extend_from_slice(b"TS");
            at += SHAPE.len();
            found += 1;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    assert_eq!(found, events, "timestamps in:\n{text}");
    String::from_utf8(out).unwrap()
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Thing {
    a: u32,
    s: &'static str,
}

const SAMPLE_EVENTS: usize = 14;

/// Every kind of field oxinit's macros use, and a few they might.
fn log_sample() {
    let stream = "stdout";
    let errno = std::io::Error::from_raw_os_error(libc::EPIPE);
    tracing::error!("an error");
    tracing::warn!(%stream, %errno, "cannot block signals in the log writer thread");
    tracing::info!("info line");
    tracing::debug!(n = 5, b = true, f = 1.5, neg = -3i64, "debug line");
    tracing::trace!("trace line");
    tracing::info!(
        thing = ?Thing { a: 1, s: "x\"y" },
        s = "str \"q\" \\ \n\t\u{1} é ☃",
        "quotes \"q\" back \\ nl \n tab \t ctl \u{1} \u{7f} é ☃ 🎉"
    );
    tracing::info!(k = "v");
    tracing::info!(message = "explicit message", k = 1);
    tracing::info!(k = 2, "msg after field");
    tracing::info!(r#type = "raw ident", "raw");
    tracing::info!(dotted.key = 3, "dotted");
    tracing::info!("");
    tracing::info!(u = u64::MAX, i = i128::MAX, "bigs");
    let error: &(dyn std::error::Error + 'static) = &errno;
    tracing::warn!(error, "dyn error");
}

#[test]
fn text_lines_are_tracing_subscribers() {
    let text = capture(LevelFilter::TRACE, Format::Text { ansi: false }, log_sample);
    assert_eq!(
        without_timestamps(&text, SAMPLE_EVENTS),
        "TS ERROR an error\n\
         TS  WARN cannot block signals in the log writer thread stream=stdout errno=Broken pipe (os error 32)\n\
         TS  INFO info line\n\
         TS DEBUG debug line n=5 b=true f=1.5 neg=-3\n\
         TS TRACE trace line\n\
         TS  INFO quotes \"q\" back \\ nl \n tab \t ctl \x01 \\x7f é ☃ 🎉 thing=Thing { a: 1, s: \"x\\\"y\" } s=\"str \\\"q\\\" \\\\ \\n\\t\\u{1} é ☃\"\n\
         TS  INFO k=\"v\"\n\
         TS  INFO explicit message k=1\n\
         TS  INFO msg after field k=2\n\
         TS  INFO raw type=\"raw ident\"\n\
         TS  INFO dotted dotted.key=3\n\
         TS  INFO \n\
         TS  INFO bigs u=18446744073709551615 i=170141183460469231731687303715884105727\n\
         TS  WARN dyn error error=Broken pipe (os error 32)\n"
    );
}

#[test]
fn ansi_lines_are_tracing_subscribers() {
    let text = capture(LevelFilter::TRACE, Format::Text { ansi: true }, || {
        tracing::error!("an error");
        tracing::warn!(stream = %"stdout", "cannot write");
        tracing::info!("info line");
        tracing::debug!(n = 5, "debug line");
        tracing::trace!("trace line");
    });
    assert_eq!(
        without_timestamps(&text, 5),
        "\x1b[2mTS\x1b[0m \x1b[31mERROR\x1b[0m an error\n\
         \x1b[2mTS\x1b[0m \x1b[33m WARN\x1b[0m cannot write \x1b[3mstream\x1b[0m\x1b[2m=\x1b[0mstdout\n\
         \x1b[2mTS\x1b[0m \x1b[32m INFO\x1b[0m info line\n\
         \x1b[2mTS\x1b[0m \x1b[34mDEBUG\x1b[0m debug line \x1b[3mn\x1b[0m\x1b[2m=\x1b[0m5\n\
         \x1b[2mTS\x1b[0m \x1b[35mTRACE\x1b[0m trace line\n"
    );
}

#[test]
fn json_lines_are_tracing_subscribers() {
    let text = capture(LevelFilter::TRACE, Format::Json, log_sample);
    assert_eq!(
        without_timestamps(&text, SAMPLE_EVENTS),
        r#"{"timestamp":"TS","level":"ERROR","fields":{"message":"an error"}}
{"timestamp":"TS","level":"WARN","fields":{"message":"cannot block signals in the log writer thread","stream":"stdout","errno":"Broken pipe (os error 32)"}}
{"timestamp":"TS","level":"INFO","fields":{"message":"info line"}}
{"timestamp":"TS","level":"DEBUG","fields":{"message":"debug line","n":5,"b":true,"f":1.5,"neg":-3}}
{"timestamp":"TS","level":"TRACE","fields":{"message":"trace line"}}
{"timestamp":"TS","level":"INFO","fields":{"message":"quotes \"q\" back \\ nl \n tab \t ctl \u0001 "#
            .to_owned()
            + "\x7f"
            + r#" é ☃ 🎉","thing":"Thing { a: 1, s: \"x\\\"y\" }","s":"str \"q\" \\ \n\t\u0001 é ☃"}}
{"timestamp":"TS","level":"INFO","fields":{"k":"v"}}
{"timestamp":"TS","level":"INFO","fields":{"message":"explicit message","k":1}}
{"timestamp":"TS","level":"INFO","fields":{"message":"msg after field","k":2}}
{"timestamp":"TS","level":"INFO","fields":{"message":"raw","type":"raw ident"}}
{"timestamp":"TS","level":"INFO","fields":{"message":"dotted","dotted.key":3}}
{"timestamp":"TS","level":"INFO","fields":{"message":""}}
{"timestamp":"TS","level":"INFO","fields":{"message":"bigs","u":18446744073709551615,"i":"170141183460469231731687303715884105727"}}
{"timestamp":"TS","level":"WARN","fields":{"message":"dyn error","error":"Broken pipe (os error 32)"}}
"#
    );
}

/// Not just the bytes we expected: a JSON parser reads back exactly what was
/// logged, whatever the characters.
#[test]
fn json_lines_parse_back_to_what_was_logged() {
    let nasty = "\"quoted\" \\back\\ \u{0}\u{1f}\u{7f}\u{80}\u{2028} é 🎉 \r\n{\"not\":\"json\"}";
    let text = capture(LevelFilter::INFO, Format::Json, || {
        tracing::info!(s = nasty, d = ?nasty, shown = %nasty, f = f64::NAN, "{nasty}");
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one line, whatever the message holds: {text}"
    );
    let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let fields = &value["fields"];
    assert_eq!(fields["message"], nasty);
    assert_eq!(fields["s"], nasty);
    assert_eq!(fields["d"], format!("{nasty:?}"));
    assert_eq!(fields["shown"], nasty);
    assert_eq!(
        fields["f"],
        serde_json::Value::Null,
        "NaN has no JSON spelling"
    );
    assert_eq!(value["level"], "INFO");
}

/// The text message can quote a child or a client: escape sequences in it are
/// shown, not executed by the operator's terminal.
#[test]
fn text_messages_cannot_drive_the_terminal() {
    let text = capture(LevelFilter::INFO, Format::Text { ansi: true }, || {
        tracing::info!("bad \x1b[2J \x07 \x08 \x0c \u{9b} request");
    });
    assert!(
        text.ends_with(" bad \\x1b[2J \\x07 \\x08 \\x0c \\u{9b} request\n"),
        "{text:?}"
    );
}

#[test]
fn lines_below_the_level_are_not_written() {
    let text = capture(LevelFilter::WARN, Format::Text { ansi: false }, || {
        tracing::error!("kept error");
        tracing::warn!("kept warning");
        tracing::info!("dropped info");
        tracing::debug!("dropped debug");
    });
    let kept: Vec<&str> = text.lines().map(|l| &l[28..]).collect();
    assert_eq!(kept, ["ERROR kept error", " WARN kept warning"]);

    let off = capture(LevelFilter::OFF, Format::Json, || tracing::error!("no"));
    assert_eq!(off, "");
}

#[test]
fn the_level_is_a_cheap_comparison_tracing_can_see() {
    use tracing::Subscriber as _;
    let subscriber = Subscriber::new(LevelFilter::INFO, Format::Json);
    assert_eq!(subscriber.max_level_hint(), Some(LevelFilter::INFO));
    // With the hint in place, tracing itself skips a disabled callsite: the
    // Debug impl of a field is never even called.
    struct Counted<'a>(&'a std::sync::atomic::AtomicUsize);
    impl fmt::Debug for Counted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fetch_add(1, Ordering::SeqCst);
            f.write_str("counted")
        }
    }
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let text = capture(LevelFilter::INFO, Format::Json, || {
        tracing::debug!(c = ?Counted(&calls), "hidden");
        tracing::info!(c = ?Counted(&calls), "shown");
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(text.contains(r#""c":"counted""#), "{text}");
}

#[test]
fn levels_parse_like_tracing_and_reject_the_rest() {
    for (value, level) in [
        ("error", LevelFilter::ERROR),
        ("warn", LevelFilter::WARN),
        ("info", LevelFilter::INFO),
        ("debug", LevelFilter::DEBUG),
        ("trace", LevelFilter::TRACE),
        ("DEBUG", LevelFilter::DEBUG),
        ("off", LevelFilter::OFF),
    ] {
        assert_eq!(parse_level(value), Some(level), "{value}");
    }
    for bad in ["", "verbose", "warning", " info", "info,hyper=warn"] {
        assert_eq!(parse_level(bad), None, "{bad:?}");
    }
}

#[test]
fn an_empty_level_variable_means_the_default() {
    assert_eq!(
        requested_level("", LevelFilter::WARN),
        Some(LevelFilter::WARN)
    );
    assert_eq!(
        requested_level("debug", LevelFilter::WARN),
        Some(LevelFilter::DEBUG)
    );
    assert_eq!(requested_level("loud", LevelFilter::WARN), None);
}

fn timestamp(since_epoch: Duration) -> String {
    let mut out = Vec::new();
    line::push_timestamp(&mut out, UNIX_EPOCH + since_epoch);
    String::from_utf8(out).unwrap()
}

#[test]
fn timestamps_are_utc_rfc3339_with_microseconds() {
    let at = |secs: u64, nanos: u32| timestamp(Duration::new(secs, nanos));
    assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(at(951_827_696, 789_012_000), "2000-02-29T12:34:56.789012Z");
    assert_eq!(at(1_709_251_199, 1_000), "2024-02-29T23:59:59.000001Z");
    // Past the 32-bit time_t rollover, and the last second of a century.
    assert_eq!(at(2_147_483_648, 0), "2038-01-19T03:14:08.000000Z");
    assert_eq!(
        at(4_102_444_799, 999_999_999),
        "2099-12-31T23:59:59.999999Z"
    );
    // Truncated, not rounded: 0.9999999 s must not become the next second.
    assert_eq!(at(59, 999_999_900), "1970-01-01T00:00:59.999999Z");
}

#[test]
fn a_clock_before_1970_prints_the_epoch() {
    let mut out = Vec::new();
    line::push_timestamp(&mut out, UNIX_EPOCH - Duration::from_secs(86_400));
    assert_eq!(out, b"1970-01-01T00:00:00.000000Z");
}

/// oxinit has no spans; one from a dependency is ignored, without a panic
/// and without hiding the events inside it.
#[test]
fn spans_are_accepted_and_not_shown() {
    let text = capture(LevelFilter::INFO, Format::Json, || {
        let outer = tracing::info_span!("outer", x = 1);
        let inner = tracing::info_span!(parent: &outer, "inner");
        inner.record("x", 2);
        inner.follows_from(&outer);
        inner.in_scope(|| tracing::info!("inside"));
        assert_ne!(outer.id(), inner.id());
    });
    assert_eq!(
        without_timestamps(&text, 1),
        "{\"timestamp\":\"TS\",\"level\":\"INFO\",\"fields\":{\"message\":\"inside\"}}\n"
    );
}

/// Marks the run of this test binary that [`child_logs_through_init`] is.
const CHILD: &str = "OXINIT_DIAG_TEST_CHILD";

/// Run by the tests below as a child process, which installs the subscriber
/// as oxinit does (globally, via `init`) and logs to whatever stderr it was
/// given; in a normal test run it does nothing.
#[test]
fn child_logs_through_init() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // Report first what a raw write(2) to fd 2 gets, so the parent knows it
    // tested the case it meant to.
    let probe = nix::unistd::write(std::io::stderr(), b"probe\n");
    println!("probe: {probe:?}");
    init("info", crate::diag::Output::Direct);
    // A Debug impl that logs: with only a global subscriber, tracing hands
    // the inner event to us while we format the outer one.
    struct Logs;
    impl fmt::Debug for Logs {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            tracing::warn!("logged from inside a field");
            f.write_str("field")
        }
    }
    tracing::info!(f = ?Logs, "outer line");
    // More than a pipe holds, in case a full pipe behaves differently.
    for i in 0..2000 {
        tracing::info!(i, "filler line to fill a pipe buffer several times over");
    }
    println!("survived");
}

fn run_child(stderr: Stdio) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "diag::tests::child_logs_through_init",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("OXINIT_LOG")
        .env_remove("OXINIT_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .output()
        .unwrap()
}

fn assert_survived(output: &Output, state: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(state) && stdout.contains("survived"),
        "want {state:?} then survival, got {:?}:\n{stdout}",
        output.status
    );
}

#[test]
fn a_reentrant_line_is_written_too() {
    let output = run_child(Stdio::piped());
    assert_survived(&output, "probe: Ok(6)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1 + 2 + 2000, "{stderr}");
    assert!(
        lines[1].ends_with(" WARN logged from inside a field"),
        "{stderr}"
    );
    assert!(lines[2].ends_with(" INFO outer line f=field"), "{stderr}");
}

/// A closed fd 2 (as after `close(2)`) fails writes with EBADF. A Rust
/// process cannot start with fd 2 closed (std and oxinit's `sys::stdio` open
/// /dev/null there), so the child gets a read-only fd, which fails the same way.
#[test]
fn a_closed_stderr_does_not_panic() {
    let read_only = std::fs::File::open("/dev/null").unwrap();
    let output = run_child(Stdio::from(read_only));
    assert_survived(&output, "probe: Err(EBADF)");
}

#[test]
fn a_gone_reader_does_not_panic() {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader); // writes now fail with EPIPE (the test binary ignores SIGPIPE)
    let output = run_child(Stdio::from(writer));
    assert_survived(&output, "probe: Err(EPIPE)");
}

/// Marks the run of this test binary that [`child_logs_through_the_queue`] is.
const QUEUE_CHILD: &str = "OXINIT_DIAG_QUEUE_TEST_CHILD";

/// Run by [`a_stuck_stderr_drops_and_counts_and_says_so_later`] as a child
/// whose stderr is a pipe nobody reads (until it says `waiting`); in a
/// normal test run it does nothing.
#[test]
fn child_logs_through_the_queue() {
    if std::env::var_os(QUEUE_CHILD).is_none() {
        return;
    }
    init("info", crate::diag::Output::Queued);
    // Far more than the pipe and the queue hold together.
    for i in 0..3000 {
        tracing::info!(i, "filler line to fill a pipe buffer several times over");
    }
    // std's own panic message would wait on the stuck stderr; ours is queued.
    let _ = std::panic::catch_unwind(|| panic!("a bug while stderr is stuck"));
    println!("dropped={}", lines_dropped());
    let started = std::time::Instant::now();
    flush();
    println!("flushed_ms={}", started.elapsed().as_millis());
    println!("waiting");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    tracing::info!("after the reader came back");
    flush();
    println!("survived");
}

#[test]
fn a_stuck_stderr_drops_and_counts_and_says_so_later() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::fd::AsRawFd;
    use std::sync::mpsc;

    // Close-on-exec: other tests spawn children at the same time, and one
    // that inherited the read end would count it among its open fds.
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // One page: the pipe holds almost nothing.
    let _ = nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "diag::tests::child_logs_through_the_queue",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(QUEUE_CHILD, "1")
        .env_remove("OXINIT_LOG")
        .env_remove("OXINIT_LOG_LEVEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(writer))
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("waiting") {
        match lines.recv_timeout(deadline) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child did not get through its logging (blocked on its stderr?); it printed {seen:?}");
            }
        }
    }
    let value = |key: &str| -> u128 {
        seen.iter()
            // The test harness may print its `test … ...` in front.
            .find_map(|l| l.split(key).nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {seen:?}"))
    };
    assert!(value("dropped=") > 0, "{seen:?}");
    // The writer was stuck for about a second (STALL) when flush gave up.
    assert!(value("flushed_ms=") < 10_000, "{seen:?}");

    // The reader comes back. The child goes on only once the writer made
    // progress again: a flush while it is still stuck would (rightly) give
    // up at once.
    let fd = reader.as_raw_fd();
    let (resumed_tx, resumed) = mpsc::channel();
    let drain = std::thread::spawn(move || {
        let mut file = std::fs::File::from(reader);
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
            // More than the one-page pipe held: the writer wrote again.
            if text.len() > 16 * 1024 {
                let _ = resumed_tx.send(());
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    resumed
        .recv_timeout(deadline)
        .expect("the writer thread resumed once the pipe was read");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let end = std::time::Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit (fd {fd})");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    assert!(seen.iter().any(|l| l == "survived"), "{seen:?}");
    let stderr = drain.join().unwrap();
    let note = stderr
        .lines()
        .position(|l| {
            l.contains("WARN oxinit's stderr was not being read") && l.contains(" dropped=")
        })
        .unwrap_or_else(|| panic!("no note of the dropped lines in:\n{stderr}"));
    let after = stderr
        .lines()
        .position(|l| l.ends_with(" INFO after the reader came back"))
        .unwrap_or_else(|| {
            panic!("the line logged after the reader came back is missing:\n{stderr}")
        });
    assert!(note < after, "{stderr}");
    // What got through is whole lines, in order.
    let numbers: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.split(" i=").nth(1)?.parse().ok())
        .collect();
    assert!(
        !numbers.is_empty() && numbers.windows(2).all(|w| w[0] < w[1]),
        "{stderr}"
    );
}
