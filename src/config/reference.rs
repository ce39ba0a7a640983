//! Every key the parsers accept, by table, straight from the tables'
//! declarations (the same lists their readers and "did you mean" use):
//! the README's reference is tested against this, so a key added to a
//! parser without documentation (or documented but not parsed) fails a test.

use super::table::names;
use super::{condition, health, limits, oxmgr, parse, process, settings};

/// The line `oxinit check` prints before the native form of an Oxmgr file.
pub const TRANSLATION_BEGIN: &str =
    "# ---- the same file in oxinit's own format (keep it as oxfile.toml) ----";
/// The line `oxinit check` prints after it.
pub const TRANSLATION_END: &str = "# ---- end of the translation ----";

/// `(table, key)` for every key of oxinit's own format, then of Oxmgr's
/// (`"oxmgr [[apps]]"`, `"oxmgr [defaults]"`, `"oxmgr top level"`), in the
/// parsers' order. Keys of Oxmgr's that oxinit cannot honour are included:
/// they are recognised, and refused with a reason.
pub fn reference_keys() -> Vec<(&'static str, &'static str)> {
    let mut keys = Vec::new();
    let mut add = |table: &'static str, list: &[&'static str]| {
        keys.extend(list.iter().map(|k| (table, *k)));
    };
    add("top level", &names(parse::TOP));
    add("[init]", &names(settings::INIT));
    add("[metrics]", &names(settings::METRICS));
    add("[sqlite]", &names(settings::SQLITE));
    add("[processes.NAME]", &names(process::PROCESS));
    add("[processes.NAME.health]", &names(health::COMMON));
    let own: Vec<&'static str> = health::TYPES.iter().map(|t| t.key).collect();
    add("[processes.NAME.health]", &own);
    add("[processes.NAME.limits]", &names(limits::LIMITS));
    add("[processes.NAME.when]", &names(condition::WHEN));
    let mut oxmgr_top: Vec<&'static str> = oxmgr::TOP_KEYS.to_vec();
    oxmgr_top.extend(oxmgr::CANNOT_HONOUR_TOP.iter().map(|(k, _)| *k));
    add("oxmgr top level", &oxmgr_top);
    let apps: Vec<&'static str> = oxmgr::MAPPED
        .iter()
        .chain(oxmgr::CANNOT_HONOUR)
        .map(|(k, _)| *k)
        .collect();
    add("oxmgr [[apps]]", &apps);
    keys
}
