//! `oxinit logs` and `oxinit events` against the real oxinit (issue 13):
//! the last lines with their stream and time, following until the client
//! leaves, a follower that never reads (the child writing 100k lines does
//! not wait for it, and it is told how many lines it lost), the events of a
//! crashing process, and `oxinit status` showing a failed process's last
//! stderr lines.

mod common;
#[macro_use]
#[path = "common/live.rs"]
mod live;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;
use live::*;

e2e!(
    logs_shows_the_last_lines_with_stream_and_time + child,
    follow_sees_new_lines_and_ends_when_the_client_leaves + child,
    a_stuck_follower_does_not_slow_a_chatty_child + child,
    events_tell_a_crash_and_its_restart + child,
    status_shows_a_failed_process_last_stderr_lines + child,
);

/// A running `oxinit logs -f` or `oxinit events`, its stdout read line by
/// line on a thread.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn start(socket: &Path, args: &[&str]) -> Follower {
        let mut child = Command::new(bin())
            .args(args)
            .arg("--socket")
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the client");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line within `wait`, if any.
    fn try_next(&mut self, wait: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(wait).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// The next line that `pred` accepts (the others are kept in `seen`).
    fn wait_for(&mut self, deadline: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let mut stderr = String::new();
                    if let Some(mut e) = self.child.stderr.take() {
                        let _ = e.read_to_string(&mut stderr);
                    }
                    panic!(
                        "no line {what} within {deadline:?}; got:\n{}\nstderr: {stderr}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `2026-12-04T19:00:01.234Z stdout text` → (stream, text), if it has
/// that shape.
fn stamped(line: &str) -> Option<(&str, &str)> {
    let (stamp, rest) = line.split_once(' ')?;
    let ok = stamp.len() == 24
        && stamp.as_bytes()[4] == b'-'
        && stamp.as_bytes()[10] == b'T'
        && stamp.as_bytes()[19] == b'.'
        && stamp.ends_with('Z');
    let (stream, text) = rest.split_once(' ')?;
    (ok && (stream == "stdout" || stream == "stderr")).then_some((stream, text))
}

/// The texts of one stream's lines.
fn all_texts<'a>(lines: &[&'a str], stream: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| stamped(l))
        .filter(|(s, _)| *s == stream)
        .map(|(_, t)| t)
        .collect()
}

fn logs_shows_the_last_lines_with_stream_and_time(how: As) {
    let s = scratch();
    let api = s.script(
        "api.sh",
        r#"#!/bin/sh
i=1
while [ $i -le 20 ]; do echo "out $i"; echo "err $i" >&2; i=$((i + 1)); done
echo "done"
exec sleep 1000
"#,
    );
    let worker = s.script(
        "worker.sh",
        "#!/bin/sh\necho 'worker up'\nexec sleep 1000\n",
    );
    let procs = format!(
        "[processes.api]\ncommand = {}\n\n[processes.worker]\ncommand = {}\n",
        toml_str(path_str(&api)),
        toml_str(path_str(&worker)),
    );
    let live = Live::start(how, s, Metrics::Off, &procs);
    // stdout and stderr are two pipes: their relative order is the order
    // the relays read them in, but each stream keeps its own.
    let everything = wait_until(secs(10), "api's last lines in its log", || {
        let out = live.ctl(&["logs", "api", "-n", "100"]);
        (out.stdout.contains("stdout done") && out.stdout.contains("stderr err 20"))
            .then_some(out.stdout)
    });
    let everything: Vec<&str> = everything.lines().collect();
    assert_eq!(everything.len(), 41, "{everything:#?}");

    let out = live.ctl(&["logs", "api", "-n", "5"]);
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}");
    let last: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(last, everything[36..], "the last five lines");
    let shown: Vec<(&str, &str)> = last
        .iter()
        .map(|l| stamped(l).unwrap_or_else(|| panic!("not `TIME STREAM TEXT`: {l:?}")))
        .collect();
    for stream in ["stdout", "stderr"] {
        let all = all_texts(&everything, stream);
        let tail: Vec<&str> = shown
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(
            all[all.len() - tail.len()..],
            tail,
            "{stream} in its own order"
        );
    }
    assert_eq!(&all_texts(&everything, "stdout")[..2], ["out 1", "out 2"]);

    // Every process, prefixed with its name, padded as the relay pads.
    let all = live.ctl(&["logs", "-n", "1"]);
    assert_eq!(all.code, ExitCode::Code(0), "{all:?}");
    let worker_line = all
        .stdout
        .lines()
        .find(|l| l.starts_with("worker | "))
        .unwrap_or_else(|| panic!("no worker line:\n{}", all.stdout));
    assert_eq!(stamped(&worker_line[9..]), Some(("stdout", "worker up")));
    assert!(
        all.stdout.lines().any(|l| l.starts_with("api    | ")),
        "{}",
        all.stdout
    );

    let json = live.ctl(&["logs", "api", "-n", "1", "--json"]);
    let item: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON line");
    assert_eq!(item["process"], "api");
    assert!(item["line"] == "done" || item["line"] == "err 20", "{item}");
    assert!(item["at_ms"].as_u64().unwrap() > 1_700_000_000_000);

    let wrong = live.ctl(&["logs", "apx"]);
    assert_eq!(wrong.code, ExitCode::Code(1));
    assert!(
        wrong
            .stderr
            .contains("no process named apx; processes: api, worker"),
        "{wrong:?}"
    );
    live.shut_down();
}

