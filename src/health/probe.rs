//! One HTTP or TCP health probe.
//!
//! Each probe is a future wrapped whole (connect, write, read) in one
//! `tokio::time::timeout`, so a hung endpoint costs exactly one timeout and
//! never blocks the supervisor or another probe: they all share the one
//! runtime thread and only ever await. Addresses arrive resolved (the oxfile
//! parser reads them without DNS, `config/address.rs`): no DNS here.
//!
//! The HTTP probe reads the status line and nothing more (at most 4 KiB, so
//! a server that streams garbage cannot make us buffer it), then drops the
//! connection; the answer's headers and body do not matter to a health check.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most we read looking for the status line.
const MAX_HEAD: usize = 4096;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Healthy,
    /// Why, for the log and `oxinit status`: `HTTP 503`, `127.0.0.1:3000:
    /// connection refused`.
    Unhealthy(String),
    /// No answer within the probe's timeout.
    TimedOut,
    /// During a reload: the connection was accepted by another instance, or
    /// by nobody yet; the answer says nothing of this one.
    NotCounted(String),
}

/// During a reload, the instance a probe is for: its pid, and where /proc is.
#[derive(Debug, Clone)]
pub struct ForInstance {
    pub pid: i32,
    pub proc_root: std::path::PathBuf,
}

/// How often the accepted end is looked for while the app has not
/// accepted the connection yet.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// `GET path` over HTTP/1.1 with `Host: host`: healthy on a 2xx or 3xx
/// status. `host` is the Host header as the URL wrote it (`localhost:3000`),
/// see [`super::HttpTarget`].
#[cfg(test)]
pub async fn http(addr: SocketAddr, host: &str, path: &str, timeout: Duration) -> Outcome {
    http_for(addr, host, path, timeout, None).await
}

/// [`http`], counted only when a process of `instance` accepted the
/// connection (see [`super::accepted`]); the request is sent after that
/// is known, while the server still holds the connection.
pub async fn http_for(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
    instance: Option<ForInstance>,
) -> Outcome {
    let attributed = AtomicBool::new(instance.is_none());
    let exchange = http_exchange(addr, host, path, instance, &attributed);
    match tokio::time::timeout(timeout, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => timed_out(&attributed, timeout),
    }
}

/// The outcome of a probe its timeout cut short: not counted when no
/// process had accepted its connection yet (during a reload).
fn timed_out(attributed: &AtomicBool, timeout: Duration) -> Outcome {
    match attributed.load(Ordering::Relaxed) {
        true => Outcome::TimedOut,
        false => Outcome::NotCounted(format!(
            "no process accepted the connection within {}",
            crate::units::format_duration(timeout)
        )),
    }
}

/// Healthy when a TCP connection to `addr` opens.
#[cfg(test)]
pub async fn tcp(addr: SocketAddr, timeout: Duration) -> Outcome {
    tcp_for(addr, timeout, None).await
}

/// [`tcp`], counted only when a process of `instance` accepted it.
pub async fn tcp_for(
    addr: SocketAddr,
    timeout: Duration,
    instance: Option<ForInstance>,
) -> Outcome {
    let attributed = AtomicBool::new(true);
    let exchange = async {
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(err) => return Outcome::Unhealthy(connect_failure(addr, &err)),
        };
        let Some(instance) = instance else {
            return Outcome::Healthy;
        };
        attributed.store(false, Ordering::Relaxed);
        attribute(&stream, addr, &instance)
            .await
            .unwrap_or(Outcome::Healthy)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => timed_out(&attributed, timeout),
    }
}

/// Waits until some process has accepted `stream`'s connection: None when
/// it is one of `instance`'s, else the outcome that says who did.
async fn attribute(
    stream: &TcpStream,
    addr: SocketAddr,
    instance: &ForInstance,
) -> Option<Outcome> {
    use super::accepted::{answered_by, Answered};
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(err) => return Some(Outcome::NotCounted(format!("{addr}: {err}"))),
    };
    loop {
        match answered_by(&instance.proc_root, local, addr, instance.pid) {
            Answered::Instance => return None,
            Answered::Other(pid) => {
                let who = pid.map_or(
                    "a process whose descriptors oxinit cannot read".into(),
                    |p| format!("pid {p}"),
                );
                return Some(Outcome::NotCounted(format!(
                    "{addr}: accepted by {who}, not this instance (pid {})",
                    instance.pid
                )));
            }
            // The caller's timeout ends the wait.
            Answered::NotYet => tokio::time::sleep(ACCEPT_POLL).await,
        }
    }
}

