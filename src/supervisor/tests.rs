//! The supervisor's state machine, driven without processes: events in,
//! actions out, time passed explicitly (the core takes `now` as an argument,
//! so no clock needs pausing and nothing sleeps).

use super::core::{Action, Command, Event, Notice, Observation, Outcome, Supervisor};
use super::ids::{ProcId, RunId};
use super::process::{ExitReason, State};
use super::signal_event::SignalEvent;
use crate::config::{parse_str, LoadContext};
use crate::snapshot::{HealthResult, JobResult};
use crate::sys::reap::ExitStatus;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

const TERM: Signal = Signal::SIGTERM;
const KILL: Signal = Signal::SIGKILL;
const CONT: Signal = Signal::SIGCONT;

/// A signal as the event loop hands it to the core: classified first.
fn signal(sig: Signal) -> Event {
    Event::from_signal(SignalEvent::classify(sig as i32)).expect("the core hears of it")
}

/// A supervisor plus a fake world: pids handed out in order, a clock we move.
struct World {
    sup: Supervisor,
    now: Instant,
    next_pid: i32,
    /// Every action returned so far, with the time it was returned.
    log: Vec<(Duration, Action)>,
    t0: Instant,
    /// Processes whose spawn fails with 127 (command not found).
    unspawnable: Vec<&'static str>,
    /// Whether those failures are permanent (not found) or may pass (fork).
    unspawnable_for_good: bool,
    /// What the metrics would have been told.
    observed: Vec<Observation>,
    /// Each process's last pid (kept after it exits).
    pids: std::collections::HashMap<ProcId, i32>,
    /// What Started says of the memory poll.
    polled: bool,
}

impl World {
    fn new(toml: &str) -> World {
        let ctx = LoadContext {
            env: Default::default(),
            etc_dir: "/nonexistent".into(),
            lookups: Default::default(),
        };
        let config =
            parse_str(toml, Path::new("/srv/oxfile.toml"), &ctx).expect("test oxfile is valid");
        World::with(config, Vec::new())
    }

    fn with(config: crate::config::Config, unspawnable: Vec<&'static str>) -> World {
        World::with_failures(config, unspawnable, true)
    }

    fn with_failures(
        config: crate::config::Config,
        unspawnable: Vec<&'static str>,
        for_good: bool,
    ) -> World {
        let now = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let mut w = World {
            sup: Supervisor::new(&config, now, wall),
            now,
            next_pid: 100,
            log: Vec::new(),
            t0: now,
            unspawnable,
            unspawnable_for_good: for_good,
            observed: Vec::new(),
            pids: Default::default(),
            polled: false,
        };
        w.send(Event::Tick);
        w
    }

    fn idx(&self, name: &str) -> ProcId {
        self.sup.find(name).unwrap()
    }

    /// The pid process `idx` last ran as.
    fn last_pid(&self, idx: ProcId) -> i32 {
        self.pids[&idx]
    }

    /// The run process `idx` is at.
    fn run_of(&self, idx: ProcId) -> RunId {
        self.sup.processes()[idx].run
    }

    fn state(&self, name: &str) -> &State {
        &self.sup.processes()[self.idx(name)].state
    }

    fn pid(&self, name: &str) -> i32 {
        self.sup
            .pid(self.idx(name))
            .unwrap_or_else(|| panic!("{name} has no pid: {:?}", self.state(name)))
    }

    /// Handles an event; spawns succeed at once (as the event loop does).
    /// Returns the actions but the observations, which go to `observed`.
    fn send(&mut self, event: Event) -> Vec<Action> {
        let mut queue = vec![event];
        let mut all = Vec::new();
        while let Some(ev) = queue.pop() {
            for a in self.sup.handle(ev, self.now) {
                if let Action::Record(o) = a {
                    self.observed.push(o);
                    continue;
                }
                self.log.push((self.now - self.t0, a.clone()));
                if let Action::Spawn { idx, run } = a {
                    if self.unspawnable.contains(&self.sup.processes()[idx].name()) {
                        queue.push(Event::SpawnFailed {
                            idx,
                            run,
                            code: 127,
                            reason: "not found in $PATH".into(),
                            permanent: self.unspawnable_for_good,
                        });
                    } else {
                        self.next_pid += 1;
                        self.pids.insert(idx, self.next_pid);
                        queue.push(Event::Started {
                            idx,
                            run,
                            pid: self.next_pid,
                            polled: self.polled,
                        });
                    }
                }
                all.push(a);
            }
        }
        all
    }

    fn exit(&mut self, name: &str, status: ExitStatus) -> Vec<Action> {
        let pid = self.pid(name);
        self.send(Event::Exited {
            pid,
            status,
            oom: false,
        })
    }

    /// Moves the clock by `d` and ticks.
    fn wait(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.send(Event::Tick)
    }

