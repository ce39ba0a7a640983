//! Supervisor mode, children's output: `prefixed` (default: `name | line`,
//! names padded to one width, stderr stays on stderr), `raw`, `json` (one
//! object a line with ts, process, stream, line); partial last lines are
//! flushed when the process exits; nothing is dropped.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{require_root, As, Oxinit};
use supervisor::*;

/// A service that prints one line to stdout and one to stderr, then serves.
fn talker(rig: &Rig, name: &str) -> String {
    rig.script(
        name,
        &format!(
            "trap 'log got TERM; kill $! 2>/dev/null; exit 0' TERM\n\
             echo 'out from {name}'\n\
             echo 'err from {name}' >&2\n\
             log start\n{SERVE_FOREVER}"
        ),
    )
}

fn two_talkers(rig: &Rig, log_format: Option<&str>) -> String {
    let a = talker(rig, "a");
    let longname = talker(rig, "longname");
    let format_line = log_format
        .map(|f| format!("log_format = \"{f}\"\n"))
        .unwrap_or_default();
    format!(
        r#"{INIT}{format_line}
[processes.a]
command = "{a}"
stop_timeout = "2s"

[processes.longname]
command = "{longname}"
stop_timeout = "2s"
"#
    )
}

/// Waits until oxinit's stdout holds `out` and its stderr holds `err`.
fn wait_output(rig: &Rig, ox: &Oxinit, out: &[&str], err: &[&str]) {
    rig.wait_for(
        ox,
        &format!("{out:?} on stdout and {err:?} on stderr"),
        || {
            let (stdout, stderr) = (ox.stdout(), ox.stderr());
            (out.iter().all(|s| stdout.contains(s)) && err.iter().all(|s| stderr.contains(s)))
                .then_some(())
        },
    );
}

/// The line of `text` ending with `| msg`, split into (prefix column, name).
fn prefixed<'a>(text: &'a str, msg: &str) -> Option<(usize, &'a str)> {
    let line = text.lines().find(|l| l.ends_with(msg) && l.contains('|'))?;
    let bar = line.find('|')?;
    (line[bar + 1..].trim_start() == msg).then(|| (bar, line[..bar].trim()))
}

fn prefixed_output(how: As) {
    let rig = Rig::new();
    let mut ox = rig.run(how, &two_talkers(&rig, None));
    wait_output(
        &rig,
        &ox,
        &["out from a", "out from longname"],
        &["err from a", "err from longname"],
    );
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);

    let (stdout, stderr) = (ox.stdout(), ox.stderr());
    let mut columns = Vec::new();
    for name in ["a", "longname"] {
        for (stream, text, msg) in [
            ("stdout", &stdout, format!("out from {name}")),
            ("stderr", &stderr, format!("err from {name}")),
        ] {
            let Some((bar, prefix)) = prefixed(text, &msg) else {
                panic!(
                    "no \"{name} | {msg}\" line on {stream}\n{}",
                    rig.report(&ox)
                );
            };
            assert_eq!(
                prefix,
                name,
                "prefix of {msg:?} on {stream}\n{}",
                rig.report(&ox)
            );
            columns.push(bar);
        }
    }
    assert!(
        columns.iter().all(|&c| c == columns[0]),
        "names should be padded to one width (the '|' columns were {columns:?})\n{}",
        rig.report(&ox)
    );
    assert!(
        !stdout.contains("err from"),
        "stderr lines leaked to stdout\n{}",
        rig.report(&ox)
    );
    assert!(
        !stderr.contains("out from"),
        "stdout lines leaked to stderr\n{}",
        rig.report(&ox)
    );
}

#[test]
fn prefixed_is_the_default_pads_names_and_keeps_streams_apart_as_pid1() {
    if require_root("prefixed_is_the_default_pads_names_and_keeps_streams_apart_as_pid1") {
        prefixed_output(As::Pid1);
    }
}

#[test]
fn prefixed_is_the_default_pads_names_and_keeps_streams_apart_as_subreaper() {
    prefixed_output(As::Child);
}

#[test]
fn raw_passes_lines_through_untouched() {
    if !require_root("raw_passes_lines_through_untouched") {
        return;
    }
    let rig = Rig::new();
    let mut ox = rig.run(As::Pid1, &two_talkers(&rig, Some("raw")));
    // Both talkers must have spoken before the TERM, or a late one is stopped mute.
    wait_output(
        &rig,
        &ox,
        &["out from a", "out from longname"],
        &["err from a", "err from longname"],
    );
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    let (stdout, stderr) = (ox.stdout(), ox.stderr());
    assert!(
        stdout.lines().any(|l| l == "out from a"),
        "{}",
        rig.report(&ox)
    );
    assert!(
        stdout.lines().any(|l| l == "out from longname"),
        "{}",
        rig.report(&ox)
    );
    assert!(
        stderr.lines().any(|l| l == "err from a"),
        "{}",
        rig.report(&ox)
    );
    assert!(
        !stdout.contains("err from"),
        "stderr lines leaked to stdout\n{}",
        rig.report(&ox)
    );
}

