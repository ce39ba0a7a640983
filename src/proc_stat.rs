//! The kernel's process table as /proc shows it: `/proc/<pid>/stat` of one
//! process, of every process, or of a process and its descendants, and the
//! boot time that turns a process's start tick into a date.
//!
//! Every other part of oxinit that needs the process table reads it here:
//! the subreaper's list of descendants to stop ([`crate::sys::pid1`]), the
//! RSS and CPU of a process tree ([`crate::cgroup::poll`]), the metrics'
//! scan of supervised processes and oxinit's own `process_*` metrics
//! ([`crate::metrics`]).
//!
//! /proc is a moving target: a process listed by readdir may be gone before
//! its stat is read, so scans skip what they cannot read instead of failing.
//! Every reader takes the proc root as a parameter, so tests run on fake
//! trees in a temp dir.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use nix::unistd::{sysconf, SysconfVar};

/// What oxinit reads from one `/proc/<pid>/stat` (see proc(5) for the
/// field numbers in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 1.
    pub pid: i32,
    /// Field 3: `R`, `S`, `D`, `T` (stopped by a signal), `t` (traced), `Z`…
    pub state: u8,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: the process group.
    pub pgid: i32,
    /// Fields 14 + 15, utime + stime: the process's own CPU time, in clock
    /// ticks ([`clock_ticks`]).
    pub cpu_ticks: u64,
    /// Fields 16 + 17, cutime + cstime: CPU time of the children it has
    /// waited for, in clock ticks.
    pub children_cpu_ticks: u64,
    /// Field 20.
    pub threads: u64,
    /// Field 22: when the process started, in clock ticks after boot.
    pub start_ticks: u64,
    /// Field 23: virtual memory size in bytes.
    pub vsize_bytes: u64,
    /// Field 24: resident pages ([`page_size`]); the same counter as
    /// statm's `resident`.
    pub rss_pages: u64,
}

impl ProcStat {
    /// Stopped by a signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): only SIGCONT
    /// lets it act on another signal.
    pub fn is_stopped(&self) -> bool {
        self.state == b'T'
    }

    /// Resident bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.rss_pages.saturating_mul(page_size())
    }
}

/// How many fields after the command name are read: 3 (state) to 24 (rss).
const FIELDS_READ: usize = 22;

/// Parses the text of a `/proc/<pid>/stat` file. Bytes, not a `str`: the
/// command name (field 2) is whatever the process set with `prctl` or the
/// name of the file it executed, which need not be UTF-8. It is in
/// parentheses and may itself hold spaces and ')', so the other fields are
/// counted from the *last* ')'.
pub fn parse(stat: &[u8]) -> Option<ProcStat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let pid = std::str::from_utf8(stat.get(..open)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = [""; FIELDS_READ];
    let mut words = rest.split_ascii_whitespace();
    for slot in &mut fields {
        *slot = words.next()?;
    }
    // field(n) is field n of proc(5), counted from 1; fields[0] is field 3.
    let field = |n: usize| fields[n - 3];
    let int = |n: usize| field(n).parse::<i64>().ok();
    // Fields the kernel prints signed ("%ld") are clamped: a negative tick
    // count or page count means nothing to a sum.
    let count = |n: usize| int(n).map(|v| v.max(0) as u64);
    Some(ProcStat {
        pid,
        state: *field(3).as_bytes().first()?,
        ppid: i32::try_from(int(4)?).ok()?,
        pgid: i32::try_from(int(5)?).ok()?,
        cpu_ticks: count(14)? + count(15)?,
        children_cpu_ticks: count(16)? + count(17)?,
        threads: count(20)?,
        start_ticks: field(22).parse().ok()?,
        vsize_bytes: field(23).parse().ok()?,
        rss_pages: count(24)?,
    })
}

/// The stat of the process whose directory in `proc_root` is `dir` (a pid,
/// or "self"); `None` when it is gone, unreadable or malformed.
pub fn read(proc_root: &Path, dir: &str) -> Option<ProcStat> {
    parse(&fs::read(proc_root.join(dir).join("stat")).ok()?)
}

