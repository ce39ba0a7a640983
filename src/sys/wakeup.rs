//! Descriptors the kernel makes readable when something happened, and the
//! reactor registration that waits on them: an eventfd (a counter another
//! party signals, such as cgroup v1's `cgroup.event_control`), inotify on
//! one file's modifications (cgroup v2's `memory.events`).
//!
//! The raw calls live here so the layers above (the cgroup OOM watch) stay
//! free of `unsafe`; each function returns an owned, non-blocking,
//! close-on-exec descriptor or the OS error.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A new eventfd with a zero counter.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by eventfd and is owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// An inotify descriptor that becomes readable when `path` is modified.
pub fn inotify_modified(path: &Path) -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes no pointers; the result is a new descriptor.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by inotify_init1 and is owned here only.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and
    // `fd` is the open inotify descriptor created above.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Empties a notification descriptor after it woke us (eventfd: one 8-byte
/// counter; inotify: any number of events), so it blocks again until the
/// next event. Never blocks: the descriptor is non-blocking.
pub fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is a valid writable buffer of the given length and
        // `fd` is an open descriptor for the duration of the call.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EAGAIN: empty; EINTR cannot happen (every signal is blocked).
            return;
        }
    }
}

/// A notification descriptor registered with the tokio reactor: for the
/// task that waits on it inside the event loop's runtime.
pub struct Wakeups {
    fd: tokio::io::unix::AsyncFd<OwnedFd>,
}

impl Wakeups {
    /// Registers `fd`; needs a running tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Wakeups> {
        // SAFETY: the OwnedFd keeps the descriptor open and unchanged until
        // the AsyncFd, its only owner, drops it (and deregisters first);
        // nothing here hands out a `&mut` to it that could swap it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)?;
        Ok(Wakeups { fd })
    }

    /// Waits until the descriptor is readable, then empties it.
    pub async fn next(&self) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        drain(guard.get_inner());
        guard.clear_ready();
        Ok(())
    }
}
