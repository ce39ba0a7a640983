//! A table of oxfile.toml declared once, as ripgrep declares its flags: a
//! list of [`KeyDef`]s, each a key's name and the function that reads its
//! value. [`walk`] reads a TOML table with that list, in file order,
//! reporting every problem instead of stopping at the first; a key not in
//! the list gets "unknown key … did you mean …? valid keys: …" from the
//! same list, and `reference_keys` (the README's reference) lists it too,
//! so none of them can fall out of date.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::de::DeTable;

use super::context::Context;
use super::report::{Key, Report};
use super::value::set;
pub(super) use super::value::Item;

/// One key of a table whose values are read into a `T`.
pub(super) struct KeyDef<T: 'static> {
    pub name: &'static str,
    pub read: Read<T>,
}

/// How a key's value is read.
pub(super) enum Read<T: 'static> {
    /// A duration such as `"15s"`, into the field.
    Duration(fn(&mut T) -> &mut Duration),
    /// `true` or `false`, into the field.
    Flag(fn(&mut T) -> &mut bool),
    /// Anything else: the function reads the value into the table's `T`,
    /// reporting what is wrong with it.
    With(fn(&mut T, &Item<'_, '_>, &mut Report<'_>)),
    /// Reserved for a later version, with what it will be: refused with a
    /// clear message instead of being ignored, and suggested for typos. To
    /// reserve a key, add `KeyDef { name, read: Read::NotYet("…") }` to its
    /// table; none is reserved today (the tests reserve one).
    #[cfg_attr(not(test), allow(dead_code))]
    NotYet(&'static str),
}

/// A key read by `read`.
pub(super) const fn key<T>(
    name: &'static str,
    read: fn(&mut T, &Item<'_, '_>, &mut Report<'_>),
) -> KeyDef<T> {
    KeyDef {
        name,
        read: Read::With(read),
    }
}

/// A duration key, read into `field`.
pub(super) const fn duration<T>(
    name: &'static str,
    field: fn(&mut T) -> &mut Duration,
) -> KeyDef<T> {
    KeyDef {
        name,
        read: Read::Duration(field),
    }
}

/// A `true`/`false` key, read into `field`.
pub(super) const fn flag<T>(name: &'static str, field: fn(&mut T) -> &mut bool) -> KeyDef<T> {
    KeyDef {
        name,
        read: Read::Flag(field),
    }
}

/// The names of the keys of `keys` that are read (not reserved).
pub(super) fn names<T>(keys: &[KeyDef<T>]) -> Vec<&'static str> {
    keys.iter()
        .filter(|k| !matches!(k.read, Read::NotYet(_)))
        .map(|k| k.name)
        .collect()
}

/// Where each key of a table was written, for the rules that tie keys
/// together once the whole table is read.
pub(super) type Seen = BTreeMap<&'static str, Range<usize>>;

/// Reads `table` (`label` in messages: `[init]`) into `target` with `keys`.
pub(super) fn walk<T>(
    table: &DeTable<'_>,
    label: &str,
    keys: &[KeyDef<T>],
    target: &mut T,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Seen {
    let valid = names(keys);
    let reserved: Vec<&str> = keys
        .iter()
        .filter(|k| matches!(k.read, Read::NotYet(_)))
        .map(|k| k.name)
        .collect();
    let unknown =
        |key: &Key<'_>, report: &mut Report<'_>| report.unknown_key(key, label, &valid, &reserved);
    walk_with(table, label, keys, target, ctx, report, unknown)
}

/// [`walk`], with `other` for the keys that `keys` does not hold (a health
/// check tells the keys of its other types from typos).
pub(super) fn walk_with<T>(
    table: &DeTable<'_>,
    label: &str,
    keys: &[KeyDef<T>],
    target: &mut T,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
    mut other: impl FnMut(&Key<'_>, &mut Report<'_>),
) -> Seen {
    let mut seen = Seen::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let Some(def) = keys.iter().find(|k| k.name == name) else {
            other(key, report);
            continue;
        };
        if let Read::NotYet(feature) = def.read {
            report.not_yet(key, label, feature);
            continue;
        }
        seen.insert(def.name, value.span());
        let item = Item {
            key,
            value,
            what: format!("{label} {name}"),
            ctx,
        };
        match def.read {
            Read::Duration(field) => set(field(target), item.duration(report)),
            Read::Flag(field) => set(field(target), item.boolean(report)),
            Read::With(read) => read(target, &item, report),
            Read::NotYet(_) => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use toml::de::DeValue;

    use super::*;
    use crate::config::report::Value;
    use crate::config::schema::Problem;
    use crate::config::users::Accounts;

    /// The message a reserved key gets must read well when one is added.
    #[test]
    fn reserved_keys_get_a_not_yet_message() {
        const KEYS: &[KeyDef<()>] = &[
            key("command", |_, _, _| {}),
            KeyDef {
                name: "newthing",
                read: Read::NotYet("new things"),
            },
        ];
        let text = "[processes.api]\nnewthing = 1\nnewthign = 2\n";
        let (document, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        fn table<'i>(value: &Value<'i>) -> DeTable<'i> {
            match value.get_ref() {
                DeValue::Table(table) => table.clone(),
                _ => panic!("not a table"),
            }
        }
        let processes = table(document.get_ref().get("processes").unwrap());
        let api = table(processes.get("api").unwrap());
        let env = BTreeMap::new();
        let accounts = Accounts::new(Path::new("/nonexistent"));
        let ctx = Context {
            env: &env,
            base_dir: Path::new("/"),
            lookups: Default::default(),
            accounts: &accounts,
        };
        let mut report = Report::new(text);
        walk(&api, "[processes.api]", KEYS, &mut (), &ctx, &mut report);
        assert_eq!(
            report.errors,
            vec![
                Problem {
                    line: 2,
                    col: 1,
                    message: "[processes.api] newthing: new things are not supported yet by this version of oxinit; remove \"newthing\" for now".into()
                },
                Problem {
                    line: 3,
                    col: 1,
                    message: "unknown key \"newthign\" in [processes.api]; did you mean \"newthing\"? valid keys: command".into()
                }
            ]
        );
    }
}
