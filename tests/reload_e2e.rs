//! `oxinit reload NAME` and `oxinit start ONESHOT` against the real binary
//! (issue 13): an app that binds its port itself with SO_REUSEPORT
//! (tests/scripts/reload_app.py), and one on oxinit's held socket, are
//! reloaded twice while a client sends requests without a pause, and no
//! request fails; a reload whose new
//! instance fails its health check returns 1 and the old one serves on; the
//! reloads are counted; `oxinit start migrate` exits with the oneshot's code.

mod common;
#[macro_use]
#[path = "common/live.rs"]
mod live;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use live::*;

e2e!(
    two_reloads_under_load_fail_no_request + child,
    two_reloads_of_an_app_on_a_held_socket_fail_no_request + child,
    a_new_instance_that_fails_its_check_leaves_the_old_one_serving + child,
    start_of_a_oneshot_exits_with_its_code + child,
    an_exec_check_is_told_the_instance_it_checks + child,
    ready_over_notify_comes_from_the_new_instances_own_socket + child,
);

/// How the app gets its port.
#[derive(Clone, Copy, PartialEq)]
enum Port {
    /// It binds it itself, with SO_REUSEPORT.
    ReusePort,
    /// oxinit holds it (`listen`) and passes it on as fd 3.
    Held,
}

fn app_oxfile(port: u16, events: &str, broken: &str, ready_timeout: &str, how: Port) -> String {
    let script = script_path("reload_app.py");
    let listen = match how {
        Port::Held => format!("listen = [\"127.0.0.1:{port}\"]\n"),
        Port::ReusePort => String::new(),
    };
    format!(
        r#"
[processes.api]
{listen}command = {argv}
env = {{ DELAY = "0.6" }}
stop_timeout = "5s"
ready_timeout = "{ready_timeout}"

[processes.api.health]
type = "http"
url = "http://127.0.0.1:{port}/health"
interval = "1s"
timeout = "1s"
"#,
        argv = toml_argv(&[
            python(),
            path_str(&script),
            &port.to_string(),
            events,
            broken
        ]),
    )
}

/// One HTTP/1.0 GET on a fresh connection: the body on a 200, else why not.
fn get(port: u16, path: &str) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") => Ok(body.trim().to_owned()),
        _ => Err(format!("answer: {answer:?}")),
    }
}

