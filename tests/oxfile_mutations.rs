//! A bounded, deterministic fuzz of the oxfile parser (issue 15): thousands
//! of mutations of the example oxfiles, each parsed and, when valid, planned
//! and rendered as `oxinit check` does. For every input:
//! - nothing panics;
//! - an invalid file gets at least one problem, and every problem has a line
//!   and a column inside the text (`path:line:col: message`), except "nothing
//!   to run", which is about the whole file;
//! - `check` terminates (a watchdog fails the test on any input that takes
//!   longer than [`STALL`]).
//!
//! `cargo fuzz` needs nightly for libFuzzer's sanitizers; this runs on stable
//! in every `cargo test`, in a few seconds. Mutations come from a seeded
//! PRNG, so a failure is reproducible: the message gives the seed and the
//! case. More: `OXFILE_MUTATIONS=100000 OXFILE_SEED=7 cargo test --release
//! --test oxfile_mutations`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oxinit::api::config::{parse_str, plan, render_check_at, ConfigError, LoadContext};

/// Mutated inputs per run (per seed) unless `OXFILE_MUTATIONS` says otherwise.
const DEFAULT_MUTATIONS: usize = 2000;
const DEFAULT_SEED: u64 = 0x0f11_e5ee_d015;
/// Longest one input may take to parse and check on a loaded machine.
const STALL: Duration = Duration::from_secs(30);

/// A file without any `[processes.…]` has this problem, which has no place.
const NOTHING_TO_RUN: &str = "nothing to run: ";

/// Text that means something to TOML or to oxinit: inserted at random.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "#",
    "\\",
    "\"\"\"",
    "'''",
    "${",
    "${X}",
    "${UNSET}",
    "${X:-d}",
    "$$",
    "\t",
    " ",
    "\r\n",
    "é",
    "\u{0}",
    "\u{feff}",
    "\u{1f600}",
    "0",
    "-1",
    "1e400",
    "nan",
    "inf",
    "18446744073709551616",
    "true",
    "[]",
    "{}",
    "\"\"",
    "\"0s\"",
    "\"1ms\"",
    "\"99999999999h\"",
    "\"1.5G\"",
    "\"0\"",
    "\"-5M\"",
    "\"SIGKILL\"",
    "\"SIGFOO\"",
    "\"64\"",
    "\"* * * * *\"",
    "\"@every 0s\"",
    "\"@every 1ms\"",
    "\"0 0 31 2 *\"",
    "\"60 24 32 13 8\"",
    "\"*/0 * * * *\"",
    "\"1-0 * * * *\"",
    "\"127.0.0.1:0\"",
    "\"[::1]:99999\"",
    "\"example.com:80\"",
    "\"http://[::1\"",
    "\"nobody\"",
    "\"0:0\"",
    "\"4294967296\"",
    "\"root:nogroup\"",
    "\"../..\"",
    "\"/\"",
    "oneshot = true",
    "restart = \"never\"",
    "depends_on = [\"api\"]",
    "critical = false",
    "schedule = \"0 3 * * *\"",
    "replicator = true",
    "[processes.x]",
    "[processes.api.health]",
    "type = \"exec\"",
    "type = \"notify\"",
    "command = []",
    "command = \"\"",
    "limits = {}",
    "memory = \"1\"",
    "pids = 0",
    "listen = [\"127.0.0.1:8080\"]",
];

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn token(&mut self) -> &'static str {
        TOKENS[self.below(TOKENS.len())]
    }
}

/// A char boundary at or before `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One to four random edits of `text`, with `other` as a source of lines.
fn mutate(rng: &mut Rng, text: &str, other: &str) -> String {
    let mut out = text.to_owned();
    for _ in 0..1 + rng.below(4) {
        let at = boundary(&out, rng.below(out.len() + 1));
        // Line edits need a line.
        let edit = if out.lines().next().is_none() {
            0
        } else {
            rng.below(9)
        };
        match edit {
            // Insert a token.
            0 | 1 => out.insert_str(at, rng.token()),
            // Delete a short range.
            2 => {
                let end = boundary(&out, at + 1 + rng.below(16));
                out.replace_range(at..end, "");
            }
            // Replace a value: everything after an '=' on a line.
            3 => {
                let lines: Vec<&str> = out.lines().collect();
                let n = rng.below(lines.len());
                let mut lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
                if let Some((key, _)) = lines[n].split_once('=') {
                    lines[n] = format!("{key}= {}", rng.token());
                }
                out = lines.join("\n");
            }
            // Duplicate, drop or swap whole lines (duplicate keys and tables,
            // tables without their keys).
            4 => {
                let mut lines: Vec<&str> = out.lines().collect();
                let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                match rng.below(3) {
                    0 => lines.insert(b, lines[a]),
                    1 if !lines.is_empty() => {
                        lines.remove(a);
                    }
                    _ => lines.swap(a, b),
                }
                out = lines.join("\n");
            }
            // A line of the other example, anywhere.
            5 => {
                let lines: Vec<&str> = other.lines().collect();
                let line = format!("{}\n", rng.pick(&lines));
                let at = out[..at].rfind('\n').map_or(0, |i| i + 1);
                out.insert_str(at, &line);
            }
            // Truncate.
            6 => out.truncate(at),
            // Flip one ASCII byte to another printable one.
            7 => {
                if out.as_bytes().get(at).is_some_and(u8::is_ascii) {
                    let c = char::from(b' ' + rng.below(95) as u8);
                    out.replace_range(at..at + 1, &c.to_string());
                }
            }
            // Repeat a slice (long lines, deep nesting).
            _ => {
                let end = boundary(&out, at + rng.below(64));
                let piece = out[at..end].repeat(1 + rng.below(12));
                out.insert_str(at, &piece);
            }
        }
    }
    out
}

