//! Signals arrive through a signalfd, never through handlers.
//!
//! oxinit blocks every signal at start-up, before anything else runs, and reads
//! them from a signalfd inside the event loop. That gives three properties a
//! PID 1 needs:
//! - nothing is lost: a signal sent before the child exists stays pending in the
//!   kernel until we read it, and is forwarded once the child runs;
//! - SIGCHLD is just another readable event for the one reaper (the kernel
//!   coalesces SIGCHLDs, so the reaper drains `waitpid` until nothing is left);
//! - blocked signals are queued even for the PID 1 of a namespace, which the
//!   kernel would otherwise shield from default-action signals.
//!
//! Children must not inherit this mask: `spawn` resets it before exec.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io;
use std::os::fd::AsFd;
use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Blocks every signal for the calling thread (and every thread started after).
/// Call it first thing in `main`, before the runtime starts threads.
pub fn block_all() -> io::Result<()> {
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None)
        .map_err(io::Error::from)
}

/// Gives back the default signal mask: for the commands that are ordinary
/// short-lived programs (`check`, `status`…), so Ctrl-C, TERM and a closed
/// pipe (SIGPIPE, as in `oxinit check | head`) end them as they end any tool.
pub fn unblock_all() {
    let _ =
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// The stream of signals sent to oxinit.
pub struct Signals {
    fd: AsyncFd<SignalFd>,
}

impl Signals {
    /// Opens the signalfd for every signal. Requires [`block_all`] first and a
    /// running tokio runtime.
    pub fn open() -> io::Result<Signals> {
        let sfd = open_signalfd()?;
        // SAFETY: the SignalFd owns its fd, which stays open and unchanged until
        // the AsyncFd (its only owner) drops it.
        let fd = unsafe { AsyncFd::register_with_interest(sfd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Signals { fd })
    }

    /// Waits for the next batch of signals; returns every signal that is pending
    /// now, oldest first (so a burst is handled in one wake-up).
    pub async fn recv(&mut self) -> io::Result<Vec<i32>> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let mut batch = Vec::new();
            read_pending(guard.get_inner_mut(), &mut batch)?;
            guard.clear_ready();
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
    }
}

/// The same stream for a caller without an event loop (single-command mode):
/// it blocks in poll(2) until a signal arrives or a deadline passes. A tokio
/// runtime would cost that mode start-up time, memory and a longer path from
/// a signal to its forwarding, for nothing it needs.
pub struct BlockingSignals {
    fd: SignalFd,
    /// The last batch, kept so a wake-up allocates nothing.
    batch: Vec<i32>,
}

impl BlockingSignals {
    /// Opens the signalfd for every signal. Requires [`block_all`] first.
    pub fn open() -> io::Result<BlockingSignals> {
        Ok(BlockingSignals {
            fd: open_signalfd()?,
            batch: Vec::with_capacity(32),
        })
    }

    /// Every signal pending once one arrives, oldest first; empty when
    /// `deadline` passes first (None: wait as long as it takes).
    pub fn wait(&mut self, deadline: Option<Instant>) -> io::Result<&[i32]> {
        loop {
            self.batch.clear();
            read_pending(&mut self.fd, &mut self.batch)?;
            if !self.batch.is_empty() {
                return Ok(&self.batch);
            }
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(&self.batch);
                    }
                    // Rounded up to whole milliseconds, so we never wake just
                    // before the deadline and spin.
                    let ms = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
        }
    }
}

fn open_signalfd() -> io::Result<SignalFd> {
    SignalFd::with_flags(
        &SigSet::all(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Appends every signal pending on the (non-blocking) signalfd, oldest first.
fn read_pending(fd: &mut SignalFd, batch: &mut Vec<i32>) -> io::Result<()> {
    loop {
        match fd.read_signal() {
            Ok(Some(info)) if is_own_sigpipe(&info) => {}
            Ok(Some(info)) => batch.push(info.ssi_signo as i32),
            Ok(None) => return Ok(()),
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// A SIGPIPE the kernel raised because one of oxinit's own writes hit a pipe
/// nobody reads (its stderr, say). It is about oxinit, not a request for the
/// children: forwarding it would kill them. The kernel sends it as SI_USER from
/// the writer itself, which no other sender can be (`kill -PIPE 1` from inside
/// the container carries the sender's pid, from outside it carries 0).
fn is_own_sigpipe(info: &libc::signalfd_siginfo) -> bool {
    info.ssi_signo == libc::SIGPIPE as u32
        && info.ssi_code == libc::SI_USER
        && info.ssi_pid == std::process::id()
}

/// Signals that a supervisor forwards to its children: every catchable signal
/// 1–31 except SIGCHLD (ours to handle) and SIGKILL/SIGSTOP (cannot be caught).
pub fn is_forwardable(sig: i32) -> bool {
    (1..=31).contains(&sig) && sig != libc::SIGKILL && sig != libc::SIGSTOP && sig != libc::SIGCHLD
}

/// "SIGTERM" for 15, "SIG42" for a signal without a name.
pub fn name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Each test runs on its own thread: blocking signals there, and raising
    /// them at that thread only, leaves the rest of the test binary alone.
    fn on_a_blocked_thread(test: impl FnOnce(&mut BlockingSignals) + Send + 'static) {
        std::thread::spawn(move || {
            block_all().unwrap();
            let mut signals = BlockingSignals::open().unwrap();
            test(&mut signals);
        })
        .join()
        .unwrap();
    }

    fn raise_here(sig: i32) {
        // SAFETY: pthread_self is this live thread; the signal is blocked here.
        assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), sig) }, 0);
    }

    #[test]
    fn a_passed_deadline_ends_the_wait_with_nothing() {
        on_a_blocked_thread(|signals| {
            let deadline = Instant::now() + Duration::from_millis(20);
            assert_eq!(signals.wait(Some(deadline)).unwrap(), &[] as &[i32]);
            assert!(Instant::now() >= deadline);
        });
    }

    #[test]
    fn every_pending_signal_comes_out_in_one_batch() {
        on_a_blocked_thread(|signals| {
            raise_here(libc::SIGUSR2);
            raise_here(libc::SIGHUP);
            // Standard signals are read lowest number first, whatever the
            // order they were raised in: both are there, and nothing else.
            let mut got = signals.wait(None).unwrap().to_vec();
            got.sort();
            assert_eq!(got, vec![libc::SIGHUP, libc::SIGUSR2]);
        });
    }

    #[test]
    fn our_own_sigpipe_is_dropped_but_a_sent_one_is_kept() {
        on_a_blocked_thread(|signals| {
            let (r, w) = nix::unistd::pipe().unwrap();
            drop(r);
            // The kernel answers this write with EPIPE and a SIGPIPE at us.
            let err = nix::unistd::write(&w, b"x").unwrap_err();
            assert_eq!(err, Errno::EPIPE);
            let soon = Instant::now() + Duration::from_millis(20);
            assert_eq!(signals.wait(Some(soon)).unwrap(), &[] as &[i32]);
            // A SIGPIPE someone sends (here, SI_TKILL) is forwarded as usual.
            raise_here(libc::SIGPIPE);
            assert_eq!(signals.wait(None).unwrap(), &[libc::SIGPIPE]);
        });
    }
}