    /// Moves the clock to the next deadline and ticks.
    fn wait_next(&mut self) -> (Duration, Vec<Action>) {
        let next = self.sup.next_deadline().expect("a deadline is pending");
        let d = next - self.now;
        (d, self.wait(d))
    }

    fn spawned(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Spawn { idx: i, .. } => Some(self.sup.processes()[*i].name().to_string()),
                _ => None,
            })
            .collect()
    }

    fn signals_to(&self, name: &str) -> Vec<Signal> {
        let idx = self.idx(name);
        self.log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Signal { idx: i, sig, .. } if *i == idx => Some(*sig),
                // Counted as CONT: it goes to whatever of the group is stopped.
                Action::Continue { idx: i, .. } if *i == idx => Some(CONT),
                _ => None,
            })
            .collect()
    }

    fn finished(&self) -> Option<i32> {
        self.log.iter().find_map(|(_, a)| match a {
            Action::Finish { code } => Some(*code),
            _ => None,
        })
    }
}

const SQLITE_APP: &str = r#"
[processes.restore]
command = "restore"
oneshot = true
[processes.migrate]
command = "migrate"
oneshot = true
depends_on = ["restore"]
[processes.litestream]
command = "litestream replicate"
depends_on = ["migrate"]
stop_timeout = "30s"
[processes.api]
command = "api"
depends_on = ["migrate", "litestream"]
stop_timeout = "15s"
"#;

const OK: ExitStatus = ExitStatus::Code(0);
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn boots_in_dependency_order() {
    let mut w = World::new(SQLITE_APP);
    assert_eq!(w.spawned(), ["restore"]);
    assert!(!w.sup.booted());
    w.exit("restore", OK);
    assert_eq!(w.spawned(), ["restore", "migrate"]);
    w.exit("migrate", OK);
    // litestream's start makes it ready, so api follows in the same step.
    assert_eq!(w.spawned(), ["restore", "migrate", "litestream", "api"]);
    assert!(w.sup.booted());
    assert_eq!(
        w.sup.next_deadline(),
        None,
        "an idle supervisor has nothing to wake up for"
    );
}

#[test]
fn failed_oneshot_aborts_boot_and_dependents_never_start() {
    let mut w = World::new(SQLITE_APP);
    w.exit("restore", OK);
    let actions = w.exit("migrate", ExitStatus::Code(3));
    assert_eq!(actions, [Action::Finish { code: 3 }]);
    assert_eq!(w.spawned(), ["restore", "migrate"]);
    assert_eq!(*w.state("api"), State::Cancelled);
    assert_eq!(
        *w.state("migrate"),
        State::Failed {
            status: ExitStatus::Code(3)
        }
    );
}

#[test]
fn failed_oneshot_stops_what_already_runs() {
    let mut w = World::new(
        r#"
[processes.web]
command = "web"
[processes.seed]
command = "seed"
oneshot = true
[processes.worker]
command = "worker"
depends_on = ["seed"]
"#,
    );
    assert_eq!(w.spawned(), ["web", "seed"]);
    let actions = w.exit("seed", ExitStatus::Signal(libc::SIGSEGV));
    let web = w.idx("web");
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: web,
                pid: w.last_pid(web),
                sig: TERM
            },
            Action::Continue {
                idx: web,
                pid: w.last_pid(web)
            }
        ]
    );
    let actions = w.exit("web", ExitStatus::Signal(TERM as i32));
    assert_eq!(
        actions,
        [Action::Finish {
            code: 128 + libc::SIGSEGV
        }]
    );
    assert!(!w.spawned().contains(&"worker".to_string()));
}

#[test]
fn oneshot_timeout_stops_it_then_kills_it_and_fails_boot() {
    let mut w = World::new(
        r#"
[processes.migrate]
command = "migrate"
oneshot = true
timeout = "5m"
stop_timeout = "2s"
"#,
    );
    let (d, actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(300));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0))
            }
        ]
    );
    let (d, actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(2));
    assert_eq!(
        actions,
        [Action::Signal {
            idx: ProcId(0),
            pid: w.last_pid(ProcId(0)),
            sig: KILL
        }]
    );
    let actions = w.exit("migrate", ExitStatus::Signal(KILL as i32));
    assert_eq!(actions, [Action::Finish { code: 137 }]);
}

#[test]
fn restart_delays_double_up_to_the_max_and_reset_after_uptime() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
restart_delay = "100ms"
restart_delay_max = "350ms"
restart_reset = "10s"
max_restarts = 100
"#,
    );
    let mut delays = Vec::new();
    for _ in 0..5 {
        w.exit("api", ExitStatus::Code(1));
        let (d, actions) = w.wait_next();
        assert_eq!(
            actions,
            [Action::Spawn {
                idx: ProcId(0),
                run: w.run_of(ProcId(0))
            }]
        );
        delays.push(d);
    }
    assert_eq!(delays, [ms(100), ms(200), ms(350), ms(350), ms(350)]);
    // A run longer than restart_reset starts the doubling over.
    w.wait(Duration::from_secs(11));
    w.exit("api", ExitStatus::Code(1));
    assert_eq!(w.wait_next().0, ms(100));
    assert_eq!(w.sup.processes()[0].restarts, 6);
}

