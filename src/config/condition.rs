//! `when = { exists = "…", missing = "…" }`: a oneshot or a job that runs
//! only where a path exists (or does not).
//!
//! The case it is for: LiteFS shows `/litefs/.primary` on a replica and not
//! on the primary, so `when = { missing = "/litefs/.primary" }` runs the
//! migrations once per cluster, on the primary. systemd calls this
//! `ConditionPathExists=`; the words here are the ones a reader of a
//! Compose or Kubernetes file guesses without the manual.
//!
//! The condition is checked when the process would start (its dependencies
//! are ready: the LiteFS mount is up), never at load: at load the mount is
//! not there yet. Each run of a job checks it again, since the primary can
//! move. A service cannot have one (see [`super::kinds`]): it runs for the
//! container's lifetime, and a condition checked once at its start would be
//! stale after the first failover.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::DeValue;

use super::parse::{Report, Value};
use super::process::{expanded_string, Context};

/// The keys of a `when` table, in the order `check` prints them.
pub(super) const WHEN_KEYS: &[&str] = &["exists", "missing"];

/// One test on a path. Every condition of a process must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The path exists (symlinks followed, as `test -e`).
    Exists(PathBuf),
    /// The path does not exist.
    Missing(PathBuf),
}

impl Condition {
    pub fn path(&self) -> &Path {
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

    /// Checks it now. `Ok(None)`: it holds; `Ok(Some(why))`: it does not,
    /// and why ("/litefs/.primary exists"); `Err`: the path could not be
    /// looked at (permission denied, a dead FUSE mount's "transport
    /// endpoint is not connected"), which is neither yes nor no.
    ///
    /// This stats a path that may sit on a FUSE mount: call it off the
    /// supervisor's thread, with a timeout.
    pub fn check(&self) -> Result<Option<String>, String> {
        let path = self.path();
        let exists = match std::fs::metadata(path) {
            Ok(_) => true,
            // ENOTDIR: a component is a file, so the path cannot exist.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => false,
            Err(e) => return Err(format!("cannot look at {}: {e}", path.display())),
        };
        let holds = exists == matches!(self, Condition::Exists(_));
        Ok((!holds).then(|| {
            let found = if exists { "exists" } else { "does not exist" };
            format!("{} {found}", path.display())
        }))
    }
}

/// `exists = "/a"` as `check` prints it.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {:?}",
            self.key(),
            self.path().display().to_string()
        )
    }
}

/// The first condition of `conditions` that does not hold, as
/// [`Condition::check`] says; `Ok(None)` when all of them hold.
pub fn first_failing(conditions: &[Condition]) -> Result<Option<String>, String> {
    for condition in conditions {
        if let Some(why) = condition.check()? {
            return Ok(Some(format!("{why}, and it runs only when {condition}")));
        }
    }
    Ok(None)
}

/// Parses the `when` value of process `name`: every condition, or none
/// (reported) when one of them is wrong.
pub(super) fn parse(
    name: &str,
    value: &Value<'_>,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<Condition> {
    let label = format!("[processes.{name}.when]");
    let example = "when = { missing = \"/litefs/.primary\" }";
    let DeValue::Table(table) = value.get_ref() else {
        report.wrong_type(
            value,
            &format!("[processes.{name}] when"),
            &format!("a table such as {example}"),
        );
        return Vec::new();
    };
    if table.is_empty() {
        report.error(
            &value.span(),
            format!(
                "[processes.{name}] when: no condition; write {example} (or exists = \"/path\")"
            ),
        );
        return Vec::new();
    }
    let before = report.errors.len();
    let mut conditions = Vec::new();
    for (key, value) in table.iter() {
        let key_name = key.get_ref().as_ref();
        let what = format!("{label} {key_name}");
        let make: fn(PathBuf) -> Condition = match key_name {
            "exists" => Condition::Exists,
            "missing" => Condition::Missing,
            _ => {
                report.unknown_key(key, &label, WHEN_KEYS, &[]);
                continue;
            }
        };
        // One path, or a list of them: all must hold.
        let items: Vec<&Value<'_>> = match value.get_ref() {
            DeValue::Array(items) if items.is_empty() => {
                report.error(
                    &value.span(),
                    format!("{what}: empty list; write a path such as \"/litefs/.primary\", or remove {key_name}"),
                );
                continue;
            }
            DeValue::Array(items) => items.iter().collect(),
            _ => vec![value],
        };
        for item in items {
            if let Some(path) = absolute_path(item, &what, ctx, report) {
                conditions.push(make(path));
            }
        }
    }
    if report.errors.len() != before {
        return Vec::new();
    }
    conditions
}

/// A `${VAR}`-expanded absolute path, or None (reported).
fn absolute_path(
    value: &Value<'_>,
    what: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    if !matches!(value.get_ref(), DeValue::String(_)) {
        report.wrong_type(
            value,
            what,
            "a path such as \"/litefs/.primary\", or a list of paths",
        );
        return None;
    }
    let text = expanded_string(value, what, ctx, report)?;
    match absolute(&text, "/litefs/.primary") {
        Ok(path) => Some(path),
        Err(e) => {
            report.error(&value.span(), format!("{what}: {e}"));
            None
        }
    }
}

/// `text` as an absolute path without `.` components or a trailing `/`
/// (a mount point is compared as written with /proc/self/mountinfo), or
/// what to write instead. Relative paths are refused rather than resolved
/// against the oxfile: the check runs in the container, where the oxfile's
/// directory means nothing to the path being tested.
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
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_says_why_it_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".primary");
        std::fs::write(&file, "primary-host\n").unwrap();
        let gone = dir.path().join("gone");
        // A path under a regular file: ENOTDIR, which is "does not exist".
        let under_file = file.join("x");

        assert_eq!(Condition::Exists(file.clone()).check(), Ok(None));
        assert_eq!(Condition::Missing(gone.clone()).check(), Ok(None));
        assert_eq!(Condition::Missing(under_file).check(), Ok(None));
        assert_eq!(
            Condition::Missing(file.clone()).check(),
            Ok(Some(format!("{} exists", file.display())))
        );
        assert_eq!(
            Condition::Exists(gone.clone()).check(),
            Ok(Some(format!("{} does not exist", gone.display())))
        );
        let both = [
            Condition::Missing(gone.clone()),
            Condition::Missing(file.clone()),
        ];
        assert_eq!(
            first_failing(&both),
            Ok(Some(format!(
                "{} exists, and it runs only when missing = \"{}\"",
                file.display(),
                file.display()
            )))
        );
        assert_eq!(first_failing(&both[..1]), Ok(None));
    }
}
