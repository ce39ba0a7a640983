//! The event loop driven in-process: a fake machine ([`Host`]) whose
//! signals, exits and memory the test decides, and paused tokio time for a
//! clock, so the loop's own paths (reply routing, the memory poll, a
//! cgroup's release, a broken signal source) run fast and deterministic.

use super::*;
use crate::cgroup::{CgroupError, KernelLog, Limits};
use crate::config::{parse_str, LoadContext};
use crate::snapshot::{ExitReason, HealthResult, JobResult, ProcessState};
use crate::sys::reap::ExitStatus;
use crate::sys::spawn::{SpawnError, SpawnSpec, Spawned};
use std::io;
use std::sync::Mutex;

/// What the fake machine saw and what it will report.
#[derive(Default)]
struct Machine {
    next_pid: i32,
    /// argv[0] and pid of every spawn, in order.
    spawned: Vec<(String, i32)>,
    /// Exits the next reap collects.
    exits: VecDeque<(i32, ExitStatus)>,
    signalled: Vec<(i32, Signal)>,
    /// What tree_rss says of a pid.
    rss: HashMap<i32, u64>,
    emergency_stops: Vec<Duration>,
}

struct FakeHost {
    signals: mpsc::UnboundedReceiver<io::Result<Vec<i32>>>,
    machine: Arc<Mutex<Machine>>,
    /// A fake cgroupfs: with it, processes with limits get cgroups.
    cgroups: Option<PathBuf>,
}

impl Host for FakeHost {
    async fn signals(&mut self) -> io::Result<Vec<i32>> {
        match self.signals.recv().await {
            Some(batch) => batch,
            None => std::future::pending().await,
        }
    }

    fn spawn(&mut self, request: &SpawnSpec) -> Result<Spawned, SpawnError> {
        let mut m = self.machine.lock().unwrap();
        m.next_pid += 1;
        let pid = 1000 + m.next_pid;
        m.spawned.push((request.argv[0].clone(), pid));
        Ok(Spawned {
            pid,
            stdout: None,
            stderr: None,
        })
    }

    fn reap(&mut self) -> Vec<(i32, ExitStatus)> {
        self.machine.lock().unwrap().exits.drain(..).collect()
    }

    fn kill_group(&mut self, pgid: i32, sig: Signal) {
        self.machine.lock().unwrap().signalled.push((pgid, sig));
    }

    fn continue_stopped_in_group(&mut self, _pgid: i32) {}

    fn has_cgroups(&self) -> bool {
        self.cgroups.is_some()
    }

    fn create_cgroup(
        &mut self,
        process: &str,
        limits: &Limits,
    ) -> Option<Result<ProcessCgroup, CgroupError>> {
        let dir = self.cgroups.as_ref()?.join(format!("oxinit-{process}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.events"), events(0)).unwrap();
        std::fs::write(dir.join("cgroup.kill"), "").unwrap();
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        Some(Ok(ProcessCgroup::fake_v2(process, &dir, limits.memory)))
    }

    fn tree_rss(&mut self, pid: i32) -> u64 {
        self.machine
            .lock()
            .unwrap()
            .rss
            .get(&pid)
            .copied()
            .unwrap_or(0)
    }

    fn emergency_stop(&mut self, grace: Duration) {
        self.machine.lock().unwrap().emergency_stops.push(grace);
    }
}

fn events(oom_kills: u64) -> String {
    format!("low 0\nhigh 0\nmax 0\noom 0\noom_kill {oom_kills}\noom_group_kill 0\n")
}

/// What the metrics would have heard, one line an event.
#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl Heard {
    fn said(&self, line: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l == line)
    }
}

