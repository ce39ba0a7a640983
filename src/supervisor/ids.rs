//! The two numbers the supervisor's words are about, as types of their own so
//! a process index is never taken for a run number, a pid or a request id.

use std::fmt;

/// A process: its place in the oxfile's order (and in `Supervisor::processes`,
/// which it indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcId(pub usize);

/// One run of a process: 1 for its first start, one more for each start
/// after. Probe answers and notices name the run they belong to, so a late
/// answer about a previous run is told apart and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RunId(pub u64);

impl ProcId {
    /// Every process of a system of `count`, in order.
    pub fn all(count: usize) -> impl Iterator<Item = ProcId> {
        (0..count).map(ProcId)
    }
}

impl RunId {
    /// The run after this one.
    pub fn next(self) -> RunId {
        RunId(self.0 + 1)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
