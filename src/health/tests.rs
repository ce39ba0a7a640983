//! Probes against real listeners on 127.0.0.1, and the notify socket against
//! real clients (Python's socket module, `systemd-notify` when installed).
//! Servers run on std threads so the runtime under test holds only probes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::notify::{parse_notices, Notice, NotifyError, NotifySocket, MAX_MESSAGE};
use super::probe::{http, tcp, Outcome};
use super::rundir::{choose_dir, prepare_dir};
use super::*;

#[derive(Clone, Copy)]
enum Behaviour {
    /// Write this answer at once, then close.
    Answer(&'static [u8]),
    /// Read the request, then say nothing until the client gives up.
    Silent,
    /// Write the answer one byte at a time with this pause between bytes.
    Trickle(&'static [u8], Duration),
}

/// A server on 127.0.0.1 that treats every connection the same way; each
/// request it reads is sent back on the channel.
fn serve(behaviour: Behaviour) -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (requests, received) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let requests = requests.clone();
            thread::spawn(move || handle(stream, behaviour, &requests));
        }
    });
    (addr, received)
}

fn handle(mut stream: TcpStream, behaviour: Behaviour, requests: &mpsc::Sender<Vec<u8>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => request.push(byte[0]),
            _ => return,
        }
    }
    let _ = requests.send(request);
    match behaviour {
        Behaviour::Answer(answer) => {
            let _ = stream.write_all(answer);
        }
        Behaviour::Silent => {
            // Returns when the prober closes the connection.
            let _ = stream.read(&mut byte);
        }
        Behaviour::Trickle(answer, pause) => {
            for b in answer {
                if stream.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(pause);
            }
        }
    }
}

/// An address where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

async fn probe(behaviour: Behaviour) -> Outcome {
    let (addr, _requests) = serve(behaviour);
    http(addr, "127.0.0.1", "/health", 5 * SECOND).await
}

