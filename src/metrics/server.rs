//! The HTTP server behind `/metrics`, `/health` and `/status`.
//!
//! It runs on the supervisor's single thread, so it must never make that
//! thread wait:
//! - every connection is its own task, and hyper only ever awaits sockets:
//!   a slow or stuck client parks its own task, nobody else's;
//! - `/health` and `/status` read the latest snapshot from the watch
//!   channel — a clone of an `Arc`, no lock held across an await;
//! - `/metrics` reads files (cgroupfs, /proc, `stat` of the databases), and
//!   a `stat` on a hung network filesystem never returns. So rendering runs
//!   on tokio's blocking pool, one render at a time: a hung render costs one
//!   thread and makes later scrapes answer 503, never a stalled supervisor
//!   or a pile of threads;
//! - connections are capped; past the cap the oldest connection that is not
//!   being answered is closed to make room, so a client that opens many
//!   connections and sends nothing cannot lock out Prometheus;
//! - a connection that does not send a complete request head in time is
//!   closed, which also ends idle keep-alive connections (hyper starts the
//!   header timer as soon as it waits for the next request).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::{timeout_at, Instant};

use super::replication::Scrape;
use super::Metrics;
use crate::snapshot::Snapshot;

/// The content type of the Prometheus text exposition format.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bounds on what clients may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections; past it the oldest idle one is closed.
    pub max_connections: usize,
    /// Time to send a complete request head, counted from the connection
    /// (or the previous response): the slow-client and keep-alive timeout.
    pub header_timeout: Duration,
    /// Largest request head hyper buffers (hyper's minimum is 8 KiB); a
    /// larger one is answered 431.
    pub max_header_bytes: usize,
    /// Largest announced request body; a larger one is answered 413. The
    /// body itself is never read.
    pub max_body_bytes: u64,
    /// How long a scrape waits for its render (and for a previous render
    /// to finish) before answering 503.
    pub render_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4 * 1024,
            render_timeout: Duration::from_secs(10),
        }
    }
}

/// What every connection needs.
struct Shared {
    metrics: Arc<Metrics>,
    sqlite: Arc<[PathBuf]>,
    scrape: Scrape,
    /// One render at a time (see the module doc). Its guard travels into
    /// the blocking task, so a render that outlives its scrape still holds
    /// it.
    render_lock: Arc<Mutex<()>>,
    limits: Limits,
}

/// Serves until the future is dropped (which closes every connection).
pub async fn serve(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    sqlite: Vec<PathBuf>,
) {
    serve_with(listener, metrics, snapshot, sqlite, Limits::default()).await
}

/// [`serve`] with explicit [`Limits`].
pub async fn serve_with(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    sqlite: Vec<PathBuf>,
    limits: Limits,
) {
    serve_including(
        listener,
        metrics,
        snapshot,
        sqlite,
        limits,
        Scrape::default(),
    )
    .await
}

/// [`serve_with`], with [`Scrape`]'s includes and lag in `/metrics`.
pub async fn serve_including(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    sqlite: Vec<PathBuf>,
    limits: Limits,
    scrape: Scrape,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(
                "metrics server cannot use its socket ({e}); /metrics, /health and /status are off"
            );
            return;
        }
    };
    let shared = Arc::new(Shared {
        metrics,
        sqlite: sqlite.into(),
        scrape,
        render_lock: Arc::new(Mutex::new(())),
        limits,
    });
    let mut connections = Connections::default();
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => connections.admit(stream, &shared, &snapshot),
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning,
                    // and say it once a minute rather than a hundred times.
                    if last_accept_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!("metrics server cannot accept connections: {e}");
                        last_accept_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = connections.tasks.join_next_with_id() => {
                connections.forget(match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                });
            }
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    tasks: JoinSet<()>,
    open: VecDeque<Open>,
}

struct Open {
    id: Id,
    /// True while a request is being answered: such a connection is not
    /// closed to make room.
    busy: Arc<AtomicBool>,
    abort: AbortHandle,
}

impl Connections {
    fn admit(
        &mut self,
        stream: TcpStream,
        shared: &Arc<Shared>,
        snapshot: &watch::Receiver<Arc<Snapshot>>,
    ) {
        if self.open.len() >= shared.limits.max_connections {
            match self
                .open
                .iter()
                .position(|c| !c.busy.load(Ordering::Relaxed))
            {
                Some(oldest_idle) => {
                    if let Some(evicted) = self.open.remove(oldest_idle) {
                        evicted.abort.abort();
                    }
                }
                // Every connection is being answered: refuse this one.
                None => return,
            }
        }
        // Responses go out in one write, but a keep-alive client must not
        // wait for Nagle's timer either.
        let _ = stream.set_nodelay(true);
        let busy = Arc::new(AtomicBool::new(false));
        let abort = self.tasks.spawn(connection(
            stream,
            shared.clone(),
            snapshot.clone(),
            busy.clone(),
        ));
        self.open.push_back(Open {
            id: abort.id(),
            busy,
            abort,
        });
    }

    fn forget(&mut self, id: Id) {
        self.open.retain(|c| c.id != id);
    }
}

