//! Supervisor mode, restarts: the restart policies, the doubling backoff and
//! its reset, the crash-loop cutoff, and what a failed service does to the rest
//! (critical: ordered shutdown with its code; `critical = false`: left failed).

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{require_root, As};
use supervisor::*;

/// Gaps between each `exit` and the next `start` of `who`, in ms.
fn restart_gaps(rig: &Rig, who: &str) -> Vec<i64> {
    let exits = rig.times(who, "exit");
    let starts = rig.times(who, "start");
    exits
        .iter()
        .zip(starts.iter().skip(1))
        .map(|(&exit, &start)| start as i64 - exit as i64)
        .collect()
}

/// A restart may come late on a loaded machine, never early: each gap must be
/// at least the delay (less clock granularity) and at most the delay plus a
/// generous 500 ms. The lower bounds catch a delay that does not grow; the
/// upper bounds catch one that grows past its cap or is not reset — with a
/// 200 ms base those differ from the right answer by 600 ms or more.
fn assert_gaps(rig: &Rig, gaps: &[i64], expected: &[i64]) {
    assert!(
        gaps.len() >= expected.len(),
        "too few restarts\n{}",
        rig.dump()
    );
    for (i, (&gap, &want)) in gaps.iter().zip(expected).enumerate() {
        assert_within(
            rig,
            &format!("restart delay #{}", i + 1),
            gap,
            want - 20,
            want + 500,
        );
    }
}

#[test]
fn restart_delays_double_up_to_restart_delay_max() {
    if !require_root("restart_delays_double_up_to_restart_delay_max") {
        return;
    }
    let rig = Rig::new();
    let crashy = rig.crasher("crashy", 1);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.crashy]
command = "{crashy}"
restart = "always"
restart_delay = "200ms"
restart_delay_max = "800ms"
max_restarts = 50
restart_window = "5m"
"#
        ),
    );
    rig.wait_count(&ox, "crashy", "exit", 5);
    ox.signal(libc::SIGTERM);
    let starts_at_term = rig.count("crashy", "start");
    rig.finish(&mut ox);

    let gaps = restart_gaps(&rig, "crashy");
    assert_gaps(&rig, &gaps, &[200, 400, 800, 800]);
    // A restart already under way may land, but none is scheduled after TERM.
    assert!(
        rig.count("crashy", "start") <= starts_at_term + 1,
        "restarted after the shutdown began\n{}",
        rig.report(&ox)
    );
}

#[test]
fn restart_delay_resets_after_restart_reset_of_uptime() {
    if !require_root("restart_delay_resets_after_restart_reset_of_uptime") {
        return;
    }
    let rig = Rig::new();
    // Runs 1-3 and 5 crash at once; run 4 stays up 1.3 s, past restart_reset.
    let crashy = rig.script(
        "crashy",
        "n=$(cat \"$DIR/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$DIR/count\"\n\
         log start\n\
         if [ $n -eq 4 ]; then sleep 1.3; fi\n\
         log exit\n\
         exit 1\n",
    );
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.crashy]
command = "{crashy}"
restart = "on-failure"
restart_delay = "200ms"
restart_delay_max = "5s"
restart_reset = "1s"
max_restarts = 50
"#
        ),
    );
    rig.wait_count(&ox, "crashy", "start", 6);
    ox.signal(libc::SIGTERM);
    rig.finish(&mut ox);

    let gaps = restart_gaps(&rig, "crashy");
    // 200, 400, 800 — then the long run resets the backoff: 200 (not 1600), 400.
    assert_gaps(&rig, &gaps, &[200, 400, 800, 200, 400]);
}

#[test]
fn restart_always_restarts_after_a_clean_exit_too() {
    if !require_root("restart_always_restarts_after_a_clean_exit_too") {
        return;
    }
    let rig = Rig::new();
    let tidy = rig.crasher("tidy", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.tidy]
command = "{tidy}"
restart = "always"
restart_delay = "50ms"
restart_delay_max = "50ms"
"#
        ),
    );
    rig.wait_count(&ox, "tidy", "start", 3);
    ox.signal(libc::SIGTERM);
    rig.finish(&mut ox);
}