#[test]
fn crash_loop_of_a_critical_service_shuts_down_with_its_code() {
    let mut w = World::new(
        r#"
[processes.db]
command = "db"
[processes.api]
command = "api"
depends_on = ["db"]
restart_delay = "100ms"
max_restarts = 2
restart_window = "1m"
"#,
    );
    for _ in 0..2 {
        w.exit("api", ExitStatus::Code(4));
        w.wait_next();
    }
    let actions = w.exit("api", ExitStatus::Code(4));
    assert_eq!(
        *w.state("api"),
        State::Failed {
            status: ExitStatus::Code(4)
        }
    );
    let db = w.idx("db");
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: db,
                pid: w.last_pid(db),
                sig: TERM
            },
            Action::Continue {
                idx: db,
                pid: w.last_pid(db)
            }
        ]
    );
    assert_eq!(w.exit("db", OK), [Action::Finish { code: 4 }]);
}

#[test]
fn crash_loop_window_forgets_old_restarts() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
restart_delay = "1s"
restart_delay_max = "1s"
max_restarts = 2
restart_window = "10s"
"#,
    );
    for _ in 0..6 {
        w.exit("api", ExitStatus::Code(1));
        w.wait_next();
        w.wait(Duration::from_secs(5)); // runs 5 s each time: at most 2 restarts per 10 s
    }
    assert!(matches!(w.state("api"), State::Running { .. }));
}

#[test]
fn non_critical_failure_leaves_the_rest_running() {
    let mut w = World::new(
        r#"
[processes.api]
command = "api"
[processes.sidecar]
command = "sidecar"
critical = false
max_restarts = 0
"#,
    );
    let actions = w.exit("sidecar", ExitStatus::Code(2));
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(
        *w.state("sidecar"),
        State::Failed {
            status: ExitStatus::Code(2)
        }
    );
    assert!(matches!(w.state("api"), State::Running { .. }));
    assert_eq!(w.finished(), None);
}

#[test]
fn restart_policies() {
    let mut w = World::new(
        r#"
[processes.a]
command = "a"
restart = "on-failure"
critical = false
[processes.b]
command = "b"
restart = "never"
critical = false
[processes.c]
command = "c"
restart = "on-failure"
critical = false
"#,
    );
    w.exit("a", OK);
    assert_eq!(*w.state("a"), State::Exited { status: OK });
    w.exit("b", ExitStatus::Code(1));
    assert_eq!(
        *w.state("b"),
        State::Exited {
            status: ExitStatus::Code(1)
        }
    );
    w.exit("c", ExitStatus::Code(1));
    assert!(matches!(w.state("c"), State::Backoff { .. }));
}

#[test]
fn critical_service_that_ends_cleanly_ends_the_container_with_zero() {
    let mut w = World::new("[processes.app]\ncommand = \"app\"\nrestart = \"on-failure\"\n");
    assert_eq!(w.exit("app", OK), [Action::Finish { code: 0 }]);
}

#[test]
fn spawn_failure_of_a_non_critical_service_counts_as_a_failure_with_its_code() {
    let toml = "[processes.db]\ncommand = \"db\"\n[processes.app]\ncommand = \"nosuch\"\ndepends_on = [\"db\"]\nrestart_delay = \"1s\"\nmax_restarts = 1\ncritical = false\n";
    let ctx = LoadContext {
        env: Default::default(),
        etc_dir: "/nonexistent".into(),
        lookups: Default::default(),
    };
    let config = parse_str(toml, Path::new("/srv/oxfile.toml"), &ctx).unwrap();
    let mut w = World::with(config, vec!["app"]);
    // The first failure is restarted like any exit...
    assert!(
        matches!(w.state("app"), State::Backoff { .. }),
        "{:?}",
        w.state("app")
    );
    // ...the second exceeds max_restarts: app is not critical, so it stays
    // failed with 127 and db keeps running.
    w.wait_next();
    assert_eq!(
        *w.state("app"),
        State::Failed {
            status: ExitStatus::Code(127)
        }
    );
    assert!(matches!(w.state("db"), State::Running { .. }));
    assert_eq!(w.finished(), None);
}

