//! Supervisor mode, configuration errors: `oxinit check` and `oxinit run`
//! exit 78 (EX_CONFIG) on a bad oxfile and report every problem at once, each
//! with its position; `run` starts nothing then.
//!
//! The wording is the lead's, so the assertions are loose: the line (as
//! `file:L:C`, `line L`, ` L:C` or a `L | …` excerpt), the offending key or
//! value, "cycle", the process name.
//!
//! These need no root: `check` touches no process, and a `run` that rejects
//! its config exits before it becomes anything.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{As, Oxinit};
use supervisor::*;

const EX_CONFIG: i32 = 78;

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the oxfile"))
        + 1
}

/// Runs `oxinit <verb> --config <file>` to its exit; returns (code, stdout + stderr).
fn oxinit(verb: &str, config: &str) -> (i32, String) {
    let mut ox = Oxinit::start(As::Child, &[verb, "--config", config]);
    let code = code_of(ox.wait(DEADLINE));
    (code, format!("{}{}", ox.stdout(), ox.stderr()))
}

/// `check` rejects `toml` with 78; returns what it printed.
fn rejected(rig: &Rig, toml: &str) -> String {
    let config = rig.oxfile(toml);
    let (code, out) = oxinit("check", &config);
    assert_eq!(code, EX_CONFIG, "oxinit check exit code; output:\n{out}");
    out
}

fn assert_mentions(out: &str, what: &str, needle: &str) {
    assert!(
        out.contains(needle),
        "the report should name {what} ({needle:?}):\n{out}"
    );
}

fn assert_mentions_line(out: &str, what: &str, line: usize) {
    assert!(
        mentions_line(out, line),
        "the report should give the line ({line}) of {what}:\n{out}"
    );
}

#[test]
fn unknown_key_is_reported_with_its_line_and_the_valid_keys() {
    let rig = Rig::new();
    let toml = r#"# a comment first, so the line number is not trivially 1

[processes.api]
command = "/bin/true"
restart = "always"
stop_timout = "5s"
"#;
    let out = rejected(&rig, toml);
    assert_mentions(&out, "the unknown key", "stop_timout");
    assert_mentions_line(&out, "the unknown key", line_of(toml, "stop_timout"));
    // DESIGN.md: "reported with line and column and the list of valid keys".
    assert_mentions(&out, "a valid key", "stop_timeout");
}

#[test]
fn dependency_cycle_is_reported_naming_its_members() {
    let rig = Rig::new();
    let out = rejected(
        &rig,
        r#"[processes.alpha]
command = "/bin/true"
depends_on = ["charlie"]

[processes.bravo]
command = "/bin/true"
depends_on = ["alpha"]

[processes.charlie]
command = "/bin/true"
depends_on = ["bravo"]

[processes.delta]
command = "/bin/true"
depends_on = ["alpha"]
"#,
    );
    assert!(
        out.to_lowercase().contains("cycle"),
        "the report should say \"cycle\":\n{out}"
    );
    for name in ["alpha", "bravo", "charlie"] {
        assert_mentions(&out, "each process in the cycle", name);
    }
}

#[test]
fn bad_duration_is_reported_with_its_line_and_value() {
    let rig = Rig::new();
    let toml = r#"[processes.api]
command = "/bin/true"
restart_delay = "1s"
stop_timeout = "10x"
"#;
    let out = rejected(&rig, toml);
    assert_mentions(&out, "the bad value", "10x");
    assert_mentions_line(&out, "the bad duration", line_of(toml, "10x"));
}

#[test]
fn missing_command_is_reported_naming_the_process() {
    let rig = Rig::new();
    let out = rejected(
        &rig,
        r#"[processes.api]
command = "/bin/true"

[processes.nocmd]
restart = "always"
"#,
    );
    assert_mentions(&out, "the process", "nocmd");
    assert_mentions(&out, "the missing key", "command");
}

#[test]
fn unknown_dependency_is_reported_naming_it() {
    let rig = Rig::new();
    let out = rejected(
        &rig,
        r#"[processes.api]
command = "/bin/true"
depends_on = ["ghost"]
"#,
    );
    assert_mentions(&out, "the missing dependency", "ghost");
}

#[test]
fn bad_restart_policy_is_reported_with_its_line() {
    let rig = Rig::new();
    let toml = r#"[processes.api]
command = "/bin/true"

restart = "sometimes"
"#;
    let out = rejected(&rig, toml);
    assert_mentions(&out, "the bad value", "sometimes");
    assert_mentions_line(&out, "the bad restart policy", line_of(toml, "sometimes"));
}

