//! `oxinit reload NAME` in the core (issue 13): the new instance beside the
//! old one, the handover, the old one's end counted as a reload, and what a
//! failure, a stop, a shutdown or a crash does meanwhile.

use super::*;
use crate::snapshot::ReloadResult;
use crate::supervisor::process::Stage;

const HTTP_API: &str = r#"
[processes.api]
command = "api"
stop_timeout = "5s"
ready_timeout = "10s"
[processes.api.health]
type = "http"
url = "http://127.0.0.1:3000/health"
interval = "1s"
"#;

const PLAIN_WORKER: &str = r#"
[processes.worker]
command = "worker"
stop_signal = "SIGINT"
"#;

fn second<'a>(w: &'a World, name: &str) -> Option<&'a crate::supervisor::process::Reload> {
    w.sup.processes()[w.idx(name)].reload.as_ref()
}

fn second_pid(w: &World, name: &str) -> i32 {
    second(w, name)
        .and_then(|r| r.pid())
        .expect("a second instance runs")
}

/// A probe answer for the reload's new instance.
fn probe_new(w: &mut World, name: &str, outcome: Outcome) -> Vec<Action> {
    let idx = w.idx(name);
    let run = second(w, name).expect("a reload runs").run;
    w.send(Event::Probe {
        idx,
        run,
        outcome,
        took: ms(2),
    })
}

fn reply(actions: &[Action], id: u64) -> Option<&Result<String, String>> {
    actions.iter().find_map(|a| match a {
        Action::Reply { id: i, result } if *i == id => Some(result),
        _ => None,
    })
}

fn reloads(w: &World) -> Vec<ReloadResult> {
    w.observed
        .iter()
        .filter_map(|o| match o {
            Observation::Reloaded { result, .. } => Some(*result),
            _ => None,
        })
        .collect()
}

fn exits(w: &World) -> usize {
    w.observed
        .iter()
        .filter(|o| matches!(o, Observation::Exited { .. }))
        .count()
}

/// api is up and ready.
fn ready_api() -> World {
    let mut w = World::new(HTTP_API);
    probe(&mut w, "api", Outcome::Healthy);
    assert!(w.sup.processes()[w.idx("api")].ready());
    w
}

#[test]
fn a_ready_new_instance_replaces_the_old_one_which_is_stopped_once() {
    let mut w = ready_api();
    let old = w.pid("api");
    let actions = control(&mut w, 1, Command::Reload, "api");
    assert!(
        matches!(actions[..], [Action::Spawn { .. }, ..]),
        "{actions:?}"
    );
    let new = second_pid(&w, "api");
    assert_ne!(new, old);
    // Until the new one is ready, the old one serves and nothing is signalled.
    assert_eq!(w.pid("api"), old);
    assert!(w.signals_to("api").is_empty());
    assert!(
        actions.iter().any(|a| matches!(a, Action::Probe { run, .. }
            if *run == second(&w, "api").unwrap().run)),
        "the new instance is probed at its start: {actions:?}"
    );
    probe_new(
        &mut w,
        "api",
        Outcome::Unhealthy("connection refused".into()),
    );
    assert_eq!(
        w.pid("api"),
        old,
        "a failed check before the timeout only waits"
    );
    let actions = probe_new(&mut w, "api", Outcome::Healthy);
    // The handover: the new one is the process's, the old one gets one TERM.
    assert_eq!(w.pid("api"), new);
    assert!(w.sup.processes()[w.idx("api")].ready());
    assert_eq!(second_pid(&w, "api"), old);
    assert!(
        actions.contains(&Action::Signal {
            idx: w.idx("api"),
            pid: old,
            sig: TERM
        }),
        "{actions:?}"
    );
    assert_eq!(
        reply(&actions, 1),
        None,
        "answered once the old one is gone"
    );
    let actions = w.send(Event::Exited {
        pid: old,
        status: ExitStatus::Signal(15),
        oom: false,
    });
    let answer = reply(&actions, 1).expect("answered").clone().unwrap();
    assert!(answer.contains(&format!("pid {new}")), "{answer}");
    assert!(second(&w, "api").is_none());
    // The old one's exit is a reload, not an exit of api: no restart, no
    // exit reason, no failure.
    assert_eq!(reloads(&w), [ReloadResult::Ok]);
    assert_eq!(exits(&w), 0);
    let api = &w.sup.processes()[w.idx("api")];
    assert_eq!(
        (api.restarts, api.last_exit, api.last_failure),
        (0, None, None)
    );
    assert_eq!(w.spawned(), ["api", "api"], "nothing restarted");
}

