//! Whole-file tests: oxfile text in, `Config` or problems out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::schema::UserSpec;
use super::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n";
const GROUP: &str = "root:x:0:\nnode:x:1000:\nstaff:x:50:node\n";

/// A temp dir holding the oxfile's directory and a fake /etc (also used by
/// the Oxmgr-format tests).
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    ctx: LoadContext,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("passwd"), PASSWD).unwrap();
        std::fs::write(etc.join("group"), GROUP).unwrap();
        let env: BTreeMap<String, String> = [
            ("HOME", "/root"),
            ("PORT", "8080"),
            ("GREETING", "hello world"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Fixture {
            ctx: LoadContext {
                env,
                etc_dir: etc,
                lookups: Default::default(),
            },
            dir,
        }
    }

    fn oxfile(&self) -> PathBuf {
        self.dir.path().join("oxfile.toml")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    pub(super) fn parse(&self, text: &str) -> Result<Config, ConfigError> {
        parse_str(text, &self.oxfile(), &self.ctx)
    }

    pub(super) fn ok(&self, text: &str) -> Config {
        match self.parse(text) {
            Ok(config) => config,
            Err(e) => panic!("expected a valid config, got:\n{e}"),
        }
    }

    /// The problems as (line, col, message).
    pub(super) fn problems(&self, text: &str) -> Vec<(usize, usize, String)> {
        match self.parse(text) {
            Ok(config) => panic!("expected problems, got {config:#?}"),
            Err(ConfigError::Invalid { problems, .. }) => problems
                .into_iter()
                .map(|p| (p.line, p.col, p.message))
                .collect(),
            Err(other) => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// The single problem of `text`.
    fn problem(&self, text: &str) -> (usize, usize, String) {
        let mut problems = self.problems(text);
        assert_eq!(problems.len(), 1, "expected one problem: {problems:#?}");
        problems.remove(0)
    }
}

fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults() {
    let f = Fixture::new();
    let config = f.ok("[processes.api]\ncommand = \"node server.js\"\n");
    assert_eq!(config.init, InitSettings::default());
    assert_eq!(config.init.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(config.init.orphan_grace, Duration::from_secs(2));
    assert_eq!(config.init.log_format, LogFormat::Prefixed);
    assert!(config.warnings.is_empty());
    let api = &config.processes[0];
    assert_eq!(
        *api,
        ProcessSpec {
            name: "api".into(),
            argv: strings(&["node", "server.js"]),
            cwd: None,
            env: vec![],
            user: None,
            restart: RestartPolicy::Always,
            restart_delay: Duration::from_secs(1),
            restart_delay_max: Duration::from_secs(30),
            restart_reset: Duration::from_secs(60),
            max_restarts: 10,
            restart_window: Duration::from_secs(300),
            critical: true,
            stop_signal: Signal::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(60),
            depends_on: vec![],
            oneshot: false,
            timeout: None,
            health: None,
            limits: crate::cgroup::Limits::default(),
            schedule: None,
            replicator: None,
            log_buffer_lines: None,
            log_buffer_bytes: None,
            listen: vec![],
            backlog: 4096,
            when: vec![],
        }
    );
    assert_eq!(api.kind(), Kind::Service);
}

#[test]
fn every_key_is_parsed() {
    let f = Fixture::new();
    f.write("api.env", "FROM_FILE=1\nSHARED=file\n");
    let config = f.ok(r#"
[init]
shutdown_timeout = "45s"
orphan_grace = "500ms"
log_format = "json"

[processes.setup]
command = ["./setup", "--fast"]
oneshot = true
timeout = "2m"
stop_signal = "INT"
stop_timeout = "3s"

[processes.api]
command = "node server.js"
cwd = "/srv/app"
env = { SHARED = "env", PORT = "3000" }
env_file = "api.env"
user = "node"
restart = "on-failure"
restart_delay = "2s"
restart_delay_max = "1m"
restart_reset = "2m"
max_restarts = 4
restart_window = "10m"
critical = false
stop_signal = "SIGQUIT"
stop_timeout = "20s"
depends_on = ["setup"]
oneshot = false
"#);
    assert_eq!(
        config.init,
        InitSettings {
            shutdown_timeout: Duration::from_secs(45),
            orphan_grace: Duration::from_millis(500),
            log_format: LogFormat::Json,
            control_socket: None,
            memory_enforcement: crate::cgroup::Requested::Auto,
            log_buffer_lines: 1000,
            log_buffer_bytes: 1 << 20,
        }
    );
    let setup = config.process("setup").unwrap();
    assert_eq!(setup.argv, strings(&["./setup", "--fast"]));
    assert!(setup.oneshot);
    assert_eq!(setup.restart, RestartPolicy::Never);
    assert_eq!(setup.timeout, Some(Duration::from_secs(120)));
    assert_eq!(setup.stop_signal, Signal::SIGINT);
    assert_eq!(setup.stop_timeout, Duration::from_secs(3));

    let api = config.process("api").unwrap();
    assert_eq!(api.cwd.as_deref(), Some(Path::new("/srv/app")));
    assert_eq!(
        api.env,
        vec![
            ("FROM_FILE".to_string(), "1".to_string()),
            ("SHARED".to_string(), "env".to_string()),
            ("PORT".to_string(), "3000".to_string()),
        ]
    );
    let user = api.user.as_ref().unwrap();
    assert_eq!(
        (user.uid, user.gid, user.groups.clone()),
        (1000, 1000, vec![1000, 50])
    );
    assert_eq!(user.home.as_deref(), Some(Path::new("/home/node")));
    assert_eq!(api.restart, RestartPolicy::OnFailure);
    assert_eq!(api.restart_delay, Duration::from_secs(2));
    assert_eq!(api.restart_delay_max, Duration::from_secs(60));
    assert_eq!(api.restart_reset, Duration::from_secs(120));
    assert_eq!(api.max_restarts, 4);
    assert_eq!(api.restart_window, Duration::from_secs(600));
    assert!(!api.critical);
    assert_eq!(api.stop_signal, Signal::SIGQUIT);
    assert_eq!(api.stop_timeout, Duration::from_secs(20));
    assert_eq!(api.depends_on, strings(&["setup"]));
    assert!(!api.oneshot);
    assert_eq!(api.timeout, None);
    // File order is kept.
    let names: Vec<&str> = config.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["setup", "api"]);
}

#[test]
fn all_problems_are_reported_at_once_with_positions() {
    let f = Fixture::new();
    let text = r#"[processes.a]
command = "a"
depends_on = ["b"]
comand = "typo"

[processes.b]
command = "b"
depends_on = ["a"]
stop_timeout = "10"

[processes.c]
cwd = "/"
"#;
    let problems = f.problems(text);
    let positions: Vec<(usize, usize)> = problems.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        positions,
        vec![(3, 15), (4, 1), (9, 16), (11, 12)],
        "{problems:#?}"
    );
    assert_contains(&problems[0].2, "dependency cycle a -> b -> a");
    assert_contains(&problems[1].2, "unknown key \"comand\" in [processes.a]");
    assert_contains(
        &problems[2].2,
        "[processes.b] stop_timeout: a duration needs a unit",
    );
    assert_contains(&problems[3].2, "[processes.c]: missing command");

    let rendered = f.parse(text).unwrap_err().to_string();
    let path = f.oxfile().display().to_string();
    assert_contains(
        &rendered,
        &format!("{path}:3:15: [processes.a] depends_on: dependency cycle"),
    );
    assert_contains(&rendered, &format!("{path}:4:1: unknown key"));
    assert!(
        rendered.ends_with(&format!("\n4 problems in {path}")),
        "{rendered}"
    );
}

#[test]
fn unknown_keys_list_the_valid_ones_and_suggest() {
    let f = Fixture::new();
    let (line, col, message) = f.problem("[processes.api]\ncomand = \"x\"\ncommand = \"x\"\n");
    assert_eq!((line, col), (2, 1));
    assert_contains(
        &message,
        "unknown key \"comand\" in [processes.api]; did you mean \"command\"?",
    );
    assert_contains(
        &message,
        "valid keys: command, cwd, env, env_file, user, restart,",
    );
    assert_contains(&message, "depends_on, oneshot, timeout");

    let (_, _, message) = f.problem("[processes.api]\ncmd = \"x\"\ncommand = \"x\"\n");
    assert_contains(&message, "did you mean \"command\"?");
    let (_, _, message) = f.problem("[processes.api]\nimage = \"x\"\ncommand = \"x\"\n");
    assert!(!message.contains("did you mean"), "{message}");

    let (_, _, message) =
        f.problem("[init]\nlog_fromat = \"raw\"\n[processes.a]\ncommand = \"x\"\n");
    assert_contains(
        &message,
        "unknown key \"log_fromat\" in [init]; did you mean \"log_format\"?",
    );
    assert_contains(
        &message,
        "valid keys: shutdown_timeout, orphan_grace, log_format",
    );

    let (line, col, message) =
        f.problem("[proceses.a]\ncommand = \"x\"\n[processes.b]\ncommand = \"x\"\n");
    assert_eq!((line, col), (1, 2));
    assert_contains(
        &message,
        "unknown key \"proceses\" in the top level; did you mean \"processes\"?",
    );
}

#[test]
fn wrong_types_are_located() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[processes.api]
command = 42
oneshot = "yes"
critical = 1
max_restarts = -1
env = "PORT=3000"
depends_on = "db"
cwd = ["/srv"]
user = true
restart = 1
stop_signal = 1.5
"#,
    );
    let found: Vec<(usize, usize, &str)> = problems
        .iter()
        .map(|(l, c, m)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(found.len(), 10, "{found:#?}");
    assert_eq!((found[0].0, found[0].1), (2, 11));
    assert_contains(
        found[0].2,
        "[processes.api] command: expected a string or an array of strings, found integer 42",
    );
    assert_contains(
        found[1].2,
        "[processes.api] oneshot: expected true or false, found string \"yes\"",
    );
    assert_contains(
        found[2].2,
        "[processes.api] critical: expected true or false, found integer 1",
    );
    assert_contains(
        found[3].2,
        "[processes.api] max_restarts: must be a whole number from 0",
    );
    assert_contains(found[4].2, "[processes.api] env: expected a table");
    assert_contains(found[5].2, "write depends_on = [\"db\"]");
    assert_contains(
        found[6].2,
        "[processes.api] cwd: expected a string, found array",
    );
    assert_contains(found[7].2, "[processes.api] user: expected a user name");
    assert_contains(found[8].2, "[processes.api] restart: expected \"always\"");
    assert_contains(found[9].2, "[processes.api] stop_signal: expected a signal");
    let top = f.problem("processes = [\"a\"]\n");
    assert_contains(
        &top.2,
        "processes: expected [processes.NAME] tables, found array",
    );
    let not_table = f.problem("[processes]\napi = \"node\"\n");
    assert_eq!((not_table.0, not_table.1), (2, 7));
    assert_contains(
        &not_table.2,
        "processes.api: expected a [processes.NAME] table, found string",
    );
}

#[test]
fn toml_syntax_errors_have_positions() {
    let f = Fixture::new();
    let (line, col, message) =
        f.problem("[processes.api]\ncommand = \"node\nrestart = \"always\"\n");
    assert_eq!(line, 2, "{message}");
    assert!(col >= 11, "col {col}: {message}");
    assert_contains(&message, "invalid TOML");
    let (line, _, message) = f.problem("[processes.api]\ncommand = \"x\"\ncommand = \"y\"\n");
    assert_eq!(line, 3);
    assert_contains(&message, "duplicate key");
}

#[test]
fn durations_need_units_and_quotes() {
    let f = Fixture::new();
    let problems = f.problems(
        "[init]\nshutdown_timeout = 30\norphan_grace = \"2\"\n[processes.a]\ncommand = \"x\"\nrestart_delay = \"1.5s\"\n",
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!((problems[0].0, problems[0].1), (2, 20));
    assert_contains(
        &problems[0].2,
        "[init] shutdown_timeout: a duration needs a unit and quotes: write \"30s\"",
    );
    assert_contains(
        &problems[1].2,
        "[init] orphan_grace: a duration needs a unit: write \"2s\"",
    );
    assert_contains(
        &problems[2].2,
        "[processes.a] restart_delay: invalid duration \"1.5s\"",
    );
    let (_, _, message) =
        f.problem("[init]\nlog_format = \"text\"\n[processes.a]\ncommand = \"x\"\n");
    assert_contains(
        &message,
        "\"text\" is not a log format; use \"prefixed\", \"raw\" or \"json\"",
    );
    let config = f.ok("[init]\nlog_format = \"raw\"\n[processes.a]\ncommand = \"x\"\n");
    assert_eq!(config.init.log_format, LogFormat::Raw);
}

#[test]
fn string_commands_split_like_a_shell_and_expand_per_word() {
    let f = Fixture::new();
    let config = f.ok(r#"
[processes.a]
command = "greet '${GREETING}' --port ${PORT} --home=${HOME} ${MISSING:-fallback value} $$HOME $HOME 'two words'"
"#);
    assert_eq!(
        config.processes[0].argv,
        strings(&[
            "greet",
            "hello world",
            "--port",
            "8080",
            "--home=/root",
            "fallback value",
            "$HOME",
            "$HOME",
            "two words"
        ])
    );
    // Unquoted, a value with spaces still stays one argument.
    let config = f.ok("[processes.a]\ncommand = \"echo ${GREETING}\"\n");
    assert_eq!(config.processes[0].argv, strings(&["echo", "hello world"]));
}

#[test]
fn array_commands_are_taken_as_written() {
    let f = Fixture::new();
    let config = f.ok("[processes.a]\ncommand = [\"sh\", \"-c\", \"echo ${PORT} $PORT | cat\"]\n");
    assert_eq!(
        config.processes[0].argv,
        strings(&["sh", "-c", "echo 8080 $PORT | cat"])
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let (line, col, message) = f.problem("[processes.a]\ncommand = [\"x\", 1]\n");
    assert_eq!((line, col), (2, 17));
    assert_contains(
        &message,
        "expected a string in the command array, found integer 1",
    );
}

#[test]
fn bad_commands_are_errors() {
    let f = Fixture::new();
    for (command, expected) in [
        ("\"\"", "the command is empty"),
        ("\"   \"", "the command is empty"),
        ("[]", "the command is empty"),
        ("\"echo 'oops\"", "unbalanced quotes"),
        ("\"'' arg\"", "the program name (first word) is empty"),
        (
            "\"run ${NOPE}\"",
            "${NOPE} is not set in oxinit's environment",
        ),
        ("\"run ${NOPE\"", "is not closed"),
    ] {
        let text = format!("[processes.web]\ncommand = {command}\n");
        let (line, col, message) = f.problem(&text);
        assert_eq!((line, col), (2, 11), "{command}: {message}");
        assert_contains(&message, "[processes.web] command: ");
        assert_contains(&message, expected);
    }
}

#[test]
fn shell_syntax_in_a_string_command_warns() {
    let f = Fixture::new();
    let config = f.ok("[processes.a]\ncommand = \"node server.js | tee log\"\n");
    assert_eq!(config.warnings.len(), 1);
    let warning = &config.warnings[0];
    assert_eq!((warning.line, warning.col), (2, 11));
    assert_contains(&warning.message, "[processes.a] command: \"|\"");
    assert_contains(&warning.message, "runs without a shell");
    assert_contains(
        &warning.message,
        r#"wrap it: command = ["sh", "-c", "node server.js | tee log"]"#,
    );
    for command in [
        "migrate && serve",
        "serve > /tmp/log",
        "echo $(date)",
        "a; b",
        "serve &",
    ] {
        let config = f.ok(&format!("[processes.a]\ncommand = \"{command}\"\n"));
        assert_eq!(config.warnings.len(), 1, "{command}");
    }
    for command in [
        "sh -c 'a | b'",
        "/bin/bash -ec 'a && b'",
        "grep 'a|b' f",
        "node server.js",
    ] {
        let config = f.ok(&format!("[processes.a]\ncommand = \"{command}\"\n"));
        assert!(
            config.warnings.is_empty(),
            "{command}: {:?}",
            config.warnings
        );
    }
}

#[test]
fn cwd_is_expanded_and_made_absolute() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.a]\ncommand = \"x\"\ncwd = \"./app\"\n[processes.b]\ncommand = \"x\"\ncwd = \"${HOME}/b\"\n[processes.c]\ncommand = \"x\"\ncwd = \"../up\"\n",
    );
    let base = std::path::absolute(f.dir.path()).unwrap();
    assert_eq!(config.processes[0].cwd, Some(base.join("app")));
    assert_eq!(config.processes[1].cwd, Some(PathBuf::from("/root/b")));
    assert_eq!(config.processes[2].cwd, Some(base.join("../up")));
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\ncwd = \"${NOWHERE}\"\n");
    assert_contains(&message, "[processes.a] cwd: ${NOWHERE} is not set");
}

#[test]
fn env_is_expanded_validated_and_wins_over_env_file() {
    let f = Fixture::new();
    f.write(
        ".env",
        "# secrets\nexport A=from_file\nB=\"x ${HOME}\"\nC=file\n",
    );
    let config = f.ok(
        "[processes.a]\ncommand = \"x\"\nenv = { C = \"${PORT}\", D = 5, E = true, F = \"$${HOME}\" }\nenv_file = \".env\"\n",
    );
    assert_eq!(
        config.processes[0].env,
        vec![
            ("A".to_string(), "from_file".to_string()),
            // env_file values are not expanded.
            ("B".to_string(), "x ${HOME}".to_string()),
            ("C".to_string(), "8080".to_string()),
            ("D".to_string(), "5".to_string()),
            ("E".to_string(), "true".to_string()),
            ("F".to_string(), "${HOME}".to_string()),
        ]
    );
    let problems = f.problems(
        "[processes.a]\ncommand = \"x\"\nenv = { \"BAD-NAME\" = \"1\", OK = \"${UNSET_VAR}\", L = [1] }\n",
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!((problems[0].0, problems[0].1), (3, 9));
    assert_contains(
        &problems[0].2,
        "[processes.a] env: \"BAD-NAME\" is not a valid variable name",
    );
    assert_contains(
        &problems[1].2,
        "[processes.a] env.OK: ${UNSET_VAR} is not set",
    );
    assert_contains(
        &problems[2].2,
        "[processes.a] env.L: expected a string, found array",
    );
    // Columns count characters, not bytes.
    let (line, col, _) =
        f.problem("[processes.a]\ncommand = \"x\"\nenv = { X = \"é\", \"B-\" = \"1\" }\n");
    assert_eq!((line, col), (3, 18));
}

#[test]
fn env_file_path_is_expanded_relative_to_the_oxfile() {
    let f = Fixture::new();
    std::fs::create_dir(f.dir.path().join("conf")).unwrap();
    f.write("conf/8080.env", "X=1\n");
    let config = f.ok("[processes.a]\ncommand = \"x\"\nenv_file = \"conf/${PORT}.env\"\n");
    assert_eq!(
        config.processes[0].env,
        vec![("X".to_string(), "1".to_string())]
    );
}

#[test]
fn env_file_problems_name_the_file_and_line() {
    let f = Fixture::new();
    let (line, col, message) =
        f.problem("[processes.a]\ncommand = \"x\"\nenv_file = \"missing.env\"\n");
    assert_eq!((line, col), (3, 12));
    assert_contains(&message, "[processes.a] env_file: cannot read ");
    assert_contains(&message, "missing.env");

    f.write("bad.env", "OK=1\nNOT A LINE\n2X=3\n");
    let problems = f.problems("[processes.a]\ncommand = \"x\"\nenv_file = \"bad.env\"\n");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let bad = std::path::absolute(f.dir.path().join("bad.env")).unwrap();
    assert_contains(
        &problems[0].2,
        &format!(
            "[processes.a] env_file: {}:2: expected KEY=VALUE, found a line without \"=\" (not shown",
            bad.display()
        ),
    );
    assert_contains(
        &problems[1].2,
        &format!("{}:3: not a valid variable name", bad.display()),
    );
}

#[test]
fn users_resolve_from_the_fake_etc() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.a]\ncommand = \"x\"\nuser = \"node:staff\"\n[processes.b]\ncommand = \"x\"\nuser = 4321\n[processes.c]\ncommand = \"x\"\nuser = \"0\"\n",
    );
    let a = config.processes[0].user.clone().unwrap();
    assert_eq!((a.uid, a.gid, a.groups), (1000, 50, vec![50]));
    assert_eq!(
        config.processes[1].user,
        Some(UserSpec {
            uid: 4321,
            gid: 0,
            groups: vec![0],
            name: None,
            // Not oxinit's own HOME (root's): `/`, as runc gives it.
            home: Some(PathBuf::from("/"))
        })
    );
    assert_eq!(
        config.processes[2].user.as_ref().unwrap().name.as_deref(),
        Some("root")
    );
    let (line, col, message) = f.problem("[processes.a]\ncommand = \"x\"\nuser = \"www\"\n");
    assert_eq!((line, col), (3, 8));
    assert_contains(&message, "[processes.a] user: user \"www\" not found in ");
}