impl Observer for Heard {
    fn process_exited(&self, name: &str, reason: ExitReason, code: i32) {
        self.push(format!("exited {name} {reason} {code}"));
    }
    fn process_restarted(&self, name: &str) {
        self.push(format!("restarted {name}"));
    }
    fn health_check(&self, name: &str, result: HealthResult, _: Duration) {
        self.push(format!("health {name} {result}"));
    }
    fn oneshot_finished(&self, name: &str, _: Duration) {
        self.push(format!("finished {name}"));
    }
    fn job_run(&self, name: &str, result: JobResult, _: SystemTime) {
        self.push(format!("job {name} {result}"));
    }
    fn process_reloaded(&self, name: &str, result: crate::snapshot::ReloadResult) {
        self.push(format!("reloaded {name} {result}"));
    }
    fn oom_kills(&self, name: &str, n: u64) {
        self.push(format!("oom {name} {n}"));
    }
    fn zombies_reaped(&self, _: u64) {}
    fn signal_received(&self, signal_name: &str) {
        self.push(format!("signal {signal_name}"));
    }
    fn event(&self, event: &crate::snapshot::Event) {
        let mut line = format!("event {}", event.event);
        if let Some(process) = &event.process {
            line += &format!(" {process}");
        }
        for (key, value) in event.fields() {
            // Times depend on the paused clock's steps: shown as given.
            if !matches!(key, "pid" | "uptime") {
                line += &format!(" {key}={value}");
            }
        }
        self.push(line);
    }
}

