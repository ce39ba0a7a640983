//! A real Prometheus server (Debian's `prometheus`) scrapes oxinit's
//! metrics server every second; its query API must then return
//! `oxinit_process_up` for each of the three processes, and `up` = 1 for
//! the target (Prometheus parsed the exposition without error).
//!
//! Skipped when /usr/bin/prometheus is missing, except under CI=true.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use oxinit::api::metrics::{bind, serve, Metrics};
use oxinit::api::snapshot::{MemoryEnforcement, Phase, ProcessState, ProcessStatus, Snapshot};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Kills Prometheus when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn process(name: &str, kind: &str, up: bool) -> ProcessStatus {
    ProcessStatus {
        name: name.into(),
        kind: kind.parse().unwrap(),
        state: if up {
            ProcessState::Running
        } else {
            ProcessState::Exited
        },
        pid: up.then_some(std::process::id() as i32),
        up,
        ready: up,
        started_at: up.then_some(1_700_000_000.0),
        ..Default::default()
    }
}

/// Starts oxinit's metrics server for three processes on its own thread
/// and single-threaded runtime; returns its address.
fn start_oxinit() -> SocketAddr {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new(
        &[
            ("api".into(), "service".into()),
            ("litestream".into(), "service".into()),
            ("migrate".into(), "oneshot".into()),
        ],
        "0.1.0",
    );
    let snapshot = Snapshot {
        version: "0.1.0".into(),
        phase: Phase::Running,
        booted: true,
        memory_enforcement: Some(MemoryEnforcement::Poll),
        processes: vec![
            process("api", "service", true),
            process("litestream", "service", true),
            process("migrate", "oneshot", false),
        ],
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(snapshot));
    thread::spawn(move || {
        let _keep_sender = tx;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(serve(listener, Arc::new(metrics), rx, Vec::new()));
    });
    addr
}

/// GET over a fresh connection (HTTP/1.0: no chunked reply); the body, or
/// `None` while the server is not answering yet.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?;
    (status == "200").then(|| body.to_string())
}

/// The result vector of an instant query.
fn query(prometheus: SocketAddr, expr: &str) -> Vec<serde_json::Value> {
    let Some(body) = http_get(prometheus, &format!("/api/v1/query?query={expr}")) else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn prometheus_scrapes_every_process() {
    if !Path::new(PROMETHEUS).exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{PROMETHEUS} is required under CI (apt-get install prometheus)"
        );
        eprintln!("SKIP: {PROMETHEUS} not installed (apt-get install prometheus)");
        return;
    }
    let oxinit = start_oxinit();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: oxinit\n    static_configs:\n      \
             - targets: ['{oxinit}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).unwrap();
    let _server = KillOnDrop(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut series = Vec::new();
    while Instant::now() < deadline {
        series = query(prometheus, "oxinit_process_up");
        if series.len() == 3 {
            break;
        }
        thread::sleep(Duration::from_millis(250));
    }
    let log = || std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(
        series.len(),
        3,
        "oxinit_process_up series: {series:?}\nprometheus log:\n{}",
        log()
    );
    let mut seen: Vec<(String, String)> = series
        .iter()
        .map(|s| {
            (
                s["metric"]["process"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("api", "1"), ("litestream", "1"), ("migrate", "0")]
            .map(|(p, v)| (p.to_string(), v.to_string()))
    );
    // The scrape itself succeeded: no parse error, no timeout.
    let up = query(prometheus, "up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["value"][1], "1", "{up:?}\n{}", log());
    // A histogram and a counter arrive with their types intact.
    assert_eq!(
        query(prometheus, "oxinit_health_check_duration_seconds_count").len(),
        2
    );
    assert_eq!(query(prometheus, "oxinit_process_exits_total").len(), 18);
}