#[test]
fn restart_policies_and_signals() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.a]\ncommand = \"x\"\nrestart = \"never\"\nstop_signal = 2\nmax_restarts = 0\n[processes.b]\ncommand = \"x\"\nrestart = \"always\"\nstop_signal = \"hup\"\n",
    );
    assert_eq!(config.processes[0].restart, RestartPolicy::Never);
    assert_eq!(config.processes[0].stop_signal, Signal::SIGINT);
    assert_eq!(config.processes[0].max_restarts, 0);
    assert_eq!(config.processes[1].restart, RestartPolicy::Always);
    assert_eq!(config.processes[1].stop_signal, Signal::SIGHUP);

    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nrestart = \"on_failure\"\n");
    assert_contains(
        &message,
        "\"on_failure\" is not a restart policy; use \"always\", \"on-failure\" or \"never\"",
    );

    let config = f.ok("[processes.a]\ncommand = \"x\"\nstop_signal = \"SIGKILL\"\n");
    assert_eq!(config.processes[0].stop_signal, Signal::SIGKILL);
    assert_eq!(config.warnings.len(), 1);
    assert_contains(
        &config.warnings[0].message,
        "[processes.a] stop_signal: SIGKILL cannot be caught",
    );

    let (line, col, message) =
        f.problem("[processes.a]\ncommand = \"x\"\nstop_signal = \"STOP\"\n");
    assert_eq!((line, col), (3, 15));
    assert_contains(&message, "[processes.a] stop_signal: SIGSTOP pauses");
    let (_, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nstop_signal = \"SIGBOGUS\"\n");
    assert_contains(&message, "unknown signal \"SIGBOGUS\"");
}

