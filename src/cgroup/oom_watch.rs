//! A descriptor that becomes readable when a cgroup's OOM counter may have
//! moved, so OOM kills inside a running service are counted as they happen
//! and not only when its main process exits.
//!
//! cgroup v1's OOM killer kills the largest task, often a worker, and the
//! service runs on; without this the kill would never be seen. Neither kind of
//! descriptor costs a wake-up while nothing happens:
//! - v1: an eventfd registered for `memory.oom_control` through
//!   `cgroup.event_control`. The kernel signals it when the cgroup enters OOM,
//!   *before* the victim is chosen and `oom_kill` goes up: read the counter
//!   again shortly after a wake-up (the event loop does).
//! - v2: inotify on `memory.events`, which the kernel marks modified when an
//!   `oom` or `oom_kill` event is counted (at most every 20 ms, the last one
//!   always delivered).
//!
//! Where neither works (v1 without `cgroup.event_control`, as with
//! `CONFIG_MEMCG_V1` removed), the caller reads the counter on its memory poll.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::files;
use super::layout::Layout;
use super::CgroupError;
#[cfg(doc)]
use super::ProcessCgroup;

/// Opens the OOM notification descriptor of the cgroup at `layout`
/// (non-blocking, close-on-exec).
pub(crate) fn open(layout: &Layout) -> Result<OwnedFd, CgroupError> {
    match layout {
        Layout::V1 { memory, .. } => v1_eventfd(memory),
        Layout::V2 { dir } => v2_inotify(&dir.join("memory.events")),
    }
}

fn v1_eventfd(memory: &Path) -> Result<OwnedFd, CgroupError> {
    let control = memory.join("cgroup.event_control");
    let oom_control = memory.join("memory.oom_control");
    // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(CgroupError::Open {
            path: control,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: `raw` was just returned by eventfd and is owned here only.
    let event = unsafe { OwnedFd::from_raw_fd(raw) };
    let watched = File::open(&oom_control).map_err(|source| CgroupError::Read {
        path: oom_control.clone(),
        source,
    })?;
    // "<event fd> <control file fd>": the kernel keeps the eventfd and the
    // cgroup, not the control file, so `watched` may close after the write.
    let value = format!("{} {}", event.as_raw_fd(), watched.as_raw_fd());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&control)
        .map_err(|source| CgroupError::Open {
            path: control.clone(),
            source,
        })?;
    file.write_all(value.as_bytes())
        .map_err(|source| CgroupError::Write {
            path: control,
            value,
            source,
        })?;
    Ok(event)
}

fn v2_inotify(events: &Path) -> Result<OwnedFd, CgroupError> {
    let fail = |source| CgroupError::Read {
        path: events.to_owned(),
        source,
    };
    // SAFETY: inotify_init1 takes no pointers; the result is a new descriptor.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: `raw` was just returned by inotify_init1 and is owned here only.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let path = CString::new(events.as_os_str().as_bytes())
        .map_err(|_| fail(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // Fail now, not at the first OOM, when the file has no counter to read.
    files::read_keyed(events, "oom_kill")?;
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

/// A watch descriptor registered with the tokio reactor: for the task that
/// waits on it inside the event loop's runtime.
pub struct OomWakeups {
    fd: tokio::io::unix::AsyncFd<OwnedFd>,
}

impl OomWakeups {
    /// Registers `fd` (from [`ProcessCgroup::oom_watch`]); needs a running
    /// tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<OomWakeups> {
        // SAFETY: the OwnedFd keeps the descriptor open and unchanged until
        // the AsyncFd, its only owner, drops it (and deregisters first).
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)?;
        Ok(OomWakeups { fd })
    }

    /// Waits until the watch fires, then empties it.
    pub async fn next(&self) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        drain(guard.get_inner());
        guard.clear_ready();
        Ok(())
    }
}
