//! The blocking write to oxinit's fd 1 or fd 2, and the clock that tells how
//! long it has been stuck.
//!
//! Both writers of oxinit's output (the children's relay, [`super::writer`],
//! and oxinit's own lines, `crate::diag`) write from threads of their own, so
//! a reader that stops reading blocks only them. At exit, though, someone has
//! to decide how long to wait for what they still hold: as long as the reader
//! takes bytes, but not for a reader that has taken nothing for about a second
//! (a stalled log driver, a stopped sidecar). [`Progress`] is that clock: the
//! writer stamps it when it starts a write and whenever the kernel takes part
//! of it, and clears it when done; [`Progress::stuck_for`] is then how long
//! the current write has gone without the kernel taking a byte.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// How long a write that takes nothing counts as stuck at exit: what oxinit
/// still holds for a reader stuck that long is dropped, not waited for.
pub const STALL: Duration = Duration::from_secs(1);

/// When the current write last made progress; 0 while no write is under way.
#[derive(Debug, Default)]
pub struct Progress {
    /// Nanoseconds since [`epoch`], plus one so that 0 can mean idle.
    stamp: AtomicU64,
}

impl Progress {
    /// Idle (for statics; the same as `default()`).
    pub const fn new() -> Progress {
        Progress {
            stamp: AtomicU64::new(0),
        }
    }

    /// A write starts, or the kernel just took part of it.
    pub fn stamp(&self) {
        let nanos = epoch().elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        self.stamp.store(nanos + 1, Ordering::Relaxed);
    }

    /// The write is over (written or failed).
    pub fn idle(&self) {
        self.stamp.store(0, Ordering::Relaxed);
    }

    /// How long the current write has gone without progress; None when no
    /// write is under way.
    pub fn stuck_for(&self) -> Option<Duration> {
        match self.stamp.load(Ordering::Relaxed) {
            0 => None,
            stamp => Some(
                epoch()
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(stamp - 1)),
            ),
        }
    }

    /// The current write has been stuck for `limit` or more.
    pub fn stuck(&self, limit: Duration) -> bool {
        self.stuck_for().is_some_and(|stuck| stuck >= limit)
    }
}

/// The process-wide origin of the stamps (a monotonic clock).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Writes all of `bytes` to `fd`, blocking as long as the reader makes us,
/// stamping `progress` as it goes (the caller clears it). On failure returns
/// the error and how many bytes were not written.
pub fn write_all(
    fd: BorrowedFd<'_>,
    mut bytes: &[u8],
    progress: &Progress,
) -> Result<(), (Errno, usize)> {
    progress.stamp();
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            // write(2) returns 0 only for an empty buffer; guard the loop.
            Ok(0) => return Err((Errno::EIO, bytes.len())),
            Ok(written) => {
                bytes = &bytes[written..];
                progress.stamp();
            }
            Err(Errno::EINTR) => {}
            // We never set O_NONBLOCK on fd 1/2, but another holder of the
            // same open file description may have. Wait instead of dropping.
            Err(Errno::EAGAIN) => wait_writable(fd).map_err(|errno| (errno, bytes.len()))?,
            Err(errno) => return Err((errno, bytes.len())),
        }
    }
    Ok(())
}

fn wait_writable(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            // POLLERR/POLLHUP also end the wait: the next write reports why.
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_idle_writer_is_never_stuck() {
        let progress = Progress::default();
        assert_eq!(progress.stuck_for(), None);
        assert!(!progress.stuck(Duration::ZERO));
    }

    #[test]
    fn a_stamped_writer_is_stuck_since_its_stamp_until_idle() {
        let progress = Progress::default();
        progress.stamp();
        let stuck = progress.stuck_for().expect("a write is under way");
        assert!(stuck < Duration::from_secs(60), "{stuck:?}");
        assert!(progress.stuck(Duration::ZERO));
        assert!(!progress.stuck(Duration::from_secs(3600)));
        progress.idle();
        assert_eq!(progress.stuck_for(), None);
    }

    #[test]
    fn write_all_stamps_while_it_writes() {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let progress = Progress::default();
        write_all(write.as_fd(), b"line\n", &progress).unwrap();
        // Left stamped: the caller says when the write is over.
        assert!(progress.stuck_for().is_some());
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(&read, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"line\n");
    }
}