#[tokio::test]
async fn http_statuses() {
    let ok = Behaviour::Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(probe(ok).await, Outcome::Healthy);
    let redirect = Behaviour::Answer(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n");
    assert_eq!(probe(redirect).await, Outcome::Healthy);
    let http10 = Behaviour::Answer(b"HTTP/1.0 204 No Content\n\n");
    assert_eq!(probe(http10).await, Outcome::Healthy);
    let missing = Behaviour::Answer(b"HTTP/1.1 404 Not Found\r\n\r\n");
    assert_eq!(probe(missing).await, Outcome::Unhealthy("HTTP 404".into()));
    let broken = Behaviour::Answer(b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
    assert_eq!(probe(broken).await, Outcome::Unhealthy("HTTP 500".into()));
    let hints =
        Behaviour::Answer(b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 503 x\r\n\r\n");
    assert_eq!(probe(hints).await, Outcome::Unhealthy("HTTP 503".into()));
}

#[tokio::test]
async fn answers_that_are_not_http() {
    let garbage = probe(Behaviour::Answer(b"SSH-2.0-OpenSSH_9.2\r\n")).await;
    assert!(
        matches!(&garbage, Outcome::Unhealthy(why) if why.contains("not an HTTP response: \"SSH-2.0")),
        "{garbage:?}"
    );
    let nothing = probe(Behaviour::Answer(b"")).await;
    assert!(
        matches!(&nothing, Outcome::Unhealthy(why) if why.contains("closed without an answer")),
        "{nothing:?}"
    );
    let cut = probe(Behaviour::Answer(b"HTTP/1.1 20")).await;
    assert!(
        matches!(&cut, Outcome::Unhealthy(why) if why.contains("inside the status line")),
        "{cut:?}"
    );
    // A status line that never ends is read no further than 4 KiB.
    static ENDLESS: [u8; 10_000] = {
        let mut bytes = [b'x'; 10_000];
        let prefix = b"HTTP/1.1 ";
        let mut i = 0;
        while i < prefix.len() {
            bytes[i] = prefix[i];
            i += 1;
        }
        bytes
    };
    let endless = probe(Behaviour::Answer(&ENDLESS)).await;
    assert!(
        matches!(&endless, Outcome::Unhealthy(why) if why.contains("no HTTP status line in the first 4096 bytes")),
        "{endless:?}"
    );
}

#[tokio::test]
async fn the_request_is_a_plain_get() {
    let (addr, requests) = serve(Behaviour::Answer(b"HTTP/1.1 200 OK\r\n\r\n"));
    let host = format!("localhost:{}", addr.port());
    let outcome = http(addr, &host, "/health?deep=1", 5 * SECOND).await;
    assert_eq!(outcome, Outcome::Healthy);
    let request = String::from_utf8(requests.recv_timeout(5 * SECOND).unwrap()).unwrap();
    assert!(
        request.starts_with("GET /health?deep=1 HTTP/1.1\r\n"),
        "{request}"
    );
    for header in [
        format!("Host: {host}\r\n"),
        "Connection: close\r\n".into(),
        format!("User-Agent: oxinit/{}\r\n", env!("CARGO_PKG_VERSION")),
    ] {
        assert!(
            request.contains(&header),
            "{header:?} missing in {request:?}"
        );
    }
}

#[tokio::test]
async fn refused_connections() {
    let addr = closed_port();
    let outcome = http(addr, "127.0.0.1", "/", 5 * SECOND).await;
    assert_eq!(
        outcome,
        Outcome::Unhealthy(format!("{addr}: connection refused"))
    );
    let outcome = tcp(addr, 5 * SECOND).await;
    assert_eq!(
        outcome,
        Outcome::Unhealthy(format!("{addr}: connection refused"))
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = tcp(listener.local_addr().unwrap(), 5 * SECOND).await;
    assert_eq!(open, Outcome::Healthy);
}

#[tokio::test]
async fn a_hung_server_costs_one_timeout() {
    let (addr, _requests) = serve(Behaviour::Silent);
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = http(addr, "127.0.0.1", "/", timeout).await;
    let took = started.elapsed();
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(took >= timeout && took < timeout + SECOND, "{took:?}");
}

#[tokio::test]
async fn slow_servers_count_against_the_timeout() {
    let status = b"HTTP/1.1 200 OK\r\n\r\n";
    let (addr, _r) = serve(Behaviour::Trickle(status, Duration::from_millis(20)));
    assert_eq!(http(addr, "h", "/", 10 * SECOND).await, Outcome::Healthy);
    // 19 bytes at 100 ms each will not make a 500 ms timeout.
    let (addr, _r) = serve(Behaviour::Trickle(status, Duration::from_millis(100)));
    let started = Instant::now();
    let outcome = http(addr, "h", "/", Duration::from_millis(500)).await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

/// `#[tokio::test]` is a current_thread runtime, like oxinit's own.
#[tokio::test]
async fn a_hung_probe_delays_no_other_probe() {
    let (hung, _r1) = serve(Behaviour::Silent);
    let (fast, _r2) = serve(Behaviour::Answer(b"HTTP/1.1 200 OK\r\n\r\n"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap();
    let hung_timeout = 3 * SECOND;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        (
            "hung",
            http(hung, "h", "/", hung_timeout).await,
            started.elapsed(),
        )
    });
    for _ in 0..20 {
        tasks.spawn(async move {
            (
                "fast",
                http(fast, "h", "/", hung_timeout).await,
                started.elapsed(),
            )
        });
        tasks.spawn(async move { ("tcp", tcp(open, hung_timeout).await, started.elapsed()) });
    }
    let mut finished = 0;
    while let Some(result) = tasks.join_next().await {
        let (kind, outcome, took) = result.unwrap();
        finished += 1;
        if kind == "hung" {
            assert_eq!(outcome, Outcome::TimedOut);
            assert!(took >= hung_timeout, "{took:?}");
            assert_eq!(finished, 41, "the hung probe finishes last");
        } else {
            assert_eq!(outcome, Outcome::Healthy, "{kind}");
            assert!(took < Duration::from_millis(1500), "{kind} took {took:?}");
        }
    }
}

// ---- notify socket ----

fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIP: python3 is not installed");
    }
    found
}

/// Sends `payload` the way sd_notify(3) does: one datagram to the path.
/// Returns Python's exit code (13 = permission denied).
fn python_send(path: &Path, payload: &[u8], uid: Option<u32>) -> i32 {
    let script = "import socket, sys\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        try:\n    s.sendto(sys.stdin.buffer.read(), sys.argv[1])\n\
        except PermissionError:\n    sys.exit(13)\n";
    let mut command = Command::new("python3");
    command.arg("-c").arg(script).arg(path).current_dir("/");
    command.stdin(Stdio::piped());
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(payload).unwrap();
    child.wait().unwrap().code().unwrap()
}

async fn next(socket: &NotifySocket) -> Vec<Notice> {
    tokio::time::timeout(5 * SECOND, socket.recv())
        .await
        .expect("no notify message within 5s")
        .unwrap()
}

fn socket_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

#[tokio::test]
async fn a_python_client_notifies() {
    if !have_python() {
        return;
    }
    let dir = socket_dir();
    let socket = NotifySocket::bind(dir.path(), "api", None).unwrap();
    assert_eq!(socket.path(), dir.path().join("notify-api.sock"));
    let payload = b"READY=1\nSTATUS=Serving 3 clients\nFOO=bar\nMAINPID=1234\nWATCHDOG=1\n";
    assert_eq!(python_send(socket.path(), payload, None), 0);
    assert_eq!(
        next(&socket).await,
        [
            Notice::Ready,
            Notice::Status("Serving 3 clients".into()),
            Notice::Other("FOO".into(), "bar".into()),
            Notice::MainPid(1234),
            Notice::Watchdog,
        ]
    );
    // Over 4 KiB: ignored whole; the socket keeps working.
    let big = format!("STATUS={}", "x".repeat(MAX_MESSAGE));
    assert_eq!(python_send(socket.path(), big.as_bytes(), None), 0);
    assert_eq!(next(&socket).await, []);
    let exact = format!("STATUS={}", "y".repeat(MAX_MESSAGE - 7));
    assert_eq!(python_send(socket.path(), exact.as_bytes(), None), 0);
    assert_eq!(
        next(&socket).await,
        [Notice::Status("y".repeat(MAX_MESSAGE - 7))]
    );
    assert_eq!(python_send(socket.path(), b"STOPPING=1", None), 0);
    assert_eq!(next(&socket).await, [Notice::Stopping]);
}

#[tokio::test]
async fn systemd_notify_is_understood() {
    if Command::new("systemd-notify")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: systemd-notify is not installed");
        return;
    }
    let dir = socket_dir();
    let socket = NotifySocket::bind(dir.path(), "app", None).unwrap();
    let mut child = Command::new("systemd-notify")
        .args(["--ready", "--status=Up and running"])
        .env("NOTIFY_SOCKET", socket.path())
        .spawn()
        .unwrap();
    let notices = next(&socket).await;
    assert!(notices.contains(&Notice::Ready), "{notices:?}");
    assert!(
        notices.contains(&Notice::Status("Up and running".into())),
        "{notices:?}"
    );
    // systemd-notify (v246+) then waits on sd_notify_barrier(3): it passes
    // a pipe's write end with BARRIER=1 and waits until the receiver closes
    // it. The kernel releases passed fds when recv(2) takes no control
    // data, so receiving the datagram is enough to release the client.
    let notices = next(&socket).await;
    assert_eq!(notices, [Notice::Other("BARRIER".into(), "1".into())]);
    let status = child.wait().unwrap();
    assert!(status.success(), "systemd-notify: {status}");
}

#[tokio::test]
async fn a_child_that_dropped_privileges_can_send_and_others_cannot() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root to run a client as another user");
        return;
    }
    if !have_python() {
        return;
    }
    let dir = socket_dir();
    let nobody = 65534;
    let socket = NotifySocket::bind(dir.path(), "worker", Some((nobody, nobody))).unwrap();
    let metadata = std::fs::metadata(socket.path()).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&metadata), nobody);
    assert_eq!(python_send(socket.path(), b"READY=1", Some(nobody)), 0);
    assert_eq!(next(&socket).await, [Notice::Ready]);
    // Another unprivileged user (daemon, uid 1) is refused by the kernel.
    assert_eq!(python_send(socket.path(), b"READY=1", Some(1)), 13);
    assert_eq!(socket.discard_pending(), 0);

    // A directory the user cannot pass through is reported before binding.
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = NotifySocket::bind(closed.path(), "worker", Some((nobody, nobody))).unwrap_err();
    assert!(matches!(err, NotifyError::DirNotSearchable { .. }), "{err}");
    assert!(err.to_string().contains("chmod o+x"), "{err}");
}

