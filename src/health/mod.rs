//! Health checks: the probes the supervisor runs on a service, and the
//! sd_notify receiver for `type = "notify"`.
//!
//! - [`probe`]: one HTTP or TCP probe, bounded by its timeout. Exec probes are
//!   spawned and reaped by the supervisor itself (one reaper owns every wait).
//! - [`mount`]: `type = "mount"`, a mount point that answers.
//! - [`blocking`]: filesystem calls that may hang, off the supervisor's thread.
//! - [`target`]: `url` / `address` from oxfile.toml, parsed without DNS.
//! - [`rundir`]: where the notify sockets live.
//! - [`notify`]: the `NOTIFY_SOCKET` a child reports `READY=1`,
//!   `STATUS=…`, `WATCHDOG=1` on, as under systemd.
//!
//! The policy around them (interval, retries, start_period, watchdog
//! deadline) belongs to the supervisor's state machine.

pub mod blocking;
pub mod mount;
pub mod notify;
pub mod probe;
pub mod rundir;
pub mod target;

#[cfg(test)]
mod tests;

pub use notify::{Notice, NotifyError, NotifySocket};
pub use probe::Outcome;
pub use rundir::{default_dir, RuntimeDir};
pub use target::{parse_address, HttpTarget};
