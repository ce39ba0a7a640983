//! A strict parser of the Prometheus text exposition format (version 0.0.4),
//! written from the format's specification, so that a test sees what a scraper
//! would: every family with its TYPE and HELP, every sample with its labels and
//! value. Whatever a real scraper would reject or misread is an error here:
//! bad names, bad escapes, a sample before its TYPE, a family split in two, a
//! series served twice, a histogram whose buckets do not add up.
//!
//! The tests also hand the same text to Prometheus's own parser (`promtool
//! check metrics`, and a real Prometheus server scraping oxinit); this one
//! gives them the values to assert on.
//!
//! Include with `#[path = "common/prom.rs"] mod prom;`.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// A family's `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        })
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's own name: `x_bucket`, `x_sum`, `x_count` for a histogram `x`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// A metric family: its TYPE, HELP and samples, in the order served.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The values of `label` over the family's samples, each once.
    pub fn label_values(&self, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .samples
            .iter()
            .filter_map(|s| s.label(label).map(str::to_owned))
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

/// A whole scrape.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    /// The value of the sample named `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// `value(name, [("process", process)])`, the shape of most oxinit series.
    pub fn of(&self, name: &str, process: &str) -> Option<f64> {
        self.value(name, &[("process", process)])
    }
}

/// Parse a scrape; the error names the line and what is wrong with it.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut parser = Parser::default();
    for (index, line) in text.split('\n').enumerate() {
        parser
            .line(line)
            .map_err(|why| format!("line {}: {why}: {line:?}", index + 1))?;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    parser.finish()
}

#[derive(Default)]
struct Parser {
    families: BTreeMap<String, Family>,
    /// The family whose lines are being read; a family's lines are one group.
    current: Option<String>,
    /// Families whose group has ended: they must not come back.
    closed: HashSet<String>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let mut words = comment.trim_start().splitn(3, [' ', '\t']);
        let keyword = words.next().unwrap_or("");
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(()); // a plain comment
        }
        let name = words.next().ok_or("HELP/TYPE without a metric name")?;
        check_metric_name(name)?;
        let rest = words.next().unwrap_or("");
        self.enter(name)?;
        let family = self
            .families
            .entry(name.to_owned())
            .or_insert_with(|| Family {
                name: name.to_owned(),
                kind: Kind::Untyped,
                help: None,
                samples: Vec::new(),
            });
        if keyword == "HELP" {
            if family.help.is_some() {
                return Err(format!("a second HELP for {name}"));
            }
            family.help = Some(unescape(rest, false)?);
            return Ok(());
        }
        if !family.samples.is_empty() {
            return Err(format!("TYPE of {name} after its samples"));
        }
        if family.kind != Kind::Untyped {
            return Err(format!("a second TYPE for {name}"));
        }
        family.kind = match rest.trim() {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            "untyped" => Kind::Untyped,
            other => return Err(format!("unknown type {other:?}")),
        };
        Ok(())
    }

    /// Lines of one family form one group: entering another closes the current one.
    fn enter(&mut self, family: &str) -> Result<(), String> {
        if self.current.as_deref() == Some(family) {
            return Ok(());
        }
        if self.closed.contains(family) {
            return Err(format!("the lines of {family} are not one group"));
        }
        if let Some(previous) = self.current.replace(family.to_owned()) {
            self.closed.insert(previous);
        }
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        check_metric_name(name)?;
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if rest.starts_with('{') {
            let (parsed, after) = parse_labels(&rest[1..])?;
            labels = parsed;
            rest = after;
        }
        if !rest.starts_with([' ', '\t']) {
            return Err("no blank between the series and its value".into());
        }
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or("no value")?)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|_| format!("bad timestamp {ts:?}"))?;
        }
        if fields.next().is_some() {
            return Err("text after the timestamp".into());
        }
        let family_name = self.family_of(name);
        self.enter(&family_name)?;
        let key = (
            name.to_owned(),
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        );
        if !self.series.insert(key) {
            return Err("the same series twice".into());
        }
        let family = self
            .families
            .entry(family_name.clone())
            .or_insert_with(|| Family {
                name: family_name,
                kind: Kind::Untyped,
                help: None,
                samples: Vec::new(),
            });
        if matches!(family.kind, Kind::Histogram | Kind::Summary) && name == family.name {
            return Err(format!("a bare sample of {} {}", family.kind, family.name));
        }
        family.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
        Ok(())
    }

    /// The family a sample belongs to: `x` for `x_bucket`/`x_sum`/`x_count`
    /// when `x` was declared a histogram (or `x_sum`/`x_count` of a summary).
    fn family_of(&self, name: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                let kind = self.families.get(base).map(|f| f.kind);
                let fits = match kind {
                    Some(Kind::Histogram) => true,
                    Some(Kind::Summary) => suffix != "_bucket",
                    _ => false,
                };
                if fits {
                    return base.to_owned();
                }
            }
        }
        name.to_owned()
    }

    fn finish(self) -> Result<Exposition, String> {
        for family in self.families.values() {
            if family.kind == Kind::Histogram {
                check_histogram(family)?;
            }
            if family.kind == Kind::Counter {
                if let Some(s) = family.samples.iter().find(|s| s.value < 0.0) {
                    return Err(format!("counter {} is negative: {s:?}", family.name));
                }
            }
        }
        Ok(Exposition {
            families: self.families,
        })
    }
}

