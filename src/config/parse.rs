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

use super::budget::check_stop_timeouts;
use super::context::{Context, LoadContext};
use super::oxmgr;
use super::plan::{find_cycles, plan_processes, Cycle};
use super::process::{parse_process, ProcessDraft};
use super::report::{ConfigError, Lookups, Report};
use super::schema::{Config, InitSettings, Kind, MetricsSettings, ProcessSpec, SqliteSettings};
use super::settings::{check_metrics_and_sqlite, socket_path, INIT, METRICS, SQLITE};
use super::suggest::did_you_mean;
use super::table::{key, names, walk, Item, KeyDef, Seen};
use super::users::Accounts;

/// The top level of the file, as its tables are read.
#[derive(Default)]
pub(super) struct Document {
    init: InitSettings,
    metrics: MetricsSettings,
    sqlite: SqliteSettings,
    /// Where the keys of `[metrics]` and `[sqlite]` were written, for the
    /// rules between them.
    metrics_seen: Seen,
    sqlite_seen: Seen,
    drafts: Vec<ProcessDraft>,
    /// Where `processes` was written, for "nothing to run".
    processes_span: Option<Range<usize>>,
    /// Whether anything was written under `processes`, even if it is invalid
    /// (then its own error says more than "nothing to run").
    processes_written: bool,
}

/// The top-level tables.
pub(super) const TOP: &[KeyDef<Document>] = &[
    key("init", |doc, item, r| {
        settings(item, "[init]", INIT, &mut doc.init, r);
    }),
    key("metrics", |doc, item, r| {
        doc.metrics_seen = settings(item, "[metrics]", METRICS, &mut doc.metrics, r)
    }),
    key("sqlite", |doc, item, r| {
        doc.sqlite_seen = settings(item, "[sqlite]", SQLITE, &mut doc.sqlite, r)
    }),
    key("processes", |doc, item, r| {
        doc.processes_span = Some(item.key.span());
        let processes = item.named(item.value, "processes".into());
        let Some(processes) = processes.table("[processes.NAME] tables", r) else {
            doc.processes_written = true;
            return;
        };
        for (name, body) in processes.iter() {
            doc.processes_written = true;
            let body = item.named(body, format!("processes.{}", name.get_ref()));
            if let Some(body) = body.table("a [processes.NAME] table", r) {
                doc.drafts.push(parse_process(name, body, item.ctx, r));
            }
        }
    }),
];

/// `[init]`, `[metrics]` or `[sqlite]`, read with its list of keys; where
/// each key was written.
fn settings<T>(
    item: &Item<'_, '_>,
    label: &str,
    keys: &[KeyDef<T>],
    target: &mut T,
    report: &mut Report<'_>,
) -> Seen {
    match item
        .named(item.value, label.into())
        .table("a table", report)
    {
        Some(t) => walk(t, label, keys, target, item.ctx, report),
        None => Seen::new(),
    }
}

/// Parses the text of an oxfile. `path` names it in messages and anchors
/// relative paths (cwd, env_file).
pub fn parse_str(text: &str, path: &Path, ctx: &LoadContext) -> Result<Config, ConfigError> {
    let mut report = Report::new(text);
    report.lookups = ctx.lookups;
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if syntax_errors.is_empty() && oxmgr::is_oxmgr(document.get_ref()) {
        let translation = oxmgr::translate(text, document.get_ref(), path, &names(TOP))?;
        let parsed = parse_str(&translation.text, path, ctx);
        return translation.finish(parsed, path);
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
    let accounts = Accounts::new(&ctx.etc_dir);
    let context = Context {
        env: &ctx.env,
        base_dir: &base_dir,
        lookups: ctx.lookups,
        accounts: &accounts,
    };
    let mut doc = Document::default();
    walk(
        document.get_ref(),
        "the top level",
        TOP,
        &mut doc,
        &context,
        &mut report,
    );

    if !doc.processes_written {
        let message = "nothing to run: add a [processes.NAME] table";
        match doc.processes_span {
            Some(span) => report.error(&span, message),
            None => report.error_nowhere(message),
        }
    }
    check_dependencies(&doc.drafts, &mut report);
    let held: Vec<_> = doc
        .drafts
        .iter()
        .map(|d| (d.spec.name.as_str(), &d.listen_spans))
        .collect();
    let metrics = doc.metrics.enabled.then_some(doc.metrics.listen);
    super::listen::check_across(&held, metrics, &mut report);
    check_metrics_and_sqlite(
        &mut doc.metrics,
        &doc.sqlite,
        &doc.metrics_seen,
        &doc.sqlite_seen,
        &mut report,
    );
    if report.errors.is_empty() {
        // Only a valid graph has a plan.
        let specs: Vec<ProcessSpec> = doc.drafts.iter().map(|d| d.spec.clone()).collect();
        let spans: Vec<_> = doc
            .drafts
            .iter()
            .map(|d| d.stop_timeout_span.clone())
            .collect();
        let plan = plan_processes(&specs);
        check_stop_timeouts(&specs, &doc.init, &plan, &spans, &mut report);
    }

    let warnings = report.into_result(path)?;
    Ok(Config {
        path: path.to_path_buf(),
        init: doc.init,
        metrics: doc.metrics,
        sqlite: doc.sqlite,
        processes: doc.drafts.into_iter().map(|d| d.spec).collect(),
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
    let accounts = Accounts::new(Path::new("/etc"));
    let context = Context {
        env,
        base_dir: &base_dir,
        lookups: Lookups::Run,
        accounts: &accounts,
    };
    let mut socket = None;
    if let Some(init) = document.get_ref().get("init") {
        match init.get_ref() {
            DeValue::Table(table) => {
                if let Some((key, value)) = table.get_key_value("control_socket") {
                    let item = Item {
                        key,
                        value,
                        what: "[init] control_socket".into(),
                        ctx: &context,
                    };
                    socket = socket_path(&item, &mut report);
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
