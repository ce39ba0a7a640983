//! One supervised process's cgroup: joining it, reading its figures,
//! killing what is inside, removing it.
//!
//! Lifecycle: `Enforcement::create` before the spawn; the child writes "0"
//! to each of `procs_fds()` between fork and exec ([`join_from_child`]), so
//! it and every descendant are accounted from their first instruction — a
//! join after exec would let a fast allocator escape the limit; after the
//! exit, read `oom_kills()` (the OOM verdict lives in the cgroup) and only
//! then `remove()`.
//!
//! [`join_from_child`]: crate::sys::spawn::join_from_child

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use super::files;
use super::layout::Layout;
use super::members::{kill_members, remove_tree};
use super::CgroupError;

/// Figures for metrics and `oxinit status`; `None` where unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub oom_kills: Option<u64>,
}

#[derive(Debug)]
pub struct ProcessCgroup {
    process: String,
    layout: Layout,
    /// `cgroup.procs` of each directory, opened by the parent so the child
    /// needs no path lookup and no permission beyond the open descriptor.
    procs: Vec<OwnedFd>,
    limit: Option<u64>,
    /// Highest `memory_current` seen, for kernels without a peak file.
    peak_seen: AtomicU64,
    /// The memory cgroup's path from the hierarchy's root as
    /// /proc/self/cgroup shows it: how the kernel log names it.
    hierarchy_path: Option<String>,
}

impl ProcessCgroup {
    pub(crate) fn new(
        process: &str,
        layout: Layout,
        procs: Vec<OwnedFd>,
        limit: Option<u64>,
    ) -> Self {
        ProcessCgroup {
            process: process.to_owned(),
            layout,
            procs,
            limit,
            peak_seen: AtomicU64::new(0),
            hierarchy_path: None,
        }
    }

    /// A cgroup v2 process cgroup at `dir` of a fake cgroupfs, for tests of
    /// the layers above.
    #[cfg(test)]
    pub(crate) fn fake_v2(process: &str, dir: &Path, limit: Option<u64>) -> Self {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        ProcessCgroup::new(process, Layout::V2 { dir: dir.into() }, vec![], limit)
            .with_hierarchy_path(format!("/{name}"))
    }

    /// Sets [`hierarchy_path`](Self::hierarchy_path).
    pub(crate) fn with_hierarchy_path(mut self, path: String) -> Self {
        self.hierarchy_path = Some(path);
        self
    }

    /// The memory cgroup's path inside its hierarchy (`/oxinit-api`, or
    /// below oxinit's own cgroup), as the kernel's OOM log lines name it.
    pub fn hierarchy_path(&self) -> Option<&str> {
        self.hierarchy_path.as_deref()
    }

    /// A descriptor that becomes readable when the OOM counter may have
    /// moved (see [`super::oom_watch`]); read [`oom_kills`](Self::oom_kills)
    /// then, and [`drain_oom_watch`](super::drain_oom_watch) it.
    pub fn oom_watch(&self) -> Result<OwnedFd, CgroupError> {
        super::oom_watch::open(&self.layout)
    }

    pub fn process(&self) -> &str {
        &self.process
    }

    /// The memory cgroup's directory (the only one under cgroup v2).
    pub fn path(&self) -> &Path {
        match &self.layout {
            Layout::V2 { dir } => dir,
            Layout::V1 { memory, .. } => memory,
        }
    }

    /// Every directory of this cgroup (v1: one per hierarchy).
    pub fn paths(&self) -> Vec<&Path> {
        match &self.layout {
            Layout::V2 { dir } => vec![dir.as_path()],
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => std::iter::once(memory)
                .chain(pids)
                .chain(cpuacct)
                .map(PathBuf::as_path)
                .collect(),
        }
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.limit
    }