async fn http_exchange(
    addr: SocketAddr,
    host: &str,
    path: &str,
    instance: Option<ForInstance>,
    attributed: &AtomicBool,
) -> Outcome {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => {
            attributed.store(true, Ordering::Relaxed);
            return Outcome::Unhealthy(connect_failure(addr, &err));
        }
    };
    if let Some(instance) = &instance {
        if let Some(outcome) = attribute(&stream, addr, instance).await {
            return outcome;
        }
        attributed.store(true, Ordering::Relaxed);
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: oxinit/{}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Err(err) = stream.write_all(request.as_bytes()).await {
        return Outcome::Unhealthy(format!("{addr}: sending the request failed: {err}"));
    }
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        match status_of(&head) {
            Status::Final(code) if (200..400).contains(&code) => return Outcome::Healthy,
            Status::Final(code) => return Outcome::Unhealthy(format!("HTTP {code}")),
            Status::Garbage => {
                return Outcome::Unhealthy(format!("not an HTTP response: {}", preview(&head)))
            }
            Status::Incomplete if head.len() >= MAX_HEAD => {
                return Outcome::Unhealthy(format!(
                    "no HTTP status line in the first {MAX_HEAD} bytes: {}",
                    preview(&head)
                ))
            }
            Status::Incomplete => {}
        }
        let room = (MAX_HEAD - head.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]).await {
            Ok(0) if head.is_empty() => {
                return Outcome::Unhealthy(format!("{addr}: connection closed without an answer"))
            }
            Ok(0) => {
                return Outcome::Unhealthy(format!(
                    "{addr}: connection closed inside the status line: {}",
                    preview(&head)
                ))
            }
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err) => return Outcome::Unhealthy(format!("{addr}: reading the answer: {err}")),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Status {
    Incomplete,
    Final(u16),
    Garbage,
}

/// The final status in the bytes read so far. Interim 1xx answers (103
/// Early Hints) come with their own header block before the real answer.
fn status_of(mut head: &[u8]) -> Status {
    loop {
        let Some(line_end) = head.iter().position(|&b| b == b'\n') else {
            // Judge a partial line as soon as it cannot become a status line.
            let prefix = &head[..head.len().min(5)];
            return if b"HTTP/".starts_with(prefix) {
                Status::Incomplete
            } else {
                Status::Garbage
            };
        };
        let line = &head[..line_end];
        let Some(code) = parse_status_line(line) else {
            return Status::Garbage;
        };
        if !(100..200).contains(&code) {
            return Status::Final(code);
        }
        // Skip the interim answer's headers up to its blank line.
        let Some(blank) = find_blank_line(&head[line_end + 1..]) else {
            return Status::Incomplete;
        };
        head = &head[line_end + 1 + blank..];
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/")?;
    let mut parts = rest.splitn(3, |&b| b == b' ');
    let version = parts.next()?;
    if version.is_empty() || !version.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The index just past the first empty line (`\r\n\r\n` or `\n\n`).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            let line = &bytes[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// The start of an answer, quoted for a log line.
fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(60)];
    let mut text = format!("{:?}", String::from_utf8_lossy(shown));
    if bytes.len() > shown.len() {
        text.push('…');
    }
    text
}

fn connect_failure(addr: SocketAddr, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => format!("{addr}: connection refused"),
        _ => format!("{addr}: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Status::Final(200));
        assert_eq!(status_of(b"HTTP/1.0 503 Busy\n"), Status::Final(503));
        assert_eq!(status_of(b"HTTP/2 204\r\n"), Status::Final(204));
        assert_eq!(status_of(b"HTTP/1.1 200 OK"), Status::Incomplete);
        assert_eq!(status_of(b"HTT"), Status::Incomplete);
        assert_eq!(status_of(b""), Status::Incomplete);
        assert_eq!(status_of(b"SSH-2.0-OpenSSH"), Status::Garbage);
        assert_eq!(status_of(b"HTTP/1.1 2000 OK\r\n"), Status::Garbage);
        assert_eq!(status_of(b"HTTP/1.1 OK\r\n"), Status::Garbage);
        let early_hints =
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 500 Oops\r\n";
        assert_eq!(status_of(early_hints), Status::Final(500));
        assert_eq!(status_of(&early_hints[..30]), Status::Incomplete);
        assert_eq!(status_of(&early_hints[..50]), Status::Incomplete);
    }
}
