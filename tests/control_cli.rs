//! The real `oxinit status|restart|stop|start|healthcheck` binary against an
//! in-process control server with a fake supervisor: the command line, the
//! routing in main, exit codes, and that a waiting client dies of a signal
//! although main blocks every signal first thing.

use oxinit::api::control::{Action, Command as ControlCommand, Server, Snapshot};
use oxinit::api::snapshot::{Kind, Phase, ProcessState, ProcessStatus};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

fn service(name: &str, pid: i32) -> ProcessStatus {
    ProcessStatus {
        name: name.into(),
        kind: Kind::Service,
        state: ProcessState::Running,
        pid: Some(pid),
        up: true,
        ready: true,
        ..ProcessStatus::default()
    }
}

/// A control server on its own thread; `slow`'s commands are never answered.
struct FakeOxinit {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeOxinit {
    fn start() -> FakeOxinit {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("oxinit.sock");
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = socket.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind(&path).unwrap();
                ready_tx.send(()).unwrap();
                let snapshot = Snapshot {
                    version: "0.1.0".into(),
                    phase: Phase::Running,
                    booted: true,
                    processes: vec![service("api", 40), service("slow", 50)],
                    ..Snapshot::default()
                };
                let (_snapshot_tx, snapshot_rx) = watch::channel(Arc::new(snapshot));
                let (commands_tx, commands_rx) = mpsc::channel(8);
                tokio::select! {
                    () = server.serve(snapshot_rx, commands_tx) => {}
                    () = supervise(commands_rx) => {}
                    _ = stopped => {}
                }
            });
        });
        ready_rx.recv().unwrap();
        FakeOxinit {
            _dir: dir,
            socket,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn oxinit(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_oxinit"))
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .unwrap()
    }
}

impl Drop for FakeOxinit {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

async fn supervise(mut commands: mpsc::Receiver<ControlCommand>) {
    let mut parked = Vec::new();
    while let Some(c) = commands.recv().await {
        if c.name == "slow" {
            parked.push(c.reply);
            continue;
        }
        let verb = match c.action {
            Action::Restart => "restarted (pid 41)",
            Action::Stop => "stopped",
            Action::Start => "started (pid 41)",
            Action::Reload => "reloaded (pid 42)",
        };
        let _ = c.reply.send(Ok(format!("{} {verb}", c.name)).into());
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn client_commands_answer_with_their_exit_codes() {
    let oxinit = FakeOxinit::start();

    let status = oxinit.oxinit(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let out = text(&status.stdout);
    assert!(out.starts_with("oxinit 0.1.0, pid 0, up "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("api ") && l.contains(" running ")),
        "{out}"
    );

    let json = oxinit.oxinit(&["status", "--json"]);
    let snapshot: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(snapshot["processes"][1]["name"], "slow");

    let restart = oxinit.oxinit(&["restart", "api"]);
    assert_eq!(restart.status.code(), Some(0));
    assert_eq!(text(&restart.stdout), "api restarted (pid 41)\n");

    let stop = oxinit.oxinit(&["stop", "apx"]);
    assert_eq!(stop.status.code(), Some(1));
    assert_eq!(
        text(&stop.stderr),
        "oxinit: no process named \"apx\"; processes: api, slow\n"
    );

    let health = oxinit.oxinit(&["healthcheck"]);
    assert_eq!(health.status.code(), Some(0));
    assert_eq!(
        (text(&health.stdout), text(&health.stderr)),
        (String::new(), String::new())
    );
}

#[test]
fn without_a_running_oxinit_the_client_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_oxinit"))
        .arg("healthcheck")
        .env("OXINIT_SOCKET", &socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "oxinit: oxinit is not running here (no control socket at {}); pass --socket PATH or --config OXFILE, or set OXINIT_SOCKET\n",
            socket.display()
        )
    );
}

/// SIGTERM rather than SIGINT: a shell without job control starts background
/// commands with SIGINT ignored, and the test would inherit that. The client
/// resets its whole signal mask, so TERM proves INT is unblocked as well.
#[test]
fn a_client_waiting_for_an_answer_dies_of_a_signal() {
    let oxinit = FakeOxinit::start();
    let mut client = Command::new(env!("CARGO_BIN_EXE_oxinit"))
        .args(["restart", "slow", "--socket"])
        .arg(&oxinit.socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is connected and waiting (its request has been read).
    wait_for_connection(client.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the client ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

/// Polls /proc until `pid` holds a socket: it has connected, so it is past
/// main's signal handling and waits for the answer.
fn wait_for_connection(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let connected = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    std::fs::read_link(fd.path())
                        .map(|target| target.to_string_lossy().starts_with("socket:"))
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false);
        if connected {
            return;
        }
        assert!(Instant::now() < deadline, "the client never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
}
