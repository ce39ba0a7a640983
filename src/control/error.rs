//! What can go wrong when oxinit sets up its control socket.

use std::io;
use std::path::PathBuf;

/// The hint every error ends with: where the operator chooses another path.
const CHOOSE: &str = "set [init] control_socket or OXINIT_SOCKET";

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot create {dir}, the directory of the control socket: {source}; {CHOOSE} to a writable place")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot listen on the control socket {path}: {source}; {CHOOSE} to a path oxinit may write"
    )]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("another oxinit is already answering on the control socket {path}; stop it, or {CHOOSE} to give this one its own")]
    InUse { path: PathBuf },

    #[error("{path} exists and is not a socket; remove it, or {CHOOSE} to another path")]
    NotASocket { path: PathBuf },

    #[error("cannot check the existing control socket {path}: {source}; remove it, or {CHOOSE} to another path")]
    Probe {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{dir} is not safe for the control socket: {problem}; another user may have made it to read or replace the socket (the /tmp squatting attack): remove it and oxinit makes it anew, or {CHOOSE} to another path")]
    UnsafeDir { dir: PathBuf, problem: String },

    #[error("cannot make the control socket {path} private (chmod 0600): {source}")]
    Chmod {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
