//! The resolved configuration: what the supervisor runs. Every value here is
//! validated, expanded and defaulted; nothing refers back to TOML.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::variants::Variants;

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
    pub metrics: MetricsSettings,
    pub sqlite: SqliteSettings,
    /// In file order; names are unique.
    pub processes: Vec<ProcessSpec>,
    /// Things that are allowed but probably not what was meant.
    pub warnings: Vec<Problem>,
    /// For a file in Oxmgr's format: the same file in oxinit's own format,
    /// as it was parsed (what `oxinit check` prints for the user to keep).
    pub translation: Option<String>,
}

impl Config {
    /// The process called `name`. A scan: to look up many names, build
    /// [`Config::indices`] once.
    pub fn process(&self, name: &str) -> Option<&ProcessSpec> {
        self.processes.iter().find(|p| p.name == name)
    }

    /// Each process's name with its index in `processes`: name lookups by
    /// map, so walking every `depends_on` costs as much as the file, not
    /// that times the number of processes.
    pub fn indices(&self) -> HashMap<&str, usize> {
        self.processes
            .iter()
            .enumerate()
            .map(|(index, p)| (p.name.as_str(), index))
            .collect()
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
    /// Where `oxinit status/restart/stop/start` reach the running oxinit.
    /// Absolute: a relative path is resolved against the oxfile's directory.
    /// None: not written; `control::location` chooses at boot
    /// ($OXINIT_SOCKET, /run, $XDG_RUNTIME_DIR, /tmp/oxinit-UID).
    pub control_socket: Option<PathBuf>,
    /// How memory limits should be enforced; the mode actually used is
    /// decided at boot by `cgroup::detect`.
    pub memory_enforcement: crate::cgroup::Requested,
    /// Lines and bytes of each process's output kept for `oxinit logs`.
    pub log_buffer_lines: usize,
    pub log_buffer_bytes: u64,
}

impl Default for InitSettings {
    fn default() -> Self {
        InitSettings {
            shutdown_timeout: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(2),
            log_format: LogFormat::Prefixed,
            control_socket: None,
            memory_enforcement: crate::cgroup::Requested::Auto,
            // 1000 lines of 100 bytes fit in 1 MiB: minutes of a busy app.
            log_buffer_lines: 1000,
            log_buffer_bytes: 1 << 20,
        }
    }
}

/// `[metrics]`: the HTTP endpoint serving /metrics, /health and /status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Other programs' `/metrics`, appended to oxinit's at each scrape.
    pub include: Vec<IncludeUrl>,
    /// Per include URL and scrape.
    pub include_timeout: Duration,
    pub include_max_size: u64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9091)),
            include: Vec::new(),
            // Well inside Prometheus's default scrape timeout (10s), and
            // room for a few hundred thousand series.
            include_timeout: Duration::from_secs(2),
            include_max_size: 4 * 1024 * 1024,
        }
    }
}

/// One `[metrics] include` URL, resolved without DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeUrl {
    /// As written (after `${VAR}` expansion): the `url` label.
    pub url: String,
    pub addr: SocketAddr,
    /// The Host header.
    pub host: String,
    pub path: String,
}

/// `[sqlite]`: the databases oxinit watches (size and WAL metrics, a boot
/// warning when one is not on a volume).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqliteSettings {
    /// Absolute, `${VAR}`-expanded, in file order, no duplicates.
    pub databases: Vec<PathBuf>,
    /// Refuse to boot (instead of warning) when a database would live on the
    /// container's own filesystem (overlay, tmpfs) and vanish with it.
    pub require_volume: bool,
    /// `/health` fails while replication is behind more than this.
    pub max_replication_lag: Option<Duration>,
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
    /// `[init] log_format`, as written.
    pub const VARIANTS: Variants<LogFormat> = Variants {
        noun: "a log format",
        list: &[
            ("prefixed", LogFormat::Prefixed, ""),
            ("raw", LogFormat::Raw, ""),
            ("json", LogFormat::Json, ""),
        ],
    };

    pub fn as_str(self) -> &'static str {
        Self::VARIANTS.name(self)
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
    /// `oxinit reload`: how long the new instance has to become ready before
    /// it is stopped and the old one keeps serving.
    pub ready_timeout: Duration,
    /// Names of processes in this file; no cycles.
    pub depends_on: Vec<String>,
    pub oneshot: bool,
    /// Only for oneshots and jobs: how long one run may take.
    pub timeout: Option<Duration>,
    /// Only for services.
    pub health: Option<HealthSpec>,
    /// Allowed on every kind of process.
    pub limits: crate::cgroup::Limits,
    /// Makes the process a job (see [`Kind::Job`]).
    pub schedule: Option<crate::schedule::Schedule>,
    /// `replicator = true|false` as written; None: detected from the command
    /// (see [`super::replicator`]).
    pub replicator: Option<bool>,
    /// Its own `log_buffer_lines`/`log_buffer_bytes`; None: `[init]`'s.
    pub log_buffer_lines: Option<usize>,
    pub log_buffer_bytes: Option<u64>,
    /// Services only: sockets oxinit binds at boot, holds, and passes to
    /// every start on fds 3, 4, … (see `crate::sys::listen`). No two
    /// collide, in this process or across the file.
    pub listen: Vec<crate::sys::listen::Endpoint>,
    /// listen(2)'s backlog for them.
    pub backlog: u32,
    /// Oneshots and jobs: every condition must hold when it would start,
    /// else it is skipped (see [`super::condition`]). Empty: always runs.
    pub when: Vec<Condition>,
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
            ready_timeout: Duration::from_secs(60),
            depends_on: Vec::new(),
            oneshot: false,
            timeout: None,
            health: None,
            limits: crate::cgroup::Limits::default(),
            schedule: None,
            replicator: None,
            log_buffer_lines: None,
            log_buffer_bytes: None,
            listen: Vec::new(),
            backlog: crate::sys::listen::DEFAULT_BACKLOG,
            when: Vec::new(),
        }
    }

    /// What the supervisor does with it: see [`Kind`].
    pub fn kind(&self) -> Kind {
        if self.schedule.is_some() {
            Kind::Job
        } else if self.oneshot {
            Kind::Oneshot
        } else {
            Kind::Service
        }
    }
}