#[test]
fn oneshot_rules() {
    let f = Fixture::new();
    let problems = f.problems(
        "[processes.m]\ncommand = \"x\"\noneshot = true\nrestart = \"never\"\nmax_restarts = 3\ncritical = false\n",
    );
    let found: Vec<(usize, &str)> = problems.iter().map(|(l, _, m)| (*l, m.as_str())).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0].0, 4);
    assert_contains(
        found[0].1,
        "[processes.m] restart: a oneshot is not restarted",
    );
    assert_contains(
        found[1].1,
        "[processes.m] max_restarts: a oneshot is not restarted",
    );
    assert_contains(
        found[2].1,
        "[processes.m] critical: a oneshot is always critical",
    );

    // The rule holds whichever order the keys come in.
    let (line, _, message) =
        f.problem("[processes.m]\nrestart = \"always\"\ncommand = \"x\"\noneshot = true\n");
    assert_eq!(line, 2);
    assert_contains(&message, "remove restart or set oneshot = false");

    let (line, col, message) = f.problem("[processes.s]\ncommand = \"x\"\ntimeout = \"5m\"\n");
    assert_eq!((line, col), (3, 11));
    assert_contains(
        &message,
        "[processes.s] timeout: only a oneshot or a scheduled job has a run timeout",
    );
}