async fn connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    busy: Arc<AtomicBool>,
) {
    let service = service_fn(|request: Request<Incoming>| {
        let _busy = Busy::set(&busy);
        let shared = shared.clone();
        let current = snapshot.borrow().clone();
        async move {
            let _busy = _busy;
            Ok::<_, Infallible>(respond(&request, &shared, current).await)
        }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout)
        .max_buf_size(shared.limits.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        // Timeouts, resets and garbage are the client's business.
        tracing::debug!("metrics connection ended: {e}");
    }
}

/// Marks a connection busy for as long as it lives.
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn set(flag: &Arc<AtomicBool>) -> Busy {
        flag.store(true, Ordering::Relaxed);
        Busy(flag.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy)]
enum Route {
    Metrics,
    Health,
    Status,
}

async fn respond(
    request: &Request<Incoming>,
    shared: &Shared,
    snapshot: Arc<Snapshot>,
) -> Response<Full<Bytes>> {
    let route = match request.uri().path() {
        "/metrics" => Route::Metrics,
        "/health" => Route::Health,
        "/status" => Route::Status,
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "not found: oxinit serves /metrics, /health and /status\n",
            )
        }
    };
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if body_too_large(request, shared.limits.max_body_bytes) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large: GET and HEAD need none\n",
        );
    }
    let response = match route {
        Route::Metrics => match render(shared, snapshot).await {
            Ok(body) => with_type(StatusCode::OK, METRICS_TYPE, body.into_bytes()),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        Route::Health => health(&snapshot),
        Route::Status => json(
            StatusCode::OK,
            // A Snapshot is plain data: serializing it cannot fail.
            serde_json::to_vec(&*snapshot).unwrap_or_default(),
        ),
    };
    if head {
        without_body(response)
    } else {
        response
    }
}

/// An announced body over the limit, or one of unknown length.
fn body_too_large(request: &Request<Incoming>, max: u64) -> bool {
    use hyper::body::Body;
    request.body().size_hint().upper().is_none_or(|n| n > max)
}

/// oxinit's own figures (see [`render_own`]) and, fetched meanwhile, the
/// includes', merged (see [`super::include`]).
async fn render(shared: &Shared, snapshot: Arc<Snapshot>) -> Result<String, &'static str> {
    let includes = &shared.scrape.includes;
    // The includes' fetches run beside oxinit's own render, and end before
    // the render's own deadline can.
    let cap = shared.limits.render_timeout.mul_f64(0.8);
    let (own, answers) = tokio::join!(render_own(shared, snapshot), includes.fetch_all(cap));
    let own = own?;
    if includes.targets().is_empty() && shared.scrape.replication.is_none() {
        return Ok(own);
    }
    let lag = shared
        .scrape
        .replication
        .as_deref()
        .map(|r| super::replication::render_lag(r, std::time::SystemTime::now()))
        .unwrap_or_default();
    Ok(includes.merge(&own, &lag, &answers))
}

/// Renders on the blocking pool, one render at a time, within
/// `render_timeout` (see the module doc).
async fn render_own(shared: &Shared, snapshot: Arc<Snapshot>) -> Result<String, &'static str> {
    let deadline = Instant::now() + shared.limits.render_timeout;
    let busy = "a previous scrape is still reading its figures (a database on a hung network \
                filesystem?); try again later\n";
    let guard = timeout_at(deadline, shared.render_lock.clone().lock_owned())
        .await
        .map_err(|_| busy)?;
    let metrics = shared.metrics.clone();
    let sqlite = shared.sqlite.clone();
    let task = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        metrics.render(&snapshot, &sqlite)
    });
    match timeout_at(deadline, task).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(_panicked)) => Err("rendering the metrics failed; see oxinit's log\n"),
        Err(_) => Err(busy),
    }
}

/// 200 when healthy, else 503; the body names what is not (the
/// supervisor's snapshot, and the replication lag).
fn health(snapshot: &Snapshot) -> Response<Full<Bytes>> {
    let not_ready: Vec<&str> = snapshot
        .processes
        .iter()
        .filter(|p| p.kind == crate::snapshot::Kind::Service && !(p.up && p.ready))
        .map(|p| p.name.as_str())
        .collect();
    let (status, problems) = match crate::sqlite::freshness::judge(snapshot.health()) {
        Ok(()) => (StatusCode::OK, Vec::new()),
        Err(problems) => (StatusCode::SERVICE_UNAVAILABLE, problems),
    };
    let body = serde_json::json!({
        "healthy": status == StatusCode::OK,
        "phase": snapshot.phase,
        "booted": snapshot.booted,
        "not_ready": not_ready,
        "problems": problems,
    });
    let mut bytes = body.to_string().into_bytes();
    bytes.push(b'\n');
    json(status, bytes)
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = with_type(status, "application/json", body);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// HEAD: the GET response's headers, its length included, and no body.
fn without_body(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    use hyper::body::Body;
    let length = response.body().size_hint().exact().unwrap_or(0);
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    Response::from_parts(parts, Full::new(Bytes::new()))
}