#[test]
fn ordered_shutdown_stops_the_app_before_the_replicator_with_one_signal_each() {
    let mut w = World::new(SQLITE_APP);
    w.exit("restore", OK);
    w.exit("migrate", OK);
    let (api, ls) = (w.idx("api"), w.idx("litestream"));
    let actions = w.send(signal(TERM));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: api,
                pid: w.last_pid(api),
                sig: TERM
            },
            Action::Continue {
                idx: api,
                pid: w.last_pid(api)
            }
        ]
    );
    // Other signals meanwhile do not repeat the stop signal.
    w.wait(ms(500));
    assert_eq!(
        w.signals_to("litestream"),
        Vec::<Signal>::new(),
        "litestream must wait for api"
    );
    let actions = w.exit("api", ExitStatus::Code(0));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ls,
                pid: w.last_pid(ls),
                sig: TERM
            },
            Action::Continue {
                idx: ls,
                pid: w.last_pid(ls)
            }
        ]
    );
    let actions = w.exit("litestream", ExitStatus::Code(0));
    assert_eq!(actions, [Action::Finish { code: 0 }]);
    assert_eq!(w.signals_to("api"), [TERM, CONT]);
    assert_eq!(w.signals_to("litestream"), [TERM, CONT]);
}

/// The blog post's oxfile: no depends_on, yet litestream (a replicator)
/// starts before api and stops after it.
#[test]
fn a_replicator_starts_first_and_stops_last_without_depends_on() {
    let mut w = World::new(
        r#"
[processes.api]
command = "node dist/server.js"
[processes.litestream]
command = "litestream replicate -config /etc/litestream.yml"
"#,
    );
    assert_eq!(w.spawned(), ["litestream", "api"]);
    let (api, ls) = (w.idx("api"), w.idx("litestream"));
    let actions = w.send(signal(TERM));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: api,
                pid: w.last_pid(api),
                sig: TERM
            },
            Action::Continue {
                idx: api,
                pid: w.last_pid(api)
            }
        ]
    );
    w.wait(ms(500));
    assert!(w.signals_to("litestream").is_empty());
    let actions = w.exit("api", ExitStatus::Code(0));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ls,
                pid: w.last_pid(ls),
                sig: TERM
            },
            Action::Continue {
                idx: ls,
                pid: w.last_pid(ls)
            }
        ]
    );
    assert_eq!(
        w.exit("litestream", ExitStatus::Code(0)),
        [Action::Finish { code: 0 }]
    );
}

#[test]
fn stop_timeout_leads_to_sigkill_and_exit_137() {
    let mut w = World::new(SQLITE_APP);
    w.exit("restore", OK);
    w.exit("migrate", OK);
    w.send(signal(Signal::SIGINT));
    let (d, actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(15));
    assert_eq!(
        actions,
        [Action::Signal {
            idx: w.idx("api"),
            pid: w.last_pid(w.idx("api")),
            sig: KILL
        }]
    );
    w.exit("api", ExitStatus::Signal(KILL as i32));
    w.exit("litestream", OK);
    assert_eq!(w.finished(), Some(137));
}

#[test]
fn second_term_kills_everything_at_once() {
    let mut w = World::new(SQLITE_APP);
    w.exit("restore", OK);
    w.exit("migrate", OK);
    w.send(signal(TERM));
    let actions = w.send(signal(TERM));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: w.idx("litestream"),
                pid: w.last_pid(w.idx("litestream")),
                sig: KILL
            },
            Action::Signal {
                idx: w.idx("api"),
                pid: w.last_pid(w.idx("api")),
                sig: KILL
            }
        ]
    );
    assert!(w.sup.hurried());
    w.exit("api", ExitStatus::Signal(KILL as i32));
    w.exit("litestream", ExitStatus::Signal(KILL as i32));
    assert_eq!(w.finished(), Some(137));
}

#[test]
fn shutdown_timeout_caps_the_whole_shutdown() {
    let mut w = World::new(
        r#"
[init]
shutdown_timeout = "5s"
[processes.a]
command = "a"
stop_timeout = "1m"
[processes.b]
command = "b"
depends_on = ["a"]
stop_timeout = "1m"
"#,
    );
    w.send(signal(TERM));
    let (d, mut actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(5));
    // b was stopping, a not yet asked: both get SIGKILL now, in any order.
    actions.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: w.idx("a"),
                pid: w.last_pid(w.idx("a")),
                sig: KILL
            },
            Action::Signal {
                idx: w.idx("b"),
                pid: w.last_pid(w.idx("b")),
                sig: KILL
            }
        ]
    );
}

#[test]
fn shutdown_during_backoff_cancels_the_restart() {
    let mut w = World::new("[processes.a]\ncommand = \"a\"\nrestart_delay = \"10s\"\n");
    w.exit("a", ExitStatus::Code(1));
    assert_eq!(w.send(signal(TERM)), [Action::Finish { code: 0 }]);
    assert_eq!(*w.state("a"), State::Cancelled);
}

