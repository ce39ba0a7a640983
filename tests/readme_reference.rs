//! README.md's "oxfile reference" table lists exactly the keys the parser
//! accepts, taken from the parser's own key lists
//! (`oxinit::api::config::reference_keys`): a key added to the parser without a
//! row, or a row for a key the parser does not know, fails here.

use std::collections::BTreeSet;
use std::path::Path;

const BEGIN: &str = "<!-- reference:begin -->";
const END: &str = "<!-- reference:end -->";

/// `(table, key)` of every row between the markers; cells lose their
/// backticks. Also checks every row has all five cells filled.
fn readme_rows(readme: &str) -> Vec<(String, String)> {
    let start = readme
        .find(BEGIN)
        .expect("README.md has no reference:begin marker");
    let end = readme
        .find(END)
        .expect("README.md has no reference:end marker");
    let mut rows = Vec::new();
    for line in readme[start + BEGIN.len()..end].lines() {
        let line = line.trim();
        if !line.starts_with('|') || line.starts_with("| table") || line.starts_with("| ---") {
            continue;
        }
        // `\|` inside a cell is a literal bar, not a cell border.
        let cells: Vec<String> = line
            .replace("\\|", "\u{0}")
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('\u{0}', "|"))
            .collect();
        assert_eq!(cells.len(), 5, "reference row without 5 cells: {line}");
        assert!(cells.iter().all(|c| !c.is_empty()), "empty cell in: {line}");
        let plain = |c: &str| c.trim_matches('`').to_string();
        rows.push((plain(&cells[0]), plain(&cells[1])));
    }
    rows
}

#[test]
fn the_readme_reference_lists_every_key_the_parser_accepts_and_no_other() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let rows = readme_rows(&readme);
    let documented: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    assert_eq!(
        documented.len(),
        rows.len(),
        "a key is listed twice in the reference"
    );
    let parsed: BTreeSet<(String, String)> = oxinit::api::config::reference_keys()
        .into_iter()
        .map(|(t, k)| (t.to_string(), k.to_string()))
        .collect();
    let missing: Vec<_> = parsed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&parsed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md's oxfile reference is out of date.\n  accepted by the parser but not in the README: {missing:?}\n  in the README but not accepted by the parser: {extra:?}"
    );
}

#[test]
fn rows_are_read_with_escaped_bars_and_markers() {
    let text = format!("x\n{BEGIN}\n| table | key | type | default | example |\n| --- | --- | --- | --- | --- |\n| `[init]` | `log_format` | `\"a\"` \\| `\"b\"` | `\"a\"` | `log_format = \"b\"` |\n{END}\n| `[init]` | `outside` | a | b | c |\n");
    assert_eq!(
        readme_rows(&text),
        [("[init]".to_string(), "log_format".to_string())]
    );
}
