//! `[processes.NAME] when = { exists = "…", missing = "…" }` → the
//! process's [`Condition`]s: a oneshot or a job that runs only where a path
//! exists (or does not).
//!
//! The case it is for: LiteFS shows `/litefs/.primary` on a replica and not
//! on the primary, so `when = { missing = "/litefs/.primary" }` runs the
//! migrations once per cluster, on the primary. systemd calls this
//! `ConditionPathExists=`; the words here are the ones a reader of a
//! Compose or Kubernetes file guesses without the manual.
//!
//! Only the form is checked here. The paths are looked at when the process
//! would start (its dependencies are met: the LiteFS mount is up), never at
//! load, when the mount is not there yet; each run of a job looks again,
//! since the primary can move (see `health::condition` and
//! `supervisor::core::condition`). A service cannot have one (see
//! `kinds.rs`): it runs for the container's lifetime, and a condition seen
//! once at its start would be stale after the first failover.

use std::path::{Component, Path, PathBuf};

use toml::de::DeValue;

use super::report::Report;
use super::schema::Condition;
use super::table::{key, walk, Item, KeyDef};

/// The keys of a `when` table: each takes a path or a list of paths.
pub(super) const WHEN: &[KeyDef<Vec<Condition>>] = &[
    key("exists", |all, item, r| {
        all.extend(paths(item, r).into_iter().map(Condition::Exists))
    }),
    key("missing", |all, item, r| {
        all.extend(paths(item, r).into_iter().map(Condition::Missing))
    }),
];

const EXAMPLE: &str = "when = { missing = \"/litefs/.primary\" }";

/// Reads the `when` item of process `name`: every condition, or none when
/// one of them is wrong (the whole file is rejected then anyway).
pub(super) fn parse(name: &str, item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<Condition> {
    let label = format!("[processes.{name}.when]");
    let Some(table) = item.table(&format!("a table such as {EXAMPLE}"), report) else {
        return Vec::new();
    };
    if table.is_empty() {
        item.error(
            format!("no condition; write {EXAMPLE} (or exists = \"/path\")"),
            report,
        );
        return Vec::new();
    }
    let before = report.errors.len();
    let mut conditions = Vec::new();
    walk(table, &label, WHEN, &mut conditions, item.ctx, report);
    if report.errors.len() != before {
        return Vec::new();
    }
    conditions
}

/// One absolute path, or an array of them (all of which must hold).
fn paths(item: &Item<'_, '_>, report: &mut Report<'_>) -> Vec<PathBuf> {
    let entries: Vec<Item<'_, '_>> = match item.value.get_ref() {
        DeValue::Array(list) if list.is_empty() => {
            let key = item.key.get_ref();
            item.error(
                format!("empty list; write a path such as \"/litefs/.primary\", or remove {key}"),
                report,
            );
            return Vec::new();
        }
        DeValue::Array(list) => list.iter().map(|v| item.entry(v)).collect(),
        DeValue::String(_) => vec![item.entry(item.value)],
        _ => {
            let expected = "a path such as \"/litefs/.primary\", or a list of paths";
            report.wrong_type(item.value, &item.what, expected);
            return Vec::new();
        }
    };
    entries
        .iter()
        .filter_map(|entry| {
            let text = entry.string(report)?;
            absolute(&text, "/litefs/.primary")
                .map_err(|e| entry.error(e, report))
                .ok()
        })
        .collect()
}

/// `text` as an absolute path without `.` components or a trailing `/`
/// (a mount point is compared as written with /proc/self/mountinfo), or
/// what to write instead. Relative paths are refused rather than resolved
/// against the oxfile: the path is looked at in the container, where the
/// oxfile's directory means nothing to it.
pub(super) fn absolute(text: &str, example: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err(format!(
            "empty path; write an absolute path such as \"{example}\""
        ));
    }
    if !text.starts_with('/') {
        return Err(format!(
            "\"{text}\" is relative; write it absolute, such as \"/{text}\" (it is checked where the process runs, not next to the oxfile)"
        ));
    }
    Ok(Path::new(text)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect())
}
