//! `oxinit check` on a file in Oxmgr's format prints its translation into
//! oxinit's own format; that translation, saved as a file, passes `check`
//! with the same plan (the round trip users rely on when they keep it).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use oxinit::api::config::{TRANSLATION_BEGIN, TRANSLATION_END};

fn check(file: &Path) -> Output {
    run(
        Command::new(bin()).args(["check", "--config"]).arg(file),
        Duration::from_secs(60),
    )
}

/// The report without the lines that name the file.
/// The plan of `check`'s report, with the file's name as FILE and without
/// line:col after it: a warning points into its own file (the Oxmgr file's
/// key, or the translation's line), and those lines differ by design.
fn plan_of(report: &str, file: &Path) -> String {
    let name = file.display().to_string();
    report
        .lines()
        .filter(|l| !l.starts_with("config:") && !l.starts_with("ok: "))
        .map(|l| match l.split_once(&format!("{name}:")) {
            Some((before, after)) => {
                let rest = after.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':');
                format!("{before}FILE:{rest}")
            }
            None => l.replace(&name, "FILE"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn check_prints_a_native_translation_that_round_trips() {
    let oxmgr = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/oxmgr/oxfile.toml");
    let out = check(&oxmgr);
    assert_eq!(out.code, ExitCode::Code(0), "{}{}", out.stdout, out.stderr);
    let begin = out
        .stdout
        .find(TRANSLATION_BEGIN)
        .expect("no translation printed");
    let end = out
        .stdout
        .find(TRANSLATION_END)
        .expect("translation not closed");
    let native = &out.stdout[begin + TRANSLATION_BEGIN.len()..end];
    assert!(
        native.contains("[processes.api]") && native.contains("[processes.worker]"),
        "{native}"
    );
    assert!(!native.contains("[[apps]]"), "{native}");
    let report = &out.stdout[end + TRANSLATION_END.len()..];

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oxfile.toml");
    std::fs::write(&file, native).unwrap();
    let again = check(&file);
    assert_eq!(
        again.code,
        ExitCode::Code(0),
        "the translation fails check:\n{native}\n{}{}",
        again.stdout,
        again.stderr
    );
    assert!(
        !again.stdout.contains(TRANSLATION_BEGIN),
        "a native file is not translated"
    );
    assert_eq!(
        plan_of(&again.stdout, &file),
        plan_of(report.trim_start(), &oxmgr)
    );
}

#[test]
fn check_names_oxmgr_keys_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oxfile.toml");
    std::fs::write(
        &file,
        "version = 1\n\n[[apps]]\nname = \"api\"\ncommand = \"node server.js\"\nwatch = true\ncluster_mode = true\n",
    )
    .unwrap();
    let out = check(&file);
    assert_eq!(out.code, ExitCode::Code(78), "{}{}", out.stdout, out.stderr);
    let path = file.display().to_string();
    assert!(
        out.stderr.contains(&format!(
            "{path}:6:1: [[apps]] watch: oxinit cannot honour Oxmgr's watch"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{path}:7:1: [[apps]] cluster_mode: oxinit cannot honour"
        )),
        "{}",
        out.stderr
    );
}