#[test]
fn the_old_instance_is_killed_after_its_stop_timeout() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    probe_new(&mut w, "api", Outcome::Healthy);
    // The new one's probes go on meanwhile; SIGKILL comes at stop_timeout.
    let asked = w.now;
    let mut actions = Vec::new();
    while w.now < asked + Duration::from_secs(5) {
        actions = w.wait_next().1;
    }
    assert_eq!(w.now, asked + Duration::from_secs(5));
    assert!(
        actions.contains(&Action::Signal {
            idx: w.idx("api"),
            pid: old,
            sig: KILL
        }),
        "{actions:?}"
    );
}

#[test]
fn a_new_instance_not_ready_in_time_is_stopped_and_the_old_one_is_untouched() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    let mut actions = Vec::new();
    while second(&w, "api").is_some_and(|r| r.stage == Stage::Starting) {
        let (_, a) = w.wait_next();
        if a.iter().any(|a| matches!(a, Action::Probe { .. })) {
            probe_new(&mut w, "api", Outcome::Unhealthy("HTTP 500".into()));
        }
        actions = a;
    }
    assert!(
        w.now - w.t0 >= Duration::from_secs(10),
        "not before ready_timeout"
    );
    assert!(
        actions.contains(&Action::Signal {
            idx: w.idx("api"),
            pid: new,
            sig: TERM
        }),
        "the new one is stopped: {actions:?}"
    );
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(0),
        oom: false,
    });
    let why = reply(&actions, 1).expect("answered").clone().unwrap_err();
    assert!(
        why.contains("not ready within its ready_timeout of 10s"),
        "{why}"
    );
    assert!(why.contains("HTTP 500"), "the last check says why: {why}");
    assert!(
        why.contains(&format!("the old one (pid {old}) keeps serving")),
        "{why}"
    );
    // The old one: never signalled, still ready, its health untouched.
    assert_eq!(w.pid("api"), old);
    assert!(w.sup.processes()[w.idx("api")].ready());
    assert!(!w
        .log
        .iter()
        .any(|(_, a)| matches!(a, Action::Signal { pid, .. } if *pid == old)));
    assert_eq!(reloads(&w), [ReloadResult::NotReady]);
    assert_eq!(exits(&w), 0);
}

#[test]
fn a_new_instance_that_ends_before_it_is_ready_fails_the_reload() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(3),
        oom: false,
    });
    let why = reply(&actions, 1).expect("answered").clone().unwrap_err();
    assert!(
        why.contains("ended (exit code 3) before it was ready"),
        "{why}"
    );
    assert_eq!(w.pid("api"), old);
    assert_eq!(reloads(&w), [ReloadResult::Failed]);
    assert_eq!(w.spawned(), ["api", "api"], "api is not restarted");
}

#[test]
fn without_a_check_the_new_instance_is_ready_once_started() {
    let mut w = World::new(PLAIN_WORKER);
    let old = w.pid("worker");
    let actions = control(&mut w, 4, Command::Reload, "worker");
    let new = w.pid("worker");
    assert_ne!(new, old, "handed over at its start");
    assert!(
        actions.contains(&Action::Signal {
            idx: w.idx("worker"),
            pid: old,
            sig: Signal::SIGINT
        }),
        "the old one gets its own stop_signal: {actions:?}"
    );
    let actions = w.send(Event::Exited {
        pid: old,
        status: ExitStatus::Code(0),
        oom: false,
    });
    assert!(reply(&actions, 4).expect("answered").is_ok());
    assert_eq!(reloads(&w), [ReloadResult::Ok]);
    assert_eq!(exits(&w), 0);
}

#[test]
fn notify_readiness_counts_for_the_instance_that_sent_it() {
    let mut w = World::new(
        "[processes.api]\ncommand = \"api\"\n[processes.api.health]\ntype = \"notify\"\n",
    );
    let idx = w.idx("api");
    let run = w.run_of(idx);
    w.send(Event::Notify {
        idx,
        run,
        notice: Notice::Ready,
    });
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    // READY=1 again from the old one hands nothing over.
    w.send(Event::Notify {
        idx,
        run,
        notice: Notice::Ready,
    });
    assert_eq!(w.pid("api"), old);
    let new_run = second(&w, "api").unwrap().run;
    w.send(Event::Notify {
        idx,
        run: new_run,
        notice: Notice::Ready,
    });
    assert_ne!(w.pid("api"), old);
    assert_eq!(second_pid(&w, "api"), old);
}

