//! The house rules of src/, checked on the source itself (issue 12):
//! (a) no file but a test file is over 500 lines;
//! (b) no import circle between files (tests aside) nor between top-level
//!     modules, and every import between top-level modules goes down the
//!     layer list of README.md's Development section ([`layers`]);
//! (c) `unsafe` only in the directories the crate root allows it in;
//! (d) no `allow(unsafe_code)` outside them.
//!
//! It reads src/ at test time with a small Rust tokenizer (comments, strings
//! and char literals skipped), follows the module tree from lib.rs and
//! main.rs (`mod x;`, `#[path]`), and resolves every `use` tree and every
//! `crate::`/`super::`/`self::` path to the file that defines the item,
//! through `use` re-exports: `use super::CgroupError` in cgroup/v2.rs is an
//! import of cgroup/error.rs, not of cgroup/mod.rs, which only re-exports it.
//! A module's re-export of its own submodules (`pub use error::CgroupError`
//! in cgroup/mod.rs) is its interface, not an import. Test code does not
//! count: files declared under `#[cfg(test)]` and their submodules, and
//! every `#[cfg(test)]` (or `#[cfg(doc)]`) item inside other files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The module stack, bottom first, as README.md's Development section
/// writes it down (the bold module names of its numbered list between the
/// `<!-- layers` markers): the list is kept in one place, and a module moved
/// or added there is checked here. A top-level module may import its own
/// layer or a lower one, never a higher one; circles inside a layer are (b)'s.
fn layers() -> Vec<Vec<String>> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = fs::read_to_string(&readme).unwrap();
    let start = text
        .find("<!-- layers")
        .expect("README.md: no <!-- layers --> list in Development");
    let end = text[start..]
        .find("<!-- /layers -->")
        .expect("README.md: no <!-- /layers -->")
        + start;
    let layers: Vec<Vec<String>> = text[start..end]
        .lines()
        .filter(|l| {
            l.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|l| {
            let bold = l.split("**").nth(1).unwrap_or("");
            bold.split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect()
        })
        .collect();
    assert!(
        layers.len() > 3 && layers.iter().all(|l| !l.is_empty()),
        "README.md's layer list: {layers:?}"
    );
    layers
}

/// Where `unsafe` may appear (the crate root denies it; these allow it).
const UNSAFE_DIRS: &[&str] = &["src/sys/"];
/// `allow(unsafe_code)` outside [`UNSAFE_DIRS`]: (file, how many, why).
const UNSAFE_EXCEPTIONS: &[(&str, usize, &str)] = &[(
    "src/main.rs",
    1,
    "#[no_mangle] on the C entry point `main` counts as unsafe code",
)];

