//! `schedule` (jobs) and `[processes.NAME.limits]`.

use std::time::Duration;

use super::*;
use crate::cgroup::Limits;

#[test]
fn a_schedule_makes_a_job() {
    let f = Fixture::new();
    let config = f.ok(r#"
[processes.migrate]
command = "x"
oneshot = true

[processes.optimize]
command = "sqlite3 /data/app.db 'PRAGMA optimize'"
schedule = "0 3 * * *"
timeout = "10m"
depends_on = ["migrate"]
stop_timeout = "5s"
oneshot = false
"#);
    let job = config.process("optimize").unwrap();
    assert_eq!(job.kind(), Kind::Job);
    assert_eq!(job.schedule.as_ref().unwrap().as_str(), "0 3 * * *");
    assert_eq!(job.timeout, Some(Duration::from_secs(600)));
    assert_eq!(job.depends_on, strings(&["migrate"]));
    // A run is never restarted and never takes the container down.
    assert_eq!(job.restart, RestartPolicy::Never);
    assert!(!job.critical);
    assert_eq!(config.process("migrate").unwrap().kind(), Kind::Oneshot);
    // Jobs sit in the levels like any process.
    assert_eq!(
        plan(&config).start_levels,
        vec![strings(&["migrate"]), strings(&["optimize"])]
    );
}

#[test]
fn job_rules() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[processes.j]
command = "x"
schedule = "@hourly"
oneshot = true
restart = "on-failure"
max_restarts = 2
critical = true
restart_delay = "1s"
"#,
    );
    let found: Vec<(usize, usize, &str)> = problems
        .iter()
        .map(|(l, c, m)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(found.len(), 5, "{found:#?}");
    assert_eq!((found[0].0, found[0].1), (4, 11));
    assert_contains(
        found[0].2,
        "[processes.j] oneshot: a scheduled job already runs to completion; remove oneshot",
    );
    assert_eq!(found[1].0, 5);
    assert_contains(
        found[1].2,
        "[processes.j] restart: a scheduled job is not restarted: after a failure it runs again at its next scheduled time; remove restart",
    );
    assert_contains(
        found[2].2,
        "[processes.j] max_restarts: a scheduled job is not restarted",
    );
    assert_contains(
        found[3].2,
        "[processes.j] critical: a job's failure never takes the container down",
    );
    assert_contains(
        found[4].2,
        "[processes.j] restart_delay: a scheduled job is not restarted",
    );

    let (_, _, message) = f.problem("[processes.j]\ncommand = \"x\"\nschedule = 3\n");
    assert_contains(
        &message,
        "[processes.j] schedule: expected a schedule such as \"0 3 * * *\", found integer 3",
    );
    let (line, col, message) = f.problem("[processes.j]\ncommand = \"x\"\nschedule = \"\"\n");
    assert_eq!((line, col), (3, 12));
    assert_contains(&message, "[processes.j] schedule: ");
}

#[test]
fn nothing_may_depend_on_a_job() {
    let f = Fixture::new();
    let (line, col, message) = f.problem(
        "[processes.backup]\ncommand = \"x\"\nschedule = \"@daily\"\n[processes.api]\ncommand = \"x\"\ndepends_on = [\"backup\"]\n",
    );
    assert_eq!((line, col), (6, 15));
    assert_contains(
        &message,
        "[processes.api] depends_on: \"backup\" is a scheduled job, and nothing can wait for a job",
    );
    // Not even another job or a oneshot.
    let problems = f.problems(
        "[processes.a]\ncommand = \"x\"\nschedule = \"@daily\"\n[processes.b]\ncommand = \"x\"\nschedule = \"@daily\"\ndepends_on = [\"a\"]\n[processes.c]\ncommand = \"x\"\noneshot = true\ndepends_on = [\"a\"]\n",
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_eq!(problems[0].0, 7);
    assert_eq!(problems[1].0, 11);
}

#[test]
fn render_shows_jobs() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.api]\ncommand = \"x\"\n[processes.optimize]\ncommand = \"x\"\nschedule = \"0 3 * * *\"\ndepends_on = [\"api\"]\n",
    );
    let text = render_check(&config);
    for piece in [
        "  1. api\n  2. optimize (job)\n",
        "stop order (reverse of boot):\n  1. optimize (job, if running)\n  2. api\n",
        "[optimize] job\n",
        "  schedule:  0 3 * * *",
        "  runs:      to completion at each scheduled time, each run with no time limit; a failed run is logged and counted, never restarted, and never stops the container\n",
        "\nstop budget: optimize 10s + api 10s + orphan_grace 2s = 22s at most\n",
        // The defaults outlast docker stop's 10s (issue 10).
        "(1 service, 0 oneshots, 1 job), 1 warning\n",
    ] {
        assert_contains(&text, piece);
    }
    assert!(
        !text.contains("[optimize] job\n  command:   x\n  restart:"),
        "{text}"
    );
}

