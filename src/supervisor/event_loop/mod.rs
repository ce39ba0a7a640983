//! The impure half of the supervisor: turns signals, reaped children, probe
//! answers, notifications, control requests and deadlines into events for
//! [`Supervisor::handle`], and carries out the actions it returns.
//!
//! ```text
//!  signals ──▶ SIGCHLD ──▶ reap() ──▶ Exited / exec-probe answer ─┐
//!          └─▶ other (classified) ──▶ Shutdown / Forward ─────────┤
//!  probe tasks, notify sockets ──(internal channel)──▶ Probe/Notify ┼─▶ Supervisor::handle ──▶ actions
//!  control socket ──(mpsc of verb::Command)──▶ Control ────────────┤
//!  sleep_until(the core's next deadline) ──▶ Tick ─────────────────┘
//! ```
//! One task, one thread: spawning and reaping never overlap, and a pid is in
//! the loop's table from the moment `spawn` returns, before the reaper can
//! see it exit. After every batch the loop publishes a [`Snapshot`] for
//! /metrics, /health, /status and the control socket. What it does to the
//! machine goes through [`Host`], so tests drive it in-process with a fake.

mod children;
mod news;
#[cfg(test)]
mod tests;

use super::boot::Boot;
use super::core::{Action, Event, Observation, Supervisor};
use super::host::{Host, System};
use super::ids::{ProcId, RunId};
use super::internal::Internal;
use super::observe::Observer;
use super::oom::OomCounter;
use super::probing::Probes;
use super::settle::Settled;
use super::signal_event::SignalEvent;
use crate::cgroup::ProcessCgroup;
use crate::config::{Config, LogFormat};
use crate::logs::{Drained, LogBook, LogSink, Style};
use crate::snapshot::{MemoryEnforcement, Snapshot};
use crate::sys::signals;
use crate::sys::spawn;
use crate::verb;
use nix::sys::signal::Signal;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

/// How long, after the last process is gone, we wait for its final output.
const LOG_DRAIN: Duration = Duration::from_secs(2);
/// Failed signal reads in a row after which oxinit stops everything: it can
/// no longer see a child exit or a stop request.
const SIGNAL_FAILURES: u32 = 10;
/// Between two failed signal reads: no hot loop on a broken signalfd.
const SIGNAL_RETRY: Duration = Duration::from_millis(100);
/// The emergency stop's grace between TERM and KILL (as after a panic).
const EMERGENCY_GRACE: Duration = Duration::from_secs(5);

/// What the wiring hands the supervisor: where it publishes its picture,
/// where control requests come from, who hears what happens.
pub struct Links {
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    /// None when the control socket could not be bound.
    pub control: Option<mpsc::Receiver<verb::Command>>,
    pub observer: Arc<dyn Observer>,
    /// Where the relays keep every process's last lines (`oxinit logs`);
    /// exited events take the last stderr lines from it.
    pub logs: Option<LogBook>,
}

/// A process the loop started, by its pid.
struct Child {
    idx: ProcId,
    run: RunId,
    /// Its memory limit, measured on the memory poll when it has no cgroup.
    limit: Option<u64>,
}

/// Everything the loop owns besides the supervisor's state.
struct Runner<H: Host> {
    sup: Supervisor,
    host: H,
    observer: Arc<dyn Observer>,
    control: Option<mpsc::Receiver<verb::Command>>,
    memory_mode: MemoryEnforcement,
    sink: Option<LogSink>,
    logs: Option<LogBook>,
    /// Where each process's current run began in its ring: an exit tells
    /// the stderr lines of that run, not of the ones before.
    run_logs: HashMap<ProcId, u64>,
    relays: Vec<JoinHandle<crate::logs::RelayStats>>,
    launch_dir: PathBuf,
    started_at: SystemTime,
    snapshots: watch::Sender<Arc<Snapshot>>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    exec_probes: Probes,
    /// Each running process's cgroup (cgroup modes only)…
    cgroups: HashMap<ProcId, ProcessCgroup>,
    /// …and the run it belongs to (a reload's new instance has none).
    cgroup_runs: HashMap<ProcId, RunId>,
    /// Each running notify instance's socket reader.
    notify: HashMap<(ProcId, RunId), JoinHandle<()>>,
    /// This oxinit's own directory for notify sockets (removed at exit), so
    /// two oxinits sharing /run never replace each other's sockets.
    notify_dir: Option<crate::health::RuntimeDir>,
    replies: HashMap<u64, oneshot::Sender<verb::Answer>>,
    next_reply: u64,
    /// The processes' pids, as the loop started them (orphans are not here).
    children: HashMap<i32, Child>,
    /// OOM kills inside the running processes' cgroups.
    oom: OomCounter,
    /// `[sqlite] databases`, checked for WAL mode when a replicator first
    /// starts: by then restore and migrate have made the file.
    databases: Vec<PathBuf>,
    /// Every process's held sockets (`listen`), passed to each of its starts.
    sockets: super::sockets::HeldSockets,
    /// Signal reads that failed in a row.
    signal_failures: u32,
    /// The loop gave up (signals unreadable) and stopped everything itself.
    emergency: bool,
}

