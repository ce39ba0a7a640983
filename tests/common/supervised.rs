//! oxinit in supervisor mode, as PID 1, observed through what it serves: an
//! oxfile with its own control socket and metrics port (tests run in
//! parallel), scrapes of /metrics parsed by [`crate::prom`], and
//! `oxinit status --json` through the control socket.
//!
//! Include after the harness and the two modules it uses:
//! ```ignore
//! mod common;
//! #[path = "common/http.rs"] mod http;
//! #[path = "common/prom.rs"] mod prom;
//! #[path = "common/supervised.rs"] mod supervised;
//! ```
#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{bin, run, scratch, As, ExitCode, Oxinit, Scratch};
use crate::http::{self, Response};
use crate::prom::{self, Exposition};

/// Per request to oxinit's HTTP listener: a healthy oxinit answers in
/// milliseconds; the margin is for a machine busy with parallel builds.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A scratch dir, a control socket and a metrics port for one oxinit.
pub struct Setup {
    pub scratch: Scratch,
    pub port: u16,
}

impl Setup {
    pub fn new() -> Setup {
        Setup {
            scratch: scratch(),
            port: http::free_port(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.scratch.file("ox.sock")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Write `oxfile.toml`: `[init]` with this setup's control socket plus
    /// `init` (more `[init]` keys), `[metrics]` on this setup's port, then `rest`.
    pub fn oxfile(&self, init: &str, rest: &str) -> PathBuf {
        let path = self.scratch.file("oxfile.toml");
        let text = format!(
            "[init]\ncontrol_socket = \"{}\"\n{init}\n\n[metrics]\nlisten = \"{}\"\n\n{rest}\n",
            self.socket().display(),
            self.addr()
        );
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// `oxinit run --config CONFIG` as PID 1 of a new PID namespace.
    pub fn start(&self, config: &Path) -> Oxinit {
        Oxinit::start(
            As::Pid1,
            &["run", "--config", config.to_str().expect("UTF-8 path")],
        )
    }

    /// One request to oxinit's HTTP listener; None while nothing listens.
    pub fn request(&self, method: &str, path: &str) -> Option<Response> {
        http::request(self.addr(), method, path, HTTP_TIMEOUT).ok()
    }

    /// GET /metrics, parsed; None while nothing listens. A scrape that is not
    /// 200 or does not parse fails the test: no scraper would accept it.
    pub fn try_scrape(&self) -> Option<Exposition> {
        let response = self.request("GET", "/metrics")?;
        assert_eq!(response.status, 200, "GET /metrics: {response:?}");
        let content_type = response.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
            "/metrics Content-Type {content_type:?}, want text/plain; version=0.0.4"
        );
        Some(
            prom::parse(&response.body)
                .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{}", response.body)),
        )
    }

    /// Scrape until `ready` holds for a scrape and return that scrape. Fails at
    /// once, with oxinit's output, if oxinit exits first.
    pub fn wait_scrape(
        &self,
        ox: &mut Oxinit,
        deadline: Duration,
        what: &str,
        mut ready: impl FnMut(&Exposition) -> bool,
    ) -> Exposition {
        let end = Instant::now() + deadline;
        let mut last = None;
        loop {
            if let Some(scrape) = self.try_scrape() {
                if ready(&scrape) {
                    return scrape;
                }
                last = Some(scrape);
            }
            if let Some(code) = ox.try_wait() {
                panic!("oxinit exited ({code:?}) before {what}\n{}", ox.output());
            }
            if Instant::now() > end {
                panic!(
                    "timed out after {deadline:?} waiting for {what}; last scrape:\n{:#?}\n{}",
                    last.map(|s| s.families),
                    ox.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `oxinit status --json` through this setup's control socket.
    pub fn status(&self) -> serde_json::Value {
        let out = run(
            Command::new(bin())
                .args(["status", "--json", "--socket"])
                .arg(self.socket()),
            Duration::from_secs(10),
        );
        assert_eq!(out.code, ExitCode::Code(0), "oxinit status --json: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", out.stdout))
    }

    /// `status --json` until `ready` holds for an answer, which is returned.
    /// The metrics and the status are two views updated one after the other:
    /// a test that saw something in a scrape waits for the status to agree.
    pub fn wait_status(
        &self,
        ox: &mut Oxinit,
        deadline: Duration,
        what: &str,
        mut ready: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let end = Instant::now() + deadline;
        loop {
            let status = self.status();
            if ready(&status) {
                return status;
            }
            if let Some(code) = ox.try_wait() {
                panic!("oxinit exited ({code:?}) before {what}\n{}", ox.output());
            }
            if Instant::now() > end {
                panic!("timed out after {deadline:?} waiting for {what}; last status:\n{status:#}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `oxinit healthcheck` through the control socket: its exit code.
    pub fn healthcheck(&self) -> ExitCode {
        run(
            Command::new(bin())
                .args(["healthcheck", "--socket"])
                .arg(self.socket()),
            Duration::from_secs(10),
        )
        .code
    }
}

/// A process name no other test (or test run) uses at the same time: oxinit
/// names its cgroups `oxinit-<process>`, under a memory cgroup that every test
/// on the machine shares, and clears out a cgroup of that name before use.
pub fn unique(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

/// Pass, saying why, where the machine cannot run a test; fail under CI.
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {why}, and CI=true forbids skipping"
    );
    eprintln!("SKIP: {test}: {why}");
}

/// The entry of `name` in a `status --json` answer.
pub fn process<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["processes"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no process {name:?} in status: {status:#}"))
}

/// oxinit's stderr once `ready` holds for it (a line logged a moment after
/// the event a test saw elsewhere), within `deadline`.
pub fn wait_stderr(
    ox: &mut Oxinit,
    deadline: Duration,
    what: &str,
    mut ready: impl FnMut(&str) -> bool,
) -> String {
    let end = Instant::now() + deadline;
    loop {
        let text = ox.stderr();
        if ready(&text) {
            return text;
        }
        if Instant::now() > end {
            panic!(
                "timed out after {deadline:?} waiting for {what} in stderr\n{}",
                ox.output()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM oxinit and wait for it: a requested shutdown where everything
/// stopped on its stop signal in time exits 0.
pub fn shut_down(ox: &mut Oxinit) {
    ox.signal(libc::SIGTERM);
    let code = ox.wait(Duration::from_secs(15));
    assert_eq!(code, ExitCode::Code(0), "after SIGTERM\n{}", ox.output());
}

/// A TOML basic string holding `text`.
pub fn toml_str(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A TOML basic string holding a path.
pub fn toml_path(path: &Path) -> String {
    toml_str(path.to_str().expect("test paths are UTF-8"))
}
