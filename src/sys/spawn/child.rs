//! The child's side of [`super::spawn`]: what runs between fork and exec.
//! Only async-signal-safe system calls, on data the parent prepared; nothing
//! here allocates.

use super::CArray;
use super::TtyHandover;
use super::{Stage, REPORT_LEN};
use std::ffi::CString;
use std::os::fd::RawFd;

/// What the child does between fork and exec: only references to data the
/// parent prepared, so nothing is allocated after the fork.
pub(super) struct ChildSetup<'a> {
    /// The fds to put on 0, 1, 2; -1 keeps oxinit's.
    pub(super) stdio: [RawFd; 3],
    pub(super) tty: TtyHandover,
    pub(super) cgroup_procs: &'a [RawFd],
    pub(super) creds: Option<(u32, u32, Vec<libc::gid_t>)>,
    pub(super) cwd: &'a CString,
    pub(super) argv: &'a CArray,
    pub(super) envp: &'a CArray,
    pub(super) candidates: &'a CArray,
    pub(super) report_fd: RawFd,
    /// The held sockets, wherever they are in oxinit: moved onto 3, 4, …
    pub(super) sockets: Vec<RawFd>,
    /// `LISTEN_PID=`'s buffer in envp, when there are sockets.
    pub(super) pid_slot: Option<*mut u8>,
    pub(super) ignored: &'static [i32],
}

impl ChildSetup<'_> {
    /// Runs in the child: sets it up and execs, or reports and `_exit`s.
    pub(super) fn exec(mut self) -> ! {
        let (stage, candidate) = match self.prepare() {
            Err(stage) => (stage, 0),
            Ok(()) => (Stage::Exec, self.exec_candidates()),
        };
        self.report(stage, candidate)
    }

    /// Steps 1–9 of the module docs; the failed stage, with errno set.
    fn prepare(&mut self) -> Result<(), Stage> {
        // SAFETY: only async-signal-safe calls below, on data prepared before fork.
        unsafe {
            for (target, &fd) in self.stdio.iter().enumerate() {
                if fd >= 0 && !onto(fd, target as RawFd) {
                    return Err(Stage::Stdio);
                }
            }
            // exec resets caught signals by itself; only ignored ones
            // survive it, so only those need resetting.
            for &sig in self.ignored {
                libc::signal(sig, libc::SIG_DFL);
            }
            match self.tty {
                TtyHandover::Foreground => {
                    libc::setpgid(0, 0);
                    // A background group calling tcsetpgrp gets SIGTTOU: ignore
                    // it for this one call.
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::tcsetpgrp(0, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                }
                TtyHandover::Session | TtyHandover::None => {
                    if libc::setsid() == -1 {
                        return Err(Stage::Session);
                    }
                    if self.tty == TtyHandover::Session {
                        // Best effort: without it the child still runs, just
                        // without job control.
                        libc::ioctl(0, libc::TIOCSCTTY, 0);
                    }
                }
            }
            if super::join_from_child(self.cgroup_procs).is_err() {
                return Err(Stage::Cgroup); // errno is still write(2)'s
            }
            if let Some((uid, gid, groups)) = &self.creds {
                if libc::setgroups(groups.len(), groups.as_ptr()) == -1 {
                    return Err(Stage::Groups);
                }
                if libc::setgid(*gid) == -1 {
                    return Err(Stage::Gid);
                }
                if libc::setuid(*uid) == -1 {
                    return Err(Stage::Uid);
                }
            }
            // After dropping privileges: the directory must be the user's to enter.
            if libc::chdir(self.cwd.as_ptr()) == -1 {
                return Err(Stage::Cwd);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            // Last, once nothing but the report pipe is still needed; it
            // may be moved out of the way (see `sockets`).
            if !super::sockets::place(&mut self.sockets, &mut self.report_fd) {
                return Err(Stage::Sockets);
            }
            if let Some(slot) = self.pid_slot {
                super::sockets::fill(slot, libc::getpid());
            }
        }
        Ok(())
    }

    /// execve each candidate as execvp would, but never through /bin/sh
    /// (see [`super::exec`]). Returns (with errno set) only if all failed: the
    /// index of the candidate whose error is reported.
    fn exec_candidates(&self) -> usize {
        let mut denied = None;
        let mut last = 0;
        for i in 0..self.candidates.len() {
            let Some(path) = self.candidates.get(i) else {
                break;
            };
            last = i;
            // SAFETY: `path`, argv and envp are NUL-terminated strings and
            // NULL-terminated arrays built before the fork, alive for the call;
            // execve returns only on failure.
            unsafe { libc::execve(path, self.argv.as_ptr(), self.envp.as_ptr()) };
            match errno() {
                // Not there: try the next $PATH entry.
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                // There but refused: remembered, as execvp does, in case a
                // later entry works.
                libc::EACCES => {
                    denied.get_or_insert(i);
                }
                _ => return i,
            }
        }
        match denied {
            Some(i) => {
                set_errno(libc::EACCES);
                i
            }
            None => last,
        }
    }

    /// Writes (stage, errno, candidate) for the parent, then `_exit(127)`.
    fn report(&self, stage: Stage, candidate: usize) -> ! {
        let errno = errno().to_ne_bytes();
        let index = (candidate as u32).to_ne_bytes();
        let code = Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0) as u8;
        let mut buf = [0u8; REPORT_LEN];
        buf[0] = code;
        buf[1..5].copy_from_slice(&errno);
        buf[5..9].copy_from_slice(&index);
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(self.report_fd, buf.as_ptr().cast(), REPORT_LEN);
            libc::_exit(127)
        }
    }
}

/// Puts `fd` on `target` without close-on-exec; false (errno set) on failure.
///
/// # Safety
/// Async-signal-safe; for the child between fork and exec.
unsafe fn onto(fd: RawFd, target: RawFd) -> bool {
    if fd == target {
        // dup2 onto itself keeps FD_CLOEXEC: clear it instead.
        return libc::fcntl(fd, libc::F_SETFD, 0) != -1;
    }
    libc::dup2(fd, target) != -1
}

fn errno() -> i32 {
    // SAFETY: the calling thread's errno location is always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: i32) {
    // SAFETY: the calling thread's errno location is always valid and only
    // this thread writes it.
    unsafe { *libc::__errno_location() = value };
}
