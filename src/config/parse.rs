//! TOML text → [`Config`], collecting every problem instead of stopping at
//! the first.
//!
//! serde's `deny_unknown_fields` stops at the first error, and operators fix a
//! file faster when they see all of it at once. So we parse into toml's
//! spanned document (`DeTable`) and walk it ourselves: each key is checked
//! against the list for its table, each value against its type, and every
//! problem is recorded with its line and column.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::budget::check_stop_timeouts;
use super::plan::{find_cycles, plan_processes, Cycle};
use super::process::{parse_process, Context, ProcessDraft};
use super::schema::{
    Config, InitSettings, Kind, MetricsSettings, Problem, ProcessSpec, SqliteSettings,
};
use super::settings::{check_replication_lag, parse_init, parse_metrics, parse_sqlite};
use super::suggest::did_you_mean;
use super::users::Accounts;
use super::{units, ConfigError, LoadContext, Lookups};

pub(super) type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Top-level tables.
pub(super) const TOP_KEYS: &[&str] = &["init", "metrics", "sqlite", "processes"];

/// Tables reserved for a later version, as `(key, "what it is")`: refused
/// with a clear message instead of being ignored. To reserve one, add a
/// line; to implement it, delete the line and handle the key in
/// [`parse_str`]. Empty today: every table of the design is supported.
const NOT_YET_TOP: &[(&str, &str)] = &[];

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

/// Parses the text of an oxfile. `path` names it in messages and anchors
/// relative paths (cwd, env_file).
pub fn parse_str(text: &str, path: &Path, ctx: &LoadContext) -> Result<Config, ConfigError> {
    let mut report = Report::new(text);
    report.lookups = ctx.lookups;
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if syntax_errors.is_empty() && super::oxmgr::is_oxmgr(document.get_ref()) {
        return super::oxmgr::parse(text, document.get_ref(), path, ctx);
    }
    if !syntax_errors.is_empty() {
        // The recovered document may be missing whole tables; validating it
        // would add misleading "missing command" errors, so stop here.
        for error in syntax_errors {
            let message = format!("invalid TOML: {}", error.message());
            // The TOML parser gives its nesting ("recursion") limit no span:
            // point at the deepest nesting, where it went too deep.
            match error
                .span()
                .or_else(|| deepest_nesting(text).map(|at| at..at))
            {
                Some(span) => report.error(&span, message),
                None => report.error_nowhere(message),
            }
        }
        return Err(report
            .into_result(path)
            .expect_err("syntax errors were recorded"));
    }

    let base_dir = base_dir(path);
    let context = Context {
        env: &ctx.env,
        base_dir: &base_dir,
        lookups: ctx.lookups,
    };
    let mut accounts = Accounts::new(&ctx.etc_dir);
    let mut init = InitSettings::default();
    let mut metrics = MetricsSettings::default();
    let mut sqlite = SqliteSettings::default();
    let mut drafts: Vec<ProcessDraft> = Vec::new();
    let mut processes_span = None;
    // Whether anything was written under `processes`, even if it is invalid
    // (then its own error says more than "nothing to run").
    let mut processes_written = false;
    let reserved_top: Vec<&str> = NOT_YET_TOP.iter().map(|(k, _)| *k).collect();

    for (key, value) in document.get_ref().iter() {
        match key.get_ref().as_ref() {
            "init" => match value.get_ref() {
                DeValue::Table(table) => parse_init(table, &mut init, &context, &mut report),
                _ => report.wrong_type(value, "[init]", "a table"),
            },
            "metrics" => match value.get_ref() {
                DeValue::Table(table) => parse_metrics(table, &mut metrics, &context, &mut report),
                _ => report.wrong_type(value, "[metrics]", "a table"),
            },
            "sqlite" => match value.get_ref() {
                DeValue::Table(table) => parse_sqlite(table, &mut sqlite, &context, &mut report),
                _ => report.wrong_type(value, "[sqlite]", "a table"),
            },
            "processes" => {
                processes_span = Some(key.span());
                let DeValue::Table(table) = value.get_ref() else {
                    processes_written = true;
                    report.wrong_type(value, "processes", "[processes.NAME] tables");
                    continue;
                };
                for (name, body) in table.iter() {
                    processes_written = true;
                    let DeValue::Table(body) = body.get_ref() else {
                        let what = format!("processes.{}", name.get_ref());
                        report.wrong_type(body, &what, "a [processes.NAME] table");
                        continue;
                    };
                    drafts.push(parse_process(
                        name,
                        body,
                        &context,
                        &mut accounts,
                        &mut report,
                    ));
                }
            }
            other => match NOT_YET_TOP.iter().find(|(k, _)| *k == other) {
                Some((_, feature)) => report.not_yet(key, "top level:", feature),
                None => report.unknown_key(key, "the top level", TOP_KEYS, &reserved_top),
            },
        }
    }

    if !processes_written {
        let message = "nothing to run: add a [processes.NAME] table";
        match processes_span {
            Some(span) => report.error(&span, message),
            None => report.error_nowhere(message),
        }
    }
    check_dependencies(&drafts, &mut report);
    check_replication_lag(document.get_ref(), &metrics, &sqlite, &mut report);
    if report.errors.is_empty() {
        // Only a valid graph has a plan.
        let specs: Vec<ProcessSpec> = drafts.iter().map(|d| d.spec.clone()).collect();
        let spans: Vec<_> = drafts.iter().map(|d| d.stop_timeout_span.clone()).collect();
        let plan = plan_processes(&specs);
        check_stop_timeouts(&specs, &init, &plan, &spans, &mut report);
    }

    let warnings = report.into_result(path)?;
    Ok(Config {
        path: path.to_path_buf(),
        init,
        metrics,
        sqlite,
        processes: drafts.into_iter().map(|d| d.spec).collect(),
        warnings,
        translation: None,
    })
}

