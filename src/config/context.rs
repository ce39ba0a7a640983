//! What an oxfile is resolved against: the environment `${VAR}` reads, the
//! account files users are looked up in, the directory relative paths start
//! from, and how strictly lookups on this machine are judged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::report::Lookups;
use super::users::Accounts;

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

/// What the readers of one file resolve values against.
pub(super) struct Context<'a> {
    pub env: &'a BTreeMap<String, String>,
    /// The oxfile's directory, absolute: relative paths start there.
    pub base_dir: &'a Path,
    pub lookups: Lookups,
    /// Users and groups, read from the account files at the first `user`.
    pub accounts: &'a Accounts,
}
