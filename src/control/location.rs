//! Where the control socket lives, for the server and for a client.
//!
//! The server binds, in this order: `[init] control_socket`; `$OXINIT_SOCKET`;
//! `/run/oxinit.sock` when `/run` is writable; `$XDG_RUNTIME_DIR/oxinit.sock`;
//! `/tmp/oxinit-UID/oxinit.sock`. The last two are for an oxinit that is not
//! root (`docker run --user 1000`, Kubernetes `runAsNonRoot`), where `/run`
//! belongs to root.
//!
//! A client looks in the same places, in the same order: `--socket`; the
//! oxfile that `run` would read (`--config`, `$OXINIT_CONFIG`,
//! `./oxfile.toml`, `/etc/oxfile.toml`) and its `[init] control_socket`;
//! `$OXINIT_SOCKET`; then each default place that exists. It cannot know
//! whether the server found `/run` writable, so it tries the defaults in turn.
//!
//! `/tmp` is everyone's: another user can create `/tmp/oxinit-1000` before
//! oxinit does (a directory they own, or a symlink to one) and then read or
//! replace the socket, or answer `healthcheck` in oxinit's place. So the
//! directory is created 0700, and one that exists is used only if it is a
//! real directory (not a symlink) owned by our uid with mode 0700; otherwise
//! both sides refuse it and say why. The sticky bit of `/tmp` keeps others
//! from renaming or removing the directory once it is ours.

use super::ControlError;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The socket's file name in each default directory.
const FILE_NAME: &str = "oxinit.sock";

/// What the default places depend on: the environment, the directories and
/// our uid (injected by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// `$OXINIT_SOCKET`, when set and not empty.
    pub oxinit_socket: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, when set to an absolute path.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `/run`.
    pub run_dir: PathBuf,
    /// `/tmp`.
    pub tmp_dir: PathBuf,
    /// Our effective uid.
    pub uid: u32,
}

impl Places {
    /// The real environment, `/run`, `/tmp` and our effective uid.
    pub fn from_process() -> Places {
        let non_empty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        Places {
            oxinit_socket: non_empty(std::env::var_os("OXINIT_SOCKET")),
            // The XDG spec: a relative value is invalid and must be ignored.
            xdg_runtime_dir: non_empty(std::env::var_os("XDG_RUNTIME_DIR"))
                .filter(|p| p.is_absolute()),
            run_dir: PathBuf::from("/run"),
            tmp_dir: PathBuf::from("/tmp"),
            uid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// `/tmp/oxinit-UID`: the directory only we may use.
    pub fn private_dir(&self) -> PathBuf {
        self.tmp_dir.join(format!("oxinit-{}", self.uid))
    }

    /// The default places a client tries, in the server's order of
    /// preference, each with the private directory to check first.
    pub fn defaults(&self) -> Vec<Candidate> {
        let mut places = vec![Candidate::plain(self.run_dir.join(FILE_NAME))];
        if let Some(xdg) = &self.xdg_runtime_dir {
            places.push(Candidate::plain(xdg.join(FILE_NAME)));
        }
        places.push(Candidate {
            path: self.private_dir().join(FILE_NAME),
            private_dir: Some(self.private_dir()),
        });
        places
    }
}

/// One place a socket may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    /// Set for `/tmp/oxinit-UID/…`: the directory that must be ours.
    pub private_dir: Option<PathBuf>,
}

impl Candidate {
    fn plain(path: PathBuf) -> Candidate {
        Candidate {
            path,
            private_dir: None,
        }
    }
}

/// Where the server binds, and why there (for the log and `oxinit check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub place: Candidate,
    pub why: &'static str,
}

/// Chooses the server's socket: `configured` (`[init] control_socket`) if
/// given, else `$OXINIT_SOCKET`, else the first writable default place.
/// Creates nothing; [`prepare`] makes the private directory.
pub fn choose(configured: Option<&Path>, places: &Places) -> Choice {
    if let Some(path) = configured {
        return Choice {
            place: Candidate::plain(path.to_path_buf()),
            why: "[init] control_socket",
        };
    }
    if let Some(path) = &places.oxinit_socket {
        return Choice {
            place: Candidate::plain(path.clone()),
            why: "$OXINIT_SOCKET",
        };
    }
    if may_create_in(&places.run_dir) {
        return Choice {
            place: Candidate::plain(places.run_dir.join(FILE_NAME)),
            why: "the default",
        };
    }
    if let Some(xdg) = places.xdg_runtime_dir.as_ref().filter(|d| writable(d)) {
        return Choice {
            place: Candidate::plain(xdg.join(FILE_NAME)),
            why: "$XDG_RUNTIME_DIR, as /run is not writable",
        };
    }
    Choice {
        place: places
            .defaults()
            .pop()
            .expect("the private place is always last"),
        why: "/run is not writable and $XDG_RUNTIME_DIR is not set",
    }
}

