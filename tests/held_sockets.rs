//! Held sockets (`listen`): oxinit binds at boot and passes the sockets to
//! every start of the process on fds 3, 4, … with LISTEN_FDS, LISTEN_PID and
//! LISTEN_FDNAMES; while the process is down its clients' connections wait in
//! the kernel's backlog and are served once it is back. The server is
//! tests/scripts/held_app.py, which binds nothing itself. Every address is on
//! 127.0.0.1.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{python, require_root, script_path, As};
use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use supervisor::*;

/// A port of 127.0.0.1 that nothing holds right now.
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// The JSON line the app answers a connection with.
fn reply(stream: impl std::io::Read) -> Value {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a reply: {line:?}: {e}"))
}

/// Connects to `port` (retrying only while oxinit has not bound it yet, before
/// boot) and reads the answer.
fn ask(port: u16) -> Value {
    let stream = connect(port, DEADLINE);
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    reply(stream)
}

fn connect(port: u16, deadline: Duration) -> TcpStream {
    let end = Instant::now() + deadline;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("connect to 127.0.0.1:{port}: {e}"),
        }
    }
}

fn app_command() -> String {
    format!(
        "command = [{:?}, {:?}]",
        python(),
        script_path("held_app.py").display().to_string()
    )
}

fn pid_of(reply: &Value) -> i64 {
    reply["pid"].as_i64().unwrap()
}

/// The pid the protocol gave the app, LISTEN_FDS, the fds that listen, and
/// the names, as the app saw them.
fn assert_passed(reply: &Value, fds: &[i64], names: &str) {
    let pid = pid_of(reply).to_string();
    assert_eq!(reply["listen_pid"].as_str(), Some(pid.as_str()), "{reply}");
    let count = fds.len().to_string();
    assert_eq!(
        reply["listen_fds"].as_str(),
        Some(count.as_str()),
        "{reply}"
    );
    let listening: Vec<i64> = reply["listening"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(listening, fds, "{reply}");
    assert_eq!(reply["names"].as_str(), Some(names), "{reply}");
}

/// A sibling without `listen`: which of its fds from 3 on are listening
/// sockets, and its LISTEN_* variables.
const SIBLING: &str = r#"
import json, os, socket, sys, time
found = []
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    if fd < 3:
        continue
    try:
        s = socket.socket(fileno=os.dup(fd))
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            found.append(fd)
    except OSError:
        pass
env = {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}
open(sys.argv[1] + ".tmp", "w").write(json.dumps({"listening": found, "env": env}))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(1000)
"#;

#[test]
fn connections_wait_while_the_app_is_down_and_are_served_after_its_restart() {
    let rig = Rig::new();
    let port = free_port();
    let mark = rig.path("mark");
    let sibling = rig.path("sibling.json");
    let mut ox = rig.run(
        As::Child,
        &format!(
            r#"{INIT}
[processes.api]
{app}
listen = ["127.0.0.1:{port}"]
restart_delay = "1s"
env = {{ MARK = {mark:?}, STOP_MS = "500" }}

[processes.side]
command = [{py:?}, "-c", {SIBLING:?}, {sibling:?}]
"#,
            app = app_command(),
            py = python(),
        ),
    );
    let first = ask(port);
    assert_passed(&first, &[3], &format!("127.0.0.1%3A{port}"));

    // The sibling got neither the socket nor the variables.
    let seen: Value = rig.wait_for(&ox, "the sibling's report", || {
        std::fs::read_to_string(&sibling)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    });
    assert_eq!(seen["listening"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["env"], serde_json::json!({}), "{seen}");

    // kill -9: the app is down for its 1s restart delay; a connection made
    // then is accepted by the kernel at once and answered by the next run.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid_of(&first) as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    rig.wait_for(&ox, "the app's death", || {
        is_dead(pid_of(&first) as i32).then_some(())
    });
    let asked = Instant::now();
    let stream = connect(port, Duration::ZERO); // refused would panic here
    let connected = asked.elapsed();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let second = reply(stream);
    let answered = asked.elapsed();
    assert_ne!(pid_of(&second), pid_of(&first));
    assert_passed(&second, &[3], &format!("127.0.0.1%3A{port}"));
    assert!(
        connected < Duration::from_millis(200) && answered > Duration::from_millis(500),
        "connected after {connected:?}, answered after {answered:?}: the connection should wait for the restart\n{}",
        rig.report(&ox)
    );
    eprintln!("kill -9: connected in {connected:?}, answered by the next run after {answered:?}");

    // `oxinit restart`: the app takes 500ms to stop and accepts nothing
    // meanwhile; a connection made then is answered by the new run.
    let socket = rig.path("ox.sock");
    let mut restart = Command::new(common::bin())
        .args(["restart", "api", "--socket", &socket])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let term = format!("term {}", pid_of(&second));
    rig.wait_for(&ox, "SIGTERM to the app", || {
        std::fs::read_to_string(&mark)
            .ok()
            .filter(|t| t.contains(&term))
    });
    let asked = Instant::now();
    let stream = connect(port, Duration::ZERO);
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let third = reply(stream);
    let answered = asked.elapsed();
    assert!(restart.wait().unwrap().success());
    assert!(![pid_of(&first), pid_of(&second)].contains(&pid_of(&third)));
    assert_passed(&third, &[3], &format!("127.0.0.1%3A{port}"));
    eprintln!("oxinit restart: answered by the new run after {answered:?}");

    ox.signal(libc::SIGTERM);
    assert_eq!(rig.finish(&mut ox), 0, "{}", rig.report(&ox));
}