#[test]
fn reloading_what_does_not_run_is_refused_with_what_to_do() {
    let mut w = World::new(
        "[processes.migrate]\ncommand = \"m\"\noneshot = true\n\
         [processes.api]\ncommand = \"api\"\ndepends_on = [\"migrate\"]\n",
    );
    let actions = control(&mut w, 1, Command::Reload, "api");
    let why = reply(&actions, 1).unwrap().clone().unwrap_err();
    assert_eq!(
        why,
        "api is not running (waiting): nothing to reload; start it with `oxinit start api`"
    );
    let actions = control(&mut w, 2, Command::Reload, "migrate");
    let why = reply(&actions, 2).unwrap().clone().unwrap_err();
    assert!(why.contains("only a service can be reloaded"), "{why}");
    assert!(reloads(&w).is_empty(), "a refusal is no reload");
    w.exit("migrate", OK);
    control(&mut w, 3, Command::Stop, "api");
    w.exit("api", OK);
    let actions = control(&mut w, 4, Command::Reload, "api");
    let why = reply(&actions, 4).unwrap().clone().unwrap_err();
    assert!(why.starts_with("api is not running (stopped)"), "{why}");
}

#[test]
fn other_requests_wait_for_the_reload_and_stop_gives_it_up() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    for (id, verb) in [
        (2, Command::Restart),
        (3, Command::Reload),
        (4, Command::Start),
    ] {
        let actions = control(&mut w, id, verb, "api");
        let why = reply(&actions, id).unwrap().clone().unwrap_err();
        assert_eq!(
            why,
            "api is being reloaded; try again when the reload is done"
        );
    }
    // `oxinit stop` before the handover: both instances are stopped.
    let actions = control(&mut w, 5, Command::Stop, "api");
    for pid in [old, new] {
        assert!(
            actions.contains(&Action::Signal {
                idx: w.idx("api"),
                pid,
                sig: TERM
            }),
            "{pid}: {actions:?}"
        );
    }
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(0),
        oom: false,
    });
    assert!(reply(&actions, 1)
        .unwrap()
        .clone()
        .unwrap_err()
        .contains("oxinit stop api"));
    let actions = w.send(Event::Exited {
        pid: old,
        status: ExitStatus::Code(0),
        oom: false,
    });
    assert!(reply(&actions, 5).unwrap().is_ok());
    assert_eq!(*w.state("api"), State::Stopped);
    assert_eq!(reloads(&w), [ReloadResult::Aborted]);
}

#[test]
fn the_old_instance_crashing_gives_the_reload_up_and_restarts_as_usual() {
    let mut w = ready_api();
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    let actions = w.exit("api", ExitStatus::Code(1));
    assert!(
        actions.contains(&Action::Signal {
            idx: w.idx("api"),
            pid: new,
            sig: TERM
        }),
        "{actions:?}"
    );
    assert!(matches!(w.state("api"), State::Backoff { .. }));
    assert_eq!(exits(&w), 1, "the old one's crash is an exit like any");
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(0),
        oom: false,
    });
    let why = reply(&actions, 1).unwrap().clone().unwrap_err();
    assert!(
        why.contains("old instance ended (exit code 1) during the reload"),
        "{why}"
    );
    assert_eq!(reloads(&w), [ReloadResult::Aborted]);
}

#[test]
fn a_shutdown_stops_both_instances_and_waits_for_them() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    let actions = w.send(signal(TERM));
    for pid in [old, new] {
        assert!(
            actions.contains(&Action::Signal {
                idx: w.idx("api"),
                pid,
                sig: TERM
            }),
            "{pid}: {actions:?}"
        );
    }
    w.exit("api", OK);
    assert_eq!(w.finished(), None, "the new instance still runs");
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(0),
        oom: false,
    });
    assert!(reply(&actions, 1).unwrap().is_err());
    assert_eq!(w.finished(), Some(0));
}

#[test]
fn a_second_term_kills_both_instances() {
    let mut w = World::new(PLAIN_WORKER);
    let old = w.pid("worker");
    control(&mut w, 1, Command::Reload, "worker");
    let new = w.pid("worker");
    w.send(signal(TERM));
    let actions = w.send(signal(TERM));
    for pid in [old, new] {
        assert!(
            actions.contains(&Action::Signal {
                idx: w.idx("worker"),
                pid,
                sig: KILL
            }),
            "{pid}: {actions:?}"
        );
    }
}

#[test]
fn a_failed_new_instances_late_answer_never_counts_for_a_later_run() {
    let mut w = ready_api();
    control(&mut w, 1, Command::Reload, "api");
    let failed_run = second(&w, "api").unwrap().run;
    let new = second_pid(&w, "api");
    w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Code(1),
        oom: false,
    });
    w.exit("api", ExitStatus::Code(1));
    w.wait_next();
    let idx = w.idx("api");
    assert_ne!(w.run_of(idx), failed_run, "a run number is never reused");
}

