//! The receiving end of systemd's notify protocol (`sd_notify(3)`), so an
//! app that already reports `READY=1` under systemd works unchanged.
//!
//! Each process that asks for it gets its own Unix datagram socket; its path
//! goes into the child's `NOTIFY_SOCKET`. One socket per process means the
//! socket itself says who is talking: no `SCM_CREDENTIALS` bookkeeping, and
//! any descendant of the process may send (systemd's `NotifyAccess=all`).
//!
//! Why a path and not an abstract name (`@oxinit/api`): an abstract socket
//! has no permissions at all (anything in the network namespace can send it
//! `READY=1`), while a file can be `0600` and owned by the process's user.
//! Every sd_notify client (libsystemd, the Go/Python/Node ports,
//! `systemd-notify`) speaks paths, and a path can be looked at with `ls`.
//! The price, removing the file, is paid by `Drop` and by the next `bind`.
//!
//! Permissions: the file is chmod `0600` and, for a process that runs as
//! another user, chowned to that user, so a child that dropped privileges can
//! still send and nobody else can. The directory must let that user pass
//! through (`0711`, as [`super::rundir::default_dir`] makes it). Datagrams that slipped in
//! before the permissions were set are discarded.
//!
//! Passed file descriptors: the receive uses plain `recv(2)` with no control
//! buffer. For a datagram carrying `SCM_RIGHTS` (`FDSTORE=1`), the kernel
//! then sets `MSG_CTRUNC` and releases the in-flight files itself
//! (`scm_recv` → `scm_destroy`): they are never installed in oxinit's fd
//! table, so a client cannot leak descriptors into PID 1. (The fd store is not
//! supported.)

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixDatagram;

/// Largest notify message, as systemd (`NOTIFY_BUFFER_MAX` = `PIPE_BUF`).
pub const MAX_MESSAGE: usize = 4096;

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// One line of a notify message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`: startup finished.
    Ready,
    /// `STOPPING=1`: the service is shutting down.
    Stopping,
    /// `RELOADING=1`: the service is reloading its configuration.
    Reloading,
    /// `STATUS=…`: free text for `oxinit status`.
    Status(String),
    /// `WATCHDOG=1`: the keep-alive ping.
    Watchdog,
    /// `WATCHDOG=trigger`: the service asks to be treated as hung.
    WatchdogTrigger,
    /// `MAINPID=…`: the service's main process is another pid.
    MainPid(i32),
    /// Any other `KEY=VALUE` (`ERRNO=`, `EXTEND_TIMEOUT_USEC=`, `READY=0`…),
    /// for a debug log; nothing acts on it.
    Other(String, String),
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{name:?} cannot name a notify socket: {why}")]
    InvalidName { name: String, why: &'static str },

    #[error(
        "notify socket path {path} is {len} bytes, over the Unix limit of {MAX_SOCKET_PATH}: \
         use a shorter directory or process name"
    )]
    PathTooLong { path: PathBuf, len: usize },

    #[error("{path} exists and is not a socket; remove it or choose another directory")]
    NotASocket { path: PathBuf },

    #[error("failed to remove the stale notify socket {path}: {source}")]
    RemoveStale { path: PathBuf, source: io::Error },

    #[error(
        "failed to bind the notify socket {path}: {source}{}",
        bind_hint(source)
    )]
    Bind { path: PathBuf, source: io::Error },

    #[error("failed to set permissions on the notify socket {path}: {source}")]
    Permissions { path: PathBuf, source: io::Error },

    #[error(
        "failed to give the notify socket {path} to uid {uid} gid {gid}: {source} \
         (only root can run a process as another user)"
    )]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: io::Error,
    },

    #[error(
        "uid {uid} cannot reach sockets in {dir} (mode {mode:o}): run `chmod o+x {dir}` \
         or use a directory such as /run/oxinit (mode 711)"
    )]
    DirNotSearchable { dir: PathBuf, uid: u32, mode: u32 },

    #[error("failed to read {dir}: {source}")]
    Dir { dir: PathBuf, source: io::Error },
}

fn bind_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::NotFound => " (the directory does not exist)",
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            " (the directory is not writable: see health::rundir::default_dir)"
        }
        _ => "",
    }
}