#[test]
fn a_port_in_use_stops_the_boot_with_78_naming_the_process_the_address_and_the_key() {
    let rig = Rig::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut ox = rig.run(
        As::Child,
        &format!(
            "{INIT}\n[processes.api]\n{}\nlisten = [\"127.0.0.1:{port}\"]\n",
            app_command()
        ),
    );
    let code = code_of(ox.wait(DEADLINE));
    let err = ox.stderr();
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&format!(
            "[processes.api] listen: cannot hold 127.0.0.1:{port}: "
        )) && err.contains("holds this port: stop it, or change the address in listen"),
        "{err}"
    );
    assert!(!err.contains("started api"), "{err}");
}

#[test]
fn as_root_a_user_nobody_process_serves_a_low_port_and_a_unix_socket() {
    if !require_root("as_root_a_user_nobody_process_serves_a_low_port_and_a_unix_socket") {
        return;
    }
    let rig = Rig::new();
    let low = (900..1024)
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below 1024");
    // Under a directory that does not exist yet: oxinit makes it.
    let path = rig.file("run/app/app.sock");
    let mut ox = rig.run(
        As::Child,
        &format!(
            "{INIT}\n[processes.api]\n{}\nuser = \"nobody\"\nlisten = [\"127.0.0.1:{low}\", \"unix:{}\"]\nbacklog = 64\n",
            app_command(),
            path.display()
        ),
    );
    let names = format!("127.0.0.1%3A{low}:unix%3A{}", path.display());
    let over_tcp = ask(low);
    assert_eq!(over_tcp["uid"].as_i64(), Some(65534), "{over_tcp}");
    assert_eq!(over_tcp["fd"].as_i64(), Some(3), "{over_tcp}");
    assert_passed(&over_tcp, &[3, 4], &names);

    let stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let over_unix = reply(stream);
    assert_eq!(over_unix["fd"].as_i64(), Some(4), "{over_unix}");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (65534, 0o666)
    );

    ox.signal(libc::SIGTERM);
    assert_eq!(rig.finish(&mut ox), 0, "{}", rig.report(&ox));
}

