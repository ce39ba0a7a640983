//! Supervisor mode, put together (mini-redis's thin wiring): loads nothing
//! and decides nothing itself, but builds the supervisor, the metrics and
//! the control socket and connects them with their channels:
//!
//! ```text
//!  control socket ──mpsc<verb::Command>──▶ supervisor ──watch<Snapshot>──▶ metrics server,
//!                 ◀──oneshot reply────────            │                   control socket
//!                                                     └──Observer──▶ metrics registry
//! ```
//! The only module that knows all three; none of them imports another.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::snapshot::{ExitReason, HealthResult, JobResult, ReloadResult, Snapshot};
use crate::supervisor::{self, Links, Observer};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// Runs `config` in supervisor mode until shutdown; returns oxinit's exit
/// code. Needs a tokio runtime (current-thread) with IO and time.
pub async fn supervise(config: Config) -> i32 {
    let settled = match supervisor::settle() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let boot = match supervisor::boot::prepare(&config) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let kinds: Vec<(String, String)> = config
        .processes
        .iter()
        .map(|p| {
            let kind = supervisor::process::kind_word(p.kind());
            (p.name.clone(), kind.to_string())
        })
        .collect();
    let metrics = Arc::new(Metrics::new(&kinds, env!("CARGO_PKG_VERSION")));
    metrics.set_memory_enforcement(boot.memory_mode);
    // The includes, and the replication lag's sampler (for /health and
    // `oxinit healthcheck` too, so even with the metrics server off).
    let scrape = crate::metrics::replication::start(&config.metrics, &config.sqlite);
    if config.metrics.enabled {
        let listener = match crate::metrics::bind(config.metrics.listen) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return crate::exit::CONFIG;
            }
        };
        tracing::info!(
            "metrics on http://{}/metrics (also /health, /status)",
            config.metrics.listen
        );
        tokio::spawn(crate::metrics::serve_including(
            listener,
            metrics.clone(),
            snapshot_rx.clone(),
            config.sqlite.databases.clone(),
            crate::metrics::Limits::default(),
            scrape,
        ));
    }
    let control = match crate::control::bind_default(config.init.control_socket.as_deref()) {
        Ok(server) => {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(server.serve(snapshot_rx.clone(), tx));
            Some(rx)
        }
        Err(e) => {
            // Not fatal: the processes matter more than `oxinit status`.
            tracing::warn!(
                "{e}; `oxinit status`, `restart`, `stop`, `start` and `healthcheck` will not work"
            );
            None
        }
    };
    let links = Links {
        snapshots,
        control,
        observer: Arc::new(Registry(metrics)),
    };
    supervisor::run(config, settled, boot, links).await
}

/// The metrics registry, as the supervisor's listener.
struct Registry(Arc<Metrics>);

impl Observer for Registry {
    fn process_exited(&self, name: &str, reason: ExitReason, code: i32) {
        self.0.process_exited(name, reason, code);
    }
    fn process_restarted(&self, name: &str) {
        self.0.process_restarted(name);
    }
    fn health_check(&self, name: &str, result: HealthResult, took: Duration) {
        self.0.health_check(name, result, took);
    }
    fn oneshot_finished(&self, name: &str, took: Duration) {
        self.0.oneshot_finished(name, took);
    }
    fn job_run(&self, name: &str, result: JobResult, at: SystemTime) {
        self.0.job_run(name, result, at);
    }
    fn process_reloaded(&self, name: &str, result: ReloadResult) {
        self.0.process_reloaded(name, result);
    }
    fn oom_kills(&self, name: &str, n: u64) {
        self.0.oom_kills(name, n);
    }
    fn zombies_reaped(&self, n: u64) {
        self.0.zombies_reaped(n);
    }
    fn signal_received(&self, signal_name: &str) {
        self.0.signal_received(signal_name);
    }
}
