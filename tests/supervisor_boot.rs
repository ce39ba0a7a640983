//! Supervisor mode, boot: oneshots run in dependency order, each to
//! completion; a service starts once its dependencies are met; a oneshot that
//! fails, dies, times out or cannot be executed aborts boot — what already runs
//! is stopped in order, nothing that depends on it starts, and oxinit exits with
//! the oneshot's code.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{require_root, As};
use supervisor::*;

/// restore → migrate (oneshots) → litestream → api (services), the oxfile from
/// DESIGN.md in miniature.
fn boot_order(how: As) {
    let rig = Rig::new();
    let restore = rig.oneshot("restore", 150, 0);
    let migrate = rig.oneshot("migrate", 150, 0);
    let litestream = rig.service("litestream", 0);
    // api checks, as its very first act, whether litestream is already running:
    // "depends on a service" means that service was started before this one.
    let api = rig.script(
        "api",
        &graceful(
            &format!("if pgrep -f '{litestream}' >/dev/null; then log saw litestream; fi\n"),
            "",
            0,
        ),
    );
    let mut ox = rig.run(
        how,
        &format!(
            r#"{INIT}
[processes.restore]
command = "{restore}"
oneshot = true

[processes.migrate]
command = "{migrate}"
oneshot = true
depends_on = ["restore"]

[processes.litestream]
command = "{litestream}"
depends_on = ["migrate"]
stop_timeout = "2s"

[processes.api]
command = "{api}"
depends_on = ["migrate", "litestream"]
stop_timeout = "2s"
"#
        ),
    );
    rig.wait_event(&ox, "api", "start");
    rig.wait_event(&ox, "litestream", "start");

    // Each oneshot ran to completion before anything that depends on it began.
    assert_not_after(&rig, ("restore", "done"), ("migrate", "start"));
    assert_not_after(&rig, ("migrate", "done"), ("litestream", "start"));
    assert_not_after(&rig, ("migrate", "done"), ("api", "start"));
    assert_eq!(
        rig.count("api", "saw litestream"),
        1,
        "api started before litestream was running\n{}",
        rig.report(&ox)
    );
    for who in ["restore", "migrate", "litestream", "api"] {
        assert_eq!(
            rig.count(who, "start"),
            1,
            "{who} starts\n{}",
            rig.report(&ox)
        );
    }

    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    // And the stop order is the reverse of the start order.
    assert_not_after(&rig, ("api", "exit"), ("litestream", "got TERM"));
}

#[test]
fn boot_runs_oneshots_then_services_in_dependency_order_as_pid1() {
    if require_root("boot_runs_oneshots_then_services_in_dependency_order_as_pid1") {
        boot_order(As::Pid1);
    }
}

#[test]
fn boot_runs_oneshots_then_services_in_dependency_order_as_subreaper() {
    boot_order(As::Child);
}

/// migrate fails (exit 3) while db and web (which need only restore) are
/// already running: web stops before db, api and worker never start.
fn failed_oneshot(how: As) {
    let rig = Rig::new();
    let restore = rig.oneshot("restore", 0, 0);
    let db = rig.service("db", 100);
    let web = rig.service("web", 100);
    // migrate fails only once web runs, so there is something to stop; it gives
    // up waiting after 5 s so a wrong implementation fails instead of hanging.
    let migrate = rig.script(
        "migrate",
        "log start\n\
         i=0\n\
         while ! grep -q ' web start$' \"$LOG\" && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done\n\
         log fail\n\
         exit 3\n",
    );
    let api = rig.service("api", 0);
    let worker = rig.service("worker", 0);
    let mut ox = rig.run(
        how,
        &format!(
            r#"{INIT}
[processes.restore]
command = "{restore}"
oneshot = true

[processes.db]
command = "{db}"
depends_on = ["restore"]
stop_timeout = "2s"

[processes.web]
command = "{web}"
depends_on = ["db"]
stop_timeout = "2s"

[processes.migrate]
command = "{migrate}"
oneshot = true
depends_on = ["restore"]

[processes.api]
command = "{api}"
depends_on = ["migrate"]

[processes.worker]
command = "{worker}"
depends_on = ["api"]
"#
        ),
    );
    rig.expect_exit(&mut ox, 3);

    assert_eq!(rig.count("migrate", "fail"), 1, "{}", rig.report(&ox));
    assert_eq!(
        rig.count("api", "start"),
        0,
        "api depends on the failed migrate\n{}",
        rig.report(&ox)
    );
    assert_eq!(
        rig.count("worker", "start"),
        0,
        "worker depends on api\n{}",
        rig.report(&ox)
    );
    // What already ran was stopped, once each, in reverse dependency order.
    assert_eq!(rig.signals_seen("web"), ["TERM"], "{}", rig.report(&ox));
    assert_eq!(rig.signals_seen("db"), ["TERM"], "{}", rig.report(&ox));
    assert_not_after(&rig, ("web", "exit"), ("db", "got TERM"));
    assert!(
        ox.stderr().contains("migrate"),
        "oxinit should say which process aborted boot\n{}",
        rig.report(&ox)
    );
}