fn examples() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    ["oxfile.toml", "demo/oxfile.toml"]
        .iter()
        .map(|name| {
            let path = root.join(name);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        })
        .collect()
}

/// The environment and /etc the inputs are resolved against: fixed, so a
/// case behaves the same on every machine.
fn context(dir: &Path) -> LoadContext {
    std::fs::write(
        dir.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("group"), "root:x:0:\nnode:x:1000:\n").unwrap();
    std::fs::write(dir.join(".env"), "SESSION_SECRET=abc\nBROKEN LINE\n").unwrap();
    LoadContext {
        env: BTreeMap::from([
            ("X".to_owned(), "x".to_owned()),
            ("DB_PATH".to_owned(), "/data/app.db".to_owned()),
        ]),
        etc_dir: dir.to_owned(),
        // As `oxinit check` runs: what does not resolve here is a warning.
        lookups: oxinit::api::config::Lookups::Check,
    }
}

/// Parses and checks one input; `Err` says which rule it broke.
fn check_one(text: &str, path: &Path, ctx: &LoadContext) -> Result<(), String> {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let outcome = std::panic::catch_unwind(|| match parse_str(text, path, ctx) {
        Ok(config) => {
            let _ = plan(&config);
            let _ = render_check_at(&config, now);
            Ok(())
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            if problems.is_empty() {
                return Err("invalid, with no problem reported".to_owned());
            }
            let lines = text.split('\n').count();
            for p in &problems {
                // The one problem of the whole file, not of a place in it.
                if p.line == 0 && p.message.starts_with(NOTHING_TO_RUN) {
                    continue;
                }
                if p.line == 0 || p.col == 0 || p.line > lines {
                    return Err(format!(
                        "problem without a line:col inside the text ({} lines): {}",
                        lines,
                        p.render(path)
                    ));
                }
            }
            Ok(())
        }
        Err(other) => Err(format!("not a config problem: {other}")),
    });
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {what}"))
    })
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

#[test]
fn mutated_oxfiles_never_panic_always_point_at_a_line_and_check_terminates() {
    let count = env_number("OXFILE_MUTATIONS", DEFAULT_MUTATIONS as u64) as usize;
    let seed = env_number("OXFILE_SEED", DEFAULT_SEED);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let path: PathBuf = dir.path().join("oxfile.toml");
    let sources = examples();
    for (i, source) in sources.iter().enumerate() {
        assert_eq!(check_one(source, &path, &ctx), Ok(()), "example {i} itself");
    }

    // The cases run on a worker thread so that one that never ends fails
    // the test (with its text) instead of hanging it.
    let current = Arc::new(Mutex::new(String::new()));
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    let worker = {
        let current = Arc::clone(&current);
        std::thread::spawn(move || {
            let mut rng = Rng(seed);
            let quiet = std::panic::take_hook();
            // Panics are caught and reported per case; keep their default
            // message off stderr.
            std::panic::set_hook(Box::new(|_| {}));
            for case in 0..count {
                let n = rng.below(sources.len());
                let text = mutate(&mut rng, &sources[n], &sources[1 - n]);
                *current.lock().unwrap() = text.clone();
                let result = check_one(&text, &path, &ctx).map_err(|why| {
                    format!("seed {seed}, case {case}: {why}\n--- input ---\n{text}")
                });
                if done_tx.send(result).is_err() {
                    break;
                }
            }
            std::panic::set_hook(quiet);
        })
    };
    let started = SystemTime::now();
    let mut failures = Vec::new();
    for _ in 0..count {
        match done_rx.recv_timeout(STALL) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(why),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "one input took longer than {STALL:?} (seed {seed}):\n{}",
                current.lock().unwrap()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    worker.join().expect("the worker catches every panic");
    println!(
        "{count} mutations (seed {seed}) in {:?}",
        started.elapsed().unwrap_or_default()
    );
    for f in failures.iter().take(20) {
        eprintln!("FAIL {}", f.lines().next().unwrap_or_default());
    }
    assert!(
        failures.is_empty(),
        "{} of {count} mutated oxfiles broke a rule; the first:\n{}",
        failures.len(),
        failures[0]
    );
}
