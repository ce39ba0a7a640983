//! oxinit: a tiny PID 1 for single-box SQLite apps in containers.
//!
//! The modules form a one-way stack in the order data flows; each imports
//! its own layer or a lower one. Bottom first (README.md's Development
//! section holds the list, and tests/house.rs checks every import against
//! it):
//! 1. the kernel: `sys` (every raw system call: spawn, the reaper,
//!    signals, kill, PID-1 duties), `proc_stat` (the process table from
//!    /proc), `exit` (exit-code rules shared by every mode);
//! 2. shared leaves: `units` (one duration and one size parser and
//!    formatter), `snapshot` (the status snapshot and its typed words,
//!    whose labels the JSON and the metrics share) and `verb`
//!    (`restart`/`stop`/`start`/`reload` as the control socket hands them on);
//! 3. what the oxfile says and what the machine offers: `config` (the
//!    oxfile.toml schema, validation and the boot plan), `cgroup` (memory
//!    limits: cgroup v2, v1, polling), `schedule` (cron and `@every`),
//!    `sqlite` (file sizes, journal mode, the volume check);
//! 4. `diag` (oxinit's own lines, through a bounded queue that keeps
//!    PID 1 from waiting on its stderr), `logs` (relay of the children's
//!    stdout/stderr), `health` (HTTP/TCP probes, the sd_notify socket);
//! 5. `launch` (how a child is built: env, credentials), `sweep` (the
//!    final TERM → grace → KILL of every leftover);
//! 6. `supervisor`: the pure state machine, then its event loop;
//! 7. what serves the outside: `control` (the control socket and the
//!    `status`/`restart`/… client), `metrics` (Prometheus, /health,
//!    /status);
//! 8. `wiring` (the supervisor, metrics and control built with their
//!    channels), `commands` (`run` and `check`), `cli` (the command
//!    line, parsed by hand), `single` (single-command mode, the tini
//!    drop-in); then main.rs.
//!
//! Every module is `pub(crate)`, so the compiler reports what nothing uses.
//! The binary, tests/, examples/ and fuzz/ reach the crate through [`api`],
//! which re-exports, under each module's own name, only the items they use.

// Unsafe code is a compile error but in `sys`, the one corner that makes raw
// system calls (its mod.rs allows it); every unsafe block there says why it
// is sound (clippy, with CI's -D warnings).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub(crate) mod cgroup;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod diag;
pub(crate) mod exit;
pub(crate) mod health;
pub(crate) mod launch;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod proc_stat;
pub(crate) mod schedule;
pub(crate) mod single;
pub(crate) mod snapshot;
pub(crate) mod sqlite;
pub(crate) mod supervisor;
pub(crate) mod sweep;
pub(crate) mod sys;
pub(crate) mod units;
pub(crate) mod verb;
pub(crate) mod wiring;

/// The crate's outside: what the binary (src/main.rs), tests/, examples/ and
/// fuzz/ use, each facade named after the module it re-exports from, so a
/// path reads `oxinit::api::config::parse_str` for `crate::config::parse_str`.
/// An item lands here only when something outside the crate uses it; the
/// rest stays crate-private, where an unused item is a warning.
pub mod api {
    /// main.rs: the command line.
    pub mod cli {
        pub use crate::cli::{Cli, Command};
    }

    /// main.rs: the `run` and `check` commands.
    pub mod commands {
        pub use crate::commands::{check, supervise};
    }

    /// main.rs: the control client; tests/control_cli.rs: a server to talk to.
    pub mod control {
        pub use crate::control::{client, Action, Command, Server, Snapshot};
    }

    /// main.rs: oxinit's own lines (and the `say!` macro writes through here).
    pub mod diag {
        pub use crate::diag::{flush, init, write_stderr, Output};
    }

    /// main.rs: the exit code of a bug.
    pub mod exit {
        pub use crate::exit::INTERNAL;
    }

    /// main.rs: single-command mode.
    pub mod single {
        pub use crate::single::{run, Options};
    }

    /// main.rs: the system calls before any mode runs;
    /// tests/cgroup_v1.rs: the cgroup join a child makes.
    pub mod sys {
        pub mod pid1 {
            pub use crate::sys::pid1::{emergency_stop, exit_now};
        }
        pub mod signals {
            pub use crate::sys::signals::{block_all, unblock_all};
        }
        pub mod spawn {
            pub use crate::sys::spawn::join_from_child;
        }
        pub mod stdio {
            pub use crate::sys::stdio::ensure_open;
        }
    }

    /// tests/cgroup_v1.rs and tests/cgroup_poll.rs: limits on a real
    /// machine, the OOM watch, the /proc walk of the polling fallback.
    pub mod cgroup {
        pub use crate::cgroup::{
            detect, drain_oom_watch, Enforcement, KernelLog, Limits, Mode, ProcessCgroup,
            Requested, Roots,
        };
        pub mod poll {
            pub use crate::cgroup::poll::{tree_rss, tree_usage};
        }
    }

    /// tests/examples.rs, tests/oxfile_mutations.rs, tests/oxmgr_format.rs,
    /// tests/readme_reference.rs and fuzz/fuzz_targets/oxfile.rs: the oxfile
    /// parser, its plan, its reference and its `check` report.
    pub mod config {
        pub use crate::config::{
            load_with, parse_str, plan, reference_keys, render_check_at, Config, ConfigError, Kind,
            LoadContext, Lookups, TRANSLATION_BEGIN, TRANSLATION_END,
        };
    }

    /// examples/relay_bench.rs: the log relay, with the ring it keeps.
    pub mod logs {
        pub use crate::logs::{Bounds, LogBook, LogSink, Stream, Style};
    }

    /// tests/prometheus_scrape.rs, tests/sqlite_stats.rs and
    /// examples/metrics_bench.rs: the exporter fed a snapshot.
    pub mod metrics {
        pub use crate::metrics::{bind, serve, Metrics};
    }

    /// tests/prometheus_scrape.rs, tests/control_cli.rs, tests/sqlite_stats.rs
    /// and examples/metrics_bench.rs: snapshots built by hand.
    pub mod snapshot {
        pub use crate::snapshot::{
            HealthResult, Kind, MemoryEnforcement, Phase, ProcessState, ProcessStatus, Snapshot,
        };
    }

    /// tests/sqlite_stats.rs: file sizes and the volume check.
    pub mod sqlite {
        pub use crate::sqlite::{check_volumes, stats, volume_check};
    }

    /// tests/examples.rs: durations in fly.toml.
    pub mod units {
        pub use crate::units::parse_duration;
    }
}
