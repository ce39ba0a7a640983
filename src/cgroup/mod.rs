//! Memory limits: cgroup v2, cgroup v1, or polling /proc.
//!
//! A memory limit is only as good as the mechanism behind it, and which one
//! works depends on where oxinit runs: a privileged container or a VM sees a
//! writable cgroup2 tree; Fly.io machines (and this project's CI) have the
//! hybrid layout, whose memory controller lives in a v1 hierarchy; default
//! unprivileged Docker mounts cgroupfs read-only, leaving only /proc.
//!
//! - [`detect`] picks the mode at boot without writing anything and says
//!   why, so `oxinit check` can print it and the log can explain it.
//! - [`Enforcement::prepare`] readies the tree (v2: move oxinit into a
//!   leaf, enable controllers) and removes cgroups a previous run left.
//! - [`Enforcement::create`] makes one process's cgroup with its limits and
//!   opens its `cgroup.procs`; the child joins it before exec
//!   ([`join_from_child`](crate::sys::spawn::join_from_child), a step of
//!   the spawn).
//! - [`ProcessCgroup::oom_watch`] wakes the supervisor when the OOM killer
//!   struck inside a running process's cgroup; [`KernelLog`] names the
//!   victims where the kernel log is readable.
//! - [`poll`] sums RSS and CPU of a process tree from /proc: the limit in
//!   polling mode, and the figures for processes without a cgroup.
//!
//! Every path comes from [`Roots`], so unit tests run on a fake cgroupfs in
//! a temp dir. Nothing here starts a timer or a thread: when nothing is
//! limited, nothing wakes up; the supervisor decides when to poll.

mod detect;
mod error;
mod files;
mod kernel_log;
mod layout;
mod members;
mod oom_watch;
pub mod poll;
mod process;
mod v1;
mod v2;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Also read by `health::mount` (one mountinfo parser).
pub(crate) use detect::parse_mountinfo;
pub use error::CgroupError;
pub use kernel_log::KernelLog;
pub use oom_watch::{drain as drain_oom_watch, OomWakeups};
pub use process::ProcessCgroup;

use detect::{V1Target, V2Target};

/// `[init] memory_enforcement` in oxfile.toml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requested {
    /// cgroups when usable, else polling (the default).
    #[default]
    Auto,
    /// cgroups or fail at boot.
    Cgroup,
    /// polling even where cgroups would work.
    Poll,
}

impl FromStr for Requested {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(Requested::Auto),
            "cgroup" => Ok(Requested::Cgroup),
            "poll" => Ok(Requested::Poll),
            other => Err(format!(
                "unknown memory_enforcement {other:?}: expected \"auto\", \"cgroup\" or \"poll\""
            )),
        }
    }
}

/// How limits are enforced here; exported as
/// `oxinit_memory_enforcement{mode}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V2,
    V1,
    Poll,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::V2 => "cgroup2",
            Mode::V1 => "cgroup1",
            Mode::Poll => "poll",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One process's limits, in bytes (and processes, for `pids`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Hard limit: over it the kernel OOM-kills (cgroups) or the supervisor
    /// stops the process (polling).
    pub memory: Option<u64>,
    /// Throttle-and-reclaim threshold, cgroup v2 only.
    pub memory_high: Option<u64>,
    /// Maximum number of tasks, where a pids controller is available.
    pub pids: Option<u64>,
}

/// Where the cgroup and proc filesystems are; a temp dir in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub cgroupfs: PathBuf,
    pub proc: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            cgroupfs: PathBuf::from("/sys/fs/cgroup"),
            proc: PathBuf::from("/proc"),
        }
    }
}

/// The name of oxinit's own leaf, and the prefix (`oxinit-`) of every
/// process cgroup: what leftover cleanup may remove.
pub const DEFAULT_NAME: &str = "oxinit";

/// The chosen mode, why, and where its cgroups go.
#[derive(Debug, Clone)]
pub struct Enforcement {
    mode: Mode,
    reason: String,
    name: String,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    V2(V2Target),
    V1(V1Target),
    Poll,
}