/// Only `[init] control_socket` of an oxfile's text (see
/// [`super::load_control_socket`]); syntax errors and a bad value are
/// reported like [`parse_str`] reports them, the rest of the file is ignored.
pub fn control_socket_in(
    text: &str,
    path: &Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Option<PathBuf>, ConfigError> {
    let mut report = Report::new(text);
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    for error in syntax_errors {
        let message = format!("invalid TOML: {}", error.message());
        match error.span() {
            Some(span) => report.error(&span, message),
            None => report.error_nowhere(message),
        }
    }
    let base_dir = base_dir(path);
    // Only a path is read here: nothing to look up on this machine.
    let context = Context {
        env,
        base_dir: &base_dir,
        lookups: super::Lookups::Run,
    };
    let mut socket = None;
    if let Some(init) = document.get_ref().get("init") {
        match init.get_ref() {
            DeValue::Table(table) => {
                if let Some(value) = table.get("control_socket") {
                    socket = super::settings::socket_path(
                        value,
                        "[init] control_socket",
                        &context,
                        &mut report,
                    );
                }
            }
            _ => report.wrong_type(init, "[init]", "a table"),
        }
    }
    report.into_result(path)?;
    Ok(socket)
}

/// The directory relative paths are resolved against: the oxfile's own,
/// made absolute (oxinit later chdirs to `/`).
fn base_dir(path: &Path) -> PathBuf {
    std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// A duration value (`"15s"`); `what` names the table and key in messages.
pub(super) fn duration(
    value: &Value<'_>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<std::time::Duration> {
    match value.get_ref() {
        DeValue::String(s) => match units::parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                report.error(&value.span(), format!("{what}: {e}"));
                None
            }
        },
        DeValue::Integer(i) => {
            report.error(
                &value.span(),
                format!(
                    "{what}: a duration needs a unit and quotes: write \"{}s\"",
                    i.as_str()
                ),
            );
            None
        }
        _ => {
            report.wrong_type(value, what, "a duration such as \"15s\"");
            None
        }
    }
}

/// False (reported) when `text` holds a NUL byte. TOML allows one
/// (`"\u0000"`), but nothing oxinit hands to the kernel can: an argument, a
/// variable or a path ends at the first NUL, so the process would fail to
/// start (126) or the socket would not bind. Caught here, at its line.
pub(super) fn no_nul(text: &str, span: &Range<usize>, what: &str, report: &mut Report<'_>) -> bool {
    if !text.contains('\0') {
        return true;
    }
    report.error(
        span,
        format!("{what}: holds a NUL byte (\\u0000), which no argument, variable or path can hold (the system would cut it there); remove it"),
    );
    false
}

pub(super) fn set_bool(slot: &mut bool, value: &Value<'_>, what: &str, report: &mut Report<'_>) {
    match value.get_ref() {
        DeValue::Boolean(b) => *slot = *b,
        _ => report.wrong_type(value, what, "true or false"),
    }
}

/// A whole number from `min` to `max`; `example` shows one in the type error.
pub(super) fn whole_number(
    value: &Value<'_>,
    what: &str,
    (min, max): (u64, u64),
    example: &str,
    report: &mut Report<'_>,
) -> Option<u64> {
    let DeValue::Integer(i) = value.get_ref() else {
        report.wrong_type(value, what, &format!("a whole number such as {example}"));
        return None;
    };
    match u64::from_str_radix(i.as_str(), i.radix()) {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            report.error(
                &value.span(),
                format!("{what}: must be a whole number from {min} to {max}"),
            );
            None
        }
    }
}

