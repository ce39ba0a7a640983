//! Step 5 of the child's set-up: joining its cgroup(s) before exec, so it
//! and every descendant are accounted from their first instruction (a join
//! after exec would let a fast allocator escape the limit).
//!
//! The parent (the cgroup layer) opens each `cgroup.procs` for writing and
//! hands the descriptors to [`super::spawn`] in [`SpawnSpec::cgroup_procs`];
//! the child only writes "0" (the writer itself) to each, which needs no
//! path lookup and no permission beyond the open descriptor.
//!
//! [`SpawnSpec::cgroup_procs`]: super::SpawnSpec::cgroup_procs

use nix::errno::Errno;
use std::os::fd::{BorrowedFd, RawFd};

/// Called in the child between fork and exec: joins the cgroup(s) by
/// writing "0" to each of `procs_fds` (`cgroup.procs` files opened for
/// writing by the parent). Async-signal-safe: no allocation, no lock, only
/// write(2).
pub fn join_from_child(procs_fds: &[RawFd]) -> Result<(), Errno> {
    for &fd in procs_fds {
        // SAFETY: the parent opened these descriptors and keeps them open
        // across the fork; the child only borrows them for one write.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        nix::unistd::write(fd, b"0")?;
    }
    Ok(())
}

/// `cmd`, made to join the cgroups of `procs_fds` between fork and exec: for
/// tests that start a std `Command` in a cgroup without `unsafe` of their own.
#[cfg(test)]
pub(crate) fn join_before_exec(
    cmd: &mut std::process::Command,
    procs_fds: Vec<RawFd>,
) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls join_from_child, which is async-signal-safe (write(2) only, no
    // allocation: `procs_fds` was allocated before the fork).
    unsafe { cmd.pre_exec(move || join_from_child(&procs_fds).map_err(std::io::Error::from)) }
}
