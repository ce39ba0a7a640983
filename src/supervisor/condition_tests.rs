//! `when` conditions and `type = "mount"` readiness in the state machine:
//! the LiteFS shape (a mount service, a migration only on the primary, the
//! app after both), with the condition checks answered by hand.

use super::*;

const LITEFS: &str = r#"
[processes.litefs]
command = "litefs mount"
[processes.litefs.health]
type = "mount"
path = "/litefs"
[processes.migrate]
command = "migrate"
oneshot = true
depends_on = ["litefs"]
when = { missing = "/litefs/.primary" }
[processes.app]
command = "app"
depends_on = ["migrate", "litefs"]
"#;

const REPLICA: &str =
    "/litefs/.primary exists, and it runs only when missing = \"/litefs/.primary\"";

fn checks(w: &World) -> Vec<String> {
    w.log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Check { idx, .. } => Some(w.sup.processes()[*idx].name().to_string()),
            _ => None,
        })
        .collect()
}

/// Boots up to the point the mount is ready and migrate's condition is asked.
fn mounted() -> World {
    let mut w = World::new(LITEFS);
    assert_eq!(w.spawned(), ["litefs"]);
    let litefs = w.idx("litefs");
    let run = w.run_of(litefs);
    assert!(w
        .log
        .iter()
        .any(|(_, a)| *a == Action::Probe { idx: litefs, run }));
    // Not mounted yet: nothing else starts, nothing is checked.
    w.send(Event::Probe {
        idx: litefs,
        run,
        outcome: Outcome::Unhealthy("nothing is mounted on /litefs yet".into()),
        took: ms(1),
    });
    assert!(checks(&w).is_empty());
    w.send(Event::Probe {
        idx: litefs,
        run,
        outcome: Outcome::Healthy,
        took: ms(1),
    });
    assert_eq!(checks(&w), ["migrate"]);
    assert_eq!(*w.state("migrate"), State::Starting);
    assert_eq!(
        w.spawned(),
        ["litefs"],
        "nothing is spawned before the answer"
    );
    w
}

#[test]
fn on_a_replica_the_migration_is_skipped_and_the_app_starts() {
    let mut w = mounted();
    let migrate = w.idx("migrate");
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(Some(REPLICA.into())),
    });
    assert_eq!(*w.state("migrate"), State::Skipped);
    assert_eq!(w.spawned(), ["litefs", "app"]);
    assert!(w.sup.booted());
    let p = &w.sup.processes()[migrate];
    assert_eq!(p.state.word(), "skipped");
    assert_eq!(
        p.health.status.as_deref(),
        Some(&*format!("skipped: {REPLICA}"))
    );
    // Not a failure, not a run: nothing about it reaches the metrics.
    assert!(!w.observed.iter().any(|o| matches!(
        o,
        Observation::Exited { idx, .. } | Observation::OneshotFinished { idx, .. } if *idx == migrate
    )));
}

#[test]
fn on_the_primary_the_migration_runs_before_the_app() {
    let mut w = mounted();
    let migrate = w.idx("migrate");
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(None),
    });
    assert_eq!(w.spawned(), ["litefs", "migrate"]);
    w.exit("migrate", OK);
    assert_eq!(w.spawned(), ["litefs", "migrate", "app"]);
    assert!(w.sup.booted());
}

#[test]
fn a_condition_that_cannot_be_checked_aborts_the_boot() {
    let mut w = mounted();
    let migrate = w.idx("migrate");
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Err("stat of /litefs/.primary: no answer within 5s".into()),
    });
    assert!(matches!(w.state("migrate"), State::Failed { .. }));
    w.exit("litefs", OK);
    assert_eq!(w.finished(), Some(1));
    assert_eq!(w.spawned(), ["litefs"], "the app never starts");
}

#[test]
fn an_answer_after_the_shutdown_began_starts_nothing() {
    let mut w = mounted();
    let migrate = w.idx("migrate");
    w.send(signal(TERM));
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(None),
    });
    assert_eq!(*w.state("migrate"), State::Cancelled);
    w.exit("litefs", OK);
    assert_eq!(w.spawned(), ["litefs"]);
    assert_eq!(w.finished(), Some(0));
    // A late answer about a process no longer starting is ignored.
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(None),
    });
    assert_eq!(w.spawned(), ["litefs"]);
}

#[test]
fn a_job_checks_its_condition_at_every_run_and_counts_a_skip() {
    let mut w = World::new(
        "[processes.vacuum]\ncommand = \"vacuum\"\nschedule = \"@every 10m\"\nwhen = { missing = \"/litefs/.primary\" }\n",
    );
    let vacuum = w.idx("vacuum");
    assert_eq!(*w.state("vacuum"), State::Scheduled);
    w.wait_next();
    assert_eq!(checks(&w), ["vacuum"]);
    w.send(Event::Checked {
        idx: vacuum,
        run: w.run_of(vacuum),
        verdict: Ok(Some(REPLICA.into())),
    });
    assert_eq!(*w.state("vacuum"), State::Scheduled);
    assert!(w.spawned().is_empty());
    assert!(w.observed.contains(&Observation::JobRun {
        idx: vacuum,
        result: JobResult::Skipped
    }));
    // The next run asks again; this time this node is the primary.
    let (d, _) = w.wait_next();
    assert_eq!(d, Duration::from_secs(600));
    assert_eq!(checks(&w), ["vacuum", "vacuum"]);
    w.send(Event::Checked {
        idx: vacuum,
        run: w.run_of(vacuum),
        verdict: Ok(None),
    });
    assert_eq!(w.spawned(), ["vacuum"]);
}

#[test]
fn oxinit_start_of_a_skipped_oneshot_checks_again_and_replies() {
    let mut w = mounted();
    let migrate = w.idx("migrate");
    w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(Some(REPLICA.into())),
    });
    let actions = w.send(Event::Control {
        id: 7,
        command: Command::Start,
        name: "migrate".into(),
    });
    assert!(actions.contains(&Action::Check {
        idx: migrate,
        run: w.run_of(migrate)
    }));
    let actions = w.send(Event::Checked {
        idx: migrate,
        run: w.run_of(migrate),
        verdict: Ok(Some(REPLICA.into())),
    });
    assert!(actions.contains(&Action::Reply {
        id: 7,
        result: Ok(format!("migrate skipped: {REPLICA}"))
    }));
}
