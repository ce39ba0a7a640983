//! What `oxinit check` looks up on the machine it runs on: does each
//! process's command resolve (in the child's `$PATH`, or as a path), and does
//! its `cwd` exist. (Users are resolved by the loader itself; see
//! [`super::Lookups`].)
//!
//! Outside the image these are warnings that say to check inside it; with
//! `--strict` (meant for `RUN ["oxinit", "check", "--strict"]` in the
//! Dockerfile) errors. `oxinit run` skips them: the start itself reports
//! 127/126 with the exact cause.

use std::ffi::OsStr;

use super::context::Context;
use super::report::{Lookups, Report};
use super::schema::ProcessSpec;
use super::table::Seen;
use crate::sys::exec::{self, Unresolved};

/// Reports the command and `cwd` of `spec` that do not resolve here.
pub(super) fn check_process(
    spec: &ProcessSpec,
    seen: &Seen,
    label: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) {
    if ctx.lookups == Lookups::Run {
        return;
    }
    let cwd = spec.cwd.as_deref().unwrap_or(ctx.base_dir);
    if let (Some(dir), Some(span)) = (&spec.cwd, seen.get("cwd")) {
        if !dir.is_dir() {
            report.not_here(
                span,
                format!(
                    "{label} cwd: {} is not a directory: the start would fail with 126",
                    dir.display()
                ),
            );
            return; // a relative command would be looked up in it
        }
    }
    let (Some(program), Some(span)) = (spec.argv.first(), seen.get("command")) else {
        return;
    };
    // The child's $PATH: its `env`, else oxinit's environment.
    let path: Option<String> = spec
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| ctx.env.get("PATH").cloned());
    let message = match exec::resolve(OsStr::new(program), path.as_deref().map(OsStr::new), cwd) {
        Ok(_) => return,
        Err(Unresolved::NotFound) if program.contains('/') => {
            format!("{label} command: {program} does not exist: the start would fail with 127")
        }
        Err(Unresolved::NotFound) => format!(
            "{label} command: \"{program}\" is not found in $PATH ({}): the start would fail with 127",
            path.as_deref().unwrap_or(exec::DEFAULT_PATH)
        ),
        Err(Unresolved::NotExecutable(found)) => format!(
            "{label} command: {} is not an executable file: the start would fail with 126",
            found.display()
        ),
    };
    report.not_here(span, message);
}
