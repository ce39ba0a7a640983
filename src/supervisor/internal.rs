//! Messages from the loop's own tasks (probes, notify sockets, OOM watches)
//! back to the loop, over one unbounded channel the loop drains.

use super::core::Event;
use super::ids::ProcId;

/// Messages from tasks to the event loop.
#[derive(Debug)]
pub enum Internal {
    /// An answer for the core: a probe's result, a notify message.
    Event(Event),
    /// The OOM watch of process `idx`'s cgroup woke: read its counter.
    OomEvent(ProcId),
}