/// The three ways a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs until stopped; restarted per its policy; may have a health check.
    Service,
    /// Runs once at boot, to completion; its failure aborts boot.
    Oneshot,
    /// Runs to completion at each scheduled time; its failure is recorded
    /// and never takes the container down. Nothing may depend on it.
    Job,
}

impl Kind {
    /// Each kind with its name (in `check`, `status` and metric labels).
    pub const VARIANTS: Variants<Kind> = Variants {
        noun: "a kind of process",
        list: &[
            ("service", Kind::Service, ""),
            ("oneshot", Kind::Oneshot, ""),
            ("job", Kind::Job, ""),
        ],
    };

    pub fn as_str(self) -> &'static str {
        Self::VARIANTS.name(self)
    }
}

/// `[processes.NAME.health]`: how readiness and liveness are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub check: HealthCheck,
    /// Time between the starts of two checks once the process is ready (a
    /// check that takes longer is followed at once: checks never overlap).
    pub interval: Duration,
    /// How long one check may take; may be longer than `interval`.
    pub timeout: Duration,
    /// Consecutive failures that make the process unhealthy; at least 1.
    pub retries: u32,
    /// Failures in this long after a start do not count (the app is still
    /// booting); a success ends it early.
    pub start_period: Duration,
}

impl HealthSpec {
    /// A check with the default timing: every 10s, 2s timeout, 3 retries,
    /// no start period.
    pub fn new(check: HealthCheck) -> Self {
        HealthSpec {
            check,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }
}

/// What one check does. Every address is an IP: oxinit does no DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// An HTTP/1.1 `GET path` sent to `addr`.
    Http {
        /// As written (after `${VAR}` expansion), for messages.
        url: String,
        addr: SocketAddr,
        /// The Host header: the URL's host as written, with its port if one
        /// was written (`localhost:3000`, `[::1]:8080`).
        host: String,
        /// Path and query, `/` when the URL has none.
        path: String,
    },
    /// A TCP connect succeeds.
    Tcp { addr: SocketAddr },
    /// The command exits 0 (run with the process's user, cwd and env).
    Exec { argv: Vec<String> },
    /// The process says so itself over `$NOTIFY_SOCKET` (sd_notify
    /// `READY=1`); with a watchdog it must also send `WATCHDOG=1` at least
    /// this often.
    Notify { watchdog: Option<Duration> },
    /// A filesystem is mounted at `path` (it is listed in
    /// /proc/self/mountinfo, or lives on another device than its parent) and
    /// answers: a stat and a directory read finish within the timeout. For
    /// `litefs mount` and other FUSE daemons, whose mount is their readiness.
    Mount { path: PathBuf },
}

impl HealthCheck {
    /// The `type` as written in oxfile.toml.
    #[cfg(test)]
    pub fn type_name(&self) -> &'static str {
        match self {
            HealthCheck::Http { .. } => "http",
            HealthCheck::Tcp { .. } => "tcp",
            HealthCheck::Exec { .. } => "exec",
            HealthCheck::Notify { .. } => "notify",
            HealthCheck::Mount { .. } => "mount",
        }
    }
}

/// One `when` test on a path (`[processes.NAME] when`, see
/// `condition.rs`). Every condition of a process must hold for it to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The path exists (symlinks followed, as `test -e`).
    Exists(PathBuf),
    /// The path does not exist.
    Missing(PathBuf),
}

impl Condition {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Condition::Exists(p) | Condition::Missing(p) => p,
        }
    }

    /// The key it is written with.
    pub fn key(&self) -> &'static str {
        match self {
            Condition::Exists(_) => "exists",
            Condition::Missing(_) => "missing",
        }
    }
}

/// `exists = "/a"`, as `check` prints it and the skip message quotes it.
impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {:?}",
            self.key(),
            self.path().display().to_string()
        )
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
    /// The child's HOME. From passwd; `/` when the user has no entry there
    /// (a numeric uid) or an empty home, as runc does: never oxinit's own
    /// HOME, which is root's. Always set by the loader.
    pub home: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// `restart`, as written.
    pub const VARIANTS: Variants<RestartPolicy> = Variants {
        noun: "a restart policy",
        list: &[
            ("always", RestartPolicy::Always, ""),
            ("on-failure", RestartPolicy::OnFailure, ""),
            ("never", RestartPolicy::Never, ""),
        ],
    };

    pub fn as_str(self) -> &'static str {
        Self::VARIANTS.name(self)
    }
}
