//! The client side: `oxinit status [--json]`, `restart|stop|start NAME`,
//! `healthcheck`. Plain blocking I/O with deadlines: a client never needs a
//! runtime, and a hung oxinit never hangs it.

use super::location::{self, Candidate, Lookup};
use super::{render_status, ControlError, Request, Response, Snapshot};
use crate::units::format_duration;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a client waits.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// For `status` and `healthcheck`, answered at once from the snapshot.
    pub answer_timeout: Duration,
    /// For `restart`, `stop` and `start`, answered when the action is done:
    /// a stop can take the process's whole stop_timeout.
    pub command_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            answer_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// How to point a client elsewhere.
const WHERE: &str = "pass --socket PATH or --config OXFILE, or set OXINIT_SOCKET";

fn list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// An answer bigger than this is not from oxinit (a status of hundreds of
/// processes is a few hundred KiB).
const MAX_ANSWER: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error(
        "oxinit is not running here (no control socket at {}); {WHERE}", list(.tried)
    )]
    NotRunning { tried: Vec<PathBuf> },

    #[error("oxinit is not running here (nobody answers on the control socket {path}); {WHERE}")]
    Stale { path: PathBuf },

    #[error("{0}")]
    Unsafe(ControlError),

    #[error(
        "permission denied on the control socket {path}: run this as the socket's owner ({owner})"
    )]
    PermissionDenied { path: PathBuf, owner: String },

    #[error("cannot connect to the control socket {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },

    #[error("cannot talk to oxinit on {path}: {source}")]
    Talk { path: PathBuf, source: io::Error },

    #[error("no answer from oxinit on {path} within {}{hint}", format_duration(*wait))]
    NoAnswer {
        path: PathBuf,
        wait: Duration,
        hint: String,
    },

    #[error("oxinit on {path} closed the connection without an answer")]
    Closed { path: PathBuf },

    #[error("oxinit on {path} answered something this client cannot read ({reason}); is it another version?")]
    Garbled { path: PathBuf, reason: String },
}

/// Runs one client command against the oxinit found at the places of
/// `lookup` (see [`location::lookup`]), printing to stdout/stderr; returns
/// the exit code (0 done or healthy, 1 otherwise).
pub fn client(request: Request, lookup: &Lookup, json: bool) -> i32 {
    let mut err = io::stderr().lock();
    for note in &lookup.notes {
        for line in note.lines() {
            let _ = writeln!(err, "oxinit: {line}");
        }
    }
    let uid = nix::unistd::geteuid().as_raw();
    run_client_in(
        &request,
        &lookup.candidates,
        uid,
        json,
        &ClientOptions::default(),
        &mut io::stdout().lock(),
        &mut err,
    )
}

/// [`client`] against one socket, with its waits and outputs as parameters
/// (for tests). `json` prints the raw answer: the snapshot for `status`,
/// the response line otherwise.
#[cfg(test)]
pub fn run_client(
    request: &Request,
    socket: &Path,
    json: bool,
    options: &ClientOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let candidates = [Candidate {
        path: socket.to_path_buf(),
        private_dir: None,
    }];
    let uid = nix::unistd::geteuid().as_raw();
    run_client_in(request, &candidates, uid, json, options, out, err)
}

/// [`run_client`] trying `candidates` in turn: the first with a socket is
/// used; `uid` must own a candidate's private directory.
pub fn run_client_in(
    request: &Request,
    candidates: &[Candidate],
    uid: u32,
    json: bool,
    options: &ClientOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // Output errors (a closed pipe in `oxinit status | head`) are ignored:
    // the exit code still tells the story.
    let (stream, path) = match connect(candidates, uid) {
        Ok(connected) => connected,
        Err(e) => {
            let _ = writeln!(err, "oxinit: {e}");
            return 1;
        }
    };
    if let Request::Logs { .. } | Request::Events {} = request {
        let wait = options.answer_timeout;
        return super::watch::watch(request, stream, &path, json, wait, out, err);
    }
    let response = match exchange(request, stream, &path, options) {
        Ok(response) => response,
        Err(e) => {
            let _ = writeln!(err, "oxinit: {e}");
            return 1;
        }
    };
    if !response.ok {
        let error = response
            .error
            .as_deref()
            .unwrap_or("refused, without a reason");
        let _ = writeln!(err, "oxinit: {error}");
        return 1;
    }
    match request {
        Request::Status {} => {
            let Some(snapshot) = response.snapshot else {
                let _ = writeln!(err, "oxinit: the answer to status holds no snapshot");
                return 1;
            };
            if json {
                let text = serde_json::to_string_pretty(&snapshot).unwrap_or_default();
                let _ = writeln!(out, "{text}");
                return 0;
            }
            match serde_json::from_value::<Snapshot>(snapshot) {
                Ok(snapshot) => {
                    let _ = write!(out, "{}", render_status(&snapshot, unix_now()));
                    0
                }
                Err(e) => {
                    let _ = writeln!(
                        err,
                        "oxinit: cannot read the status ({e}); try `oxinit status --json`"
                    );
                    1
                }
            }
        }
        Request::Health {} => match response.healthy {
            Some(true) => 0,
            Some(false) => {
                let reasons = if response.problems.is_empty() {
                    "no reason given".to_string()
                } else {
                    response.problems.join("; ")
                };
                let _ = writeln!(err, "oxinit: unhealthy: {reasons}");
                1
            }
            None => {
                let _ = writeln!(err, "oxinit: the answer to health holds no verdict");
                1
            }
        },
        Request::Logs { .. } | Request::Events {} => unreachable!("streams are watched above"),
        Request::Restart { .. }
        | Request::Stop { .. }
        | Request::Start { .. }
        | Request::Reload { .. } => {
            // `start ONESHOT` ends with the run's code; a failed run says so on stderr.
            let code = response.code.unwrap_or(0);
            if json {
                let line = serde_json::to_string(&response).unwrap_or_default();
                let _ = writeln!(out, "{line}");
            } else if let Some(message) = &response.message {
                match code {
                    0 => writeln!(out, "{message}"),
                    _ => writeln!(err, "oxinit: {message}"),
                }
                .ok();
            }
            code
        }
    }
}