#[test]
fn limits_are_parsed_in_every_notation() {
    let f = Fixture::new();
    let config = f.ok(r#"
[processes.a]
command = "x"
[processes.a.limits]
memory = "512M"
memory_high = "480M"
pids = 64

[processes.b]
command = "x"
oneshot = true
limits = { memory = "1G", memory_high = "64MiB" }

[processes.c]
command = "x"
schedule = "@daily"
limits = { memory = 134217728 }

[processes.d]
command = "x"
limits = { memory_high = "1GB" }
"#);
    let limits = |name: &str| config.process(name).unwrap().limits;
    assert_eq!(
        limits("a"),
        Limits {
            memory: Some(512 << 20),
            memory_high: Some(480 << 20),
            pids: Some(64),
        }
    );
    assert_eq!(
        limits("b"),
        Limits {
            memory: Some(1 << 30),
            memory_high: Some(64 << 20),
            pids: None,
        }
    );
    assert_eq!(limits("c").memory, Some(128 << 20));
    assert_eq!(limits("d").memory_high, Some(1_000_000_000));
    assert_eq!(config.process("e"), None);
    assert_eq!(ProcessSpec::new("x", vec![]).limits, Limits::default());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let text = render_check(&config);
    assert_contains(
        &text,
        "  limits:    memory 512M, memory_high 480M (cgroup v2 only), pids 64\n",
    );
    assert_contains(&text, "  limits:    memory 128M\n");
}

#[test]
fn limit_problems() {
    let f = Fixture::new();
    let (line, col, message) = f.problem(
        "[processes.a]\ncommand = \"x\"\n[processes.a.limits]\nmemory_high = \"512M\"\nmemory = \"512M\"\n",
    );
    assert_eq!((line, col), (4, 15));
    assert_contains(
        &message,
        "[processes.a.limits] memory_high: memory_high (512M) must be below memory (512M)",
    );
    let (_, _, message) = f.problem(
        "[processes.a]\ncommand = \"x\"\nlimits = { memory = \"256M\", memory_high = \"1G\" }\n",
    );
    assert_contains(&message, "memory_high (1G) must be below memory (256M)");

    for (body, expected) in [
        ("memory = \"512X\"", "[processes.a.limits] memory: invalid size \"512X\": unknown unit"),
        ("memory = \"1.5G\"", "[processes.a.limits] memory: invalid size"),
        ("memory = -1", "[processes.a.limits] memory: must be a number of bytes"),
        ("memory = 0", "[processes.a.limits] memory: 0 leaves no memory at all"),
        ("memory = true", "[processes.a.limits] memory: expected a size such as \"512M\", found boolean true"),
        ("pids = 0", "[processes.a.limits] pids: must be a whole number from 1 to 4194304"),
        ("pids = \"64\"", "[processes.a.limits] pids: expected a whole number such as 64"),
        ("memory_max = \"1G\"", "unknown key \"memory_max\" in [processes.a.limits]; did you mean \"memory\"? valid keys: memory, memory_high, pids"),
        ("cpu = 1", "unknown key \"cpu\" in [processes.a.limits]; valid keys: memory, memory_high, pids"),
    ] {
        let (line, _, message) =
            f.problem(&format!("[processes.a]\ncommand = \"x\"\n[processes.a.limits]\n{body}\n"));
        assert_eq!(line, 4, "{body}");
        assert_contains(&message, expected);
    }
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nlimits = \"512M\"\n");
    assert_contains(
        &message,
        "[processes.a] limits: expected a [processes.a.limits] table, found string",
    );
}

#[test]
fn a_tiny_memory_limit_warns() {
    let f = Fixture::new();
    let config = f.ok("[processes.a]\ncommand = \"x\"\nlimits = { memory = 512 }\n");
    assert_eq!(config.processes[0].limits.memory, Some(512));
    assert_eq!(config.warnings.len(), 1);
    assert_contains(
        &config.warnings[0].message,
        "[processes.a.limits] memory: 512 bytes is too little for almost any program to start. A bare number is bytes: did you mean \"512M\"?",
    );
    let config = f.ok("[processes.a]\ncommand = \"x\"\nlimits = { memory = \"1M\" }\n");
    assert_eq!(config.warnings.len(), 1);
    assert!(!config.warnings[0].message.contains("did you mean"));
    let config = f.ok("[processes.a]\ncommand = \"x\"\nlimits = { memory = \"4M\" }\n");
    assert!(config.warnings.is_empty());
}