#[test]
fn start_of_a_finished_oneshot_answers_with_its_exit_code() {
    let mut w = World::new(
        "[processes.migrate]\ncommand = \"m\"\noneshot = true\n\
         [processes.api]\ncommand = \"api\"\ndepends_on = [\"migrate\"]\n",
    );
    w.exit("migrate", OK);
    let actions = control(&mut w, 1, Command::Start, "migrate");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Reply { .. } | Action::ReplyExit { .. })),
        "the client waits for the run: {actions:?}"
    );
    let actions = w.exit("migrate", ExitStatus::Code(3));
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::ReplyExit { id: 1, code: 3, message }
            if message.starts_with("migrate failed (exit code 3)"))
        ),
        "{actions:?}"
    );
    assert!(
        w.pid("api") > 0,
        "a failure after boot is reported, not fatal"
    );
    control(&mut w, 2, Command::Start, "migrate");
    let actions = w.exit("migrate", OK);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::ReplyExit { id: 2, code: 0, .. })),
        "{actions:?}"
    );
}

#[test]
fn a_probe_answered_by_the_other_instance_counts_for_neither() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let other = || Outcome::NotCounted("accepted by pid 7, not this instance".into());
    // Not the new one's readiness…
    probe_new(&mut w, "api", other());
    assert_eq!(w.pid("api"), old);
    assert!(second(&w, "api").unwrap().health.status.is_some());
    // …and never a failure of the old one, however often.
    for _ in 0..5 {
        w.wait(Duration::from_secs(1));
        probe(&mut w, "api", other());
    }
    let api = &w.sup.processes()[w.idx("api")];
    assert_eq!((api.health.failures, api.health.healthy), (0, Some(true)));
    assert!(!w
        .observed
        .iter()
        .any(|o| matches!(o, Observation::Health { result, .. } if *result != HealthResult::Ok)));
}

#[test]
fn start_of_a_oneshot_that_cannot_start_answers_with_127() {
    let toml = "[processes.migrate]\ncommand = \"m\"\noneshot = true\n\
                [processes.api]\ncommand = \"api\"\ndepends_on = [\"migrate\"]\n";
    let mut w = World::new(toml);
    w.exit("migrate", OK);
    w.unspawnable = vec!["migrate"];
    let actions = control(&mut w, 1, Command::Start, "migrate");
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::ReplyExit { id: 1, code: 127, message }
            if message == "migrate: not found in $PATH")
        ),
        "{actions:?}"
    );
    assert!(w.pid("api") > 0);
}

#[test]
fn an_old_instance_stopped_for_its_health_is_replaced_when_the_new_one_is_ready() {
    let mut w = ready_api();
    let old = w.pid("api");
    control(&mut w, 1, Command::Reload, "api");
    let new = second_pid(&w, "api");
    for _ in 0..3 {
        w.wait(Duration::from_secs(1));
        probe(&mut w, "api", Outcome::Unhealthy("HTTP 500".into()));
    }
    assert!(
        matches!(w.state("api"), State::Stopping { .. }),
        "stopped for its health"
    );
    probe_new(&mut w, "api", Outcome::Healthy);
    assert_eq!(w.pid("api"), new, "the new one took over");
    let actions = w.send(Event::Exited {
        pid: old,
        status: ExitStatus::Code(0),
        oom: false,
    });
    assert!(reply(&actions, 1).unwrap().is_ok());
    assert_eq!(reloads(&w), [ReloadResult::Ok]);
    assert_eq!(w.spawned(), ["api", "api"], "no restart was needed");
}

#[test]
fn a_second_term_before_the_level_of_a_reload_aborts_it() {
    let mut w = World::new(
        "[processes.db]\ncommand = \"db\"\n[processes.db.health]\ntype = \"tcp\"\naddress = \"127.0.0.1:5432\"\n\
         [processes.api]\ncommand = \"api\"\ndepends_on = [\"db\"]\n",
    );
    probe(&mut w, "db", Outcome::Healthy);
    control(&mut w, 1, Command::Reload, "db");
    let new = second_pid(&w, "db");
    w.send(signal(TERM));
    assert_eq!(
        second(&w, "db").unwrap().stage,
        Stage::Starting,
        "db's level is not reached yet"
    );
    w.send(signal(TERM));
    let actions = w.send(Event::Exited {
        pid: new,
        status: ExitStatus::Signal(9),
        oom: false,
    });
    let why = reply(&actions, 1).unwrap().clone().unwrap_err();
    assert!(why.contains("killing every process"), "{why}");
    assert_eq!(reloads(&w), [ReloadResult::Aborted]);
}
