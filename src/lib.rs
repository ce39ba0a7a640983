//! oxinit: a tiny PID 1 for single-box SQLite apps in containers.
//!
//! Module map (see DESIGN.md for the picture):
//! - [`sys`]: every unsafe call: spawn, the reaper, signals, PID-1 duties.
//! - [`single`]: single-command mode (`oxinit -- CMD`), the tini drop-in.
//! - [`config`]: the oxfile.toml schema, units, validation and the boot plan.
//! - [`supervisor`]: the event loop and the per-process state machine.
//! - [`logs`]: relay of the children's stdout/stderr.
//! - [`exit`]: exit-code rules shared by every mode.

pub mod exit;
pub mod logs;
pub mod sys;
