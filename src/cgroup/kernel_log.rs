//! Who the kernel OOM killer killed, from the kernel log (`/dev/kmsg`).
//!
//! The cgroup's counter says how many processes were killed, not which. The
//! victim is usually not our child (a worker of the service's main process),
//! and it is gone by the time we look, so neither the reaper nor /proc can
//! name it. The kernel can: for every kill it logs one summary line
//! (Linux 4.19+)
//!
//! ```text
//! oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/x/oxinit-api,task_memcg=/x/oxinit-api,task=python3,pid=4242,uid=0
//! ```
//!
//! *before* it counts the kill in the cgroup, so once the counter moved, the
//! line is there to read. The log is the whole machine's (other containers'
//! kills too), so a line is ours only when its `task_memcg` is our cgroup or
//! below it, and only as many lines are taken as the counter moved.
//!
//! Inside a container `/dev/kmsg` is often missing or not readable (it needs
//! CAP_SYSLOG under `dmesg_restrict`); then victims are "unknown" and only the
//! count is logged. The pids in the log are the kernel's, i.e. the host's pid
//! namespace: inside a pid namespace they differ from what `ps` shows there,
//! and the log line says "host pid".

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Victims read from the log but not claimed yet (kills in cgroups that are
/// not ours, or lines read before their counter was): the newest are kept.
const BACKLOG: usize = 256;

/// One kill, as the kernel logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomVictim {
    pub pid: i32,
    pub comm: String,
    /// The victim's memory cgroup, as the kernel names it (from the
    /// hierarchy's root, not from our cgroup namespace's).
    pub cgroup: String,
    /// Whether `pid` is a pid of our own pid namespace.
    pub pid_is_ours: bool,
}

impl std::fmt::Display for OomVictim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.pid_is_ours { "" } else { "host " };
        write!(f, "{host}pid {} ({})", self.pid, self.comm)
    }
}

/// A reader of the kernel log positioned at its end when opened, or the
/// reason why there is none.
#[derive(Debug)]
pub struct KernelLog {
    file: Result<File, String>,
    pids_are_ours: bool,
    backlog: VecDeque<OomVictim>,
}

impl KernelLog {
    /// Opens `path` (normally `/dev/kmsg`) non-blocking, skipping what is
    /// already logged. `proc_root` tells whether we share the kernel's pid
    /// namespace: only there does /proc show kernel threads (`kthreadd` is
    /// pid 2).
    pub fn open(path: &Path, proc_root: &Path) -> KernelLog {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .and_then(|mut file| file.seek(SeekFrom::End(0)).map(|_| file))
            .map_err(|err| format!("{} is not readable here: {err}", path.display()));
        let pids_are_ours = std::fs::read(proc_root.join("2/stat"))
            .is_ok_and(|stat| stat.starts_with(b"2 (kthreadd) S 0 "));
        KernelLog {
            file,
            pids_are_ours,
            backlog: VecDeque::new(),
        }
    }

    /// A log that is not there: every victim is unknown, for `why`.
    pub fn unavailable(why: impl Into<String>) -> KernelLog {
        KernelLog {
            file: Err(why.into()),
            pids_are_ours: false,
            backlog: VecDeque::new(),
        }
    }

    /// Why victims cannot be known here, when they cannot.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.file.as_ref().err().map(String::as_str)
    }

    /// Reads what was logged since the last call and returns up to `max`
    /// victims (oldest first) in the cgroup `ours` (its path from the
    /// hierarchy's root, as /proc/self/cgroup shows it) or below it. `Err`
    /// says why victims cannot be known here.
    pub fn claim(&mut self, ours: &str, max: usize) -> Result<Vec<OomVictim>, String> {
        self.read_new()?;
        let mut claimed = Vec::new();
        let mut i = 0;
        while i < self.backlog.len() && claimed.len() < max {
            if within(&self.backlog[i].cgroup, ours) {
                claimed.extend(self.backlog.remove(i));
            } else {
                i += 1;
            }
        }
        Ok(claimed)
    }

    fn read_new(&mut self) -> Result<(), String> {
        let file = self.file.as_mut().map_err(|why| why.clone())?;
        // /dev/kmsg returns one record per read; 8 KiB holds the longest.
        let mut buf = vec![0u8; 8192];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    for victim in parse(&String::from_utf8_lossy(&buf[..n]), self.pids_are_ours) {
                        if self.backlog.len() == BACKLOG {
                            self.backlog.pop_front();
                        }
                        self.backlog.push_back(victim);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // EPIPE: records we had not read yet were overwritten; the
                // next read goes on with the oldest one left.
                Err(err) if err.raw_os_error() == Some(libc::EPIPE) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let why = format!("reading the kernel log failed: {err}");
                    self.file = Err(why.clone());
                    return Err(why);
                }
            }
        }
    }
}