/// A client that sends requests one after another until stopped (bounded:
/// one connection at a time, each with its own timeout).
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Result<String, String>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let answer = get(port, "/");
                r.lock().unwrap().push(answer);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Load {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits until `n` more requests were answered.
    fn wait_more(&self, n: usize) {
        let want = self.count() + n;
        let end = Instant::now() + secs(20);
        while self.count() < want {
            assert!(Instant::now() < end, "the client made no progress");
            std::thread::sleep(ms(10));
        }
    }

    fn finish(mut self) -> Vec<Result<String, String>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn two_reloads_under_load_fail_no_request(how: As) {
    two_reloads_under_load(how, Port::ReusePort);
}

/// The same with the port held by oxinit: both instances accept on one
/// socket, and the probes tell them apart by who accepted.
fn two_reloads_of_an_app_on_a_held_socket_fail_no_request(how: As) {
    two_reloads_under_load(how, Port::Held);
}

/// Two reloads while the client sends requests: each returns 0 once the new
/// instance serves and the old is gone; no request fails; both instances
/// show in `status` while it runs; counted as reloads, not exits.
fn two_reloads_under_load(how: As, port_kind: Port) {
    let s = scratch();
    let port = free_port();
    let events = s.file("events");
    let broken = s.file("broken");
    let procs = app_oxfile(port, path_str(&events), path_str(&broken), "20s", port_kind);
    let mut live = Live::start(how, s, Metrics::On, &procs);
    let first = live.wait_process("api", secs(15), "ready", |p| p["ready"] == true);
    let load = Load::start(port);
    load.wait_more(50);
    let mut pids = vec![first["pid"].as_i64().unwrap()];
    for round in 0..2 {
        let socket = live.socket.clone();
        let t0 = Instant::now();
        let reload = std::thread::spawn(move || {
            let out = run(
                std::process::Command::new(bin())
                    .args(["reload", "api", "--socket"])
                    .arg(socket),
                secs(30),
            );
            (out, t0.elapsed())
        });
        // The new instance starts 0.6 s late: status shows it beside the old one.
        let both = live.wait_process("api", secs(10), "reloading", |p| {
            p["reload"]["instance"] == "new"
        });
        assert_eq!(both["pid"].as_i64(), pids.last().copied(), "{both:#}");
        let (out, took) = reload.join().unwrap();
        assert_eq!(
            out.code,
            ExitCode::Code(0),
            "reload {round}: {out:?}\n{}",
            live.ox.output()
        );
        // Until then the old one answered every probe: none counted for the
        // new one, which is ready only once it serves itself.
        assert!(took >= ms(600), "ready after its 0.6 s start, not {took:?}");
        assert!(out.stdout.contains("api reloaded"), "{out:?}");
        let p = live.process("api");
        let pid = p["pid"].as_i64().unwrap();
        assert!(!pids.contains(&pid), "a new pid: {p:#}");
        assert!(p["reload"].is_null(), "the reload is over: {p:#}");
        pids.push(pid);
        load.wait_more(50);
    }
    let answers = load.finish();
    eprintln!("{} requests during two reloads", answers.len());
    let failed: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}\n{}",
        failed.len(),
        answers.len(),
        live.ox.output()
    );
    let served_by_last = format!("pid {}", pids[2]);
    assert!(
        answers
            .iter()
            .any(|a| a.as_deref() == Ok(served_by_last.as_str())),
        "the last instance served"
    );
    let ok = r#"oxinit_process_reloads_total{process="api",result="ok"}"#;
    assert_eq!(live.metric(ok), 2.0);
    assert_eq!(
        live.metric(r#"oxinit_process_restarts_total{process="api"}"#),
        0.0
    );
    for reason in ["exit", "signal", "stop"] {
        let series = format!(r#"oxinit_process_exits_total{{process="api",reason="{reason}"}}"#);
        assert_eq!(
            live.metric(&series),
            0.0,
            "{series}: the old ones' ends are reloads"
        );
    }
    assert_eq!(
        live.events("api", "term").len(),
        2,
        "each old instance got one TERM"
    );
    live.shut_down();
}

/// The new instance's /health answers 500: after ready_timeout the reload
/// returns 1 with the reason, the new one is stopped, and the old one, never
/// signalled, serves on.
fn a_new_instance_that_fails_its_check_leaves_the_old_one_serving(how: As) {
    let s = scratch();
    let port = free_port();
    let events = s.file("events");
    let broken = s.file("broken");
    let procs = app_oxfile(
        port,
        path_str(&events),
        path_str(&broken),
        "3s",
        Port::ReusePort,
    );
    let mut live = Live::start(how, s, Metrics::On, &procs);
    let old = live.wait_process("api", secs(15), "ready", |p| p["ready"] == true)["pid"]
        .as_i64()
        .unwrap();
    std::fs::write(&broken, "").unwrap();
    let out = live.ctl(&["reload", "api"]);
    assert_eq!(out.code, ExitCode::Code(1), "{out:?}\n{}", live.ox.output());
    assert!(
        out.stderr
            .contains("not ready within its ready_timeout of 3s")
            && out.stderr.contains("HTTP 500")
            && out
                .stderr
                .contains(&format!("the old one (pid {old}) keeps serving")),
        "{out:?}"
    );
    let p = live.process("api");
    assert_eq!(p["pid"].as_i64(), Some(old), "{p:#}");
    assert_eq!(p["ready"], true);
    assert!(p["reload"].is_null(), "{p:#}");
    assert_eq!(
        live.events("api", "term").len(),
        1,
        "only the new one was stopped"
    );
    // Once the new one is gone, every request is the old one's.
    for _ in 0..20 {
        assert_eq!(get(port, "/"), Ok(format!("pid {old}")));
    }
    let not_ready = r#"oxinit_process_reloads_total{process="api",result="not_ready"}"#;
    assert_eq!(live.metric(not_ready), 1.0);
    assert_eq!(
        live.metric(r#"oxinit_process_restarts_total{process="api"}"#),
        0.0
    );
    live.shut_down();
}

/// `oxinit start migrate` runs the finished oneshot again, waits for it, and
/// exits with its code; a service is refused a start while it runs.
fn start_of_a_oneshot_exits_with_its_code(how: As) {
    let s = scratch();
    let code = s.file("code");
    std::fs::write(&code, "0").unwrap();
    let procs = format!(
        r#"
[processes.migrate]
command = ["sh", "-c", "sleep 0.3; exit $(cat {code})"]
oneshot = true

[processes.api]
command = ["sleep", "1000"]
depends_on = ["migrate"]
"#,
        code = path_str(&code),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    live.wait_process("api", secs(10), "running", |p| p["up"] == true);
    std::fs::write(&code, "3").unwrap();
    let t0 = Instant::now();
    let out = live.ctl(&["start", "migrate"]);
    assert_eq!(out.code, ExitCode::Code(3), "{out:?}\n{}", live.ox.output());
    assert!(t0.elapsed() >= ms(300), "the client waited for the run");
    assert!(
        out.stderr.contains("migrate failed (exit code 3)"),
        "{out:?}"
    );
    std::fs::write(&code, "0").unwrap();
    let out = live.ctl(&["start", "migrate"]);
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}");
    assert!(
        out.stdout.contains("migrate finished (exit code 0)"),
        "{out:?}"
    );
    // The deploy hook: the migration, then the reload of the app.
    let out = live.ctl(&["reload", "migrate"]);
    assert_eq!(out.code, ExitCode::Code(1), "{out:?}");
    assert!(
        out.stderr.contains("only a service can be reloaded"),
        "{out:?}"
    );
    let out = live.ctl(&["reload", "api"]);
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}\n{}", live.ox.output());
    live.shut_down();
}

/// A worker that listens on nothing, checked by an exec check: during the
/// reload the check is told the new instance's pid, which is ready before
/// the old one gets its TERM.
fn an_exec_check_is_told_the_instance_it_checks(how: As) {
    let s = scratch();
    let log = s.file("events");
    let worker = s.script(
        "worker.sh",
        &format!(
            r#"#!/bin/sh
trap 'echo "$(date +%s%3N) worker term $$" >> {log}; exit 0' TERM
echo "$(date +%s%3N) worker start $$" >> {log}
while :; do sleep 1000 & wait $!; done
"#,
            log = path_str(&log)
        ),
    );
    let check = format!(
        r#"echo "$(date +%s%3N) check pid $OXINIT_INSTANCE_PID" >> {}"#,
        path_str(&log)
    );
    let procs = format!(
        r#"
[processes.worker]
command = {worker}
[processes.worker.health]
type = "exec"
command = {check}
interval = "1s"
"#,
        worker = toml_str(path_str(&worker)),
        check = toml_argv(&["sh", "-c", &check]),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let old = live.wait_process("worker", secs(10), "ready", |p| p["ready"] == true)["pid"]
        .as_i64()
        .unwrap();
    let out = live.ctl(&["reload", "worker"]);
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}\n{}", live.ox.output());
    let new = live.process("worker")["pid"].as_i64().unwrap();
    assert_ne!(new, old);
    let checked_new = live
        .events("check", "pid")
        .into_iter()
        .find(|e| e.what.ends_with(&format!(" {new}")))
        .unwrap_or_else(|| panic!("no check of pid {new}: {:#?}", read_events(&live.log)));
    let term = live.events("worker", "term");
    assert_eq!(term.len(), 1, "{term:?}");
    assert!(
        term[0].what.ends_with(&format!(" {old}")),
        "the old one stopped: {term:?}"
    );
    assert!(
        checked_new.t_ms <= term[0].t_ms,
        "checked before the old one's TERM"
    );
    live.shut_down();
}

/// type = "notify": the new instance gets a NOTIFY_SOCKET of its own, and
/// only its READY=1 hands over; until then the old one is left alone.
fn ready_over_notify_comes_from_the_new_instances_own_socket(how: As) {
    let s = scratch();
    let log = s.file("events");
    let ready = s.file("ready");
    let pet = s.file("pet");
    std::fs::write(&ready, "").unwrap();
    let script = script_path("notify_client.py");
    let procs = format!(
        r#"
[processes.api]
command = {argv}
[processes.api.health]
type = "notify"
"#,
        argv = toml_argv(&[
            python(),
            path_str(&script),
            path_str(&log),
            "api",
            path_str(&ready),
            path_str(&pet)
        ]),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let old = live.wait_process("api", secs(10), "ready", |p| p["ready"] == true)["pid"]
        .as_i64()
        .unwrap();
    std::fs::remove_file(&ready).unwrap();
    let socket = live.socket.clone();
    let reload = std::thread::spawn(move || {
        run(
            std::process::Command::new(bin())
                .args(["reload", "api", "--socket"])
                .arg(socket),
            secs(30),
        )
    });
    let starts = wait_until(secs(10), "the new instance starts", || {
        let starts = live.events("api", "start");
        (starts.len() == 2).then_some(starts)
    });
    let socket_of = |e: &Event| {
        e.what
            .split_whitespace()
            .find_map(|w| w.strip_prefix("NOTIFY_SOCKET="))
            .map(str::to_owned)
    };
    assert_ne!(socket_of(&starts[0]), socket_of(&starts[1]), "{starts:?}");
    std::thread::sleep(ms(300));
    assert!(
        live.events("api", "term").is_empty(),
        "the old one waits for READY=1"
    );
    assert_eq!(live.process("api")["pid"].as_i64(), Some(old));
    std::fs::write(&ready, "").unwrap();
    let out = reload.join().unwrap();
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}\n{}", live.ox.output());
    let new = logged_pid(&starts[1]);
    assert_eq!(live.process("api")["pid"].as_i64(), Some(new));
    assert_eq!(live.events("api", "term").len(), 1);
    live.shut_down();
}