#[test]
fn restart_on_failure_restarts_after_a_non_zero_exit() {
    if !require_root("restart_on_failure_restarts_after_a_non_zero_exit") {
        return;
    }
    let rig = Rig::new();
    // Fails on its first run, then serves.
    let flaky = rig.script(
        "flaky",
        &format!(
            "trap 'log got TERM; kill $! 2>/dev/null; log exit; exit 0' TERM\n\
             log start\n\
             if [ ! -e \"$DIR/ran\" ]; then touch \"$DIR/ran\"; log exit; exit 1; fi\n\
             log serving\n{SERVE_FOREVER}"
        ),
    );
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.flaky]
command = "{flaky}"
restart = "on-failure"
restart_delay = "50ms"
stop_timeout = "2s"
"#
        ),
    );
    rig.wait_event(&ox, "flaky", "serving");
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    assert_eq!(rig.count("flaky", "start"), 2, "{}", rig.report(&ox));
}

/// A critical service that exits for good (`restart = "never"`, or
/// `on-failure` after exit 0) shuts everything down in order and oxinit exits
/// with its code.
fn exits_for_good(restart: &str, code: i32) {
    let rig = Rig::new();
    let job = rig.crasher("job", code);
    let bystander = rig.service("bystander", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.bystander]
command = "{bystander}"
stop_timeout = "2s"

[processes.job]
command = "{job}"
restart = "{restart}"
depends_on = ["bystander"]
restart_delay = "50ms"
"#
        ),
    );
    rig.expect_exit(&mut ox, code);
    assert_eq!(rig.count("job", "start"), 1, "{}", rig.report(&ox));
    assert_eq!(
        rig.signals_seen("bystander"),
        ["TERM"],
        "{}",
        rig.report(&ox)
    );
    assert_not_after(&rig, ("job", "exit"), ("bystander", "got TERM"));
}

#[test]
fn critical_service_with_restart_never_shuts_down_with_its_code() {
    if require_root("critical_service_with_restart_never_shuts_down_with_its_code") {
        exits_for_good("never", 5);
    }
}

#[test]
fn critical_service_with_restart_on_failure_exiting_0_shuts_down_with_0() {
    if require_root("critical_service_with_restart_on_failure_exiting_0_shuts_down_with_0") {
        exits_for_good("on-failure", 0);
    }
}

#[test]
fn critical_service_killed_by_a_signal_shuts_down_with_128_plus_n() {
    if !require_root("critical_service_killed_by_a_signal_shuts_down_with_128_plus_n") {
        return;
    }
    let rig = Rig::new();
    let job = rig.script("job", "log start\nkill -USR1 $$\nlog survived\n");
    let bystander = rig.service("bystander", 0);
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.job]
command = "{job}"
restart = "never"

[processes.bystander]
command = "{bystander}"
stop_timeout = "2s"
"#
        ),
    );
    rig.expect_exit(&mut ox, 128 + libc::SIGUSR1);
    assert_eq!(rig.count("job", "survived"), 0, "{}", rig.report(&ox));
}

/// More than max_restarts within restart_window: failed; critical by default,
/// so everything stops in order and oxinit exits with the service's code.
fn crash_loop_cutoff(how: As) {
    let rig = Rig::new();
    let crashy = rig.crasher("crashy", 3);
    let bystander = rig.service("bystander", 0);
    let mut ox = rig.run(
        how,
        &format!(
            r#"{INIT}
[processes.bystander]
command = "{bystander}"
stop_timeout = "2s"

[processes.crashy]
command = "{crashy}"
restart = "always"
restart_delay = "50ms"
restart_delay_max = "50ms"
max_restarts = 3
restart_window = "1m"
"#
        ),
    );
    rig.expect_exit(&mut ox, 3);
    // One start plus 3 restarts; one more is tolerated in case the lead counts
    // the run that trips the limit. Either way, far fewer than without a cutoff.
    let starts = rig.count("crashy", "start");
    assert!(
        (4..=5).contains(&starts),
        "crashy started {starts} times with max_restarts = 3\n{}",
        rig.report(&ox)
    );
    assert_eq!(
        rig.signals_seen("bystander"),
        ["TERM"],
        "{}",
        rig.report(&ox)
    );
    let last_exit = *rig.times("crashy", "exit").last().expect("crashy exited");
    assert!(
        last_exit <= rig.at("bystander", "got TERM"),
        "bystander was stopped before crashy failed for good\n{}",
        rig.report(&ox)
    );
}

