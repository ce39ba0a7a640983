//! The control socket of the real oxinit in supervisor mode (issue 4), used
//! through the real client: `oxinit status [--json]`, `restart`, `stop`,
//! `start` and `healthcheck`; and garbage written straight to the socket,
//! which must be refused (an `{"ok":false,…}` answer), logged, and harm
//! nothing.

mod common;
#[macro_use]
#[path = "common/live.rs"]
mod live;

use std::fs;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use common::*;
use live::*;

e2e!(
    status_restart_stop_start_against_a_live_oxinit + child,
    healthcheck_follows_boot_and_health_checks,
    garbage_on_the_control_socket_is_refused_and_logged + child,
    a_request_with_an_unknown_field_is_refused,
    silent_clients_do_not_lock_out_healthcheck + child,
);

/// A service script: logs "start <pid>", and "term" when SIGTERM ends it.
fn service_script(s: &Scratch, who: &str, log: &Path) -> PathBuf {
    s.script(
        &format!("{who}.sh"),
        &format!(
            r#"#!/bin/sh
log() {{ echo "$(date +%s%3N) {who} $*" >> {log}; }}
trap 'log term; exit 0' TERM
log start $$
while :; do sleep 1000 & wait $!; done
"#,
            log = path_str(log),
        ),
    )
}

fn assert_ok(out: &Output, what: &str) {
    assert_eq!(out.code, ExitCode::Code(0), "{what}: {out:?}");
}

