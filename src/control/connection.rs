//! One connection: check who it is, read one bounded request line, answer it,
//! close. Every wait has a deadline, so a stuck client only ever holds its
//! own task (and one of the connection slots, for a bounded time).

use super::admission::Ticket;
use super::limits::Limits;
pub(super) use super::shared::Shared;
use super::{Action, Command, Request, Response, Snapshot};
use crate::units::format_duration;
use std::fmt;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

/// Who is on the other end, for the log.
struct Peer {
    uid: u32,
    pid: Option<i32>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "uid {}, pid {pid}", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// Why no request could be read.
enum ReadError {
    /// The client closed without sending anything (a liveness probe, such
    /// as another oxinit checking whether this socket is stale).
    Empty,
    TooLong,
    Idle,
    /// Told to make room for a newcomer before the request was complete.
    MadeRoom,
    Io(std::io::Error),
}

pub(super) async fn handle(mut stream: UnixStream, shared: &Shared, mut ticket: Ticket) {
    let Some(peer) = authorize(&mut stream, shared).await else {
        return;
    };
    let make_room = ticket.make_room.take();
    let Some(request) = receive(&mut stream, shared, &peer, make_room).await else {
        return;
    };
    ticket.received();
    let snapshot = shared.snapshot.borrow().clone();
    if let Request::Logs { .. } | Request::Events {} = request {
        let who = peer.to_string();
        if let Err(refusal) =
            super::stream::follow(&mut stream, shared, &who, &ticket, request).await
        {
            send_error(&mut stream, refusal, &shared.limits).await;
        }
        return;
    }
    let line = match request.action() {
        Some((action, name)) => {
            let Some(_slot) = ticket.command() else {
                let max = shared.limits.max_commands;
                shared.warn(format_args!(
                    "control: refused {action} {name} from {peer}: {max} commands are running"
                ));
                let busy = format!(
                    "oxinit is busy: {max} restart/stop/start commands are running; try again when one is done"
                );
                send_error(&mut stream, busy, &shared.limits).await;
                return;
            };
            match command(&mut stream, shared, &peer, &snapshot, action, name).await {
                Some(response) => response.to_line(),
                None => return,
            }
        }
        None if matches!(request, Request::Health {}) => {
            let verdict = crate::sqlite::freshness::judge(snapshot.health());
            Response::<()> {
                healthy: Some(verdict.is_ok()),
                problems: verdict.err().unwrap_or_default(),
                ..Response::done(None)
            }
            .to_line()
        }
        None => Response {
            snapshot: Some(&super::stream::with_last_stderr(&snapshot, shared)),
            ..Response::done(None)
        }
        .to_line(),
    };
    send(&mut stream, &line, shared.limits.write_timeout).await;
}

/// Who the client is, if it may use the socket; others get an error answer.
async fn authorize(stream: &mut UnixStream, shared: &Shared) -> Option<Peer> {
    let peer = match stream.peer_cred() {
        Ok(cred) => Peer {
            uid: cred.uid(),
            pid: cred.pid(),
        },
        Err(e) => {
            shared.warn(format_args!(
                "control: cannot read a client's credentials (SO_PEERCRED): {e}; refused"
            ));
            return None;
        }
    };
    if shared.allowed_uids.contains(&peer.uid) {
        return Some(peer);
    }
    shared.warn(format_args!(
        "control: refused a client ({peer}): only root and oxinit's own user may use the control socket"
    ));
    let who = match shared.allowed_uids.as_slice() {
        [_, own] => format!("root and uid {own}"),
        _ => "root".to_string(),
    };
    let error = format!(
        "permission denied: uid {} may not control this oxinit (only {who} may); run as the socket's owner",
        peer.uid
    );
    send_error(stream, error, &shared.limits).await;
    None
}

/// The client's request; a bad one (too long, too slow, not one of ours) is
/// answered with an error, logged, and None.
async fn receive(
    stream: &mut UnixStream,
    shared: &Shared,
    peer: &Peer,
    make_room: Option<oneshot::Receiver<()>>,
) -> Option<Request> {
    let limits = &shared.limits;
    let error = match read_request(stream, limits, make_room).await {
        Ok(line) => match serde_json::from_slice(&line) {
            Ok(request) => return Some(request),
            Err(e) => {
                shared.warn(format_args!(
                    "control: refused a malformed request from {peer}: {e}: {}",
                    excerpt(&line)
                ));
                format!(
                    "malformed request: {e}; expected one JSON line: {{\"cmd\":\"status\"}}, {{\"cmd\":\"health\"}}, or {{\"cmd\":\"restart\"|\"stop\"|\"start\",\"name\":\"NAME\"}}"
                )
            }
        },
        Err(ReadError::Empty) => {
            tracing::debug!("control: a client ({peer}) closed without a request");
            return None;
        }
        Err(ReadError::Io(e)) => {
            tracing::debug!("control: reading from a client ({peer}) failed: {e}");
            return None;
        }
        Err(ReadError::TooLong) => {
            shared.warn(format_args!(
                "control: refused a request from {peer}: longer than {} bytes",
                limits.max_request
            ));
            format!(
                "request too long: at most {} bytes, one JSON line",
                limits.max_request
            )
        }
        Err(ReadError::MadeRoom) => {
            shared.warn(format_args!(
                "control: dropped a client ({peer}) that had sent no request, to make room for a new one"
            ));
            "dropped to make room for another client: send the request line right after connecting"
                .to_string()
        }
        Err(ReadError::Idle) => {
            let idle = format_duration(limits.request_timeout);
            shared.warn(format_args!(
                "control: dropped a client ({peer}) that sent no request within {idle}"
            ));
            format!("no request within {idle}: send one JSON line such as {{\"cmd\":\"status\"}}")
        }
    };
    send_error(stream, error, limits).await;
    None
}

/// Hands a command to the supervisor and waits for its answer. None when the
/// client hung up first (the command still runs: it was asked for).
async fn command(
    stream: &mut UnixStream,
    shared: &Shared,
    peer: &Peer,
    snapshot: &Snapshot,
    action: Action,
    name: &str,
) -> Option<Response<()>> {
    // The supervisor knows the names too; checking here answers a typo at
    // once, even while the supervisor is busy stopping something.
    if !snapshot.processes.is_empty() && !snapshot.processes.iter().any(|p| p.name == name) {
        let names: Vec<&str> = snapshot.processes.iter().map(|p| p.name.as_str()).collect();
        return Some(Response::error(format!(
            "no process named {name:?}; processes: {}",
            names.join(", ")
        )));
    }
    tracing::info!("control: {action} {name} (asked by {peer})");
    let (reply, answer) = oneshot::channel();
    let request = Command {
        action,
        name: name.to_string(),
        reply,
    };
    let limit = shared.limits.command_timeout;
    let exchange = async {
        shared
            .commands
            .send(request)
            .await
            .map_err(|_| "oxinit is not taking commands (it is shutting down)".to_string())?;
        answer.await.map_err(|_| {
            format!(
                "oxinit dropped the {action} of {name} without an answer (is it shutting down?)"
            )
        })
    };
    let outcome = tokio::select! {
        outcome = timeout(limit, exchange) => outcome,
        () = hang_up(stream) => {
            tracing::info!("control: the client ({peer}) left before the {action} of {name} was done; it goes on");
            return None;
        }
    };
    Some(match outcome {
        Ok(Ok(crate::verb::Answer {
            result: Ok(message),
            code,
        })) => {
            tracing::info!("control: {message}");
            Response {
                code,
                ..Response::done(Some(message))
            }
        }
        Ok(
            Ok(crate::verb::Answer {
                result: Err(error), ..
            })
            | Err(error),
        ) => {
            tracing::info!("control: {action} {name} refused: {error}");
            Response::error(error)
        }
        Err(_) => {
            tracing::warn!(
                "control: no answer to {action} {name} within {}",
                format_duration(limit)
            );
            Response::error(format!(
                "no answer from the supervisor within {}; the {action} of {name} may still complete: see `oxinit status`",
                format_duration(limit)
            ))
        }
    })
}

/// Reads one line of at most `max_request` bytes (the newline excluded),
/// within `request_timeout` from the start. A client that shuts down its
/// write side instead of sending a newline is taken at its word. Told to
/// `make_room`, it reads what has arrived without waiting: a complete
/// request is still served.
async fn read_request(
    stream: &mut UnixStream,
    limits: &Limits,
    make_room: Option<oneshot::Receiver<()>>,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(256);
    let mut told = false;
    let outcome = {
        let read = read_line(stream, &mut buf, limits.max_request);
        tokio::pin!(read);
        let make_room = async {
            if let Some(rx) = make_room {
                // A dropped sender (the table is gone) is no order.
                if rx.await.is_ok() {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            biased;
            outcome = &mut read => Some(outcome),
            () = make_room => {
                told = true;
                None
            }
            () = tokio::time::sleep(limits.request_timeout) => return Err(ReadError::Idle),
        }
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => last_read(stream, &mut buf, limits.max_request),
    };
    match outcome {
        Ok(()) if buf.len() > limits.max_request => Err(ReadError::TooLong),
        Ok(()) => Ok(buf),
        Err(ReadError::Idle) if told => Err(ReadError::MadeRoom),
        Err(e) => Err(e),
    }
}

/// Reads into `buf` until a newline (cut off) or the end of input.
async fn read_line(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), ReadError> {
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if let Some(done) = take(buf, &chunk[..n], max) {
            return done;
        }
    }
}

/// [`read_line`] without waiting: what has arrived must hold the whole
/// line, else `Idle`. A plain read(2) on the (non-blocking) socket, not
/// tokio's `try_read`: that one answers WouldBlock without asking the kernel
/// until the event loop has seen the socket readable, and under a flood of
/// connections it may not have yet, though the request is there.
fn last_read(stream: &mut UnixStream, buf: &mut Vec<u8>, max: usize) -> Result<(), ReadError> {
    use nix::errno::Errno;
    let mut chunk = [0u8; 1024];
    loop {
        match nix::unistd::read(&*stream, &mut chunk) {
            Ok(n) => {
                if let Some(done) = take(buf, &chunk[..n], max) {
                    return done;
                }
            }
            Err(Errno::EAGAIN) => return Err(ReadError::Idle),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(ReadError::Io(e.into())),
        }
    }
}

/// Adds a chunk read to `buf`; Some when the line is complete (or cannot
/// be). An empty chunk is the end of input.
fn take(buf: &mut Vec<u8>, chunk: &[u8], max: usize) -> Option<Result<(), ReadError>> {
    if chunk.is_empty() {
        return Some(if buf.iter().all(u8::is_ascii_whitespace) {
            Err(ReadError::Empty)
        } else {
            Ok(())
        });
    }
    let start = buf.len();
    buf.extend_from_slice(chunk);
    if let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
        buf.truncate(start + i);
        return Some(Ok(()));
    }
    (buf.len() > max).then_some(Err(ReadError::TooLong))
}

/// Resolves when the client has gone (closed its socket, or the connection
/// broke). Bytes after the request line are read and ignored.
async fn hang_up(stream: &mut UnixStream) {
    let mut sink = [0u8; 256];
    loop {
        match stream.read(&mut sink).await {
            Ok(0) => break,
            Ok(_) => continue,
            Err(_) => return,
        }
    }
    // End of input means the client closed, or only shut down its sending
    // side and still waits for the answer (`socat`, `nc -N`). Only a closed
    // peer makes our side unwritable (EPOLLHUP); a half-close never does.
    loop {
        match stream.ready(Interest::WRITABLE).await {
            Ok(ready) if !ready.is_write_closed() => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn send_error(stream: &mut UnixStream, error: String, limits: &Limits) {
    send(
        stream,
        &Response::<()>::error(error).to_line(),
        limits.write_timeout,
    )
    .await;
}

/// Writes the answer and closes our side; a client that does not read it in
/// time is dropped.
async fn send(stream: &mut UnixStream, line: &[u8], limit: Duration) {
    let write = async {
        stream.write_all(line).await?;
        stream.shutdown().await
    };
    match timeout(limit, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("control: cannot answer a client: {e}"),
        Err(_) => tracing::debug!("control: a client did not read its answer; dropped"),
    }
}

/// The start of a bad request, printable, for the log.
fn excerpt(line: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(&line[..line.len().min(MAX)]);
    let mut out: String = text.escape_debug().collect();
    if line.len() > MAX {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last read before making room must see a request that has
    /// arrived even though the event loop has not run since.
    #[test]
    fn the_last_read_finds_a_request_the_event_loop_has_not_seen() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut ours, theirs) = UnixStream::pair().unwrap();
            let mut theirs = theirs.into_std().unwrap();
            std::io::Write::write_all(&mut theirs, b"{\"cmd\":\"health\"}\nrest").unwrap();
            let mut buf = Vec::new();
            assert!(last_read(&mut ours, &mut buf, 4096).is_ok());
            assert_eq!(buf, br#"{"cmd":"health"}"#);

            // A partial request is not one.
            let (mut ours, theirs) = UnixStream::pair().unwrap();
            let mut theirs = theirs.into_std().unwrap();
            std::io::Write::write_all(&mut theirs, b"{\"cmd\":").unwrap();
            let mut buf = Vec::new();
            assert!(matches!(
                last_read(&mut ours, &mut buf, 4096),
                Err(ReadError::Idle)
            ));
        });
    }
}
