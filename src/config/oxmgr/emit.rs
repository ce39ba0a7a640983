//! Writing an Oxmgr `[[apps]]` entry as oxinit's `[processes.NAME]` text,
//! one line per key, each line remembering the Oxmgr key it came from so a
//! problem found in the translation is reported where the user wrote it.

use std::ops::Range;
use std::path::Path;

use toml::de::DeValue;

use super::super::report::{Key, Report, Value};
use super::super::schema::{Problem, RestartPolicy};
use super::super::value::choice;
use super::super::variants::Variants;

/// One key of an entry: written in the entry, or inherited from `[defaults]`.
pub(super) struct Field<'a, 'i> {
    pub key: &'a Key<'i>,
    pub value: &'a Value<'i>,
    pub from_defaults: bool,
}

/// An `[[apps]]` entry with `[defaults]` merged under it (the entry's own
/// keys replaced the defaults' ones, except `env`, merged later).
pub(super) struct Entry<'a, 'i> {
    pub name: String,
    pub name_span: Range<usize>,
    pub disabled: bool,
    pub fields: Vec<Field<'a, 'i>>,
}

impl<'a, 'i> Entry<'a, 'i> {
    fn field(&self, key: &str) -> Option<&Field<'a, 'i>> {
        self.fields.iter().find(|f| f.key.get_ref().as_ref() == key)
    }
}

/// Where a translated line came from.
struct Origin {
    /// Byte offset in the Oxmgr text.
    offset: usize,
    /// Added to a problem's message when the Oxmgr key is not the native one.
    note: String,
}

/// The native text being written, line by line.
pub(super) struct Native {
    lines: Vec<(String, Option<Origin>)>,
}

impl Native {
    pub fn new(path: &Path) -> Self {
        let mut native = Native { lines: Vec::new() };
        native.push(
            format!(
                "# {}, translated from Oxmgr's format into oxinit's own",
                path.display()
            ),
            None,
        );
        native
    }

    fn push(&mut self, line: String, origin: Option<Origin>) {
        self.lines.push((line, origin));
    }

    /// A `native_key = value` line from the Oxmgr `field`.
    fn key_line(&mut self, native_key: &str, value: String, field: &Field<'_, '_>) {
        let line = format!("{native_key} = {value}");
        let origin = origin(field, native_key, field.value.span().start);
        self.push(line, Some(origin));
    }

    /// The whole text, ending in a newline.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (line, _) in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// `problem`, found in the translation, moved to where its line came
    /// from in the Oxmgr text; unchanged when it has no line.
    pub fn locate(&self, problem: Problem, report: &mut Report<'_>) -> Problem {
        let origin = problem
            .line
            .checked_sub(1)
            .and_then(|index| self.lines.get(index))
            .and_then(|(_, origin)| origin.as_ref());
        match origin {
            Some(origin) => report.at(origin.offset, format!("{}{}", problem.message, origin.note)),
            None => problem,
        }
    }
}

fn origin(field: &Field<'_, '_>, native_key: &str, offset: usize) -> Origin {
    let key = field.key.get_ref().as_ref();
    let place = if field.from_defaults {
        " in [defaults]"
    } else {
        ""
    };
    let note = if key == native_key && !field.from_defaults {
        String::new()
    } else {
        format!(" (Oxmgr's {key}{place})")
    };
    Origin { offset, note }
}

/// Writes `entry` as `[processes.NAME]` and its sub-tables.
pub(super) fn entry(native: &mut Native, entry: &Entry<'_, '_>, report: &mut Report<'_>) {
    let table = format!("processes.{}", toml_key(&entry.name));
    native.push(String::new(), None);
    let header = Origin {
        offset: entry.name_span.start,
        note: String::new(),
    };
    native.push(format!("[{table}]"), Some(header));

    // In the order of oxinit's own reference; keys that are the same in
    // both formats are written as they were.
    let same = |native: &mut Native, key: &str| {
        if let Some(f) = entry.field(key) {
            native.key_line(key, render(f.value.get_ref()), f);
        }
    };
    same(native, "command");
    same(native, "cwd");
    if let Some(f) = entry.field("restart_policy") {
        if let Some(policy) = restart_policy(f, report) {
            native.key_line("restart", quote(policy), f);
        }
    }
    if let Some(f) = entry.field("restart_delay_secs") {
        if let Some(secs) = seconds(f, report) {
            // Oxmgr waits the same delay before every restart; oxinit's
            // delay doubles up to restart_delay_max, so both are set.
            native.key_line("restart_delay", quote(&secs), f);
            native.key_line("restart_delay_max", quote(&secs), f);
        }
    }
    same(native, "max_restarts");
    same(native, "stop_signal");
    if let Some(f) = entry.field("stop_timeout_secs") {
        if let Some(secs) = seconds(f, report) {
            native.key_line("stop_timeout", quote(&secs), f);
        }
    }
    same(native, "depends_on");
    env(native, entry, &table);
    health(native, entry, &table, report);
    if let Some(f) = entry.field("max_memory_mb") {
        match whole(f.value) {
            // 0 is Oxmgr's "no limit".
            Some(0) => {}
            Some(mb) => {
                native.push(String::new(), None);
                native.push(
                    format!("[{table}.limits]"),
                    Some(origin(f, "limits", f.key.span().start)),
                );
                native.key_line("memory", quote(&format!("{mb}M")), f);
            }
            None => report.wrong_type(
                f.value,
                &format!("[[apps]] \"{}\" max_memory_mb", entry.name),
                "a whole number of MiB such as 512",
            ),
        }
    }
}

