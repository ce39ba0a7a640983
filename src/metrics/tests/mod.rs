//! Tests of the metrics: what `/metrics` says (parsed back with a small
//! exposition-format parser and checked by promtool) and how the server
//! behaves towards well- and ill-behaved clients.

mod own_process;
mod registry;
mod server;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::snapshot::{MemoryEnforcement, Phase, ProcessState, ProcessStatus, Snapshot};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed text exposition (format 0.0.4).
#[derive(Debug, Default)]
pub(super) struct Exposition {
    /// Metric family → its `# TYPE`.
    pub types: BTreeMap<String, String>,
    pub helps: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Samples of `name` whose labels include every pair of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The single value of `name` with exactly those labels; panics with
    /// the text's samples of that name otherwise.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<_> = self
            .find(name, labels)
            .into_iter()
            .filter(|s| s.labels.len() == labels.len())
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {name}{labels:?}, found {found:?} among {:?}",
            self.find(name, &[])
        );
        found[0].value
    }
}

/// Parses the text format strictly enough to catch an encoder bug: every
/// sample line must be `name{label="value",…} number`, and every sample
/// must belong to a family with a `# TYPE`.
pub(super) fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                out.types.insert(name.into(), kind.into()).is_none(),
                "TYPE {name} twice"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            out.helps.insert(name.into(), help.into());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment line {line:?}");
        out.samples.push(parse_sample(line));
    }
    for s in &out.samples {
        let family = family_of(&s.name, &out.types);
        assert!(family.is_some(), "sample {} has no TYPE", s.name);
    }
    out
}

/// The family a sample belongs to: itself, or for histogram series the
/// name without `_bucket`, `_sum` or `_count`.
pub(super) fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.get(*base).map(String::as_str) == Some("histogram"))
}

fn parse_sample(line: &str) -> Sample {
    let chars: Vec<char> = line.chars().collect();
    let at = |i: usize| {
        *chars
            .get(i)
            .unwrap_or_else(|| panic!("sample line ends early: {line:?}"))
    };
    let mut i = 0;
    let mut name = String::new();
    while at(i) != '{' && at(i) != ' ' {
        name.push(at(i));
        i += 1;
    }
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name {name:?} in {line:?}"
    );
    let mut labels = BTreeMap::new();
    if at(i) == '{' {
        i += 1;
        while at(i) != '}' {
            let mut key = String::new();
            while at(i) != '=' {
                key.push(at(i));
                i += 1;
            }
            assert_eq!(at(i + 1), '"', "label value must be quoted: {line:?}");
            i += 2;
            let mut value = String::new();
            while at(i) != '"' {
                if at(i) == '\\' {
                    i += 1;
                    value.push(match at(i) {
                        'n' => '\n',
                        '\\' => '\\',
                        '"' => '"',
                        other => panic!("bad escape \\{other} in {line:?}"),
                    });
                } else {
                    value.push(at(i));
                }
                i += 1;
            }
            i += 1;
            assert!(
                labels.insert(key.clone(), value).is_none(),
                "label {key} twice in {line:?}"
            );
            if at(i) == ',' {
                i += 1;
            }
        }
        i += 1;
    }
    assert_eq!(at(i), ' ', "no space before the value: {line:?}");
    let value: String = chars[i + 1..].iter().collect();
    let value = match value.as_str() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// Runs `promtool check metrics` on `text`: its complaints, or `None` when
/// promtool is not installed (outside CI).
pub(super) fn promtool_check(text: &str) -> Option<String> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("promtool is required under CI: {e}")
        }
        Err(e) => {
            eprintln!("SKIP: promtool not available ({e}); apt-get install prometheus");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && said.is_empty() {
        said = format!("promtool failed: {}", out.status);
    }
    Some(said)
}

pub(super) fn names(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect()
}

pub(super) fn stopped(name: &str, kind: &str) -> ProcessStatus {
    ProcessStatus {
        name: name.into(),
        kind: kind.parse().unwrap(),
        state: ProcessState::NotStarted,
        critical: true,
        ..Default::default()
    }
}

pub(super) fn running(name: &str, kind: &str, pid: i32) -> ProcessStatus {
    ProcessStatus {
        state: ProcessState::Running,
        pid: Some(pid),
        up: true,
        ready: true,
        started_at: Some(1_700_000_000.5),
        ..stopped(name, kind)
    }
}

pub(super) fn snapshot(processes: Vec<ProcessStatus>) -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        pid: 1,
        started_at: 1_700_000_000.0,
        phase: Phase::Running,
        booted: true,
        memory_enforcement: Some(MemoryEnforcement::Poll),
        processes,
    }
}
