//! Inputs PID 1 cannot trust (issue #15): env files that are not files, or
//! too big, or hold secrets on malformed lines; NUL bytes; durations that
//! overflow a protocol; files whose cost would grow faster than their size.

use std::sync::mpsc;
use std::thread;

use super::*;

/// Parses `text` on another thread and gives up after a generous deadline,
/// so a regression that blocks (a FIFO) fails the test instead of hanging it.
fn parse_within(f: &Fixture, text: &str) -> Result<Config, ConfigError> {
    let (tx, rx) = mpsc::channel();
    let (text, path, ctx) = (text.to_string(), f.oxfile(), f.ctx.clone());
    thread::spawn(move || {
        let _ = tx.send(parse_str(&text, &path, &ctx));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("parsing blocked for 60 s: the env file was read as if it would end")
}

fn messages(result: Result<Config, ConfigError>) -> Vec<(usize, usize, String)> {
    match result {
        Err(ConfigError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.line, p.col, p.message))
            .collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn malformed_env_file_lines_name_file_line_and_key_never_the_value() {
    let f = Fixture::new();
    f.write(
        "secrets.env",
        concat!(
            "SECRET_TOKEN: s3cr3t-colon\n",          // 1: YAML habit
            "OK=fine\n",                             // 2
            "PRIVATE_KEY=\"-----BEGIN s3cr3t-pem\n", // 3: a multi-line value…
            "MIIEs3cr3t+base64/line==\n",            // 4: …whose lines follow
            "s3cr3t-end-----\"\n",                   // 5
            "AKIAS3CR3TEXAMPLE\n",                   // 6: a bare token
            "QUOTED=\"x\" s3cr3t-after-quote\n",     // 7
            "SINGLE='s3cr3t-unclosed\n",             // 8
            "API_KEY s3cr3t-space\n",                // 9: not YAML: not shown
            "=s3cr3t-no-name\n",                     // 10
        ),
    );
    let problems = f.problems("[processes.a]\ncommand = \"x\"\nenv_file = \"secrets.env\"\n");
    let file = std::path::absolute(f.dir.path().join("secrets.env")).unwrap();
    let lines: Vec<usize> = problems
        .iter()
        .map(|(_, _, m)| {
            let rest = m
                .strip_prefix(&format!("[processes.a] env_file: {}:", file.display()))
                .unwrap_or_else(|| panic!("names neither key nor file: {m}"));
            rest.split(':').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(lines, vec![1, 3, 4, 5, 6, 7, 8, 9, 10], "{problems:#?}");
    for (_, _, message) in &problems {
        let lower = message.to_ascii_lowercase();
        assert!(!lower.contains("s3cr3t"), "a value leaked: {message}");
    }
    let with_key = |line: usize, key: &str| {
        let message = &problems[lines.iter().position(|&l| l == line).unwrap()].2;
        assert_contains(message, &format!("{}:{line}: {key}: ", file.display()));
    };
    with_key(1, "SECRET_TOKEN");
    with_key(3, "PRIVATE_KEY");
    with_key(7, "QUOTED");
    with_key(8, "SINGLE");
    assert_contains(&problems[0].2, "write SECRET_TOKEN=VALUE");
    assert_contains(&problems[1].2, "a value cannot span lines");
    // The base64 line splits at its "=" padding into a "key" that is no name.
    assert_contains(
        &problems[2].2,
        "not a valid variable name: character 11 of the name before \"=\" is \"+\"",
    );
    assert_contains(&problems[4].2, "${NAME}");
    assert_contains(&problems[8].2, "there is no name before \"=\"");
}

#[test]
fn env_file_must_be_a_regular_file() {
    let f = Fixture::new();
    let fifo = f.dir.path().join("pipe.env");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::create_dir(f.dir.path().join("dir.env")).unwrap();
    let text = "[processes.a]\ncommand = \"x\"\nenv_file = \"pipe.env\"\n\
                [processes.b]\ncommand = \"x\"\nenv_file = \"/dev/zero\"\n\
                [processes.c]\ncommand = \"x\"\nenv_file = \"dir.env\"\n";
    let problems = messages(parse_within(&f, text));
    assert_eq!(problems.len(), 3, "{problems:#?}");
    let fifo = std::path::absolute(&fifo).unwrap();
    assert_eq!((problems[0].0, problems[0].1), (3, 12));
    assert_contains(
        &problems[0].2,
        &format!(
            "[processes.a] env_file: {} is a named pipe (FIFO); env_file must name a regular file",
            fifo.display()
        ),
    );
    assert_contains(
        &problems[1].2,
        "[processes.b] env_file: /dev/zero is a character device",
    );
    assert_contains(&problems[2].2, "dir.env is a directory");
}

#[test]
fn env_file_has_a_size_cap() {
    let f = Fixture::new();
    let cap = envfile::MAX_ENV_FILE as usize;
    let line = "K=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\n";
    let mut at_cap = line.repeat(cap / line.len());
    at_cap.push_str(&"#".repeat(cap - at_cap.len()));
    assert_eq!(at_cap.len(), cap);
    f.write("at_cap.env", &at_cap);
    f.write("over.env", &format!("{at_cap}\n"));
    let config = f.ok("[processes.a]\ncommand = \"x\"\nenv_file = \"at_cap.env\"\n");
    assert_eq!(config.processes[0].env.len(), 1);
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nenv_file = \"over.env\"\n");
    assert_contains(&message, "over.env is larger than 1024 KiB");
}

#[test]
fn an_env_file_that_is_not_utf8_says_where() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("latin1.env"), b"A=1\nB=caf\xe9\n").unwrap();
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nenv_file = \"latin1.env\"\n");
    assert_contains(
        &message,
        "latin1.env is not UTF-8 text (line 2 holds bytes that are not)",
    );
}

#[test]
fn nul_bytes_are_config_errors_at_their_position() {
    let f = Fixture::new();
    f.write("nul.env", "A=1\nB=x\0y\n");
    let text = r#"[init]
control_socket = "/run/ox\u0000.sock"
[sqlite]
databases = ["/data/ok.db", "/data/a\u0000.db"]
[processes.a]
command = "run\u0000 arg"
cwd = "/srv\u0000"
env = { OK = "1", BAD = "x\u0000" }
[processes.b]
command = ["run", "a\u0000"]
env_file = "nul.env"
[processes.c]
command = "x ${NOPE:-a\u0000b}"
[processes.c.health]
type = "exec"
command = ["check", "\u0000"]
"#;
    let problems = f.problems(text);
    let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        at,
        vec![
            (2, 18),
            (4, 29),
            (6, 11),
            (7, 7),
            (8, 25),
            (10, 19),
            (11, 12),
            (13, 11),
            (16, 21)
        ],
        "{problems:#?}"
    );
    for (what, (_, _, message)) in [
        "[init] control_socket",
        "[sqlite] databases",
        "[processes.a] command",
        "[processes.a] cwd",
        "[processes.a] env.BAD",
        "[processes.b] command",
    ]
    .iter()
    .zip(&problems)
    {
        assert_contains(message, &format!("{what}: holds a NUL byte"));
    }
    assert_contains(&problems[6].2, "nul.env:2: B: the value holds a NUL byte");
    assert_contains(&problems[7].2, "[processes.c] command: holds a NUL byte");
    assert_contains(
        &problems[8].2,
        "[processes.c.health] command: holds a NUL byte",
    );
}

