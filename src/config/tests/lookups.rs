//! Users, commands and cwds that do not resolve on this machine: errors for
//! `run`, warnings for `check` (saying to check inside the image), errors for
//! `check --strict` (issue 10 point 6).

use super::*;

/// A fixture whose lookups are judged as `lookups` says.
fn fixture(lookups: Lookups) -> Fixture {
    let mut f = Fixture::new();
    f.ctx.lookups = lookups;
    f.ctx.env.insert("PATH".into(), "/usr/bin:/bin".into());
    f
}

const ABSENT: &str = r#"
[processes.api]
command = "oxinit-test-no-such-program --port 80"
cwd = "/nonexistent/srv"
[processes.worker]
command = "/bin/sh -c true"
user = "www"
"#;

#[test]
fn run_refuses_an_unknown_user_and_leaves_commands_and_cwds_to_the_start() {
    let f = fixture(Lookups::Run);
    let problems = f.problems(ABSENT);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let (line, _, message) = &problems[0];
    assert_eq!(*line, 7);
    assert_contains(message, "user \"www\" not found in");
}

#[test]
fn check_warns_about_each_one_and_says_to_check_inside_the_image() {
    let f = fixture(Lookups::Check);
    let config = f.ok(ABSENT);
    let warnings: Vec<(usize, &str)> = config
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    // api: its cwd is missing (its command is then not looked up in it).
    assert_eq!(warnings[0].0, 4);
    assert_contains(warnings[0].1, "/nonexistent/srv is not a directory");
    assert_eq!(warnings[1].0, 7);
    assert_contains(warnings[1].1, "user \"www\" not found in");
    for (_, message) in &warnings {
        assert_contains(message, r#"RUN ["oxinit", "check", "--strict"]"#);
    }
}

#[test]
fn check_warns_about_a_command_missing_from_path_or_not_executable() {
    let f = fixture(Lookups::Check);
    f.write("plain.sh", "#!/bin/sh\n");
    let config = f.ok(r#"
[processes.api]
command = "oxinit-test-no-such-program --port 80"
[processes.plain]
command = "./plain.sh"
[processes.found]
command = ["sh", "-c", "true"]
[processes.own_path]
command = "sh"
env = { PATH = "/nonexistent" }
"#);
    let messages: Vec<&str> = config.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_contains(
        messages[0],
        "\"oxinit-test-no-such-program\" is not found in $PATH (/usr/bin:/bin)",
    );
    assert_contains(messages[0], "127");
    assert_contains(messages[1], "plain.sh is not an executable file");
    assert_contains(messages[1], "126");
    // The child's own PATH is the one searched.
    assert_contains(messages[2], "\"sh\" is not found in $PATH (/nonexistent)");
}

#[test]
fn check_strict_makes_them_errors() {
    let f = fixture(Lookups::Strict);
    let problems = f.problems(ABSENT);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_contains(&problems[0].2, "/nonexistent/srv is not a directory");
    assert_contains(&problems[1].2, "user \"www\" not found in");
}

#[test]
fn a_malformed_user_is_an_error_even_for_check() {
    let f = fixture(Lookups::Check);
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"/bin/sh\"\nuser = \"node:\"\n");
    assert_contains(&message, "empty group");
}
