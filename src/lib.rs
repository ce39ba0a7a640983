//! oxinit: a tiny PID 1 for single-box SQLite apps in containers.
//!
//! Module map (see README.md's Development section and DESIGN.md):
//! - [`sys`]: every unsafe call: spawn, the reaper, signals, PID-1 duties.
//! - [`cgroup`]: memory limits (cgroup v2, v1, polling); its own unsafe corner.
//! - [`single`]: single-command mode (`oxinit -- CMD`), the tini drop-in.
//! - [`sweep`]: the final TERM → grace → KILL of every leftover process.
//! - [`config`]: the oxfile.toml schema, units, validation and the boot plan.
//! - [`supervisor`]: supervisor mode: the pure state machine and its event loop.
//! - [`logs`]: relay of the children's stdout/stderr.
//! - [`health`]: HTTP/TCP probes and the sd_notify socket.
//! - [`schedule`]: cron and `@every` schedules of jobs.
//! - [`control`]: the control socket and the `status`/`restart`/… client.
//! - [`metrics`], [`sqlite`]: Prometheus metrics, /health, /status, SQLite gauges.
//! - [`exit`]: exit-code rules shared by every mode.
//! - [`cli`]: the command line, parsed by hand (one pass, tables for --help).
//! - [`diag`]: oxinit's own log lines: its `tracing` subscriber, text or JSON,
//!   and the bounded queue that keeps PID 1 from waiting on its stderr.
//! - [`proc_stat`]: the process table from /proc, for every part that needs it.

// Unsafe code is a compile error but in `sys`, the one corner that makes raw
// system calls (its mod.rs allows it); every unsafe block there says why it
// is sound (clippy, with CI's -D warnings).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cgroup;
pub mod cli;
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
pub mod sqlite;
pub mod supervisor;
pub(crate) mod sweep;
pub mod sys;
