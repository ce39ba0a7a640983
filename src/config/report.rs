//! The problems found in an oxfile, each at its line and column: what every
//! reader of the TOML tree reports into, and the error they add up to.
//!
//! A leaf of `config`: it knows positions and messages, not tables, so every
//! table's reader (and Oxmgr's translation) can use it without a circle.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::DeValue;
use toml::Spanned;

use super::schema::Problem;
use super::suggest::did_you_mean;

/// A key of the TOML tree, with its position.
pub(super) type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
/// A value of the TOML tree, with its position.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// How names and paths that depend on the machine are judged: users in
/// /etc/passwd and /etc/group, commands in `$PATH`, `cwd` directories.
/// `oxinit check` often runs outside the image (in CI, on a laptop), where
/// none of them need exist; inside the image (`RUN ["oxinit", "check"]` in
/// the Dockerfile) they must.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lookups {
    /// `oxinit run`: an unknown user is an error (exit 78 before anything
    /// starts: there is no uid to run it as); commands and `cwd`s are not
    /// looked up here, their start says 127/126 (a critical service's first
    /// start then aborts the boot).
    #[default]
    Run,
    /// `oxinit check`: each one that does not resolve is a warning.
    Check,
    /// `oxinit check --strict`: each one is an error.
    Strict,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("no oxfile.toml found; tried {}; write one there or pass --config FILE (or set OXINIT_CONFIG)", list_paths(.tried))]
    NotFound { tried: Vec<PathBuf> },
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Every problem found, sorted by position.
    #[error("{}", render_problems(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// One line per problem, then a count: what `oxinit check` prints on failure.
fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for problem in problems {
        out.push_str(&problem.render(path));
        out.push('\n');
    }
    let plural = if problems.len() == 1 { "" } else { "s" };
    out.push_str(&format!(
        "{} problem{plural} in {}",
        problems.len(),
        path.display()
    ));
    out
}

/// Collects errors and warnings with their positions in the text.
pub(super) struct Report<'t> {
    text: &'t str,
    /// How [`Report::not_here`] files its problems.
    pub lookups: Lookups,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Byte offset of each line's start, built at the first problem.
    line_starts: Vec<usize>,
    /// The last position turned into a column, as (offset, line, col): the
    /// walk reports in file order, so the next column on the same line is
    /// counted from there, not from the line's start (a 100,000-key inline
    /// table is one line).
    last: Option<(usize, usize, usize)>,
}

impl<'t> Report<'t> {
    pub fn new(text: &'t str) -> Self {
        Report {
            text,
            lookups: Lookups::Run,
            errors: Vec::new(),
            warnings: Vec::new(),
            line_starts: Vec::new(),
            last: None,
        }
    }