fn follow_sees_new_lines_and_ends_when_the_client_leaves(how: As) {
    let s = scratch();
    let ticker = s.script(
        "ticker.sh",
        "#!/bin/sh\ni=0\nwhile :; do i=$((i + 1)); echo \"tick $i\"; sleep 0.1; done\n",
    );
    let procs = format!(
        "[processes.ticker]\ncommand = {}\n",
        toml_str(path_str(&ticker))
    );
    let live = Live::start(how, s, Metrics::Off, &procs);
    let mut first = Follower::start(&live.socket, &["logs", "ticker", "-n", "0", "-f"]);
    let a = first.wait_for(secs(10), "with a tick", |l| l.contains("stdout tick "));
    let b = first.wait_for(secs(10), "with the next tick", |l| {
        l.contains("stdout tick ")
    });
    let n = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    assert!(n(&b) > n(&a), "new lines, in order: {a} then {b}");
    drop(first);

    // Its place is free again once it left: as many followers as oxinit
    // takes at once (8) are all served.
    wait_until(secs(10), "8 followers all served", || {
        let mut followers: Vec<Follower> = (0..8)
            .map(|_| Follower::start(&live.socket, &["logs", "ticker", "-n", "1", "-f"]))
            .collect();
        let served = followers.iter_mut().all(|f| {
            f.lines
                .recv_timeout(secs(5))
                .is_ok_and(|l| l.contains("stdout tick "))
        });
        served.then_some(())
    });
    live.shut_down();
}

