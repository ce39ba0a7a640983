//! The one error type of the cgroup layer. Every variant names the path (and
//! the value, for writes) and, where the errno says something useful, what the
//! operator can do about it.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `memory_enforcement = "cgroup"` and no hierarchy can be used.
    #[error(
        "memory_enforcement = \"cgroup\" but no cgroup hierarchy can be used here: {reasons}. \
         Run with --privileged or with a writable cgroupfs (see README), \
         or set memory_enforcement = \"auto\" to fall back to polling"
    )]
    Unavailable { reasons: String },

    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("failed to open {path} for writing: {source}{}", hint(source))]
    Open { path: PathBuf, source: io::Error },

    #[error("failed to write {value} to {path}: {source}{}", hint(source))]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("failed to create cgroup {path}: {source}{}", hint(source))]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("failed to remove cgroup {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },

    /// A cgroup of our name that holds the processes of another running
    /// oxinit in the same cgroup: neither removed nor joined.
    #[error(
        "cgroup {path} belongs to another running oxinit (pid {owner}) in the same cgroup; \
         left alone. Run each oxinit in a cgroup of its own (a container does that), or \
         give this process another name"
    )]
    InUse { path: PathBuf, owner: i32 },

    /// The cgroup still holds processes after SIGKILL: they have not exited
    /// yet. Removing it again later (after the reaper ran) usually works.
    #[error(
        "cgroup {path} still holds processes {members:?} after SIGKILL; \
         remove it again once they have exited"
    )]
    Busy { path: PathBuf, members: Vec<i32> },

    #[error("cannot parse {path}: {what}")]
    Parse { path: PathBuf, what: String },

    #[error("{name:?} cannot name a cgroup: {why}")]
    InvalidName { name: String, why: &'static str },

    /// A programming error in the caller: in polling mode there is no cgroup.
    #[error(
        "memory limits use polling here ({reason}); there is no cgroup to create for {process:?}"
    )]
    PollMode { process: String, reason: String },
}

impl CgroupError {
    /// The errno behind this error, if it came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        let source = match self {
            CgroupError::Read { source, .. }
            | CgroupError::Open { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::CreateDir { source, .. }
            | CgroupError::RemoveDir { source, .. } => source,
            _ => return None,
        };
        source.raw_os_error().map(Errno::from_raw)
    }
}

/// What an errno from a cgroup file usually means, phrased as advice.
fn hint(err: &io::Error) -> &'static str {
    match err.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EROFS | Errno::EACCES | Errno::EPERM) => {
            " — running unprivileged? cgroup limits need --privileged or a writable \
             cgroupfs (see README); with memory_enforcement = \"auto\" memory limits \
             fall back to polling"
        }
        // Interface files always exist; a missing one means its controller is
        // not enabled for this cgroup.
        Some(Errno::ENOENT) => {
            " — the file is missing, so the controller that provides it is not enabled here"
        }
        Some(Errno::EBUSY) => {
            " — the cgroup still holds processes (cgroup v2 \"no internal processes\" rule)"
        }
        Some(Errno::EOPNOTSUPP) => {
            " — the controller cannot be enabled here (threaded cgroup, or not delegated)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_path_value_cause_and_advice() {
        let err = CgroupError::Write {
            path: PathBuf::from("/sys/fs/cgroup/oxinit-api/memory.max"),
            value: "536870912".into(),
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        let text = err.to_string();
        assert!(
            text.starts_with(
                "failed to write 536870912 to /sys/fs/cgroup/oxinit-api/memory.max: \
                 Read-only file system (os error 30) — running unprivileged?"
            ),
            "{text}"
        );
        assert!(text.contains("fall back to polling"), "{text}");
        assert_eq!(err.errno(), Some(Errno::EROFS));
    }

    #[test]
    fn missing_interface_file_says_controller_absent() {
        let err = CgroupError::Open {
            path: PathBuf::from("/x/pids.max"),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert!(err.to_string().contains("controller"), "{err}");
    }
}