#[test]
fn toml_syntax_error_is_reported_with_its_line() {
    let rig = Rig::new();
    let toml =
        "[processes.api]\ncommand = \"/bin/true\"\n\n[processes.web\ncommand = \"/bin/true\"\n";
    let out = rejected(&rig, toml);
    assert_mentions_line(&out, "the syntax error", line_of(toml, "[processes.web"));
}

/// The four problems of issue 3 in one file, each far enough apart that one
/// cannot hide another: all are reported by one `check`, and by `run`, which
/// starts nothing (the valid oneshot `canary` never runs).
#[test]
fn every_problem_is_reported_together_and_run_starts_nothing() {
    let rig = Rig::new();
    let canary = rig.oneshot("canary", 0, 0);
    let toml = format!(
        r#"[processes.canary]
command = "{canary}"
oneshot = true

[processes.api]
command = "/bin/true"
restrat = "always"

[processes.alpha]
command = "/bin/true"
depends_on = ["bravo"]

[processes.bravo]
command = "/bin/true"
depends_on = ["alpha"]

[processes.web]
command = "/bin/true"
stop_timeout = "ten seconds"

[processes.nocmd]
oneshot = true
"#
    );
    let config = rig.oxfile(&toml);
    for verb in ["check", "run"] {
        let (code, out) = oxinit(verb, &config);
        assert_eq!(code, EX_CONFIG, "oxinit {verb} exit code; output:\n{out}");
        assert_mentions(&out, "the unknown key", "restrat");
        assert_mentions_line(&out, "the unknown key", line_of(&toml, "restrat"));
        assert!(
            out.to_lowercase().contains("cycle"),
            "{verb}: no \"cycle\":\n{out}"
        );
        assert_mentions(&out, "a process in the cycle", "alpha");
        assert_mentions(&out, "the bad duration", "ten seconds");
        assert_mentions_line(&out, "the bad duration", line_of(&toml, "ten seconds"));
        assert_mentions(&out, "the process without a command", "nocmd");
    }
    assert_eq!(
        rig.count("canary", "start"),
        0,
        "a process ran although the config was rejected:\n{}",
        rig.dump()
    );
}

#[test]
fn valid_config_checks_clean_names_every_process_and_runs_nothing() {
    let rig = Rig::new();
    let canary = rig.oneshot("canary", 0, 0);
    let config = rig.oxfile(&format!(
        r#"[init]
shutdown_timeout = "30s"
orphan_grace = "2s"
log_format = "prefixed"

[processes.canary]
command = "{canary}"
oneshot = true

[processes.migrate]
command = "/bin/true"
oneshot = true
depends_on = ["canary"]
timeout = "5m"

[processes.replicator]
command = "/bin/sleep 1000"
restart = "always"
depends_on = ["migrate"]
stop_timeout = "30s"

[processes.api]
command = ["/bin/sleep", "1000"]
env = {{ PORT = "3000" }}
restart = "on-failure"
stop_signal = "SIGTERM"
stop_timeout = "15s"
restart_delay = "500ms"
restart_delay_max = "10s"
restart_reset = "1m"
max_restarts = 5
restart_window = "5m"
critical = false
depends_on = ["migrate", "replicator"]
"#
    ));
    let (code, out) = oxinit("check", &config);
    assert_eq!(code, 0, "oxinit check on a valid file; output:\n{out}");
    for name in ["canary", "migrate", "replicator", "api"] {
        assert_mentions(&out, "every process in the plan", name);
    }
    assert_eq!(
        rig.count("canary", "start"),
        0,
        "check ran a process:\n{}",
        rig.dump()
    );
}

#[test]
fn config_is_found_through_oxinit_config_then_the_working_directory() {
    let rig = Rig::new();
    // Owned, whatever `Scratch::path` returns.
    let dir = rig.scratch.path().to_path_buf();
    rig.oxfile("[processes.api]\ncommand = \"/bin/true\"\ncwd_key_typo = 1\n");
    let from_env = rig.file("from-env.toml");
    std::fs::write(
        &from_env,
        "[processes.api]\ncommand = \"/bin/true\"\nenv_key_typo = 1\n",
    )
    .expect("write config");
    let mut ox = Oxinit::start_with(
        As::Child,
        &["check"],
        &[("OXINIT_CONFIG", &from_env.display().to_string())],
        Some(dir.as_path()),
    );
    let code = code_of(ox.wait(DEADLINE));
    let out = format!("{}{}", ox.stdout(), ox.stderr());
    assert_eq!(
        code, EX_CONFIG,
        "$OXINIT_CONFIG should win over ./oxfile.toml:\n{out}"
    );
    assert_mentions(&out, "the key from $OXINIT_CONFIG's file", "env_key_typo");

    // No --config, no $OXINIT_CONFIG: ./oxfile.toml.
    let mut ox = Oxinit::start_with(As::Child, &["check"], &[], Some(dir.as_path()));
    let code = code_of(ox.wait(DEADLINE));
    let out = format!("{}{}", ox.stdout(), ox.stderr());
    assert_eq!(code, EX_CONFIG, "./oxfile.toml should be read:\n{out}");
    assert_mentions(&out, "the key from ./oxfile.toml", "cwd_key_typo");

    // --config wins over both.
    let good = rig.file("good.toml");
    std::fs::write(&good, "[processes.api]\ncommand = \"/bin/true\"\n").expect("write config");
    let good = good.display().to_string();
    let mut ox = Oxinit::start_with(
        As::Child,
        &["check", "--config", &good],
        &[("OXINIT_CONFIG", &from_env.display().to_string())],
        Some(dir.as_path()),
    );
    let code = code_of(ox.wait(DEADLINE));
    assert_eq!(
        code,
        0,
        "--config should win:\n{}{}",
        ox.stdout(),
        ox.stderr()
    );
}

