//! Health checks: the probes the supervisor runs on a service, and the
//! sd_notify receiver for `type = "notify"`.
//!
//! - [`accepted`]: which process accepted a probe's connection (during a
//!   reload, two instances accept on one address).
//! - [`probe`]: one HTTP or TCP probe, bounded by its timeout. Exec probes are
//!   spawned and reaped by the supervisor itself (one reaper owns every wait).
//! - [`mount`]: `type = "mount"`, a mount point that answers.
//! - [`condition`]: whether a `when` holds, as a stat of its paths says.
//! - [`blocking`]: filesystem calls that may hang, off the supervisor's thread.
//! - [`rundir`]: where the notify sockets live.
//! - [`notify`]: the `NOTIFY_SOCKET` a child reports `READY=1`,
//!   `STATUS=…`, `WATCHDOG=1` on, as under systemd.
//!
//! The policy around them (interval, retries, start_period, watchdog
//! deadline) belongs to the supervisor's state machine.

pub mod accepted;
pub mod blocking;
pub mod condition;
pub mod mount;
pub mod notify;
pub mod probe;
pub mod rundir;

#[cfg(test)]
mod tests;

pub use rundir::{default_dir, RuntimeDir};