#[test]
fn restart_delay_max_must_not_be_below_restart_delay() {
    let f = Fixture::new();
    let (line, _, message) = f.problem(
        "[processes.a]\ncommand = \"x\"\nrestart_delay_max = \"2s\"\nrestart_delay = \"5s\"\n",
    );
    assert_eq!(line, 3);
    assert_contains(&message, "[processes.a] restart_delay_max: restart_delay_max (2s) is shorter than restart_delay (5s)");
    let (line, _, message) = f.problem("[processes.a]\ncommand = \"x\"\nrestart_delay = \"1m\"\n");
    assert_eq!(line, 3);
    assert_contains(
        &message,
        "restart_delay_max (30s, the default) is shorter than restart_delay (1m)",
    );
    f.ok("[processes.a]\ncommand = \"x\"\nrestart_delay = \"30s\"\n");
}

#[test]
fn dependency_problems() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[processes.migrate]
command = "x"
oneshot = true
[processes.api]
command = "x"
depends_on = ["migrat", "api", "migrate", "migrate", "zzz"]
"#,
    );
    let found: Vec<(usize, usize, &str)> = problems
        .iter()
        .map(|(l, c, m)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(found.len(), 4, "{found:#?}");
    assert_eq!((found[0].0, found[0].1), (6, 15));
    assert_contains(
        found[0].2,
        "[processes.api] depends_on: no process named \"migrat\"; did you mean \"migrate\"?",
    );
    assert_eq!((found[1].0, found[1].1), (6, 25));
    assert_contains(
        found[1].2,
        "[processes.api] depends_on: a process cannot depend on itself",
    );
    assert_contains(found[2].2, "\"migrate\" is listed twice");
    assert_contains(
        found[3].2,
        "no process named \"zzz\"; processes: migrate, api",
    );
}

