//! Standard descriptors 0, 1 and 2 are open before anything else is.
//!
//! Std's runtime does this for an ordinary `fn main`; oxinit has its own C
//! `main` (see `src/main.rs`), so it does it here. An init started with a closed
//! stdout would otherwise hand fd 1 to its epoll or signalfd, and every log line
//! would be written into that.

use std::io;

/// Opens /dev/null on each of fds 0–2 that is closed. Fails only when one is
/// closed and /dev/null cannot be opened (an image without /dev).
pub fn ensure_open() -> io::Result<()> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfds; a zero timeout never blocks.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // open() returns the lowest free descriptor: the closed one, since the
        // lower ones are open by now.
        // SAFETY: a NUL-terminated path; the fd is deliberately never closed.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd {
            return Err(io::Error::other(format!(
                "fd {} is closed and /dev/null cannot take its place",
                pfd.fd
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn open_descriptors_are_left_alone() {
        // Under the test harness 0–2 are open: each must still be the same
        // file afterwards. (Not a count of /proc/self/fd: other test threads
        // open and close descriptors at any time, which made that flaky.)
        let targets = || {
            (0..3)
                .map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap())
                .collect::<Vec<_>>()
        };
        let before = targets();
        super::ensure_open().unwrap();
        assert_eq!(targets(), before);
    }
}