/// Connects to the first candidate that has a socket. A stale socket (no
/// one answers) is passed over for a later candidate, and reported when
/// there is none; a private directory that is not ours is refused.
fn connect(candidates: &[Candidate], uid: u32) -> Result<(UnixStream, PathBuf), ClientError> {
    let mut stale = None;
    for candidate in candidates {
        let path = candidate.path.clone();
        if let Some(dir) = &candidate.private_dir {
            match location::check_private(dir, uid) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(ClientError::Unsafe(e)),
            }
        }
        match UnixStream::connect(&path) {
            Ok(stream) => return Ok((stream, path)),
            Err(e) => match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {}
                io::ErrorKind::ConnectionRefused => {
                    stale.get_or_insert(path);
                }
                io::ErrorKind::PermissionDenied => {
                    return Err(ClientError::PermissionDenied {
                        owner: owner_of(&path),
                        path,
                    })
                }
                _ => return Err(ClientError::Connect { path, source: e }),
            },
        }
    }
    Err(match stale {
        Some(path) => ClientError::Stale { path },
        None => ClientError::NotRunning {
            tried: candidates.iter().map(|c| c.path.clone()).collect(),
        },
    })
}

/// Sends the request line and reads the response line, within the wait that
/// fits the request.
fn exchange(
    request: &Request,
    mut stream: UnixStream,
    path: &Path,
    options: &ClientOptions,
) -> Result<Response<serde_json::Value>, ClientError> {
    let path = path.to_path_buf();
    let talk = |source| ClientError::Talk {
        path: path.clone(),
        source,
    };

    let mut line = serde_json::to_vec(request).expect("a request always encodes");
    line.push(b'\n');
    stream
        .set_write_timeout(Some(options.answer_timeout))
        .map_err(talk)?;
    // Our side stays open for writing: the server takes a closed client as
    // one that gave up, so no shutdown(Write) here. A server that refuses us
    // (credentials) may answer and close before we finish writing: read its
    // answer before blaming the write.
    let sent = match stream.write_all(&line) {
        Err(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Err(talk(e))
        }
        sent => sent,
    };

    let (wait, hint) = match request.action() {
        Some((action, name)) => (
            options.command_timeout,
            format!("; the {action} of {name} may still complete: see `oxinit status`"),
        ),
        None => (options.answer_timeout, String::new()),
    };
    let deadline = Instant::now() + wait;
    let no_answer = || ClientError::NoAnswer {
        path: path.clone(),
        wait,
        hint: hint.clone(),
    };
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Per-read timeouts add up; a deadline bounds the whole answer even
        // from a server that dribbles it.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(no_answer());
        }
        stream.set_read_timeout(Some(left)).map_err(talk)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.contains(&b'\n') || answer.len() > MAX_ANSWER {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(no_answer())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The server closes right after refusing an over-long or
            // unauthorised request; what it sent before still counts.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !answer.is_empty() => break,
            Err(e) => return Err(talk(e)),
        }
    }
    let end = memchr::memchr(b'\n', &answer).unwrap_or(answer.len());
    if answer[..end].iter().all(u8::is_ascii_whitespace) {
        sent.map_err(talk)?;
        return Err(ClientError::Closed { path });
    }
    serde_json::from_slice(&answer[..end]).map_err(|e| ClientError::Garbled {
        path,
        reason: e.to_string(),
    })
}

/// "root", or "uid 1000", for the permission hint.
fn owner_of(socket: &Path) -> String {
    match std::fs::metadata(socket).map(|m| m.uid()) {
        Ok(0) | Err(_) => "root".to_string(),
        Ok(uid) => format!("uid {uid}"),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