#[test]
fn cycles_print_the_whole_loop() {
    let f = Fixture::new();
    let (line, col, message) = f.problem(
        r#"[processes.a]
command = "x"
depends_on = ["c"]
[processes.b]
command = "x"
depends_on = ["a"]
[processes.c]
command = "x"
oneshot = true
depends_on = ["b"]
"#,
    );
    assert_eq!((line, col), (3, 15));
    assert_contains(
        &message,
        "[processes.a] depends_on: dependency cycle a -> c -> b -> a",
    );
}

#[test]
fn oneshots_and_services_may_depend_on_each_other() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.svc]\ncommand = \"x\"\n[processes.job]\ncommand = \"x\"\noneshot = true\ndepends_on = [\"svc\"]\n[processes.app]\ncommand = \"x\"\ndepends_on = [\"job\"]\n",
    );
    assert_eq!(
        plan(&config).start_levels,
        vec![strings(&["svc"]), strings(&["job"]), strings(&["app"])]
    );
}

#[test]
fn nothing_to_run() {
    let f = Fixture::new();
    let (line, _, message) = f.problem("[init]\nlog_format = \"raw\"\n");
    assert_eq!(line, 0);
    assert_eq!(message, "nothing to run: add a [processes.NAME] table");
    let (line, _, message) = f.problem("[processes]\n");
    assert_eq!(line, 1);
    assert_contains(&message, "nothing to run");
    let rendered = f.parse("").unwrap_err().to_string();
    let path = f.oxfile().display().to_string();
    assert_eq!(
        rendered,
        format!("{path}: nothing to run: add a [processes.NAME] table\n1 problem in {path}")
    );
}

