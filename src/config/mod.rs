//! oxfile.toml: finding it, reading it, validating all of it at once, and the
//! boot plan derived from it.
//!
//! Everything here is pure library code: it reads files (the oxfile, env
//! files, /etc/passwd and /etc/group) but starts nothing. The result,
//! [`Config`], is fully resolved: argv split and expanded, paths absolute,
//! users turned into ids, defaults filled in. The supervisor never sees TOML.
//!
//! - [`locate()`]: which file to read;
//! - [`load_with`] / [`parse_str`]: text → [`Config`] or every
//!   [`Problem`](schema::Problem) with its line and column;
//! - [`plan::plan`]: start and stop order; [`render_check`]: what `oxinit
//!   check` prints;
//! - durations and sizes are [`crate::units`]'s; signals as the file names
//!   them are `signal.rs`'s.
//! - `oxmgr`: Oxmgr's format (`version`, `[defaults]`, `[[apps]]`),
//!   translated into this one and parsed by the same parser;
//!   [`reference_keys`]: every key accepted, for the README's reference.
//!
//! # How the file is read
//!
//! TOML is parsed into toml's spanned document and walked by hand, so every
//! problem is reported at once with its line and column (serde would stop
//! at the first). Each table is declared once, as a list of keys with the
//! function that reads each one (`table::KeyDef`); `table::walk` reads a
//! table with its list, and the unknown-key message, its "did you mean",
//! and [`reference_keys`] come from the same list. Each string enum is
//! declared once too, as a [`Variants`](variants::Variants) list that gives its parser, its
//! names and its "use \"a\", \"b\" or \"c\"" message.
//!
//! The files import downward only, leaves first: `schema` (the resolved
//! types), `variants`, `report` (problems, positions, `ConfigError`),
//! `context`, `value` (`Item`: one `key = value` and its typed getters),
//! `table` (key lists and the walk); then one file per table (`settings`,
//! `limits`, `health`, `process`, with `command`, `kinds` and `machine`
//! under `process`); then `parse` (the top level, `depends_on` across
//! processes, Oxmgr files). This `mod.rs` only re-exports and loads: no
//! child imports it.
//!
//! # Adding a key
//!
//! 1. Add its field, with its default, to the type in `schema.rs`
//!    (`InitSettings`, `MetricsSettings`, `ProcessSpec`, `HealthSpec`…).
//! 2. Add one line to its table's list: `INIT`, `METRICS` or `SQLITE` in
//!    `settings.rs`, `PROCESS` in `process.rs`, `COMMON` (or a `TYPES`
//!    entry, for a new check type) in `health.rs`, `LIMITS` in `limits.rs`,
//!    `TOP` in `parse.rs` for a new table. Use `duration(…)`, `flag(…)`, or
//!    `key(name, |target, item, report| …)` with a getter of `Item`
//!    (`value.rs`) for anything else; a new string enum is a `Variants`
//!    list read with `item.choice(&LIST, report)`. That one line is the
//!    parser, the valid-keys list, the did-you-mean candidate and the
//!    reference entry.
//! 3. Rules that tie keys together run after the walk (for a process:
//!    `kinds.rs`, on the `Seen` positions `walk` returns).
//! 4. Add its row to README.md's oxfile reference (tests/readme_reference.rs
//!    checks both ways) and, if `check` should show it, a line in
//!    `render.rs`.

mod address;
pub mod budget;
mod command;
mod condition;
mod context;
mod envfile;
mod expand;
mod health;
mod kinds;
mod limits;
pub mod listen;
mod locate;
mod log_buffer;
mod machine;
mod oxmgr;
mod parse;
pub mod plan;
mod process;
mod reference;
mod render;
pub mod replicator;
mod report;
mod schema;
mod settings;
mod signal;
pub(crate) mod suggest;
mod table;
mod users;
mod value;
mod variants;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use context::LoadContext;
pub use locate::locate;
pub use parse::{control_socket_in, parse_str};
pub use plan::plan;
pub use reference::{reference_keys, TRANSLATION_BEGIN, TRANSLATION_END};
pub use render::{render_check, render_check_at};
pub use report::{ConfigError, Lookups};
pub use schema::{
    Condition, Config, HealthCheck, HealthSpec, IncludeUrl, InitSettings, Kind, LogFormat,
    MetricsSettings, ProcessSpec, RestartPolicy, SqliteSettings,
};

/// Only `[init] control_socket` of the oxfile at `path` (None when not
/// written), resolved as `run` resolves it: what the clients need, without
/// validating the rest (env files, users) that they may not be able to read.
pub fn load_control_socket(path: &Path) -> Result<Option<PathBuf>, ConfigError> {
    control_socket_in(&read(path)?, path, &LoadContext::from_process().env)
}

/// Reads and validates `path` against the environment and /etc in `ctx`.
pub fn load_with(path: &Path, ctx: &LoadContext) -> Result<Config, ConfigError> {
    parse_str(&read(path)?, path, ctx)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source: Arc::new(source),
    })
}
