//! What a control client asks the supervisor to do with one process, and the
//! envelope that carries the request and its answer: the words the control
//! socket and the supervisor share. A leaf, so neither imports the other.

use std::fmt;
use tokio::sync::oneshot;

/// What a client asks the supervisor to do with one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Stop it (its stop signal, then SIGKILL after its stop_timeout) and
    /// start it again.
    Restart,
    /// Stop it and keep it stopped, whatever its restart policy, until started.
    Stop,
    /// Start a stopped (or failed, or not yet started) process; a oneshot
    /// is answered when it has finished, with its exit code.
    Start,
    /// Start a new instance of a running service beside the old one, and
    /// stop the old one once the new one is ready.
    Reload,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Restart => "restart",
            Verb::Stop => "stop",
            Verb::Start => "start",
            Verb::Reload => "reload",
        })
    }
}

/// A request for the supervisor. It answers through `reply` once the action
/// is done (`Ok("api restarted (pid 42)")`) or refused
/// (`Err("no process named \"apx\"; processes: api, worker")`); the message
/// goes to the client as is.
#[derive(Debug)]
pub struct Command {
    pub action: Verb,
    pub name: String,
    pub reply: oneshot::Sender<Answer>,
}

/// The supervisor's answer to a [`Command`]: done (with its message) or
/// refused (with the reason), and for a run waited for, its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub result: Result<String, String>,
    /// `oxinit start ONESHOT`: the run's exit code, the client's own.
    pub code: Option<i32>,
}

impl From<Result<String, String>> for Answer {
    fn from(result: Result<String, String>) -> Answer {
        Answer { result, code: None }
    }
}
