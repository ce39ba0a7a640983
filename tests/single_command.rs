//! Single-command mode (`oxinit [--grace DUR] [--stop-timeout DUR] -- CMD ARGS…`),
//! the tini drop-in: issue 2.
//!
//! Every behaviour runs twice: `…::child` starts oxinit as an ordinary child (it
//! must make itself a subreaper), `…::pid1` as PID 1 of a new PID namespace
//! (root only). The helpers under tests/scripts/ log what they see as events
//! ("<unix-ms> <who> <event>"); tests assert on those, on exit codes and on /proc,
//! and every wait has a deadline.
//!
//! `OXINIT_TEST_BIN=/usr/bin/tini cargo test --test single_command` runs the suite
//! against tini to show which tests tini (and so a weaker oxinit) fails.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Runs `$name(As::Child)` as `$name::child` and `$name(As::Pid1)` as `$name::pid1`.
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn child() {
                super::$name(super::As::Child);
            }
            #[test]
            fn pid1() {
                if super::require_root(concat!(stringify!($name), "::pid1")) {
                    super::$name(super::As::Pid1);
                }
            }
        }
    )*};
}

both_ways!(
    exit_code_is_the_childs,
    death_by_signal_n_is_128_plus_n,
    a_signal_to_oxinit_ends_a_child_with_default_handlers,
    every_catchable_signal_is_forwarded_in_order,
    signals_reach_the_childs_whole_process_group,
    a_signal_sent_right_after_launch_is_not_lost,
    a_signal_pending_at_startup_reaches_the_child,
    stop_timeout_kills_a_child_that_ignores_term_and_int,
    orphans_are_adopted_and_reaped,
    the_group_gets_term_then_kill_after_the_child_exits,
    oxinit_pins_no_mount_and_the_child_keeps_the_launch_dir,
    the_child_starts_with_an_empty_mask_and_default_dispositions,
    sigpipe_is_default_in_the_child,
    a_command_not_found_is_127_with_one_line,
    a_command_that_cannot_run_is_126_with_one_line,
    a_file_that_is_not_an_executable_is_126_and_never_a_shell_script,
    bash_has_job_control_on_a_terminal,
    tac_reads_and_writes_the_terminal,
);

const SEC: Duration = Duration::from_secs(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn sig_name(sig: i32) -> &'static str {
    nix::sys::signal::Signal::try_from(sig).map_or("?", |s| s.as_str())
}

/// Every signal oxinit must forward: 1–31 but SIGKILL, SIGSTOP and SIGCHLD.
fn catchable_signals() -> Vec<i32> {
    (1..32)
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP && s != libc::SIGCHLD)
        .collect()
}

