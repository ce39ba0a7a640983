//! What a failure ends the container with, and which failures end the boot
//! at once (issue 15 point 6, issue 10 point 6).

use super::*;

fn config(toml: &str) -> crate::config::Config {
    let ctx = LoadContext {
        env: Default::default(),
        etc_dir: "/nonexistent".into(),
        lookups: Default::default(),
    };
    parse_str(toml, Path::new("/srv/oxfile.toml"), &ctx).expect("test oxfile is valid")
}

const DB_AND_APP: &str = r#"
[processes.db]
command = "db"
[processes.app]
command = "nosuch"
depends_on = ["db"]
restart_delay = "1s"
"#;

#[test]
fn a_critical_services_first_start_that_cannot_succeed_aborts_the_boot() {
    let mut w = World::with(config(DB_AND_APP), vec!["app"]);
    // No backoff: straight to failed, and db is stopped.
    assert_eq!(
        *w.state("app"),
        State::Failed {
            status: ExitStatus::Code(127)
        }
    );
    assert_eq!(w.signals_to("db"), [TERM, CONT]);
    assert_eq!(w.spawned(), ["db", "app"]);
    assert!(w.observed.contains(&Observation::Exited {
        idx: w.idx("app"),
        reason: ExitReason::Exit,
        code: 127
    }));
    w.exit("db", OK);
    assert_eq!(w.finished(), Some(127));
}

#[test]
fn a_spawn_failure_that_may_pass_is_retried_with_backoff() {
    // A failed fork or pipe: the next start may work.
    let w = World::with_failures(config(DB_AND_APP), vec!["app"], false);
    assert!(
        matches!(w.state("app"), State::Backoff { .. }),
        "{:?}",
        w.state("app")
    );
    assert_eq!(w.finished(), None);
}

#[test]
fn after_a_spawn_failure_that_may_pass_the_next_start_is_still_the_first() {
    // The run counter counts attempts; "its first start" means it never ran.
    let mut w = World::with_failures(config(DB_AND_APP), vec!["app"], false);
    w.unspawnable_for_good = true;
    w.wait_next();
    assert_eq!(
        *w.state("app"),
        State::Failed {
            status: ExitStatus::Code(127)
        }
    );
    assert_eq!(w.signals_to("db"), [TERM, CONT], "the boot is aborted");
}

#[test]
fn a_critical_service_crash_looping_with_exit_0_ends_the_container_with_1() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
restart_delay = "100ms"
max_restarts = 2
restart_window = "1m"
"#,
    );
    for _ in 0..2 {
        w.exit("api", OK);
        w.wait_next();
    }
    assert_eq!(w.exit("api", OK), [Action::Finish { code: 1 }]);
    assert_eq!(*w.state("api"), State::Failed { status: OK });
}

#[test]
fn a_crash_loop_ends_with_the_last_non_zero_code() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
restart_delay = "100ms"
max_restarts = 2
restart_window = "1m"
"#,
    );
    w.exit("api", ExitStatus::Code(3));
    w.wait_next();
    w.exit("api", OK);
    w.wait_next();
    assert_eq!(w.exit("api", OK), [Action::Finish { code: 3 }]);
}

#[test]
fn a_critical_service_stopped_for_its_health_that_exits_0_ends_with_1() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
restart = "never"
[processes.api.health]
type = "tcp"
address = "127.0.0.1:3000"
interval = "5s"
retries = 1
"#,
    );
    // Ready first (failures before the first success are lenient), then
    // one failure in a row is `retries = 1`.
    probe(&mut w, "api", Outcome::Healthy);
    w.wait_next();
    let actions = probe(&mut w, "api", Outcome::TimedOut);
    assert_eq!(
        actions[0],
        Action::Signal {
            idx: ProcId(0),
            pid: w.last_pid(ProcId(0)),
            sig: TERM
        }
    );
    // It handles TERM and exits 0: it still failed.
    assert_eq!(w.exit("api", OK), [Action::Finish { code: 1 }]);
}

#[test]
fn a_oneshot_that_timed_out_and_exited_0_aborts_the_boot_with_1() {
    let mut w = World::new(
        r#"
[processes.migrate]
command = "migrate"
oneshot = true
timeout = "1s"
[processes.api]
command = "api"
depends_on = ["migrate"]
"#,
    );
    w.wait_next();
    assert_eq!(w.signals_to("migrate")[0], TERM);
    assert_eq!(w.exit("migrate", OK), [Action::Finish { code: 1 }]);
    assert_eq!(w.spawned(), ["migrate"]);
}
