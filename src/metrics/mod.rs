//! Prometheus metrics, `/health` and `/status` over HTTP.
//!
//! ```text
//!  event loop ── process_exited(), health_check(), … ──▶ Metrics (counters)
//!       │
//!       └── watch<Arc<Snapshot>> ──▶ serve() ── GET /metrics ──▶ render(snapshot)
//!                                          ├── GET /health  ──▶ snapshot.health()
//!                                          └── GET /status  ──▶ snapshot as JSON
//! ```
//! - [`registry`]: every metric, created at 0 for every process at boot.
//! - [`usage`]: memory and CPU of a process from its cgroup or /proc.
//! - [`own_process`]: oxinit's own `process_*` metrics (CPU, memory, fds).
//! - [`server`]: the hyper server; nothing in it can make the supervisor wait.
//! - [`include`]: `[metrics] include`, other programs' metrics appended at
//!   scrape time (`exposition`: their text split into families; `http_get`:
//!   the bounded fetch).
//! - [`replication`]: the sampler behind `oxinit_sqlite_replication_lag_seconds`.
//!
//! Boot: [`bind`] the `[metrics] listen` address (parsed with the oxfile; a
//! clear error when the port is taken), then spawn [`serve`] on the runtime.

mod exposition;
mod http_get;
pub(crate) mod include;
pub(crate) mod own_process;
mod registry;
pub(crate) mod replication;
mod server;
pub(crate) mod usage;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub use registry::Metrics;
pub use server::serve;
pub(crate) use server::{serve_including, Limits};
// What only the unit tests reach through here.
#[cfg(test)]
pub(crate) use registry::{EXIT_REASONS, HEALTH_RESULTS, JOB_RESULTS};
#[cfg(test)]
pub(crate) use server::serve_with;

/// The default of `[metrics] listen`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9091);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "[metrics] listen = \"{addr}\"{}: cannot listen there: {source}{}",
        default_note(*addr),
        bind_hint(*addr, source)
    )]
    Bind { addr: SocketAddr, source: io::Error },
}

/// Whoever never wrote `[metrics] listen` should learn where the address
/// came from, or the error reads like a line of their oxfile they cannot find.
fn default_note(addr: SocketAddr) -> &'static str {
    if addr == DEFAULT_LISTEN {
        " (the default, used when [metrics] listen is not set)"
    } else {
        ""
    }
}

fn bind_hint(addr: SocketAddr, source: &io::Error) -> &'static str {
    match source.kind() {
        io::ErrorKind::AddrInUse if addr == DEFAULT_LISTEN => {
            ". Another process (a second oxinit? the app itself?) listens on that port: \
             add [metrics] listen = \"0.0.0.0:9092\" (any free port) to the oxfile, or \
             [metrics] enabled = false to run without metrics"
        }
        io::ErrorKind::AddrInUse => {
            ". Another process (a second oxinit? the app itself?) listens on that port: \
             choose a free port in [metrics] listen, or set [metrics] enabled = false"
        }
        io::ErrorKind::PermissionDenied => {
            ". Ports below 1024 need root or CAP_NET_BIND_SERVICE: use a port such as 9091"
        }
        io::ErrorKind::AddrNotAvailable => {
            ". No interface of this machine has that address: use 0.0.0.0 (every interface) \
             or 127.0.0.1"
        }
        _ => "",
    }
}

/// Binds the metrics socket at boot, so a taken port is an error before any
/// process starts. Non-blocking, ready for [`serve`]. (std sets
/// SO_REUSEADDR, so a restarted oxinit can bind while old connections sit
/// in TIME_WAIT.)
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, MetricsError> {
    let bind_err = |source| MetricsError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok(listener)
}

#[cfg(test)]
mod tests;