/// Found by the mutation test (tests/oxfile_mutations.rs): the TOML
/// parser's nesting limit on a dotted table header came without a position.
#[test]
fn too_deep_nesting_is_reported_at_its_line() {
    let f = Fixture::new();
    let header = format!("[processes{}]", ".a".repeat(200));
    let text = format!("[processes.a]\ncommand = \"x\" # ...\n{header}\ncommand = \"y\"\n");
    let (line, col, message) = f.problem(&text);
    assert_contains(&message, "invalid TOML");
    assert_eq!(line, 3, "{message}");
    assert!(col > 1, "{col}: {message}");
}

#[test]
fn process_names_are_checked() {
    let f = Fixture::new();
    f.ok("[processes.\"a.b_c-9\"]\ncommand = \"x\"\n");
    let long = "x".repeat(33);
    for name in ["\"my app\"", "\"\"", "\"ünï\"", long.as_str()] {
        let (line, col, message) = f.problem(&format!("[processes.{name}]\ncommand = \"x\"\n"));
        assert_eq!((line, col), (1, 12), "{name}");
        assert_contains(&message, "invalid process name");
        assert_contains(&message, "1 to 32 letters, digits");
    }
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let f = Fixture::new();
    f.write("oxfile.toml", "[processes.a]\ncommand = \"x\"\n");
    let config = load_with(&f.oxfile(), &f.ctx).unwrap();
    assert_eq!(config.path, f.oxfile());
    assert_eq!(config.processes.len(), 1);
    let missing = f.dir.path().join("nope.toml");
    let err = load_with(&missing, &f.ctx).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert_contains(
        &err.to_string(),
        &format!("cannot read {}", missing.display()),
    );
}