#[tokio::test]
async fn passed_file_descriptors_do_not_stay_open_in_oxinit() {
    if !have_python() {
        return;
    }
    let dir = socket_dir();
    let socket = NotifySocket::bind(dir.path(), "fds", None).unwrap();
    // The client passes the write end of a pipe and closes its own copy; its
    // read end sees EOF only when no process holds the write end any more.
    let script = "import array, os, select, socket, sys\n\
        r, w = os.pipe()\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        s.sendmsg([b'READY=1\\nFDSTORE=1'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w]))], 0, sys.argv[1])\n\
        os.close(w)\n\
        sys.stdin.readline()\n\
        ready, _, _ = select.select([r], [], [], 5)\n\
        print('eof' if ready and os.read(r, 1) == b'' else 'open', flush=True)\n";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(socket.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        next(&socket).await,
        [Notice::Ready, Notice::Other("FDSTORE".into(), "1".into())]
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"received\n")
        .unwrap();
    let mut answer = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut answer)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(answer.trim(), "eof", "the passed fd stayed open somewhere");
}

#[tokio::test]
async fn stale_files_and_drop() {
    let dir = socket_dir();
    // A stale socket file from an earlier run is replaced.
    let stale_path = dir.path().join("notify-api.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale_path).unwrap());
    assert!(stale_path.exists());
    let first = NotifySocket::bind(dir.path(), "api", None).unwrap();
    // Binding again while the first lives: the second wins, and dropping
    // the first must not delete the second's file.
    let second = NotifySocket::bind(dir.path(), "api", None).unwrap();
    drop(first);
    assert!(second.path().exists());
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sender.send_to(b"RELOADING=1", second.path()).unwrap();
    assert_eq!(next(&second).await, [Notice::Reloading]);
    for _ in 0..3 {
        sender.send_to(b"READY=1", second.path()).unwrap();
    }
    assert_eq!(second.discard_pending(), 3);
    drop(second);
    assert!(!stale_path.exists(), "Drop removes the file");

    // Something that is not a socket is left alone.
    std::fs::write(&stale_path, "data").unwrap();
    let err = NotifySocket::bind(dir.path(), "api", None).unwrap_err();
    assert!(matches!(err, NotifyError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&stale_path).unwrap(), "data");

    let long = "p".repeat(120);
    let err = NotifySocket::bind(dir.path(), &long, None).unwrap_err();
    assert!(matches!(err, NotifyError::PathTooLong { .. }), "{err}");
    let err = NotifySocket::bind(&dir.path().join("missing"), "api", None).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn child_env_names_the_socket() {
    let dir = socket_dir();
    let socket = NotifySocket::bind(dir.path(), "api", None).unwrap();
    let path = socket.path().to_str().unwrap().to_string();
    assert_eq!(
        socket.child_env(None),
        [("NOTIFY_SOCKET".to_string(), path.clone())]
    );
    assert_eq!(
        socket.child_env(Some(Duration::from_secs(30))),
        [
            ("NOTIFY_SOCKET".to_string(), path),
            ("WATCHDOG_USEC".to_string(), "30000000".to_string())
        ]
    );
    assert_eq!(
        parse_notices(b"WATCHDOG=trigger"),
        [Notice::WatchdogTrigger]
    );
}

#[test]
fn runtime_dirs_are_private_and_unique() {
    let base = tempfile::tempdir().unwrap();
    let shared = base.path().join("oxinit");
    let one = RuntimeDir::create(&shared).unwrap();
    let two = RuntimeDir::create(&shared).unwrap();
    assert_ne!(one.path(), two.path());
    for dir in [&shared, one.path()] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o711, "{}", dir.display());
    }
    std::fs::write(one.path().join("leftover"), "x").unwrap();
    let one_path = one.path().to_path_buf();
    drop(one);
    assert!(!one_path.exists());
    assert!(two.path().exists());

    // A symlink planted where the directory should be is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let planted = base.path().join("planted");
    std::os::unix::fs::symlink(elsewhere.path(), &planted).unwrap();
    assert!(prepare_dir(&planted).is_err());
    assert!(RuntimeDir::create(&planted).is_err());
    if nix::unistd::geteuid().is_root() {
        let foreign = base.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let err = prepare_dir(&foreign).unwrap_err();
        assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
    }
}