/// Runs `config` until shutdown; returns oxinit's exit code.
pub async fn run(config: Config, settled: Settled, boot: Boot, links: Links) -> i32 {
    let width = config
        .processes
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    let style = match config.init.log_format {
        LogFormat::Raw => None,
        LogFormat::Prefixed => Some(Style::Prefixed { width }),
        LogFormat::Json => Some(Style::Json),
    };
    let book = links.logs.clone();
    let sink = style.and_then(|style| match LogSink::stdio(style, book.clone()) {
        Ok(sink) => Some(sink),
        Err(e) => {
            tracing::warn!("cannot relay the processes' output ({e}); they write straight to oxinit's stdout/stderr");
            None
        }
    });
    let kernel_log = open_kernel_log(boot.cgroups.is_some());
    let host = System {
        signals: settled.signals,
        cgroups: boot.cgroups,
    };
    let mut runner = Runner::new(
        &config,
        host,
        links,
        boot.memory_mode,
        sink,
        settled.launch_dir,
        OomCounter::new(kernel_log),
    );
    runner.sockets = boot.sockets;
    let code = runner.run().await;
    if runner.emergency {
        // Everything got TERM, grace, KILL already; a sweep would read the
        // signals that cannot be read.
        runner.finish_logs().await;
        return code;
    }
    let grace = if runner.sup.hurried() {
        Duration::ZERO
    } else {
        config.init.orphan_grace
    };
    let swept = crate::sweep::sweep(&mut runner.host.signals, &[], grace).await;
    runner.observer.zombies_reaped(swept.reaped as u64);
    if let Some(enforcement) = &runner.host.cgroups {
        let cleanup = enforcement.cleanup();
        for e in cleanup.failed {
            tracing::warn!("{e}");
        }
    }
    runner.finish_logs().await;
    if swept.killed && code == 0 {
        return crate::exit::KILLED;
    }
    code
}

impl<H: Host> Runner<H> {
    fn new(
        config: &Config,
        host: H,
        links: Links,
        memory_mode: MemoryEnforcement,
        sink: Option<LogSink>,
        launch_dir: PathBuf,
        oom: OomCounter,
    ) -> Runner<H> {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let started_at = SystemTime::now();
        Runner {
            sup: Supervisor::new(config, Instant::now(), started_at),
            host,
            observer: links.observer,
            control: links.control,
            memory_mode,
            sink,
            logs: links.logs,
            run_logs: HashMap::new(),
            relays: Vec::new(),
            launch_dir,
            started_at,
            snapshots: links.snapshots,
            internal_tx,
            internal_rx,
            exec_probes: Probes::default(),
            cgroups: HashMap::new(),
            cgroup_runs: HashMap::new(),
            notify: HashMap::new(),
            notify_dir: None,
            replies: HashMap::new(),
            next_reply: 0,
            children: HashMap::new(),
            oom,
            databases: config.sqlite.databases.clone(),
            sockets: Default::default(),
            signal_failures: 0,
            emergency: false,
        }
    }

