//! What is inside a cgroup of ours: whose processes they are, killing them
//! all, and removing the cgroup once they are gone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::files;
use super::CgroupError;

/// Rounds of "read members, SIGKILL the new ones". A fork bomb can add
/// members between a read and the kills; each round catches those, and
/// stops as soon as a read shows nothing new.
const KILL_ROUNDS: usize = 16;

/// Whose processes a cgroup of our name holds, judged by their ancestry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Empty, or its processes descend from this oxinit, or from no oxinit
    /// at all (a previous run's, reparented when it died): ours to empty.
    Ours,
    /// A process of it descends from another live oxinit and not from this
    /// one: two oxinits share a cgroup (parallel tests, a second instance
    /// started by hand). Killing those processes would break the other.
    Another(i32),
}

/// [`Owner`] of `dir`, from the members' parent chains in `proc_root`. An
/// oxinit is a process with this process's own `comm`; a chain that
/// passes through this oxinit is ours (a nested oxinit's children too).
pub(crate) fn owner(dir: &Path, proc_root: &Path) -> Owner {
    let own = std::process::id() as i32;
    let comm =
        |pid: i32| std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).ok();
    let Some(own_comm) = std::fs::read_to_string(proc_root.join("self/comm")).ok() else {
        return Owner::Ours;
    };
    let members = files::read_pids_recursive(dir).unwrap_or_default();
    for pid in members.into_iter().filter(|&pid| pid > 1 && pid != own) {
        let mut other = None;
        let mut at = pid;
        // Bounded: a pid chain is at most as long as the process table.
        for _ in 0..4096 {
            let Some(stat) = crate::proc_stat::read(proc_root, &at.to_string()) else {
                break;
            };
            if stat.ppid == own {
                other = None;
                break;
            }
            if stat.ppid <= 1 {
                break;
            }
            if other.is_none() && comm(stat.ppid).as_deref() == Some(own_comm.as_str()) {
                other = Some(stat.ppid);
            }
            at = stat.ppid;
        }
        if let Some(owner) = other {
            return Owner::Another(owner);
        }
    }
    Owner::Ours
}

/// SIGKILLs every process in `dir` and below. Uses `cgroup.kill` (v2, Linux
/// 5.14+), which the kernel applies atomically to the whole subtree, when
/// the file exists; otherwise signals pid by pid.
pub(crate) fn kill_members(dir: &Path) -> Result<usize, CgroupError> {
    let kill_file = dir.join("cgroup.kill");
    if kill_file.is_file() {
        let count = files::read_pids_recursive(dir)?.len();
        files::write(&kill_file, "1")?;
        return Ok(count);
    }
    let own = std::process::id() as i32;
    let mut signalled: Vec<i32> = Vec::new();
    for _ in 0..KILL_ROUNDS {
        let fresh: Vec<i32> = files::read_pids_recursive(dir)?
            .into_iter()
            // Never signal init, ourselves, or a process group (pid <= 0),
            // whatever a cgroup.procs (or a fake one in a test) says.
            .filter(|&pid| pid > 1 && pid != own && !signalled.contains(&pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(errno) => tracing::warn!(
                    "cannot SIGKILL pid {pid} in cgroup {}: {errno}",
                    dir.display()
                ),
            }
            signalled.push(pid);
        }
    }
    Ok(signalled.len())
}

/// Waits between rmdir attempts while SIGKILLed members finish exiting
/// (zombies do not hold a cgroup; exiting ones do for a moment): ~75 ms in
/// all, short enough to block PID 1's loop.
const REMOVE_BACKOFF: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(20),
    Duration::from_millis(40),
];

/// Removes `dir` and any cgroups below it, killing lingering members.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for pause in REMOVE_BACKOFF {
        std::thread::sleep(pause);
        match rmdir_tree(dir) {
            Ok(()) => return Ok(()),
            Err((_, err)) if err.raw_os_error() == Some(libc::EBUSY) => {
                if let Err(err) = kill_members(dir) {
                    tracing::debug!("while removing {}: {err}", dir.display());
                }
            }
            Err((path, source)) => return Err(CgroupError::RemoveDir { path, source }),
        }
    }
    Err(CgroupError::Busy {
        path: dir.to_owned(),
        members: files::read_pids_recursive(dir).unwrap_or_default(),
    })
}

fn rmdir_tree(dir: &Path) -> Result<(), (PathBuf, io::Error)> {
    for path in files::subtree(dir).into_iter().chain([dir.to_owned()]) {
        match fs::remove_dir(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err((path, err)),
        }
    }
    Ok(())
}
