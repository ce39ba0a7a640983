//! A real Prometheus server (Debian's `prometheus`), started by a test on
//! 127.0.0.1 to scrape a running oxinit every second, queried through its
//! HTTP API, and killed when dropped.
//!
//! Include with `#[path = "common/prometheus_server.rs"] mod prometheus_server;`
//! after `mod common;` and `#[path = "common/http.rs"] mod http;`.
#![allow(dead_code)]

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::wait_until_every;
use crate::http;

/// Where Debian installs the server and its companion checker.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    /// Start Prometheus with its data in `dir`, scraping `target` every
    /// second as job "oxinit", and wait until it is ready.
    pub fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let addr = SocketAddr::from(([127, 0, 0, 1], http::free_port()));
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: oxinit\n    static_configs:\n\
                 \x20     - targets: [\"{target}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = dir.join("prometheus.log");
        let log_file = File::create(&log).expect("create prometheus.log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup prometheus.log"))
            .stderr(log_file)
            // Its own group: a ^C meant for `cargo test` must not reach it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {PROMETHEUS}: {e}"));
        let mut server = Prometheus { child, addr, log };
        wait_until_every(
            Duration::from_secs(15),
            Duration::from_millis(50),
            "Prometheus to be ready",
            || {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("prometheus exited ({status}):\n{}", server.log());
                }
                http::get(server.addr, "/-/ready", Duration::from_secs(2))
                    .ok()
                    .filter(|r| r.status == 200)
            },
        );
        server
    }

    /// GET an API path; the `data` member of a successful answer.
    pub fn api(&self, path_and_query: &str) -> Option<serde_json::Value> {
        let response = http::get(self.addr, path_and_query, Duration::from_secs(5)).ok()?;
        let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
        (json["status"] == "success").then(|| json["data"].clone())
    }

    /// An instant query (`expr` must need no URL encoding): the result vector.
    pub fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        self.api(&format!("/api/v1/query?query={expr}"))
            .and_then(|data| data["result"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("=== prometheus log ===\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
