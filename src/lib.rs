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
//! - [`snapshot`]: the read-only picture of the system and its words (phase,
//!   kind, state, exit reason, results), a leaf every layer imports.
//! - [`verb`]: `restart`/`stop`/`start` and their envelope, shared by the
//!   control socket and the supervisor.
//! - [`exit`]: exit-code rules shared by every mode.
//! - [`commands`]: `run` and `check`, what `main` calls for an oxfile.
//! - [`cli`]: the command line, parsed by hand (one pass, tables for --help).
//! - [`diag`]: oxinit's own log lines: its `tracing` subscriber, text or JSON,
//!   and the bounded queue that keeps PID 1 from waiting on its stderr.
//! - [`wiring`]: supervisor mode put together: the supervisor, the metrics
//!   and the control socket, and the channels between them.
//! - [`proc_stat`]: the process table from /proc, for every part that needs it.

pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod diag;
pub mod exit;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod proc_stat;
pub mod schedule;
pub mod single;
pub mod snapshot;
pub mod sqlite;
pub mod supervisor;
pub mod sweep;
pub mod sys;
pub mod verb;
pub mod wiring;
