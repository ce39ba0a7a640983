//! The metrics server with a fake system, for `bench/scrape.py --fake N`.
//!
//! ```sh
//! cargo run --release --example metrics_bench -- [--fake 20] [--listen 127.0.0.1:0]
//! ```
//!
//! Starts N processes' worth of metrics, as oxinit would (services, two
//! oneshots, two jobs) — each running service backed by a real `sleep`
//! child, so every scrape walks /proc for its memory and CPU as polling
//! mode does (the most expensive way) — and serves them on a
//! single-threaded runtime together with two stand-ins for supervision:
//! - a 10 ms timer, whose lateness shows whether serving kept the thread
//!   from the supervisor's deadlines;
//! - a stop every 250 ms: SIGTERM to a child and the time until its exit is
//!   seen (polled each millisecond), the timing a concurrent scrape must
//!   not change.
//!
//! Prints `listening http://ADDR pid PID`, serves until stdin closes, then
//! prints one JSON line of the timer's and the stops' p50/p99/max in ms.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oxinit::api::metrics::{bind, serve, Metrics};
use oxinit::api::snapshot::{
    HealthResult, MemoryEnforcement, Phase, ProcessState, ProcessStatus, Snapshot,
};
use tokio::time::{sleep, sleep_until, Instant};

/// Kills the fake processes on exit.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    let mut fake = 20usize;
    let mut listen = "127.0.0.1:0".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fake" => fake = args.next().and_then(|n| n.parse().ok()).expect("--fake N"),
            "--listen" => listen = args.next().expect("--listen ADDR"),
            other => panic!("unknown argument {other:?}: --fake N, --listen ADDR"),
        }
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .unwrap_or_else(|e| panic!("--listen {listen:?}: {e}: write IP:PORT"));
    let listener = bind(addr).unwrap_or_else(|e| panic!("{e}"));

    let mut children = Children(Vec::new());
    let mut processes = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..fake {
        let (name, kind) = match i {
            0 | 1 => (format!("oneshot{i}"), "oneshot"),
            2 | 3 => (format!("job{i}"), "job"),
            _ => (format!("service{i}"), "service"),
        };
        let mut status = ProcessStatus {
            name: name.clone(),
            kind: kind.parse().unwrap(),
            state: ProcessState::Exited,
            critical: true,
            ..Default::default()
        };
        if kind == "service" {
            let child = Command::new("sleep")
                .arg("3600")
                .process_group(0)
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep");
            status.pid = Some(child.id() as i32);
            status.up = true;
            status.ready = true;
            status.state = ProcessState::Running;
            status.started_at = Some(unix_now());
            status.memory_limit_bytes = Some(256 << 20);
            children.0.push(child);
        }
        processes.push((name, kind.to_string()));
        statuses.push(status);
    }
    let metrics = Arc::new(Metrics::new(&processes, env!("CARGO_PKG_VERSION")));
    for (name, kind) in &processes {
        if kind == "service" {
            for ms in [2, 8, 30] {
                metrics.health_check(name, HealthResult::Ok, Duration::from_millis(ms));
            }
        }
    }
    let snapshot = Snapshot {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        started_at: unix_now(),
        phase: Phase::Running,
        booted: true,
        memory_enforcement: Some(MemoryEnforcement::Poll),
        processes: statuses,
    };
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(snapshot));
    let sqlite = vec![std::env::temp_dir().join("metrics_bench.db")];

    println!(
        "listening http://{} pid {}",
        listener.local_addr().unwrap(),
        std::process::id()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lateness = Arc::new(Mutex::new(Vec::new()));
    let stops = Arc::new(Mutex::new(Vec::new()));
    runtime.block_on(async {
        let ticker = tokio::spawn(timer(lateness.clone()));
        let stopper = tokio::spawn(stop_probe(stops.clone()));
        tokio::select! {
            _ = serve(listener, metrics, rx, sqlite) => {}
            _ = stdin_closed() => {}
        }
        ticker.abort();
        stopper.abort();
    });
    let lateness = lateness.lock().unwrap().clone();
    let stops = stops.lock().unwrap().clone();
    println!(
        "{}",
        serde_json::json!({
            "timer_late_ms": summary(lateness),
            "stop_ms": summary(stops),
        })
    );
}

/// Resolves when stdin reaches EOF (read on a thread: tokio's stdin is
/// not among oxinit's features).
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while std::io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// A 10 ms deadline, again and again; records how late each one fired.
async fn timer(record: Arc<Mutex<Vec<f64>>>) {
    loop {
        let due = Instant::now() + Duration::from_millis(10);
        sleep_until(due).await;
        let late = due.elapsed().as_secs_f64() * 1e3;
        record.lock().unwrap().push(late);
    }
}

/// Stops a child every 250 ms; records SIGTERM → exit seen.
async fn stop_probe(record: Arc<Mutex<Vec<f64>>>) {
    loop {
        sleep(Duration::from_millis(200)).await;
        let Ok(mut child) = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
        else {
            return;
        };
        sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        while child.try_wait().ok().flatten().is_none() {
            sleep(Duration::from_millis(1)).await;
        }
        record
            .lock()
            .unwrap()
            .push(start.elapsed().as_secs_f64() * 1e3);
    }
}

fn summary(mut values: Vec<f64>) -> serde_json::Value {
    if values.is_empty() {
        return serde_json::Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    serde_json::json!({
        "n": values.len(),
        "p50": at(0.5),
        "p99": at(0.99),
        "max": values[values.len() - 1],
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
