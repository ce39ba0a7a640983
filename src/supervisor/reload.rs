//! `oxinit reload NAME`: while it runs, a service has a second instance.
//!
//! The process's own `state` is always the instance that serves (the old
//! one until the new one is ready, the new one after), so everything that
//! reads it — readiness, dependents, /health, forwarded signals — keeps
//! meaning what it meant. The [`Reload`] holds the other instance: first
//! the new one, starting; after the handover the old one, stopping. Its
//! state changes through the same table (`transitions`) as the process's.
//!
//! What else happens during a reload (see `core/reload.rs`):
//! - the new instance is not ready within `ready_timeout`, exits, or cannot
//!   be spawned: it is stopped, the old one keeps serving untouched, and the
//!   client gets 1 with the reason;
//! - the old instance ends by itself before the handover: the reload is
//!   given up (the new one stopped) and the process goes through its
//!   restart policy, as any exit;
//! - `oxinit stop NAME` before the handover gives the reload up and stops
//!   the old one as usual; after it, it stops the new one (the old one is
//!   stopping already);
//! - `oxinit restart`/`start`/`reload` of it are refused until it is done;
//! - a shutdown gives up a reload before its handover; either instance is
//!   stopped with the process's stop level, and the shutdown waits for both;
//! - the old instance's exit after the handover is the reload's end: it is
//!   not an exit of the process (no restart, no exit reason, no failure).

use super::ids::RunId;
use super::process::{Health, State};
use crate::snapshot::ReloadResult;
use tokio::time::Instant;

/// Where a reload is.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// The second instance is the new one: waiting for it to be ready.
    Starting,
    /// The new one serves; the second instance is the old one, stopping.
    Retiring,
    /// The new one is stopped because the reload failed: how and why.
    Abandoned { result: ReloadResult, why: String },
}

/// A reload under way: the process's second instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    pub stage: Stage,
    /// The second instance's state.
    pub state: State,
    /// The second instance's run (probe answers and notices name it).
    pub run: RunId,
    pub health: Health,
    /// The second instance needs the memory poll.
    pub memory_polled: bool,
    /// The new instance must be ready by then (its `ready_timeout`).
    pub ready_by: Instant,
    /// The control request answered when the reload is done.
    pub reply: Option<u64>,
}

impl Reload {
    /// The second instance's pid, while it may be signalled.
    pub fn pid(&self) -> Option<i32> {
        self.state.pid()
    }
}