const MAX_LINES: usize = 500;

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Rust source as identifiers and punctuation; comments, string, byte-string,
/// raw-string and char literals, numbers and lifetimes are dropped.
fn tokenize(src: &str) -> Vec<Tok> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = s.len();
    while i < n {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < n && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < n {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&s, i) {
            i = end;
        } else if c == '"' || (c == 'b' && s.get(i + 1) == Some(&'"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < n && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && s.get(i + 1) == Some(&'\'')) {
            let q = if c == 'b' { i + 1 } else { i };
            if s.get(q + 1) == Some(&'\\') {
                // '\n', '\'', '\u{1F600}'
                i = q + 2;
                while i < n && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if s.get(q + 2) == Some(&'\'') {
                i = q + 3;
            } else {
                // A lifetime or a label: skip the quote, keep the name out.
                i = q + 1;
                while i < n && ident_char(s[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while i < n
                && (ident_char(s[i])
                    || (s[i] == '.' && s.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
        } else if ident_char(c) || c == '$' {
            let start = i;
            i += 1;
            if c == 'r' && s.get(i) == Some(&'#') && s.get(i + 1).is_some_and(|&d| ident_char(d)) {
                i += 1; // r#ident
            }
            while i < n && ident_char(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let word = word.trim_start_matches("r#").to_string();
            out.push(Tok::Ident(if word == "$crate" {
                "crate".into()
            } else {
                word
            }));
        } else if c == ':' && s.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// The end of a raw (byte) string starting at `i`, if one starts there.
fn raw_string_end(s: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&'b') {
        j += 1;
    }
    if s.get(j) != Some(&'r') {
        return None;
    }
    if i > 0 && ident_char(s[i - 1]) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while s.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if s.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < s.len() {
        if s[j] == '"' && (0..hashes).all(|k| s.get(j + 1 + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(s.len())
}

fn is(t: Option<&Tok>, word: &str) -> bool {
    matches!(t, Some(Tok::Ident(w)) if w == word)
}

fn punct(t: Option<&Tok>, c: char) -> bool {
    t == Some(&Tok::Punct(c))
}

/// The index after the attribute starting at `i` (`#` `[`…`]` or `#!`…).
fn attribute_end(toks: &[Tok], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if punct(toks.get(j), '!') {
        j += 1;
    }
    if !punct(toks.get(j), '[') {
        return None;
    }
    let mut depth = 0;
    while j < toks.len() {
        match toks[j] {
            Tok::Punct('[') => depth += 1,
            Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// `#[cfg(test)]`, `#[cfg(doc)]` and the like: code that is not part of the
/// build the rules are about.
fn is_test_cfg(attr: &[Tok]) -> bool {
    let words: Vec<&str> = attr
        .iter()
        .filter_map(|t| match t {
            Tok::Ident(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    words.first() == Some(&"cfg")
        && !words.contains(&"not")
        && (words.contains(&"test") || words.contains(&"doc"))
}

/// Where the item starting at `i` ends: after its `;`, after its closing
/// `}` or before the `,`/closer that ends it (an enum variant, a field, a
/// match arm).
fn item_end(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('(') | Tok::Punct('[') | Tok::Punct('{') => depth += 1,
            Tok::Punct(')') | Tok::Punct(']') => {
                depth -= 1;
                if depth < 0 {
                    return i;
                }
            }
            Tok::Punct('}') => {
                depth -= 1;
                if depth < 0 {
                    return i;
                }
                if depth == 0 {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            Tok::Punct(',') if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The tokens of the build the rules are about: test and doc-only items cut.
fn strip_test_items(toks: &[Tok]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if punct(toks.get(i), '#') {
            if let Some(end) = attribute_end(toks, i) {
                if is_test_cfg(&toks[i..end]) && !punct(toks.get(i + 1), '!') {
                    i = item_end(toks, end);
                    continue;
                }
                out.extend_from_slice(&toks[i..end]);
                i = end;
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

// ---------------------------------------------------------------- use trees

/// One leaf of a use tree: its full path and the name it binds (None for a
/// glob).
#[derive(Debug, Clone)]
struct UseLeaf {
    path: Vec<String>,
    binds: Option<String>,
}

fn parse_use_tree(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<UseLeaf>) {
    let mut path = prefix.to_vec();
    if toks.get(*i) == Some(&Tok::Path) {
        *i += 1; // a leading `::`
    }
    loop {
        match toks.get(*i) {
            Some(Tok::Punct('{')) => {
                *i += 1;
                while *i < toks.len() && !punct(toks.get(*i), '}') {
                    parse_use_tree(toks, i, &path, out);
                    if punct(toks.get(*i), ',') {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(UseLeaf { path, binds: None });
                return;
            }
            Some(Tok::Ident(w)) => {
                let w = w.clone();
                *i += 1;
                if toks.get(*i) == Some(&Tok::Path) {
                    path.push(w);
                    *i += 1;
                    continue;
                }
                let binds = if is(toks.get(*i), "as") {
                    *i += 1;
                    let alias = match toks.get(*i) {
                        Some(Tok::Ident(a)) => a.clone(),
                        _ => "_".into(),
                    };
                    *i += 1;
                    alias
                } else if w == "self" {
                    path.last().cloned().unwrap_or_default()
                } else {
                    w.clone()
                };
                if w != "self" {
                    path.push(w);
                }
                out.push(UseLeaf {
                    path,
                    binds: Some(binds),
                });
                return;
            }
            _ => return,
        }
    }
}

// ---------------------------------------------------------------- modules

#[derive(Debug)]
struct Module {
    /// Module path from the crate root (`["cgroup", "v2"]`); main.rs is `["<main>"]`.
    path: Vec<String>,
    file: String,
    test: bool,
    children: BTreeMap<String, usize>,
    /// Names defined in the file at its top level.
    defs: BTreeSet<String>,
    uses: Vec<UseLeaf>,
    /// Every path in the build's code (not in `use`): `crate::a::b`,
    /// `super::x`, `child::y`.
    paths: Vec<Vec<String>>,
    unsafe_count: usize,
    allow_unsafe: usize,
    lines: usize,
    macros_exported: BTreeSet<String>,
}

struct Crate {
    modules: Vec<Module>,
    root: usize,
    main: usize,
}

fn read_module(
    root: &Path,
    file: &Path,
    path: Vec<String>,
    test: bool,
    modules: &mut Vec<Module>,
) -> usize {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let all = tokenize(&text);
    let rel = file
        .strip_prefix(root.parent().unwrap())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    let idx = modules.len();
    modules.push(Module {
        path: path.clone(),
        file: rel,
        test,
        children: BTreeMap::new(),
        defs: BTreeSet::new(),
        uses: Vec::new(),
        paths: Vec::new(),
        unsafe_count: all
            .iter()
            .filter(|t| matches!(t, Tok::Ident(w) if w == "unsafe"))
            .count(),
        allow_unsafe: count_allow_unsafe(&all),
        lines: text.lines().count(),
        macros_exported: BTreeSet::new(),
    });
    // Submodules, test ones included (they are walked, then set aside).
    let dir = match file.file_name().and_then(|f| f.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().unwrap().to_path_buf(),
        _ => file.with_extension(""),
    };
    let mut i = 0;
    let mut depth = 0;
    let mut cfg_test = false;
    let mut path_attr: Option<String> = None;
    let mut pending = Vec::new();
    while i < all.len() {
        match &all[i] {
            Tok::Punct('#') => {
                if let Some(end) = attribute_end(&all, i) {
                    if depth == 0 {
                        cfg_test |= is_test_cfg(&all[i..end]);
                        if is(all.get(i + 2), "path") {
                            path_attr = attr_string(&text, &all[i..end]);
                        }
                    }
                    i = end;
                    continue;
                }
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Ident(w) if w == "mod" && depth == 0 => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct(';'))) =
                    (all.get(i + 1), all.get(i + 2))
                {
                    pending.push((name.clone(), cfg_test, path_attr.take()));
                }
            }
            _ => {}
        }
        if matches!(all[i], Tok::Punct(';') | Tok::Punct('}') | Tok::Punct('{')) {
            cfg_test = false;
            path_attr = None;
        }
        i += 1;
    }
    for (name, cfg_test, path_attr) in pending {
        let child_file = match path_attr {
            Some(p) => file.parent().unwrap().join(p),
            None => {
                let flat = dir.join(format!("{name}.rs"));
                if flat.exists() {
                    flat
                } else {
                    dir.join(&name).join("mod.rs")
                }
            }
        };
        let mut child_path = path.clone();
        child_path.push(name.clone());
        let c = read_module(root, &child_file, child_path, test || cfg_test, modules);
        modules[idx].children.insert(name, c);
    }
    // What the build's code of this file defines, imports and names.
    let toks = strip_test_items(&all);
    scan_items(&toks, &mut modules[idx]);
    idx
}

/// The string of `#[path = "…"]`, read back from the text (strings are not tokens).
fn attr_string(text: &str, _attr: &[Tok]) -> Option<String> {
    // Only one #[path] per file is supported, which is all src/ uses.
    let at = text.find("#[path")?;
    let rest = &text[at..];
    let open = rest.find('"')? + 1;
    let close = rest[open..].find('"')? + open;
    Some(rest[open..close].to_string())
}

fn count_allow_unsafe(toks: &[Tok]) -> usize {
    let mut count = 0;
    for i in 0..toks.len() {
        if punct(toks.get(i), '#') {
            if let Some(end) = attribute_end(toks, i) {
                let words: Vec<&Tok> = toks[i..end].iter().collect();
                let allows = words
                    .iter()
                    .any(|t| matches!(t, Tok::Ident(w) if w == "allow" || w == "expect"));
                let unsafe_code = words
                    .iter()
                    .any(|t| matches!(t, Tok::Ident(w) if w == "unsafe_code"));
                if allows && unsafe_code {
                    count += 1;
                }
            }
        }
    }
    count
}

fn scan_items(toks: &[Tok], m: &mut Module) {
    let mut depth = 0;
    let mut i = 0;
    let mut exported_macro = false;
    while i < toks.len() {
        let t = &toks[i];
        match t {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Punct('#') => {
                if let Some(end) = attribute_end(toks, i) {
                    exported_macro |= toks[i..end]
                        .iter()
                        .any(|t| matches!(t, Tok::Ident(w) if w == "macro_export"));
                    i = end;
                    continue;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let mut j = i + 1;
                let mut leaves = Vec::new();
                parse_use_tree(toks, &mut j, &[], &mut leaves);
                if depth == 0 {
                    m.uses.extend(leaves);
                } else {
                    // A `use` inside a function: a dependency all the same.
                    m.paths.extend(leaves.into_iter().map(|l| l.path));
                }
                i = j;
                continue;
            }
            Tok::Ident(w)
                if w == "in"
                    && punct(toks.get(i.wrapping_sub(1)), '(')
                    && is(toks.get(i.wrapping_sub(2)), "pub") =>
            {
                // pub(in crate::a): a visibility, not a dependency.
                i += 1;
                while i < toks.len() && !punct(toks.get(i), ')') {
                    i += 1;
                }
                continue;
            }
            Tok::Ident(w)
                if depth == 0
                    && matches!(
                        w.as_str(),
                        "struct"
                            | "enum"
                            | "fn"
                            | "const"
                            | "static"
                            | "type"
                            | "trait"
                            | "union"
                            | "mod"
                    ) =>
            {
                if let Some(Tok::Ident(name)) = toks.get(i + 1) {
                    m.defs.insert(name.clone());
                }
                exported_macro = false;
            }
            Tok::Ident(w) if w == "macro_rules" && punct(toks.get(i + 1), '!') => {
                if let Some(Tok::Ident(name)) = toks.get(i + 2) {
                    m.defs.insert(name.clone());
                    if exported_macro {
                        m.macros_exported.insert(name.clone());
                    }
                }
                exported_macro = false;
            }
            Tok::Ident(w) => {
                // A path: ident (:: ident)+, not preceded by `::` or `.`.
                let after_path = matches!(
                    toks.get(i.wrapping_sub(1)),
                    Some(Tok::Path) | Some(Tok::Punct('.'))
                );
                if !after_path && toks.get(i + 1) == Some(&Tok::Path) {
                    let mut segs = vec![w.clone()];
                    let mut j = i + 1;
                    while toks.get(j) == Some(&Tok::Path) {
                        match toks.get(j + 1) {
                            Some(Tok::Ident(s)) => {
                                segs.push(s.clone());
                                j += 2;
                            }
                            _ => break,
                        }
                    }
                    m.paths.push(segs);
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
}

fn load(src: &Path) -> Crate {
    let mut modules = Vec::new();
    let root = read_module(src, &src.join("lib.rs"), vec![], false, &mut modules);
    let main = read_module(
        src,
        &src.join("main.rs"),
        vec!["<main>".into()],
        false,
        &mut modules,
    );
    Crate {
        modules,
        root,
        main,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Module(usize),
    Item(usize),
}

impl Crate {
    fn parent(&self, m: usize) -> usize {
        let path = &self.modules[m].path;
        if path.first().map(String::as_str) == Some("<main>") {
            return m;
        }
        let parent = &path[..path.len().saturating_sub(1)];
        self.modules
            .iter()
            .position(|x| x.path == parent)
            .unwrap_or(self.root)
    }

    /// What `segs`, written in module `from`, names; None for another crate.
    fn resolve(&self, from: usize, segs: &[String], hops: usize) -> Option<Target> {
        if hops > 32 || segs.is_empty() {
            return None;
        }
        let (start, rest) = match segs[0].as_str() {
            "crate" if from == self.main => (self.main, &segs[1..]),
            "crate" => (self.root, &segs[1..]),
            "oxinit" if from == self.main => (self.root, &segs[1..]),
            "self" => (from, &segs[1..]),
            "super" => {
                let mut m = self.parent(from);
                let mut k = 1;
                while segs.get(k).map(String::as_str) == Some("super") {
                    m = self.parent(m);
                    k += 1;
                }
                (m, &segs[k..])
            }
            "Self" => return None,
            _ => {
                let m = &self.modules[from];
                let known = m.children.contains_key(&segs[0])
                    || m.defs.contains(&segs[0])
                    || m.uses
                        .iter()
                        .any(|u| u.binds.as_deref() == Some(segs[0].as_str()));
                if !known {
                    return None;
                }
                (from, segs)
            }
        };
        Some(self.walk(start, rest, hops))
    }

    fn walk(&self, m: usize, segs: &[String], hops: usize) -> Target {
        let Some(first) = segs.first() else {
            return Target::Module(m);
        };
        let module = &self.modules[m];
        if let Some(&c) = module.children.get(first) {
            return self.walk(c, &segs[1..], hops);
        }
        if module.defs.contains(first) {
            return Target::Item(m);
        }
        if let Some(u) = module
            .uses
            .iter()
            .find(|u| u.binds.as_deref() == Some(first.as_str()))
        {
            return match self.resolve(m, &u.path, hops + 1) {
                Some(Target::Module(t)) => self.walk(t, &segs[1..], hops + 1),
                Some(item) => item,
                None => Target::Item(m),
            };
        }
        if m == self.root {
            if let Some(f) = self
                .modules
                .iter()
                .position(|x| x.macros_exported.contains(first))
            {
                return Target::Item(f);
            }
        }
        for u in module.uses.iter().filter(|u| u.binds.is_none()) {
            if let Some(Target::Module(g)) = self.resolve(m, &u.path, hops + 1) {
                let there = &self.modules[g];
                let found = there.children.contains_key(first)
                    || there.defs.contains(first)
                    || there
                        .uses
                        .iter()
                        .any(|x| x.binds.as_deref() == Some(first.as_str()));
                if found && g != m {
                    return self.walk(g, segs, hops + 1);
                }
            }
        }
        Target::Item(m)
    }

    fn is_descendant(&self, m: usize, of: usize) -> bool {
        let (a, b) = (&self.modules[m].path, &self.modules[of].path);
        a.len() > b.len() && a.starts_with(b) && !b.is_empty()
            || (of == self.root && m != self.root && m != self.main)
    }

    /// File-level imports of the build's code: (from, to) module indices.
    fn edges(&self) -> BTreeSet<(usize, usize)> {
        let mut edges = BTreeSet::new();
        for (i, m) in self.modules.iter().enumerate() {
            if m.test {
                continue;
            }
            let mut add = |target: Option<Target>| {
                // Naming a module (`use super::files;`) is no import of its
                // mod.rs: the items then taken through it are.
                let Some(Target::Item(to)) = target else {
                    return;
                };
                if to == i || self.modules[to].test {
                    return;
                }
                // A module composes its own submodules (declares them, uses
                // and re-exports what they define): that is its structure,
                // not an import. Its submodules' use of what it defines is.
                if self.is_descendant(to, i) {
                    return;
                }
                edges.insert((i, to));
            };
            for u in &m.uses {
                add(self.resolve(i, &u.path, 0));
            }
            for p in &m.paths {
                add(self.resolve(i, p, 0));
            }
        }
        edges
    }

    fn top(&self, m: usize) -> Option<&str> {
        if m == self.root || m == self.main {
            return None;
        }
        self.modules[m].path.first().map(String::as_str)
    }
}

fn sccs(nodes: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); nodes];
    for &(a, b) in edges {
        adj[a].push(b);
    }
    struct State<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn go(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for k in 0..s.adj[v].len() {
            let w = s.adj[v][k];
            match s.index[w] {
                None => {
                    go(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        adj: &adj,
        index: vec![None; nodes],
        low: vec![0; nodes],
        stack: Vec::new(),
        on: vec![false; nodes],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..nodes {
        if s.index[v].is_none() {
            go(&mut s, v);
        }
    }
    s.out
}

/// One shortest circle through `comp`, to print: a → b → … → a.
fn one_circle(
    comp: &[usize],
    edges: &BTreeSet<(usize, usize)>,
    name: impl Fn(usize) -> String,
) -> String {
    let set: BTreeSet<usize> = comp.iter().copied().collect();
    let start = *comp.iter().min().unwrap();
    let mut prev: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = BTreeSet::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(a, b) in edges.iter().filter(|(a, _)| *a == v) {
            if !set.contains(&b) {
                continue;
            }
            if b == start {
                let mut chain = vec![start];
                let mut at = a;
                while at != start {
                    chain.push(at);
                    at = prev[&at];
                }
                chain.push(start);
                chain.reverse();
                return chain.into_iter().map(&name).collect::<Vec<_>>().join(" → ");
            }
            if seen.insert(b) {
                prev.insert(b, a);
                queue.push_back(b);
            }
        }
    }
    String::new()
}

// ---------------------------------------------------------------- the rules

struct Findings {
    long: Vec<String>,
    file_cycles: Vec<(Vec<String>, String)>,
    module_cycles: Vec<(Vec<String>, String)>,
    upward: Vec<(String, String, String)>,
    unsafe_outside: Vec<String>,
    allow_outside: Vec<String>,
    unknown_modules: Vec<String>,
}

fn check(src: &Path) -> Findings {
    let krate = load(src);
    let mods = &krate.modules;
    let long = mods
        .iter()
        .filter(|m| !m.test && m.lines > MAX_LINES)
        .map(|m| format!("{} ({} lines)", m.file, m.lines))
        .collect();

    let edges = krate.edges();
    let file_name = |i: usize| mods[i].file.clone();
    if std::env::var_os("HOUSE_EDGES").is_some() {
        // HOUSE_EDGES=1 cargo test --test house -- --nocapture: every import.
        for &(a, b) in &edges {
            println!("edge {} -> {}", mods[a].file, mods[b].file);
        }
    }
    let file_cycles = sccs(mods.len(), &edges)
        .into_iter()
        .map(|c| {
            let mut files: Vec<String> = c.iter().map(|&i| file_name(i)).collect();
            files.sort();
            (files, one_circle(&c, &edges, file_name))
        })
        .collect();

    let tops: Vec<String> = mods
        .iter()
        .enumerate()
        .filter_map(|(i, _)| krate.top(i))
        .map(String::from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let top_index = |name: &str| tops.iter().position(|t| t == name);
    let mut top_edges = BTreeSet::new();
    let mut why: BTreeMap<(usize, usize), (usize, usize)> = BTreeMap::new();
    for &(a, b) in &edges {
        if let (Some(ta), Some(tb)) = (krate.top(a), krate.top(b)) {
            if ta != tb {
                let e = (top_index(ta).unwrap(), top_index(tb).unwrap());
                top_edges.insert(e);
                why.entry(e).or_insert((a, b));
            }
        }
    }
    let module_cycles = sccs(tops.len(), &top_edges)
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|&i| tops[i].clone()).collect();
            names.sort();
            (names, one_circle(&c, &top_edges, |i| tops[i].clone()))
        })
        .collect();

    let layers = layers();
    let layer_of = |name: &str| layers.iter().position(|ms| ms.iter().any(|m| m == name));
    let unknown_modules = tops
        .iter()
        .filter(|t| layer_of(t).is_none())
        .cloned()
        .collect();
    let mut upward = Vec::new();
    for &(a, b) in &top_edges {
        if let (Some(la), Some(lb)) = (layer_of(&tops[a]), layer_of(&tops[b])) {
            if lb > la {
                let (fa, fb) = why[&(a, b)];
                upward.push((
                    tops[a].clone(),
                    tops[b].clone(),
                    format!("{} imports {}", mods[fa].file, mods[fb].file),
                ));
            }
        }
    }

    let allowed_dir = |file: &str| UNSAFE_DIRS.iter().any(|d| file.starts_with(d));
    let unsafe_outside = mods
        .iter()
        .filter(|m| m.unsafe_count > 0 && !allowed_dir(&m.file))
        .map(|m| format!("{} ({} unsafe)", m.file, m.unsafe_count))
        .collect();
    let allow_outside = mods
        .iter()
        .filter(|m| m.allow_unsafe > 0 && !allowed_dir(&m.file))
        .filter(|m| {
            !UNSAFE_EXCEPTIONS
                .iter()
                .any(|(f, n, _)| *f == m.file && *n == m.allow_unsafe)
        })
        .map(|m| format!("{} ({} allow(unsafe_code))", m.file, m.allow_unsafe))
        .collect();
    Findings {
        long,
        file_cycles,
        module_cycles,
        upward,
        unsafe_outside,
        allow_outside,
        unknown_modules,
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every finding, as the report to fail with.
fn offences(f: &Findings) -> String {
    let mut out = String::new();
    for l in &f.long {
        writeln!(
            out,
            "(a) over {MAX_LINES} lines and not a test file: {l}: split it by concept"
        )
        .unwrap();
    }
    for (files, circle) in &f.file_cycles {
        writeln!(out, "(b) import circle between files {files:?}: {circle}; move what both need into a leaf both import").unwrap();
    }
    for (names, circle) in &f.module_cycles {
        writeln!(
            out,
            "(b) import circle between top-level modules {names:?}: {circle}"
        )
        .unwrap();
    }
    for m in &f.unknown_modules {
        writeln!(out, "(b) top-level module {m:?} is in no layer: add it to the layer list of README.md's Development section").unwrap();
    }
    for (a, b, how) in &f.upward {
        writeln!(
            out,
            "(b) {a} imports {b}, a higher layer ({how}): imports go down the layer list"
        )
        .unwrap();
    }
    for u in &f.unsafe_outside {
        writeln!(out, "(c) unsafe outside {UNSAFE_DIRS:?}: {u}: put the call behind a safe function in src/sys/").unwrap();
    }
    for a in &f.allow_outside {
        writeln!(out, "(d) allow(unsafe_code) outside {UNSAFE_DIRS:?}: {a}").unwrap();
    }
    out
}

#[test]
fn the_house_keeps_its_rules() {
    let findings = check(&src_dir());
    let report = offences(&findings);
    assert!(
        report.is_empty(),
        "the house rules of src/ are broken:\n{report}"
    );
}

/// The checker itself, on a small tree written here: each rule fires on
/// its offender and the parser reads use trees, re-exports and test code
/// as the rules say.
#[test]
fn the_checker_finds_each_offence() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod sys;\npub mod config;\npub mod health;\n");
    write(
        "main.rs",
        "use oxinit::config;\nfn main() { config::a::A; }\n",
    );
    write(
        "sys/mod.rs",
        "#![allow(unsafe_code)]\npub fn raw() { unsafe { libc::getpid() }; }\n",
    );
    // a.rs and b.rs import each other through a use tree and a re-export.
    write(
        "config/mod.rs",
        "mod a;\nmod b;\nmod c;\npub use a::A;\npub use b::{B, Bee as Bees};\n#[cfg(test)]\nmod tests;\n",
    );
    write(
        "config/a.rs",
        "use super::{c, B};\npub struct A;\nfn f() { let _ = c::C; }\n",
    );
    write(
        "config/b.rs",
        "use crate::config::{self, a::{A}};\npub struct B;\npub struct Bee;\n",
    );
    // Test code may import anything, and its unsafe is still unsafe.
    write("config/tests.rs", "use crate::health::H;\n");
    // health imports config: a module circle (config/c.rs → health below).
    write(
        "health.rs",
        "pub struct H; // unsafe { crate::sys::raw() }\nconst S: &str = \"unsafe\";\n#[cfg(test)]\nmod tests { use crate::config::A; }\npub fn g() -> crate::config::Bees { todo!() }\n",
    );
    let long: String = (0..=MAX_LINES).map(|i| format!("// {i}\n")).collect();
    write(
        "config/c.rs",
        &format!("pub struct C;\nfn h() {{ let _ = crate::health::H; }}\nconst R: &str = r#\"crate::sys::raw\"#;\n{long}"),
    );

    let f = check(&src);
    assert_eq!(
        f.long,
        vec![format!("src/config/c.rs ({} lines)", MAX_LINES + 4)]
    );
    // health.rs → b.rs (through the re-export Bees) → a.rs (a::{A}) → c.rs
    // (c::C through `use super::c`) → health.rs; a.rs → b.rs (B, re-exported
    // by mod.rs). Not mod.rs: its re-exports of submodules are no imports,
    // nor test code, comments or strings.
    let files = |names: &[&str]| names.iter().map(|n| format!("src/{n}")).collect::<Vec<_>>();
    assert_eq!(
        f.file_cycles
            .iter()
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>(),
        vec![files(&[
            "config/a.rs",
            "config/b.rs",
            "config/c.rs",
            "health.rs"
        ])],
        "{:?}",
        f.file_cycles
    );
    assert!(f.file_cycles[0].1.contains(" → "), "{}", f.file_cycles[0].1);
    assert!(
        f.upward
            .iter()
            .any(|(a, b, _)| a == "config" && b == "health"),
        "config is below health: {:?}",
        f.upward
    );
    assert_eq!(
        f.module_cycles
            .iter()
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>(),
        vec![vec!["config".to_string(), "health".to_string()]]
    );
    assert!(
        f.unsafe_outside.is_empty() && f.allow_outside.is_empty(),
        "{:?} {:?}",
        f.unsafe_outside,
        f.allow_outside
    );
    assert!(!offences(&f).is_empty());

    // Unsafe and its allowance outside sys/ are reported.
    write(
        "health.rs",
        "#![allow(unsafe_code)]\npub struct H;\npub fn g() { unsafe { libc::getpid() }; }\n",
    );
    let f = check(&src);
    assert_eq!(
        f.unsafe_outside,
        vec!["src/health.rs (1 unsafe)".to_string()]
    );
    assert_eq!(
        f.allow_outside,
        vec!["src/health.rs (1 allow(unsafe_code))".to_string()]
    );
    let report = offences(&f);
    assert!(
        report.contains("(c)") && report.contains("(d)") && report.contains("src/health.rs"),
        "{report}"
    );
}
