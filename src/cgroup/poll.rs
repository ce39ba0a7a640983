//! Memory and CPU of a process tree, from /proc.
//!
//! Where no cgroup can be written (unprivileged Docker), this is how a
//! memory limit is enforced: the supervisor calls [`tree_usage`] every few
//! seconds and stops the process when `rss_bytes` exceeds its limit. It also
//! gives figures for processes that have no cgroup.
//!
//! "The tree" is the process group `pgid` (the child is a session leader,
//! so its group is everything it did not move elsewhere) plus every
//! descendant of `root_pid` by parent links, which catches children that
//! called setsid() or setpgid(). Orphans re-parented to oxinit leave the
//! tree; only a cgroup keeps them.
//!
//! One pass over `/proc/*/stat` ([`proc_stat::scan`]) gives pid, parent,
//! group, RSS and CPU ticks — the stat file's `rss` field is the same
//! counter as statm's `resident`, so one read per process suffices.
//! Processes vanish during the scan; they are skipped. RSS of forked processes that share pages is
//! counted once per process, so the sum can exceed what the kernel charges.

use std::path::Path;

use crate::proc_stat::{self, ProcStat};

/// The members of the tree (see the module doc) among `procs`.
pub fn select(procs: &[ProcStat], root_pid: i32, pgid: i32) -> Vec<ProcStat> {
    proc_stat::with_descendants(procs, |p| p.pid == root_pid || (pgid > 0 && p.pgid == pgid))
}

/// Totals for one tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeUsage {
    pub rss_bytes: u64,
    /// Not monotonic: time of a descendant that oxinit (as subreaper)
    /// reaps leaves the tree. Keep the maximum for a counter.
    pub cpu_seconds: f64,
    pub pids: Vec<i32>,
}

/// RSS, CPU and pids of the tree of `root_pid` and process group `pgid`,
/// in one scan of `proc_root`.
pub fn tree_usage(proc_root: &Path, root_pid: i32, pgid: i32) -> TreeUsage {
    sum(&select(&proc_stat::scan(proc_root), root_pid, pgid))
}

/// Totals of `members` (from [`select`]): lets a caller that needs several
/// trees (a metrics scrape) scan /proc once instead of once per tree.
pub fn sum(members: &[ProcStat]) -> TreeUsage {
    let pages: u64 = members.iter().map(|p| p.rss_pages).sum();
    // A process's own time and that of the children it reaped: time of
    // descendants that exited is kept.
    let ticks: u64 = members
        .iter()
        .map(|p| p.cpu_ticks + p.children_cpu_ticks)
        .sum();
    TreeUsage {
        rss_bytes: pages * proc_stat::page_size(),
        cpu_seconds: ticks as f64 / proc_stat::clock_ticks() as f64,
        pids: members.iter().map(|p| p.pid).collect(),
    }
}

/// Resident bytes of the tree.
pub fn tree_rss(proc_root: &Path, root_pid: i32, pgid: i32) -> u64 {
    tree_usage(proc_root, root_pid, pgid).rss_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::proc_stat::stat_line;

    #[test]
    fn select_takes_group_and_descendants_only() {
        let p = |pid, ppid, pgid| {
            proc_stat::parse(stat_line(pid, "p", ppid, pgid, 1, 0).as_bytes()).unwrap()
        };
        let procs = [
            p(1, 0, 1),    // init
            p(10, 1, 10),  // root of the tree, group leader
            p(11, 10, 10), // child in the group
            p(12, 10, 12), // child that called setsid
            p(13, 12, 12), // its child
            p(20, 1, 10),  // orphan still in the group
            p(30, 1, 30),  // unrelated
            p(31, 30, 30), // unrelated child
        ];
        let mut pids: Vec<i32> = select(&procs, 10, 10).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 12, 13, 20]);
        assert!(select(&procs, 99, 0).is_empty());
    }

    #[test]
    fn scan_fake_proc_skips_vanished_and_non_pid_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |pid: &str, text: &str| {
            fs::create_dir_all(tmp.path().join(pid)).unwrap();
            if !text.is_empty() {
                fs::write(tmp.path().join(pid).join("stat"), text).unwrap();
            }
        };
        write("100", &stat_line(100, "app", 1, 100, 10, 50));
        write("101", &stat_line(101, "my worker (1)", 100, 100, 20, 50));
        write("102", ""); // exited between readdir and read
        write("self", &stat_line(999, "x", 1, 999, 1000, 0));
        write("200", &stat_line(200, "other", 1, 200, 4000, 0));
        let usage = tree_usage(tmp.path(), 100, 100);
        assert_eq!(usage.rss_bytes, 30 * proc_stat::page_size());
        let mut pids = usage.pids.clone();
        pids.sort();
        assert_eq!(pids, vec![100, 101]);
        let expected = 2.0 * (50 + 2 + 3 + 4) as f64 / proc_stat::clock_ticks() as f64;
        assert!((usage.cpu_seconds - expected).abs() < 1e-9);
    }
}