#[test]
fn render_check_shows_the_plan_and_each_process() {
    let f = Fixture::new();
    let config = f.ok(r#"[init]
shutdown_timeout = "1m"

[processes.migrate]
command = "node migrate.js"
oneshot = true
timeout = "5m"

[processes.litestream]
command = "litestream replicate"
depends_on = ["migrate"]
stop_timeout = "30s"

[processes.api]
command = "node 'dist/my server.js' | tee"
cwd = "/srv/app"
env = { SECRET = "hunter2", PORT = "3000" }
user = "node"
restart = "on-failure"
depends_on = ["migrate", "litestream"]
critical = false
"#);
    let text = render_check(&config);
    let expect = [
        format!("config:   {}", f.oxfile().display()),
        "logs:     prefixed".to_string(),
        "shutdown: at most 1m in all, then SIGKILL; leftover processes get 2s between SIGTERM and SIGKILL".to_string(),
        "boot order (a level starts once the one before is ready):\n  1. migrate (oneshot)\n  2. litestream\n  3. api\n".to_string(),
        "stop order (reverse of boot):\n  1. api\n  2. litestream\n".to_string(),
        "[migrate] oneshot\n  command:   node migrate.js\n  runs:      once, must finish within 5m; a failure aborts boot\n  stop:      SIGTERM, then SIGKILL after 10s\n".to_string(),
        "  restart:   always (any exit); delay 1s doubling to 30s, back to 1s after 1m up; failed after 10 restarts within 5m\n".to_string(),
        "  stop:      SIGTERM, then SIGKILL after 30s\n  after:     migrate (waits for its success)\n".to_string(),
        "  command:   node 'dist/my server.js' '|' tee\n".to_string(),
        "  cwd:       /srv/app\n  user:      node (uid 1000, gid 1000, groups 1000,50, home /home/node)\n".to_string(),
        "  env:       SECRET, PORT (values not shown)\n".to_string(),
        "  restart:   on-failure (non-zero exit or signal);".to_string(),
        "  critical:  no: if it fails, it stays down and the others keep running\n".to_string(),
        "  after:     migrate (waits for its success), litestream (waits until it is started)\n".to_string(),
        "\nwarnings:\n  ".to_string(),
        ":15:11: [processes.api] command: \"|\"".to_string(),
        "ok: ".to_string(),
        "stop budget: api 10s + litestream 30s + orphan_grace 2s = 42s at most\n".to_string(),
        // The command warning, and the stop budget against the platforms (issue 10).
        "(2 services, 1 oneshot, 0 jobs), 2 warnings\n".to_string(),
    ];
    for piece in &expect {
        assert_contains(&text, piece);
    }
    assert!(
        !text.contains("hunter2"),
        "env values must not be printed:\n{text}"
    );
    // Sections come in order.
    let order = [
        "config:",
        "boot order",
        "stop order",
        "[migrate]",
        "[litestream]",
        "[api]",
        "warnings:",
        "ok:",
    ];
    let positions: Vec<usize> = order.iter().map(|s| text.find(s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn example_oxfile_parses() {
    let f = Fixture::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/oxfile.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    f.write(".env", "SESSION_SECRET=abc\n");
    let config = f.ok(&text);
    let names: Vec<&str> = config.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "restore",
            "migrate",
            "litestream",
            "api",
            "worker",
            "optimize"
        ]
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let api = config.process("api").unwrap();
    assert_eq!(
        api.argv,
        strings(&["node", "dist/server.js", "--port", "8080"])
    );
    assert_eq!(api.user.as_ref().unwrap().uid, 1000);
    assert_eq!(
        api.env[0],
        ("SESSION_SECRET".to_string(), "abc".to_string())
    );
    assert_eq!(
        plan(&config).stop_levels,
        vec![
            strings(&["worker"]),
            // The job stops before the replicator too (it is one).
            strings(&["api", "optimize"]),
            strings(&["litestream"]),
            strings(&["migrate"]),
            strings(&["restore"]),
        ]
    );
    assert_eq!(
        config.init.memory_enforcement,
        crate::cgroup::Requested::Auto
    );
    assert!(config.metrics.enabled);
    assert_eq!(config.sqlite.databases, vec![PathBuf::from("/data/app.db")]);
    let health = api.health.as_ref().unwrap();
    assert_eq!(health.check.type_name(), "http");
    assert_eq!(health.start_period, Duration::from_secs(30));
    assert_eq!(api.limits.memory, Some(512 << 20));
    assert_eq!(api.limits.pids, Some(256));
    assert_eq!(
        config
            .process("litestream")
            .unwrap()
            .health
            .as_ref()
            .unwrap()
            .check
            .type_name(),
        "tcp"
    );
    assert_eq!(
        config
            .process("worker")
            .unwrap()
            .health
            .as_ref()
            .unwrap()
            .check
            .type_name(),
        "exec"
    );
    let optimize = config.process("optimize").unwrap();
    assert_eq!(optimize.kind(), Kind::Job);
    assert_eq!(optimize.limits.memory, Some(256 << 20));
    // The notify alternative, commented out, parses too.
    let notify = text
        .replace("type = \"http\"", "# type = \"http\"")
        .replace("url = \"http", "# url = \"http")
        .replace("# type = \"notify\"", "type = \"notify\"")
        .replace("# watchdog = ", "watchdog = ");
    let api = f
        .ok(&notify)
        .process("api")
        .unwrap()
        .health
        .clone()
        .unwrap();
    assert_eq!(
        api.check,
        HealthCheck::Notify {
            watchdog: Some(Duration::from_secs(30))
        }
    );
    // Every supported key appears in the example.
    for key in [
        "shutdown_timeout",
        "orphan_grace",
        "log_format",
        "control_socket",
        "memory_enforcement",
        "enabled",
        "listen",
        "databases",
        "require_volume",
        "schedule",
        "type",
        "url",
        "address",
        "interval",
        "retries",
        "start_period",
        "memory",
        "memory_high",
        "pids",
        "command",
        "cwd",
        "env",
        "env_file",
        "user",
        "restart",
        "restart_delay",
        "restart_delay_max",
        "restart_reset",
        "max_restarts",
        "restart_window",
        "critical",
        "stop_signal",
        "stop_timeout",
        "depends_on",
        "oneshot",
        "timeout",
    ] {
        // control_socket is commented out: written, it would pin the socket
        // where a non-root oxinit may not create it.
        let commented = key == "control_socket" && text.contains(&format!("\n# {key} = "));
        assert!(
            text.contains(&format!("\n{key} = ")) || commented,
            "example lacks {key}"
        );
    }
    // Shown inline or as a commented alternative.
    for written in [
        "health = { type = \"exec\", command = ",
        "limits = { memory = ",
        "\n# type = \"notify\"",
        "\n# watchdog = ",
    ] {
        assert!(text.contains(written), "example lacks {written}");
    }
}

mod budget;
mod condition;
mod health;
mod inputs;
mod jobs_and_limits;
mod listen;
mod lookups;
mod order;
mod settings;
mod variants;
