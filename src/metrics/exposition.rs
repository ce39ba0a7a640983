//! The Prometheus text exposition format, read back: splitting another
//! program's `/metrics` answer into metric families, so that `[metrics]
//! include` can append them to oxinit's own without breaking the format.
//!
//! The format allows one `# HELP` and one `# TYPE` per family, and a family's
//! lines must be contiguous; two exporters that both write `process_cpu_seconds_total`
//! (every Go and every Rust client does) would give Prometheus (and `promtool
//! check metrics`) a duplicate. So a family is the unit: it is kept whole or
//! dropped whole, and a name already taken (by oxinit or by an earlier
//! include) is dropped.

use std::collections::HashSet;

/// One metric family as its exporter wrote it: its comment lines and its
/// samples, each line without its newline.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub lines: Vec<String>,
}

/// The suffixes a sample of a family may add to the family's name
/// (histograms, summaries, counters in OpenMetrics style).
const SUFFIXES: [&str; 7] = [
    "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum",
];

/// Splits exposition text into families, in order. Blank lines, other
/// comments and lines that are not samples are left out (they would only
/// make the merged answer fail to parse).
pub fn families(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.split_whitespace();
            let (Some(kind @ ("HELP" | "TYPE")), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            if !is_metric_name(name) {
                continue;
            }
            let current = out.last().filter(|f| f.name == name);
            let repeated = current
                .is_some_and(|f| f.lines.iter().any(|l| l.starts_with(&format!("# {kind} "))));
            if current.is_none() || repeated {
                out.push(Family {
                    name: name.to_string(),
                    lines: Vec::new(),
                });
            }
            push_line(&mut out, line);
            continue;
        }
        let Some(sample) = sample_name(line) else {
            continue;
        };
        let belongs = out.last().is_some_and(|f| {
            sample == f.name
                || sample
                    .strip_prefix(f.name.as_str())
                    .is_some_and(|suffix| SUFFIXES.contains(&suffix))
        });
        if !belongs {
            out.push(Family {
                name: sample.to_string(),
                lines: Vec::new(),
            });
        }
        push_line(&mut out, line);
    }
    out
}

fn push_line(out: &mut [Family], line: &str) {
    if let Some(family) = out.last_mut() {
        family.lines.push(line.to_string());
    }
}

/// The metric name of a sample line, when the line is one: a name, then
/// `{` or a space, then something.
fn sample_name(line: &str) -> Option<&str> {
    let end = line.find(['{', ' ', '\t'])?;
    let name = &line[..end];
    let rest = line[end..].trim();
    (is_metric_name(name) && !rest.is_empty()).then_some(name)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The family names in exposition text (oxinit's own, to refuse clashes).
pub fn family_names(text: &str) -> HashSet<String> {
    families(text).into_iter().map(|f| f.name).collect()
}

/// Appends the families of `text` whose names are not in `taken` to `out`,
/// adding their names to `taken`. Returns how many families were dropped.
pub fn append_new(out: &mut String, text: &str, taken: &mut HashSet<String>) -> u64 {
    let mut dropped = 0;
    for family in families(text) {
        if !taken.insert(family.name.clone()) {
            dropped += 1;
            continue;
        }
        for line in &family.lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    dropped
}

/// A label value escaped for the text format (backslash, quote, newline).
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The value of the first sample of `name` whose label `label` is `value`
/// (e.g. `litestream_sync_count{db="/data/app.db"}`), parsed as a float.
pub fn sample_value(text: &str, name: &str, label: &str, value: &str) -> Option<f64> {
    let wanted = format!("{label}=\"{}\"", escape_label(value));
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.strip_prefix('{')?;
        let (labels, after) = rest.split_once('}')?;
        if !split_labels(labels).any(|l| l == wanted) {
            return None;
        }
        after.split_whitespace().next()?.parse().ok()
    })
}

/// Label pairs `a="x",b="y"` one by one (commas inside quotes kept).
fn split_labels(labels: &str) -> impl Iterator<Item = &str> {
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(labels[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(labels[start..].trim());
    pairs.into_iter().filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITESTREAM: &str = "\
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 14
# HELP litestream_sync_count Number of sync operations performed
# TYPE litestream_sync_count counter
litestream_sync_count{db=\"/data/app.db\"} 4
litestream_sync_count{db=\"/data/other, \\\"q\\\".db\"} 9
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 0.2
# HELP litestream_replica_operation_duration_seconds Duration
# TYPE litestream_replica_operation_duration_seconds histogram
litestream_replica_operation_duration_seconds_bucket{le=\"0.01\"} 1
litestream_replica_operation_duration_seconds_bucket{le=\"+Inf\"} 1
litestream_replica_operation_duration_seconds_sum 0.004
litestream_replica_operation_duration_seconds_count 1
untyped_thing 3
";

    #[test]
    fn families_keep_histograms_whole_and_untyped_samples_apart() {
        let names: Vec<String> = families(LITESTREAM).into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "go_goroutines",
                "litestream_sync_count",
                "process_cpu_seconds_total",
                "litestream_replica_operation_duration_seconds",
                "untyped_thing"
            ]
        );
        let histogram = &families(LITESTREAM)[3];
        assert_eq!(histogram.lines.len(), 6, "{histogram:?}");
    }

    #[test]
    fn a_taken_name_drops_the_whole_family() {
        let mut taken: HashSet<String> = ["process_cpu_seconds_total".to_string()].into();
        let mut out = String::new();
        assert_eq!(append_new(&mut out, LITESTREAM, &mut taken), 1);
        assert!(!out.contains("process_cpu"), "{out}");
        assert!(out.contains("litestream_sync_count{db=\"/data/app.db\"} 4\n"));
        // The same answer again (a second include of it): everything clashes.
        let mut again = String::new();
        assert_eq!(append_new(&mut again, LITESTREAM, &mut taken), 5);
        assert_eq!(again, "");
    }

    #[test]
    fn a_family_that_repeats_its_type_is_two_families() {
        let text = "# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n";
        let mut taken = HashSet::new();
        let mut out = String::new();
        assert_eq!(append_new(&mut out, text, &mut taken), 1);
        assert_eq!(out, "# TYPE a gauge\na 1\n");
    }

    #[test]
    fn garbage_lines_are_left_out() {
        let text = "<html>\n\n# just a comment\na{x=\"1\"} 1\nnot-a-name 2\nlonely\n# EOF\n";
        let f = families(text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].lines, ["a{x=\"1\"} 1"]);
    }

    #[test]
    fn sample_value_matches_the_label_exactly() {
        let count = |db: &str| sample_value(LITESTREAM, "litestream_sync_count", "db", db);
        assert_eq!(count("/data/app.db"), Some(4.0));
        assert_eq!(count("/data/other, \"q\".db"), Some(9.0));
        assert_eq!(count("/data/app"), None);
        assert_eq!(
            sample_value(LITESTREAM, "litestream_sync", "db", "/data/app.db"),
            None
        );
    }
}