/// The backlog of the listening socket on 127.0.0.1:`port`, as `ss -ltn`
/// shows it (Send-Q of a listening socket).
fn backlog_of(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn the_backlog_is_oxinits_again_while_the_app_is_down() {
    if Command::new("ss").arg("-V").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "ss (iproute2) is needed to read a socket's backlog, and CI=true forbids skipping"
            );
        }
        eprintln!("SKIP: the_backlog_is_oxinits_again_while_the_app_is_down: no ss");
        return;
    }
    let rig = Rig::new();
    let port = free_port();
    let mut ox = rig.run(
        As::Child,
        &format!(
            "{INIT}\n[processes.api]\n{}\nlisten = [\"127.0.0.1:{port}\"]\nbacklog = 77\nrestart_delay = \"2s\"\nenv = {{ RELISTEN = \"5\" }}\n",
            app_command()
        ),
    );
    let first = ask(port);
    // The app's own listen(2) set its backlog, as Node's does.
    assert_eq!(backlog_of(port), Some(5), "{}", rig.report(&ox));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid_of(&first) as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Down for its 2s restart delay: oxinit's 77 holds the queue.
    let seen = rig.wait_for(&ox, "oxinit's backlog back on the socket", || {
        backlog_of(port).filter(|&b| b == 77)
    });
    assert_eq!(seen, 77);
    ox.signal(libc::SIGTERM);
    assert_eq!(rig.finish(&mut ox), 0, "{}", rig.report(&ox));
}

#[test]
fn in_the_shutdown_a_stopped_apps_sockets_close_so_new_connections_are_refused() {
    let rig = Rig::new();
    let port = free_port();
    // `slow` stops after the app (the app depends on it) and takes 2s.
    let slow = "import signal, sys, time\n\
        signal.signal(signal.SIGTERM, lambda *a: (time.sleep(2), sys.exit(0)))\n\
        time.sleep(1000)\n";
    let mut ox = rig.run(
        As::Child,
        &format!(
            "{INIT}\n[processes.slow]\ncommand = [{py:?}, \"-c\", {slow:?}]\n\n[processes.api]\n{}\nlisten = [\"127.0.0.1:{port}\"]\ndepends_on = [\"slow\"]\n",
            app_command(),
            py = python(),
        ),
    );
    let first = ask(port);
    ox.signal(libc::SIGTERM);
    rig.wait_for(&ox, "the app's stop", || {
        is_dead(pid_of(&first) as i32).then_some(())
    });
    // `slow` is still stopping, so oxinit still runs: yet the app's socket
    // is closed (closing is the event right after the reap, so allow it a
    // moment), and a new connection is refused instead of queued.
    rig.wait_for(&ox, "a refused connection", || {
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Some(()),
            _ => {
                std::thread::sleep(Duration::from_millis(10));
                None
            }
        }
    });
    assert!(
        ox.try_wait().is_none(),
        "oxinit ended before slow stopped\n{}",
        rig.report(&ox)
    );
    assert_eq!(rig.finish(&mut ox), 0, "{}", rig.report(&ox));
}

#[test]
fn a_backlog_over_somaxconn_is_warned_about_at_boot() {
    let max: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if max >= 65535 {
        eprintln!("SKIP: a_backlog_over_somaxconn_is_warned_about_at_boot: somaxconn is {max}");
        return;
    }
    let rig = Rig::new();
    let port = free_port();
    let mut ox = rig.run(
        As::Child,
        &format!(
            "{INIT}\n[processes.api]\n{}\nlisten = [\"127.0.0.1:{port}\"]\nbacklog = 65535\n",
            app_command()
        ),
    );
    ask(port);
    let warning = format!(
        "api: backlog 65535 is cut to {max} by the kernel (net.core.somaxconn); raise it (docker run --sysctl net.core.somaxconn=65535) or lower backlog"
    );
    assert!(ox.stderr().contains(&warning), "{}", ox.stderr());
    ox.signal(libc::SIGTERM);
    assert_eq!(rig.finish(&mut ox), 0, "{}", rig.report(&ox));
}