#[test]
fn other_signals_are_forwarded_to_running_processes_only() {
    let mut w = World::new(SQLITE_APP);
    // restore runs; nothing else has started.
    assert_eq!(
        w.send(signal(Signal::SIGHUP)),
        [Action::Signal {
            idx: w.idx("restore"),
            pid: w.last_pid(w.idx("restore")),
            sig: Signal::SIGHUP
        }]
    );
    w.exit("restore", OK);
    w.exit("migrate", OK);
    let actions = w.send(signal(Signal::SIGUSR1));
    let targets: Vec<_> = actions
        .iter()
        .map(|a| {
            if let Action::Signal { idx, .. } = a {
                *idx
            } else {
                ProcId(99)
            }
        })
        .collect();
    assert_eq!(targets, [w.idx("litestream"), w.idx("api")]);
    assert_eq!(
        Event::from_signal(SignalEvent::classify(libc::SIGCHLD)),
        None
    );
}

#[test]
fn exits_of_unknown_pids_change_nothing() {
    let mut w = World::new(SQLITE_APP);
    assert!(w
        .send(Event::Exited {
            pid: 4242,
            status: OK,
            oom: false
        })
        .is_empty());
    assert_eq!(w.sup.owner(4242), None);
    assert_eq!(w.sup.owner(w.pid("restore")), Some(ProcId(0)));
}

#[path = "failure_tests.rs"]
mod failure;

#[path = "condition_tests.rs"]
mod condition;
#[path = "reload_tests.rs"]
mod reload;

// ---- health checks, notify, jobs, control, memory (issues 4 and 5) ----

const DB_WITH_HEALTH: &str = r#"
[processes.db]
command = "db"
[processes.db.health]
type = "http"
url = "http://127.0.0.1:5432/health"
interval = "5s"
retries = 2
start_period = "30s"
[processes.api]
command = "api"
depends_on = ["db"]
"#;

fn probe(w: &mut World, name: &str, outcome: Outcome) -> Vec<Action> {
    let idx = w.idx(name);
    let run = w.sup.processes()[idx].run;
    w.send(Event::Probe {
        idx,
        run,
        outcome,
        took: ms(3),
    })
}

#[test]
fn a_dependent_waits_for_the_first_healthy_check() {
    let mut w = World::new(DB_WITH_HEALTH);
    // The first probe goes out with the start, not one interval later.
    assert_eq!(w.spawned(), ["db"]);
    assert!(w.log.contains(&(
        Duration::ZERO,
        Action::Probe {
            idx: ProcId(0),
            run: RunId(1)
        }
    )));
    assert!(probe(
        &mut w,
        "db",
        Outcome::Unhealthy("connection refused".into())
    )
    .is_empty());
    assert_eq!(w.sup.processes()[0].health.failures, 0);
    // Until it is ready, probes follow quickly: every 100ms at first.
    let (d, actions) = w.wait_next();
    assert_eq!(
        (d, actions),
        (
            ms(100),
            vec![Action::Probe {
                idx: ProcId(0),
                run: RunId(1)
            }]
        )
    );
    probe(&mut w, "db", Outcome::TimedOut);
    assert_eq!(w.wait_next().0, ms(100));
    assert!(!w.sup.booted());
    probe(&mut w, "db", Outcome::Healthy);
    assert_eq!(w.spawned(), ["db", "api"]);
    assert!(w.sup.booted());
    // Once ready, probes come every `interval`.
    assert_eq!(w.wait_next().0, Duration::from_secs(5));
    assert!(w.observed.contains(&Observation::Health {
        idx: ProcId(0),
        result: HealthResult::Ok,
        took: ms(3)
    }));
}

/// Answers every probe of `name` with `outcome` until `until` has passed
/// since the start of the world; returns the times the probes went out.
fn answer_probes_until(
    w: &mut World,
    name: &str,
    outcome: Outcome,
    until: Duration,
) -> Vec<Duration> {
    let idx = w.idx(name);
    let mut sent = Vec::new();
    loop {
        let asked = w
            .log
            .iter()
            .filter(|(_, a)| matches!(a, Action::Probe { idx: i, .. } if *i == idx))
            .count();
        if asked > sent.len() {
            sent.push(w.now - w.t0);
            probe(w, name, outcome.clone());
        }
        if w.now - w.t0 >= until || !matches!(w.state(name), State::Running { .. }) {
            return sent;
        }
        w.wait_next();
    }
}

