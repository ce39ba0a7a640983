//! The HTTP server, driven by plain blocking sockets from the test thread
//! while it runs on its own single-threaded runtime, as in oxinit.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::{names, parse, running, snapshot, stopped};
use crate::metrics::{bind, serve_with, Limits, Metrics, MetricsError};
use crate::snapshot::{Phase, ProcessState, Snapshot};

/// A server on its own thread and runtime, with a stand-in for the
/// supervisor: a 5 ms timer on the same runtime whose worst lateness shows
/// whether serving ever made the thread wait.
struct Server {
    addr: SocketAddr,
    snapshots: watch::Sender<Arc<Snapshot>>,
    lateness_us: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(snap: Snapshot, limits: Limits) -> Server {
        let metrics = Metrics::new(
            &names(&[("api", "service"), ("migrate", "oneshot")]),
            "0.1.0",
        );
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (snapshots, rx) = watch::channel(Arc::new(snap));
        let (stop, stopped) = oneshot::channel::<()>();
        let lateness_us = Arc::new(AtomicU64::new(0));
        let lateness = lateness_us.clone();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let ticker = tokio::spawn(async move {
                    loop {
                        let due = tokio::time::Instant::now() + Duration::from_millis(5);
                        tokio::time::sleep_until(due).await;
                        let late = due.elapsed().as_micros() as u64;
                        lateness.fetch_max(late, Ordering::Relaxed);
                    }
                });
                tokio::select! {
                    _ = serve_with(listener, Arc::new(metrics), rx, Vec::new(), limits) => {}
                    _ = stopped => {}
                }
                ticker.abort();
            });
        });
        Server {
            addr,
            snapshots,
            lateness_us,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn publish(&self, snap: Snapshot) {
        self.snapshots.send_replace(Arc::new(snap));
    }

    fn lateness(&self) -> Duration {
        Duration::from_micros(self.lateness_us.load(Ordering::Relaxed))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `raw` on a new connection and reads the reply up to EOF.
fn request(addr: SocketAddr, raw: &str) -> Reply {
    let mut stream = connect(addr);
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no reply head in {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, "GET", path)
}

fn call(addr: SocketAddr, method: &str, path: &str) -> Reply {
    request(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: oxinit\r\nConnection: close\r\n\r\n"),
    )
}

/// Waits (bounded) until the server closes `stream`; returns how long it took.
fn wait_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("connection still open after {within:?}: {e}"),
        }
    }
}

fn booting() -> Snapshot {
    let mut api = running("api", "service", 999_999);
    api.ready = false;
    api.state = ProcessState::Starting;
    Snapshot {
        phase: Phase::Booting,
        booted: false,
        ..snapshot(vec![api, running("migrate", "oneshot", 999_998)])
    }
}

fn booted() -> Snapshot {
    let mut migrate = stopped("migrate", "oneshot");
    migrate.state = ProcessState::Exited;
    snapshot(vec![running("api", "service", 999_999), migrate])
}