    pub fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let problem = self.at(span.start, message.into());
        self.errors.push(problem);
    }

    pub fn warn(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let problem = self.at(span.start, message.into());
        self.warnings.push(problem);
    }

    /// A user, command or `cwd` that does not resolve on this machine: an
    /// error for `run` and `check --strict`, else a warning that says where
    /// to check it (see [`Lookups`]).
    pub fn not_here(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let message = message.into();
        match self.lookups {
            Lookups::Run | Lookups::Strict => self.error(span, message),
            Lookups::Check => self.warn(
                span,
                format!("{message} (on this machine; if the image has it, check there: RUN [\"oxinit\", \"check\", \"--strict\"] in the Dockerfile)"),
            ),
        }
    }

    /// A problem with no single location (line 0).
    pub fn error_nowhere(&mut self, message: impl Into<String>) {
        self.errors.push(Problem {
            line: 0,
            col: 0,
            message: message.into(),
        });
    }

    /// A problem at a byte offset of the text.
    pub fn at(&mut self, offset: usize, message: String) -> Problem {
        let (line, col) = self.line_col(offset);
        Problem { line, col, message }
    }

    /// 1-based line and column (in characters) of a byte offset. The cost
    /// is a binary search plus the characters since the last position on
    /// the same line, so reporting every problem stays linear in the file.
    pub fn line_col(&mut self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        if self.line_starts.is_empty() {
            self.line_starts = std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| i + 1))
                .collect();
        }
        // The last line starting at or before `offset` (line_starts[0] is 0).
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let (from, counted) = match self.last {
            Some((last, last_line, col)) if last_line == line && last <= offset => (last, col),
            _ => (self.line_starts[line], 1),
        };
        let col = counted + self.text[from..offset].chars().count();
        self.last = Some((offset, line, col));
        (line + 1, col)
    }

    /// `unknown key "comand" in [processes.api]; did you mean "command"? valid keys: …`.
    /// `reserved` keys are suggested too (they get their own message when used).
    pub fn unknown_key(&mut self, key: &Key<'_>, table: &str, valid: &[&str], reserved: &[&str]) {
        let name = key.get_ref().as_ref();
        let candidates = valid.iter().chain(reserved).copied();
        let hint = alias(name)
            .filter(|a| valid.contains(a))
            .or_else(|| did_you_mean(name, candidates))
            .map(|s| format!("did you mean \"{s}\"? "))
            .unwrap_or_default();
        self.error(
            &key.span(),
            format!(
                "unknown key \"{name}\" in {table}; {hint}valid keys: {}",
                valid.join(", ")
            ),
        );
    }

    /// A known table or key whose feature is not built yet.
    pub fn not_yet(&mut self, key: &Key<'_>, table: &str, feature: &str) {
        let name = key.get_ref().as_ref();
        self.error(
            &key.span(),
            format!(
                "{table} {name}: {feature} are not supported yet by this version of oxinit; remove \"{name}\" for now"
            ),
        );
    }

    /// `expected a string, found integer`.
    pub fn wrong_type(&mut self, value: &Value<'_>, what: &str, expected: &str) {
        self.error(
            &value.span(),
            format!(
                "{what}: expected {expected}, found {}",
                describe(value.get_ref())
            ),
        );
    }

    pub fn into_result(mut self, path: &Path) -> Result<Vec<Problem>, ConfigError> {
        if self.errors.is_empty() {
            self.warnings.sort_by_key(position);
            return Ok(self.warnings);
        }
        self.errors.sort_by_key(position);
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: self.errors,
        })
    }
}

/// Located problems first, in file order; then those without a location.
fn position(problem: &Problem) -> (bool, usize, usize) {
    (problem.line == 0, problem.line, problem.col)
}

/// Names other tools use for our keys (docker-compose, supervisord, systemd,
/// Docker HEALTHCHECK, Kubernetes probes). Only offered when the alias is a
/// valid key of the table at hand.
fn alias(key: &str) -> Option<&'static str> {
    Some(match key.to_ascii_lowercase().replace('-', "_").as_str() {
        "cmd" | "exec" | "args" | "entrypoint" | "execstart" | "test" => "command",
        "environment" => "env",
        "workdir" | "working_dir" | "directory" | "workingdirectory" => "cwd",
        "depends" | "after" | "requires" => "depends_on",
        "autorestart" => "restart",
        "stopsignal" => "stop_signal",
        "stopwaitsecs" | "timeoutstopsec" => "stop_timeout",
        "cron" | "oncalendar" => "schedule",
        "healthcheck" | "check" | "probe" => "health",
        // Docker's start_interval (a faster interval during the start
        // period) has no equivalent: the interval is the closest knob.
        "start_interval" | "periodseconds" | "period" => "interval",
        "initialdelayseconds" | "initial_delay" | "grace_period" => "start_period",
        "timeoutseconds" => "timeout",
        "failurethreshold" | "failure_threshold" | "retry" => "retries",
        "kind" => "type",
        "addr" | "host" | "target" => "address",
        "endpoint" | "uri" | "path" => "url",
        "memory_max" | "mem_limit" | "memory_limit" | "memorymax" | "mem" => "memory",
        "memory_reservation" | "memoryhigh" => "memory_high",
        "pids_limit" | "pids_max" | "tasksmax" => "pids",
        _ => return None,
    })
}

/// "integer 15", "array", … for type errors.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::Integer(i) => format!("integer {}", i.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::String(s) => format!("string \"{s}\""),
        other => other.type_str().to_string(),
    }
}
