//! The control socket against a fake supervisor: a real [`Server`] on a temp
//! socket, a snapshot we choose, and a task that answers commands the way the
//! supervisor does. No processes are started.

mod bind;
mod client;
mod limits;
mod location;
mod requests;
mod users;

use super::*;
use crate::snapshot::{
    ExitInfo, ExitReason, MemoryEnforcement, Phase, ProcessState, ProcessStatus,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn process(name: &str, kind: &str, state: &str, pid: Option<i32>) -> ProcessStatus {
    let up = pid.is_some();
    ProcessStatus {
        name: name.to_string(),
        kind: kind.parse().unwrap(),
        state: state.parse().unwrap(),
        pid,
        up,
        ready: up,
        started_at: pid.map(|_| now() - 60.0),
        critical: true,
        ..ProcessStatus::default()
    }
}

/// A healthy system: a finished oneshot, three services (one of them `slow`,
/// whose commands the fake supervisor never answers) and a job.
fn healthy_snapshot() -> Snapshot {
    let t = now();
    let mut migrate = process("migrate", "oneshot", "exited", None);
    migrate.last_exit = Some(ExitInfo {
        code: 0,
        reason: ExitReason::Exit,
        at: t - 3600.0,
    });
    let mut api = process("api", "service", "ready", Some(40));
    api.healthy = Some(true);
    api.started_at = Some(t - 312.0);
    api.restarts = 2;
    api.last_exit = Some(ExitInfo {
        code: 137,
        reason: ExitReason::Oom,
        at: t - 313.0,
    });
    let mut optimize = process("optimize", "job", "scheduled", None);
    optimize.next_run = Some(t + 3600.0);
    Snapshot {
        version: "0.1.0".into(),
        pid: 1,
        started_at: t - 3700.0,
        phase: Phase::Running,
        booted: true,
        memory_enforcement: Some(MemoryEnforcement::Cgroup1),
        processes: vec![
            migrate,
            api,
            process("worker", "service", "running", Some(41)),
            optimize,
            process("slow", "service", "running", Some(50)),
        ],
    }
}

/// oxinit's log lines, captured.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (up to 10 s) for a line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within 10s; log:\n{text}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A server and a fake supervisor on their own thread and current_thread
/// runtime, like in oxinit; stopped (and its socket removed) on drop.
struct Harness {
    dir: Option<tempfile::TempDir>,
    socket: PathBuf,
    logs: Logs,
    /// Commands that reached the fake supervisor.
    received: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Harness {
    fn start() -> Harness {
        Harness::with(healthy_snapshot(), Limits::default())
    }

    fn with(snapshot: Snapshot, limits: Limits) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("oxinit.sock");
        let mut harness = Harness::at(&socket, snapshot, limits).unwrap();
        harness.dir = Some(dir);
        harness
    }

    /// A server bound at `socket`, or the bind error.
    fn at(socket: &Path, snapshot: Snapshot, limits: Limits) -> Result<Harness, String> {
        let logs = Logs::default();
        let received = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = {
            let (socket, logs, received) = (socket.to_path_buf(), logs.clone(), received.clone());
            thread::spawn(move || {
                let subscriber = crate::diag::Subscriber::new(
                    tracing::level_filters::LevelFilter::DEBUG,
                    crate::diag::Format::Text { ansi: false },
                )
                .writing_to(logs.0);
                let _log = tracing::subscriber::set_default(subscriber);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let server = match Server::bind(&socket) {
                        Ok(server) => server.with_limits(limits),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(snapshot));
                    let (commands_tx, commands_rx) = mpsc::channel(8);
                    tokio::select! {
                        () = server.serve(snapshot_rx, commands_tx) => {}
                        () = fake_supervisor(commands_rx, snapshot_tx, received) => {}
                        _ = stopped => {}
                    }
                });
            })
        };
        match ready_rx.recv().unwrap() {
            Ok(()) => Ok(Harness {
                dir: None,
                socket: socket.to_path_buf(),
                logs,
                received,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(e) => {
                thread.join().unwrap();
                Err(e)
            }
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// Runs a client command; (exit code, stdout, stderr).
    fn client(&self, request: Request, json: bool) -> (i32, String, String) {
        run(&request, &self.socket, json, &ClientOptions::default())
    }

    /// The status as JSON, through the client.
    fn status_json(&self) -> serde_json::Value {
        let (code, out, err) = self.client(Request::Status {}, true);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    fn connect(&self) -> StdStream {
        let stream = StdStream::connect(&self.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends raw bytes; returns the answer line, parsed.
    fn raw(&self, bytes: &[u8]) -> serde_json::Value {
        let mut stream = self.connect();
        stream.write_all(bytes).unwrap();
        read_answer(&mut stream)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads until the server closes; parses the first line.
fn read_answer(stream: &mut StdStream) -> serde_json::Value {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // Closing with our unread bytes in its buffer resets the
            // connection after the answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no answer: {e} (got {answer:?})"),
        }
    }
    let line = answer.split(|b| *b == b'\n').next().unwrap();
    serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("bad answer {:?}: {e}", String::from_utf8_lossy(&answer)))
}

fn run(
    request: &Request,
    socket: &Path,
    json: bool,
    options: &ClientOptions,
) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_client(request, socket, json, options, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Answers commands like the supervisor: stop, start and restart change the
/// snapshot; commands for `slow` are never answered (kept, not dropped).
async fn fake_supervisor(
    mut commands: mpsc::Receiver<Command>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    received: Arc<AtomicUsize>,
) {
    let mut parked = Vec::new();
    while let Some(command) = commands.recv().await {
        received.fetch_add(1, Ordering::SeqCst);
        let mut next = (**snapshot.borrow()).clone();
        let names: Vec<String> = next.processes.iter().map(|p| p.name.clone()).collect();
        let Some(p) = next.processes.iter_mut().find(|p| p.name == command.name) else {
            let _ = command.reply.send(
                Err(format!(
                    "no process named {:?}; processes: {}",
                    command.name,
                    names.join(", ")
                ))
                .into(),
            );
            continue;
        };
        if p.name == "slow" {
            parked.push(command.reply);
            continue;
        }
        let message = match command.action {
            Action::Stop => {
                p.state = ProcessState::Stopped;
                (p.up, p.ready, p.pid) = (false, false, None);
                format!("{} stopped", p.name)
            }
            Action::Start => {
                p.state = ProcessState::Running;
                (p.up, p.ready, p.pid) = (true, true, Some(4242));
                format!("{} started (pid 4242)", p.name)
            }
            Action::Restart | Action::Reload => {
                p.restarts += 1;
                p.pid = Some(p.pid.unwrap_or(4000) + 1);
                format!("{} restarted (pid {})", p.name, p.pid.unwrap())
            }
        };
        snapshot.send_replace(Arc::new(next));
        let _ = command.reply.send(Ok(message).into());
    }
}

/// Polls `check` until it holds, for up to 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10s: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
