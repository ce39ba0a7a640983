//! A log pipe whose reader has stopped: what oxinit's stdout and stderr look
//! like when a container's log driver stalls or a sidecar stops reading.
//!
//! The test keeps the read end and never reads it (until [`StuckPipe::read_all`]
//! at the end, for failure messages). The pipe is shrunk to one page so a
//! little output fills it, and [`StuckPipe::fill`] fills it from a write end
//! of the test's own, so every later write by oxinit or its children blocks.
//!
//! Included with `#[path = "common/stuck_pipe.rs"] mod stuck_pipe;` next to
//! `mod common;`.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

pub struct StuckPipe {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl StuckPipe {
    /// A one-page pipe; both ends close on exec in the test process (oxinit
    /// gets the write end as its fd 1 and fd 2 through [`StuckPipe::write_end`]).
    pub fn new() -> StuckPipe {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2");
        // The smallest pipe the kernel allows (a page): fills at once.
        fcntl(&read, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
        StuckPipe {
            read,
            write: Some(write),
        }
    }

    /// The write end, to hand to oxinit (once).
    pub fn write_end(&mut self) -> OwnedFd {
        self.write.take().expect("write_end() is called once")
    }

    /// Writes into the pipe until it is full; returns how many bytes that
    /// took (0 when oxinit or a child filled it already). Through a write end
    /// of its own: opening /proc/self/fd/N of a pipe makes a new open file
    /// description, so its O_NONBLOCK does not touch oxinit's fds.
    pub fn fill(&self) -> usize {
        let path = format!("/proc/self/fd/{}", self.read.as_raw_fd());
        let mut writer = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path} for writing: {e}"));
        let chunk = [b'#'; 512];
        let mut total = 0;
        // A one-page pipe takes at most a few KiB; the bound only guards
        // against a kernel that takes more than it says.
        for _ in 0..100_000 {
            match writer.write(&chunk) {
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Also try a single byte: a write of up to PIPE_BUF is
                    // all-or-nothing, so 512 may not fit where 1 does.
                    match writer.write(b"#") {
                        Ok(n) => total += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
                        Err(e) => panic!("fill the pipe: {e}"),
                    }
                }
                Err(e) => panic!("fill the pipe: {e}"),
            }
        }
        panic!("the pipe took {total} bytes and is still not full");
    }

    /// Bytes waiting in the pipe (FIONREAD).
    pub fn pending(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer.
        let rc = unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
        n as usize
    }

    /// Everything in the pipe now, without waiting (unsticks it): for a
    /// failure message or a check at the end.
    pub fn read_all(&self) -> String {
        let fd = self.read.try_clone().expect("dup the read end");
        let flags = fcntl(&fd, FcntlArg::F_GETFL).expect("F_GETFL");
        fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .expect("F_SETFL");
        let mut file = std::fs::File::from(fd);
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
