//! oxinit: a tiny PID 1 for single-box SQLite apps in containers.
//!
//! Module map (see DESIGN.md for the picture):
//! - [`sys`]: every unsafe call: spawn, the reaper, signals, PID-1 duties.
//! - [`single`]: single-command mode (`oxinit -- CMD`), the tini drop-in.
//! - [`sweep`]: the final TERM → grace → KILL of every leftover process.
//! - [`config`]: the oxfile.toml schema, units, validation and the boot plan.
//! - [`supervisor`]: supervisor mode: the state machine and its event loop.
//! - [`logs`]: relay of the children's stdout/stderr.
//! - [`control`]: the control socket and `oxinit status|restart|stop|start|healthcheck`.
//! - [`exit`]: exit-code rules shared by every mode.
//! - [`health`]: health probes (HTTP, TCP) and the sd_notify receiver.
//! - [`schedule`]: cron and `@every` schedules for scheduled jobs.

pub mod cgroup;
pub mod cli;
pub mod config;
pub mod control;
pub mod diag;
pub mod exit;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod schedule;
pub mod single;
pub mod sqlite;
pub mod supervisor;
pub mod sweep;
pub mod sys;
