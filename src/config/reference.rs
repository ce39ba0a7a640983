//! Every key the parsers accept, by table, straight from their key lists:
//! the README's reference is tested against this, so a key added to a
//! parser without documentation (or documented but not parsed) fails a test.

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
    add("top level", parse::TOP_KEYS);
    add("[init]", settings::INIT_KEYS);
    add("[metrics]", settings::METRICS_KEYS);
    add("[sqlite]", settings::SQLITE_KEYS);
    add("[processes.NAME]", process::PROCESS_KEYS);
    add("[processes.NAME.health]", health::COMMON_KEYS);
    for (_, own) in health::TYPES {
        add("[processes.NAME.health]", own);
    }
    add("[processes.NAME.limits]", limits::LIMIT_KEYS);
    add("[processes.NAME.when]", condition::WHEN_KEYS);
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