/// Issue 15 point 6: a critical service crash-looping with exit 0 has failed,
/// so the container ends non-zero (1): Docker's and Fly's `on-failure`
/// policies read 0 as success and would not restart the machine.
#[test]
fn a_critical_service_crash_looping_with_exit_0_ends_the_container_with_1() {
    let rig = Rig::new();
    let crashy = rig.crasher("crashy", 0);
    let mut ox = rig.run(
        As::Child,
        &format!(
            r#"{INIT}
[processes.crashy]
command = "{crashy}"
restart_delay = "50ms"
restart_delay_max = "50ms"
max_restarts = 2
restart_window = "1m"
"#
        ),
    );
    rig.expect_exit(&mut ox, 1);
    assert!(rig.count("crashy", "start") >= 3, "{}", rig.report(&ox));
}

#[test]
fn crash_loop_cutoff_fails_a_critical_service_and_shuts_down_as_pid1() {
    if require_root("crash_loop_cutoff_fails_a_critical_service_and_shuts_down_as_pid1") {
        crash_loop_cutoff(As::Pid1);
    }
}

#[test]
fn crash_loop_cutoff_fails_a_critical_service_and_shuts_down_as_subreaper() {
    crash_loop_cutoff(As::Child);
}

#[test]
fn restarts_spread_wider_than_restart_window_never_trip_the_cutoff() {
    if !require_root("restarts_spread_wider_than_restart_window_never_trip_the_cutoff") {
        return;
    }
    let rig = Rig::new();
    // Each run lasts 300 ms and the delay is 100 ms: consecutive restarts are
    // ~400 ms apart, so a 200 ms window never holds more than the newest one.
    let slow = rig.script("slow", "log start\nsleep 0.3\nlog exit\nexit 1\n");
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.slow]
command = "{slow}"
restart = "always"
restart_delay = "100ms"
restart_delay_max = "100ms"
max_restarts = 1
restart_window = "200ms"
"#
        ),
    );
    // With the window ignored, max_restarts = 1 would stop it after 2 starts.
    rig.wait_count(&ox, "slow", "start", 4);
    ox.signal(libc::SIGTERM);
    rig.finish(&mut ox);
}

#[test]
fn non_critical_service_is_left_failed_while_the_others_run_on() {
    if !require_root("non_critical_service_is_left_failed_while_the_others_run_on") {
        return;
    }
    let rig = Rig::new();
    let flaky = rig.crasher("flaky", 4);
    let steady = rig.script(
        "steady",
        "trap 'log got TERM; kill $! 2>/dev/null; log exit; exit 0' TERM\n\
         log start\n\
         while :; do log tick; sleep 0.1 & wait $!; done\n",
    );
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"{INIT}
[processes.steady]
command = "{steady}"
stop_timeout = "2s"

[processes.flaky]
command = "{flaky}"
critical = false
restart = "on-failure"
restart_delay = "50ms"
restart_delay_max = "50ms"
max_restarts = 1
restart_window = "1m"
"#
        ),
    );
    rig.wait_count(&ox, "flaky", "exit", 2);
    // Let steady tick on well past any restart delay, twice, and check flaky
    // stays failed (no more starts) and steady is never stopped.
    let ticks = rig.count("steady", "tick");
    rig.wait_count(&ox, "steady", "tick", ticks + 5);
    let starts = rig.count("flaky", "start");
    assert!(
        (2..=3).contains(&starts),
        "flaky started {starts} times with max_restarts = 1\n{}",
        rig.report(&ox)
    );
    rig.wait_count(&ox, "steady", "tick", ticks + 10);
    assert_eq!(
        rig.count("flaky", "start"),
        starts,
        "a failed process was restarted\n{}",
        rig.report(&ox)
    );
    assert_eq!(
        rig.signals_seen("steady"),
        Vec::<String>::new(),
        "{}",
        rig.report(&ox)
    );

    ox.signal(libc::SIGTERM);
    // Requested shutdown, steady stopped on its signal: 0 — the failed
    // non-critical process does not turn a clean shutdown into a failure.
    rig.expect_exit(&mut ox, 0);
    assert_eq!(rig.signals_seen("steady"), ["TERM"], "{}", rig.report(&ox));
}
