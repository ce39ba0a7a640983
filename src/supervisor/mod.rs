//! Supervisor mode: runs what oxfile.toml describes.
//!
//! - [`core`]: the pure state machine of the whole system (boot, restarts,
//!   ordered shutdown) — `handle(event, now) → actions`.
//! - [`process`]: the state of one process; [`ids`]: its id and run numbers.
//! - [`transitions`]: the table of allowed state changes, and its one door.
//! - [`signal_event`]: what a signal to oxinit means, decided once.
//! - [`backoff`]: restart delays and the crash-loop cutoff.
//! - [`settle`]: oxinit settling in as PID 1 before the loop starts.
//! - [`event_loop`]: signals, reaping, deadlines and spawning around the core.
//! - [`host`]: what the loop does to the machine (faked in its tests).
//! - [`observe`]: who hears what happens (the metrics, through the wiring).
//! - [`boot`]: memory enforcement, the SQLite volume check and [`sockets`]
//!   (every `listen`, bound at boot and held for the processes' starts).
//! - [`cadence`]: when health probes run and which failures count.
//! - `oom`: counting OOM kills inside running processes' cgroups.
//! - [`probing`]: running health probes and notify sockets for the loop;
//!   `internal`: what its tasks send back.
//! - `picture`: the read-only [`Snapshot`](crate::snapshot::Snapshot) for
//!   metrics, status and health.
//!
//! It imports neither the control socket nor the metrics: requests arrive as
//! `crate::verb::Command`s, facts leave through an [`observe::Observer`],
//! and `crate::wiring` connects them.

pub mod backoff;
pub mod boot;
pub mod cadence;
pub mod core;
pub mod event_loop;
pub mod host;
pub mod ids;
mod internal;
pub mod observe;
mod oom;
mod picture;
pub mod probing;
pub mod process;
pub mod settle;
pub mod signal_event;
pub mod sockets;
pub mod transitions;

pub use event_loop::{run, Links};
pub use observe::Observer;
pub use settle::settle;

#[cfg(test)]
mod tests;