/// Every process in `proc_root` whose stat could be read.
pub fn scan(proc_root: &Path) -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            // "self", "thread-self", "sys", …: not processes.
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // The process may exit between readdir and read: skip it.
            read(proc_root, name)
        })
        .collect()
}

/// `ancestor` and its descendants, found by following
/// `/proc/<pid>/task/<tid>/children` down from `ancestor` instead of
/// reading every process's stat: on a shared host (a developer's machine,
/// CI) /proc holds thousands of processes and a full [`scan`] takes a large
/// part of a second. `None` when the kernel does not list children
/// (CONFIG_PROC_CHILDREN), or `ancestor` is not in `proc_root`: use
/// [`scan`] then.
///
/// The children files list only the children of each thread that are still
/// its children, so this sees the same tree as parent links in a scan.
pub fn scan_descendants(proc_root: &Path, ancestor: i32) -> Option<Vec<ProcStat>> {
    let mut found = Vec::new();
    let mut stack = vec![ancestor];
    while let Some(pid) = stack.pop() {
        let name = pid.to_string();
        let tasks = match fs::read_dir(proc_root.join(&name).join("task")) {
            Ok(tasks) => tasks,
            // Exited since its parent listed it.
            Err(_) if pid != ancestor => continue,
            Err(_) => return None,
        };
        for task in tasks.flatten() {
            match fs::read_to_string(task.path().join("children")) {
                Ok(children) => stack.extend(
                    children
                        .split_ascii_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                ),
                Err(_) if pid == ancestor => return None,
                Err(_) => {}
            }
        }
        if let Some(stat) = read(proc_root, &name) {
            found.push(stat);
        }
    }
    Some(found)
}

/// The processes among `procs` for which `is_root` holds, and all their
/// descendants among `procs` by parent links (each once).
pub fn with_descendants(procs: &[ProcStat], is_root: impl Fn(&ProcStat) -> bool) -> Vec<ProcStat> {
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, p) in procs.iter().enumerate() {
        children.entry(p.ppid).or_default().push(i);
    }
    let mut chosen = vec![false; procs.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        if is_root(p) {
            chosen[i] = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        for &child in children.get(&procs[i].pid).into_iter().flatten() {
            if !chosen[child] {
                chosen[child] = true;
                stack.push(child);
            }
        }
    }
    procs
        .iter()
        .zip(chosen)
        .filter_map(|(p, keep)| keep.then_some(*p))
        .collect()
}

/// Seconds since the Unix epoch when the machine booted: the `btime` line
/// of `<proc_root>/stat`. A process's start is `btime + start_ticks /
/// clock_ticks()`. Fixed while the machine runs: callers may cache it.
pub fn boot_time(proc_root: &Path) -> Option<u64> {
    let text = fs::read_to_string(proc_root.join("stat")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Clock ticks per second, the unit of the CPU and start-time fields
/// (`sysconf(_SC_CLK_TCK)`, 100 on every Linux in practice).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| positive(sysconf(SysconfVar::CLK_TCK), 100))
}

/// Bytes per page, the unit of the RSS field.
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| positive(sysconf(SysconfVar::PAGE_SIZE), 4096))
}

/// The value of a sysconf query, or `fallback` when it failed: both
/// constants exist on every Linux, so this only guards against nonsense.
fn positive(value: nix::Result<Option<libc::c_long>>, fallback: u64) -> u64 {
    value
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .unwrap_or(fallback)
}

