//! Addition for the supervisor-mode suites (health_e2e, jobs_e2e, control_e2e):
//! a live `oxinit run --config oxfile.toml` and the ways to look at it from
//! outside — the control socket through the real `oxinit status|restart|…`
//! client, `/metrics` over plain HTTP, and the event log its children write.
//!
//! Include it next to the harness with
//! `mod common; #[path = "common/live.rs"] mod live;`.
//!
//! Every oxfile gets its own control socket in the scratch dir and either no
//! metrics listener or one on a free 127.0.0.1 port: the suites run in
//! parallel, and the defaults (/run/oxinit.sock, :9091) would collide.
#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// How long one control client call may take before the test fails.
const CLIENT_DEADLINE: Duration = Duration::from_secs(15);

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A TOML basic string holding `s` (paths, commands).
pub fn toml_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A TOML array of strings, for `command = [...]`.
pub fn toml_argv(argv: &[&str]) -> String {
    let items: Vec<String> = argv.iter().map(|a| toml_str(a)).collect();
    format!("[{}]", items.join(", "))
}

/// A 127.0.0.1 port nobody listens on right now. Picked outside the usual
/// ephemeral range (32768–60999), so outgoing connections (the probes' own)
/// cannot be handed it between this check and the bind, and spread by pid
/// and a counter so parallel tests and suites rarely even try the same one.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() % 997) as u16 * 11;
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(7))) % 12000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free 127.0.0.1 port in 20000..32000");
}

/// Whether the oxfile gets a metrics listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metrics {
    Off,
    On,
}

/// A running `oxinit run` with its scratch dir and event log.
pub struct Live {
    /// Declared first: dropped (the whole tree killed) before the scratch dir
    /// with its scripts and socket goes away.
    pub ox: Oxinit,
    pub scratch: Scratch,
    pub socket: PathBuf,
    /// "<unix-ms> <who> <event>" lines written by the children.
    pub log: PathBuf,
    pub metrics_port: Option<u16>,
}

impl Live {
    /// Writes `scratch/oxfile.toml` — an [init] with the control socket, a
    /// [metrics] table, then `processes` (the [processes.*] tables, verbatim)
    /// — and starts `oxinit run --config` on it. Waits until the control
    /// socket answers, so a test can talk to it at once.
    pub fn start(how: As, scratch: Scratch, metrics: Metrics, processes: &str) -> Live {
        let socket = scratch.file("ox.sock");
        let log = scratch.file("events");
        let metrics_port = (metrics == Metrics::On).then(free_port);
        let metrics_table = match metrics_port {
            Some(port) => format!("listen = \"127.0.0.1:{port}\""),
            None => "enabled = false".to_owned(),
        };
        let oxfile = format!(
            "[init]\ncontrol_socket = {}\nshutdown_timeout = \"10s\"\norphan_grace = \"500ms\"\n\n\
             [metrics]\n{metrics_table}\n\n{processes}",
            toml_str(path_str(&socket)),
        );
        let config = scratch.file("oxfile.toml");
        fs::write(&config, &oxfile).expect("write oxfile.toml");
        let ox = Oxinit::start(how, &["run", "--config", path_str(&config)]);
        let mut live = Live {
            ox,
            scratch,
            socket,
            log,
            metrics_port,
        };
        let end = Instant::now() + secs(10);
        while live.try_status().is_none() {
            if let Some(code) = live.ox.try_wait() {
                panic!(
                    "oxinit exited ({code:?}) before its control socket answered\n\
                     oxfile:\n{oxfile}\n{}",
                    live.ox.output()
                );
            }
            assert!(
                Instant::now() < end,
                "the control socket {} did not answer within 10s\n{}",
                live.socket.display(),
                live.ox.output()
            );
            std::thread::sleep(ms(20));
        }
        live
    }