#[test]
fn health_turns_503_200_503_with_the_snapshots() {
    let server = Server::start(booting(), Limits::default());
    let reply = get(server.addr, "/health");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["healthy"], false);
    assert_eq!(body["not_ready"], serde_json::json!(["api"]));
    assert!(body["problems"]
        .to_string()
        .contains("boot has not finished"));

    server.publish(booted());
    let reply = get(server.addr, "/health");
    assert_eq!(reply.status, 200, "{reply:?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["healthy"], true);
    assert_eq!(body["not_ready"], serde_json::json!([]));

    let mut failed = booted();
    failed.processes[0] = stopped("api", "service");
    failed.processes[0].state = ProcessState::Backoff;
    server.publish(failed);
    let reply = get(server.addr, "/health");
    assert_eq!(reply.status, 503, "{reply:?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["not_ready"], serde_json::json!(["api"]));
    assert!(body["problems"].to_string().contains("api is backoff"));
}

#[test]
fn routes_methods_and_head() {
    let server = Server::start(booted(), Limits::default());
    let addr = server.addr;

    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let exp = parse(&metrics.body);
    assert_eq!(exp.value("oxinit_process_up", &[("process", "api")]), 1.0);
    // A query string does not change the route.
    assert_eq!(get(addr, "/metrics?x=1").status, 200);

    let status = get(addr, "/status");
    assert_eq!(status.status, 200);
    assert_eq!(status.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["processes"][0]["name"], "api");
    assert_eq!(json["booted"], true);

    for path in ["/", "/metric", "/metrics/x", "/favicon.ico"] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    for (method, path) in [
        ("POST", "/metrics"),
        ("DELETE", "/health"),
        ("PUT", "/status"),
    ] {
        let reply = call(addr, method, path);
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    }

    let head = call(addr, "HEAD", "/metrics");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(
        length > 1000,
        "HEAD announces the GET body's length: {head:?}"
    );
    let head = call(addr, "HEAD", "/health");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
}

#[test]
fn oversized_requests_are_refused() {
    let server = Server::start(booted(), Limits::default());
    let big_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: oxinit\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let mut stream = connect(server.addr);
    // The server may close before it read everything: only the reply counts.
    let _ = stream.write_all(big_header.as_bytes());
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    assert_eq!(parse_reply(&bytes).status, 431);

    let big_body = "GET /metrics HTTP/1.1\r\nHost: oxinit\r\nContent-Length: 1000000\r\n\
                    Connection: close\r\n\r\n";
    assert_eq!(request(server.addr, big_body).status, 413);
    let chunked = "GET /health HTTP/1.1\r\nHost: oxinit\r\nTransfer-Encoding: chunked\r\n\
                   Connection: close\r\n\r\n";
    assert_eq!(request(server.addr, chunked).status, 413);
    // A small body is ignored.
    let small = "GET /health HTTP/1.1\r\nHost: oxinit\r\nContent-Length: 2\r\n\
                 Connection: close\r\n\r\nhi";
    assert_eq!(request(server.addr, small).status, 200);
}

#[test]
fn silent_and_idle_connections_are_closed() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = Server::start(booted(), limits);
    // Connects and says nothing.
    let mut silent = connect(server.addr);
    let took = wait_closed(&mut silent, Duration::from_secs(10));
    assert!(
        took >= Duration::from_millis(200),
        "closed too early: {took:?}"
    );
    // Keep-alive: one request, then nothing.
    let mut idle = connect(server.addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: oxinit\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    wait_closed(&mut idle, Duration::from_secs(10));
}

#[test]
fn many_silent_connections_do_not_stop_scrapes_or_supervision() {
    let server = Server::start(booted(), Limits::default());
    let mut silent: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect();
    for _ in 0..20 {
        let start = Instant::now();
        let reply = get(server.addr, "/metrics");
        assert_eq!(reply.status, 200);
        // Generous: the machine is shared; the point is "not blocked".
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
    assert_eq!(get(server.addr, "/health").status, 200);
    // The oldest silent connections made room: over the cap of 64, the
    // server closed them.
    let mut closed = 0;
    for s in &mut silent {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(
        closed >= 200 - 64,
        "only {closed} silent connections were closed"
    );
    assert!(
        server.lateness() < Duration::from_millis(250),
        "the supervisor's timer was late by {:?}",
        server.lateness()
    );
}

#[test]
fn bind_on_a_port_in_use_names_address_and_key() {
    let first = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.local_addr().unwrap();
    let err = bind(addr).unwrap_err();
    assert!(matches!(err, MetricsError::Bind { .. }));
    let text = err.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(text.contains("[metrics] listen"), "{text}");
    assert!(text.contains("Another process"), "{text}");
}

#[test]
fn the_default_address_in_use_says_it_is_the_default_and_how_to_change_or_disable_it() {
    let err = MetricsError::Bind {
        addr: crate::metrics::DEFAULT_LISTEN,
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    };
    let text = err.to_string();
    assert!(text.contains("0.0.0.0:9091\" (the default"), "{text}");
    assert!(text.contains("add [metrics] listen = "), "{text}");
    assert!(text.contains("enabled = false"), "{text}");
    // An address the user wrote is not called the default.
    let other = MetricsError::Bind {
        addr: "127.0.0.1:9091".parse().unwrap(),
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    };
    assert!(!other.to_string().contains("default"), "{other}");
}
