use super::help::{COMMANDS, TOP_OPTIONS};
use super::*;
use crate::control::Request;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

fn parse(args: &[&str]) -> Result<Cli, Usage> {
    Cli::parse_args(args.iter().map(OsString::from))
}

fn ok(args: &[&str]) -> Cli {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn command(args: &[&str]) -> Command {
    let cli = ok(args);
    assert!(cli.argv.is_empty(), "{args:?}");
    cli.command
        .unwrap_or_else(|| panic!("{args:?}: no command"))
}

/// The message of a usage error, and the subcommand its hint points at.
fn error(args: &[&str]) -> (String, Option<&'static str>) {
    match parse(args) {
        Err(Usage::Error { message, command }) => (message, command),
        other => panic!("{args:?}: want a usage error, got {other:?}"),
    }
}

fn printed(args: &[&str]) -> String {
    match parse(args) {
        Err(Usage::Print(text)) => text,
        other => panic!("{args:?}: want help or version, got {other:?}"),
    }
}

fn socket(path: &str) -> SocketArg {
    SocketArg {
        path: Some(path.into()),
        config: None,
    }
}

fn strings(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

// --- single-command mode ---

#[test]
fn everything_after_dashes_is_the_command_verbatim() {
    let cli = ok(&[
        "--", "sh", "-c", "x", "--help", "-V", "--grace", "--", "run",
    ]);
    assert_eq!(cli.command, None);
    assert_eq!(
        cli.argv,
        strings(&["sh", "-c", "x", "--help", "-V", "--grace", "--", "run"])
    );
    assert_eq!(cli.grace, DEFAULT_GRACE);
    assert_eq!(cli.stop_timeout, None);
}

#[test]
fn grace_and_stop_timeout_take_separate_or_attached_values() {
    for args in [
        &["--grace", "3s", "--stop-timeout", "1m30s", "--", "app"][..],
        &["--grace=3s", "--stop-timeout=1m30s", "--", "app"],
        &["--stop-timeout", "1m30s", "--grace=3s", "--", "app"],
    ] {
        let cli = ok(args);
        assert_eq!(cli.grace, Duration::from_secs(3), "{args:?}");
        assert_eq!(cli.stop_timeout, Some(Duration::from_secs(90)), "{args:?}");
        assert_eq!(cli.argv, strings(&["app"]), "{args:?}");
    }
    assert_eq!(
        ok(&["--grace", "500ms", "--", "app"]).grace,
        Duration::from_millis(500)
    );
}

#[test]
fn a_bad_duration_says_what_is_wrong_and_the_units() {
    let (message, command) = error(&["--grace", "5x", "--", "app"]);
    assert!(message.starts_with("--grace: "), "{message}");
    assert!(message.contains("unknown unit \"x\""), "{message}");
    assert!(message.contains("h, m, s, ms"), "{message}");
    assert_eq!(command, None);

    let (message, _) = error(&["--stop-timeout=5", "--", "app"]);
    assert!(message.starts_with("--stop-timeout: "), "{message}");
    assert!(message.contains("write \"5s\""), "{message}");
    let (message, _) = error(&["--grace="]);
    assert_eq!(message, "missing DUR after --grace");
}

#[test]
fn a_missing_value_is_not_taken_from_the_next_option() {
    assert_eq!(error(&["--grace"]).0, "missing DUR after --grace");
    assert_eq!(
        error(&["--grace", "--", "app"]).0,
        "missing DUR after --grace"
    );
    assert_eq!(
        error(&["--stop-timeout", "--grace", "1s", "--", "app"]).0,
        "missing DUR after --stop-timeout"
    );
}

#[test]
fn single_command_options_need_a_command() {
    let (message, _) = error(&["--grace", "1s"]);
    assert!(message.contains("add '-- CMD'"), "{message}");
    let (message, _) = error(&["--stop-timeout", "1s"]);
    assert!(message.starts_with("--stop-timeout is for single-command mode"));
    let (message, _) = error(&["--"]);
    assert!(message.starts_with("nothing after '--'"), "{message}");
    assert!(error(&["--grace", "1s", "--"])
        .0
        .starts_with("nothing after"));
}

#[test]
fn a_non_utf8_command_argument_is_passed_on_byte_for_byte() {
    let latin1 = OsString::from_vec(b"caf\xe9".to_vec());
    let args = [OsString::from("--"), OsString::from("app"), latin1.clone()];
    let cli = Cli::parse_args(args).expect("any bytes are a valid argument");
    assert_eq!(cli.argv, vec![OsString::from("app"), latin1]);
}

// --- supervisor mode and the subcommands ---

#[test]
fn no_arguments_is_supervisor_mode() {
    let cli = ok(&[]);
    assert_eq!(
        cli,
        Cli {
            command: None,
            grace: DEFAULT_GRACE,
            stop_timeout: None,
            argv: vec![],
        }
    );
}

#[test]
fn run_and_check_take_a_config_in_every_form() {
    for form in [
        &["-c", "a.toml"][..],
        &["--config", "a.toml"],
        &["--config=a.toml"],
        &["-ca.toml"],
    ] {
        let run: Vec<&str> = ["run"].iter().chain(form).copied().collect();
        let check: Vec<&str> = ["check"].iter().chain(form).copied().collect();
        let config = Some(PathBuf::from("a.toml"));
        assert_eq!(
            command(&run),
            Command::Run {
                config: config.clone()
            }
        );
        assert_eq!(
            command(&check),
            Command::Check {
                config,
                strict: false
            }
        );
    }
    assert_eq!(command(&["run"]), Command::Run { config: None });
    assert_eq!(
        command(&["check"]),
        Command::Check {
            config: None,
            strict: false
        }
    );
    assert_eq!(
        command(&["check", "--strict"]),
        Command::Check {
            config: None,
            strict: true
        }
    );
    assert_eq!(command(&["run", "--"]), Command::Run { config: None });
}

#[test]
fn a_config_path_need_not_be_utf8() {
    let path = OsString::from_vec(b"/etc/ox\xff.toml".to_vec());
    let args = [OsString::from("run"), OsString::from("-c"), path.clone()];
    let cli = Cli::parse_args(args).unwrap();
    assert_eq!(
        cli.command,
        Some(Command::Run {
            config: Some(path.into())
        })
    );
}

#[test]
fn status_takes_json_and_a_socket_in_any_order() {
    assert_eq!(
        command(&["status"]),
        Command::Status {
            json: false,
            socket: SocketArg::default()
        }
    );
    for args in [
        &["status", "--json", "--socket", "/s"][..],
        &["status", "--socket=/s", "--json"],
    ] {
        assert_eq!(
            command(args),
            Command::Status {
                json: true,
                socket: socket("/s")
            },
            "{args:?}"
        );
    }
}

#[test]
fn process_commands_take_a_name_before_or_after_the_socket() {
    for args in [
        &["restart", "api", "--socket", "/s"][..],
        &["restart", "--socket", "/s", "api"],
        &["restart", "--socket=/s", "--", "api"],
    ] {
        assert_eq!(
            command(args),
            Command::Restart {
                name: "api".into(),
                socket: socket("/s")
            },
            "{args:?}"
        );
    }
    assert_eq!(
        command(&["stop", "db"]),
        Command::Stop {
            name: "db".into(),
            socket: SocketArg::default()
        }
    );
    assert_eq!(
        command(&["start", "db"]),
        Command::Start {
            name: "db".into(),
            socket: SocketArg::default()
        }
    );
    // After `--`, a name may look like an option.
    assert_eq!(
        command(&["stop", "--", "-odd"]),
        Command::Stop {
            name: "-odd".into(),
            socket: SocketArg::default()
        }
    );
}

#[test]
fn healthcheck_takes_a_socket() {
    assert_eq!(
        command(&["healthcheck"]),
        Command::Healthcheck {
            socket: SocketArg::default()
        }
    );
    assert_eq!(
        command(&["healthcheck", "--socket", "/s"]),
        Command::Healthcheck {
            socket: socket("/s")
        }
    );
}

#[test]
fn client_commands_take_the_oxfile_to_find_the_socket_in() {
    let config = SocketArg {
        path: None,
        config: Some("/srv/oxfile.toml".into()),
    };
    for args in [
        &["status", "--config", "/srv/oxfile.toml"][..],
        &["status", "-c/srv/oxfile.toml"],
        &["--config", "/srv/oxfile.toml", "status"],
    ] {
        assert_eq!(
            command(args),
            Command::Status {
                json: false,
                socket: config.clone()
            },
            "{args:?}"
        );
    }
    assert_eq!(
        command(&["healthcheck", "--config=/srv/oxfile.toml"]),
        Command::Healthcheck {
            socket: config.clone()
        }
    );
    assert_eq!(
        command(&["restart", "api", "-c", "/srv/oxfile.toml"]),
        Command::Restart {
            name: "api".into(),
            socket: config
        }
    );
}

#[test]
fn control_commands_become_requests() {
    let invocation = command(&["restart", "api", "--socket", "/s"])
        .control()
        .unwrap();
    assert_eq!(
        invocation,
        ControlInvocation {
            request: Request::Restart { name: "api".into() },
            socket: socket("/s"),
            json: false,
        }
    );
    let status = command(&["status", "--json"]).control().unwrap();
    assert_eq!(status.request, Request::Status {});
    assert!(status.json);
    assert_eq!(status.socket, SocketArg::default());
    assert_eq!(
        command(&["healthcheck"]).control().unwrap().request,
        Request::Health {}
    );
    assert_eq!(command(&["run"]).control(), None);
    assert_eq!(command(&["check"]).control(), None);
}

// --- conflicts and mistakes ---

#[test]
fn subcommands_and_single_command_options_conflict() {
    let (message, command) = error(&["--grace", "1s", "run"]);
    assert_eq!(
        message,
        "--grace is for single-command mode ('oxinit --grace DUR -- CMD'), not for 'oxinit run'"
    );
    assert_eq!(command, None);
    assert!(error(&["--stop-timeout=1s", "status"])
        .0
        .starts_with("--stop-timeout is for single-command mode"));
    assert_eq!(
        error(&["run", "--", "x"]),
        ("unexpected argument 'x'".into(), Some("run"))
    );
    assert_eq!(
        error(&["run", "--grace", "1s"]),
        (
            "unknown option '--grace' for 'oxinit run'".into(),
            Some("run")
        )
    );
}

#[test]
fn unknown_options_are_named_with_a_likely_meaning() {
    assert_eq!(error(&["--bogus"]).0, "unknown option '--bogus'");
    assert_eq!(error(&["-x"]).0, "unknown option '-x'");
    assert_eq!(
        error(&["--grase=1s", "--", "app"]).0,
        "unknown option '--grase=1s'; did you mean '--grace'?"
    );
    assert_eq!(
        error(&["status", "--jsn"]),
        (
            "unknown option '--jsn' for 'oxinit status'; did you mean '--json'?".into(),
            Some("status")
        )
    );
    assert_eq!(
        error(&["healthcheck", "--json"]).0,
        "unknown option '--json' for 'oxinit healthcheck'"
    );
    assert_eq!(
        error(&["status", "-V"]).0,
        "unknown option '-V' for 'oxinit status'"
    );
}

#[test]
fn unknown_commands_get_a_did_you_mean_or_the_dashes() {
    assert_eq!(
        error(&["stauts"]),
        (
            "unknown command 'stauts'; did you mean 'status'?".into(),
            None
        )
    );
    assert_eq!(
        error(&["healtcheck"]).0,
        "unknown command 'healtcheck'; did you mean 'healthcheck'?"
    );
    assert_eq!(
        error(&["myapp", "--port", "80"]).0,
        "unknown command 'myapp'; to run a program, write 'oxinit -- myapp'"
    );
    // Not after --grace either: the missing `--` is the likelier mistake.
    assert!(error(&["--grace", "1s", "myapp"])
        .0
        .starts_with("unknown command 'myapp'"));
    // Far from every command name ('bogus' is two edits from 'logs').
    let (message, command) = error(&["help", "bogusword"]);
    assert!(
        message.starts_with("unknown command 'bogusword'; the commands are run, check,"),
        "{message}"
    );
    assert_eq!(command, Some("help"));
}

#[test]
fn names_are_required_once() {
    for name in ["restart", "stop", "start"] {
        let (message, command) = error(&[name]);
        assert_eq!(
            message,
            format!("missing the process NAME: 'oxinit {name} NAME'")
        );
        assert_eq!(command, Some(name));
        assert_eq!(
            error(&[name, "a", "b"]).0,
            "unexpected argument 'b'",
            "{name}"
        );
    }
    assert_eq!(error(&["status", "extra"]).0, "unexpected argument 'extra'");
    assert_eq!(error(&["run", "x"]).0, "unexpected argument 'x'");
}

#[test]
fn options_are_given_once_and_flags_take_no_value() {
    assert_eq!(
        error(&["--grace", "1s", "--grace=2s", "--", "app"]).0,
        "--grace given twice"
    );
    assert_eq!(
        error(&["run", "-c", "a", "--config=b"]).0,
        "--config given twice"
    );
    assert_eq!(
        error(&["status", "--json", "--json"]).0,
        "--json given twice"
    );
    assert_eq!(
        error(&["status", "--json=yes"]).0,
        "--json takes no value: '--json=yes'"
    );
    assert_eq!(error(&["-hV"]).0, "-h takes no value: '-hV'");
    assert_eq!(
        error(&["status", "--socket"]).0,
        "missing PATH after --socket"
    );
    assert_eq!(error(&["run", "-c", "--"]).0, "missing PATH after -c");
}

#[test]
fn an_error_is_one_line_and_a_hint_at_the_right_help() {
    assert_eq!(
        parse(&["--bogus"]).unwrap_err().to_string(),
        "oxinit: error: unknown option '--bogus'\nTry 'oxinit --help'."
    );
    assert_eq!(
        parse(&["restart"]).unwrap_err().to_string(),
        "oxinit: error: missing the process NAME: 'oxinit restart NAME'\n\
         Try 'oxinit restart --help'."
    );
}

// --- help and version ---

#[test]
fn version_is_the_crate_version() {
    for args in [&["-V"][..], &["--version"], &["-V", "status"]] {
        assert_eq!(
            printed(args),
            format!("oxinit {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(printed(&["--version"]), "oxinit 0.1.0\n");
}

#[test]
fn top_help_lists_every_command_and_option() {
    let text = printed(&["--help"]);
    assert_eq!(printed(&["-h"]), text);
    assert_eq!(printed(&["help"]), text);
    assert_eq!(printed(&["--grace", "1s", "--help"]), text);
    for c in COMMANDS {
        let line = format!("\n  {:11}  {}\n", c.name, c.about);
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    for o in TOP_OPTIONS {
        assert!(text.contains(o.long), "{} missing", o.long);
        assert!(text.contains(o.about), "{} missing", o.about);
    }
    assert!(text.contains("-- CMD"));
}

#[test]
fn each_command_has_help_with_its_options() {
    for c in COMMANDS {
        let text = printed(&[c.name, "--help"]);
        assert!(text.starts_with(c.about), "{}:\n{text}", c.name);
        assert!(text.contains(&format!("Usage: oxinit {}", c.name)));
        for o in c.options {
            assert!(text.contains(o.long), "{}: {} missing", c.name, o.long);
            assert!(text.contains(o.about), "{}: {} missing", c.name, o.about);
        }
        if c.name != "help" {
            assert_eq!(printed(&["help", c.name]), text, "{}", c.name);
        }
    }
    let restart = printed(&["restart", "-h"]);
    assert!(restart.contains("Usage: oxinit restart NAME [--socket PATH] [--config PATH]\n"));
    assert!(printed(&["run", "--help"]).contains("-c, --config PATH"));
    // Help wins over a missing NAME.
    assert_eq!(printed(&["stop", "--help"]), printed(&["help", "stop"]));
}

#[test]
fn every_option_in_the_tables_is_accepted() {
    for o in TOP_OPTIONS {
        let args: Vec<&str> = match o.value {
            Some("DUR") => vec![o.long, "1s", "--", "app"],
            Some(_) => vec![o.long, "/x"],
            None => vec![o.long],
        };
        assert!(
            !matches!(parse(&args), Err(Usage::Error { .. })),
            "{args:?}"
        );
    }
    for c in COMMANDS {
        for o in c.options {
            let mut args = vec![c.name];
            args.extend(c.positional.map(|_| "run"));
            args.push(o.long);
            args.extend(o.value.map(|v| if v == "N" { "5" } else { "/x" }));
            assert!(
                !matches!(parse(&args), Err(Usage::Error { .. })),
                "{args:?}: {:?}",
                parse(&args)
            );
        }
    }
}

// --- what --help shows works as shown ---

/// One piece of a usage line: a word, or a `[...]` group that may be left out.
#[derive(Debug, Clone)]
enum Piece {
    Word(String),
    Optional(Vec<Piece>),
}

/// `oxinit [run] [--config PATH]` → its pieces.
fn pieces(line: &str) -> Vec<Piece> {
    fn group(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                '[' | ']' | ' ' if !word.is_empty() => {
                    out.push(Piece::Word(std::mem::take(&mut word)));
                    if c == ']' {
                        return out;
                    }
                    if c == '[' {
                        out.push(Piece::Optional(group(chars)));
                    }
                }
                '[' => out.push(Piece::Optional(group(chars))),
                ']' => return out,
                ' ' => {}
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            out.push(Piece::Word(word));
        }
        out
    }
    group(&mut line.chars().peekable())
}

/// Every way of writing a usage line: each optional group left out or put in.
fn expansions(pieces: &[Piece]) -> Vec<Vec<String>> {
    let mut all = vec![Vec::new()];
    for piece in pieces {
        all = match piece {
            Piece::Word(w) => all
                .into_iter()
                .map(|mut a| {
                    a.push(w.clone());
                    a
                })
                .collect(),
            Piece::Optional(inner) => {
                let mut both = all.clone();
                for tail in expansions(inner) {
                    both.extend(all.iter().map(|a| [a.clone(), tail.clone()].concat()));
                }
                both
            }
        };
    }
    all
}

/// A placeholder of the help replaced by a value a user would type.
fn example(word: &str) -> String {
    match word {
        "DUR" => "3s".into(),
        "PATH" => "/srv/oxfile.toml".into(),
        "CMD" => "myapp".into(),
        "ARGS..." => "--port".into(),
        "NAME" | "NAME..." => "api".into(),
        "N" => "5".into(),
        "COMMAND" => "status".into(),
        other => other.into(),
    }
}

/// What a parsed line does, to compare with what its help line says.
fn mode(parsed: &Result<Cli, Usage>) -> String {
    match parsed {
        Ok(Cli {
            command: None,
            argv,
            ..
        }) if argv.is_empty() => "run".into(),
        Ok(Cli { command: None, .. }) => "single".into(),
        Ok(Cli {
            command: Some(c), ..
        }) => format!("{c:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_lowercase(),
        Err(Usage::Print(_)) => "help".into(),
        Err(Usage::Error { message, .. }) => format!("error: {message}"),
    }
}

/// The `--config` a parsed line carries, if any.
fn config_of(cli: &Cli) -> Option<&PathBuf> {
    match &cli.command {
        Some(Command::Run { config } | Command::Check { config, .. }) => config.as_ref(),
        Some(
            Command::Status { socket, .. }
            | Command::Restart { socket, .. }
            | Command::Stop { socket, .. }
            | Command::Start { socket, .. }
            | Command::Reload { socket, .. }
            | Command::Healthcheck { socket }
            | Command::Logs { socket, .. }
            | Command::Events { socket, .. },
        ) => socket.config.as_ref(),
        None => None,
    }
}

/// Walks the usage lines of `oxinit --help` and of every `oxinit COMMAND
/// --help`, in every form they allow, and checks each parses to what the
/// line says it does (issue 10: `oxinit --config PATH` was refused).
#[test]
fn every_usage_line_of_the_help_works_as_shown() {
    let top = printed(&["--help"]);
    let usage: Vec<&str> = top
        .lines()
        .skip_while(|l| *l != "Usage:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("  oxinit"))
        .collect();
    assert_eq!(usage.len(), 3, "{top}");
    let mut lines: Vec<(String, String)> = Vec::new();
    for line in usage {
        let words = line.trim();
        if words.starts_with("COMMAND") {
            // "One of the commands below ('oxinit COMMAND --help' for its
            // options)": each command's own usage line is walked below.
            for c in COMMANDS {
                lines.push((format!("{} --help", c.name), "help".into()));
            }
        } else if words.contains("-- CMD") {
            lines.push((words.into(), "single".into()));
        } else {
            lines.push((words.into(), "run".into()));
        }
    }
    for c in COMMANDS {
        let text = printed(&[c.name, "--help"]);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("Usage: oxinit "))
            .unwrap_or_else(|| panic!("no usage line in:\n{text}"));
        let want = if c.name == "help" { "help" } else { c.name };
        lines.push((line.into(), want.into()));
    }

    let mut forms = 0;
    for (line, want) in &lines {
        for words in expansions(&pieces(line)) {
            let args: Vec<String> = words.iter().map(|w| example(w)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let parsed = parse(&args);
            assert_eq!(
                &mode(&parsed),
                want,
                "'oxinit {}' from the help line 'oxinit {line}'",
                args.join(" ")
            );
            if let (Ok(cli), Some(i)) = (&parsed, args.iter().position(|a| *a == "--config")) {
                assert_eq!(
                    config_of(cli),
                    Some(&PathBuf::from(args[i + 1])),
                    "{args:?}"
                );
            }
            forms += 1;
        }
    }
    assert!(forms > 20, "only {forms} forms walked");
}

#[test]
fn a_top_level_config_is_supervisor_mode_or_the_next_commands() {
    let config = Some(PathBuf::from("a.toml"));
    for args in [
        &["--config", "a.toml"][..],
        &["--config=a.toml"],
        &["-c", "a.toml"],
        &["-ca.toml"],
        &["--config", "a.toml", "run"],
    ] {
        assert_eq!(
            command(args),
            Command::Run {
                config: config.clone()
            },
            "{args:?}"
        );
    }
    assert_eq!(
        command(&["-c", "a.toml", "check"]),
        Command::Check {
            config,
            strict: false
        }
    );
    assert_eq!(
        error(&["-c", "a.toml", "run", "--config", "b.toml"]).0,
        "--config given twice"
    );
    assert_eq!(
        error(&["--config", "a.toml", "--", "app"]).0,
        "--config is for supervisor mode; single-command mode ('-- CMD') reads no oxfile: drop one of them"
    );
    assert_eq!(
        error(&["--config", "a.toml", "help"]).0,
        "--config is not an option of 'oxinit help'"
    );
    assert_eq!(error(&["--config"]).0, "missing PATH after --config");
}

#[test]
fn logs_takes_any_number_of_names_and_its_options() {
    let socket = SocketArg::default();
    assert_eq!(
        command(&["logs"]),
        Command::Logs {
            names: vec![],
            lines: 100,
            follow: false,
            json: false,
            socket: socket.clone()
        }
    );
    assert_eq!(
        command(&["logs", "api", "worker", "-n", "5", "-f", "api"]),
        Command::Logs {
            names: vec!["api".into(), "worker".into()],
            lines: 5,
            follow: true,
            json: false,
            socket: socket.clone()
        }
    );
    assert_eq!(
        command(&["logs", "-n0", "--follow", "--json"]),
        Command::Logs {
            names: vec![],
            lines: 0,
            follow: true,
            json: true,
            socket: socket.clone()
        }
    );
    assert_eq!(
        error(&["logs", "-n", "many"]),
        (
            "-n: 'many' is not a number of lines; write a whole number such as 20".into(),
            Some("logs")
        )
    );
    assert_eq!(
        command(&["events", "--json"]),
        Command::Events { json: true, socket }
    );
    assert_eq!(
        error(&["events", "api"]).0,
        "unexpected argument 'api'",
        "events are of every process"
    );
    assert!(printed(&["logs", "--help"])
        .contains("Usage: oxinit logs [NAME...] [--lines N] [--follow] [--json] [--socket PATH]"));
}