/// `env` from `[defaults]` and from the entry, merged key by key (the
/// entry wins), as its own table so each variable has its own line.
fn env(native: &mut Native, entry: &Entry<'_, '_>, table: &str) {
    let mut vars: Vec<(&str, &Value<'_>, &Field<'_, '_>)> = Vec::new();
    for f in entry
        .fields
        .iter()
        .filter(|f| f.key.get_ref().as_ref() == "env")
    {
        let DeValue::Table(items) = f.value.get_ref() else {
            // Not a table: written as is for the native parser to report.
            native.key_line("env", render(f.value.get_ref()), f);
            continue;
        };
        for (name, value) in items.iter() {
            let name = name.get_ref().as_ref();
            vars.retain(|(n, _, _)| *n != name);
            vars.push((name, value, f));
        }
    }
    if vars.is_empty() {
        return;
    }
    native.push(String::new(), None);
    let first = vars[0].2;
    native.push(
        format!("[{table}.env]"),
        Some(origin(first, "env", first.key.span().start)),
    );
    for (name, value, f) in vars {
        let line = format!("{} = {}", toml_key(name), render(value.get_ref()));
        let origin = origin(f, "env", value.span().start);
        native.push(line, Some(origin));
    }
}

/// `health_cmd` and its timing become an exec check. Oxmgr checks only
/// when health_cmd is set; timing keys without it do nothing there either,
/// which is worth a warning when they were written in the entry itself.
fn health(native: &mut Native, entry: &Entry<'_, '_>, table: &str, report: &mut Report<'_>) {
    const TIMING: [(&str, &str); 3] = [
        ("health_interval_secs", "interval"),
        ("health_timeout_secs", "timeout"),
        ("health_max_failures", "retries"),
    ];
    let Some(cmd) = entry.field("health_cmd") else {
        for (key, _) in TIMING {
            if let Some(f) = entry.field(key).filter(|f| !f.from_defaults) {
                report.warn(
                    &f.key.span(),
                    format!("[[apps]] \"{}\" {key}: there is no health_cmd, so there is no check for it to time (Oxmgr ignores it too); add health_cmd or remove {key}", entry.name),
                );
            }
        }
        return;
    };
    native.push(String::new(), None);
    native.push(
        format!("[{table}.health]"),
        Some(origin(cmd, "health", cmd.key.span().start)),
    );
    native.key_line("type", quote("exec"), cmd);
    native.key_line("command", render(cmd.value.get_ref()), cmd);
    for (key, native_key) in TIMING {
        let Some(f) = entry.field(key) else { continue };
        if native_key == "retries" {
            native.key_line(native_key, render(f.value.get_ref()), f);
        } else if let Some(secs) = seconds(f, report) {
            native.key_line(native_key, quote(&secs), f);
        }
    }
}

/// Oxmgr's `restart_policy`, which spells on-failure with an underscore.
const RESTART_POLICY: Variants<RestartPolicy> = Variants {
    noun: "an Oxmgr restart policy",
    list: &[
        ("always", RestartPolicy::Always, ""),
        ("on_failure", RestartPolicy::OnFailure, ""),
        ("never", RestartPolicy::Never, ""),
    ],
};

fn restart_policy(f: &Field<'_, '_>, report: &mut Report<'_>) -> Option<&'static str> {
    // oxinit's own spelling is understood too.
    if f.value.get_ref().as_str() == Some("on-failure") {
        return Some(RestartPolicy::OnFailure.as_str());
    }
    let policy = choice(f.value, "restart_policy", &RESTART_POLICY, report)?;
    Some(policy.as_str())
}

/// An Oxmgr `*_secs` value as an oxinit duration (`"15s"`).
fn seconds(f: &Field<'_, '_>, report: &mut Report<'_>) -> Option<String> {
    match whole(f.value) {
        Some(n) => Some(format!("{n}s")),
        None => {
            let key = f.key.get_ref();
            report.wrong_type(f.value, key, "a whole number of seconds such as 10");
            None
        }
    }
}

/// A non-negative integer value.
fn whole(value: &Value<'_>) -> Option<u64> {
    match value.get_ref() {
        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

/// A TOML basic string. JSON's escapes are a subset of TOML's.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// A key, bare when TOML allows it.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A value written back as TOML, unchanged (`${VAR}` is not expanded: the
/// native parser does that, and the user keeps the translation).
fn render(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => quote(s),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| render(i.get_ref())).collect();
            format!("[{}]", items.join(", "))
        }
        DeValue::Table(table) => {
            let pairs: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k.get_ref()), render(v.get_ref())))
                .collect();
            if pairs.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", pairs.join(", "))
            }
        }
    }
}
