//! The wire format: one JSON request line, one JSON response line.

use super::Action;
use serde::{Deserialize, Serialize};

/// A request line: `{"cmd":"status"}`, `{"cmd":"health"}`,
/// `{"cmd":"restart","name":"api"}`, `{"cmd":"stop",…}`, `{"cmd":"start",…}`, `{"cmd":"reload",…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// The latest snapshot of every process.
    // Empty struct variants, not unit ones: serde ignores deny_unknown_fields
    // on unit variants of an internally tagged enum (serde-rs/serde#2123).
    Status {},
    /// Whether boot finished and every service is up and ready.
    Health {},
    Restart {
        name: String,
    },
    Stop {
        name: String,
    },
    Start {
        name: String,
    },
    /// The last `lines` lines of each of `names` (every process when
    /// empty), then, with `follow`, each new line until the client leaves.
    Logs {
        #[serde(default)]
        names: Vec<String>,
        lines: usize,
        #[serde(default)]
        follow: bool,
    },
    /// Every event from now on, until the client leaves.
    Events {},
    Reload {
        name: String,
    },
}

impl Request {
    /// The action on one process this request asks for, if it is one.
    pub fn action(&self) -> Option<(Action, &str)> {
        match self {
            Request::Status {} | Request::Health {} | Request::Logs { .. } | Request::Events {} => {
                None
            }
            Request::Restart { name } => Some((Action::Restart, name)),
            Request::Stop { name } => Some((Action::Stop, name)),
            Request::Start { name } => Some((Action::Start, name)),
            Request::Reload { name } => Some((Action::Reload, name)),
        }
    }
}

/// After `{"ok":true}`, a stream answers one of these a line.
///
/// ```text
/// → {"cmd":"logs","names":["api"],"lines":2,"follow":true}
/// ← {"ok":true}
/// ← {"process":"api","at_ms":1795000000123,"stream":"stdout","line":"GET / 200"}
/// ← {"lost":1234}                       (the client read too slowly)
/// → {"cmd":"events"}
/// ← {"ok":true}
/// ← {"at":1795000000.5,"event":"exited","process":"api","code":3,…}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Item<T> {
    /// So many lines (or events) were dropped before this client read them.
    Lost {
        lost: u64,
    },
    One(T),
}

/// One line of `oxinit logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogItem {
    pub process: String,
    /// When the relay read it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// "stdout" or "stderr".
    pub stream: String,
    /// Invalid UTF-8 replaced by U+FFFD.
    pub line: String,
    /// Only the start of a line longer than the process's `log_buffer_bytes`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// A response line. `ok` says whether the request was carried out; `error`
/// says why not. The server sends `Response<&Snapshot>`, the client reads
/// `Response<Snapshot>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response<S> {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `start ONESHOT`: the run's exit code, which the client exits with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// `status`: the whole picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<S>,
    /// `health`: the verdict of `Snapshot::health`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// …and its reasons when unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// `logs`: the processes whose lines follow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

impl<S> Response<S> {
    pub fn error(error: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(error.into()),
            ..Response::done(None)
        }
    }

    pub fn done(message: Option<String>) -> Self {
        Response {
            ok: true,
            message,
            code: None,
            error: None,
            snapshot: None,
            healthy: None,
            problems: Vec::new(),
            names: Vec::new(),
        }
    }
}

impl<S: Serialize> Response<S> {
    /// The response as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        to_line(self)
    }
}

/// `value` as one JSON line, newline included.
pub fn to_line(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain structs of strings and numbers cannot fail; if it
    // ever did, the client still gets a well-formed error line.
    let mut line = serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!("control: cannot encode an answer: {e}");
        br#"{"ok":false,"error":"oxinit could not encode its answer (see its log)"}"#.to_vec()
    });
    line.push(b'\n');
    line
}