    async fn run(&mut self) -> i32 {
        let mut pending = VecDeque::from([Event::Tick]);
        loop {
            while let Some(event) = pending.pop_front() {
                let before = news::before(&self.sup);
                let signal = match &event {
                    Event::Shutdown(request) => Some(signals::name(request.signal() as i32)),
                    _ => None,
                };
                let now = Instant::now();
                let actions = self.sup.handle(event, now);
                self.tell_news(&before, now, signal.as_deref());
                for action in actions {
                    if let Some(code) = self.act(action, &mut pending) {
                        self.publish();
                        return code;
                    }
                }
            }
            self.publish();
            let deadline = self.sup.next_deadline();
            tokio::select! {
                batch = self.host.signals() => match batch {
                    Ok(batch) => {
                        self.signal_failures = 0;
                        for sig in batch {
                            let meaning = SignalEvent::classify(sig);
                            if meaning == SignalEvent::Child {
                                if self.reap(&mut pending) {
                                    // Let the relays take what the dead
                                    // process wrote last before its exit
                                    // is told (with its last stderr lines):
                                    // its pipe and the SIGCHLD were ready
                                    // together, and this puts the loop
                                    // behind the relays woken with it.
                                    tokio::task::yield_now().await;
                                }
                                continue;
                            }
                            self.observer.signal_received(&signals::name(sig));
                            pending.extend(Event::from_signal(meaning));
                        }
                    }
                    Err(e) => {
                        if let Some(code) = self.signals_failed(e).await {
                            return code;
                        }
                    }
                },
                Some(msg) = self.internal_rx.recv() => match msg {
                    Internal::Event(event) => pending.push_back(event),
                    Internal::OomEvent(idx) => {
                        if let Some(cg) = self.cgroups.get(&idx) {
                            self.oom.check(idx, cg, &*self.observer);
                        }
                    }
                },
                Some(request) = recv_control(&mut self.control) => {
                    self.next_reply += 1;
                    self.replies.insert(self.next_reply, request.reply);
                    pending.push_back(Event::Control {
                        id: self.next_reply,
                        command: request.action,
                        name: request.name,
                    });
                },
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    pending.push_back(Event::Tick);
                }
            }
        }
    }

    /// A signal read failed. The first failure is logged; the next reads
    /// wait a little; after [`SIGNAL_FAILURES`] in a row every process gets
    /// TERM, a grace and KILL, and oxinit ends with an internal error
    /// (Some(code)): without signals it sees no exit and no stop request.
    async fn signals_failed(&mut self, e: std::io::Error) -> Option<i32> {
        self.signal_failures += 1;
        if self.signal_failures == 1 {
            tracing::error!("reading signals failed: {e}");
        }
        if self.signal_failures < SIGNAL_FAILURES {
            tokio::time::sleep(SIGNAL_RETRY).await;
            return None;
        }
        tracing::error!(
            "reading signals failed {SIGNAL_FAILURES} times in a row (last: {e}): oxinit cannot              see its processes exit or a stop request; stopping every process (TERM, {}, KILL)",
            crate::units::format_duration(EMERGENCY_GRACE)
        );
        self.host.emergency_stop(EMERGENCY_GRACE);
        self.emergency = true;
        self.publish();
        Some(crate::exit::INTERNAL)
    }

    /// Carries out one action; Some(code) when it is time to finish.
    fn act(&mut self, action: Action, pending: &mut VecDeque<Event>) -> Option<i32> {
        match action {
            Action::Spawn { idx, run } => {
                let event = self.spawn(idx, run);
                pending.push_back(event);
            }
            Action::Check { idx, run } => super::probing::check_conditions(
                idx,
                run,
                &self.sup.processes()[idx].spec,
                &self.internal_tx,
            ),
            Action::Signal { idx, pid, sig } => {
                self.host.kill_group(pid, sig);
                if sig == Signal::SIGKILL {
                    // Descendants that left the process group are still in
                    // its cgroup (the pid's own: not a reload's other instance).
                    if let Some(cg) = self.cgroup_of(idx, pid) {
                        let _ = cg.kill_all();
                    }
                }
            }
            Action::Continue { pid, .. } => self.host.continue_stopped_in_group(pid),
            Action::KillProbe { idx, run } => {
                if let Some(pid) = self.exec_probes.time_out(idx, run) {
                    self.host.kill_group(pid, Signal::SIGKILL);
                }
            }
            Action::PollMemory => self.poll_memory(pending),
            Action::Probe { idx, run } => {
                let p = &self.sup.processes()[idx];
                // The instance the probe is for. During a reload two answer
                // on one address, and an HTTP/TCP answer counts only for the
                // one that accepted it.
                let second = p.reload.as_ref().filter(|r| r.run == run);
                let instance = match second {
                    Some(r) => r.pid(),
                    None => p.state.pid(),
                };
                let attribute = p.reload.is_some();
                let spec = &p.spec;
                let cwd = spec.cwd.clone().unwrap_or_else(|| self.launch_dir.clone());
                let host = &mut self.host;
                let spawn = |request: &spawn::SpawnSpec| host.spawn(request);
                if let Some(event) = self.exec_probes.start(
                    super::probing::Target {
                        idx,
                        run,
                        instance,
                        attribute,
                    },
                    spec,
                    &cwd,
                    &self.internal_tx,
                    spawn,
                ) {
                    pending.push_back(event);
                }
            }
            Action::Reply { id, result } => {
                if let Some(reply) = self.replies.remove(&id) {
                    let _ = reply.send(result.into());
                }
            }
            Action::ReplyExit { id, code, message } => {
                if let Some(reply) = self.replies.remove(&id) {
                    let _ = reply.send(verb::Answer {
                        result: Ok(message),
                        code: Some(code),
                    });
                }
            }
            Action::Record(observation) => self.record(observation),
            Action::Finish { code } => return Some(code),
        }
        None
    }

    fn record(&self, observation: Observation) {
        let m = &self.observer;
        let name = |idx: ProcId| self.sup.processes()[idx].name();
        match observation {
            Observation::Exited { idx, reason, code } => {
                // OOM kills are counted from the cgroup's counter (oom.rs).
                m.process_exited(name(idx), reason, code);
            }
            Observation::Restarted { idx } => m.process_restarted(name(idx)),
            Observation::Health { idx, result, took } => m.health_check(name(idx), result, took),
            Observation::OneshotFinished { idx, took } => m.oneshot_finished(name(idx), took),
            Observation::JobRun { idx, result } => {
                let at = SystemTime::now();
                m.job_run(name(idx), result, at);
                m.event(&news::job(name(idx), result, at));
            }
            Observation::Reloaded { idx, result } => {
                m.process_reloaded(name(idx), result);
                m.event(&news::reloaded(name(idx), result, SystemTime::now()));
            }
        }
    }

    /// The cgroup of process `idx`'s instance running as `pid`, if it has one.
    fn cgroup_of(&self, idx: ProcId, pid: i32) -> Option<&ProcessCgroup> {
        let run = self.children.get(&pid).map(|c| c.run);
        match run.is_some() && run == self.cgroup_runs.get(&idx).copied() {
            true => self.cgroups.get(&idx),
            false => None,
        }
    }

    fn publish(&self) {
        let cgroups = |idx: ProcId| -> Vec<PathBuf> {
            self.cgroups
                .get(&idx)
                .map(|c| c.paths().into_iter().map(Path::to_path_buf).collect())
                .unwrap_or_default()
        };
        let snapshot =
            super::picture::picture(&self.sup, self.started_at, self.memory_mode, &cgroups);
        self.snapshots.send_replace(Arc::new(snapshot));
    }

    /// Waits (bounded) for the relays to pass on the last lines: for the
    /// processes' pipes to close, but not for a stdout or stderr nobody reads.
    async fn finish_logs(&mut self) {
        let relays = std::mem::take(&mut self.relays);
        let Some(sink) = &self.sink else { return };
        match sink
            .drain(relays, LOG_DRAIN, crate::logs::stall::STALL)
            .await
        {
            Drained::Done => {}
            Drained::Stuck => tracing::warn!(
                "oxinit's stdout or stderr has taken nothing for {}; the processes' last \
                 lines are dropped (is the container's log reader stalled?)",
                crate::units::format_duration(crate::logs::stall::STALL)
            ),
            Drained::TimedOut => tracing::warn!(
                "some output pipes stayed open after every process stopped; their last lines \
                 may be missing"
            ),
        }
    }
}

/// The kernel log, for the names of OOM victims: only with cgroups (without,
/// the kernel kills nothing of ours for a limit).
fn open_kernel_log(cgroups: bool) -> crate::cgroup::KernelLog {
    use crate::cgroup::KernelLog;
    if !cgroups {
        return KernelLog::unavailable("no process has a cgroup");
    }
    let log = KernelLog::open(Path::new(super::oom::KMSG), Path::new("/proc"));
    if let Some(why) = log.unavailable_reason() {
        tracing::info!("OOM kills will be counted and logged without the victim: {why}");
    }
    log
}

async fn recv_control(rx: &mut Option<mpsc::Receiver<verb::Command>>) -> Option<verb::Command> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
