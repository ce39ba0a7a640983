//! The client's own errors: no oxinit, a hung oxinit.

use super::*;

#[test]
fn no_socket_says_oxinit_is_not_running_here() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    let (code, out, err) = run(
        &Request::Status {},
        &socket,
        false,
        &ClientOptions::default(),
    );
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "oxinit: oxinit is not running here (no control socket at {}); pass --socket PATH or --config OXFILE, or set OXINIT_SOCKET\n",
            socket.display()
        )
    );
}

#[test]
fn a_hung_oxinit_does_not_hang_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    // Accepts (the kernel does, from the backlog) and never answers.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let options = ClientOptions {
        answer_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(600),
    };
    let started = Instant::now();
    let (code, _, err) = run(&Request::Health {}, &socket, false, &options);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "oxinit: no answer from oxinit on {} within 300ms\n",
            socket.display()
        )
    );
    let (code, _, err) = run(
        &Request::Stop { name: "api".into() },
        &socket,
        false,
        &options,
    );
    assert_eq!(code, 1);
    assert!(
        err.ends_with("within 600ms; the stop of api may still complete: see `oxinit status`\n"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_answer_that_is_not_oxinits_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 64];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .unwrap();
    });
    let (code, _, err) = run(
        &Request::Status {},
        &socket,
        false,
        &ClientOptions::default(),
    );
    server.join().unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("answered something this client cannot read"),
        "{err}"
    );
}
