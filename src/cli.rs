//! The command line: `oxinit -- CMD…` (single-command mode), `oxinit run`,
//! `oxinit check`, and the clients of a running oxinit: `status`, `restart`,
//! `stop`, `start`, `healthcheck`.

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
    /// Show each process of the running oxinit: state, pid, uptime, restarts,
    /// last exit.
    Status {
        /// Print the whole snapshot as JSON, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Restart one process (a service goes through its stop signal and
    /// stop_timeout); answers when done.
    Restart {
        name: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Stop one process; it stays stopped, whatever its restart policy, until
    /// `oxinit start NAME`.
    Stop {
        name: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Start one stopped process.
    Start {
        name: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Exit 0 when the running oxinit has finished booting and every service
    /// is up (and healthy where checked), else 1 with the reasons. For
    /// `HEALTHCHECK CMD ["oxinit", "healthcheck"]`.
    Healthcheck {
        #[command(flatten)]
        socket: SocketArg,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct SocketArg {
    /// The control socket of the running oxinit (else $OXINIT_SOCKET, else
    /// /run/oxinit.sock).
    #[arg(long = "socket", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// A client command: what to ask, where, and how to print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInvocation {
    pub request: crate::control::ClientRequest,
    pub socket: PathBuf,
    pub json: bool,
}

impl Command {
    /// The client request this command makes of a running oxinit, if it is
    /// one of `status`, `restart`, `stop`, `start`, `healthcheck`.
    pub fn control(&self) -> Option<ControlInvocation> {
        use crate::control::Request;
        let (request, socket, json) = match self {
            Command::Run { .. } | Command::Check { .. } => return None,
            Command::Status { json, socket } => (Request::Status {}, socket, *json),
            Command::Restart { name, socket } => {
                (Request::Restart { name: name.clone() }, socket, false)
            }
            Command::Stop { name, socket } => (Request::Stop { name: name.clone() }, socket, false),
            Command::Start { name, socket } => {
                (Request::Start { name: name.clone() }, socket, false)
            }
            Command::Healthcheck { socket } => (Request::Health {}, socket, false),
        };
        Some(ControlInvocation {
            request,
            socket: socket
                .path
                .clone()
                .unwrap_or_else(crate::control::default_socket),
            json,
        })
    }
}

/// "500ms", "2s", "1m30s": the same units as oxfile.toml.
fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::units::parse_duration(s)
}
