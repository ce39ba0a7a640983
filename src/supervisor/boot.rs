//! What supervisor mode sets up before the first process starts: memory-limit
//! enforcement, the SQLite volume check, the metrics server and the control
//! socket. Problems that make the oxfile unusable here (a metrics port in use,
//! `memory_enforcement = "cgroup"` without writable cgroups, `require_volume`
//! on the container's own layer) stop the boot with exit code 78.

use super::snapshot::Snapshot;
use crate::cgroup::{self, Enforcement, Roots};
use crate::config::Config;
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The services the event loop works with.
pub struct Services {
    pub metrics: Arc<Metrics>,
    /// Some when processes with limits get cgroups (v1/v2); None for polling
    /// or when no process has limits.
    pub cgroups: Option<Enforcement>,
    /// "cgroup2" | "cgroup1" | "poll".
    pub memory_mode: &'static str,
    pub control: Option<mpsc::Receiver<crate::control::Command>>,
}

/// Sets everything up; Err(exit code) when the boot must not go on.
pub fn start(config: &Config, snapshots: &watch::Receiver<Arc<Snapshot>>) -> Result<Services, i32> {
    let plan = crate::config::plan(config);
    let budget = crate::config::budget::stop_budget(&config.processes, &config.init, &plan);
    tracing::info!("stop budget: {}", budget.describe());
    let (cgroups, memory_mode) = memory(config)?;
    for db in &config.sqlite.databases {
        if let Some(warning) = crate::sqlite::volume_check(db) {
            if config.sqlite.require_volume {
                tracing::error!("{warning}; [sqlite] require_volume = true: not starting");
                return Err(crate::exit::CONFIG);
            }
            tracing::warn!("{warning}");
        }
    }

    let kinds: Vec<(String, String)> = config
        .processes
        .iter()
        .map(|p| (p.name.clone(), kind_name(p.kind()).to_string()))
        .collect();
    let metrics = Arc::new(Metrics::new(&kinds, env!("CARGO_PKG_VERSION")));
    metrics.set_memory_enforcement(memory_mode);
    let scrape = crate::metrics::replication::start(&config.metrics, &config.sqlite);
    if config.metrics.enabled {
        let listener = crate::metrics::bind(config.metrics.listen).map_err(|e| {
            tracing::error!("{e}");
            crate::exit::CONFIG
        })?;
        tracing::info!(
            "metrics on http://{}/metrics (also /health, /status)",
            config.metrics.listen
        );
        tokio::spawn(crate::metrics::serve_including(
            listener,
            metrics.clone(),
            snapshots.clone(),
            config.sqlite.databases.clone(),
            crate::metrics::Limits::default(),
            scrape,
        ));
    }

    let control = match crate::control::bind_default(config.init.control_socket.as_deref()) {
        Ok(server) => {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(server.serve(snapshots.clone(), tx));
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
    Ok(Services {
        metrics,
        cgroups,
        memory_mode,
        control,
    })
}

pub fn kind_name(kind: crate::config::Kind) -> &'static str {
    match kind {
        crate::config::Kind::Service => "service",
        crate::config::Kind::Oneshot => "oneshot",
        crate::config::Kind::Job => "job",
    }
}

/// Chooses how memory limits are enforced. Cgroups are touched only when some
/// process has limits: an oxfile without limits changes nothing on the host.
fn memory(config: &Config) -> Result<(Option<Enforcement>, &'static str), i32> {
    let roots = Roots::default();
    let requested = config.init.memory_enforcement;
    let limited = config
        .processes
        .iter()
        .any(|p| p.limits != Default::default());
    if !limited {
        let mode = cgroup::detect(requested, &roots, std::process::id())
            .map(|e| e.mode())
            .unwrap_or(cgroup::Mode::Poll);
        return Ok((None, mode.as_str()));
    }
    match cgroup::setup(requested, &roots, std::process::id()) {
        Ok((enforcement, prepared)) => {
            let mode = enforcement.mode();
            tracing::info!(
                "memory limits: {} ({})",
                mode.as_str(),
                enforcement.reason()
            );
            if !prepared.leftovers.removed.is_empty() {
                tracing::info!(
                    "removed {} cgroups left by a previous run",
                    prepared.leftovers.removed.len()
                );
            }
            let cgroups = (mode != cgroup::Mode::Poll).then_some(enforcement);
            Ok((cgroups, mode.as_str()))
        }
        Err(e) => {
            tracing::error!("{e}");
            Err(crate::exit::CONFIG)
        }
    }
}