/// A bound notify socket. Dropping it removes the file.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    /// (device, inode) of the file we bound, so `Drop` never removes a
    /// newer socket bound at the same path.
    identity: (u64, u64),
}

impl NotifySocket {
    /// Binds `<dir>/notify-<process>.sock`, replacing a stale socket file.
    /// `owner` is the process's (uid, gid) when it runs as another user.
    /// Must be called inside the tokio runtime (it registers the socket).
    pub fn bind(
        dir: &Path,
        process: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<NotifySocket, NotifyError> {
        check_name(process)?;
        let path = dir.join(format!("notify-{process}.sock"));
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(NotifyError::PathTooLong { path, len });
        }
        if let Some((uid, gid)) = owner {
            check_searchable(dir, uid, gid)?;
        }
        remove_stale(&path)?;
        let socket = UnixDatagram::bind(&path).map_err(|source| NotifyError::Bind {
            path: path.clone(),
            source,
        })?;
        // From here on the value owns the file: an error below drops it,
        // and Drop removes the file.
        let mut bound = NotifySocket {
            socket,
            path,
            identity: (0, 0),
        };
        let metadata =
            fs::symlink_metadata(&bound.path).map_err(|source| NotifyError::Permissions {
                path: bound.path.clone(),
                source,
            })?;
        bound.identity = (metadata.dev(), metadata.ino());
        // bind(2) created the file with 0777 & ~umask; sending needs write
        // permission, so 0600 admits the owner only.
        fs::set_permissions(&bound.path, fs::Permissions::from_mode(0o600)).map_err(|source| {
            NotifyError::Permissions {
                path: bound.path.clone(),
                source,
            }
        })?;
        if let Some((uid, gid)) = owner {
            if (metadata.uid(), metadata.gid()) != (uid, gid) {
                std::os::unix::fs::chown(&bound.path, Some(uid), Some(gid)).map_err(|source| {
                    NotifyError::Chown {
                        path: bound.path.clone(),
                        uid,
                        gid,
                        source,
                    }
                })?;
            }
        }
        // Anything that arrived while the file was still open to others
        // cannot come from the process, which has not started yet.
        bound.discard_pending();
        Ok(bound)
    }

    /// The socket's path: the value of the child's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The variables to give the child: `NOTIFY_SOCKET`, and `WATCHDOG_USEC`
    /// when a watchdog is configured, so `sd_watchdog_enabled(3)` tells the
    /// app how often to ping. (`WATCHDOG_PID` is left unset: the pid is not
    /// known before the fork, and unset means "any pid".)
    pub fn child_env(&self, watchdog: Option<Duration>) -> Vec<(String, String)> {
        let mut env = vec![(
            "NOTIFY_SOCKET".to_string(),
            self.path.to_string_lossy().into_owned(),
        )];
        if let Some(watchdog) = watchdog {
            env.push((
                "WATCHDOG_USEC".to_string(),
                watchdog.as_micros().to_string(),
            ));
        }
        env
    }

    /// Waits for the next datagram and parses it. An empty list is a
    /// datagram with nothing in it, or one over 4 KiB (ignored whole, as
    /// systemd does: a truncated message could be misread).
    pub async fn recv(&self) -> io::Result<Vec<Notice>> {
        // One byte more than the limit tells an oversized datagram (which
        // recv(2) silently truncates) from one of exactly the limit.
        let mut buffer = vec![0u8; MAX_MESSAGE + 1];
        let len = self.socket.recv(&mut buffer).await?;
        if len > MAX_MESSAGE {
            tracing::warn!(
                socket = %self.path.display(),
                "ignored a notify message over {MAX_MESSAGE} bytes"
            );
            return Ok(Vec::new());
        }
        Ok(parse_notices(&buffer[..len]))
    }

