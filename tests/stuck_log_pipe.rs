//! Issue 15, item 1: a log pipe nobody reads never freezes PID 1.
//!
//! oxinit's stdout and stderr are one pipe (as under Docker's log driver)
//! that the test fills and then never reads: the state of a stalled log
//! driver or a blocked sidecar. Children's output may back up into the
//! children, as a plain pipe would; supervision must not: a `kill -9`ed
//! service is restarted, an orphan storm is reaped, /metrics answers and
//! counts the dropped lines, SIGTERM stops everything in order within the
//! stop timeouts, and oxinit exits about a second later at most, the pipe
//! still stuck. Before the fix oxinit's own log line waited for the pipe
//! (through the stderr lock the relay's writer held across its blocked
//! write), so each of these waits ran into its deadline.
//!
//! Everything is observed through side channels: the services' event log
//! (files), /proc, the metrics port.

mod common;
#[path = "common/http.rs"]
mod http;
#[path = "common/prom.rs"]
mod prom;
#[path = "common/stuck_pipe.rs"]
mod stuck_pipe;
#[path = "common/supervised.rs"]
mod supervised;
#[path = "common/supervisor.rs"]
mod supervisor;

use std::time::{Duration, Instant};

use common::{open_gate, require_root, As, ExitCode, Oxinit};
use stuck_pipe::StuckPipe;
use supervisor::{Rig, DEADLINE, SERVE_FOREVER};

/// Orphans of the storm. At OXINIT_LOG_LEVEL=debug each one reaped is a log
/// line of ~60 bytes: together well over the 64 KiB oxinit queues for a
/// stuck stderr, so some lines must be dropped (and counted).
const ORPHANS: usize = 2000;

/// A script that waits at `gate` (a FIFO), then writes to its stderr until
/// the stuck pipe blocks it, for good: the relay's stderr writer then sits
/// in write(2) holding std's stderr lock, the state the issue describes.
fn flood(rig: &Rig, gate: &str) -> String {
    rig.script(
        "flood",
        &format!(
            "read _ < '{gate}'\nlog flooding\n\
             while :; do echo 'flood flood flood flood flood flood flood flood' >&2; done\n"
        ),
    )
}

/// oxinit (as PID 1) with its stdout and stderr on `pipe`, at debug level.
fn start_on(pipe: &mut StuckPipe, config: &std::path::Path) -> Oxinit {
    Oxinit::start_writing_to(
        As::Pid1,
        &["run", "--config", config.to_str().expect("UTF-8 path")],
        &[("OXINIT_LOG_LEVEL", "debug")],
        pipe.write_end(),
    )
}

/// Host pid of the process running `script` under oxinit.
fn host_pid(rig: &Rig, ox: &Oxinit, script: &str) -> i32 {
    rig.wait_for(ox, &format!("a process running {script}"), || {
        common::find_descendant(ox.pid(), script)
    })
}