#[test]
fn failed_oneshot_aborts_boot_and_exits_with_its_code_as_pid1() {
    if require_root("failed_oneshot_aborts_boot_and_exits_with_its_code_as_pid1") {
        failed_oneshot(As::Pid1);
    }
}

#[test]
fn failed_oneshot_aborts_boot_and_exits_with_its_code_as_subreaper() {
    failed_oneshot(As::Child);
}

#[test]
fn oneshot_killed_by_a_signal_aborts_boot_with_128_plus_n() {
    if !require_root("oneshot_killed_by_a_signal_aborts_boot_with_128_plus_n") {
        return;
    }
    let rig = Rig::new();
    // SIGUSR1's default action terminates: the oneshot dies of signal 10.
    let prepare = rig.script("prepare", "log start\nkill -USR1 $$\nlog survived\n");
    let app = rig.service("app", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.prepare]
command = "{prepare}"
oneshot = true

[processes.app]
command = "{app}"
depends_on = ["prepare"]
"#
        ),
    );
    rig.expect_exit(&mut ox, 128 + libc::SIGUSR1);
    assert_eq!(rig.count("prepare", "start"), 1, "{}", rig.report(&ox));
    assert_eq!(rig.count("prepare", "survived"), 0, "{}", rig.report(&ox));
    assert_eq!(rig.count("app", "start"), 0, "{}", rig.report(&ox));
}

#[test]
fn oneshot_outliving_its_timeout_is_stopped_and_aborts_boot() {
    if !require_root("oneshot_outliving_its_timeout_is_stopped_and_aborts_boot") {
        return;
    }
    let rig = Rig::new();
    // Exits 7 on its stop signal: oxinit must exit with the oneshot's own code.
    let migrate = rig.script(
        "migrate",
        &format!(
            "trap 'log got TERM; kill $! 2>/dev/null; exit 7' TERM\n\
             log start\n{SERVE_FOREVER}"
        ),
    );
    let app = rig.service("app", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.migrate]
command = "{migrate}"
oneshot = true
timeout = "300ms"
stop_timeout = "2s"

[processes.app]
command = "{app}"
depends_on = ["migrate"]
"#
        ),
    );
    rig.expect_exit(&mut ox, 7);
    assert_eq!(rig.signals_seen("migrate"), ["TERM"], "{}", rig.report(&ox));
    // `start` is logged after the spawn, by up to ~100 ms on a loaded machine,
    // so the timer may look that much early; late is bounded generously.
    let ran = rig.at("migrate", "got TERM") as i64 - rig.at("migrate", "start") as i64;
    assert_within(
        &rig,
        "migrate's run time until its stop signal",
        ran,
        200,
        900,
    );
    assert_eq!(rig.count("app", "start"), 0, "{}", rig.report(&ox));
}

#[test]
fn oneshot_ignoring_its_timeout_stop_signal_is_killed_after_stop_timeout() {
    if !require_root("oneshot_ignoring_its_timeout_stop_signal_is_killed_after_stop_timeout") {
        return;
    }
    let rig = Rig::new();
    let migrate = rig.stubborn("migrate");
    let app = rig.service("app", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"[init]
orphan_grace = "100ms"
shutdown_timeout = "10s"

[processes.migrate]
command = "{migrate}"
oneshot = true
timeout = "300ms"
stop_timeout = "300ms"

[processes.app]
command = "{app}"
depends_on = ["migrate"]
"#
        ),
    );
    let term = rig.wait_event(&ox, "migrate", "got TERM");
    let code = rig.finish(&mut ox);
    let exited = now_ms();
    assert_eq!(code, 128 + libc::SIGKILL, "exit code\n{}", rig.report(&ox));
    // Killed at stop_timeout after its stop signal, not sooner (less up to
    // ~100 ms by which `got TERM` can be logged late on a loaded machine); the
    // upper bound also covers reaping, the leftover sweep and 10 ms polling.
    assert_within(
        &rig,
        "stop signal to oxinit's exit",
        (exited - term) as i64,
        200,
        1500,
    );
    assert_eq!(rig.signals_seen("migrate"), ["TERM"], "{}", rig.report(&ox));
    assert_eq!(rig.count("app", "start"), 0, "{}", rig.report(&ox));
}