#[test]
fn readiness_probes_come_every_100ms_then_slow_down_and_do_not_restart_a_slow_starter() {
    // No start_period, interval 10s, retries 3: failures before the first
    // success count once per interval, as when probes came every interval.
    let mut w = World::new(
        r#"
[processes.slow]
command = "slow"
[processes.slow.health]
type = "tcp"
address = "127.0.0.1:9"
interval = "10s"
"#,
    );
    let refused = Outcome::Unhealthy("connection refused".into());
    let sent = answer_probes_until(&mut w, "slow", refused.clone(), Duration::from_secs(9));
    // The first 50 gaps are 100ms, then 200ms, 400ms, 800ms, then a second.
    let expected: Vec<Duration> = (0..=50)
        .map(|n| ms(100 * n))
        .chain([5200, 5600, 6400, 7400, 8400, 9400].map(ms))
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(w.sup.processes()[0].health.failures, 0);
    // The failure at 10s is the first that counts; at 30s, the third.
    let sent = answer_probes_until(&mut w, "slow", refused, Duration::from_secs(40));
    assert_eq!(w.sup.processes()[0].health.failures, 3, "{sent:?}");
    assert!(matches!(w.state("slow"), State::Stopping { .. }));
    let stopped_at = w.now - w.t0;
    assert!(
        stopped_at >= Duration::from_secs(30) && stopped_at < Duration::from_secs(31),
        "{stopped_at:?}"
    );
}

#[test]
fn a_probe_slower_than_interval_is_followed_at_once_and_never_overlaps() {
    // interval 1s with the default timeout (2s): valid.
    let mut w = World::new(
        r#"
[processes.db]
command = "db"
[processes.db.health]
type = "tcp"
address = "127.0.0.1:9"
interval = "1s"
"#,
    );
    probe(&mut w, "db", Outcome::Healthy);
    let (d, actions) = w.wait_next();
    assert_eq!(
        (d, actions),
        (
            Duration::from_secs(1),
            vec![Action::Probe {
                idx: ProcId(0),
                run: RunId(1)
            }]
        )
    );
    // While that probe runs, no other starts, whatever the time.
    assert!(w.wait(ms(1_500)).is_empty());
    assert!(w.sup.next_deadline().is_none());
    // It ends 1.5s after it started (a timeout): the next one starts now.
    assert_eq!(
        probe(&mut w, "db", Outcome::TimedOut),
        [Action::Probe {
            idx: ProcId(0),
            run: RunId(1)
        }]
    );
    // A quick one: the next starts an interval after this one started.
    w.wait(ms(200));
    probe(&mut w, "db", Outcome::Healthy);
    assert_eq!(w.wait_next().0, ms(800));
}

#[test]
fn retries_consecutive_failures_restart_it_with_reason_health() {
    let mut w = World::new(DB_WITH_HEALTH);
    probe(&mut w, "db", Outcome::Healthy);
    w.wait_next();
    assert!(
        probe(&mut w, "db", Outcome::TimedOut).is_empty(),
        "1 of 2 failures: nothing yet"
    );
    w.wait_next();
    let actions = probe(&mut w, "db", Outcome::Unhealthy("HTTP 503".into()));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0))
            }
        ]
    );
    assert_eq!(w.sup.processes()[0].health.healthy, Some(false));
    w.exit("db", ExitStatus::Signal(TERM as i32));
    assert!(w.observed.contains(&Observation::Exited {
        idx: ProcId(0),
        reason: ExitReason::Health,
        code: 143
    }));
    assert!(matches!(w.state("db"), State::Backoff { .. }));
    // The new run starts not ready.
    w.wait_next();
    assert!(!w.sup.processes()[0].ready());
}

#[test]
fn a_late_probe_answer_about_a_previous_run_is_ignored() {
    let mut w = World::new(DB_WITH_HEALTH);
    w.exit("db", ExitStatus::Code(1));
    w.wait_next(); // restarted: run 2
    assert_eq!(w.sup.processes()[0].run, RunId(2));
    w.send(Event::Probe {
        idx: ProcId(0),
        run: RunId(1),
        outcome: Outcome::Healthy,
        took: ms(1),
    });
    assert!(!w.sup.processes()[0].ready());
}

#[test]
fn notify_ready_and_watchdog() {
    let mut w = World::new(
        r#"
[processes.db]
command = "db"
[processes.db.health]
type = "notify"
watchdog = "30s"
[processes.api]
command = "api"
depends_on = ["db"]
"#,
    );
    assert_eq!(w.sup.next_deadline(), None, "notify needs no probing");
    w.send(Event::Notify {
        idx: ProcId(0),
        run: RunId(1),
        notice: Notice::Status("loading".into()),
    });
    assert_eq!(w.spawned(), ["db"]);
    w.send(Event::Notify {
        idx: ProcId(0),
        run: RunId(1),
        notice: Notice::Ready,
    });
    assert_eq!(w.spawned(), ["db", "api"]);
    w.wait(Duration::from_secs(20));
    w.send(Event::Notify {
        idx: ProcId(0),
        run: RunId(1),
        notice: Notice::Watchdog,
    });
    let (d, actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(30));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0))
            }
        ]
    );
}

const JOB: &str = r#"
[processes.migrate]
command = "migrate"
oneshot = true
[processes.optimize]
command = "sqlite3 app.db 'PRAGMA optimize'"
schedule = "@every 10m"
depends_on = ["migrate"]
timeout = "15m"
"#;

