//! One bounded `GET` of another program's `/metrics`.
//!
//! HTTP/1.0 on purpose: a server must then end the body by closing the
//! connection or give a Content-Length, never switch to chunked encoding,
//! so reading is "until the length, or until EOF", with a cap on the bytes.
//! The whole exchange (connect, write, read) is one future under one
//! deadline (the caller's timeout): a stopped exporter (SIGSTOP, a full
//! listen backlog) costs one timeout and parks only its own task.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a fetch gave nothing to include.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {addr}: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("{0}")]
    Io(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the answer is not HTTP: {0}")]
    Malformed(String),
    #[error("the answer is larger than {max} bytes; raise [metrics] include_max_size")]
    TooLarge { max: u64 },
    #[error("the answer is chunked, which HTTP/1.0 does not allow")]
    Chunked,
    #[error("no complete answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// The body of a 200 answer to `GET path`, at most `max` bytes of it, as text
/// (invalid UTF-8 replaced). No timeout here: the caller wraps it.
pub async fn get(addr: SocketAddr, host: &str, path: &str, max: u64) -> Result<String, FetchError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| FetchError::Connect {
            addr,
            why: e.to_string(),
        })?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain;version=0.0.4\r\n\
         User-Agent: oxinit/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let io = |e: std::io::Error| FetchError::Io(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    // Head and body together may be up to max + 16 KiB of headers.
    let limit = max.saturating_add(16 * 1024);
    let mut buf = Vec::with_capacity(64 * 1024);
    let (status, body_start, length) = loop {
        if let Some(head) = parse_head(&buf)? {
            break head;
        }
        if buf.len() as u64 > limit {
            return Err(FetchError::TooLarge { max });
        }
        if read_some(&mut stream, &mut buf).await.map_err(io)? == 0 {
            return Err(FetchError::Malformed(
                "the connection closed before the headers ended".into(),
            ));
        }
    };
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    if length.is_some_and(|n| n > max) {
        return Err(FetchError::TooLarge { max });
    }
    let mut body = buf.split_off(body_start);
    loop {
        if body.len() as u64 > max {
            return Err(FetchError::TooLarge { max });
        }
        if length.is_some_and(|n| body.len() as u64 >= n) {
            body.truncate(length.unwrap_or(0) as usize);
            break;
        }
        if read_some(&mut stream, &mut body).await.map_err(io)? == 0 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// `Some((status, where the body starts, Content-Length))` once the head is
/// complete.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, Option<u64>)>, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let end = match response.parse(buf) {
        Ok(httparse::Status::Complete(end)) => end,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FetchError::Malformed(e.to_string())),
    };
    let mut length = None;
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse().map_err(|_| {
                FetchError::Malformed(format!("Content-Length {value:?} is not a number"))
            })?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Err(FetchError::Chunked);
        }
    }
    Ok(Some((response.code.unwrap_or(0), end, length)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers one connection with `answer`, then closes.
    async fn serve_once(answer: Vec<u8>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request).await;
            let _ = s.write_all(&answer).await;
        });
        addr
    }

    #[tokio::test]
    async fn body_until_eof_or_length() {
        let addr = serve_once(b"HTTP/1.0 200 OK\r\n\r\na 1\nb 2\n".to_vec()).await;
        assert_eq!(get(addr, "h", "/metrics", 100).await.unwrap(), "a 1\nb 2\n");
        let addr =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na 1\nxx".to_vec()).await;
        assert_eq!(get(addr, "h", "/metrics", 100).await.unwrap(), "a 1\n");
    }

    #[tokio::test]
    async fn refusals() {
        let addr = serve_once(b"HTTP/1.0 404 Not Found\r\n\r\nno".to_vec()).await;
        assert_eq!(get(addr, "h", "/", 100).await, Err(FetchError::Status(404)));
        let big = [b"HTTP/1.0 200 OK\r\n\r\n".to_vec(), vec![b'a'; 5000]].concat();
        let addr = serve_once(big).await;
        assert_eq!(
            get(addr, "h", "/", 1000).await,
            Err(FetchError::TooLarge { max: 1000 })
        );
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec()).await;
        assert_eq!(
            get(addr, "h", "/", 1000).await,
            Err(FetchError::TooLarge { max: 1000 })
        );
        let addr =
            serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()).await;
        assert_eq!(get(addr, "h", "/", 1000).await, Err(FetchError::Chunked));
        let addr = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()).await;
        assert!(matches!(
            get(addr, "h", "/", 1000).await,
            Err(FetchError::Malformed(_))
        ));
    }
}