impl Heard {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

/// The test's side of a loop: its signals, its machine, its control socket,
/// its published pictures.
struct Rig {
    signals: mpsc::UnboundedSender<io::Result<Vec<i32>>>,
    machine: Arc<Mutex<Machine>>,
    control: mpsc::Sender<verb::Command>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    heard: Arc<Heard>,
}

fn rig(toml: &str, cgroups: Option<PathBuf>) -> (Rig, Runner<FakeHost>) {
    let ctx = LoadContext {
        env: Default::default(),
        etc_dir: "/nonexistent".into(),
        lookups: Default::default(),
    };
    let config = parse_str(toml, Path::new("/srv/oxfile.toml"), &ctx).expect("test oxfile");
    let (signal_tx, signal_rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::channel(16);
    let (snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let machine = Arc::new(Mutex::new(Machine::default()));
    let heard = Arc::new(Heard::default());
    let mode = match cgroups {
        Some(_) => MemoryEnforcement::Cgroup2,
        None => MemoryEnforcement::Poll,
    };
    let host = FakeHost {
        signals: signal_rx,
        machine: machine.clone(),
        cgroups,
    };
    let links = Links {
        snapshots,
        control: Some(control_rx),
        observer: heard.clone(),
        logs: None,
    };
    let oom = OomCounter::new(KernelLog::unavailable("test"));
    let runner = Runner::new(&config, host, links, mode, None, "/".into(), oom);
    let rig = Rig {
        signals: signal_tx,
        machine,
        control: control_tx,
        snapshots: snapshot_rx,
        heard,
    };
    (rig, runner)
}

impl Rig {
    /// Waits (on the paused clock) until the latest picture says `ok`.
    async fn until(&mut self, what: &str, ok: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        tokio::time::timeout(Duration::from_secs(600), self.snapshots.wait_for(|s| ok(s)))
            .await
            .unwrap_or_else(|_| panic!("never: {what}"))
            .expect("the loop publishes")
            .clone()
    }

    async fn running(&mut self, name: &str) -> i32 {
        let snap = self
            .until(&format!("{name} runs"), |s| {
                s.processes
                    .iter()
                    .any(|p| p.name == name && p.state == ProcessState::Running)
            })
            .await;
        snap.processes
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .pid
            .unwrap()
    }

    /// Waits until the machine has seen `pid` get `sig`.
    async fn signalled(&self, pid: i32, sig: Signal) {
        for _ in 0..10_000 {
            if self.machine.lock().unwrap().signalled.contains(&(pid, sig)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{pid} never got {sig}");
    }

    fn signal(&self, sig: Signal) {
        self.signals.send(Ok(vec![sig as i32])).unwrap();
    }

    /// `pid` exits with `status`: the next reap collects it, SIGCHLD says so.
    fn exit(&self, pid: i32, status: ExitStatus) {
        self.machine.lock().unwrap().exits.push_back((pid, status));
        self.signal(Signal::SIGCHLD);
    }

    async fn ask(
        &self,
        action: verb::Verb,
        name: &str,
    ) -> oneshot::Receiver<Result<String, String>> {
        let (reply, answer) = oneshot::channel::<verb::Answer>();
        let command = verb::Command {
            action,
            name: name.into(),
            reply,
        };
        self.control.send(command).await.unwrap();
        // The tests read the message; the exit code has tests of its own.
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            if let Ok(answer) = answer.await {
                let _ = tx.send(answer.result);
            }
        });
        rx
    }

    /// TERM, and every pid in `pids` exits 0: the loop finishes.
    async fn stop(&mut self, pids: &[i32]) {
        self.signal(Signal::SIGTERM);
        for &pid in pids {
            self.signalled(pid, Signal::SIGTERM).await;
            self.exit(pid, ExitStatus::Code(0));
        }
    }
}

const TWO: &str = "[processes.api]\ncommand = \"api\"\n[processes.worker]\ncommand = \"worker\"\n";

/// Each control request gets its own answer, through its own channel, when
/// what it asked for is done (not when it was asked).
#[tokio::test(start_paused = true)]
async fn control_replies_reach_their_own_requester() {
    let (mut rig, mut runner) = rig(TWO, None);
    let script = async {
        let api = rig.running("api").await;
        let worker = rig.running("worker").await;
        let restart = rig.ask(verb::Verb::Restart, "api").await;
        let stop = rig.ask(verb::Verb::Stop, "worker").await;
        let unknown = rig.ask(verb::Verb::Start, "nosuch").await;
        assert_eq!(
            unknown.await.unwrap(),
            Err("no process named \"nosuch\"; processes: api, worker".into())
        );
        rig.signalled(api, Signal::SIGTERM).await;
        rig.signalled(worker, Signal::SIGTERM).await;
        // worker goes first: the answers do not depend on the order asked.
        rig.exit(worker, ExitStatus::Code(0));
        assert_eq!(
            stop.await.unwrap(),
            Ok("worker stopped (exit code 0)".into())
        );
        rig.exit(api, ExitStatus::Signal(libc::SIGTERM));
        let answer = restart.await.unwrap().unwrap();
        let again = rig.running("api").await;
        assert_ne!(again, api);
        assert_eq!(answer, format!("api started (pid {again})"));
        rig.stop(&[again]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
    assert!(rig.heard.said("restarted api"));
    assert!(rig.heard.said("signal SIGTERM"));
}

/// Polling mode: every 2 s (the core's tick) the loop measures what has a
/// limit; over it, the process is stopped with reason memory.
#[tokio::test(start_paused = true)]
async fn the_memory_poll_stops_what_is_over_its_limit() {
    let toml = "[processes.api]\ncommand = \"api\"\nrestart = \"never\"\ncritical = false\n\
                [processes.api.limits]\nmemory = \"64M\"\n[processes.idle]\ncommand = \"idle\"\n";
    let (mut rig, mut runner) = rig(toml, None);
    let script = async {
        let api = rig.running("api").await;
        let idle = rig.running("idle").await;
        let t0 = Instant::now();
        rig.machine.lock().unwrap().rss.insert(api, 100 << 20);
        rig.signalled(api, Signal::SIGTERM).await;
        let waited = t0.elapsed();
        assert!(
            waited <= Duration::from_millis(2010),
            "one poll period, not {waited:?}"
        );
        rig.exit(api, ExitStatus::Signal(libc::SIGTERM));
        rig.until("api exited", |s| {
            s.processes[0].state == ProcessState::Exited
        })
        .await;
        assert!(rig.heard.said("exited api memory 143"));
        let polled_idle = rig.machine.lock().unwrap().signalled.clone();
        assert!(
            !polled_idle.iter().any(|&(pid, _)| pid == idle),
            "idle has no limit"
        );
        rig.stop(&[idle]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
}

/// A process's cgroup is released when it is reaped: its OOM counter read
/// last (a SIGKILL with a kill in its cgroup is an OOM), what it left killed
/// through cgroup.kill, and it leaves the picture.
#[tokio::test(start_paused = true)]
async fn a_reaped_process_releases_its_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = "[processes.api]\ncommand = \"api\"\nrestart = \"never\"\ncritical = false\n\
                [processes.api.limits]\nmemory = \"64M\"\n[processes.idle]\ncommand = \"idle\"\n";
    let (mut rig, mut runner) = rig(toml, Some(tmp.path().to_path_buf()));
    let dir = tmp.path().join("oxinit-api");
    let script = async {
        let api = rig.running("api").await;
        let idle = rig.running("idle").await;
        let snap = rig.snapshots.borrow().clone();
        assert_eq!(snap.processes[0].cgroups, std::slice::from_ref(&dir));
        assert!(snap.processes[1].cgroups.is_empty(), "no limits, no cgroup");
        std::fs::write(dir.join("memory.events"), events(1)).unwrap();
        rig.exit(api, ExitStatus::Signal(libc::SIGKILL));
        let snap = rig
            .until("api exited", |s| {
                s.processes[0].state == ProcessState::Exited
            })
            .await;
        assert!(snap.processes[0].cgroups.is_empty());
        assert_eq!(
            snap.processes[0].last_exit.as_ref().unwrap().reason,
            ExitReason::Oom
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(),
            "1"
        );
        assert!(rig.heard.said("oom api 1"));
        assert!(rig.heard.said("exited api oom 137"));
        rig.stop(&[idle]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
}

/// A signal source that keeps failing ends in one emergency stop (TERM,
/// grace, KILL) and an internal error, not in a hot retry loop; a failure
/// between good reads is retried.
#[tokio::test(start_paused = true)]
async fn a_signal_source_that_keeps_failing_ends_in_an_emergency_stop() {
    let (mut rig, mut runner) = rig(TWO, None);
    let broken = || Err(io::Error::from_raw_os_error(libc::EBADF));
    let script = async {
        let api = rig.running("api").await;
        // One failure, then a good read: nothing happens.
        rig.signals.send(broken()).unwrap();
        rig.signal(Signal::SIGHUP);
        rig.signalled(api, Signal::SIGHUP).await;
        let t0 = Instant::now();
        for _ in 0..SIGNAL_FAILURES {
            rig.signals.send(broken()).unwrap();
        }
        t0
    };
    let (code, t0) = tokio::join!(runner.run(), script);
    assert_eq!(code, crate::exit::INTERNAL);
    assert_eq!(
        rig.machine.lock().unwrap().emergency_stops,
        [EMERGENCY_GRACE]
    );
    let took = t0.elapsed();
    assert!(
        took >= SIGNAL_RETRY * (SIGNAL_FAILURES - 1),
        "the retries wait: {took:?}"
    );
}

/// An exec probe that hangs is killed at its timeout (the core's deadline,
/// the host's kill), and its reaped end is the answer: timed out.
#[tokio::test(start_paused = true)]
async fn a_hung_exec_probe_is_killed_at_its_timeout() {
    let toml = "[processes.api]\ncommand = \"api\"\n[processes.api.health]\ntype = \"exec\"\n\
                command = \"check\"\ntimeout = \"1s\"\ninterval = \"10s\"\n";
    let (mut rig, mut runner) = rig(toml, None);
    let script = async {
        let t0 = Instant::now();
        let probe = loop {
            let found = rig
                .machine
                .lock()
                .unwrap()
                .spawned
                .iter()
                .find(|(a, _)| a == "check")
                .cloned();
            if let Some((_, pid)) = found {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        rig.signalled(probe, Signal::SIGKILL).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1), "at its timeout");
        rig.exit(probe, ExitStatus::Signal(libc::SIGKILL));
        for _ in 0..1000 {
            if rig.heard.said("health api timeout") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(rig.heard.said("health api timeout"));
        let api = rig.machine.lock().unwrap().spawned[0].1;
        rig.stop(&[api]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
}

/// `oxinit events` hears each change once, in order: a crash is told as
/// exited (with its reason and code), restarting (with its delay) and
/// started again; the shutdown names its signal.
#[tokio::test(start_paused = true)]
async fn events_tell_each_change_once_in_order() {
    let toml = "[processes.api]\ncommand = \"api\"\nrestart_delay = \"2s\"\n";
    let (mut rig, mut runner) = rig(toml, None);
    let script = async {
        let api = rig.running("api").await;
        rig.exit(api, ExitStatus::Code(3));
        let again = loop {
            let pid = rig.running("api").await;
            if pid != api {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        rig.stop(&[again]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
    let events: Vec<String> = rig
        .heard
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("event "))
        .cloned()
        .collect();
    assert_eq!(
        events,
        [
            "event started api",
            "event ready api",
            "event exited api reason=exit code=3",
            "event restarting api delay=2.000s restart=1",
            "event started api",
            "event ready api",
            "event shutdown why=\"SIGTERM\"",
            "event exited api reason=stop code=0",
        ]
    );
}

/// `oxinit reload` through the loop, in cgroup mode: the new instance runs
/// beside the old one without a cgroup of its own; the old one's end
/// releases the old one's cgroup only, answers the request and is counted
/// as a reload, not an exit.
#[tokio::test(start_paused = true)]
async fn a_reload_hands_over_and_releases_only_the_old_instances_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = "[processes.api]\ncommand = \"api\"\n[processes.api.limits]\nmemory = \"64M\"\n";
    let (mut rig, mut runner) = rig(toml, Some(tmp.path().to_path_buf()));
    let dir = tmp.path().join("oxinit-api");
    let script = async {
        let old = rig.running("api").await;
        let answer = rig.ask(verb::Verb::Reload, "api").await;
        rig.signalled(old, Signal::SIGTERM).await;
        let snap = rig
            .until("the old one stopping beside the new one", |s| {
                s.processes[0]
                    .reload
                    .as_ref()
                    .is_some_and(|r| r.instance == "old")
            })
            .await;
        let new = snap.processes[0].pid.unwrap();
        assert_ne!(new, old);
        assert_eq!(snap.processes[0].reload.as_ref().unwrap().pid, Some(old));
        assert_eq!(snap.processes[0].cgroups, std::slice::from_ref(&dir));
        rig.exit(old, ExitStatus::Code(0));
        let message = answer.await.unwrap().unwrap();
        assert!(message.starts_with(&format!(
            "api reloaded: the new instance (pid {new}) serves"
        )));
        let snap = rig
            .until("the reload is over", |s| s.processes[0].reload.is_none())
            .await;
        assert_eq!(snap.processes[0].pid, Some(new));
        assert!(
            snap.processes[0].cgroups.is_empty(),
            "the old one's cgroup is gone"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(),
            "1"
        );
        assert!(!rig
            .machine
            .lock()
            .unwrap()
            .signalled
            .contains(&(new, Signal::SIGTERM)));
        rig.stop(&[new]).await;
    };
    let (code, ()) = tokio::join!(runner.run(), script);
    assert_eq!(code, 0);
    assert!(rig.heard.said("reloaded api ok"));
    assert!(
        rig.heard.said("event reloaded api reload=ok"),
        "oxinit events hears it"
    );
    let heard = rig.heard.0.lock().unwrap().clone();
    let exits: Vec<&String> = heard
        .iter()
        .filter(|l| l.starts_with("exited api"))
        .collect();
    assert_eq!(
        exits,
        ["exited api stop 0"],
        "only the shutdown's: {heard:?}"
    );
}