/// The signals `who` logged with tests/scripts/sigcatch.py, in order.
fn signals_received(log: &Path, who: &str) -> Vec<i32> {
    read_events(log)
        .into_iter()
        .filter(|e| e.who == who && e.what.starts_with("got "))
        .map(|e| {
            e.what
                .split(' ')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// The command line of tests/scripts/sigcatch.py logging to `log` as `who`.
fn sigcatch(log: &Path, who: &str, options: &[&str]) -> Vec<String> {
    let mut argv = vec![
        python().to_owned(),
        path_str(&script_path("sigcatch.py")).to_owned(),
        path_str(log).to_owned(),
        who.to_owned(),
    ];
    argv.extend(options.iter().map(|o| o.to_string()));
    argv
}

/// `["--"]` followed by `argv`, borrowed, for `Oxinit::start`.
fn after_dashes(argv: &[String]) -> Vec<&str> {
    std::iter::once("--")
        .chain(argv.iter().map(String::as_str))
        .collect()
}

/// The non-empty lines of what oxinit wrote to stderr.
fn stderr_lines(ox: &Oxinit) -> Vec<String> {
    ox.stderr()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Point 5: the child's exit code is oxinit's.
fn exit_code_is_the_childs(how: As) {
    for code in [0, 1, 2, 3, 127, 128, 255] {
        let script = format!("exit {code}");
        let mut ox = Oxinit::start(how, &["--", "sh", "-c", &script]);
        assert_eq!(
            ox.wait(secs(10)),
            ExitCode::Code(code),
            "child did `{script}`"
        );
    }
}

/// Point 5: a child killed by signal N makes oxinit exit 128+N (not die of N).
fn death_by_signal_n_is_128_plus_n(how: As) {
    for (name, n) in [
        ("TERM", 15),
        ("HUP", 1),
        ("QUIT", 3),
        ("KILL", 9),
        ("USR1", 10),
    ] {
        // ulimit -c 0: SIGQUIT dumps core by default.
        let script = format!("ulimit -c 0; kill -s {name} $$; exit 99");
        let mut ox = Oxinit::start(how, &["--", "sh", "-c", &script]);
        assert_eq!(
            ox.wait(secs(10)),
            ExitCode::Code(128 + n),
            "child killed itself with SIG{name}"
        );
    }
}

/// Point 2 + 5, the classic `docker stop`: TERM (or Fly's INT, or HUP) sent to
/// oxinit reaches a child that leaves it at its default action.
fn a_signal_to_oxinit_ends_a_child_with_default_handlers(how: As) {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut ox = Oxinit::start(how, &["--", "sleep", "30"]);
        ox.signal(sig);
        assert_eq!(
            ox.wait(secs(10)),
            ExitCode::Code(128 + sig),
            "{} sent to oxinit, child `sleep 30`",
            sig_name(sig)
        );
    }
}

/// Point 2: each catchable signal sent to oxinit arrives at the child, once, in
/// order; TERM and INT are forwarded like the rest (the child handles them and
/// keeps running, so oxinit must not stop it on its own).
fn every_catchable_signal_is_forwarded_in_order(how: As) {
    let s = scratch();
    let log = s.file("events");
    let sigs = catchable_signals();
    let count = sigs.len().to_string();
    let child = sigcatch(&log, "child", &["--exit-after", &count]);
    let mut ox = Oxinit::start(how, &after_dashes(&child));
    ox.expect_event(&log, secs(10), "child", "ready");
    for (i, &sig) in sigs.iter().enumerate() {
        ox.signal(sig);
        wait_until(
            secs(5),
            &format!(
                "the child to receive {} ({sig}) after {:?}",
                sig_name(sig),
                &sigs[..i]
            ),
            || (signals_received(&log, "child").len() > i).then_some(()),
        );
    }
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
    assert_eq!(
        signals_received(&log, "child"),
        sigs,
        "signals received, in order"
    );
}

/// Point 2: signals go to the child's process group, not only to the child.
fn signals_reach_the_childs_whole_process_group(how: As) {
    let s = scratch();
    let log = s.file("events");
    let catcher = script_path("sigcatch.py");
    // A background job of a non-interactive sh stays in the child's group.
    let script = "\"$0\" \"$1\" \"$2\" grandchild --exit-on TERM & \
                  exec \"$0\" \"$1\" \"$2\" child --exit-after 2";
    let mut ox = Oxinit::start(
        how,
        &[
            "--",
            "sh",
            "-c",
            script,
            python(),
            path_str(&catcher),
            path_str(&log),
        ],
    );
    let log = log.as_path();
    ox.expect_event(log, secs(10), "child", "ready");
    ox.expect_event(log, secs(10), "grandchild", "ready");
    let sent = [libc::SIGUSR1, libc::SIGHUP];
    for (i, &sig) in sent.iter().enumerate() {
        ox.signal(sig);
        for who in ["child", "grandchild"] {
            wait_until(
                secs(5),
                &format!("the {who} to receive {}", sig_name(sig)),
                || (signals_received(log, who).len() > i).then_some(()),
            );
        }
    }
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
    // The grandchild outlives the child: it then gets the group's clean-up TERM.
    let grandchild = signals_received(log, "grandchild");
    assert_eq!(
        (
            signals_received(log, "child"),
            &grandchild[..2.min(grandchild.len())]
        ),
        (sent.to_vec(), &sent[..]),
        "signals received by the child and (first) by the grandchild; events: {:#?}",
        read_events(log)
    );
}

/// Point 2: a signal that arrives while the child is still starting is not lost.
/// The child installs a USR1 handler after Python's start-up, so USR1 sent as soon
/// as oxinit takes it lands before (default action: exit 138) or after (handled:
/// exit 0) the handler; both are delivery. Losing it leaves the child waiting.
fn a_signal_sent_right_after_launch_is_not_lost(how: As) {
    let s = scratch();
    let log = s.file("events");
    let child = sigcatch(&log, "child", &["--exit-on", "USR1"]);
    let mut ox = Oxinit::start(how, &after_dashes(&child));
    ox.signal(libc::SIGUSR1);
    let code = ox.wait(secs(10));
    let handled = signals_received(&log, "child") == [libc::SIGUSR1];
    assert!(
        code == ExitCode::Code(128 + libc::SIGUSR1) || (code == ExitCode::Code(0) && handled),
        "USR1 sent right after launch: want exit 138 (delivered before the handler) \
         or 0 with the signal logged, got {code:?}, logged {:?}",
        signals_received(&log, "child")
    );
}

/// Point 2: a signal already pending when oxinit starts (blocked by its parent,
/// sent before exec) is delivered to the child once the child runs. The child is
/// `sleep`, so delivery means exit 128+10. (This also needs the child's signal mask
/// reset: the USR1 the parent blocked must not stay blocked in the child.)
fn a_signal_pending_at_startup_reaches_the_child(how: As) {
    let launcher = script_path("launcher.py");
    let mut ox = Oxinit::start_prefixed(
        how,
        &[python(), path_str(&launcher), "--pending", "USR1", "--"],
        &["--", "sleep", "30"],
        &[],
        None,
    );
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(128 + libc::SIGUSR1));
}

/// Point 2: with --stop-timeout, the group is SIGKILLed that long after the first
/// TERM or INT when the child ignores them; the child's death (KILL) is the code.
fn stop_timeout_kills_a_child_that_ignores_term_and_int(how: As) {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let s = scratch();
        let log = s.file("events");
        // The background sleep inherits the ignored TERM and INT: it dies only by KILL.
        let script = "trap '' TERM INT; sleep 30 & \
                      echo \"$(date +%s%3N) child ready\" >> \"$0\"; wait";
        let mut ox = Oxinit::start(
            how,
            &[
                "--grace",
                "200ms",
                "--stop-timeout",
                "300ms",
                "--",
                "sh",
                "-c",
                script,
                path_str(&log),
            ],
        );
        ox.expect_event(&log, secs(10), "child", "ready");
        let sleeper = wait_until(secs(5), "the background `sleep 30`", || {
            descendants(ox.pid())
                .into_iter()
                .find(|&p| cmdline(p) == "sleep 30")
        });
        let sent = Instant::now();
        ox.signal(sig);
        let code = ox.wait(secs(10));
        let took = sent.elapsed();
        assert_eq!(
            code,
            ExitCode::Code(128 + libc::SIGKILL),
            "{}",
            sig_name(sig)
        );
        assert!(
            took >= Duration::from_millis(290) && took < secs(3),
            "{}: oxinit exited {took:?} after it, want 300ms (--stop-timeout) + a little",
            sig_name(sig)
        );
        assert!(!is_alive(sleeper), "the group's background sleep survived");
        if how == As::Child {
            assert_eq!(ox.leftovers(), Vec::<String>::new(), "left behind");
        }
    }
}

/// Points 3 and 4: 2000 orphans are reparented to oxinit (as PID 1, and as a
/// subreaper when it is not PID 1) and all reaped when they exit together.
fn orphans_are_adopted_and_reaped(how: As) {
    const COUNT: usize = 2000;
    let s = scratch();
    let log = s.file("events");
    let gate = s.fifo("gate");
    let script = script_path("orphans.sh");
    let mut ox = Oxinit::start(
        how,
        &[
            "--",
            "sh",
            path_str(&script),
            path_str(&log),
            &COUNT.to_string(),
            path_str(&gate),
        ],
    );
    let me = ox.pid();
    ox.expect_event(&log, secs(60), "orphans", "spawned");

    // Everything with our log path in its command line: the script (it leads its
    // process group, oxinit is its parent), the orphans (forked copies of it, in its
    // group), and the keeper/unshare above oxinit (also a group leader).
    let ours: Vec<ProcStat> = processes()
        .into_iter()
        .filter(|p| cmdline(p.pid).contains(path_str(&log)))
        .collect();
    let child = ours
        .iter()
        .find(|p| p.pid == p.pgrp && p.ppid == me)
        .unwrap_or_else(|| panic!("no orphans.sh below oxinit (pid {me}): {ours:?}"))
        .pid;
    let orphans: Vec<&ProcStat> = ours
        .iter()
        .filter(|p| p.pgrp == child && p.pid != child)
        .collect();
    assert_eq!(orphans.len(), COUNT, "orphans alive before the release");
    let strays: Vec<&&ProcStat> = orphans.iter().filter(|p| p.ppid != me).collect();
    assert!(
        strays.is_empty(),
        "{} of {COUNT} orphans were not reparented to oxinit (pid {me}); e.g. pid {} has \
         parent {} ({})",
        strays.len(),
        strays[0].pid,
        strays[0].ppid,
        cmdline(strays[0].ppid)
    );

    open_gate(&gate, secs(10));
    ox.expect_event(&log, secs(10), "orphans", "released");
    let released = Instant::now();
    let deadline = released + secs(30);
    loop {
        let below = descendants(me);
        let zombies = zombies_under(me);
        if zombies == 0 && below == [child] {
            break;
        }
        if let Some(code) = ox.try_wait() {
            panic!(
                "oxinit exited ({code:?}) while reaping the orphans\n{}",
                ox.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "30s after the release: {zombies} zombies, {} processes under oxinit",
            below.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{how:?}: {COUNT} orphans reaped in {:?}",
        released.elapsed()
    );

    open_gate(&gate, secs(10));
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
}

/// Point 6: when the child exits, what remains of its group gets TERM (and, as
/// PID 1, every other process too), then KILL after --grace; oxinit reaps it all
/// and exits with the child's code, leaving nothing.
fn the_group_gets_term_then_kill_after_the_child_exits(how: As) {
    const GRACE_MS: u64 = 500;
    let s = scratch();
    let log = s.file("events");
    let gate = s.fifo("gate");
    let catcher = script_path("sigcatch.py");
    let script = s.script(
        "child.sh",
        r#"#!/bin/sh
# usage: child.sh LOG GATE PYTHON SIGCATCH OUTSIDER(yes|no)
LOG=$1 GATE=$2 PY=$3 CATCH=$4
log() { echo "$(date +%s%3N) child $*" >> "$LOG"; }
"$PY" "$CATCH" "$LOG" trapper --exit-on TERM &
"$PY" "$CATCH" "$LOG" ignorer --ignore TERM &
if [ "$5" = yes ]; then
    # Another session: only PID 1's TERM to every process reaches it.
    setsid "$PY" "$CATCH" "$LOG" outsider --exit-on TERM &
fi
log ready
read _ < "$GATE"
log exit 3
exit 3
"#,
    );
    let outsider = how == As::Pid1;
    let grace = format!("{GRACE_MS}ms");
    let mut ox = Oxinit::start(
        how,
        &[
            "--grace",
            &grace,
            "--",
            path_str(&script),
            path_str(&log),
            path_str(&gate),
            python(),
            path_str(&catcher),
            if outsider { "yes" } else { "no" },
        ],
    );
    let mut helpers = vec!["trapper", "ignorer"];
    if outsider {
        helpers.push("outsider");
    }
    for who in helpers.iter().copied().chain(["child"]) {
        ox.expect_event(&log, secs(10), who, "ready");
    }
    let ignorer = wait_until(secs(5), "the ignorer's pid", || {
        find_descendant(ox.pid(), "ignorer")
    });

    open_gate(&gate, secs(10));
    let killed_ms = wait_until(secs(10), "the TERM-ignoring process to be killed", || {
        (!is_alive(ignorer)).then(now_ms)
    });
    let code = ox.wait(secs(10));
    let exited_ms = now_ms();
    assert_eq!(code, ExitCode::Code(3), "oxinit's code is the child's");

    let child_exit = ox.expect_event(&log, SEC, "child", "exit").t_ms;
    for who in &helpers {
        if *who == "ignorer" {
            continue;
        }
        let term = read_events(&log)
            .into_iter()
            .find(|e| e.who == *who && e.what == "got 15 SIGTERM")
            .unwrap_or_else(|| panic!("the {who} never got SIGTERM: {:?}", read_events(&log)));
        assert!(
            term.t_ms + 5 >= child_exit && term.t_ms <= killed_ms,
            "the {who} got TERM at {}, want after the child exited ({child_exit}) and \
             before the KILL ({killed_ms})",
            term.t_ms
        );
    }
    let waited = killed_ms.saturating_sub(child_exit);
    assert!(
        (GRACE_MS * 8 / 10..GRACE_MS + 3000).contains(&waited),
        "the TERM-ignoring process was killed {waited}ms after the child exited, \
         want about --grace ({GRACE_MS}ms)"
    );
    assert!(exited_ms >= killed_ms, "oxinit exited before the KILL");
    if how == As::Child {
        assert_eq!(ox.leftovers(), Vec::<String>::new(), "left behind");
    }
}

/// Point 7: oxinit's cwd is "/", the child's is the directory oxinit started in.
fn oxinit_pins_no_mount_and_the_child_keeps_the_launch_dir(how: As) {
    let s = scratch();
    let log = s.file("events");
    let gate = s.fifo("gate");
    let script = "echo \"$(date +%s%3N) child ready\" >> \"$0\"; read _ < \"$1\"";
    let mut ox = Oxinit::start_with(
        how,
        &["--", "sh", "-c", script, path_str(&log), path_str(&gate)],
        &[],
        Some(s.path()),
    );
    ox.expect_event(&log, secs(10), "child", "ready");
    let cwd = |pid: i32| fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let me = ox.pid();
    wait_until(secs(5), "oxinit's cwd to be /", || {
        (cwd(me).as_deref() == Some(Path::new("/"))).then_some(())
    });
    let child = children(me)[0];
    assert_eq!(
        cwd(child),
        Some(fs::canonicalize(s.path()).unwrap()),
        "the child's cwd"
    );
    open_gate(&gate, secs(10));
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
}

/// Point 8: whatever oxinit inherited (here: INT, QUIT, TERM, HUP, PIPE and a
/// real-time signal ignored; USR1, USR2, TERM, HUP, WINCH and a real-time signal
/// blocked), the child starts with an empty signal mask and nothing ignored.
fn the_child_starts_with_an_empty_mask_and_default_dispositions(how: As) {
    let launcher = script_path("launcher.py");
    let mut ox = Oxinit::start_prefixed(
        how,
        &[
            python(),
            path_str(&launcher),
            "--ignore",
            "INT,QUIT,TERM,HUP,PIPE,RTMIN",
            "--block",
            "USR1,USR2,TERM,HUP,WINCH,RTMAX",
            "--",
        ],
        &["--", "cat", "/proc/self/status"],
        &[],
        None,
    );
    assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
    let status = ox.stdout();
    let mask = |key: &str| {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the child's /proc/self/status:\n{status}"));
        u64::from_str_radix(value.trim(), 16).expect("a hex mask")
    };
    assert_eq!(
        mask("SigBlk:"),
        0,
        "the child's blocked signals (SigBlk), bit N-1 = signal N"
    );
    // Signals 32 and 33 are glibc's own (thread cancellation, setxid): glibc will
    // not let a program change them, and its posix_spawn (std's Command) leaves
    // them ignored in the child, so oxinit may have them ignored with no way out.
    let glibc_internal = (1u64 << 31) | (1u64 << 32);
    assert_eq!(
        mask("SigIgn:") & !glibc_internal,
        0,
        "the child's ignored signals (SigIgn), bit N-1 = signal N"
    );
}

/// Point 8: SIGPIPE is at its default in the child (Rust ignores it in oxinit, a
/// parent may too): `yes | head -n 1` ends `yes` by SIGPIPE, silently.
fn sigpipe_is_default_in_the_child(how: As) {
    let launcher = script_path("launcher.py");
    let ignore_pipe = [python(), path_str(&launcher), "--ignore", "PIPE", "--"];
    for prefix in [&[][..], &ignore_pipe[..]] {
        let script = "(yes; echo \"yes-status=$?\" >&2) | head -n 1";
        let mut ox = Oxinit::start_prefixed(how, prefix, &["--", "sh", "-c", script], &[], None);
        assert_eq!(ox.wait(secs(10)), ExitCode::Code(0));
        let err = ox.stderr();
        assert!(
            err.contains("yes-status=141") && !err.contains("yes:"),
            "prefix {prefix:?}: want `yes` killed by SIGPIPE (status 141), quietly:\n{}",
            ox.output()
        );
        assert_eq!(ox.stdout(), "y\n");
    }
}

/// Point 5: a command that does not exist: 127 and one line naming it and why.
fn a_command_not_found_is_127_with_one_line(how: As) {
    for command in [
        "oxinit-test-no-such-command",
        "/nonexistent/oxinit-test-cmd",
    ] {
        let mut ox = Oxinit::start(how, &["--", command, "arg"]);
        assert_eq!(ox.wait(secs(10)), ExitCode::Code(127), "{command}");
        let lines = stderr_lines(&ox);
        assert!(
            lines.len() == 1
                && lines[0].contains(command)
                && ["not found", "no such file"]
                    .iter()
                    .any(|why| lines[0].to_lowercase().contains(why)),
            "want one stderr line naming {command} and saying it is not found, got {lines:#?}"
        );
    }
}

/// Point 5: a command that exists but cannot be executed: 126 and one line
/// naming it. A script whose interpreter is missing counts (execve says ENOENT,
/// but the command itself was found).
fn a_command_that_cannot_run_is_126_with_one_line(how: As) {
    let s = scratch();
    let not_executable = s.file("not-executable.sh");
    fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
    let directory = s.file("a-directory");
    fs::create_dir(&directory).unwrap();
    let bad_interpreter = s.script("bad-interpreter.sh", "#!/nonexistent/interpreter\n");
    for command in [&not_executable, &directory, &bad_interpreter] {
        let command = path_str(command);
        let mut ox = Oxinit::start(how, &["--", command]);
        assert_eq!(ox.wait(secs(10)), ExitCode::Code(126), "{command}");
        let lines = stderr_lines(&ox);
        assert!(
            lines.len() == 1 && lines[0].contains(command),
            "want one stderr line naming {command}, got {lines:#?}"
        );
    }
}

/// Issue 15 point 5: ENOEXEC is 126 "exec format error", whether the command
/// is a path or found in $PATH; oxinit never falls back to running the file
/// with /bin/sh (glibc's execvp does: a broken ELF then exits 127 with sh's
/// message, and a text file without `#!` runs as a shell script).
fn a_file_that_is_not_an_executable_is_126_and_never_a_shell_script(how: As) {
    let s = scratch();
    let ran = s.file("ran");
    // A text file without `#!`: sh would run it and create `ran`.
    s.script("no-shebang", &format!("touch '{}'\n", ran.display()));
    // A truncated ELF header: the kernel refuses it with ENOEXEC.
    s.script("broken-elf", "\x7fELF\x02\x01\x01");
    let bin_dir = path_str(s.path()).to_owned();
    let path = format!("{bin_dir}:/usr/bin:/bin");
    for command in [
        format!("{bin_dir}/no-shebang"),
        "no-shebang".to_string(),
        format!("{bin_dir}/broken-elf"),
        "broken-elf".to_string(),
    ] {
        let mut ox = Oxinit::start_with(how, &["--", &command], &[("PATH", &path)], None);
        assert_eq!(
            ox.wait(secs(10)),
            ExitCode::Code(126),
            "{command}\n{}",
            ox.output()
        );
        let lines = stderr_lines(&ox);
        assert!(
            lines.len() == 1
                && lines[0].contains(&command)
                && lines[0].contains("exec format error"),
            "want one stderr line naming {command} and saying \"exec format error\", got {lines:#?}"
        );
        assert!(!ran.exists(), "{command} was run by a shell");
    }
}

/// Runs tests/scripts/pty_session.py SCENARIO with oxinit owning a fresh pty as
/// its controlling terminal (ctty_exec.py, like `docker run -it`).
fn pty_session(how: As, scenario: &str, command: &[&str]) {
    let s = scratch();
    let ctty_exec = script_path("ctty_exec.py");
    let mut args = vec!["--"];
    args.extend_from_slice(command);
    let leftovers = s.file("leftovers");
    let argv = command_line(how, &[python(), path_str(&ctty_exec)], &args, &leftovers);
    let out = run(
        Command::new(python())
            .arg(script_path("pty_session.py"))
            .arg(scenario)
            .arg("--")
            .args(&argv)
            .env("PS1", "OXP$ ")
            .env("TERM", "dumb")
            .env("HISTFILE", "/dev/null")
            .env_remove("PROMPT_COMMAND")
            .current_dir(s.path()),
        secs(60),
    );
    assert_eq!(
        out.code,
        ExitCode::Code(0),
        "{scenario}:\n{}{}",
        out.stdout,
        out.stderr
    );
    let left = fs::read_to_string(&leftovers).unwrap_or_default();
    assert!(left.is_empty(), "left behind:\n{left}");
}

/// Point 1: `oxinit -- bash -m` on a terminal has working job control.
fn bash_has_job_control_on_a_terminal(how: As) {
    pty_session(
        how,
        "bash-jobs",
        &["bash", "--norc", "--noprofile", "--noediting", "-i", "-m"],
    );
}

/// Point 1: `oxinit -- tac` is the terminal's foreground job: reads and writes it.
fn tac_reads_and_writes_the_terminal(how: As) {
    pty_session(how, "tac", &["tac"]);
}

/// A write of oxinit's own that fails with EPIPE (its stderr is a pipe nobody
/// reads any more) raises SIGPIPE against oxinit itself. That signal is not the
/// child's business: it must not be forwarded (the child would die of it).
#[test]
fn oxinit_does_not_forward_its_own_sigpipe() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let ready = dir.path().join("ready");
    let script = format!(
        "trap 'echo PIPE >> {log}' PIPE; trap 'echo USR1 >> {log}; exit 0' USR1; \
         touch {ready}; while :; do sleep 0.05; done",
        log = path_str(&log),
        ready = path_str(&ready),
    );
    let mut ox = Command::new(bin())
        .args(["--", "sh", "-c", &script])
        // Debug level: oxinit writes a line when it starts the child and one
        // per signal, so it writes into the broken pipe at least once.
        .env("OXINIT_LOG_LEVEL", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(ox.stderr.take()); // nobody reads oxinit's stderr any more
    let deadline = Instant::now() + secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the child never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give a forwarded SIGPIPE every chance to arrive first: signals are
    // forwarded in the order oxinit reads them.
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ox.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = ox.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            ox.kill().unwrap();
            panic!("oxinit did not exit after the child's USR1 trap");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seen = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(seen, "USR1\n", "what the child's traps saw");
    assert_eq!(status.code(), Some(0));
}

/// Like tini, oxinit passes CMD's arguments on byte for byte: a file name in
/// Latin-1 is not UTF-8, and must reach the child unchanged.
#[test]
fn a_non_utf8_argument_reaches_the_child_unchanged() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let status = Command::new(bin())
        .args(["--", "sh", "-c", "printf %s \"$1\" > \"$0\""])
        .arg(&out)
        .arg(latin1)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(fs::read(&out).unwrap(), b"caf\xe9");
}
