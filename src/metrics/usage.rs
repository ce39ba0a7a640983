//! Memory and CPU of one supervised process, read at scrape time.
//!
//! Where the process has a cgroup, the cgroup's own counters are the truth:
//! they include every descendant, even one that escaped the process group,
//! and page cache charged to the process (what a memory limit counts).
//! Without a cgroup (polling mode, or a process without limits) the figures
//! come from /proc: the RSS and CPU of the process tree, as
//! [`crate::cgroup::poll`] defines it.
//!
//! Both sources are plain file reads on pseudo-filesystems: they never
//! block on disk. A scrape that needs /proc for several processes scans it
//! once ([`Scan`]), not once per process.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cgroup::poll;
use crate::proc_stat::{self, ProcStat};
use crate::snapshot::ProcessStatus;

/// Figures for one process; `None` where unknown or when it is not running.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    /// Not monotonic from /proc: the time of a descendant that oxinit reaps
    /// leaves the tree. Keep the maximum for a counter.
    pub cpu_seconds: Option<f64>,
}

/// Reads `p`'s figures: from `p.cgroups` when it has any, else from the
/// process tree under `proc_root` (tests; a scrape shares one [`Scan`]).
#[cfg(test)]
pub fn read(p: &ProcessStatus, proc_root: &Path) -> Usage {
    read_with(p, &mut Scan::new(proc_root))
}

/// One scan of /proc shared by every process of a scrape, taken only when
/// a process needs it.
///
/// Every supervised process descends from oxinit, and so do the orphans it
/// adopts (as PID 1 or subreaper), so the scan walks oxinit's descendants
/// ([`proc_stat::scan_descendants`]) rather than reading the stat of every
/// process; kernels that do not list children get the full scan.
pub(crate) struct Scan {
    root: PathBuf,
    ancestor: i32,
    procs: Option<Vec<ProcStat>>,
}

impl Scan {
    pub(crate) fn new(root: &Path) -> Scan {
        Scan {
            root: root.to_owned(),
            ancestor: std::process::id() as i32,
            procs: None,
        }
    }

    fn procs(&mut self) -> &[ProcStat] {
        self.procs.get_or_insert_with(|| {
            proc_stat::scan_descendants(&self.root, self.ancestor)
                .unwrap_or_else(|| proc_stat::scan(&self.root))
        })
    }
}

/// [`read`] with a shared scan.
pub(crate) fn read_with(p: &ProcessStatus, scan: &mut Scan) -> Usage {
    let Some(pid) = p.pid.filter(|_| p.up) else {
        return Usage::default();
    };
    let mut usage = from_cgroups(&p.cgroups);
    if usage.memory_bytes.is_none() || usage.cpu_seconds.is_none() {
        // The child is a session leader: its pid is its process group.
        let tree = poll::sum(&poll::select(scan.procs(), pid, pid));
        if !tree.pids.is_empty() {
            usage.memory_bytes = usage.memory_bytes.or(Some(tree.rss_bytes));
            usage.cpu_seconds = usage.cpu_seconds.or(Some(tree.cpu_seconds));
        }
    }
    usage
}

/// The figures the cgroup directories give. cgroup v2 has one directory
/// with everything; v1 one per hierarchy (memory, pids, cpuacct), so each
/// file is looked for in every directory.
fn from_cgroups(dirs: &[PathBuf]) -> Usage {
    let first = |files: &[&str], read: fn(&Path) -> Option<f64>| {
        dirs.iter()
            .flat_map(|dir| files.iter().map(move |f| dir.join(f)))
            .find_map(|path| read(&path))
    };
    let memory = first(&["memory.current", "memory.usage_in_bytes"], read_number);
    let peak = first(&["memory.peak", "memory.max_usage_in_bytes"], read_number);
    // v2 cpu.stat's usage_usec exists without the cpu controller; v1 has it
    // only where a cpuacct cgroup was made.
    let cpu = first(&["cpu.stat"], |path| {
        Some(read_keyed(path, "usage_usec")? / 1e6)
    })
    .or_else(|| first(&["cpuacct.usage"], |path| Some(read_number(path)? / 1e9)));
    Usage {
        memory_bytes: memory.map(|v| v as u64),
        // Without a peak file, the current charge is the best lower bound.
        memory_peak_bytes: peak.or(memory).map(|v| v as u64),
        cpu_seconds: cpu,
    }
}

fn read_number(path: &Path) -> Option<f64> {
    let text = fs::read_to_string(path).ok()?;
    let value: u64 = text.trim().parse().ok()?;
    Some(value as f64)
}

fn read_keyed(path: &Path, key: &str) -> Option<f64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse::<u64>().ok().map(|v| v as f64))?
    })
}
