//! The bounds: request size, idle clients, connection count, commands,
//! answer waits.

use super::*;

#[test]
fn a_request_of_exactly_the_limit_is_served_and_one_byte_more_is_refused() {
    let h = Harness::start();
    let padded = |len: usize| {
        let mut line = br#"{"cmd":"status"}"#.to_vec();
        line.resize(len, b' ');
        line.push(b'\n');
        line
    };
    assert_eq!(h.raw(&padded(4096))["ok"], true);
    let answer = h.raw(&padded(4097));
    assert_eq!(answer["ok"], false);
    assert_eq!(
        answer["error"],
        "request too long: at most 4096 bytes, one JSON line"
    );
}

#[test]
fn an_endless_request_is_refused_and_closed() {
    let h = Harness::start();
    let mut stream = h.connect();
    // More than the limit, no newline, and the client keeps the connection
    // open: the server must not wait for the end.
    stream.write_all(&[b'a'; 5000]).unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(answer["ok"], false);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("request too long"));
    h.logs.wait_for("longer than 4096 bytes");
}

#[test]
fn an_idle_client_is_dropped_after_the_timeout() {
    let h = Harness::with(
        healthy_snapshot(),
        Limits {
            request_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let started = Instant::now();
    let mut stream = h.connect();
    // A partial request does not reset the clock.
    stream.write_all(br#"{"cmd":"#).unwrap();
    let answer = read_answer(&mut stream);
    let waited = started.elapsed();
    assert_eq!(
        answer["error"],
        r#"no request within 300ms: send one JSON line such as {"cmd":"status"}"#
    );
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    h.logs.wait_for("sent no request within 300ms");
}

/// Issue 15: sixteen silent clients used to hold every place, and
/// `healthcheck` was answered "busy". Now any number of them only push each
/// other out: a client that sends its request at once is always served.
#[test]
fn silent_clients_never_lock_out_healthcheck_or_status() {
    let limits = Limits {
        // Long, so that only making room can serve the newcomers.
        request_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    assert!(limits.max_per_uid < limits.max_connections);
    assert!(limits.max_commands < limits.max_per_uid);
    let h = Harness::with(healthy_snapshot(), limits.clone());
    // More silent clients of our uid than the per-uid and the global cap.
    let silent = limits.max_connections + 16;
    let mut idle: Vec<StdStream> = (0..silent).map(|_| h.connect()).collect();
    for round in 0..3 {
        let (code, _, err) = h.client(Request::Health {}, false);
        assert_eq!((code, err.as_str()), (0, ""), "healthcheck, round {round}");
        assert_eq!(h.status_json()["processes"][1]["name"], "api");
    }
    h.logs
        .wait_for("the oldest one still without a request makes room");

    // The oldest were told why they were dropped…
    let answer = read_answer(&mut idle[0]);
    assert_eq!(
        answer["error"],
        "dropped to make room for another client: send the request line right after connecting"
    );
    h.logs
        .wait_for("that had sent no request, to make room for a new one");
    // …and the newest still wait, and are served when they speak.
    let last = idle.last_mut().unwrap();
    last.write_all(b"{\"cmd\":\"health\"}\n").unwrap();
    assert_eq!(read_answer(last)["healthy"], true);
}

#[test]
fn commands_are_capped_and_healthcheck_still_answered() {
    let h = Harness::with(
        healthy_snapshot(),
        Limits {
            max_commands: 2,
            ..Limits::default()
        },
    );
    // Two commands the fake supervisor never answers hold their places.
    let mut slow: Vec<StdStream> = (0..2)
        .map(|_| {
            let mut s = h.connect();
            s.write_all(b"{\"cmd\":\"restart\",\"name\":\"slow\"}\n")
                .unwrap();
            s
        })
        .collect();
    eventually("both commands reached the supervisor", || h.received() == 2);
    let (code, _, err) = h.client(Request::Restart { name: "api".into() }, false);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "oxinit: oxinit is busy: 2 restart/stop/start commands are running; try again when one is done\n"
    );
    assert_eq!(h.received(), 2, "the third never reached the supervisor");
    assert_eq!(h.client(Request::Health {}, false).0, 0);

    // One client gives up: its place is free again.
    drop(slow.pop());
    eventually("a command runs again", || {
        h.client(Request::Restart { name: "api".into() }, false).0 == 0
    });
}

#[test]
fn a_command_the_supervisor_never_answers_ends_with_a_clear_error() {
    let h = Harness::with(
        healthy_snapshot(),
        Limits {
            command_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let (code, _, err) = h.client(
        Request::Restart {
            name: "slow".into(),
        },
        false,
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "oxinit: no answer from the supervisor within 300ms; the restart of slow may still complete: see `oxinit status`\n"
    );
    // Other clients were never held up.
    assert_eq!(h.client(Request::Health {}, false).0, 0);
}