/// Picks the enforcement mode for the process `self_pid` (normally
/// `std::process::id()`), reading only `<proc>/<pid>/mountinfo`,
/// `<proc>/<pid>/cgroup` and the cgroup directories they lead to. Writes
/// nothing. With `Requested::Cgroup`, fails when no hierarchy is usable.
pub fn detect(
    requested: Requested,
    roots: &Roots,
    self_pid: u32,
) -> Result<Enforcement, CgroupError> {
    if requested == Requested::Poll {
        return Ok(Enforcement::polling(
            "memory_enforcement = \"poll\" in the config",
        ));
    }
    let (v2, v1) = match detect::read_facts(roots, self_pid) {
        Ok(facts) => (
            detect::probe_v2(&facts, roots),
            detect::probe_v1(&facts, roots),
        ),
        Err(why) => (Err(why), Err(String::new())),
    };
    let why_not_v2 = match v2 {
        Ok(target) => {
            let pids = if target.controllers.iter().any(|c| c == "pids") {
                "memory and pids controllers"
            } else {
                "memory controller (no pids controller)"
            };
            let reason = format!(
                "cgroup2 at {} is writable with the {pids}",
                target.dir.display()
            );
            return Ok(Enforcement::new(Mode::V2, reason, Backend::V2(target)));
        }
        Err(why) => why,
    };
    let why_not_v1 = match v1 {
        Ok(target) => {
            let mut reason = format!(
                "cgroup v1 memory cgroup {} is writable (cgroup2 not used: {why_not_v2})",
                target.memory.display()
            );
            if !target.notes.is_empty() {
                reason.push_str("; ");
                reason.push_str(&detect::join_reasons(&target.notes));
            }
            return Ok(Enforcement::new(Mode::V1, reason, Backend::V1(target)));
        }
        Err(why) => why,
    };
    let reasons: Vec<String> = [why_not_v2, why_not_v1]
        .into_iter()
        .filter(|why| !why.is_empty())
        .collect();
    let reasons = detect::join_reasons(&reasons);
    match requested {
        Requested::Cgroup => Err(CgroupError::Unavailable { reasons }),
        _ => Ok(Enforcement::polling(format!(
            "{reasons}. Memory limits use polling. For cgroup limits run with --privileged \
             or with a writable cgroupfs (see README)"
        ))),
    }
}

/// Boot in one call: [`detect`], then [`Enforcement::prepare`]. With
/// `Requested::Auto` a failing prepare degrades to polling, its error
/// becoming the reason; with `Requested::Cgroup` it is returned.
pub fn setup(
    requested: Requested,
    roots: &Roots,
    self_pid: u32,
) -> Result<(Enforcement, Prepared), CgroupError> {
    let enforcement = detect(requested, roots, self_pid)?;
    match enforcement.prepare() {
        Ok(prepared) => Ok((enforcement, prepared)),
        Err(err) if requested == Requested::Auto => Ok((
            Enforcement::polling(format!("{err}. Memory limits use polling")),
            Prepared::default(),
        )),
        Err(err) => Err(err),
    }
}

/// What [`Enforcement::prepare`] did, for the boot log.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Pids moved from our cgroup into oxinit's leaf (v2).
    pub moved: Vec<i32>,
    /// Controllers enabled in `cgroup.subtree_control` (v2).
    pub enabled: Vec<String>,
    pub leftovers: Cleanup,
}

/// Result of removing cgroups from this or a previous run.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub removed: Vec<PathBuf>,
    /// Processes SIGKILLed because they were still inside.
    pub killed: usize,
    /// Cgroups that could not be removed; none of these stops the boot.
    pub failed: Vec<CgroupError>,
}

impl Enforcement {
    fn new(mode: Mode, reason: String, backend: Backend) -> Self {
        Enforcement {
            mode,
            reason,
            name: DEFAULT_NAME.to_owned(),
            backend,
        }
    }

    /// Polling, for the given reason (also the fallback when cgroups fail
    /// later than detection).
    pub fn polling(reason: impl Into<String>) -> Self {
        Enforcement::new(Mode::Poll, reason.into(), Backend::Poll)
    }