/// Restart after `kill -9`, an orphan storm reaped, /metrics answering with
/// the dropped lines counted, then a clean stop: all with the pipe stuck.
#[test]
fn a_stuck_log_pipe_stops_no_restart_reaping_or_scrape() {
    if !require_root("a_stuck_log_pipe_stops_no_restart_reaping_or_scrape") {
        return;
    }
    let rig = Rig::new();
    let setup = supervised::Setup::new();
    let flood_gate = rig.scratch.fifo("flood.gate").display().to_string();
    let storm_gate = rig.scratch.fifo("storm.gate").display().to_string();
    let victim = rig.script("victim", &format!("log start\n{SERVE_FOREVER}"));
    // A process that forks children which exit at once, and exits without
    // waiting for them: they are reparented to PID 1, which must reap each.
    // (Python, as a shell reaps its background jobs itself.)
    let storm = rig.script(
        "storm",
        &format!(
            "read _ < '{storm_gate}'\n\
             {python} -c 'import os\nfor _ in range({ORPHANS}):\n    if os.fork() == 0: os._exit(0)'\n\
             log storm done\n{SERVE_FOREVER}",
            python = common::python(),
        ),
    );
    let flood = flood(&rig, &flood_gate);
    let config = setup.oxfile(
        "orphan_grace = \"300ms\"\nshutdown_timeout = \"20s\"",
        &format!(
            "[processes.victim]\ncommand = \"{victim}\"\nrestart_delay = \"100ms\"\n\n\
             [processes.storm]\ncommand = \"{storm}\"\n\n\
             [processes.flood]\ncommand = \"{flood}\"\n"
        ),
    );
    let mut pipe = StuckPipe::new();
    let mut ox = start_on(&mut pipe, &config);
    rig.wait_event(&ox, "victim", "start");

    // The reader stops: a child fills the pipe through the relay, and the
    // test tops it up so that not one more byte fits.
    open_gate(std::path::Path::new(&flood_gate), DEADLINE);
    rig.wait_event(&ox, "flood", "flooding");
    pipe.fill();

    // kill -9 a service: it is restarted (its second `start`).
    let pid = host_pid(&rig, &ox, "victim.sh");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the victim");
    rig.wait_count(&ox, "victim", "start", 2);

    // An orphan storm: every orphan is reaped.
    open_gate(std::path::Path::new(&storm_gate), DEADLINE);
    rig.wait_event(&ox, "storm", "storm done");
    rig.wait_for(&ox, "no zombie left under oxinit", || {
        (common::zombies_under(ox.pid()) == 0).then_some(())
    });

    // /metrics answers, and counts what oxinit could not log.
    let scrape = setup.wait_scrape(&mut ox, DEADLINE, "dropped log lines counted", |s| {
        s.value("oxinit_zombies_reaped_total", &[]) >= Some(ORPHANS as f64)
            && s.value("oxinit_log_lines_dropped_total", &[]) > Some(0.0)
    });
    assert_eq!(
        scrape.value("oxinit_process_restarts_total", &[("process", "victim")]),
        Some(1.0),
        "victim restarts"
    );
    assert!(
        pipe.pending() > 0,
        "the pipe is still stuck (nothing read it)"
    );

    // A stop with the pipe still stuck: every service dies of its TERM.
    let sent = Instant::now();
    ox.signal(libc::SIGTERM);
    let code = ox.wait(DEADLINE);
    let took = sent.elapsed();
    assert_eq!(code, ExitCode::Code(0), "exit after SIGTERM");
    // orphan_grace (300 ms) + the exit drain's second, with room for a
    // loaded machine.
    assert!(
        took < Duration::from_secs(5),
        "oxinit took {took:?} to stop with its log pipe stuck"
    );
}

