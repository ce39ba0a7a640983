//! What every connection task shares: the bounds, the latest snapshot, the
//! way to the supervisor, who may connect, the feeds of `logs` and
//! `events`, and a rate-limited log.

use super::limits::Limits;
use super::ratelimit::LogLimiter;
use super::{Command, Snapshot};
use crate::logs::LogBook;
use crate::snapshot::Event;
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};

/// What a `logs` or `events` request needs besides the snapshot: the
/// processes' rings and the supervisor's events.
#[derive(Clone, Debug)]
pub struct Feeds {
    pub logs: LogBook,
    pub events: broadcast::Sender<Arc<Event>>,
}

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) limits: Limits,
    pub(super) snapshot: watch::Receiver<Arc<Snapshot>>,
    pub(super) commands: mpsc::Sender<Command>,
    /// Root, and the user oxinit runs as.
    pub(super) allowed_uids: Vec<u32>,
    pub(super) log: Mutex<LogLimiter>,
    /// The rings and the events, for `logs`, `events` and `status`.
    pub(super) feeds: Option<Feeds>,
}

impl Shared {
    /// A rate-limited warning: anything a client can trigger at will.
    pub(super) fn warn(&self, message: fmt::Arguments<'_>) {
        // A poisoned lock only means a panic elsewhere mid-warning; the
        // counter inside is still usable.
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.warn(message);
    }
}