#[test]
fn missing_config_file_is_a_config_error_naming_the_path() {
    let rig = Rig::new();
    let missing = rig.path("nowhere.toml");
    for verb in ["check", "run"] {
        let (code, out) = oxinit(verb, &missing);
        assert_eq!(code, EX_CONFIG, "oxinit {verb} exit code; output:\n{out}");
        assert_mentions(&out, "the missing file", "nowhere.toml");
    }
}

#[test]
fn mentions_line_matches_common_position_formats_only() {
    assert!(mentions_line("oxfile.toml:7:3: unknown key", 7));
    assert!(mentions_line("TOML parse error at line 7, column 1", 7));
    assert!(mentions_line("at 7:1", 7));
    assert!(mentions_line("  |\n7 | stop_timout = 1\n", 7));
    assert!(!mentions_line("TOML parse error at line 17, column 1", 7));
    assert!(!mentions_line("line 70", 7));
    assert!(!mentions_line("oxfile.toml:17:3", 7));
    assert!(!mentions_line("2026-01-05T12:07:05 took 7 seconds", 7));
    assert!(!mentions_line("12:14:33", 14));
}

/// Issue 10 point 6: what does not resolve on this machine — a user, a
/// command, a `cwd` — is a warning for `check` (it often runs outside the
/// image) that says to check inside the image, an error with `--strict`, and
/// for `run` an unknown user is still a config error (78): there is no uid to
/// run it as, so nothing starts.
#[test]
fn check_warns_about_what_does_not_resolve_here_and_strict_refuses_it() {
    let rig = Rig::new();
    let app = rig.service("app", 0);
    let toml = format!(
        r#"{INIT}
[processes.api]
command = "oxinit-test-no-such-program --port 80"
stop_timeout = "1s"
[processes.worker]
command = "{app}"
cwd = "{nowhere}"
stop_timeout = "1s"
[processes.backup]
command = "{app}"
user = "oxinit-test-no-such-user"
stop_timeout = "1s"
"#,
        nowhere = rig.path("no-such-dir")
    );
    let config = rig.oxfile(&toml);
    // As written, with the harness's control_socket line.
    let written = std::fs::read_to_string(&config).unwrap();
    let (code, out) = oxinit("check", &config);
    assert_eq!(code, 0, "check exit code; output:\n{out}");
    for (what, needle) in [
        ("the command", "oxinit-test-no-such-program"),
        ("the cwd", "no-such-dir"),
        ("the user", "oxinit-test-no-such-user"),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(needle) && l.contains("RUN [\"oxinit\", \"check\""))
            .unwrap_or_else(|| {
                panic!("no warning about {what} saying to check in the image:\n{out}")
            });
        assert_mentions_line(line, what, line_of(&written, needle));
    }
    // (The stop_timeouts keep the stop budget inside every platform's grace,
    // so the three lookups are the only warnings.)
    assert_mentions(&out, "the count", "3 warnings");

    let mut ox = Oxinit::start(As::Child, &["check", "--strict", "--config", &config]);
    let code = code_of(ox.wait(DEADLINE));
    let out = format!("{}{}", ox.stdout(), ox.stderr());
    assert_eq!(code, EX_CONFIG, "check --strict exit code; output:\n{out}");
    assert_mentions(&out, "the count", "3 problems");

    let (code, out) = oxinit("run", &config);
    assert_eq!(code, EX_CONFIG, "run exit code; output:\n{out}");
    assert_mentions(&out, "the user", "oxinit-test-no-such-user");
    assert!(!out.contains("started"), "run started something:\n{out}");
}
