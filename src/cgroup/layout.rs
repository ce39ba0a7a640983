//! Where one process's cgroup lives: one directory under cgroup v2, one per
//! hierarchy under v1. A leaf: the process cgroup, its OOM watch and the
//! v1/v2 set-up all read it.

use std::path::PathBuf;

/// Where a process's cgroup lives.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    V2 {
        dir: PathBuf,
    },
    /// cgroup v1 has one directory per hierarchy; pids and cpuacct only
    /// when those hierarchies are writable (and, for pids, a limit is set).
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
        cpuacct: Option<PathBuf>,
    },
}