/// A client asks to follow and never reads. A child writes 100k lines: it
/// must finish (the relay reads them all, into oxinit's stdout and the
/// ring) without waiting for that client, and the client, when it reads at
/// last, is told how many lines it lost.
fn a_stuck_follower_does_not_slow_a_chatty_child(how: As) {
    let s = scratch();
    let gate = s.fifo("gate");
    let done = s.file("done");
    let spam = s.script(
        "spam.sh",
        &format!(
            r#"#!/bin/sh
read go < {gate}
start=$(date +%s%3N)
seq 1 100000 | sed 's/^/spam line /'
echo "$start $(date +%s%3N)" > {done}
exec sleep 1000
"#,
            gate = path_str(&gate),
            done = path_str(&done),
        ),
    );
    let procs = format!(
        "[processes.spam]\ncommand = {}\n",
        toml_str(path_str(&spam))
    );
    let live = Live::start(how, s, Metrics::Off, &procs);

    let mut stuck = UnixStream::connect(&live.socket).expect("connect");
    stuck
        .write_all(b"{\"cmd\":\"logs\",\"names\":[\"spam\"],\"lines\":0,\"follow\":true}\n")
        .unwrap();
    // Served before the child writes: its `{"ok":true}` is the first line.
    let mut reader = BufReader::new(stuck.try_clone().unwrap());
    let mut head = String::new();
    reader.read_line(&mut head).unwrap();
    assert_eq!(head.trim(), r#"{"ok":true,"names":["spam"]}"#);

    open_gate(&gate, secs(10));
    let took = wait_until(secs(60), "the child to write its 100k lines", || {
        let text = std::fs::read_to_string(&done).ok()?;
        let mut t = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        Some(Duration::from_millis(t.next()?.abs_diff(t.next()?)))
    });
    // Generous for a busy machine: blocked on a follower that never reads,
    // it would never finish at all.
    assert!(took < secs(30), "100k lines took {took:?}");
    // The relay kept up: the last line is in the ring.
    wait_until(secs(10), "the last line kept", || {
        let out = live.ctl(&["logs", "spam", "-n", "1"]);
        out.stdout.contains("stdout spam line 100000").then_some(())
    });

    // At last it reads: what the socket held, then the notice.
    stuck.set_read_timeout(Some(secs(10))).unwrap();
    let mut lost = None;
    let mut line = String::new();
    while lost.is_none() {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let item: Value = serde_json::from_str(&line).unwrap();
        lost = item["lost"].as_u64();
    }
    let lost = lost.unwrap();
    assert!(lost > 0 && lost < 100_000, "lost {lost}");
    drop(stuck);
    live.shut_down();
}

fn events_tell_a_crash_and_its_restart(how: As) {
    let s = scratch();
    let gate = s.file("crash");
    let crasher = s.script(
        "crasher.sh",
        &format!(
            r#"#!/bin/sh
echo "up"
while [ ! -e {gate} ]; do sleep 0.05; done
echo "Error: the database is locked" >&2
exit 3
"#,
            gate = path_str(&gate),
        ),
    );
    let marker = s.script("marker.sh", "#!/bin/sh\nexec sleep 1000\n");
    let procs = format!(
        "[processes.crasher]\ncommand = {}\nrestart_delay = \"300ms\"\ncritical = false\n\n\
         [processes.marker]\ncommand = {}\n",
        toml_str(path_str(&crasher)),
        toml_str(path_str(&marker)),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    live.wait_process("crasher", secs(10), "running", |p| p["up"] == true);
    let mut events = Follower::start(&live.socket, &["events", "--json"]);
    // Following once it hears something: restart the marker until it does.
    wait_until(secs(20), "the events client to follow", || {
        assert_eq!(live.ctl(&["restart", "marker"]).code, ExitCode::Code(0));
        while let Some(line) = events.try_next(ms(500)) {
            if line.contains("\"marker\"") {
                return Some(());
            }
        }
        None
    });
    std::fs::write(&gate, "").unwrap();
    let json = |line: &str| -> Value { serde_json::from_str(line).unwrap() };
    let exited = json(&events.wait_for(secs(10), "exited", |l| {
        json(l)["event"] == "exited" && json(l)["process"] == "crasher"
    }));
    assert_eq!(exited["reason"], "exit", "{exited}");
    assert_eq!(exited["code"], 3, "{exited}");
    assert!(exited["uptime"].as_f64().unwrap() > 0.0, "{exited}");
    assert_eq!(
        exited["stderr"],
        serde_json::json!(["Error: the database is locked"]),
        "{exited}"
    );
    let restarting = json(&events.wait_for(secs(10), "restarting", |l| {
        json(l)["event"] == "restarting" && json(l)["process"] == "crasher"
    }));
    let delay = restarting["delay"].as_f64().unwrap();
    assert!(delay > 0.0 && delay <= 0.3, "{restarting}");
    let started = json(&events.wait_for(secs(10), "started", |l| {
        json(l)["event"] == "started" && json(l)["process"] == "crasher"
    }));
    assert!(started["pid"].as_i64().unwrap() > 0, "{started}");

    // The text form of the same.
    let mut text = Follower::start(&live.socket, &["events"]);
    let line = text.wait_for(secs(10), "exited", |l| l.contains(" exited crasher "));
    assert!(line.contains("reason=exit code=3"), "{line}");
    text.wait_for(secs(5), "its stderr", |l| {
        l == "  stderr| Error: the database is locked"
    });
    live.shut_down();
}

fn status_shows_a_failed_process_last_stderr_lines(how: As) {
    let s = scratch();
    let broken = s.script(
        "broken.sh",
        "#!/bin/sh\necho 'opening /data/app.db' >&2\necho 'Error: unable to open database file' >&2\nexit 2\n",
    );
    let worker = s.script("worker.sh", "#!/bin/sh\nexec sleep 1000\n");
    let procs = format!(
        "[processes.broken]\ncommand = {}\nmax_restarts = 0\ncritical = false\n\n\
         [processes.worker]\ncommand = {}\n",
        toml_str(path_str(&broken)),
        toml_str(path_str(&worker)),
    );
    let mut live = Live::start(how, s, Metrics::Off, &procs);
    let p = live.wait_process("broken", secs(10), "failed", |p| {
        p["state"] == "failed" && p["last_stderr"].as_array().is_some_and(|l| l.len() == 2)
    });
    assert_eq!(
        p["last_stderr"],
        serde_json::json!([
            "opening /data/app.db",
            "Error: unable to open database file"
        ])
    );
    let table = live.ctl(&["status"]);
    assert!(
        table.stdout.ends_with(
            "broken (failed), its last stderr lines:\n  | opening /data/app.db\n  | Error: unable to open database file\n"
        ),
        "{}",
        table.stdout
    );
    assert!(
        live.process("worker")["last_stderr"].is_null(),
        "only failed ones"
    );
    live.shut_down();
}