/// Per label set: `le` buckets in increasing order, cumulative counts that
/// never fall, a `+Inf` bucket equal to `_count`, and a `_sum`.
fn check_histogram(family: &Family) -> Result<(), String> {
    let base = |s: &Sample| {
        let mut labels = s.labels.clone();
        labels.remove("le");
        labels
    };
    let mut groups: BTreeMap<BTreeMap<String, String>, Vec<&Sample>> = BTreeMap::new();
    for sample in &family.samples {
        groups.entry(base(sample)).or_default().push(sample);
    }
    for (labels, samples) in groups {
        let what = format!("histogram {}{labels:?}", family.name);
        let mut last: Option<(f64, f64)> = None;
        let mut inf = None;
        for bucket in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
            let le = bucket
                .label("le")
                .ok_or_else(|| format!("{what}: a bucket without le"))?;
            let le = parse_value(le)?;
            if let Some((prev_le, prev_count)) = last {
                if le <= prev_le || bucket.value < prev_count {
                    return Err(format!("{what}: buckets out of order at le={le}"));
                }
            }
            last = Some((le, bucket.value));
            if le == f64::INFINITY {
                inf = Some(bucket.value);
            }
        }
        let find = |suffix: &str| {
            samples
                .iter()
                .find(|s| s.name.ends_with(suffix))
                .map(|s| s.value)
        };
        let count = find("_count").ok_or_else(|| format!("{what}: no _count"))?;
        find("_sum").ok_or_else(|| format!("{what}: no _sum"))?;
        match inf {
            Some(n) if n == count => {}
            Some(n) => return Err(format!("{what}: +Inf bucket {n} != _count {count}")),
            None => return Err(format!("{what}: no +Inf bucket")),
        }
    }
    Ok(())
}

/// Label pairs after the `{`; returns them and the text after the `}`.
fn parse_labels(mut rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let name = rest[..eq].trim();
        check_label_name(name)?;
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let (value, after) = quoted(rest)?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by commas".into());
        }
    }
}

/// A label value up to its closing quote, unescaped, and the text after it.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Ok((unescape(&text[..i], true)?, &text[i + 1..])),
            (false, '\n') => return Err("a newline in a label value".into()),
            _ => {}
        }
    }
    Err("an unterminated label value".into())
}

/// `\\` and `\n` (and `\"` in label values) are the only escapes.
fn unescape(text: &str, label: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if label => out.push('"'),
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

/// A float as Go's ParseFloat reads it (what Prometheus uses), with `+Inf`,
/// `-Inf` and `NaN`.
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            text.parse().map_err(|_| format!("bad value {text:?}"))
        }
        _ => Err(format!("bad value {text:?}")),
    }
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let ok = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if name.is_empty() || !ok {
        return Err(format!("bad metric name {name:?}"));
    }
    Ok(())
}

fn check_label_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !ok || name.starts_with("__") {
        return Err(format!("bad label name {name:?}"));
    }
    Ok(())
}

#[test]
fn the_parser_rejects_what_a_scraper_would() {
    let good = "# HELP a_total A \\\\ help.\n# TYPE a_total counter\n\
                a_total{x=\"q\\\"\\n\",y=\"\"} 1.5e3\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n\
                h_sum 3\nh_count 2\nplain 7 1700000000000\n";
    let parsed = parse(good).unwrap();
    assert_eq!(
        parsed.value("a_total", &[("x", "q\"\n"), ("y", "")]),
        Some(1500.0)
    );
    assert_eq!(parsed.family("h").unwrap().kind, Kind::Histogram);
    assert_eq!(
        parsed.family("a_total").unwrap().help.as_deref(),
        Some("A \\ help.")
    );
    assert_eq!(parsed.value("plain", &[]), Some(7.0));
    for bad in [
        "a 1\n# TYPE a gauge\n",
        "# TYPE a gauge\na 1\nb 1\na{x=\"1\"} 2\n",
        "a 1\na 2\n",
        "a{x=1} 1\n",
        "a{x=\"1\"}1\n",
        "1a 1\n",
        "a one\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 1\n",
        "# TYPE c counter\nc -1\n",
        "a 1",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}