#[test]
fn json_is_one_object_a_line_with_ts_process_stream_and_line() {
    if !require_root("json_is_one_object_a_line_with_ts_process_stream_and_line") {
        return;
    }
    let rig = Rig::new();
    // A line that needs escaping: a quote, a backslash and a tab.
    let app = rig.script(
        "app",
        &format!(
            "trap 'log got TERM; kill $! 2>/dev/null; exit 0' TERM\n\
             echo 'out from app'\n\
             echo 'err from app' >&2\n\
             printf 'quote \" backslash \\\\ tab\\t end\\n'\n\
             log start\n{SERVE_FOREVER}"
        ),
    );
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}log_format = "json"

[processes.app]
command = "{app}"
stop_timeout = "2s"
"#
        ),
    );
    rig.wait_for(&ox, "three json lines from app", || {
        let all = format!("{}{}", ox.stdout(), ox.stderr());
        (all.contains("out from app") && all.contains("err from app") && all.contains(" end"))
            .then_some(())
    });
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);

    // Children's objects may share a stream with oxinit's own log lines; pick
    // out the objects that carry a "process" field.
    let objects: Vec<serde_json::Value> = format!("{}\n{}", ox.stdout(), ox.stderr())
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("process").is_some())
        .collect();
    let find = |stream: &str, line: &str| {
        objects
            .iter()
            .find(|v| v["process"] == "app" && v["stream"] == stream && v["line"] == line)
    };
    for (stream, line) in [
        ("stdout", "out from app"),
        ("stderr", "err from app"),
        ("stdout", "quote \" backslash \\ tab\t end"),
    ] {
        let Some(object) = find(stream, line) else {
            panic!(
                "no {{process: app, stream: {stream}, line: {line:?}}} object\n{}",
                rig.report(&ox)
            );
        };
        assert!(object.get("ts").is_some(), "no ts in {object}");
    }
    // Every stdout line that looks like JSON is one whole object.
    for line in ox.stdout().lines().filter(|l| l.starts_with('{')) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not one JSON object: {line:?}\n{}",
            rig.report(&ox)
        );
    }
}

#[test]
fn a_partial_last_line_is_flushed_when_the_process_exits() {
    if !require_root("a_partial_last_line_is_flushed_when_the_process_exits") {
        return;
    }
    let rig = Rig::new();
    let setup = rig.script(
        "setup",
        "printf 'setup left this without a newline'\nlog done\n",
    );
    let app = rig.script(
        "app",
        &format!(
            "trap 'kill $! 2>/dev/null; printf \"app said bye without a newline\"; exit 0' TERM\n\
             log start\n{SERVE_FOREVER}"
        ),
    );
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            // A longer orphan grace than the shared INIT's 300 ms: the app's
            // `sleep` dies on its TERM, but on a loaded machine (a build next
            // to the tests) that once took longer than 300 ms, and the
            // SIGKILL that followed made the exit 137. Nothing is left over
            // when all goes well, so the grace costs nothing then.
            r#"[init]
orphan_grace = "5s"
shutdown_timeout = "10s"

[processes.setup]
command = "{setup}"
oneshot = true

[processes.app]
command = "{app}"
depends_on = ["setup"]
stop_timeout = "2s"
"#
        ),
    );
    rig.wait_event(&ox, "app", "start");
    // The oneshot's partial line is out once it has exited, not only at the end.
    wait_output(&rig, &ox, &["setup left this without a newline"], &[]);
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    assert!(
        ox.stdout().contains("app said bye without a newline"),
        "the last partial line was lost\n{}",
        rig.report(&ox)
    );
}

#[test]
fn a_burst_of_output_arrives_whole_and_in_order() {
    if !require_root("a_burst_of_output_arrives_whole_and_in_order") {
        return;
    }
    let rig = Rig::new();
    let chatty = rig.script("chatty", "seq 1 5000 | sed 's/^/burst /'\nlog done\n");
    let app = rig.service("app", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.chatty]
command = "{chatty}"
oneshot = true

[processes.app]
command = "{app}"
depends_on = ["chatty"]
stop_timeout = "2s"
"#
        ),
    );
    rig.wait_event(&ox, "app", "start");
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    let numbers: Vec<u32> = ox
        .stdout()
        .lines()
        .filter_map(|l| l.split("burst ").nth(1))
        .map(|n| n.trim().parse().expect("a number after \"burst \""))
        .collect();
    assert_eq!(
        numbers,
        (1..=5000).collect::<Vec<u32>>(),
        "lines lost, duplicated or reordered (showing stderr)\n{}",
        ox.stderr()
    );
}