#[test]
fn the_default_dir_falls_back_when_run_is_unusable() {
    let base = tempfile::tempdir().unwrap();
    let run = base.path().join("run/oxinit");
    let tmp = base.path().join("tmp/oxinit-0");
    assert_eq!(choose_dir(&run, &tmp), run, "a missing parent is created");
    // A regular file where the parent should be: not usable.
    let blocked_parent = base.path().join("file");
    std::fs::write(&blocked_parent, "").unwrap();
    let blocked = blocked_parent.join("oxinit");
    assert_eq!(choose_dir(&blocked, &tmp), tmp);
    assert!(tmp.is_dir());
}

/// During a reload: a probe counts for the instance that accepted its
/// connection (this test process serves, so it is "the instance"), not for
/// another, and not before anybody accepted.
#[tokio::test]
async fn a_probe_counts_only_for_the_instance_that_accepted_it() {
    use super::probe::{http_for, tcp_for, ForInstance};
    let me = ForInstance {
        pid: std::process::id() as i32,
        proc_root: "/proc".into(),
    };
    let (addr, _) = serve(Behaviour::Answer(b"HTTP/1.1 200 OK\r\n\r\n"));
    let limit = Duration::from_secs(2);
    assert_eq!(
        http_for(addr, "x", "/health", limit, Some(me.clone())).await,
        Outcome::Healthy
    );
    assert_eq!(
        tcp_for(addr, limit, Some(me.clone())).await,
        Outcome::Healthy
    );
    let mut other = Command::new("sleep").arg("5").spawn().unwrap();
    let elsewhere = ForInstance {
        pid: other.id() as i32,
        proc_root: "/proc".into(),
    };
    let answer = http_for(addr, "x", "/health", limit, Some(elsewhere)).await;
    let _ = other.kill();
    let _ = other.wait();
    let me_pid = std::process::id();
    assert!(
        matches!(&answer, Outcome::NotCounted(why) if why.contains(&format!("accepted by pid {me_pid}"))),
        "{answer:?}"
    );
    // A listener that never accepts: the connection waits in its queue.
    let idle = TcpListener::bind("127.0.0.1:0").unwrap();
    let answer = tcp_for(
        idle.local_addr().unwrap(),
        Duration::from_millis(200),
        Some(me),
    )
    .await;
    assert!(
        matches!(&answer, Outcome::NotCounted(why) if why.contains("no process accepted")),
        "{answer:?}"
    );
}