    /// Drops every queued datagram (e.g. an old `READY=1` from before a
    /// restart); returns how many there were.
    pub fn discard_pending(&self) -> usize {
        let mut buffer = [0u8; 64];
        let mut count = 0;
        // A too-small buffer is fine: each recv consumes one whole datagram.
        while self.socket.try_recv(&mut buffer).is_ok() {
            count += 1;
        }
        count
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let ours =
            fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Parses one notify datagram: newline-separated `KEY=VALUE` lines, as
/// `sd_notify(3)` sends them. Lines without `=` are skipped; bytes that are not
/// UTF-8 are replaced.
pub fn parse_notices(datagram: &[u8]) -> Vec<Notice> {
    String::from_utf8_lossy(datagram)
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| match (key, value) {
            ("READY", "1") => Notice::Ready,
            ("STOPPING", "1") => Notice::Stopping,
            ("RELOADING", "1") => Notice::Reloading,
            ("STATUS", text) => Notice::Status(text.to_string()),
            ("WATCHDOG", "1") => Notice::Watchdog,
            ("WATCHDOG", "trigger") => Notice::WatchdogTrigger,
            ("MAINPID", pid) => match pid.parse::<i32>() {
                Ok(pid) if pid > 0 => Notice::MainPid(pid),
                _ => Notice::Other(key.to_string(), value.to_string()),
            },
            _ => Notice::Other(key.to_string(), value.to_string()),
        })
        .collect()
}

fn check_name(process: &str) -> Result<(), NotifyError> {
    let why = if process.is_empty() {
        "it is empty"
    } else if process.contains(['/', '\0']) {
        "it holds '/' or NUL"
    } else if process.starts_with('.') {
        "it starts with '.'"
    } else {
        return Ok(());
    };
    Err(NotifyError::InvalidName {
        name: process.to_string(),
        why,
    })
}

/// The child, running as `uid`/`gid`, must be able to pass through `dir`.
fn check_searchable(dir: &Path, uid: u32, gid: u32) -> Result<(), NotifyError> {
    if uid == 0 {
        return Ok(());
    }
    let metadata = fs::metadata(dir).map_err(|source| NotifyError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mode = metadata.mode() & 0o7777;
    let searchable = if metadata.uid() == uid {
        mode & 0o100 != 0
    } else if metadata.gid() == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    };
    if searchable {
        Ok(())
    } else {
        Err(NotifyError::DirNotSearchable {
            dir: dir.to_path_buf(),
            uid,
            mode,
        })
    }
}

fn remove_stale(path: &Path) -> Result<(), NotifyError> {
    match fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NotifyError::RemoveStale {
            path: path.to_path_buf(),
            source,
        }),
        Ok(metadata) if !metadata.file_type().is_socket() => Err(NotifyError::NotASocket {
            path: path.to_path_buf(),
        }),
        Ok(_) => fs::remove_file(path).map_err(|source| NotifyError::RemoveStale {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_like_systemd() {
        let notices = parse_notices(
            b"READY=1\nSTATUS=Serving 3 clients = fine\n\nMAINPID=4242\nWATCHDOG=1\n\
              WATCHDOG=trigger\nSTOPPING=1\nRELOADING=1\nERRNO=5\nREADY=0\nMAINPID=x\nnonsense\n",
        );
        assert_eq!(
            notices,
            [
                Notice::Ready,
                Notice::Status("Serving 3 clients = fine".into()),
                Notice::MainPid(4242),
                Notice::Watchdog,
                Notice::WatchdogTrigger,
                Notice::Stopping,
                Notice::Reloading,
                Notice::Other("ERRNO".into(), "5".into()),
                Notice::Other("READY".into(), "0".into()),
                Notice::Other("MAINPID".into(), "x".into()),
            ]
        );
        assert_eq!(parse_notices(b""), []);
        assert_eq!(parse_notices(b"READY=1"), [Notice::Ready]);
        assert_eq!(
            parse_notices(b"STATUS=caf\xff\n"),
            [Notice::Status("caf\u{fffd}".into())]
        );
        assert_eq!(parse_notices(b"STATUS="), [Notice::Status(String::new())]);
    }

    #[test]
    fn names_that_would_escape_the_directory_are_refused() {
        for name in ["", "a/b", "..", ".hidden", "nul\0"] {
            assert!(matches!(
                check_name(name),
                Err(NotifyError::InvalidName { .. })
            ));
        }
        assert!(check_name("api-2_x").is_ok());
    }
}
