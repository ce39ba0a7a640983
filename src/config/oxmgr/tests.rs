//! Oxmgr-format files: what they translate to, that the translation is a
//! native oxfile meaning the same, and that every problem is reported at
//! the Oxmgr key the user wrote.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::schema::{HealthCheck, RestartPolicy};
use crate::config::tests::Fixture;

const STACK: &str = r#"version = 1

[defaults]
restart_policy = "on_failure"
max_restarts = 5
stop_timeout_secs = 10
env = { NODE_ENV = "production", LOG = "info" }

[[apps]]
name = "api"
command = "node server.js --port ${PORT:-3000}"
cwd = "/srv/app"
env = { LOG = "debug" }
restart_delay_secs = 2
stop_signal = "SIGINT"
depends_on = ["worker"]
health_cmd = "curl -fsS http://127.0.0.1:3000/health"
health_interval_secs = 15
health_timeout_secs = 3
health_max_failures = 4
max_memory_mb = 512

[[apps]]
name = "worker"
command = "node worker.js"
restart_policy = "always"

[[apps]]
name = "old"
command = "node old.js"
disabled = true
"#;

#[test]
fn every_mapped_key_lands_on_the_native_model() {
    let f = Fixture::new();
    let config = f.ok(STACK);
    let names: Vec<&str> = config.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["api", "worker"], "disabled entries are left out");
    let api = config.process("api").unwrap();
    assert_eq!(api.argv, ["node", "server.js", "--port", "8080"]);
    assert_eq!(api.cwd, Some(PathBuf::from("/srv/app")));
    assert_eq!(
        api.env,
        [
            ("NODE_ENV".to_string(), "production".to_string()),
            ("LOG".to_string(), "debug".to_string())
        ],
        "env is merged key by key, the entry winning"
    );
    assert_eq!(api.restart, RestartPolicy::OnFailure);
    assert_eq!(api.max_restarts, 5);
    assert_eq!(api.restart_delay, Duration::from_secs(2));
    assert_eq!(
        api.restart_delay_max,
        Duration::from_secs(2),
        "Oxmgr's delay is fixed"
    );
    assert_eq!(api.stop_signal, Signal::SIGINT);
    assert_eq!(api.stop_timeout, Duration::from_secs(10));
    assert_eq!(api.depends_on, ["worker"]);
    let health = api.health.as_ref().unwrap();
    assert_eq!(
        health.check,
        HealthCheck::Exec {
            argv: ["curl", "-fsS", "http://127.0.0.1:3000/health"]
                .map(String::from)
                .to_vec()
        }
    );
    assert_eq!(health.interval, Duration::from_secs(15));
    assert_eq!(health.timeout, Duration::from_secs(3));
    assert_eq!(health.retries, 4);
    assert_eq!(api.limits.memory, Some(512 << 20));
    let worker = config.process("worker").unwrap();
    assert_eq!(worker.restart, RestartPolicy::Always);
    assert_eq!(worker.stop_timeout, Duration::from_secs(10));
    assert!(worker.health.is_none());
}

#[test]
fn the_translation_is_a_native_oxfile_that_means_the_same() {
    let f = Fixture::new();
    let config = f.ok(STACK);
    let native = config.translation.clone().expect("a translation");
    assert!(
        !native.contains("[[apps]]") && !native.contains("version"),
        "{native}"
    );
    assert!(native.contains("[processes.api]\n"), "{native}");
    assert!(
        native.contains("command = \"node server.js --port ${PORT:-3000}\""),
        "${{VAR}} stays unexpanded for the user to keep: {native}"
    );
    let again = f.ok(&native);
    assert!(again.translation.is_none());
    assert_eq!(again.processes, config.processes);
    assert_eq!(again.init, config.init);
    assert_eq!(again.metrics, config.metrics);
}

#[test]
fn problems_found_in_the_translation_point_at_the_oxmgr_keys() {
    let f = Fixture::new();
    let text = r#"version = 1

[defaults]
stop_signal = "SIGFOO"

[[apps]]
name = "api"
command = "node server.js"
depends_on = ["wrker"]
health_cmd = "check"
health_interval_secs = 0
"#;
    assert_eq!(
        f.problems(text),
        [
            (4, 15, "[processes.api] stop_signal: unknown signal \"SIGFOO\": use a name such as \"SIGTERM\", \"INT\", \"quit\" or a number (Oxmgr's stop_signal in [defaults])".to_string()),
            (9, 14, "[processes.api] depends_on: no process named \"wrker\"; processes: api".to_string()),
            (11, 24, "[processes.api.health] interval: must be longer than 0s (Oxmgr's health_interval_secs)".to_string()),
        ]
    );
}