/// SIGTERM with the pipe stuck: the ordered stop runs (app before its
/// dependency, a stubborn service SIGKILLed at its stop timeout), and oxinit
/// exits about a second after the last process, dropping what it holds.
#[test]
fn sigterm_with_a_stuck_log_pipe_stops_in_order_within_the_stop_timeouts() {
    if !require_root("sigterm_with_a_stuck_log_pipe_stops_in_order_within_the_stop_timeouts") {
        return;
    }
    let rig = Rig::new();
    let setup = supervised::Setup::new();
    let flood_gate = rig.scratch.fifo("flood.gate").display().to_string();
    let db = rig.service("db", 0);
    let app = rig.service("app", 200);
    let stubborn = rig.stubborn("stubborn");
    let flood = flood(&rig, &flood_gate);
    let config = setup.oxfile(
        "orphan_grace = \"300ms\"\nshutdown_timeout = \"20s\"",
        &format!(
            "[processes.db]\ncommand = \"{db}\"\n\n\
             [processes.app]\ncommand = \"{app}\"\ndepends_on = [\"db\"]\n\n\
             [processes.stubborn]\ncommand = \"{stubborn}\"\nstop_timeout = \"2s\"\n\n\
             [processes.flood]\ncommand = \"{flood}\"\n"
        ),
    );
    let mut pipe = StuckPipe::new();
    let mut ox = start_on(&mut pipe, &config);
    for name in ["db", "app", "stubborn"] {
        rig.wait_event(&ox, name, "start");
    }
    open_gate(std::path::Path::new(&flood_gate), DEADLINE);
    rig.wait_event(&ox, "flood", "flooding");
    pipe.fill();

    let sent = Instant::now();
    ox.signal(libc::SIGTERM);
    // Each wait fails cleanly where the old code ignored the SIGTERM.
    rig.wait_event(&ox, "app", "got TERM");
    rig.wait_event(&ox, "stubborn", "got TERM");
    let code = ox.wait(DEADLINE);
    let took = sent.elapsed();
    // stubborn had to be SIGKILLed.
    assert_eq!(
        code,
        ExitCode::Code(137),
        "exit after SIGTERM\n{}",
        rig.dump()
    );
    supervisor::assert_not_after(&rig, ("app", "exit"), ("db", "got TERM"));
    assert_eq!(rig.signals_seen("db"), ["TERM"], "{}", rig.dump());
    assert_eq!(rig.count("stubborn", "got TERM"), 1, "{}", rig.dump());
    // app's 200 ms linger, the stubborn service's 2 s stop timeout,
    // orphan_grace (300 ms) and about a second for the output drain; the
    // rest is room for a loaded machine.
    assert!(
        took >= Duration::from_secs(2),
        "stubborn's 2 s stop timeout was cut short: {took:?}"
    );
    assert!(
        took < Duration::from_millis(200 + 2000 + 300 + 1000 + 2000),
        "oxinit took {took:?} from SIGTERM to exit with its log pipe stuck\n{}",
        rig.dump()
    );
    assert!(pipe.pending() > 0, "the pipe is still stuck");
}

/// Single-command mode has no relay (the child writes straight to the
/// pipe and blocks there, as without oxinit), but its own warning at the
/// stop timeout must not wait on the pipe: the child is SIGKILLed on time
/// and oxinit exits with 137 about a second later.
fn single_command_kills_on_time_with_a_stuck_stderr(how: As) {
    let rig = Rig::new();
    // Ignores TERM, then writes to the stuck stderr forever.
    let child = rig.script(
        "child",
        "trap '' TERM\nlog start\nwhile :; do echo 'child child child child' >&2; done\n",
    );
    let mut pipe = StuckPipe::new();
    pipe.fill();
    let mut ox = Oxinit::start_writing_to(
        how,
        &["--stop-timeout", "1s", "--grace", "300ms", "--", &child],
        &[],
        pipe.write_end(),
    );
    rig.wait_event(&ox, "child", "start");
    let sent = Instant::now();
    ox.signal(libc::SIGTERM);
    let code = ox.wait(DEADLINE);
    let took = sent.elapsed();
    assert_eq!(code, ExitCode::Code(128 + libc::SIGKILL), "{}", rig.dump());
    assert!(
        took >= Duration::from_secs(1),
        "the 1 s stop timeout was cut short: {took:?}"
    );
    // The stop timeout, then about a second for oxinit's queued warning;
    // the rest is room for a loaded machine.
    assert!(
        took < Duration::from_millis(1000 + 1000 + 2500),
        "oxinit took {took:?} from SIGTERM to exit with its stderr stuck"
    );
}

#[test]
fn single_command_kills_on_time_with_a_stuck_stderr_as_child() {
    single_command_kills_on_time_with_a_stuck_stderr(As::Child);
}

#[test]
fn single_command_kills_on_time_with_a_stuck_stderr_as_pid1() {
    if require_root("single_command_kills_on_time_with_a_stuck_stderr_as_pid1") {
        single_command_kills_on_time_with_a_stuck_stderr(As::Pid1);
    }
}
