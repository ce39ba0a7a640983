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

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::files;
use super::layout::Layout;
use super::CgroupError;
#[cfg(doc)]
use super::ProcessCgroup;
use crate::sys::wakeup::{self, Wakeups};

pub use crate::sys::wakeup::drain;

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
    let event = wakeup::eventfd().map_err(|source| CgroupError::Open {
        path: control.clone(),
        source,
    })?;
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
    let fd = wakeup::inotify_modified(events).map_err(|source| CgroupError::Read {
        path: events.to_owned(),
        source,
    })?;
    // Fail now, not at the first OOM, when the file has no counter to read.
    files::read_keyed(events, "oom_kill")?;
    Ok(fd)
}

/// A watch descriptor registered with the tokio reactor: for the task that
/// waits on it inside the event loop's runtime.
pub struct OomWakeups(Wakeups);

impl OomWakeups {
    /// Registers `fd` (from [`ProcessCgroup::oom_watch`]); needs a running
    /// tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<OomWakeups> {
        Wakeups::new(fd).map(OomWakeups)
    }

    /// Waits until the watch fires, then empties it.
    pub async fn next(&self) -> io::Result<()> {
        self.0.next().await
    }
}