#[test]
fn a_job_runs_on_schedule_and_a_run_still_going_is_skipped() {
    let mut w = World::new(JOB);
    assert_eq!(*w.state("optimize"), State::Waiting);
    w.exit("migrate", OK);
    assert_eq!(*w.state("optimize"), State::Scheduled);
    assert!(w.sup.booted(), "jobs do not hold the boot");
    let (d, actions) = w.wait_next();
    assert_eq!(
        (d, actions),
        (
            Duration::from_secs(600),
            vec![Action::Spawn {
                idx: ProcId(1),
                run: w.run_of(ProcId(1))
            }]
        )
    );
    w.exit("optimize", OK);
    assert_eq!(*w.state("optimize"), State::Scheduled);
    // The next run starts and is still going 10 minutes later: that run is skipped.
    w.wait_next();
    let (d, actions) = w.wait_next();
    assert_eq!(d, Duration::from_secs(600));
    assert!(actions.is_empty(), "{actions:?}");
    let results: Vec<&str> = w
        .observed
        .iter()
        .filter_map(|o| {
            if let Observation::JobRun { result, .. } = o {
                Some(result.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(results, ["success", "skipped"]);
    // A failed run is logged and never takes the container down.
    w.exit("optimize", ExitStatus::Code(1));
    assert_eq!(*w.state("optimize"), State::Scheduled);
    assert_eq!(w.finished(), None);
}

#[test]
fn a_stuck_job_is_stopped_at_its_timeout_and_scheduled_again() {
    let mut w = World::new(JOB);
    w.exit("migrate", OK);
    w.wait_next(); // run starts at 10m
    w.wait_next(); // 20m: skipped
    let (d, actions) = w.wait_next(); // 25m: timeout
    assert_eq!(d, Duration::from_secs(300));
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(1),
                pid: w.last_pid(ProcId(1)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(1),
                pid: w.last_pid(ProcId(1))
            }
        ]
    );
    w.exit("optimize", ExitStatus::Signal(TERM as i32));
    assert_eq!(*w.state("optimize"), State::Scheduled);
    assert!(w.observed.contains(&Observation::JobRun {
        idx: ProcId(1),
        result: JobResult::Timeout
    }));
}

fn control(w: &mut World, id: u64, command: Command, name: &str) -> Vec<Action> {
    w.send(Event::Control {
        id,
        command,
        name: name.into(),
    })
}

#[test]
fn control_stop_holds_a_process_until_start() {
    let mut w = World::new("[processes.api]\ncommand = \"api\"\nrestart = \"always\"\n");
    let actions = control(&mut w, 7, Command::Stop, "api");
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0))
            }
        ]
    );
    let actions = w.exit("api", ExitStatus::Signal(TERM as i32));
    assert!(
        matches!(
            &actions[..],
            [Action::Reply {
                id: 7,
                result: Ok(_)
            }]
        ),
        "{actions:?}"
    );
    assert_eq!(*w.state("api"), State::Stopped);
    assert_eq!(
        w.sup.next_deadline(),
        None,
        "a stopped process is not restarted, even with restart = always"
    );
    assert_eq!(
        w.finished(),
        None,
        "a held critical service does not end the container"
    );
    let actions = control(&mut w, 8, Command::Start, "api");
    assert_eq!(
        actions[0],
        Action::Spawn {
            idx: ProcId(0),
            run: w.run_of(ProcId(0))
        }
    );
    assert!(matches!(&actions[1], Action::Reply { id: 8, result: Ok(m) } if m.contains("started")));
}

#[test]
fn control_restart_goes_through_the_stop_signal_and_starts_at_once() {
    let mut w = World::new("[processes.api]\ncommand = \"api\"\nrestart_delay = \"10s\"\n");
    let first = w.pid("api");
    control(&mut w, 1, Command::Restart, "api");
    let actions = w.exit("api", ExitStatus::Signal(TERM as i32));
    assert_eq!(
        actions[0],
        Action::Spawn {
            idx: ProcId(0),
            run: w.run_of(ProcId(0))
        },
        "no backoff for a requested restart"
    );
    assert!(matches!(
        &actions[1],
        Action::Reply {
            id: 1,
            result: Ok(_)
        }
    ));
    assert_ne!(w.pid("api"), first);
    assert!(w.observed.contains(&Observation::Exited {
        idx: ProcId(0),
        reason: ExitReason::Stop,
        code: 143
    }));
}

#[test]
fn control_errors_change_nothing() {
    let mut w = World::new("[processes.api]\ncommand = \"api\"\n");
    let actions = control(&mut w, 1, Command::Restart, "apx");
    assert!(
        matches!(&actions[..], [Action::Reply { id: 1, result: Err(e) }] if e.contains("no process named \"apx\"") && e.contains("api"))
    );
    let actions = control(&mut w, 2, Command::Start, "api");
    assert!(
        matches!(&actions[..], [Action::Reply { id: 2, result: Err(e) }] if e.contains("already running"))
    );
    assert!(matches!(w.state("api"), State::Running { .. }));
}