    /// Uses `name` instead of "oxinit" for oxinit's own leaf and as the
    /// prefix (`name-`) of process cgroups: lets tests and nested oxinits
    /// share a hierarchy without removing each other's cgroups.
    pub fn with_name(mut self, name: &str) -> Result<Self, CgroupError> {
        validate_name(name)?;
        self.name = name.to_owned();
        Ok(self)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A human sentence: why this mode, and for polling what to do about it.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The directory process cgroups go into (v1: the memory hierarchy's).
    pub fn cgroup_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::V2(target) => Some(&target.dir),
            Backend::V1(target) => Some(&target.memory),
            Backend::Poll => None,
        }
    }

    /// Whether `Limits::memory_high` is enforced (cgroup v2 only).
    #[cfg(test)]
    pub fn supports_memory_high(&self) -> bool {
        matches!(self.backend, Backend::V2(_))
    }

    /// Whether `Limits::pids` is enforced.
    #[cfg(test)]
    pub fn supports_pids(&self) -> bool {
        match &self.backend {
            Backend::V2(target) => target.controllers.iter().any(|c| c == "pids"),
            Backend::V1(target) => target.pids.is_some(),
            Backend::Poll => false,
        }
    }

    /// At boot, once: v2 moves our cgroup's processes into the `oxinit`
    /// leaf and enables `+memory +pids`; both versions remove the cgroups a
    /// previous run left (killing what is inside). Polling: nothing.
    pub fn prepare(&self) -> Result<Prepared, CgroupError> {
        match &self.backend {
            Backend::V2(target) => v2::prepare(target, &self.name),
            Backend::V1(target) => Ok(v1::prepare(target, &self.name)),
            Backend::Poll => Ok(Prepared::default()),
        }
    }

    /// Makes `process`'s cgroup (`<name>-<process>`), writes its limits and
    /// opens its `cgroup.procs` for the child. Polling mode has no cgroup:
    /// `CgroupError::PollMode`.
    pub fn create(&self, process: &str, limits: &Limits) -> Result<ProcessCgroup, CgroupError> {
        validate_name(process)?;
        match &self.backend {
            Backend::V2(target) => v2::create(target, &self.name, process, limits),
            Backend::V1(target) => v1::create(target, &self.name, process, limits),
            Backend::Poll => Err(CgroupError::PollMode {
                process: process.to_owned(),
                reason: self.reason.clone(),
            }),
        }
    }

    /// At shutdown (after the services stopped): removes every process
    /// cgroup of ours that is still there, killing what is inside. oxinit's
    /// own leaf stays: oxinit is still in it.
    pub fn cleanup(&self) -> Cleanup {
        match &self.backend {
            Backend::V2(target) => cleanup_leftovers(std::slice::from_ref(&target.dir), &self.name),
            Backend::V1(target) => v1::cleanup(target, &self.name),
            Backend::Poll => Cleanup::default(),
        }
    }
}

/// Removes every `<name>-*` cgroup directly under each of `dirs`.
fn cleanup_leftovers(dirs: &[PathBuf], name: &str) -> Cleanup {
    let prefix = format!("{name}-");
    let mut cleanup = Cleanup::default();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) => {
                cleanup.failed.push(CgroupError::Read {
                    path: dir.clone(),
                    source,
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let ours = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix));
            if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if let members::Owner::Another(owner) = members::owner(&path, Path::new("/proc")) {
                cleanup.failed.push(CgroupError::InUse { path, owner });
                continue;
            }
            match members::kill_members(&path) {
                Ok(killed) => cleanup.killed += killed,
                Err(err) => cleanup.failed.push(err),
            }
            match members::remove_tree(&path) {
                Ok(()) => cleanup.removed.push(path),
                Err(err) => cleanup.failed.push(err),
            }
        }
    }
    cleanup
}

/// mkdir; `Ok(false)` when it already exists.
fn make_dir(path: &Path) -> Result<bool, CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A name must be one path component (cgroup directories are named after
/// processes).
fn validate_name(name: &str) -> Result<(), CgroupError> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') || name.contains('\0') {
        "it contains '/' or NUL"
    } else if name == "." || name == ".." {
        "it is a relative directory"
    } else if name.len() > 200 {
        "it is longer than 200 bytes"
    } else {
        return Ok(());
    };
    Err(CgroupError::InvalidName {
        name: name.to_owned(),
        why,
    })
}

#[cfg(test)]
mod tests;
