//! The bundled demo (examples/demo) under the real oxinit, as PID 1 of a PID
//! namespace: boot order, the app serving from SQLite, a crash restarted,
//! the ordered shutdown (app first, then the replicator's final sync), and the
//! restore of a lost database from the replica on the next boot.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 request; None when nothing answers.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

fn start_demo(data: &Path, port: u16, metrics: u16) -> Oxinit {
    let oxfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/oxfile.toml");
    let sock = data.join("ox.sock");
    Oxinit::start_with(
        As::Pid1,
        &["run", "--config", oxfile.to_str().unwrap()],
        &[
            ("DEMO_DATA", data.to_str().unwrap()),
            ("PORT", &port.to_string()),
            ("METRICS_LISTEN", &format!("127.0.0.1:{metrics}")),
            ("OXINIT_SOCKET", sock.to_str().unwrap()),
        ],
        None,
    )
}

fn sqlite_count(db: &Path) -> usize {
    let out = std::process::Command::new(python())
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from notes').fetchone()[0])"])
        .arg(db)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn demo_boots_serves_restarts_stops_in_order_and_restores() {
    if !require_root("demo_boots_serves_restarts_stops_in_order_and_restores") {
        return;
    }
    let s = scratch();
    let data = s.path().join("demo");
    let (port, metrics) = (free_port(), free_port());
    let mut ox = start_demo(&data, port, metrics);

    // Boot: restore → migrate → replicate → app; healthy once the app answers.
    wait_until(Duration::from_secs(30), "the app answers /health", || {
        http(port, "GET", "/health", "").filter(|r| r.0 == 200)
    });
    wait_until(Duration::from_secs(15), "oxinit's /health is 200", || {
        http(metrics, "GET", "/health", "").filter(|r| r.0 == 200)
    });
    assert_eq!(
        http(port, "POST", "/notes", "body=first").map(|r| r.0),
        Some(303)
    );

    // A crash is restarted.
    let app = wait_until(Duration::from_secs(5), "the app's pid", || {
        find_descendant(ox.pid(), "app.py")
    });
    unsafe { libc::kill(app, libc::SIGKILL) };
    wait_until(Duration::from_secs(15), "a new app answers", || {
        find_descendant(ox.pid(), "app.py")
            .filter(|&p| p != app)
            .and_then(|_| http(port, "GET", "/health", ""))
            .filter(|r| r.0 == 200)
    });
    assert_eq!(
        http(port, "POST", "/notes", "body=second").map(|r| r.0),
        Some(303)
    );

    // Ordered shutdown: app first, then the replicator's final sync; exit 0.
    ox.signal(libc::SIGTERM);
    assert_eq!(
        ox.wait(Duration::from_secs(60)),
        ExitCode::Code(0),
        "{}",
        ox.output()
    );
    let out = ox.stdout();
    let app_stopped = out
        .find("app: stopped cleanly")
        .unwrap_or_else(|| panic!("no clean app stop:\n{out}"));
    let final_sync = out
        .find("final sync done")
        .unwrap_or_else(|| panic!("no final sync:\n{out}"));
    assert!(
        app_stopped < final_sync,
        "the replicator must stop after the app:\n{out}"
    );
    assert!(
        ox.stderr().contains("restarting in"),
        "the crash was restarted:\n{}",
        ox.stderr()
    );
    let replica = data.join("replica/app.db");
    assert_eq!(sqlite_count(&replica), 2, "both notes reached the replica");
    assert!(ox.leftovers().is_empty(), "{:?}", ox.leftovers());

    // Lose the database: the next boot restores it from the replica.
    std::fs::remove_file(data.join("data/app.db")).unwrap();
    let mut ox = start_demo(&data, port, metrics);
    wait_until(Duration::from_secs(30), "the restored app answers", || {
        http(port, "GET", "/api/notes", "").filter(|r| r.0 == 200)
    });
    let (_, notes) = http(port, "GET", "/api/notes", "").unwrap();
    assert!(
        notes.contains("first") && notes.contains("second"),
        "{notes}"
    );
    ox.signal(libc::SIGTERM);
    assert_eq!(
        ox.wait(Duration::from_secs(60)),
        ExitCode::Code(0),
        "{}",
        ox.output()
    );
    assert!(
        ox.stdout().contains("restored from replica"),
        "{}",
        ox.stdout()
    );
}

/// What the demo's README says about stopping the app by hand: `oxinit stop
/// app` stops it for good while the rest runs on; a plain `kill` (SIGTERM) is
/// a clean exit of a critical service, which ends the whole container in order
/// (the replicator's final sync last) with the app's code, 0 — as the end of a
/// container's main process ends the container.
#[test]
fn demo_stop_app_holds_it_and_a_plain_kill_ends_the_container_in_order() {
    if !require_root("demo_stop_app_holds_it_and_a_plain_kill_ends_the_container_in_order") {
        return;
    }
    let s = scratch();
    let data = s.path().join("demo");
    let (port, metrics) = (free_port(), free_port());
    let mut ox = start_demo(&data, port, metrics);
    // As the demo's README writes it: the client finds the socket through
    // the oxfile's [init] control_socket (${OXINIT_SOCKET:-…}).
    let oxfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/oxfile.toml");
    let sock = data.join("ox.sock");
    let client = |verb: &str| {
        run(
            std::process::Command::new(bin())
                .args([verb, "app", "--config", oxfile.to_str().unwrap()])
                .env("OXINIT_SOCKET", &sock),
            Duration::from_secs(30),
        )
    };
    wait_until(Duration::from_secs(30), "the app answers /health", || {
        http(port, "GET", "/health", "").filter(|r| r.0 == 200)
    });

    // `oxinit stop app`: the app is gone, the replicator and oxinit run on.
    let stop = client("stop");
    assert_eq!(stop.code, ExitCode::Code(0), "{stop:?}");
    assert!(
        http(port, "GET", "/health", "").is_none(),
        "the app still answers"
    );
    assert!(ox.try_wait().is_none(), "oxinit ended:\n{}", ox.output());
    assert!(find_descendant(ox.pid(), "replicate.py").is_some());
    let start = client("start");
    assert_eq!(start.code, ExitCode::Code(0), "{start:?}");
    wait_until(Duration::from_secs(30), "the app answers again", || {
        http(port, "GET", "/health", "").filter(|r| r.0 == 200)
    });

    // A plain kill: the app exits 0, is not restarted (on-failure), and is
    // critical: the container stops, app first, then the final sync.
    let app = find_descendant(ox.pid(), "app.py").expect("the app's pid");
    unsafe { libc::kill(app, libc::SIGTERM) };
    assert_eq!(
        ox.wait(Duration::from_secs(60)),
        ExitCode::Code(0),
        "{}",
        ox.output()
    );
    let out = ox.stdout();
    let app_stopped = out.rfind("app: stopped cleanly").expect("app stopped");
    let final_sync = out.find("final sync done").expect("final sync");
    assert!(app_stopped < final_sync, "{out}");
    assert!(ox.leftovers().is_empty(), "{:?}", ox.leftovers());
}
