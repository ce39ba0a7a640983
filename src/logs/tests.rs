//! End-to-end tests of the relay: real pipes in, files or pipes out.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;
use tempfile::NamedTempFile;

use super::{LogSink, RelayStats, Stream, Style, WriteFailures};

fn pipe() -> (OwnedFd, OwnedFd) {
    pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

/// Plays a child: writes `bytes` into a new pipe in `write_size` pieces from
/// a thread, then closes it. Returns the read end for the relay.
fn child_writing(bytes: Vec<u8>, write_size: usize) -> (OwnedFd, thread::JoinHandle<()>) {
    let (read_end, write_end) = pipe();
    let child = thread::spawn(move || {
        let mut write_end = std::fs::File::from(write_end);
        for piece in bytes.chunks(write_size) {
            write_end.write_all(piece).expect("child write");
        }
    });
    (read_end, child)
}

struct Captured {
    stdout: NamedTempFile,
    stderr: NamedTempFile,
}

impl Captured {
    fn sink(style: Style) -> (LogSink, Captured) {
        let stdout = NamedTempFile::new().unwrap();
        let stderr = NamedTempFile::new().unwrap();
        let sink =
            LogSink::to_writers(style, stdout.reopen().unwrap(), stderr.reopen().unwrap()).unwrap();
        (sink, Captured { stdout, stderr })
    }

    fn stdout(&self) -> Vec<u8> {
        read(self.stdout.path())
    }

    fn stderr(&self) -> Vec<u8> {
        read(self.stderr.path())
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Relays `input` as `process`'s `stream` and waits until it is written.
async fn relay_all(sink: &LogSink, process: &str, stream: Stream, input: &[u8]) -> RelayStats {
    let (read_end, child) = child_writing(input.to_vec(), 4096);
    let stats = sink.relay(process, stream, read_end).await.unwrap();
    child.join().unwrap();
    sink.flush().await;
    stats
}

#[tokio::test(flavor = "current_thread")]
async fn pads_names_and_routes_streams() {
    let (sink, out) = Captured::sink(Style::Prefixed { width: 6 });
    relay_all(&sink, "api", Stream::Stdout, b"hello\nworld\n").await;
    relay_all(&sink, "api", Stream::Stderr, b"oops\n").await;
    relay_all(&sink, "worker", Stream::Stdout, b"busy\n").await;
    assert_eq!(
        out.stdout(),
        b"api    | hello\napi    | world\nworker | busy\n"
    );
    assert_eq!(out.stderr(), b"api    | oops\n");
}

#[tokio::test(flavor = "current_thread")]
async fn flushes_a_partial_last_line_at_eof() {
    let (sink, out) = Captured::sink(Style::Prefixed { width: 3 });
    let stats = relay_all(&sink, "api", Stream::Stdout, b"done\r\nno newline").await;
    assert_eq!(out.stdout(), b"api | done\napi | no newline\n");
    assert_eq!(
        stats,
        RelayStats {
            bytes: 16,
            lines: 2,
            split_lines: 0
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn splits_a_200_kib_line_in_four() {
    let (sink, out) = Captured::sink(Style::Prefixed { width: 1 });
    let mut input: Vec<u8> = (0..200 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    input.push(b'\n');
    let stats = relay_all(&sink, "p", Stream::Stdout, &input).await;
    assert_eq!(stats.lines, 4);
    assert_eq!(stats.split_lines, 1);
    let output = out.stdout();
    let lines: Vec<&[u8]> = output
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .collect();
    let lens: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    let piece = 64 * 1024 + 4;
    assert_eq!(lens, [piece, piece, piece, 8 * 1024 + 4]);
    let rejoined: Vec<u8> = lines
        .iter()
        .flat_map(|l| l.strip_prefix(b"p | ").unwrap())
        .copied()
        .collect();
    assert_eq!(rejoined, input[..200 * 1024]);
}

#[tokio::test(flavor = "current_thread")]
async fn non_utf8_passes_through_prefixed_and_is_replaced_in_json() {
    let input = b"caf\xe9 \xff\xfe ok\n";
    let (sink, out) = Captured::sink(Style::Prefixed { width: 1 });
    relay_all(&sink, "p", Stream::Stdout, input).await;
    assert_eq!(out.stdout(), b"p | caf\xe9 \xff\xfe ok\n");

    let (sink, out) = Captured::sink(Style::Json);
    relay_all(&sink, "p", Stream::Stdout, input).await;
    let value: serde_json::Value = serde_json::from_slice(&out.stdout()).unwrap();
    assert_eq!(value["line"], "caf\u{fffd} \u{fffd}\u{fffd} ok");
}

#[tokio::test(flavor = "current_thread")]
async fn json_lines_are_valid_with_the_right_fields() {
    let (sink, out) = Captured::sink(Style::Json);
    let before = super::timestamp::now();
    relay_all(
        &sink,
        "api",
        Stream::Stdout,
        b"first \"quoted\"\n\tsecond\\\n",
    )
    .await;
    relay_all(&sink, "api", Stream::Stderr, b"boom\n").await;
    let after = super::timestamp::now();

    let check = |output: Vec<u8>, stream: &str, expected: &[&str]| {
        let text = String::from_utf8(output).unwrap();
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(values.len(), expected.len(), "{text}");
        for (value, line) in values.iter().zip(expected) {
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), 4, "{value}");
            assert_eq!(value["process"], "api");
            assert_eq!(value["stream"], stream);
            assert_eq!(value["line"], *line);
            let ts = value["ts"].as_str().unwrap();
            assert_timestamp_shape(ts);
            // Fixed-width RFC 3339 UTC sorts like the instants it names.
            assert!(
                ts.as_bytes() >= &before[..] && ts.as_bytes() <= &after[..],
                "{ts}"
            );
        }
    };
    check(out.stdout(), "stdout", &["first \"quoted\"", "\tsecond\\"]);
    check(out.stderr(), "stderr", &["boom"]);
}

fn assert_timestamp_shape(ts: &str) {
    let b = ts.as_bytes();
    assert_eq!(b.len(), 24, "{ts}");
    for (i, &c) in b.iter().enumerate() {
        let expected_separator = match i {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            23 => Some(b'Z'),
            _ => None,
        };
        match expected_separator {
            Some(sep) => assert_eq!(c, sep, "{ts}"),
            None => assert!(c.is_ascii_digit(), "{ts}"),
        }
    }
    let field = |range: std::ops::Range<usize>| ts[range].parse::<u32>().unwrap();
    assert!((1..=12).contains(&field(5..7)), "{ts}");
    assert!((1..=31).contains(&field(8..10)), "{ts}");
    assert!(
        field(11..13) < 24 && field(14..16) < 60 && field(17..19) < 60,
        "{ts}"
    );
}

/// Lines of varying length for `process`, numbered so order can be checked.
fn numbered_lines(process: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{process}-{i:06}-{}", "x".repeat(i * 37 % 300)))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_relays_never_interleave_mid_line() {
    let (sink, out) = Captured::sink(Style::Prefixed { width: 5 });
    let procs = ["alpha", "beta"];
    let mut relays = Vec::new();
    let mut children = Vec::new();
    for process in procs {
        let text = numbered_lines(process, 20_000).join("\n") + "\n";
        // Odd write sizes so lines straddle the child's writes and our reads.
        let (read_end, child) = child_writing(text.into_bytes(), 777);
        relays.push(sink.relay(process, Stream::Stdout, read_end));
        children.push(child);
    }
    for relay in relays {
        assert_eq!(relay.await.unwrap().lines, 20_000);
    }
    for child in children {
        child.join().unwrap();
    }
    sink.flush().await;

    let output = String::from_utf8(out.stdout()).unwrap();
    for process in procs {
        let prefix = format!("{process:<5} | ");
        let seen: Vec<&str> = output
            .lines()
            .filter(|line| line.starts_with(process))
            .map(|line| line.strip_prefix(&prefix).unwrap())
            .collect();
        assert_eq!(
            seen,
            numbered_lines(process, 20_000),
            "{process}'s lines, whole and in order"
        );
    }
    assert_eq!(
        output.lines().count(),
        40_000,
        "no line is made of two halves"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn json_batches_of_tiny_lines_stay_whole() {
    // One 64 KiB read of 2-byte lines grows ~35 times in json: the batch is
    // cut mid-read, and every line must still come out whole.
    let (sink, out) = Captured::sink(Style::Json);
    let input = b"a\n".repeat(200_000);
    let stats = relay_all(&sink, "p", Stream::Stdout, &input).await;
    assert_eq!(stats.lines, 200_000);
    let text = String::from_utf8(out.stdout()).unwrap();
    let mut count = 0;
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["line"], "a");
        count += 1;
    }
    assert_eq!(count, 200_000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_writer_blocks_the_child_and_loses_nothing() {
    let (stalled_read, stalled_write) = pipe();
    let stderr = NamedTempFile::new().unwrap();
    let sink = LogSink::to_writers(
        Style::Prefixed { width: 1 },
        stalled_write,
        stderr.reopen().unwrap(),
    )
    .unwrap();
    let (child_read, child_write) = pipe();
    // The test plays the child with a non-blocking write end, so "the child
    // would block" shows as EAGAIN instead of hanging the test.
    fcntl(&child_write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let relay = sink.relay("p", Stream::Stdout, child_read);

    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\n";
    let chunk = line.repeat(64);
    let mut sent = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut blocked_since: Option<Instant> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "the child never blocked ({} bytes sent)",
            sent.len()
        );
        // Whatever buffering there is (two pipes, the queue, a batch or two),
        // it is bounded: far below this.
        assert!(
            sent.len() < 16 << 20,
            "no backpressure: {} bytes accepted",
            sent.len()
        );
        let offset = sent.len() % chunk.len();
        match nix::unistd::write(&child_write, &chunk[offset..]) {
            Ok(n) => {
                sent.extend_from_slice(&chunk[offset..offset + n]);
                blocked_since = None;
            }
            Err(Errno::EAGAIN) => {
                // Blocked for good once the relay, given time to run, has not
                // made room for a while.
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(errno) => panic!("child write: {errno}"),
        }
    }
    assert!(
        sent.len() > 64 * 1024,
        "more than one pipe's worth went through before blocking"
    );
    assert!(!relay.is_finished());

    // The reader of oxinit's stdout comes back.
    let reader = thread::spawn(move || {
        let mut output = Vec::new();
        std::fs::File::from(stalled_read)
            .read_to_end(&mut output)
            .unwrap();
        output
    });
    drop(child_write);
    let stats = relay.await.unwrap();
    sink.flush().await;
    assert_eq!(
        sink.write_failures(Stream::Stdout),
        WriteFailures::default()
    );
    drop(sink); // the writer threads end and close the pipe: the reader sees EOF
    let output = reader.join().unwrap();

    assert_eq!(stats.bytes, sent.len() as u64);
    let mut expected = Vec::new();
    for line in sent.split_inclusive(|&b| b == b'\n') {
        expected.extend_from_slice(b"p | ");
        expected.extend_from_slice(line);
    }
    if !expected.ends_with(b"\n") {
        expected.push(b'\n');
    }
    assert!(
        output == expected,
        "{} bytes out, {} expected",
        output.len(),
        expected.len()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_writer_is_counted_and_not_fatal() {
    let (gone_read, broken_stdout) = pipe();
    drop(gone_read); // writes now fail with EPIPE (Rust ignores SIGPIPE)
    let stderr = NamedTempFile::new().unwrap();
    let sink = LogSink::to_writers(
        Style::Prefixed { width: 1 },
        broken_stdout,
        stderr.reopen().unwrap(),
    )
    .unwrap();

    let stats = relay_all(&sink, "p", Stream::Stdout, &b"lost\n".repeat(10_000)).await;
    assert_eq!(
        stats.lines, 10_000,
        "the relay read everything despite the failures"
    );
    let failures = sink.write_failures(Stream::Stdout);
    assert!(failures.writes >= 1, "{failures:?}");
    assert_eq!(
        failures.bytes,
        10_000 * b"p | lost\n".len() as u64,
        "every lost byte is counted"
    );

    // The same sink keeps working for the other stream, and again for stdout.
    relay_all(&sink, "p", Stream::Stderr, b"still here\n").await;
    assert_eq!(read(stderr.path()), b"p | still here\n");
    relay_all(&sink, "p", Stream::Stdout, b"more\n").await;
    assert_eq!(
        sink.write_failures(Stream::Stdout).bytes,
        failures.bytes + 9
    );
    assert_eq!(
        sink.write_failures(Stream::Stderr),
        WriteFailures::default()
    );
}

/// The CPU cost of cutting and formatting alone (no pipes, no threads), for
/// profiling: `STYLE=prefixed ROUNDS=400 valgrind --tool=callgrind <test
/// binary> --ignored format_cost` counts instructions per line, which the
/// loaded CI machines cannot time reliably.
#[test]
#[ignore = "microbenchmark: cargo test --release --lib -- --ignored --nocapture format_cost"]
fn format_cost() {
    use super::format::Formatter;
    use super::lines::Lines;
    const LINES: usize = 655; // of 100 bytes: one 64 KiB read
    let input = [[b'x'; 99].as_slice(), b"\n"].concat().repeat(LINES);
    let rounds: usize = std::env::var("ROUNDS").map_or(16_000, |r| r.parse().unwrap()); // ~1 GB
    let only = std::env::var("STYLE").unwrap_or_default();
    for style in [Style::Prefixed { width: 8 }, Style::Json] {
        if !format!("{style:?}").to_lowercase().starts_with(&only) {
            continue;
        }
        let mut formatter = Formatter::new(style, "api", Stream::Stdout);
        let mut lines = Lines::new();
        let mut batch = Vec::with_capacity(1 << 20);
        let mut emitted = 0;
        let started = Instant::now();
        for _ in 0..rounds {
            lines.spare()[..input.len()].copy_from_slice(&input);
            lines.commit(input.len());
            formatter.set_time(super::timestamp::now);
            while let Some(line) = lines.next_line() {
                formatter.push_line(&mut batch, line);
                emitted += 1;
            }
            std::hint::black_box(&batch);
            batch.clear();
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(emitted, rounds * LINES);
        let gb = (rounds * input.len()) as f64 / 1e9;
        let per_line = secs * 1e9 / emitted as f64;
        println!("{style:?}: {:.3} s/GB, {per_line:.1} ns/line", secs / gb);
    }
}

/// What a relay passes on it also keeps, in its process's ring: both
/// streams, the last line without a newline too; woken followers see it.
#[tokio::test(flavor = "current_thread")]
async fn relays_keep_every_line_in_the_book() {
    use super::{Bounds, LogBook};
    let book = LogBook::new([("api".to_string(), Bounds::default())], true);
    let stdout = NamedTempFile::new().unwrap();
    let stderr = NamedTempFile::new().unwrap();
    let sink = LogSink::to_writers_keeping(
        Style::Json,
        stdout.reopen().unwrap(),
        stderr.reopen().unwrap(),
        book.clone(),
    )
    .unwrap();
    let woken = book.woken();
    relay_all(&sink, "api", Stream::Stdout, b"one\ntwo\n").await;
    relay_all(&sink, "api", Stream::Stderr, b"oops\nno newline").await;
    assert!(woken.has_changed().unwrap(), "followers are woken");
    let (lines, cursor) = book.last("api", 10, |_| true);
    let kept: Vec<(Stream, &[u8])> = lines.iter().map(|l| (l.stream, &l.text[..])).collect();
    assert_eq!(
        kept,
        [
            (Stream::Stdout, &b"one"[..]),
            (Stream::Stdout, b"two"),
            (Stream::Stderr, b"oops"),
            (Stream::Stderr, b"no newline"),
        ]
    );
    assert_eq!(cursor, 4);
    assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(book.last_stderr("api", 1), ["no newline"]);
}
