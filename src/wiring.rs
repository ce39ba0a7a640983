//! Supervisor mode, put together (mini-redis's thin wiring): loads nothing
//! and decides nothing itself, but builds the supervisor, the metrics and
//! the control socket and connects them with their channels:
//!
//! ```text
//!  control socket ──mpsc<verb::Command>──▶ supervisor ──watch<Snapshot>──▶ metrics server,
//!                 ◀──oneshot reply────────            │                   control socket
//!                                                     └──Observer──▶ metrics registry,
//!                                                          broadcast<Event> ──▶ control socket
//!  children's pipes ──relays──▶ LogBook (a ring per process) ──▶ control socket
//! ```
//! The only module that knows all three; none of them imports another.

use crate::config::{Config, LogFormat};
use crate::control::Feeds;
use crate::logs::{Bounds, LogBook};
use crate::metrics::Metrics;
use crate::snapshot::{
    Event, EventKind, ExitReason, HealthResult, JobResult, ReloadResult, Snapshot,
};
use crate::supervisor::{self, Links, Observer};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{broadcast, mpsc, watch};

/// Events held for `oxinit events` clients that read slower than they come;
/// a client further behind is told how many it lost.
const EVENTS_HELD: usize = 256;

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
    let logs = log_book(&config);
    let (events, _) = broadcast::channel(EVENTS_HELD);
    let control = match crate::control::bind_default(config.init.control_socket.as_deref()) {
        Ok(server) => {
            let (tx, rx) = mpsc::channel(16);
            let feeds = Feeds {
                logs: logs.clone(),
                events: events.clone(),
            };
            tokio::spawn(server.with_feeds(feeds).serve(snapshot_rx.clone(), tx));
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
        observer: Arc::new(Registry { metrics, events }),
        logs: Some(logs),
    };
    supervisor::run(config, settled, boot, links).await
}

/// A ring per process, bounded by its own `log_buffer_*` or `[init]`'s.
fn log_book(config: &Config) -> LogBook {
    let init = &config.init;
    let rings = config.processes.iter().map(|p| {
        let bounds = Bounds {
            lines: p.log_buffer_lines.unwrap_or(init.log_buffer_lines),
            bytes: p.log_buffer_bytes.unwrap_or(init.log_buffer_bytes) as usize,
        };
        (p.name.clone(), bounds)
    });
    LogBook::new(rings, init.log_format != LogFormat::Raw)
}

/// The supervisor's listener: the metrics registry, and the events'
/// broadcast to `oxinit events` clients.
struct Registry {
    metrics: Arc<Metrics>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Registry {
    fn tell(&self, event: Event) {
        // No receiver (nobody runs `oxinit events`) is the usual case; a
        // send never waits.
        let _ = self.events.send(Arc::new(event));
    }
}

impl Observer for Registry {
    fn process_exited(&self, name: &str, reason: ExitReason, code: i32) {
        self.metrics.process_exited(name, reason, code);
    }
    fn process_restarted(&self, name: &str) {
        self.metrics.process_restarted(name);
    }
    fn health_check(&self, name: &str, result: HealthResult, took: Duration) {
        self.metrics.health_check(name, result, took);
    }
    fn oneshot_finished(&self, name: &str, took: Duration) {
        self.metrics.oneshot_finished(name, took);
    }
    fn job_run(&self, name: &str, result: JobResult, at: SystemTime) {
        self.metrics.job_run(name, result, at);
    }
    fn process_reloaded(&self, name: &str, result: ReloadResult) {
        self.metrics.process_reloaded(name, result);
    }
    fn oom_kills(&self, name: &str, n: u64) {
        self.metrics.oom_kills(name, n);
        // Counted, not a state change: the event comes from the count.
        let at = SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        self.tell(Event {
            kills: Some(n),
            ..Event::new(
                EventKind::Oom,
                Some(name),
                at.map_or(0.0, |d| d.as_secs_f64()),
            )
        });
    }
    fn zombies_reaped(&self, n: u64) {
        self.metrics.zombies_reaped(n);
    }
    fn signal_received(&self, signal_name: &str) {
        self.metrics.signal_received(signal_name);
    }
    fn event(&self, event: &Event) {
        self.tell(event.clone());
    }
}
