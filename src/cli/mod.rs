//! The command line: `oxinit -- CMD…` (single-command mode), `oxinit run`,
//! `oxinit check`, and the clients of a running oxinit: `status`, `restart`,
//! `stop`, `start`, `reload`, `healthcheck`, `logs`, `events`.
//!
//! Parsed by hand, as tini and dumb-init do: a PID 1 starts on every container
//! start, and an argument-parsing library cost ~200 KB of binary and built its
//! whole command tree even for `oxinit -- CMD`. The grammar is small enough to
//! read in [`parse`]; the texts of `--help` are in [`help`], next to the table
//! of options the parser accepts, so the help cannot forget one.

mod help;
mod parse;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// None: single-command mode if `argv` is not empty, else supervisor mode
    /// with the default oxfile lookup.
    pub command: Option<Command>,
    /// Single-command mode: after CMD exits, how long leftover processes get
    /// between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Single-command mode: SIGKILL CMD's process group this long after the
    /// first SIGTERM/SIGINT if it has not exited (None: wait).
    pub stop_timeout: Option<Duration>,
    /// The command to run in single-command mode: everything after `--`.
    pub argv: Vec<OsString>,
}

/// `--grace` when not given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// A subcommand (the texts of `--help` describe each; see [`help`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run {
        config: Option<PathBuf>,
    },
    /// `strict`: what does not resolve on this machine is an error.
    Check {
        config: Option<PathBuf>,
        strict: bool,
    },
    Status {
        json: bool,
        socket: SocketArg,
    },
    Restart {
        name: String,
        socket: SocketArg,
    },
    Stop {
        name: String,
        socket: SocketArg,
    },
    Start {
        name: String,
        socket: SocketArg,
    },
    Reload {
        name: String,
        socket: SocketArg,
    },
    Healthcheck {
        socket: SocketArg,
    },
    /// `names` empty: every process.
    Logs {
        names: Vec<String>,
        lines: usize,
        follow: bool,
        json: bool,
        socket: SocketArg,
    },
    Events {
        json: bool,
        socket: SocketArg,
    },
}

/// `oxinit logs` without `-n`.
pub const DEFAULT_LOG_LINES: usize = 100;

/// `--socket PATH` and `--config PATH` of a client: where it finds the
/// control socket of the running oxinit (see `control::location`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketArg {
    /// None: the oxfile's `[init] control_socket`, else $OXINIT_SOCKET, else
    /// the default places.
    pub path: Option<PathBuf>,
    /// The oxfile to take `[init] control_socket` from (None: the lookup of
    /// `run`).
    pub config: Option<PathBuf>,
}

/// Why the command line runs no mode: help or version was asked for, or it is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// `--help`, `help` or `--version`: print this on stdout and exit 0.
    Print(String),
    /// A mistake, in one line. `command` names the subcommand it was made in,
    /// so that the hint points at the help that explains it.
    Error {
        message: String,
        command: Option<&'static str>,
    },
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Usage::Print(text) => f.write_str(text),
            Usage::Error { message, command } => {
                let help = match command {
                    Some(command) => format!("oxinit {command} --help"),
                    None => "oxinit --help".to_string(),
                };
                write!(f, "oxinit: error: {message}\nTry '{help}'.")
            }
        }
    }
}

impl std::error::Error for Usage {}

impl Cli {
    /// Parses the process's arguments; prints help or version and exits 0, or
    /// prints the mistake and exits 2, as command-line tools do.
    pub fn from_env() -> Cli {
        match Cli::parse_args(std::env::args_os().skip(1)) {
            Ok(cli) => cli,
            Err(Usage::Print(text)) => {
                let mut stdout = std::io::stdout().lock();
                // Nowhere to report a closed stdout (`oxinit --help | head -1`).
                let _ = stdout
                    .write_all(text.as_bytes())
                    .and_then(|_| stdout.flush());
                std::process::exit(0)
            }
            Err(error) => {
                crate::diag::write_stderr(format!("{error}\n").as_bytes());
                std::process::exit(crate::exit::USAGE)
            }
        }
    }
}

/// A client command: what to ask, where, and how to print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInvocation {
    pub request: crate::control::ClientRequest,
    pub socket: SocketArg,
    pub json: bool,
}

impl ControlInvocation {
    /// Where to look for the socket, reading the oxfile if need be.
    pub fn lookup(&self) -> crate::control::location::Lookup {
        use crate::control::location::{lookup, Oxfile, Places};
        let oxfile = match self.socket.path {
            // --socket wins: no oxfile to read.
            Some(_) => Oxfile::Absent,
            None => Oxfile::find(self.socket.config.as_deref()),
        };
        lookup(self.socket.path.as_deref(), oxfile, &Places::from_process())
    }
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
            Command::Reload { name, socket } => {
                (Request::Reload { name: name.clone() }, socket, false)
            }
            Command::Healthcheck { socket } => (Request::Health {}, socket, false),
            Command::Logs {
                names,
                lines,
                follow,
                json,
                socket,
            } => (
                Request::Logs {
                    names: names.clone(),
                    lines: *lines,
                    follow: *follow,
                },
                socket,
                *json,
            ),
            Command::Events { json, socket } => (Request::Events {}, socket, *json),
        };
        Some(ControlInvocation {
            request,
            socket: socket.clone(),
            json,
        })
    }
}
