//! The resolved configuration: what the supervisor runs. Every value here is
//! validated, expanded and defaulted; nothing refers back to TOML.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

/// A problem (error or warning) at a position in oxfile.toml. `line` and
/// `col` are 1-based (col counts characters); `line` is 0 when the problem
/// has no single location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Problem {
    /// `path:line:col: message`, or `path: message` without a location.
    pub fn render(&self, path: &std::path::Path) -> String {
        if self.line == 0 {
            format!("{}: {}", path.display(), self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                path.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

/// The whole file, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file as it was named (for messages).
    pub path: PathBuf,
    pub init: InitSettings,
    /// In file order; names are unique.
    pub processes: Vec<ProcessSpec>,
    /// Things that are allowed but probably not what was meant.
    pub warnings: Vec<Problem>,
}

impl Config {
    /// The process called `name`.
    pub fn process(&self, name: &str) -> Option<&ProcessSpec> {
        self.processes.iter().find(|p| p.name == name)
    }
}

/// `[init]`: oxinit's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    /// Cap on the whole ordered shutdown; then SIGKILL everything.
    pub shutdown_timeout: Duration,
    /// After the services stopped: TERM leftovers, wait this long, KILL.
    pub orphan_grace: Duration,
    /// How the children's output is relayed.
    pub log_format: LogFormat,
}

impl Default for InitSettings {
    fn default() -> Self {
        InitSettings {
            shutdown_timeout: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(2),
            log_format: LogFormat::Prefixed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `api        | line`
    Prefixed,
    /// Inherited file descriptors, no relay.
    Raw,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Prefixed => "prefixed",
            LogFormat::Raw => "raw",
            LogFormat::Json => "json",
        }
    }
}

/// One `[processes.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// `[A-Za-z0-9_.-]{1,32}`.
    pub name: String,
    /// Non-empty; split and `${VAR}`-expanded. `argv[0]` may need a PATH
    /// lookup (it is not resolved here).
    pub argv: Vec<String>,
    /// Absolute: a relative `cwd` is resolved against the oxfile's directory.
    pub cwd: Option<PathBuf>,
    /// Added to (and overriding) the inherited environment: `env_file`
    /// entries first, then `env`; each key appears once, `env` wins.
    pub env: Vec<(String, String)>,
    pub user: Option<UserSpec>,
    /// Always `Never` for oneshots.
    pub restart: RestartPolicy,
    pub restart_delay: Duration,
    pub restart_delay_max: Duration,
    pub restart_reset: Duration,
    /// 0 = a failure is final.
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub critical: bool,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    /// Names of processes in this file; no cycles.
    pub depends_on: Vec<String>,
    pub oneshot: bool,
    /// Only for oneshots.
    pub timeout: Option<Duration>,
}

impl ProcessSpec {
    /// A service named `name` running `argv` with every default.
    pub fn new(name: &str, argv: Vec<String>) -> Self {
        ProcessSpec {
            name: name.to_string(),
            argv,
            cwd: None,
            env: Vec::new(),
            user: None,
            restart: RestartPolicy::Always,
            restart_delay: Duration::from_secs(1),
            restart_delay_max: Duration::from_secs(30),
            restart_reset: Duration::from_secs(60),
            max_restarts: 10,
            restart_window: Duration::from_secs(300),
            critical: true,
            stop_signal: Signal::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            depends_on: Vec::new(),
            oneshot: false,
            timeout: None,
        }
    }
}

/// Who a process runs as, resolved from /etc/passwd and /etc/group at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub uid: u32,
    pub gid: u32,
    /// For setgroups(2): the primary gid first, then every group listing the
    /// user's name as a member.
    pub groups: Vec<u32>,
    /// None for a numeric uid without a passwd entry.
    pub name: Option<String>,
    pub home: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    }
}