    /// The descriptors the child writes "0" to before exec (see
    /// [`join_from_child`](crate::sys::spawn::join_from_child)). Collect them before fork: the child must not
    /// allocate. Empty after [`close_procs_fds`](Self::close_procs_fds).
    pub fn procs_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// Closes the join descriptors once the child has exec'd; they are
    /// close-on-exec, so holding them longer only costs descriptors.
    pub fn close_procs_fds(&mut self) {
        self.procs.clear();
    }

    /// Bytes charged to the cgroup now (page cache included, as the limit
    /// counts it).
    pub fn memory_current(&self) -> Result<u64, CgroupError> {
        let value = match &self.layout {
            Layout::V2 { dir } => files::read_u64(&dir.join("memory.current"))?,
            Layout::V1 { memory, .. } => files::read_u64(&memory.join("memory.usage_in_bytes"))?,
        };
        self.peak_seen.fetch_max(value, Ordering::Relaxed);
        Ok(value)
    }

    /// The highest charge since creation: `memory.peak` (v2, Linux 5.19+) or
    /// `memory.max_usage_in_bytes` (v1); without either, the highest value
    /// `memory_current` ever returned (which misses short spikes).
    pub fn memory_peak(&self) -> Result<u64, CgroupError> {
        let file = match &self.layout {
            Layout::V2 { dir } => dir.join("memory.peak"),
            Layout::V1 { memory, .. } => memory.join("memory.max_usage_in_bytes"),
        };
        match files::read_u64(&file) {
            Ok(peak) => Ok(peak),
            Err(err) if err.errno() == Some(Errno::ENOENT) => {
                let current = self.memory_current()?;
                Ok(self.peak_seen.load(Ordering::Relaxed).max(current))
            }
            Err(err) => Err(err),
        }
    }

