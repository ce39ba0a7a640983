//! cgroup v1: a memory cgroup per limited process below our own memory
//! cgroup, plus a pids cgroup (when a pids limit is set) and a cpuacct
//! cgroup (for CPU seconds) where those hierarchies are writable.
//!
//! v1 has no "no internal processes" rule, so nothing moves at boot. The
//! OOM killer of a v1 memory cgroup kills the largest task in it, not the
//! whole group (there is no `memory.oom.group`); `oom_kills()` still counts
//! it.

use std::path::{Path, PathBuf};

use super::detect::V1Target;
use super::files;
use super::layout::Layout;
use super::members::{self, Owner};
use super::process::ProcessCgroup;
use super::{cleanup_leftovers, make_dir, CgroupError, Cleanup, Limits, Prepared};

/// v1 has no "no internal processes" rule: preparing is only removing
/// what a previous run left, in every hierarchy we use.
pub(crate) fn prepare(target: &V1Target, name: &str) -> Prepared {
    Prepared {
        moved: Vec::new(),
        enabled: Vec::new(),
        leftovers: cleanup(target, name),
    }
}

pub(crate) fn cleanup(target: &V1Target, name: &str) -> Cleanup {
    let dirs: Vec<PathBuf> = std::iter::once(&target.memory)
        .chain(&target.pids)
        .chain(&target.cpuacct)
        .cloned()
        .collect();
    cleanup_leftovers(&dirs, name)
}

pub(crate) fn create(
    target: &V1Target,
    name: &str,
    process: &str,
    limits: &Limits,
) -> Result<ProcessCgroup, CgroupError> {
    let leaf_name = format!("{name}-{process}");
    if limits.memory_high.is_some() {
        tracing::warn!("memory_high for {process} ignored: cgroup v1 has no memory.high");
    }
    let mut made: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let memory = leaf(&target.memory, &leaf_name, &mut made)?;
        if let Some(max) = limits.memory {
            files::write(&memory.join("memory.limit_in_bytes"), &max.to_string())?;
        }
        let pids = match (limits.pids, &target.pids) {
            (Some(max), Some(parent)) => {
                let dir = leaf(parent, &leaf_name, &mut made)?;
                files::write(&dir.join("pids.max"), &max.to_string())?;
                Some(dir)
            }
            (Some(_), None) => {
                tracing::warn!("pids limit for {process} ignored: no writable pids hierarchy");
                None
            }
            (None, _) => None,
        };
        // CPU accounting is a nicety: without it cpu_seconds() is None and
        // the caller sums /proc instead.
        let cpuacct = target.cpuacct.as_ref().and_then(|parent| {
            leaf(parent, &leaf_name, &mut made)
                .inspect_err(|err| tracing::warn!("no CPU accounting for {process}: {err}"))
                .ok()
        });
        let procs = std::iter::once(&memory)
            .chain(&pids)
            .chain(&cpuacct)
            .map(|dir| files::open_procs_fd(dir))
            .collect::<Result<Vec<_>, _>>()?;
        let layout = Layout::V1 {
            memory,
            pids,
            cpuacct,
        };
        let path = format!("{}/{leaf_name}", target.memory_path.trim_end_matches('/'));
        Ok(ProcessCgroup::new(process, layout, procs, limits.memory).with_hierarchy_path(path))
    })();
    if result.is_err() {
        for dir in made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// Makes (or reuses, emptied) `parent/leaf_name`; records it in `made` when
/// this call created it, so a failure can undo exactly that.
fn leaf(parent: &Path, leaf_name: &str, made: &mut Vec<PathBuf>) -> Result<PathBuf, CgroupError> {
    let dir = parent.join(leaf_name);
    if make_dir(&dir)? {
        made.push(dir.clone());
    } else {
        if let Owner::Another(owner) = members::owner(&dir, Path::new("/proc")) {
            return Err(CgroupError::InUse { path: dir, owner });
        }
        let killed = members::kill_members(&dir)?;
        tracing::warn!(
            "reusing cgroup {} left by an earlier run ({killed} process(es) killed)",
            dir.display()
        );
    }
    Ok(dir)
}