#[test]
fn oneshot_that_cannot_be_executed_aborts_boot_with_127_naming_it() {
    if !require_root("oneshot_that_cannot_be_executed_aborts_boot_with_127_naming_it") {
        return;
    }
    let rig = Rig::new();
    let missing = rig.path("no-such-program");
    let app = rig.service("app", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.prepare]
command = "{missing} --flag"
oneshot = true

[processes.app]
command = "{app}"
depends_on = ["prepare"]
"#
        ),
    );
    rig.expect_exit(&mut ox, 127);
    assert_eq!(rig.count("app", "start"), 0, "{}", rig.report(&ox));
    let stderr = ox.stderr();
    assert!(
        stderr.contains("prepare"),
        "the failure should name the process\n{}",
        rig.report(&ox)
    );
}

#[test]
fn service_whose_command_is_not_executable_fails_with_126_naming_it() {
    if !require_root("service_whose_command_is_not_executable_fails_with_126_naming_it") {
        return;
    }
    let rig = Rig::new();
    // A script without the executable bit: execve fails with EACCES, even for root.
    let plain = rig.file("not-executable.sh");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").expect("write script");
    let other = rig.service("other", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.api]
command = "{plain}"
restart = "never"

[processes.other]
command = "{other}"
stop_timeout = "2s"
"#,
            plain = plain.display()
        ),
    );
    rig.expect_exit(&mut ox, 126);
    assert!(
        ox.stderr().contains("api"),
        "the failure should name the process\n{}",
        rig.report(&ox)
    );
}

/// Issue 10 point 6 (and issue 15 point 5 in supervisor mode): a critical
/// service whose first start cannot succeed — not found (127), not an
/// executable (126, never run by /bin/sh), a missing `cwd` (126) — aborts the
/// boot with that code and one line naming the process and the cause, instead
/// of retrying with backoff while the rest runs without it.
#[test]
fn a_critical_service_that_cannot_start_aborts_boot_with_its_code_and_one_line() {
    let rig = Rig::new();
    let missing = rig.path("no-such-program");
    let ran = rig.file("ran-by-a-shell");
    let no_shebang = rig
        .scratch
        .script("no-shebang", &format!("touch '{}'\n", ran.display()));
    let app = rig.service("app", 0);
    let nowhere = rig.path("no-such-dir");
    let cases = [
        (format!("command = \"{missing}\""), 127, "no such file"),
        (
            format!("command = \"{}\"", no_shebang.display()),
            126,
            "exec format error",
        ),
        (
            format!("command = \"{app}\"\ncwd = \"{nowhere}\""),
            126,
            "does not exist",
        ),
    ];
    for (api, code, cause) in cases {
        let _ = std::fs::remove_file(&rig.log);
        let replicator = rig.service("replicator", 0);
        let mut ox = rig.run(
            As::Child,
            &format!(
                r#"{INIT}
[processes.replicator]
command = "{replicator}"
stop_timeout = "2s"

[processes.api]
{api}
depends_on = ["replicator"]
restart_delay = "2s"
"#
            ),
        );
        rig.expect_exit(&mut ox, code);
        let stderr = ox.stderr();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("api") && l.contains(cause))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{cause}: want one line\n{}",
            rig.report(&ox)
        );
        assert!(
            lines[0].contains("boot aborted"),
            "{cause}: {}\n{}",
            lines[0],
            rig.report(&ox)
        );
        assert!(!stderr.contains("restarting in"), "{}", rig.report(&ox));
        // (It may get TERM before its traps are set: api starts right after it.)
        assert!(
            stderr.contains("stopping replicator"),
            "{}",
            rig.report(&ox)
        );
        assert!(!ran.exists(), "a shell ran the file without #!");
    }
}
