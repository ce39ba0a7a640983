//! What each request does, end to end through the socket.

use super::*;
use crate::snapshot::{Phase, ProcessState};

#[test]
fn requests_have_the_documented_wire_format() {
    let line = |r: &Request| serde_json::to_string(r).unwrap();
    assert_eq!(line(&Request::Status {}), r#"{"cmd":"status"}"#);
    assert_eq!(line(&Request::Health {}), r#"{"cmd":"health"}"#);
    assert_eq!(
        line(&Request::Restart { name: "api".into() }),
        r#"{"cmd":"restart","name":"api"}"#
    );
    let stop: Request = serde_json::from_str(r#"{"name":"api","cmd":"stop"}"#).unwrap();
    assert_eq!(stop, Request::Stop { name: "api".into() });
}

#[test]
fn status_prints_a_header_and_an_aligned_row_per_process() {
    let h = Harness::start();
    let (code, out, err) = h.client(Request::Status {}, false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "oxinit 0.1.0, pid 1, up 1h1m, running, memory limits: cgroup1"
    );
    assert!(lines[1].starts_with("NAME "), "{out}");
    let api = lines.iter().find(|l| l.starts_with("api ")).unwrap();
    // Each value sits under its column heading.
    let cell = |heading: &str| {
        let start = lines[1].find(heading).unwrap();
        let rest = &api[start..];
        rest[..rest.find("  ").unwrap_or(rest.len())].to_string()
    };
    assert_eq!(cell("STATE"), "ready");
    assert_eq!(cell("PID"), "40");
    assert!(
        ["5m12s", "5m13s"].contains(&cell("UPTIME").as_str()),
        "{out}"
    );
    assert_eq!(cell("RESTARTS"), "2");
    assert!(cell("LAST EXIT").starts_with("SIGKILL (oom), 5m1"), "{out}");
    assert_eq!(cell("NEXT RUN"), "-");
    let optimize = lines.iter().find(|l| l.starts_with("optimize ")).unwrap();
    assert!(
        optimize.ends_with("in 59m59s") || optimize.ends_with("in 1h"),
        "{out}"
    );
    assert_eq!(lines.len(), 2 + 5, "{out}");
}

#[test]
fn status_json_is_the_snapshot() {
    let h = Harness::start();
    let status = h.status_json();
    assert_eq!(status["memory_enforcement"], "cgroup1");
    assert_eq!(status["processes"][1]["name"], "api");
    assert_eq!(status["processes"][1]["pid"], 40);
    assert_eq!(status["processes"][1]["last_exit"]["reason"], "oom");
    assert_eq!(status["processes"].as_array().unwrap().len(), 5);
}

#[test]
fn stop_start_and_restart_go_to_the_supervisor_and_back() {
    let h = Harness::start();
    let state = |h: &Harness, i: usize| h.status_json()["processes"][i].clone();

    assert_eq!(
        h.client(Request::Stop { name: "api".into() }, false),
        (0, "api stopped\n".into(), String::new())
    );
    assert_eq!(state(&h, 1)["state"], "stopped");
    assert_eq!(state(&h, 1)["pid"], serde_json::Value::Null);

    assert_eq!(
        h.client(Request::Start { name: "api".into() }, false),
        (0, "api started (pid 4242)\n".into(), String::new())
    );
    assert_eq!(state(&h, 1)["state"], "running");

    assert_eq!(
        h.client(
            Request::Restart {
                name: "worker".into()
            },
            false
        ),
        (0, "worker restarted (pid 42)\n".into(), String::new())
    );
    assert_eq!(state(&h, 2)["restarts"], 1);
    assert_eq!(h.received(), 3);
    h.logs.wait_for("control: restart worker (asked by uid 0");
}

#[test]
fn an_unknown_name_is_refused_at_once_without_bothering_the_supervisor() {
    let h = Harness::start();
    let (code, out, err) = h.client(Request::Restart { name: "apx".into() }, false);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "oxinit: no process named \"apx\"; processes: migrate, api, worker, optimize, slow\n"
    );
    assert_eq!(h.received(), 0);
}

#[test]
fn the_supervisors_refusal_reaches_the_client() {
    // Before the first snapshot the server knows no names: the supervisor
    // answers.
    let h = Harness::with(Snapshot::default(), Limits::default());
    let (code, _, err) = h.client(Request::Stop { name: "apx".into() }, false);
    assert_eq!(code, 1);
    assert_eq!(err, "oxinit: no process named \"apx\"; processes: \n");
    assert_eq!(h.received(), 1);
}

#[test]
fn malformed_requests_are_answered_logged_and_change_nothing() {
    let h = Harness::start();
    for garbage in [
        &b"hello\n"[..],
        b"{\"cmd\":\"reboot\"}\n",
        b"{\"cmd\":\"stop\"}\n",
        b"{\"cmd\":\"stop\",\"name\":\"api\",\"force\":true}\n",
        b"{\"cmd\":\"stop\",\"name\":42}\n",
        b"\xff\xfe\x00\n",
        b"[]\n",
    ] {
        let answer = h.raw(garbage);
        assert_eq!(answer["ok"], false, "{garbage:?}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with("malformed request: "), "{error}");
    }
    h.logs.wait_for("refused a malformed request from uid 0");
    assert_eq!(h.received(), 0);
    assert_eq!(h.status_json()["processes"][1]["state"], "ready");
}

#[test]
fn a_flood_of_garbage_is_answered_but_logged_only_a_few_times() {
    let h = Harness::start();
    for _ in 0..40 {
        assert_eq!(h.raw(b"garbage\n")["ok"], false);
    }
    let log = h.logs.text();
    assert_eq!(log.matches("malformed request").count(), 10, "{log}");
}

#[test]
fn healthcheck_is_silent_when_healthy() {
    let h = Harness::start();
    assert_eq!(
        h.client(Request::Health {}, false),
        (0, String::new(), String::new())
    );
}

#[test]
fn healthcheck_fails_with_the_reasons() {
    let mut snapshot = healthy_snapshot();
    snapshot.phase = Phase::Booting;
    snapshot.booted = false;
    let api = &mut snapshot.processes[1];
    (api.state, api.up, api.ready, api.pid) = (ProcessState::Backoff, false, false, None);
    let worker = &mut snapshot.processes[2];
    (worker.state, worker.ready) = (ProcessState::Unhealthy, false);
    let h = Harness::with(snapshot, Limits::default());
    let (code, out, err) = h.client(Request::Health {}, false);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "oxinit: unhealthy: boot has not finished; api is backoff; worker is unhealthy\n"
    );
}

#[test]
fn a_client_that_only_half_closes_still_gets_its_answer() {
    // `printf '{"cmd":"stop","name":"slow"}' | socat - UNIX:…` sends, then
    // shuts down its sending side and waits: it has not gone away.
    let h = Harness::with(
        healthy_snapshot(),
        Limits {
            command_timeout: Duration::from_millis(800),
            ..Limits::default()
        },
    );
    let mut stream = h.connect();
    stream
        .write_all(br#"{"cmd":"stop","name":"slow"}"#)
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(answer["ok"], false);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "no answer from the supervisor within 800ms; the stop of slow may still complete"
        ),
        "{error}"
    );
}

#[test]
fn a_client_that_hangs_up_while_waiting_is_let_go() {
    let h = Harness::start();
    let mut stream = h.connect();
    stream
        .write_all(b"{\"cmd\":\"restart\",\"name\":\"slow\"}\n")
        .unwrap();
    eventually("the command reaches the supervisor", || h.received() == 1);
    drop(stream);
    h.logs
        .wait_for("left before the restart of slow was done; it goes on");
}
