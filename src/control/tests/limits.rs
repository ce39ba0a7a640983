//! The bounds: request size, idle clients, connection count, answer waits.

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
            idle_timeout: Duration::from_millis(300),
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

#[test]
fn connections_beyond_sixteen_are_closed_at_once_and_the_rest_still_served() {
    let h = Harness::with(
        healthy_snapshot(),
        Limits {
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        },
    );
    // Sixteen clients that say nothing…
    let mut idle: Vec<StdStream> = (0..16).map(|_| h.connect()).collect();
    // …so the seventeenth is turned away without waiting.
    let started = Instant::now();
    let answer = read_answer(&mut h.connect());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        answer["error"],
        "oxinit is busy: 16 control connections are open; try again"
    );
    h.logs.wait_for("refused a connection: 16 are already open");

    // The sixteen are still served.
    let first = &mut idle[0];
    first.write_all(b"{\"cmd\":\"health\"}\n").unwrap();
    assert_eq!(read_answer(first)["healthy"], true);

    // Once they leave, there is room again.
    drop(idle);
    eventually("a new client is served", || {
        h.raw(b"{\"cmd\":\"status\"}\n")["ok"] == true
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