#[test]
fn keys_oxinit_cannot_honour_are_errors_that_name_them() {
    let f = Fixture::new();
    let text = r#"version = 1

[defaults]
watch = true

[[apps]]
name = "api"
command = "node server.js"
cluster_mode = true
git_repo = "git@example.com:a/b.git"
comand = "typo"

[deploy.production]
host = "x"
"#;
    let problems = f.problems(text);
    let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        at,
        [(4, 1), (9, 1), (10, 1), (11, 1), (13, 2)],
        "{problems:#?}"
    );
    assert!(problems[0]
        .2
        .starts_with("[defaults] watch: oxinit cannot honour Oxmgr's watch: "));
    assert!(problems[1]
        .2
        .starts_with("[[apps]] cluster_mode: oxinit cannot honour"));
    assert!(problems[2].2.contains("git_repo"));
    assert!(
        problems[3].2.contains("did you mean \"command\"?"),
        "{}",
        problems[3].2
    );
    assert!(problems[4]
        .2
        .starts_with("Oxmgr's deploy: oxinit cannot honour it"));
}

#[test]
fn oxmgr_values_are_checked_with_their_own_names() {
    let f = Fixture::new();
    let text = r#"version = 2

[[apps]]
name = "api"
command = "x"
restart_policy = "sometimes"
stop_timeout_secs = "10"
max_memory_mb = -1

[[apps]]
command = "/usr/bin/worker --fast"

[[apps]]
name = "api"
command = "y"
"#;
    let problems = f.problems(text);
    let messages: Vec<&str> = problems.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(
        messages,
        [
            "version: Oxmgr format version 2 is not known to oxinit; only version = 1 is",
            "restart_policy: \"sometimes\" is not an Oxmgr restart policy; use \"always\", \"on_failure\" or \"never\"",
            "stop_timeout_secs: expected a whole number of seconds such as 10, found string \"10\"",
            "[[apps]] \"api\" max_memory_mb: expected a whole number of MiB such as 512, found integer -1",
            "[[apps]]: missing name; oxinit needs a name for every process: add name = \"…\" such as name = \"worker\"",
            "[[apps]] name: \"api\" is used twice (first on line 4); names must be unique",
        ]
    );
}

#[test]
fn the_format_is_told_by_apps_or_version_and_not_mixed() {
    let f = Fixture::new();
    // `version` alone makes it Oxmgr's: then there is nothing to run.
    let problems = f.problems("version = 1\n");
    assert_eq!(problems.len(), 1);
    assert!(problems[0]
        .2
        .starts_with("nothing to run: add an [[apps]] entry"));
    let problems =
        f.problems("[[apps]]\nname = \"a\"\ncommand = \"x\"\n\n[processes.b]\ncommand = \"y\"\n");
    assert_eq!((problems[0].0, problems[0].1), (5, 2));
    assert!(problems[0]
        .2
        .starts_with("[processes] is oxinit's own format, but this file is in Oxmgr's"));
    // The native format is untouched.
    assert!(f
        .ok("[processes.a]\ncommand = \"x\"\n")
        .translation
        .is_none());
}

#[test]
fn health_timing_without_health_cmd_is_a_warning() {
    let f = Fixture::new();
    let config = f.ok("[[apps]]\nname = \"a\"\ncommand = \"x\"\nhealth_interval_secs = 5\n");
    assert_eq!(config.warnings.len(), 1);
    assert_eq!((config.warnings[0].line, config.warnings[0].col), (4, 1));
    assert!(config.warnings[0]
        .message
        .contains("there is no health_cmd"));
    // From [defaults] it is how Oxmgr files are written: no warning.
    let config =
        f.ok("[defaults]\nhealth_interval_secs = 5\n[[apps]]\nname = \"a\"\ncommand = \"x\"\n");
    assert!(config.warnings.is_empty());
}

#[test]
fn odd_names_and_env_keys_are_quoted_in_the_translation() {
    let f = Fixture::new();
    let text = "[[apps]]\nname = \"my app\"\ncommand = [\"a\", \"b c\"]\nenv = { \"X.Y\" = \"1\", N = 3 }\n";
    let problems = f.problems(text);
    // The name is refused by the native rules, at the Oxmgr name.
    assert_eq!((problems[0].0, problems[0].1), (2, 8), "{problems:#?}");
    assert!(problems[0].2.contains("invalid process name \"my app\""));
}
