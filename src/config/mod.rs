//! oxfile.toml: finding it, reading it, validating all of it at once, and the
//! boot plan derived from it.
//!
//! Everything here is pure library code: it reads files (the oxfile, env
//! files, /etc/passwd and /etc/group) but starts nothing. The result,
//! [`Config`], is fully resolved: argv split and expanded, paths absolute,
//! users turned into ids, defaults filled in. The supervisor never sees TOML.
//!
//! - [`locate()`]: which file to read;
//! - [`load`] / [`load_with`] / [`parse_str`]: text → [`Config`] or every
//!   [`Problem`] with its line and column;
//! - [`plan::plan`]: start and stop order; [`render_check`]: what `oxinit
//!   check` prints;
//! - [`units`]: durations, sizes and signals in human notation.
//! - `oxmgr`: Oxmgr's format (`version`, `[defaults]`, `[[apps]]`),
//!   translated into this one and parsed by the same parser;
//!   [`reference_keys`]: every key accepted, for the README's reference.

mod address;
pub mod budget;
mod command;
mod envfile;
mod expand;
mod health;
mod kinds;
mod limits;
mod locate;
mod machine;
mod oxmgr;
mod parse;
pub mod plan;
mod process;
mod reference;
mod render;
pub mod replicator;
mod schema;
mod settings;
pub(crate) mod suggest;
pub mod units;
mod users;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use locate::{locate, locate_in};
pub use parse::{control_socket_in, parse_str};
pub use plan::{plan, Plan};
pub use reference::{reference_keys, TRANSLATION_BEGIN, TRANSLATION_END};
pub use render::{render_check, render_check_at};
pub use schema::{
    Config, HealthCheck, HealthSpec, IncludeUrl, InitSettings, Kind, LogFormat, MetricsSettings,
    Problem, ProcessSpec, RestartPolicy, SqliteSettings, UserSpec,
};

/// What a config is resolved against: the environment `${VAR}` reads and the
/// directory holding `passwd` and `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadContext {
    pub env: BTreeMap<String, String>,
    /// `/etc` normally.
    pub etc_dir: PathBuf,
    /// How users, commands and `cwd`s that do not resolve here are judged.
    pub lookups: Lookups,
}

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

impl LoadContext {
    /// oxinit's own environment (variables that are not valid UTF-8 are
    /// skipped: they cannot appear in a TOML file) and the real `/etc`.
    pub fn from_process() -> Self {
        LoadContext {
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            etc_dir: PathBuf::from("/etc"),
            lookups: Lookups::Run,
        }
    }
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

/// Reads and validates `path` against oxinit's environment and the real /etc.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &LoadContext::from_process())
}

/// Only `[init] control_socket` of the oxfile at `path` (None when not
/// written), resolved as `run` resolves it: what the clients need, without
/// validating the rest (env files, users) that they may not be able to read.
pub fn load_control_socket(path: &Path) -> Result<Option<PathBuf>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source: Arc::new(source),
    })?;
    control_socket_in(&text, path, &LoadContext::from_process().env)
}

/// [`load`] with the environment and /etc injected.
pub fn load_with(path: &Path, ctx: &LoadContext) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source: Arc::new(source),
    })?;
    parse_str(&text, path, ctx)
}
