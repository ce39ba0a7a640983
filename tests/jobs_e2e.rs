//! Scheduled jobs of the real oxinit in supervisor mode (issue 4): `@every`
//! runs repeat at their pace and never overlap, a run still going when the
//! next is due makes that one skipped (not queued, not doubled), `timeout`
//! stops a stuck run, and failing jobs never take the container down.
//!
//! Each job is a shell script that logs "start <pid>" and "end <pid>" (with
//! the Unix time in ms) to an event log; the assertions compare those
//! intervals, the snapshot, and `/metrics`.

mod common;
#[path = "common/live.rs"]
mod live;

use std::path::{Path, PathBuf};

use common::*;
use live::*;

/// `$name(As::Pid1)` as `$name::pid1` (root only).
macro_rules! pid1 {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn pid1() {
                if super::require_root(concat!(stringify!($name), "::pid1")) {
                    super::$name(super::As::Pid1);
                }
            }
        }
    )*};
}

pid1!(
    an_every_1s_job_runs_repeatedly_without_overlap,
    a_run_still_going_when_the_next_is_due_is_skipped_not_doubled,
    a_stuck_run_is_stopped_by_its_timeout_and_failures_keep_the_container_up,
);

/// A job script logging "<ms> WHO start <pid>", running `body`, then logging
/// "end <pid> <code>" and exiting with that code. A run that finds another
/// one's mark (a directory, created atomically; `$mark` in `body`) logs
/// "overlap".
fn job_script(s: &Scratch, who: &str, log: &Path, body: &str) -> PathBuf {
    let mark = s.file(&format!("{who}.running"));
    s.script(
        &format!("{who}.sh"),
        &format!(
            r#"#!/bin/sh
log() {{ echo "$(date +%s%3N) {who} $*" >> {log}; }}
mark={mark}
mkdir "$mark" 2>/dev/null || log overlap
log start $$
{body}
code=$?
rmdir "$mark"
log end $$ $code
exit $code
"#,
            log = path_str(log),
            mark = path_str(&mark),
        ),
    )
}

/// (start, end) of each finished run of `who`, paired by pid.
fn runs(live: &Live, who: &str) -> Vec<(u64, u64)> {
    let ends = live.events(who, "end");
    live.events(who, "start")
        .iter()
        .filter_map(|start| {
            let pid = logged_pid(start);
            let end = ends.iter().find(|e| logged_pid(e) == pid)?;
            Some((start.t_ms, end.t_ms))
        })
        .collect()
}

/// Each run starts after the previous one ended.
fn assert_no_overlap(live: &Live, who: &str, runs: &[(u64, u64)]) {
    assert!(
        live.events(who, "overlap").is_empty(),
        "two runs of {who} at once: {:?}",
        live.events(who, "")
    );
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "a run of {who} started at {} before the previous one ended at {}: {runs:?}",
            pair[1].0,
            pair[0].1
        );
    }
}

/// `@every 1s` with a short job: a run about every second, one at a time.
fn an_every_1s_job_runs_repeatedly_without_overlap(how: As) {
    let s = scratch();
    let log = s.file("events");
    let job = job_script(&s, "tick", &log, "sleep 0.3");
    let procs = format!(
        "[processes.tick]\ncommand = {}\nschedule = \"@every 1s\"\n",
        toml_str(path_str(&job)),
    );
    let live = Live::start(how, s, Metrics::On, &procs);
    let job = live.process("tick");
    assert_eq!(job["kind"], "job", "{job:#}");
    wait_until(secs(10), "four finished runs of tick", || {
        (runs(&live, "tick").len() >= 4).then_some(())
    });
    let runs = runs(&live, "tick");
    assert_no_overlap(&live, "tick", &runs);
    for pair in runs.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            (600..2000).contains(&gap),
            "runs of an @every 1s job {gap}ms apart: {runs:?}"
        );
    }
    let m = live.metrics();
    let success = metric_in(
        &m,
        r#"oxinit_job_runs_total{process="tick",result="success"}"#,
    );
    assert!(success >= Some(4.0), "successful runs counted: {success:?}");
    let skipped = metric_in(
        &m,
        r#"oxinit_job_runs_total{process="tick",result="skipped"}"#,
    );
    assert_eq!(
        skipped,
        Some(0.0),
        "a 0.3s job never overlaps its next tick"
    );
    let job = live.process("tick");
    assert_eq!(job["last_exit"]["code"], 0, "{job:#}");
    assert!(
        job["next_run"].is_number(),
        "a job shows its next run: {job:#}"
    );
    live.shut_down();
}