/// A stat line as the kernel writes it, with the fields oxinit reads set and
/// the others plausible: for tests on fake /proc trees, here and elsewhere.
#[cfg(test)]
pub(crate) fn stat_line(
    pid: i32,
    comm: &str,
    ppid: i32,
    pgid: i32,
    rss: u64,
    utime: u64,
) -> String {
    format!(
        "{pid} ({comm}) S {ppid} {pgid} {pgid} 0 -1 4194560 100 0 0 0 \
         {utime} 2 3 4 20 0 5 0 12345 1000000 {rss} 18446744073709551615 1 1 0 0 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    fn fake_proc() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn write(root: &Path, rel: &str, text: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn every_field_is_read_after_a_hostile_comm() {
        let line = stat_line(42, "a) (b c) S 1 2", 7, 42, 300, 10);
        assert_eq!(
            parse(line.as_bytes()),
            Some(ProcStat {
                pid: 42,
                state: b'S',
                ppid: 7,
                pgid: 42,
                cpu_ticks: 10 + 2,
                children_cpu_ticks: 3 + 4,
                threads: 5,
                start_ticks: 12345,
                vsize_bytes: 1000000,
                rss_pages: 300,
            })
        );
        // The shape the old pid1 parser was tested with: ')' then more.
        let short = parse(stat_line(1, "(init)", 0, 1, 0, 0).as_bytes()).unwrap();
        assert_eq!((short.pid, short.ppid), (1, 0));
        let stopped = stat_line(3, "x", 1, 3, 0, 0).replacen(") S ", ") T ", 1);
        assert!(parse(stopped.as_bytes()).unwrap().is_stopped());
        assert!(!short.is_stopped());
    }

    #[test]
    fn a_comm_that_is_not_utf8_still_parses() {
        let mut line = b"77 (caf\xe9 \xff)".to_vec();
        let rest = stat_line(0, "", 3, 77, 9, 1);
        line.extend_from_slice(rest.split_once(')').unwrap().1.as_bytes());
        let p = parse(&line).unwrap();
        assert_eq!((p.pid, p.ppid, p.pgid, p.rss_pages), (77, 3, 77, 9));
    }

    #[test]
    fn malformed_stat_is_none_not_a_panic() {
        let full = stat_line(42, "x", 1, 42, 3, 4);
        for bad in [
            "",
            "garbage",
            "42 (truncated",
            "42 (x) S 1 42",                // too few fields
            &full.replacen("42", "x42", 1), // no pid
            &full[..full.len() / 2],
            &full.replace(" 1000000 ", " -5 "), // vsize is unsigned
            &full.replace("S 1 42", "S 99999999999 42"),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        let negative_rss = full.replace(" 1000000 3 ", " 1000000 -3 ");
        assert_eq!(parse(negative_rss.as_bytes()).unwrap().rss_pages, 0);
    }

    #[test]
    fn scan_skips_vanished_malformed_and_non_pid_entries() {
        let proc = fake_proc();
        let root = proc.path();
        write(
            root,
            "100/stat",
            stat_line(100, "app", 1, 100, 10, 50).as_bytes(),
        );
        write(
            root,
            "101/stat",
            stat_line(101, "my worker (1)", 100, 100, 20, 50).as_bytes(),
        );
        fs::create_dir(root.join("102")).unwrap(); // exited between readdir and read
        write(root, "103/stat", b"103 (half");
        write(
            root,
            "self/stat",
            stat_line(999, "x", 1, 999, 1, 0).as_bytes(),
        );
        write(root, "stat", b"btime 1700000000\n");
        let mut pids: Vec<i32> = scan(root).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, vec![100, 101]);
        assert_eq!(read(root, "self").map(|p| p.pid), Some(999));
        assert_eq!(read(root, "102"), None);
        assert!(scan(&root.join("nonexistent")).is_empty());
    }

    #[test]
    fn with_descendants_follows_parent_links_from_every_root() {
        let p = |pid, ppid| parse(stat_line(pid, "p", ppid, pid, 0, 0).as_bytes()).unwrap();
        let procs = [
            p(1, 0),
            p(10, 1),
            p(11, 10),
            p(12, 11),
            p(13, 1),
            p(14, 10),
            p(20, 1),
        ];
        let pids = |found: Vec<ProcStat>| {
            let mut pids: Vec<i32> = found.iter().map(|p| p.pid).collect();
            pids.sort();
            pids
        };
        assert_eq!(
            pids(with_descendants(&procs, |p| p.pid == 10)),
            [10, 11, 12, 14]
        );
        // Descendants only: the children of 10 as roots.
        assert_eq!(
            pids(with_descendants(&procs, |p| p.ppid == 10)),
            [11, 12, 14]
        );
        assert_eq!(
            pids(with_descendants(&procs, |p| p.pid == 11 || p.pid == 13)),
            [11, 12, 13]
        );
        assert!(with_descendants(&procs, |p| p.pid == 99).is_empty());
    }

    #[test]
    fn scan_descendants_follows_children_files_of_every_thread() {
        let proc = fake_proc();
        let root = proc.path();
        let stat = |pid: i32, ppid| stat_line(pid, "p", ppid, pid, 1, 0);
        // 10 has two threads, each with a child; 12 is listed but gone.
        write(root, "10/stat", stat(10, 1).as_bytes());
        write(root, "10/task/10/children", b"11 ");
        write(root, "10/task/15/children", b"12 13 ");
        write(root, "11/stat", stat(11, 10).as_bytes());
        write(root, "11/task/11/children", b"");
        write(root, "13/stat", stat(13, 10).as_bytes());
        write(root, "13/task/13/children", b"14");
        write(root, "14/stat", stat(14, 13).as_bytes());
        write(root, "14/task/14/children", b"");
        write(root, "20/stat", stat(20, 1).as_bytes()); // not below 10
        let mut pids: Vec<i32> = scan_descendants(root, 10)
            .unwrap()
            .iter()
            .map(|p| p.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 13, 14]);
        // No children files (CONFIG_PROC_CHILDREN off), or no such ancestor.
        assert_eq!(scan_descendants(root, 20), None);
        assert_eq!(scan_descendants(root, 99), None);
    }

    #[test]
    fn scan_descendants_finds_real_children_and_grandchildren() {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let proc_root = Path::new("/proc");
        let me = std::process::id() as i32;
        if !proc_root.join(format!("{me}/task/{me}/children")).exists() {
            eprintln!("SKIP: this kernel has no /proc/<pid>/task/<tid>/children");
            return;
        }
        // sh forks a sleep, then a second one; wait until both exist.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & exec sleep 31"])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let tree = loop {
            let procs = scan_descendants(proc_root, me).unwrap();
            let tree = with_descendants(&procs, |p| p.pid == pid);
            if tree.len() >= 2 || Instant::now() > deadline {
                break tree;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let group = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(tree.len() >= 2, "tree of {pid}: {tree:?}");
        assert!(tree.iter().any(|p| p.pid == pid));
        assert!(tree.iter().any(|p| p.ppid == pid));
    }

    #[test]
    fn boot_time_is_the_btime_line() {
        let proc = fake_proc();
        write(
            proc.path(),
            "stat",
            b"cpu  1 2 3 4\nintr 5 6\nbtime 1700000000\nprocesses 9\n",
        );
        assert_eq!(boot_time(proc.path()), Some(1_700_000_000));
        write(proc.path(), "stat", b"cpu  1 2 3 4\n");
        assert_eq!(boot_time(proc.path()), None);
        assert_eq!(boot_time(&proc.path().join("nonexistent")), None);
    }

    #[test]
    fn this_process_read_from_the_real_proc() {
        let proc_root = Path::new("/proc");
        let me = read(proc_root, "self").unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
        assert!(me.threads >= 1);
        assert!(me.rss_bytes() > 1 << 20, "{me:?}");
        assert!(me.vsize_bytes >= me.rss_bytes(), "{me:?}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let booted = boot_time(proc_root).unwrap() as f64;
        let started = booted + me.start_ticks as f64 / clock_ticks() as f64;
        // The test binary started a moment ago; allow a slow CI.
        assert!(
            (now - 3600.0..now + 2.0).contains(&started),
            "started at {started}, now {now}"
        );
        assert!(scan(proc_root).iter().any(|p| p.pid == me.pid));
    }

    #[test]
    fn units_are_the_systems() {
        assert!(clock_ticks() > 0);
        assert!(page_size() >= 4096 && page_size().is_power_of_two());
    }
}