#[test]
fn watchdog_is_capped_where_watchdog_usec_and_clients_still_hold_it() {
    let f = Fixture::new();
    let text = |watchdog: &str| {
        format!("[processes.a]\ncommand = \"x\"\n[processes.a.health]\ntype = \"notify\"\nwatchdog = \"{watchdog}\"\n")
    };
    let config = f.ok(&text("24h"));
    assert!(matches!(
        config.processes[0].health.as_ref().unwrap().check,
        HealthCheck::Notify { watchdog: Some(w) } if w == Duration::from_secs(86_400)
    ));
    // The longest duration oxfile.toml can spell: its µs overflow a u64.
    for long in ["24h1ms", "18446744073709551615ms"] {
        let (line, col, message) = f.problem(&text(long));
        assert_eq!((line, col), (5, 12));
        assert_contains(
            &message,
            "[processes.a.health] watchdog: must be at most 24h",
        );
    }
}

#[test]
fn unknown_dependency_hints_list_a_few_names_not_all() {
    let f = Fixture::new();
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("[processes.p{i}]\ncommand = \"x\"\n"));
    }
    text.push_str("[processes.last]\ncommand = \"x\"\ndepends_on = [\"zzzzzzzz\"]\n");
    let (_, _, message) = f.problem(&text);
    assert_contains(
        &message,
        "no process named \"zzzzzzzz\"; processes: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, … (31 in all)",
    );
}

#[test]
fn columns_stay_right_when_problems_share_a_line_or_come_out_of_order() {
    let f = Fixture::new();
    // Three bad keys on one line (é is one character, two bytes), then a
    // problem on an earlier line found after them (the cross-key rule).
    let text = "[processes.a]\ncommand = \"x\"\nrestart_delay = \"5s\"\nrestart_delay_max = \"1s\"\nenv = { \"1A\" = \"é\", \"2B\" = \"é\", \"3C\" = \"1\" }\n";
    let problems = f.problems(text);
    let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(at, vec![(4, 21), (5, 9), (5, 21), (5, 33)], "{problems:#?}");
}

#[test]
fn did_you_mean_is_offered_for_the_first_20_misspelt_names_only() {
    // Each suggestion compares one name with every process: past 20
    // distinct misspellings that would cost errors x processes.
    let f = Fixture::new();
    let mut text = String::new();
    for i in 0..21 {
        text.push_str(&format!(
            "[processes.worker{i}]\ncommand = \"x\"\n[processes.user{i}]\ncommand = \"x\"\ndepends_on = [\"workr{i}\"]\n"
        ));
    }
    // The same misspelling again reuses its hint.
    text.push_str("[processes.again]\ncommand = \"x\"\ndepends_on = [\"workr0\"]\n");
    let problems = f.problems(&text);
    assert_eq!(problems.len(), 22);
    let suggested = problems
        .iter()
        .filter(|p| p.2.contains("did you mean"))
        .count();
    assert_eq!(suggested, 21, "{problems:#?}");
    assert_contains(
        &problems[0].2,
        "no process named \"workr0\"; did you mean \"worker0\"?",
    );
    assert_contains(
        &problems[20].2,
        "no process named \"workr20\"; processes: worker0, user0,",
    );
    assert_contains(
        &problems[21].2,
        "no process named \"workr0\"; did you mean \"worker0\"?",
    );
}