/// The victims in kernel log records (`PRI,SEQ,TS,FLAGS;MESSAGE`, one a
/// line; continuation lines start with a space).
pub(crate) fn parse(records: &str, pids_are_ours: bool) -> Vec<OomVictim> {
    records
        .lines()
        .filter_map(|line| {
            let (_, message) = line.split_once(';')?;
            let summary = message.trim_start().strip_prefix("oom-kill:")?;
            // The command name may hold ',' and '=': cut at the fixed keys
            // that follow it instead of splitting on ','.
            let cgroup = between(summary, "task_memcg=", ",task=")?;
            let (comm, rest) = summary.split_once(",task=")?.1.rsplit_once(",pid=")?;
            let pid = rest.split(',').next()?.parse().ok()?;
            Some(OomVictim {
                pid,
                comm: comm.to_owned(),
                cgroup: cgroup.to_owned(),
                pid_is_ours: pids_are_ours,
            })
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// Whether the kernel's cgroup path `theirs` is `ours` or below it. Inside a
/// cgroup namespace `ours` is relative to the namespace's root, which the
/// kernel's path has in front: then `ours` matches at any '/' of `theirs`.
pub(crate) fn within(theirs: &str, ours: &str) -> bool {
    let ours = ours.trim_end_matches('/');
    if ours.is_empty() {
        return false;
    }
    theirs.match_indices('/').any(|(at, _)| {
        let tail = &theirs[at..];
        tail.strip_prefix(ours)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LINE: &str = "3,1042,418841096,-;oom-kill:constraint=CONSTRAINT_MEMCG,\
        nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/ns/oxinit-api,\
        task_memcg=/ns/oxinit-api/inner,task=my,worker=1,pid=4242,uid=0\n";

    #[test]
    fn parses_the_summary_line_and_ignores_the_rest() {
        let text = format!(
            "6,1,2,-;Linux version 6.1\n{LINE} SUBSYSTEM=memory\n\
             3,1043,418841117,-;Memory cgroup out of memory: Killed process 4242 (my,worker=1)\n"
        );
        let victims = parse(&text, false);
        assert_eq!(
            victims,
            vec![OomVictim {
                pid: 4242,
                comm: "my,worker=1".into(),
                cgroup: "/ns/oxinit-api/inner".into(),
                pid_is_ours: false,
            }]
        );
        assert_eq!(victims[0].to_string(), "host pid 4242 (my,worker=1)");
    }

    #[test]
    fn a_cgroup_matches_itself_and_below_at_any_namespace_root() {
        assert!(within("/oxinit-api", "/oxinit-api"));
        assert!(within("/oxinit-api/inner", "/oxinit-api"));
        assert!(within("/docker/abc/oxinit-api", "/oxinit-api"));
        assert!(!within("/oxinit-api2", "/oxinit-api"));
        assert!(!within("/oxinit-apix/y", "/oxinit-api"));
        assert!(!within("/other", "/oxinit-api"));
        assert!(!within("/anything", "/"));
    }

    #[test]
    fn claims_only_new_lines_of_its_own_cgroup_up_to_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsg");
        std::fs::write(&path, LINE).unwrap();
        let mut log = KernelLog::open(&path, dir.path());
        // What was logged before oxinit opened the log is not read.
        assert_eq!(log.claim("/oxinit-api", 5).unwrap(), vec![]);
        let other = LINE.replace("oxinit-api", "oxinit-db").replace("4242", "7");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(other.as_bytes()).unwrap();
        file.write_all(LINE.replace("4242", "4343").as_bytes())
            .unwrap();
        file.write_all(LINE.replace("4242", "4444").as_bytes())
            .unwrap();
        let pids = |v: Vec<OomVictim>| v.iter().map(|v| v.pid).collect::<Vec<_>>();
        assert_eq!(pids(log.claim("/oxinit-api", 1).unwrap()), vec![4343]);
        assert_eq!(pids(log.claim("/oxinit-api", 5).unwrap()), vec![4444]);
        // The other cgroup's line waits in the backlog for its owner.
        assert_eq!(pids(log.claim("/oxinit-db", 5).unwrap()), vec![7]);
        assert!(log.claim("/oxinit-db", 5).unwrap().is_empty());
    }

    #[test]
    fn without_a_log_victims_are_unknown_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = KernelLog::open(&dir.path().join("missing"), dir.path());
        let why = log.claim("/oxinit-api", 1).unwrap_err();
        assert!(why.contains("missing is not readable here"), "{why}");
    }

    #[test]
    fn pids_are_ours_only_where_kernel_threads_are_visible() {
        let dir = tempfile::tempdir().unwrap();
        let kmsg = dir.path().join("kmsg");
        std::fs::write(&kmsg, "").unwrap();
        std::fs::create_dir(dir.path().join("2")).unwrap();
        std::fs::write(dir.path().join("2/stat"), "2 (sh) S 0 2 2 0").unwrap();
        assert!(!KernelLog::open(&kmsg, dir.path()).pids_are_ours);
        std::fs::write(dir.path().join("2/stat"), "2 (kthreadd) S 0 0 0 0").unwrap();
        assert!(KernelLog::open(&kmsg, dir.path()).pids_are_ours);
    }
}