/// `@every 1s` with a 1.6 s job: the tick that finds it running is skipped
/// and counted, the next run starts at the first tick after it ended.
fn a_run_still_going_when_the_next_is_due_is_skipped_not_doubled(how: As) {
    let s = scratch();
    let log = s.file("events");
    let job = job_script(&s, "slow", &log, "sleep 1.6");
    let procs = format!(
        "[processes.slow]\ncommand = {}\nschedule = \"@every 1s\"\n",
        toml_str(path_str(&job)),
    );
    let live = Live::start(how, s, Metrics::On, &procs);
    wait_until(secs(12), "three finished runs of slow", || {
        (runs(&live, "slow").len() >= 3).then_some(())
    });
    let runs = runs(&live, "slow");
    assert_no_overlap(&live, "slow", &runs);
    for pair in runs.windows(2) {
        let (gap, idle) = (pair[1].0 - pair[0].0, pair[1].0 - pair[0].1);
        assert!(
            gap >= 1600 && idle < 1500,
            "runs {gap}ms apart, {idle}ms after the previous end; want the first tick \
             after the end: {runs:?}"
        );
    }
    let m = live.metrics();
    let skipped = metric_in(
        &m,
        r#"oxinit_job_runs_total{process="slow",result="skipped"}"#,
    )
    .unwrap_or(0.0);
    assert!(
        skipped >= 2.0,
        "each 1.6s run covers a tick: want >= 2 skipped, got {skipped}"
    );
    let success = metric_in(
        &m,
        r#"oxinit_job_runs_total{process="slow",result="success"}"#,
    )
    .unwrap_or(0.0);
    assert!(success >= 3.0, "successful runs: {success}");
    assert!(
        live.ox.stderr().contains("skipping"),
        "oxinit should log the skipped run\n{}",
        live.ox.output()
    );
    live.shut_down();
}

/// A run stuck past `timeout` is stopped (its stop signal reaches it about
/// `timeout` after it started) and the job runs again later; a job that keeps
/// failing is counted; the service beside them is never touched and oxinit
/// keeps running.
fn a_stuck_run_is_stopped_by_its_timeout_and_failures_keep_the_container_up(how: As) {
    let s = scratch();
    let log = s.file("events");
    // `sleep & wait`: the shell runs its TERM trap at once, not after sleep.
    let stuck = job_script(
        &s,
        "stuck",
        &log,
        "trap 'log term; rmdir \"$mark\"; exit 143' TERM\nsleep 30 &\nwait $!",
    );
    let failing = job_script(&s, "failing", &log, "(exit 3)");
    let app = s.script(
        "app.sh",
        &format!(
            "#!/bin/sh\necho \"$(date +%s%3N) app start $$\" >> {}\nexec sleep 1000\n",
            path_str(&log)
        ),
    );
    let procs = format!(
        r#"
[processes.app]
command = {app}

[processes.stuck]
command = {stuck}
schedule = "@every 1s"
timeout = "1s"

[processes.failing]
command = {failing}
schedule = "@every 1s"
"#,
        app = toml_str(path_str(&app)),
        stuck = toml_str(path_str(&stuck)),
        failing = toml_str(path_str(&failing)),
    );
    let mut live = Live::start(how, s, Metrics::On, &procs);
    let app_start = live.event(secs(10), "app", "start");

    let first = live.event(secs(10), "stuck", "start");
    let term = live.event(secs(10), "stuck", "term");
    let ran = term.t_ms - first.t_ms;
    assert!(
        (800..3500).contains(&ran),
        "the stuck run was stopped {ran}ms after it started, want about its timeout (1s)"
    );
    wait_until(secs(10), "a second run of stuck", || {
        (live.events("stuck", "start").len() >= 2).then_some(())
    });
    live.wait_metric(
        r#"oxinit_job_runs_total{process="stuck",result="timeout"}"#,
        1.0,
        secs(5),
    );
    live.wait_metric(
        r#"oxinit_job_runs_total{process="failing",result="failure"}"#,
        3.0,
        secs(10),
    );
    let failed = live.events("failing", "end");
    assert!(
        failed.iter().all(|e| e.what.ends_with(" 3")),
        "the failing job's runs: {failed:?}"
    );

    assert!(
        live.ox.try_wait().is_none(),
        "oxinit exited\n{}",
        live.ox.output()
    );
    let status = live.status();
    assert_eq!(status["phase"], "running", "{status:#}");
    let app = process_in(&status, "app");
    assert_eq!(app["pid"].as_i64(), Some(logged_pid(&app_start)), "{app:#}");
    assert_eq!(app["restarts"], 0, "{app:#}");
    assert_eq!(live.events("app", "start").len(), 1);
    let failing = process_in(&status, "failing");
    assert_eq!(failing["kind"], "job");
    assert!(
        failing["state"] != "failed",
        "a failing job is not failed for good: {failing:#}"
    );
    live.shut_down();
}
