//! oxinit: a tiny PID 1 for single-box SQLite apps in containers.
//!
//! The modules form a one-way stack in the order data flows; each imports
//! its own layer or a lower one. Bottom first (README.md's Development
//! section holds the list, and tests/house.rs checks every import against
//! it):
//! 1. the kernel: [`sys`] (every raw system call: spawn, the reaper,
//!    signals, kill, PID-1 duties), `proc_stat` (the process table from
//!    /proc), [`exit`] (exit-code rules shared by every mode);
//! 2. shared leaves: `units` (one duration and one size parser and
//!    formatter), [`snapshot`] (the status snapshot and its typed words,
//!    whose labels the JSON and the metrics share) and `verb`
//!    (`restart`/`stop`/`start`/`reload` as the control socket hands them on);
//! 3. what the oxfile says and what the machine offers: [`config`] (the
//!    oxfile.toml schema, validation and the boot plan), [`cgroup`] (memory
//!    limits: cgroup v2, v1, polling), `schedule` (cron and `@every`),
//!    [`sqlite`] (file sizes, journal mode, the volume check);
//! 4. [`diag`] (oxinit's own lines, through a bounded queue that keeps
//!    PID 1 from waiting on its stderr), [`logs`] (relay of the children's
//!    stdout/stderr), `health` (HTTP/TCP probes, the sd_notify socket);
//! 5. `launch` (how a child is built: env, credentials), `sweep` (the
//!    final TERM → grace → KILL of every leftover);
//! 6. [`supervisor`]: the pure state machine, then its event loop;
//! 7. what serves the outside: [`control`] (the control socket and the
//!    `status`/`restart`/… client), [`metrics`] (Prometheus, /health,
//!    /status);
//! 8. `wiring` (the supervisor, metrics and control built with their
//!    channels), [`commands`] (`run` and `check`), [`cli`] (the command
//!    line, parsed by hand), [`single`] (single-command mode, the tini
//!    drop-in); then main.rs.
//!
//! Modules are `pub(crate)` unless the binary, tests/, examples/ or fuzz/
//! reach them by path, so the compiler reports dead code in them.

// Unsafe code is a compile error but in `sys`, the one corner that makes raw
// system calls (its mod.rs allows it); every unsafe block there says why it
// is sound (clippy, with CI's -D warnings).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod diag;
pub mod exit;
pub(crate) mod health;
pub(crate) mod launch;
pub mod logs;
pub mod metrics;
pub(crate) mod proc_stat;
pub(crate) mod schedule;
pub mod single;
pub mod snapshot;
pub mod sqlite;
pub mod supervisor;
pub(crate) mod sweep;
pub mod sys;
pub mod units;
pub(crate) mod verb;
pub(crate) mod wiring;
