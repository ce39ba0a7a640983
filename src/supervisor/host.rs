//! What the event loop does to the machine, behind one trait: the signals it
//! reads, the children it spawns, reaps and signals, the cgroups it makes,
//! the memory it measures, the emergency stop. [`System`] is the real one;
//! the loop's tests give a fake and drive the loop in-process, with paused
//! tokio time for a clock.

use crate::cgroup::{CgroupError, Enforcement, Limits, ProcessCgroup};
use crate::sys::reap::ExitStatus;
use crate::sys::signals::Signals;
use crate::sys::spawn::{SpawnError, SpawnSpec, Spawned};
use crate::sys::{kill, pid1, reap, spawn};
use nix::sys::signal::Signal;
use std::io;
use std::path::Path;
use std::time::Duration;

/// The machine, as the event loop uses it.
#[allow(async_fn_in_trait)] // used by generics in this crate only, never as dyn
pub trait Host {
    /// Waits for the next batch of signals to oxinit (numbers, oldest first).
    async fn signals(&mut self) -> io::Result<Vec<i32>>;
    /// Starts a child.
    fn spawn(&mut self, request: &SpawnSpec) -> Result<Spawned, SpawnError>;
    /// Collects every child that has exited, until none is left.
    fn reap(&mut self) -> Vec<(i32, ExitStatus)>;
    /// Signals process group `pgid`.
    fn kill_group(&mut self, pgid: i32, sig: Signal);
    /// SIGCONT to the stopped members of process group `pgid`.
    fn continue_stopped_in_group(&mut self, pgid: i32);
    /// Whether processes with limits get cgroups here (v1/v2), not polling.
    fn has_cgroups(&self) -> bool;
    /// The cgroup for `process` with `limits`; None without cgroups.
    fn create_cgroup(
        &mut self,
        process: &str,
        limits: &Limits,
    ) -> Option<Result<ProcessCgroup, CgroupError>>;
    /// The memory of `pid` and its descendants, in bytes (polling mode).
    fn tree_rss(&mut self, pid: i32) -> u64;
    /// TERM to every process, `grace`, then KILL: when the loop cannot go on.
    fn emergency_stop(&mut self, grace: Duration);
}

/// The real machine.
pub struct System {
    pub signals: Signals,
    /// Some when processes with limits get cgroups (v1/v2).
    pub cgroups: Option<Enforcement>,
}

impl Host for System {
    async fn signals(&mut self) -> io::Result<Vec<i32>> {
        self.signals.recv().await
    }

    fn spawn(&mut self, request: &SpawnSpec) -> Result<Spawned, SpawnError> {
        spawn::spawn(request)
    }

    fn reap(&mut self) -> Vec<(i32, ExitStatus)> {
        reap::reap().exited
    }

    fn kill_group(&mut self, pgid: i32, sig: Signal) {
        kill::group(pgid, sig as i32);
    }

    fn continue_stopped_in_group(&mut self, pgid: i32) {
        kill::continue_stopped_in_group(pgid);
    }

    fn has_cgroups(&self) -> bool {
        self.cgroups.is_some()
    }

    fn create_cgroup(
        &mut self,
        process: &str,
        limits: &Limits,
    ) -> Option<Result<ProcessCgroup, CgroupError>> {
        Some(self.cgroups.as_ref()?.create(process, limits))
    }

    fn tree_rss(&mut self, pid: i32) -> u64 {
        crate::cgroup::poll::tree_rss(Path::new("/proc"), pid, pid)
    }

    fn emergency_stop(&mut self, grace: Duration) {
        pid1::emergency_stop(grace);
    }
}
