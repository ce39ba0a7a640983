//! The command line: `oxinit -- CMD…` (single-command mode), `oxinit run`,
//! `oxinit check`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "oxinit",
    version,
    about = "A tiny PID 1 for single-box SQLite apps in containers.",
    args_conflicts_with_subcommands = true,
    after_help = "Single-command mode (a drop-in for tini/dumb-init):  oxinit [--grace 2s] [--stop-timeout 10s] -- CMD ARGS…\n\
                  Supervisor mode:                                  oxinit [run] [--config oxfile.toml]"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Single-command mode: after CMD exits, how long leftover processes get
    /// between SIGTERM and SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub grace: Duration,

    /// Single-command mode: SIGKILL CMD's process group this long after the
    /// first SIGTERM/SIGINT if it has not exited (default: wait).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub stop_timeout: Option<Duration>,

    /// The command to run in single-command mode, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub argv: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run what oxfile.toml describes (the default without `-- CMD`).
    Run {
        /// The oxfile (else $OXINIT_CONFIG, ./oxfile.toml, /etc/oxfile.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate oxfile.toml and print the plan: boot order, stop order, settings.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// "500ms", "2s", "1m30s": the same units as oxfile.toml.
fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::units::parse_duration(s)
}