    /// How many processes of this cgroup the kernel OOM killer has killed
    /// (v2 `memory.events`, v1 `memory.oom_control`, Linux 4.13+). Read it
    /// before `remove()`: the count dies with the cgroup.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        match &self.layout {
            Layout::V2 { dir } => files::read_keyed(&dir.join("memory.events"), "oom_kill"),
            Layout::V1 { memory, .. } => {
                files::read_keyed(&memory.join("memory.oom_control"), "oom_kill")
            }
        }
    }

    /// CPU time of everything that ever ran in the cgroup (v2 `cpu.stat`
    /// `usage_usec`; v1 `cpuacct.usage` when a cpuacct cgroup was made).
    /// `None` when unavailable: use `poll::tree_usage`'s `cpu_seconds` instead.
    pub fn cpu_seconds(&self) -> Option<f64> {
        match &self.layout {
            Layout::V2 { dir } => {
                let usec = files::read_keyed(&dir.join("cpu.stat"), "usage_usec").ok()?;
                Some(usec as f64 / 1e6)
            }
            Layout::V1 { cpuacct, .. } => {
                let nsec = files::read_u64(&cpuacct.as_ref()?.join("cpuacct.usage")).ok()?;
                Some(nsec as f64 / 1e9)
            }
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            memory_bytes: self.memory_current().ok(),
            memory_peak_bytes: self.memory_peak().ok(),
            memory_limit_bytes: self.limit,
            cpu_seconds: self.cpu_seconds(),
            oom_kills: self.oom_kills().ok(),
        }
    }

    /// Pids of the processes in the cgroup (and in any cgroup the process
    /// made below it).
    pub fn members(&self) -> Result<Vec<i32>, CgroupError> {
        files::read_pids_recursive(self.path())
    }

    /// SIGKILLs everything in the cgroup, including processes that left the
    /// process group or were re-parented. Returns how many processes were
    /// signalled. Does not wait for them to exit.
    pub fn kill_all(&self) -> Result<usize, CgroupError> {
        let mut signalled = 0;
        for dir in self.paths() {
            signalled += kill_members(dir)?;
        }
        Ok(signalled)
    }

    /// Removes every directory of this cgroup. When processes linger it
    /// SIGKILLs them and retries for up to ~0.1 s, then returns
    /// `CgroupError::Busy`: call it again after the reaper ran. Removing a
    /// cgroup that is already gone succeeds.
    pub fn remove(&mut self) -> Result<(), CgroupError> {
        self.procs.clear();
        for dir in self.paths() {
            remove_tree(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    fn fixture(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).unwrap();
        for (name, content) in files {
            fs::write(dir.join(name), content).unwrap();
        }
    }

    fn v2_at(dir: &Path) -> ProcessCgroup {
        ProcessCgroup::new(
            "api",
            Layout::V2 { dir: dir.into() },
            vec![],
            Some(64 << 20),
        )
    }

    #[test]
    fn v2_figures_from_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fixture(
            &dir,
            &[
                ("memory.current", "1000\n"),
                (
                    "memory.events",
                    "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 1\n",
                ),
                (
                    "cpu.stat",
                    "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
                ),
                ("cgroup.procs", "41\n42\n"),
            ],
        );
        let cg = v2_at(&dir);
        assert_eq!(cg.oom_kills().unwrap(), 2);
        assert_eq!(cg.cpu_seconds(), Some(2.5));
        assert_eq!(cg.members().unwrap(), vec![41, 42]);
        // No memory.peak (Linux < 5.19): the peak is the highest value seen.
        assert_eq!(cg.memory_peak().unwrap(), 1000);
        fs::write(dir.join("memory.current"), "5000\n").unwrap();
        assert_eq!(cg.memory_current().unwrap(), 5000);
        fs::write(dir.join("memory.current"), "2000\n").unwrap();
        assert_eq!(cg.memory_peak().unwrap(), 5000);
        // With memory.peak, the kernel's figure wins.
        fs::write(dir.join("memory.peak"), "7000\n").unwrap();
        assert_eq!(cg.memory_peak().unwrap(), 7000);
        let usage = cg.usage();
        assert_eq!(usage.memory_bytes, Some(2000));
        assert_eq!(usage.memory_limit_bytes, Some(64 << 20));
        assert_eq!(usage.oom_kills, Some(2));
    }

    #[test]
    fn v1_figures_from_files() {
        let tmp = tempfile::tempdir().unwrap();
        let memory = tmp.path().join("memory/oxinit-api");
        let cpuacct = tmp.path().join("cpuacct/oxinit-api");
        fixture(
            &memory,
            &[
                ("memory.usage_in_bytes", "4096\n"),
                ("memory.max_usage_in_bytes", "8192\n"),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
                ),
            ],
        );
        fixture(&cpuacct, &[("cpuacct.usage", "1500000000\n")]);
        let cg = ProcessCgroup::new(
            "api",
            Layout::V1 {
                memory,
                pids: None,
                cpuacct: Some(cpuacct),
            },
            vec![],
            None,
        );
        assert_eq!(cg.memory_current().unwrap(), 4096);
        assert_eq!(cg.memory_peak().unwrap(), 8192);
        assert_eq!(cg.oom_kills().unwrap(), 3);
        assert_eq!(cg.cpu_seconds(), Some(1.5));
        assert!(cg.members().unwrap().is_empty());
    }

    #[test]
    fn kill_all_prefers_cgroup_kill() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fixture(&dir, &[("cgroup.kill", ""), ("cgroup.procs", "")]);
        v2_at(&dir).kill_all().unwrap();
        assert_eq!(fs::read_to_string(dir.join("cgroup.kill")).unwrap(), "1");
    }

    #[test]
    fn kill_all_without_cgroup_kill_signals_each_member_but_never_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
        let own = std::process::id();
        fixture(
            &dir,
            &[("cgroup.procs", &format!("{}\n{own}\n", victim.id()))],
        );
        let signalled = v2_at(&dir).kill_all().unwrap();
        let status = victim.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(signalled, 1);
    }

    #[test]
    fn remove_deletes_nested_cgroups_and_tolerates_a_missing_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fs::create_dir_all(dir.join("inner/deeper")).unwrap();
        let mut cg = v2_at(&dir);
        cg.remove().unwrap();
        assert!(!dir.exists());
        cg.remove().unwrap();
    }
}