/// status shows both services with their pids; restart replaces one process
/// and answers when done; stop keeps it down despite `restart = "always"`
/// (and healthcheck says so); start brings it back; a name that does not
/// exist is refused; the other service is never touched.
fn status_restart_stop_start_against_a_live_oxinit(how: As) {
    let s = scratch();
    let log = s.file("events");
    let api = service_script(&s, "api", &log);
    let worker = service_script(&s, "worker", &log);
    let procs = format!(
        r#"
[processes.api]
command = {api}
restart = "always"
restart_delay = "200ms"

[processes.worker]
command = {worker}
"#,
        api = toml_str(path_str(&api)),
        worker = toml_str(path_str(&worker)),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let api1 = logged_pid(&live.event(secs(10), "api", "start"));
    let worker1 = logged_pid(&live.event(secs(10), "worker", "start"));
    let p = live.wait_process("api", secs(10), "ready", |p| p["ready"] == true);
    assert_eq!(p["pid"].as_i64(), Some(api1), "{p:#}");
    assert_eq!(p["kind"], "service");
    assert_eq!(live.process("worker")["pid"].as_i64(), Some(worker1));

    let table = live.ctl(&["status"]);
    assert_ok(&table, "status");
    for (name, pid) in [("api", api1), ("worker", worker1)] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in the status table:\n{}", table.stdout));
        assert!(
            row.split_whitespace().any(|w| w == pid.to_string()),
            "the {name} row should show pid {pid}: {row}"
        );
    }
    assert_ok(&live.ctl(&["healthcheck"]), "healthcheck with all up");

    // restart: the old process got its stop signal, a new one runs, and the
    // answer came after that (it "answers when done").
    let restart = live.ctl(&["restart", "api"]);
    assert_ok(&restart, "restart api");
    let p = live.process("api");
    let api2 = p["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("api has no pid right after restart answered: {p:#}"));
    assert_ne!(api2, api1, "restart should replace the process: {p:#}");
    assert_eq!(live.events("api", "term").len(), 1, "the old api got TERM");
    let started = live.event(secs(5), "api", &format!("start {api2}"));
    assert!(started.t_ms >= live.events("api", "term")[0].t_ms);

    // stop: down, and it stays down although restart = "always".
    assert_ok(&live.ctl(&["stop", "api"]), "stop api");
    let p = live.process("api");
    assert!(
        p["state"] == "stopped" && p["up"] == false && p["pid"].is_null(),
        "api right after stop answered: {p:#}"
    );
    assert_eq!(p["last_exit"]["reason"], "stop", "{p:#}");
    assert_eq!(live.events("api", "term").len(), 2);
    // Several restart delays (200ms) long: a restart would show by now.
    let watch_until = Instant::now() + ms(1500);
    while Instant::now() < watch_until {
        let p = live.process("api");
        assert_eq!(p["state"], "stopped", "a stopped service came back: {p:#}");
        std::thread::sleep(ms(100));
    }
    assert_eq!(live.events("api", "start").len(), 2, "no new api process");
    let health = live.ctl(&["healthcheck"]);
    assert_eq!(
        health.code,
        ExitCode::Code(1),
        "healthcheck with api stopped: {health:?}"
    );
    assert!(
        health.stderr.contains("api"),
        "healthcheck should name api: {health:?}"
    );

    // start: back up, healthy again.
    assert_ok(&live.ctl(&["start", "api"]), "start api");
    let api3 = wait_until(secs(5), "a third api start", || {
        live.events("api", "start").get(2).map(logged_pid)
    });
    let p = live.wait_process("api", secs(10), "up again", |p| {
        p["up"] == true && p["ready"] == true
    });
    assert_eq!(p["pid"].as_i64(), Some(api3), "{p:#}");
    assert_eq!(live.events("api", "start").len(), 3);
    assert_ok(&live.ctl(&["healthcheck"]), "healthcheck after start");

    // An unknown name: refused, with the names there are.
    let typo = live.ctl(&["restart", "apx"]);
    assert_ne!(typo.code, ExitCode::Code(0), "{typo:?}");
    assert!(
        typo.stderr.contains("apx") && typo.stderr.contains("worker"),
        "the refusal should name apx and list the processes: {typo:?}"
    );

    let w = live.process("worker");
    assert_eq!(
        w["pid"].as_i64(),
        Some(worker1),
        "worker was touched: {w:#}"
    );
    assert_eq!(w["restarts"], 0);
    assert_eq!(live.events("worker", "start").len(), 1);
    assert!(live.events("worker", "term").is_empty());
    live.shut_down();
}

/// `oxinit healthcheck` exits 1 with reasons while a checked service is not
/// healthy yet (boot not finished), 0 once it is, and non-zero when no
/// oxinit answers at all.
fn healthcheck_follows_boot_and_health_checks(how: As) {
    let s = scratch();
    let log = s.file("events");
    let sick = s.file("sick");
    fs::write(&sick, "").unwrap();
    let port = free_port();
    let procs = format!(
        r#"
[processes.web]
command = {web}
[processes.web.health]
type = "http"
url = "http://127.0.0.1:{port}/"
interval = "500ms"
timeout = "500ms"
start_period = "30s"
"#,
        web = endpoint(&log, "web", "http", port, Some(&sick)),
    );
    let mut live = Live::start(how, s, Metrics::On, &procs);
    wait_until(secs(10), "a failed probe of web", || {
        live.events("web", "probe 503").first().cloned()
    });
    let health = live.ctl(&["healthcheck"]);
    assert_eq!(
        health.code,
        ExitCode::Code(1),
        "while web fails: {health:?}"
    );
    assert!(health.stderr.contains("web"), "name web: {health:?}");
    let status = live.status();
    assert_eq!(status["booted"], false, "{status:#}");
    let port = live.metrics_port.unwrap();
    assert!(
        http_get(port, "/health").is_err(),
        "/health should not be 200 while web fails"
    );

    fs::remove_file(&sick).unwrap();
    live.wait_process("web", secs(10), "ready", |p| p["ready"] == true);
    let health = live.ctl(&["healthcheck"]);
    assert_eq!(
        health.code,
        ExitCode::Code(0),
        "once web is healthy: {health:?}"
    );
    assert!(
        http_get(port, "/health").is_ok(),
        "/health once web is healthy"
    );

    let socket = live.socket.clone();
    live.shut_down();
    let gone = run(
        Command::new(bin())
            .args(["healthcheck", "--socket"])
            .arg(&socket),
        secs(10),
    );
    assert_ne!(gone.code, ExitCode::Code(0), "with no oxinit: {gone:?}");
    assert!(!gone.stderr.is_empty(), "say why: {gone:?}");
}

/// One raw exchange on the control socket: send `bytes`, read the answer up
/// to EOF (within 10 s). The server may answer and close before it read all
/// of an over-long request: then our write fails (EPIPE) or the read ends in
/// ECONNRESET (Linux resets a Unix stream closed with unread data) after the
/// answer — what counts is the answer.
fn exchange(socket: &Path, what: &str, bytes: &[u8]) -> Vec<u8> {
    let mut stream =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream.set_read_timeout(Some(secs(10))).unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        assert!(
            !answer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset,
            "reading the answer to {what}: {e} (after {answer:?})"
        );
    }
    answer
}

fn refusal(answer: &[u8], sent: &str) -> String {
    let text = String::from_utf8_lossy(answer);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("the answer to {sent} is not one JSON line ({e}): {text:?}"));
    assert_eq!(v["ok"], false, "{sent} was not refused: {v}");
    let error = v["error"].as_str().unwrap_or_default().to_owned();
    assert!(!error.is_empty(), "a refusal of {sent} says why: {v}");
    error
}