    /// `oxinit ARGS --socket <ours>`: the real client against the live oxinit.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run(
            Command::new(bin())
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
            CLIENT_DEADLINE,
        )
    }

    /// The snapshot from `oxinit status --json`, None if the client failed.
    pub fn try_status(&self) -> Option<Value> {
        let out = self.ctl(&["status", "--json"]);
        if out.code != ExitCode::Code(0) {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// The snapshot from `oxinit status --json`; panics with oxinit's output
    /// if the client fails.
    pub fn status(&self) -> Value {
        let out = self.ctl(&["status", "--json"]);
        assert_eq!(
            out.code,
            ExitCode::Code(0),
            "oxinit status --json failed: {out:?}\n{}",
            self.ox.output()
        );
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", out.stdout))
    }

    /// One process of the snapshot (panics if it has no such process).
    pub fn process(&self, name: &str) -> Value {
        process_in(&self.status(), name)
    }

    /// Polls the snapshot until `name` satisfies `pred`, and returns it;
    /// fails with the last picture and oxinit's output, or at once if oxinit
    /// exits.
    pub fn wait_process(
        &mut self,
        name: &str,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + deadline;
        let mut last = Value::Null;
        loop {
            if let Some(status) = self.try_status() {
                let p = process_in(&status, name);
                if pred(&p) {
                    return p;
                }
                last = p;
            }
            if let Some(code) = self.ox.try_wait() {
                panic!(
                    "oxinit exited ({code:?}) while waiting for {name} to be {what}\n{}",
                    self.ox.output()
                );
            }
            if Instant::now() > end {
                panic!(
                    "timed out after {deadline:?} waiting for {name} to be {what}; last: {last:#}\n\
                     events: {:#?}\n{}",
                    read_events(&self.log),
                    self.ox.output()
                );
            }
            std::thread::sleep(ms(50));
        }
    }

    /// Waits for an event in the log (fails at once if oxinit exits).
    pub fn event(&mut self, deadline: Duration, who: &str, what: &str) -> Event {
        let log = self.log.clone();
        self.ox.expect_event(&log, deadline, who, what)
    }

    /// Every event of `who` whose text starts with `what`, in order.
    pub fn events(&self, who: &str, what: &str) -> Vec<Event> {
        read_events(&self.log)
            .into_iter()
            .filter(|e| e.who == who && e.what.starts_with(what))
            .collect()
    }

    /// Waits until oxinit's stderr holds `needle`.
    pub fn wait_stderr(&mut self, deadline: Duration, needle: &str) {
        let end = Instant::now() + deadline;
        while !self.ox.stderr().contains(needle) {
            if let Some(code) = self.ox.try_wait() {
                panic!(
                    "oxinit exited ({code:?}) before logging {needle:?}\n{}",
                    self.ox.output()
                );
            }
            assert!(
                Instant::now() < end,
                "oxinit did not log {needle:?} within {deadline:?}\n{}",
                self.ox.output()
            );
            std::thread::sleep(ms(20));
        }
    }

    /// GET /metrics (the oxfile must have Metrics::On).
    pub fn metrics(&self) -> String {
        let port = self.metrics_port.expect("started with Metrics::On");
        http_get(port, "/metrics")
            .unwrap_or_else(|e| panic!("GET /metrics on port {port}: {e}\n{}", self.ox.output()))
    }

    /// The value of one series, written as in the exposition format:
    /// `oxinit_health_checks_total{process="a",result="ok"}`. 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        metric_in(&self.metrics(), series).unwrap_or(0.0)
    }

    /// Polls `metric(series)` until it reaches `at_least`, and returns it.
    pub fn wait_metric(&mut self, series: &str, at_least: f64, deadline: Duration) -> f64 {
        let end = Instant::now() + deadline;
        loop {
            let value = self.metric(series);
            if value >= at_least {
                return value;
            }
            if let Some(code) = self.ox.try_wait() {
                panic!(
                    "oxinit exited ({code:?}) while waiting for {series} >= {at_least}\n{}",
                    self.ox.output()
                );
            }
            assert!(
                Instant::now() < end,
                "{series} is {value} after {deadline:?}, want >= {at_least}\nevents: {:#?}\n{}",
                read_events(&self.log),
                self.ox.output()
            );
            std::thread::sleep(ms(50));
        }
    }

    /// SIGTERM, then oxinit must exit 0 (everything stopped on request).
    pub fn shut_down(mut self) {
        self.ox.signal(libc::SIGTERM);
        let code = self.ox.wait(secs(15));
        assert_eq!(
            code,
            ExitCode::Code(0),
            "oxinit's exit after SIGTERM\n{}",
            self.ox.output()
        );
    }
}

/// The process `name` of a snapshot.
pub fn process_in(status: &Value, name: &str) -> Value {
    status["processes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no process {name:?} in the snapshot: {status:#}"))
}

/// `series` in a Prometheus text exposition.
pub fn metric_in(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// A bare HTTP/1.0 GET on 127.0.0.1:port; the body when the status is 200.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {response:?}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("not 200: {head}"));
    }
    Ok(body.to_owned())
}

/// The pid a child logged as "start <pid> …".
pub fn logged_pid(event: &Event) -> i64 {
    event
        .what
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {event:?}"))
}

/// The command line of tests/scripts/endpoint.py as a TOML array.
pub fn endpoint(log: &Path, who: &str, mode: &str, port: u16, sick: Option<&Path>) -> String {
    let script = script_path("endpoint.py");
    let port = port.to_string();
    let mut argv = vec![python(), path_str(&script), path_str(log), who, mode, &port];
    if let Some(sick) = sick {
        argv.push(path_str(sick));
    }
    toml_argv(&argv)
}

/// `$name(As::Pid1)` as `$name::pid1` (root only), and with `child` also
/// `$name(As::Child)` as `$name::child`.
#[allow(unused_macros)] // jobs_e2e runs its tests as PID 1 only
macro_rules! e2e {
    ($($name:ident $(+ $child:ident)?),* $(,)?) => {$(
        mod $name {
            #[test]
            fn pid1() {
                if super::require_root(concat!(stringify!($name), "::pid1")) {
                    super::$name(super::As::Pid1);
                }
            }
            $(
            #[test]
            fn $child() {
                super::$name(super::As::Child);
            }
            )?
        }
    )*};
}