/// The socket path of `choice`, with its private directory created (0700)
/// or checked to be ours.
pub fn prepare(choice: &Choice, uid: u32) -> Result<PathBuf, ControlError> {
    if let Some(dir) = &choice.place.private_dir {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {
                // mkdir's mode is masked by the umask; we own it, so say it
                // exactly (an umask of 0777 would leave it unusable).
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
                    ControlError::CreateDir {
                        dir: dir.clone(),
                        source,
                    }
                })?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(ControlError::CreateDir {
                    dir: dir.clone(),
                    source,
                })
            }
        }
        check_private(dir, uid)?;
    }
    Ok(choice.place.path.clone())
}

/// Errors unless `dir` is a real directory owned by `uid` with mode 0700.
/// `Ok(false)` when it does not exist.
pub fn check_private(dir: &Path, uid: u32) -> Result<bool, ControlError> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ControlError::Probe {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let problem = if meta.file_type().is_symlink() {
        Some("it is a symbolic link".to_string())
    } else if !meta.is_dir() {
        Some("it is not a directory".to_string())
    } else if meta.uid() != uid {
        Some(format!(
            "it belongs to uid {}, not to uid {uid}",
            meta.uid()
        ))
    } else if meta.mode() & 0o7777 != 0o700 {
        Some(format!(
            "its mode is {:04o}, not 0700",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        None => Ok(true),
        Some(problem) => Err(ControlError::UnsafeDir {
            dir: dir.to_path_buf(),
            problem,
        }),
    }
}

/// Whether we may create the socket in `dir`: it is writable, or it is
/// missing and its parent is (the server creates it, as in `FROM scratch`).
fn may_create_in(dir: &Path) -> bool {
    match fs::metadata(dir) {
        Ok(meta) => meta.is_dir() && writable(dir),
        Err(_) => dir.parent().is_some_and(writable),
    }
}

/// Write and search permission for our effective ids; a read-only mount
/// counts as not writable (EROFS).
fn writable(dir: &Path) -> bool {
    use nix::unistd::AccessFlags;
    nix::unistd::eaccess(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok()
}

/// Where a client looks, in order, and what it has to say about how it got
/// there (an oxfile it could not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub candidates: Vec<Candidate>,
    pub notes: Vec<String>,
}

/// What a client knows of the oxfile `run` would read.
#[derive(Debug)]
pub enum Oxfile {
    /// Found, and its `[init] control_socket` (None: not written).
    Socket(Option<PathBuf>),
    /// Found but unreadable or broken.
    Broken(PathBuf, crate::config::ConfigError),
    /// None of the default places has one.
    Absent,
    /// The file named by `--config` or `$OXINIT_CONFIG` does not exist.
    Missing(PathBuf),
}

impl Oxfile {
    /// The oxfile found by the lookup of `run` (`--config`, then
    /// `$OXINIT_CONFIG`, `./oxfile.toml`, `/etc/oxfile.toml`).
    pub fn find(explicit: Option<&Path>) -> Oxfile {
        use crate::config::ConfigError;
        let named =
            explicit.is_some() || std::env::var_os("OXINIT_CONFIG").is_some_and(|v| !v.is_empty());
        match crate::config::locate(explicit) {
            Ok(path) => match crate::config::load_control_socket(&path) {
                Ok(socket) => Oxfile::Socket(socket),
                Err(e) => Oxfile::Broken(path, e),
            },
            Err(ConfigError::NotFound { tried }) if named => {
                Oxfile::Missing(tried.into_iter().next().unwrap_or_default())
            }
            Err(_) => Oxfile::Absent,
        }
    }
}

/// A client's places: `flag` (`--socket`) alone if given; else the oxfile's
/// `[init] control_socket`; else `$OXINIT_SOCKET`; else every default place.
pub fn lookup(flag: Option<&Path>, oxfile: Oxfile, places: &Places) -> Lookup {
    if let Some(path) = flag {
        return Lookup {
            candidates: vec![Candidate::plain(path.to_path_buf())],
            notes: vec![],
        };
    }
    let problem = match oxfile {
        Oxfile::Socket(Some(socket)) => {
            return Lookup {
                candidates: vec![Candidate::plain(socket)],
                notes: vec![],
            }
        }
        Oxfile::Socket(None) | Oxfile::Absent => None,
        Oxfile::Broken(path, e) => Some(format!(
            "cannot take [init] control_socket from {}: {e}",
            path.display()
        )),
        Oxfile::Missing(path) => Some(format!("no oxfile at {}", path.display())),
    };
    let (candidates, source) = match &places.oxinit_socket {
        Some(path) => (vec![Candidate::plain(path.clone())], "$OXINIT_SOCKET"),
        None => (places.defaults(), "the default places"),
    };
    let notes = problem
        .map(|problem| {
            let shown: Vec<String> = candidates
                .iter()
                .map(|c| c.path.display().to_string())
                .collect();
            format!(
                "warning: {problem}\nwarning: looking for the control socket in {source} instead: {}",
                shown.join(", ")
            )
        })
        .into_iter()
        .collect();
    Lookup { candidates, notes }
}
