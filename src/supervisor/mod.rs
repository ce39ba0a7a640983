//! Supervisor mode: runs what oxfile.toml describes.
//!
//! - [`core`]: the pure state machine of the whole system (boot, restarts,
//!   ordered shutdown) — `handle(event, now) → actions`.
//! - [`process`]: the state of one process.
//! - [`transitions`]: the table of allowed state changes, and its one door.
//! - [`backoff`]: restart delays and the crash-loop cutoff.
//! - [`event_loop`]: signals, reaping, deadlines and spawning around the core.
//! - [`boot`]: memory enforcement, metrics server, control socket, SQLite checks.
//! - [`cadence`]: when health probes run and which failures count.
//! - `oom`: counting OOM kills inside running processes' cgroups.
//! - [`probing`]: running health probes and notify sockets for the loop.
//! - `picture`: the read-only [`Snapshot`](crate::snapshot::Snapshot) for
//!   metrics, status and health.

pub mod backoff;
pub mod boot;
pub mod cadence;
pub mod core;
pub mod event_loop;
pub mod ids;
mod oom;
mod picture;
pub mod probing;
pub mod process;
pub mod signal_event;
pub mod transitions;

pub use event_loop::run;

#[cfg(test)]
mod tests;
