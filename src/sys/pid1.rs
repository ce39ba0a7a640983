//! The duties of an init: being PID 1 or a subreaper, handing the terminal to
//! the child, and finding every descendant when it is time to clean up.

use std::io;
use std::path::{Path, PathBuf};

use super::kill;
use crate::proc_stat::{self, ProcStat};

/// True when oxinit is the init of its PID namespace (a container's PID 1).
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Not PID 1 (Fly.io's init, `docker run --init`, a shell): ask the kernel to
/// reparent our orphaned descendants to us instead of the real init, so that we
/// still reap them and can stop them at shutdown.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Where the children start when they name no `cwd`: the directory oxinit was
/// started in. Kept as a path, not an open fd: an fd would pin the mount just
/// as a cwd does.
pub fn launch_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

/// oxinit itself moves to "/" so it pins no mount (a volume can be unmounted
/// while we run).
pub fn chdir_root() {
    if let Err(e) = std::env::set_current_dir("/") {
        tracing::warn!("cannot chdir to /: {e}");
    }
}

/// How the child gets the controlling terminal, when oxinit has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyHandover {
    /// No terminal on stdin, or one that belongs to another session.
    None,
    /// oxinit led the terminal's session and let go of it (`docker run -it`):
    /// the child, in its new session, takes it as its controlling terminal.
    Session,
    /// oxinit runs inside someone else's session (a shell's): the child gets its
    /// own process group as the terminal's foreground group instead, as tini
    /// does, so the shell keeps its terminal and job control works.
    Foreground,
}

/// Decides the hand-over and, as session leader, lets go of the terminal.
/// Must run after signals are blocked: letting go (TIOCNOTTY) makes the kernel
/// send SIGHUP and SIGCONT to our foreground group, which we discard here.
pub fn prepare_tty() -> TtyHandover {
    let stdin = 0;
    // SAFETY: isatty takes a descriptor number and no pointer: an fd that is
    // not open is an error return, not undefined behaviour.
    if unsafe { libc::isatty(stdin) } != 1 {
        return TtyHandover::None;
    }
    // SAFETY: getsid(0) asks about the calling process; no pointer.
    let our_sid = unsafe { libc::getsid(0) };
    // SAFETY: tcgetsid takes a descriptor number and no pointer.
    let tty_sid = unsafe { libc::tcgetsid(stdin) };
    if tty_sid == -1 {
        // Nobody's controlling terminal yet: the child can take it.
        return TtyHandover::Session;
    }
    if tty_sid != our_sid {
        return TtyHandover::None;
    }
    if our_sid as u32 != std::process::id() {
        return TtyHandover::Foreground;
    }
    // SAFETY: TIOCNOTTY takes no argument, so no memory is passed.
    if unsafe { libc::ioctl(stdin, libc::TIOCNOTTY) } == -1 {
        tracing::debug!(
            "cannot detach from the terminal: {}",
            io::Error::last_os_error()
        );
        return TtyHandover::Foreground;
    }
    // Setting a disposition to SIG_IGN discards the pending, blocked signal
    // (POSIX): this drops the SIGHUP/SIGCONT that TIOCNOTTY just queued.
    for sig in [libc::SIGHUP, libc::SIGCONT] {
        // SAFETY: SIG_IGN then SIG_DFL are the kernel's own dispositions: no
        // handler function of ours runs, so nothing can be re-entered.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    TtyHandover::Session
}

/// Every live descendant of `root` (children, grandchildren, …), from /proc.
/// Used as a subreaper, where kill(-1) would reach processes that are not ours.
pub fn descendants(root: i32) -> Vec<i32> {
    descendants_in(Path::new("/proc"), root)
}

pub(crate) fn descendants_in(proc_root: &Path, root: i32) -> Vec<i32> {
    let procs = proc_stat::scan(proc_root);
    proc_stat::with_descendants(&procs, |p| p.ppid == root)
        .iter()
        .map(|p| p.pid)
        .collect()
}

/// SIGCONT to every leftover that is stopped: as PID 1 every other process in
/// the namespace (what kill(-1) reaches), else every descendant of oxinit.
pub fn continue_stopped_leftovers() -> usize {
    let me = std::process::id() as i32;
    let leftovers: Vec<ProcStat> = if is_pid1() {
        proc_stat::scan(Path::new("/proc"))
            .into_iter()
            .filter(|p| p.pid != me)
            .collect()
    } else {
        kill::descendants_of_us()
    };
    kill::continue_stopped(&leftovers)
}

/// Ends oxinit now, with `code`, skipping libc's exit handlers: for the end of
/// single-command mode, where nothing is buffered (oxinit's own queued lines
/// went out with `diag::flush`, and it writes stdout not at all) and every
/// child is reaped, so running
/// the handlers would only delay the container's stop.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// Last resort after a panic, outside the event loop: TERM every process we
/// can reach, wait up to `grace` reaping, then KILL and reap what is left.
pub fn emergency_stop(grace: std::time::Duration) {
    let everyone = |sig| {
        if is_pid1() {
            kill::everyone(sig);
        } else {
            for pid in descendants(std::process::id() as i32) {
                kill::process(pid, sig);
            }
        }
    };
    let wait_until_gone = |limit: std::time::Duration| {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if super::reap::reap().no_children {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    };
    everyone(libc::SIGTERM);
    continue_stopped_leftovers();
    if !wait_until_gone(grace) {
        everyone(libc::SIGKILL);
        wait_until_gone(std::time::Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_walk_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let procs = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 10), (15, 12)];
        for (pid, ppid) in procs {
            let d = dir.path().join(pid.to_string());
            std::fs::create_dir(&d).unwrap();
            // A command name that fools a parser counting from the first ')'.
            let stat = format!(
                "{pid} (a) b ({ppid})) S {ppid} {pid} {pid} 0 -1 4194560 1 0 0 0 \
                 1 2 3 4 20 0 1 0 555 1000 10 18446744073709551615 1 1 0 0 0\n"
            );
            std::fs::write(d.join("stat"), stat).unwrap();
        }
        let mut got = descendants_in(dir.path(), 10);
        got.sort();
        assert_eq!(got, vec![11, 12, 14, 15]);
        assert!(descendants_in(dir.path(), 15).is_empty());
        assert!(descendants_in(&dir.path().join("nonexistent"), 10).is_empty());
    }
}
