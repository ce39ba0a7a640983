//! Binding the control socket and accepting connections.

use super::admission::{Admission, Admit};
use super::connection::{self, Shared};
use super::limits::Limits;
use super::ratelimit::LogLimiter;
use super::{Command, ControlError, Feeds, Response, Snapshot};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The bound control socket. Dropping it (or the [`Server::serve`] future
/// that owns it) removes the socket file.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file we created: Drop removes the file
    /// only if it is still ours, not one another process put there since.
    identity: (u64, u64),
    limits: Limits,
    feeds: Option<Feeds>,
}

impl Server {
    /// Binds the socket at `path` with mode 0600, creating its directory
    /// (0755) if missing. A stale socket file (nobody answers on it) is
    /// replaced; a live one (another oxinit answers) is an error naming the
    /// path, and is left alone. Must be called inside the tokio runtime.
    pub fn bind(path: &Path) -> Result<Server, ControlError> {
        // oxinit chdirs to "/" after boot: remember where the file really is.
        let path = std::path::absolute(path).map_err(|source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = match path.parent() {
            Some(dir) if path.file_name().is_some() => dir.to_path_buf(),
            _ => {
                return Err(ControlError::Bind {
                    path,
                    source: io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
                })
            }
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .and_then(|()| {
                    // The mode given to mkdir is masked by the umask.
                    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                })
                .map_err(|source| ControlError::CreateDir {
                    dir: dir.clone(),
                    source,
                })?;
        }
        refuse_live_socket(&path)?;

        // Bind under a temporary name, make it private, then rename it into
        // place: binding at the final path would leave it reachable with the
        // umask's mode until the chmod, and rename also replaces a stale
        // socket atomically, so a client never sees no socket at all.
        let tmp = dir.join(format!(".oxinit-{}.sock.tmp", std::process::id()));
        // Only an oxinit with our pid (in a container: a previous run of this
        // one) ever uses this name.
        let _ = fs::remove_file(&tmp);
        let std_listener =
            std::os::unix::net::UnixListener::bind(&tmp).map_err(|source| ControlError::Bind {
                path: path.clone(),
                source,
            })?;
        let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
            .map_err(|source| ControlError::Chmod {
                path: path.clone(),
                source,
            })
            .and_then(|()| {
                fs::rename(&tmp, &path).map_err(|source| ControlError::Bind {
                    path: path.clone(),
                    source,
                })
            });
        if let Err(e) = placed {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let meta = fs::symlink_metadata(&path).map_err(|source| ControlError::Bind {
            path: path.clone(),
            source,
        })?;
        let listener = std_listener
            .set_nonblocking(true)
            .and_then(|()| UnixListener::from_std(std_listener))
            .map_err(|source| ControlError::Bind {
                path: path.clone(),
                source,
            })?;
        Ok(Server {
            listener,
            path,
            identity: (meta.dev(), meta.ino()),
            limits: Limits::default(),
            feeds: None,
        })
    }

    /// Replaces the default bounds (tests use short timeouts).
    #[cfg(test)]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Where `logs`, `events` and the status's last stderr lines come
    /// from; without, those requests are refused.
    pub fn with_feeds(mut self, feeds: Feeds) -> Self {
        self.feeds = Some(feeds);
        self
    }

    /// The socket's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until dropped: spawn it on the runtime. `status` and `health`
    /// are answered from the latest `snapshot`; `restart`, `stop` and `start`
    /// go to `commands` and their answer comes back through its `reply`.
    /// Dropping the future closes every open connection too.
    pub async fn serve(
        self,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        commands: mpsc::Sender<Command>,
    ) {
        let euid = nix::unistd::geteuid().as_raw();
        let shared = Arc::new(Shared {
            limits: self.limits.clone(),
            snapshot,
            commands,
            allowed_uids: if euid == 0 { vec![0] } else { vec![0, euid] },
            feeds: self.feeds.clone(),
            log: Mutex::new(LogLimiter::new(10, Duration::from_secs(60))),
        });
        let admission = Admission::new(self.limits.clone());
        let mut connections = JoinSet::new();
        tracing::debug!("control socket listening on {}", self.path.display());
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        self.admit(stream, &admission, &shared, &mut connections);
                        // Let the connections run before the next accept: under
                        // a flood, a client whose request has arrived is read
                        // before anyone has to make room for the next one.
                        tokio::task::yield_now().await;
                    }
                    Err(e) => {
                        shared.warn(format_args!("control: cannot accept a connection on {}: {e}", self.path.display()));
                        // Out of file descriptors, typically: give the
                        // others time to close instead of spinning.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!("control: a connection handler panicked: {e}");
                        }
                    }
                }
            }
        }
    }
}

impl Server {
    /// Counts a new connection and starts its task, or answers it "busy".
    fn admit(
        &self,
        stream: tokio::net::UnixStream,
        admission: &Arc<Admission>,
        shared: &Arc<Shared>,
        connections: &mut JoinSet<()>,
    ) {
        // Without credentials the connection is refused in its task; it
        // is counted under an impossible uid meanwhile.
        let uid = stream.peer_cred().map_or(u32::MAX, |c| c.uid());
        match admission.admit(uid) {
            Admit::In { ticket, made_room } => {
                if made_room {
                    shared.warn(format_args!(
                        "control: a client of uid {uid} arrived at a full table ({} connections, {} per uid); the oldest one still without a request makes room",
                        self.limits.max_connections, self.limits.max_per_uid
                    ));
                }
                let shared = shared.clone();
                connections.spawn(async move {
                    connection::handle(stream, &shared, ticket).await;
                });
            }
            Admit::Busy => {
                // Best effort, without waiting: the answer is a few bytes
                // into an empty socket buffer.
                let busy = Response::<()>::error(format!(
                    "oxinit is busy answering other control clients (at most {} at once, {} per uid); try again",
                    self.limits.max_connections, self.limits.max_per_uid
                ));
                let _ = stream.try_write(&busy.to_line());
                shared.warn(format_args!(
                    "control: refused a connection of uid {uid}: every place is taken by a client being answered"
                ));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => {
                if let Err(e) = fs::remove_file(&self.path) {
                    tracing::warn!(
                        "cannot remove the control socket {}: {e}",
                        self.path.display()
                    );
                }
            }
            // Gone, or replaced by someone else's: not ours to remove.
            _ => {}
        }
    }
}

/// Errors if `path` is a live socket (someone answers) or not a socket at
/// all; a stale socket or no file is fine (the rename replaces it).
fn refuse_live_socket(path: &Path) -> Result<(), ControlError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ControlError::Probe {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        // The other oxinit sees a connection that closes without a request,
        // which it ignores.
        Ok(_) => Err(ControlError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!("replacing the stale control socket {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ControlError::Probe {
            path: path.to_path_buf(),
            source,
        }),
    }
}