/// Unknown names, self-dependencies and cycles in `depends_on`.
///
/// Names are looked up by map: a file of 10,000 processes with 50
/// dependencies each is half a million lookups, which a scan would turn
/// into billions of comparisons.
fn check_dependencies(drafts: &[ProcessDraft], report: &mut Report<'_>) {
    let names: Vec<&str> = drafts.iter().map(|d| d.spec.name.as_str()).collect();
    let indices: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    // One hint per misspelt name, however many processes repeat it (a
    // renamed process that everything depends on). Past MAX_SUGGESTED
    // distinct ones the file is broken beyond typos, and comparing each
    // with every name would cost errors x processes: the hint is the list.
    const MAX_SUGGESTED: usize = 20;
    let mut hints: HashMap<&str, String> = HashMap::new();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
    for (index, draft) in drafts.iter().enumerate() {
        let what = format!("[processes.{}] depends_on", draft.spec.name);
        for (dep, span) in &draft.depends_on_spans {
            if *dep == draft.spec.name {
                report.error(span, format!("{what}: a process cannot depend on itself"));
            } else if let Some(&target) = indices.get(dep.as_str()) {
                if drafts[target].spec.kind() == Kind::Job {
                    // A job runs only at its scheduled times, maybe hours
                    // from now, and is not running in between: there is no
                    // moment at which it is "ready".
                    report.error(
                        span,
                        format!("{what}: \"{dep}\" is a scheduled job, and nothing can wait for a job (it runs only at its scheduled times); remove \"{dep}\" from depends_on, or make it a oneshot (oneshot = true, no schedule) to run it once at boot"),
                    );
                }
                edges[index].push(target);
            } else {
                let suggest = hints.len() < MAX_SUGGESTED;
                let hint = hints.entry(dep.as_str()).or_insert_with(|| {
                    let near = suggest.then(|| did_you_mean(dep, names.iter().copied()));
                    match near.flatten() {
                        Some(s) => format!("; did you mean \"{s}\"?"),
                        None => format!("; processes: {}", list_some(&names)),
                    }
                });
                report.error(span, format!("{what}: no process named \"{dep}\"{hint}"));
            }
        }
    }
    for cycle in find_cycles(&edges) {
        let path = &cycle.path;
        let mut shown: Vec<String> = path.iter().map(|&i| names[i].to_string()).collect();
        if cycle.elided > 0 {
            shown.insert(Cycle::HEAD, format!("… ({} more)", cycle.elided));
        }
        let (from, to) = (path[0], path[1]);
        let span = drafts[from]
            .depends_on_spans
            .iter()
            .find(|(dep, _)| dep == names[to])
            .map(|(_, span)| span.clone())
            .unwrap_or_default();
        report.error(
            &span,
            format!(
                "[processes.{}] depends_on: dependency cycle {}; remove one of these dependencies",
                names[from],
                shown.join(" -> ")
            ),
        );
    }
}

/// The first few names, then how many there are: a hint repeated for
/// each of many problems must not repeat a list of thousands.
fn list_some(names: &[&str]) -> String {
    const SHOWN: usize = 10;
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!("{}, … ({} in all)", names[..SHOWN].join(", "), names.len())
}

/// The offset at which `text` nests deepest: brackets open plus the dots
/// of a dotted key or table header on the line (`[a.b.c…]`), skipping
/// strings and comments roughly. A hint for an error's position, not a
/// parser.
fn deepest_nesting(text: &str) -> Option<usize> {
    let (mut depth, mut dots, mut peak, mut at) = (0usize, 0usize, 0usize, None);
    let mut quote: Option<u8> = None;
    let (mut comment, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            (dots, comment, quote) = (0, false, None);
            continue;
        }
        if comment {
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q == b'"' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'#' => comment = true,
            b'"' | b'\'' => quote = Some(b),
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' => dots += 1,
            _ => continue,
        }
        if depth + dots > peak {
            (peak, at) = (depth + dots, Some(i));
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reserve lists are empty today; the message they would produce
    /// must still read well when a key is added to them.
    #[test]
    fn reserved_keys_get_a_not_yet_message() {
        let text = "[processes.api]\nnewthing = 1\n";
        let (document, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        let processes = document.get_ref().get("processes").unwrap();
        let DeValue::Table(processes) = processes.get_ref() else {
            panic!("not a table")
        };
        let DeValue::Table(api) = processes.get("api").unwrap().get_ref() else {
            panic!("not a table")
        };
        let (key, _) = api.iter().next().unwrap();
        let mut report = Report::new(text);
        report.not_yet(key, "[processes.api]", "new things");
        assert_eq!(
            report.errors,
            vec![Problem {
                line: 2,
                col: 1,
                message: "[processes.api] newthing: new things are not supported yet by this version of oxinit; remove \"newthing\" for now".into()
            }]
        );
    }
}
