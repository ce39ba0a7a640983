//! Passing held listening sockets to a child, as systemd does (`sd_listen_fds`):
//! the sockets on fds 3, 4, …, with `LISTEN_FDS=N`, `LISTEN_PID=<its pid>`
//! and `LISTEN_FDNAMES=a:b:…` in its environment.
//!
//! `LISTEN_PID` is the child's own pid, which only the child knows, and the
//! child must not allocate between fork and exec. So the parent builds the
//! variable in a buffer of its own with room for the longest pid
//! (`LISTEN_PID=` and 10 digits and a NUL), points envp at it, and the child
//! writes its pid's digits and a NUL there ([`PidSlot::fill`]): execve copies
//! the string up to that NUL.
//!
//! In the child the sockets may sit anywhere, also on 3, 4, … themselves,
//! and so may the report pipe it still needs after them; so every fd that
//! is still needed and lies below 3+N is first moved above it
//! (`F_DUPFD_CLOEXEC`), then each socket is `dup2`ed onto its place, which
//! clears close-on-exec on that copy alone.

use super::CArray;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

/// The listening sockets a child gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen<'a> {
    /// oxinit's own `LISTEN_*` variables pass through unchanged, and no fd
    /// is added (single-command mode, as tini does).
    Untouched,
    /// Exactly these sockets, on fds 3, 4, … in this order, each with its
    /// name for `LISTEN_FDNAMES` (no `:` in a name). None: the `LISTEN_*`
    /// variables oxinit inherited are removed, since they describe oxinit's
    /// fds, not the child's.
    Pass {
        fds: &'a [RawFd],
        names: &'a [String],
    },
}

/// The variables of the protocol.
const VARIABLES: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];
const PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// Digits of the largest pid (i32::MAX).
const PID_DIGITS: usize = 10;

/// `LISTEN_PID=` with room for the child to write its pid.
pub(super) struct PidSlot {
    buf: Vec<u8>,
}

impl PidSlot {
    fn new() -> PidSlot {
        let mut buf = PID_PREFIX.to_vec();
        buf.resize(PID_PREFIX.len() + PID_DIGITS + 1, 0);
        PidSlot { buf }
    }

    /// The pointer both envp and the child use; taken once, so the child's
    /// writes go through the same (mutable) pointer envp reads.
    pub(super) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr()
    }
}

/// Writes `pid`'s digits and a NUL after the prefix at `slot`.
///
/// # Safety
/// `slot` is a [`PidSlot`]'s pointer, alive; async-signal-safe (no
/// allocation), for the child between fork and exec.
pub(super) unsafe fn fill(slot: *mut u8, pid: i32) {
    let mut digits = [0u8; PID_DIGITS];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 || len == PID_DIGITS {
            break;
        }
    }
    let at = slot.add(PID_PREFIX.len());
    for i in 0..len {
        *at.add(i) = digits[len - 1 - i];
    }
    *at.add(len) = 0;
}

/// The child's environment (`KEY=VALUE` strings, from
/// [`super::exec::environment`]) as `listen` wants it, and the pid slot to
/// add to envp when there are sockets.
pub(super) fn environment(
    mut vars: Vec<OsString>,
    listen: Listen<'_>,
) -> (Vec<OsString>, Option<PidSlot>) {
    let Listen::Pass { fds, names } = listen else {
        return (vars, None);
    };
    vars.retain(|v| {
        let key = v
            .as_bytes()
            .split(|&b| b == b'=')
            .next()
            .unwrap_or_default();
        !VARIABLES.iter().any(|name| name.as_bytes() == key)
    });
    if fds.is_empty() {
        return (vars, None);
    }
    vars.push(format!("LISTEN_FDS={}", fds.len()).into());
    vars.push(format!("LISTEN_FDNAMES={}", names.join(":")).into());
    (vars, Some(PidSlot::new()))
}

/// envp with the pid slot added before its terminating NULL.
pub(super) fn with_slot(envp: &mut CArray, slot: Option<*mut u8>) {
    if let Some(ptr) = slot {
        envp.insert_last(ptr.cast_const().cast());
    }
}

/// Moves every fd of `keep` that lies below `3 + sockets.len()` above it,
/// then `dup2`s each socket onto 3, 4, …; false (errno set) on failure.
///
/// # Safety
/// Async-signal-safe (fcntl, dup2; no allocation), for the child between
/// fork and exec.
pub(super) unsafe fn place(sockets: &mut [RawFd], keep: &mut RawFd) -> bool {
    if sockets.is_empty() {
        return true;
    }
    let floor = 3 + sockets.len() as RawFd;
    for fd in sockets.iter_mut().chain(std::iter::once(keep)) {
        if *fd >= 0 && *fd < floor {
            let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, floor);
            if moved == -1 {
                return false;
            }
            *fd = moved;
        }
    }
    for (target, &fd) in (3..).zip(sockets.iter()) {
        // fd >= floor > target: a real dup2, whose copy is not close-on-exec.
        if libc::dup2(fd, target) == -1 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_writes_its_pid_into_the_slot() {
        for (pid, text) in [(1, "1"), (4242, "4242"), (i32::MAX, "2147483647")] {
            let mut slot = PidSlot::new();
            let ptr = slot.as_mut_ptr();
            // SAFETY: the slot is alive and ours.
            unsafe { fill(ptr, pid) };
            let s = std::ffi::CStr::from_bytes_until_nul(&slot.buf).unwrap();
            assert_eq!(s.to_str().unwrap(), format!("LISTEN_PID={text}"));
        }
    }

    #[test]
    fn inherited_variables_are_replaced_or_removed_and_kept_when_untouched() {
        let vars: Vec<OsString> = ["A=1", "LISTEN_FDS=2", "LISTEN_PID=7", "LISTEN_FDNAMES=x:y"]
            .map(OsString::from)
            .to_vec();
        let (none, slot) = environment(
            vars.clone(),
            Listen::Pass {
                fds: &[],
                names: &[],
            },
        );
        assert_eq!(none, [OsString::from("A=1")]);
        assert!(slot.is_none());
        let names = ["0.0.0.0%3A80".to_string(), "unix%3A/a".to_string()];
        let (two, slot) = environment(
            vars.clone(),
            Listen::Pass {
                fds: &[7, 9],
                names: &names,
            },
        );
        assert_eq!(
            two,
            [
                "A=1",
                "LISTEN_FDS=2",
                "LISTEN_FDNAMES=0.0.0.0%3A80:unix%3A/a"
            ]
            .map(OsString::from)
        );
        assert!(slot.is_some());
        let (same, slot) = environment(vars.clone(), Listen::Untouched);
        assert_eq!(same, vars);
        assert!(slot.is_none());
    }
}