#[test]
fn over_memory_stops_it_with_reason_memory_then_the_restart_policy_applies() {
    let mut w = World::new("[processes.api]\ncommand = \"api\"\nrestart = \"on-failure\"\n[processes.api.limits]\nmemory = \"64M\"\n");
    let actions = w.send(Event::OverMemory {
        idx: ProcId(0),
        run: RunId(1),
        bytes: 80 << 20,
    });
    assert_eq!(
        actions,
        [
            Action::Signal {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0)),
                sig: TERM
            },
            Action::Continue {
                idx: ProcId(0),
                pid: w.last_pid(ProcId(0))
            }
        ]
    );
    w.exit("api", ExitStatus::Code(0));
    assert!(w.observed.contains(&Observation::Exited {
        idx: ProcId(0),
        reason: ExitReason::Memory,
        code: 0
    }));
    assert!(
        matches!(w.state("api"), State::Backoff { .. }),
        "memory counts as a failure for on-failure"
    );
}

#[test]
fn an_oom_kill_is_reported_with_reason_oom() {
    let mut w = World::new("[processes.api]\ncommand = \"api\"\n");
    let pid = w.pid("api");
    w.send(Event::Exited {
        pid,
        status: ExitStatus::Signal(KILL as i32),
        oom: true,
    });
    assert_eq!(
        w.observed[0],
        Observation::Exited {
            idx: ProcId(0),
            reason: ExitReason::Oom,
            code: 137
        }
    );
    assert!(matches!(w.state("api"), State::Backoff { .. }));
}

/// A numeric user with no passwd entry runs with HOME=/ (as under runc),
/// not with oxinit's own HOME, which is root's; and no USER/LOGNAME.
#[test]
fn numeric_user_without_passwd_entry_gets_home_slash() {
    let ctx = LoadContext {
        env: [("HOME".to_string(), "/root".to_string())].into(),
        etc_dir: "/nonexistent".into(),
        lookups: crate::config::Lookups::Run,
    };
    let toml = "[processes.app]\ncommand = \"app\"\nuser = 4242\nenv = { A = \"1\" }\n";
    let config = parse_str(toml, Path::new("/srv/oxfile.toml"), &ctx).unwrap();
    assert_eq!(
        crate::launch::child_env(&config.processes[0]),
        vec![
            ("HOME".to_string(), "/".to_string()),
            ("A".to_string(), "1".to_string()),
        ]
    );
}

// ---- deadlines that used to live in the event loop (issue 12) ----

#[test]
fn an_exec_probe_is_killed_at_its_timeout_by_the_cores_clock() {
    let mut w = World::new(
        "[processes.db]\ncommand = \"db\"\n[processes.db.health]\ntype = \"exec\"\ncommand = \"check\"\ntimeout = \"1s\"\ninterval = \"5s\"\n",
    );
    let db = w.idx("db");
    let run = w.run_of(db);
    assert!(w
        .log
        .iter()
        .any(|(_, a)| *a == Action::Probe { idx: db, run }));
    let (d, actions) = w.wait_next();
    assert_eq!(
        (d, actions),
        (ms(1000), vec![Action::KillProbe { idx: db, run }])
    );
    // Its answer (TimedOut, once reaped) comes; from then on every probe is
    // answered at once, and none is killed.
    let sent = answer_probes_until(&mut w, "db", Outcome::Healthy, Duration::from_secs(30));
    assert!(sent.len() > 2, "{sent:?}");
    let kills = w
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::KillProbe { .. }))
        .count();
    assert_eq!(kills, 1);
}

#[test]
fn the_memory_poll_ticks_while_a_polled_process_runs() {
    let mut w = World::new(
        "[processes.api]\ncommand = \"api\"\n[processes.api.limits]\nmemory = \"64M\"\n",
    );
    assert_eq!(w.sup.next_deadline(), None, "the world said: not polled");
    // The next start is polled, as the loop says for a limit without a cgroup.
    w.polled = true;
    w.exit("api", OK);
    let (_, actions) = w.wait_next();
    assert!(matches!(actions[..], [Action::Spawn { .. }]), "{actions:?}");
    for _ in 0..3 {
        let (d, actions) = w.wait_next();
        assert_eq!((d, actions), (ms(2000), vec![Action::PollMemory]));
    }
    w.send(signal(TERM));
    w.exit("api", OK);
    assert_eq!(w.finished(), Some(0));
    // The poll armed while it ran comes once more, and is not armed again.
    let (_, actions) = w.wait_next();
    assert_eq!(actions, [Action::PollMemory]);
    assert_eq!(w.sup.next_deadline(), None, "nothing runs: no poll");
}