/// Malformed requests each get `{"ok":false,"error":…}` and a warning in
/// oxinit's log; a silent client is dropped after the idle timeout without
/// holding anyone up; the supervised service is untouched and the socket
/// keeps answering.
fn garbage_on_the_control_socket_is_refused_and_logged(how: As) {
    let s = scratch();
    let log = s.file("events");
    let app = service_script(&s, "app", &log);
    let procs = format!("[processes.app]\ncommand = {}\n", toml_str(path_str(&app)));
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let app1 = logged_pid(&live.event(secs(10), "app", "start"));

    // Connected and silent all along: must not block anything below.
    let mut silent = UnixStream::connect(&live.socket).unwrap();
    silent.set_read_timeout(Some(secs(15))).unwrap();
    let silent_since = Instant::now();

    let long = vec![b'x'; 10_000];
    let garbage: Vec<(&str, &[u8])> = vec![
        ("plain text", b"hello oxinit\n"),
        ("broken JSON", b"{\"cmd\":\n"),
        ("an unknown command", b"{\"cmd\":\"reboot\"}\n"),
        ("restart without a name", b"{\"cmd\":\"restart\"}\n"),
        ("binary", b"\xff\xfe\x00\x01\x02garbage\n"),
        ("10000 bytes without a newline", &long),
    ];
    let before = live.ox.stderr().lines().count();
    for (what, bytes) in &garbage {
        let answer = exchange(&live.socket, what, bytes);
        refusal(&answer, what);
    }
    // Half-closed without a newline: the line ends at EOF, and is refused too.
    let mut half = UnixStream::connect(&live.socket).unwrap();
    half.write_all(b"nonsense").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    half.set_read_timeout(Some(secs(10))).unwrap();
    half.read_to_end(&mut answer).unwrap();
    refusal(&answer, "a half-closed request");

    let warned = wait_until(secs(5), "a warning per bad request", || {
        let lines: Vec<String> = live
            .ox
            .stderr()
            .lines()
            .skip(before)
            .filter(|l| l.contains("WARN") && l.contains("control"))
            .map(str::to_owned)
            .collect();
        (lines.len() > garbage.len()).then_some(lines)
    });
    assert!(
        warned.iter().any(|l| l.contains("hello oxinit")),
        "the log should quote the bad request: {warned:#?}"
    );

    // Still serving, nothing restarted, while the silent client waits.
    assert!(
        silent_since.elapsed() < secs(5),
        "the garbage took too long to test the silent client"
    );
    let app = live.process("app");
    assert_eq!(app["pid"].as_i64(), Some(app1), "{app:#}");
    assert_eq!(app["restarts"], 0);
    assert_ok(&live.ctl(&["healthcheck"]), "healthcheck after garbage");

    // The silent client is dropped with an error after the idle timeout.
    let mut answer = Vec::new();
    silent
        .read_to_end(&mut answer)
        .expect("the silent client should get an answer and EOF");
    refusal(&answer, "silence");
    eprintln!(
        "{how:?}: silent client dropped after {:?}",
        silent_since.elapsed()
    );
    live.wait_stderr(secs(5), "sent no request");
    live.shut_down();
}

/// The protocol denies unknown fields: a request with one is refused, not
/// half-understood — `{"cmd":"stop","name":"app","force":true}` must not
/// stop anything (a newer client's option would otherwise be silently
/// dropped by an older oxinit).
fn a_request_with_an_unknown_field_is_refused(how: As) {
    let s = scratch();
    let log = s.file("events");
    let app = service_script(&s, "app", &log);
    let procs = format!("[processes.app]\ncommand = {}\n", toml_str(path_str(&app)));
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let app1 = logged_pid(&live.event(secs(10), "app", "start"));
    let mut accepted = Vec::new();
    for request in [
        r#"{"cmd":"stop","name":"app","force":true}"#,
        r#"{"cmd":"status","all":true}"#,
        r#"{"cmd":"health","verbose":1}"#,
    ] {
        let answer = exchange(&live.socket, request, format!("{request}\n").as_bytes());
        let v: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("the answer to {request} is not JSON ({e}): {answer:?}"));
        if v["ok"] != false {
            accepted.push(request);
        }
    }
    let app = live.process("app");
    assert_eq!(app["pid"].as_i64(), Some(app1), "{app:#}");
    assert!(
        accepted.is_empty(),
        "requests with an unknown field were carried out instead of refused: {accepted:?}"
    );
    live.shut_down();
}

/// Issue 15: sixteen silent clients used to make `status` and `healthcheck`
/// answer "busy" for seconds. A hundred of them now: the real clients are
/// served at once, and the silent ones are dropped within the request
/// timeout (2 s) or as soon as a newcomer needs their place.
fn silent_clients_do_not_lock_out_healthcheck(how: As) {
    let s = scratch();
    let log = s.file("events");
    let app = service_script(&s, "app", &log);
    let procs = format!("[processes.app]\ncommand = {}\n", toml_str(path_str(&app)));
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    live.event(secs(10), "app", "start");
    let silent: Vec<UnixStream> = (0..100)
        .map(|_| UnixStream::connect(&live.socket).unwrap())
        .collect();
    assert_ok(
        &live.ctl(&["healthcheck"]),
        "healthcheck beside 100 silent clients",
    );
    assert_ok(&live.ctl(&["status"]), "status beside 100 silent clients");
    for (i, mut stream) in silent.into_iter().enumerate() {
        stream.set_read_timeout(Some(secs(15))).unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("silent client {i} was never dropped: {e}"));
        let error = refusal(&answer, "silence");
        assert!(
            error.starts_with("no request within 2s") || error.starts_with("dropped to make room"),
            "silent client {i}: {error}"
        );
    }
    live.wait_stderr(secs(5), "the oldest one still without a request makes room");
    live.shut_down();
}
