//! The impure half of the supervisor: turns signals, reaped children, probe
//! answers, notifications, control requests and deadlines into events for
//! [`Supervisor::handle`], and carries out the actions it returns.
//!
//! ```text
//!  signalfd ──▶ SIGCHLD ──▶ reap() ──▶ Exited / exec-probe answer ─┐
//!           └─▶ other   ─────────────▶ Signal ─────────────────────┤
//!  probe tasks, notify sockets ──(internal channel)──▶ Probe/Notify ┼─▶ Supervisor::handle ──▶ actions
//!  control socket ──(mpsc)──▶ Control ─────────────────────────────┤
//!  sleep_until(next deadline) ──▶ Tick (+ memory polling) ─────────┘
//! ```
//! One task, one thread: spawning and reaping never overlap, and a pid is in
//! the supervisor's state from the moment `spawn` returns, before the reaper
//! can see it exit. After every batch the loop publishes a [`Snapshot`] for
//! /metrics, /health, /status and the control socket.

use super::boot::{self, Services};
use super::core::{Action, Command, Event, Observation, Supervisor};
use super::oom::OomCounter;
use super::probing::{Internal, Probes};
use super::snapshot::Snapshot;
use crate::cgroup::ProcessCgroup;
use crate::config::{Config, HealthCheck, LogFormat};
use crate::launch::{child_env, credentials};
use crate::logs::{Drained, LogSink, Stream, Style};
use crate::sys::{kill, pid1, reap, signals, signals::Signals, spawn};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

/// How long, after the last process is gone, we wait for its final output.
const LOG_DRAIN: Duration = Duration::from_secs(2);
/// How often memory is measured in polling mode (only while a limited process runs).
const MEMORY_POLL: Duration = Duration::from_secs(2);

/// Everything the loop owns besides the supervisor's state.
struct Runner {
    sup: Supervisor,
    signals: Signals,
    services: Services,
    sink: Option<LogSink>,
    relays: Vec<JoinHandle<crate::logs::RelayStats>>,
    launch_dir: PathBuf,
    started_at: SystemTime,
    snapshots: watch::Sender<Arc<Snapshot>>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    exec_probes: Probes,
    /// Each running process's cgroup (cgroup modes only).
    cgroups: HashMap<usize, ProcessCgroup>,
    /// Each running notify process's socket reader.
    notify: HashMap<usize, JoinHandle<()>>,
    /// This oxinit's own directory for notify sockets (removed at exit), so
    /// two oxinits sharing /run never replace each other's sockets.
    notify_dir: Option<crate::health::RuntimeDir>,
    replies: HashMap<u64, oneshot::Sender<Result<String, String>>>,
    next_reply: u64,
    next_memory_poll: Option<Instant>,
    /// OOM kills inside the running processes' cgroups.
    oom: OomCounter,
    /// `[sqlite] databases`, checked for WAL mode when a replicator first
    /// starts: by then restore and migrate have made the file.
    databases: Vec<PathBuf>,
}

/// Runs `config` until shutdown; returns oxinit's exit code.
pub async fn run(config: Config) -> i32 {
    if !pid1::is_pid1() {
        if let Err(e) = pid1::become_subreaper() {
            tracing::warn!(
                "cannot become a child subreaper ({e}): orphans will go to the real init"
            );
        }
    }
    let launch_dir = pid1::launch_dir();
    pid1::chdir_root();
    let signals = match Signals::open() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot read signals (signalfd): {e}");
            return crate::exit::INTERNAL;
        }
    };
    let (snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let services = match boot::start(&config, &snapshot_rx) {
        Ok(s) => s,
        Err(code) => return code,
    };
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
    let sink = style.and_then(|style| match LogSink::stdio(style) {
        Ok(sink) => Some(sink),
        Err(e) => {
            tracing::warn!("cannot relay the processes' output ({e}); they write straight to oxinit's stdout/stderr");
            None
        }
    });
    let (internal_tx, internal_rx) = mpsc::unbounded_channel();
    let kernel_log = open_kernel_log(services.cgroups.is_some());
    let now = Instant::now();
    let started_at = SystemTime::now();
    let mut runner = Runner {
        sup: Supervisor::new(&config, now, started_at),
        signals,
        services,
        sink,
        relays: Vec::new(),
        launch_dir,
        started_at,
        snapshots,
        internal_tx,
        internal_rx,
        exec_probes: Probes::default(),
        cgroups: HashMap::new(),
        notify: HashMap::new(),
        notify_dir: None,
        replies: HashMap::new(),
        next_reply: 0,
        next_memory_poll: None,
        oom: OomCounter::new(kernel_log),
        databases: config.sqlite.databases.clone(),
    };
    let code = runner.run().await;
    let grace = if runner.sup.hurried() {
        Duration::ZERO
    } else {
        config.init.orphan_grace
    };
    let swept = crate::sweep::sweep(&mut runner.signals, &[], grace).await;
    runner.services.metrics.zombies_reaped(swept.reaped as u64);
    if let Some(enforcement) = &runner.services.cgroups {
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

impl Runner {
    async fn run(&mut self) -> i32 {
        let mut pending = VecDeque::from([Event::Tick]);
        loop {
            while let Some(event) = pending.pop_front() {
                for action in self.sup.handle(event, Instant::now()) {
                    if let Some(code) = self.act(action, &mut pending) {
                        self.publish();
                        return code;
                    }
                }
            }
            self.publish();
            let deadline = [self.sup.next_deadline(), self.next_memory_poll]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                batch = self.signals.recv() => match batch {
                    Ok(batch) => {
                        for sig in batch {
                            if sig == libc::SIGCHLD {
                                self.reap(&mut pending);
                            } else {
                                self.services.metrics.signal_received(&signals::name(sig));
                                pending.push_back(Event::Signal(sig));
                            }
                        }
                    }
                    Err(e) => tracing::error!("reading signals failed: {e}"),
                },
                Some(msg) = self.internal_rx.recv() => match msg {
                    Internal::Event(event) => pending.push_back(event),
                    Internal::ExecProbeTimeout(pid) => self.exec_probes.time_out(pid),
                    Internal::OomEvent(idx) => {
                        if let Some(cg) = self.cgroups.get(&idx) {
                            self.oom.check(idx, cg, &self.services.metrics);
                        }
                    }
                },
                Some(request) = recv_control(&mut self.services.control) => {
                    self.next_reply += 1;
                    let command = match request.action {
                        crate::control::Action::Restart => Command::Restart,
                        crate::control::Action::Stop => Command::Stop,
                        crate::control::Action::Start => Command::Start,
                    };
                    self.replies.insert(self.next_reply, request.reply);
                    pending.push_back(Event::Control { id: self.next_reply, command, name: request.name });
                },
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.poll_memory(&mut pending);
                    pending.push_back(Event::Tick);
                }
            }
        }
    }

    /// Carries out one action; Some(code) when it is time to finish.
    fn act(&mut self, action: Action, pending: &mut VecDeque<Event>) -> Option<i32> {
        match action {
            Action::Spawn(idx) => pending.push_back(self.spawn(idx)),
            Action::Signal { idx, sig } => {
                if let Some(pid) = self.sup.pid(idx) {
                    kill::group(pid, sig);
                    if sig == libc::SIGKILL {
                        // Descendants that left the process group are still in its cgroup.
                        if let Some(cg) = self.cgroups.get(&idx) {
                            let _ = cg.kill_all();
                        }
                    }
                }
            }
            Action::Continue { idx } => {
                if let Some(pid) = self.sup.pid(idx) {
                    kill::continue_stopped_in_group(pid);
                }
            }
            Action::Probe { idx, run } => {
                let spec = &self.sup.processes()[idx].spec;
                let cwd = spec.cwd.clone().unwrap_or_else(|| self.launch_dir.clone());
                if let Some(event) = self
                    .exec_probes
                    .start(idx, run, spec, &cwd, &self.internal_tx)
                {
                    pending.push_back(event);
                }
            }
            Action::Reply { id, result } => {
                if let Some(reply) = self.replies.remove(&id) {
                    let _ = reply.send(result);
                }
            }
            Action::Record(observation) => self.record(observation),
            Action::Finish { code } => return Some(code),
        }
        None
    }

    fn record(&self, observation: Observation) {
        let m = &self.services.metrics;
        let name = |idx: usize| self.sup.processes()[idx].name();
        match observation {
            Observation::Exited { idx, reason, code } => {
                // OOM kills are counted from the cgroup's counter (oom.rs).
                m.process_exited(name(idx), reason.as_str(), code);
            }
            Observation::Restarted { idx } => m.process_restarted(name(idx)),
            Observation::Health { idx, result, took } => m.health_check(name(idx), result, took),
            Observation::OneshotFinished { idx, took } => m.oneshot_finished(name(idx), took),
            Observation::JobRun { idx, result } => m.job_run(name(idx), result, SystemTime::now()),
        }
    }

    fn reap(&mut self, pending: &mut VecDeque<Event>) {
        let mut orphans = 0;
        for (pid, status) in reap::reap().exited {
            if let Some(idx) = self.sup.owner(pid) {
                let oom = self.release(idx, status);
                pending.push_back(Event::Exited { pid, status, oom });
            } else if let Some(event) = self.exec_probes.reaped(pid, status) {
                pending.push_back(event);
            } else {
                orphans += 1;
                tracing::debug!("reaped orphan {pid} ({status})");
            }
        }
        // Adopted orphans only: our own children are counted as exits.
        self.services.metrics.zombies_reaped(orphans);
    }

    /// After process `idx` ended with `status`: reads its cgroup's OOM
    /// counter, clears out what it left in the cgroup and removes it; closes
    /// its notify socket. Returns true when it died of SIGKILL and the kernel
    /// OOM-killed something in its cgroup during this run: a worker killed
    /// earlier does not make a clean exit an OOM.
    fn release(&mut self, idx: usize, status: reap::ExitStatus) -> bool {
        if let Some(task) = self.notify.remove(&idx) {
            task.abort();
        }
        let Some(mut cg) = self.cgroups.remove(&idx) else {
            return false;
        };
        let kills = self.oom.ended(idx, &cg, &self.services.metrics);
        let oom = kills > 0 && status == reap::ExitStatus::Signal(libc::SIGKILL);
        let _ = cg.kill_all();
        if let Err(e) = cg.remove() {
            // Busy: members still dying. The final cleanup removes it.
            tracing::debug!("{e}");
        }
        oom
    }

    /// Starts process `idx` and reports how it went.
    fn spawn(&mut self, idx: usize) -> Event {
        let p = &self.sup.processes()[idx];
        let spec = p.spec.clone();
        let run = p.run + 1;
        if run == 1 && crate::config::replicator::is_replicator(&spec) {
            for warning in self
                .databases
                .iter()
                .filter_map(|db| crate::sqlite::wal_check(db))
            {
                tracing::warn!("{warning} ({} replicates it)", spec.name);
            }
        }
        let mut env = child_env(&spec);
        let mut cgroup = None;
        if let (Some(enforcement), true) =
            (&self.services.cgroups, spec.limits != Default::default())
        {
            match enforcement.create(&spec.name, &spec.limits) {
                Ok(cg) => cgroup = Some(cg),
                Err(e) => tracing::error!("{}: {e}; it runs without its cgroup limits", spec.name),
            }
        }
        if let Some(HealthCheck::Notify { watchdog }) = spec.health.as_ref().map(|h| &h.check) {
            if self.notify_dir.is_none() {
                match crate::health::RuntimeDir::create(&crate::health::default_dir()) {
                    Ok(dir) => self.notify_dir = Some(dir),
                    Err(e) => tracing::error!("cannot create a directory for notify sockets: {e}"),
                }
            }
            let dir = self
                .notify_dir
                .as_ref()
                .map(|d| d.path().to_path_buf())
                .unwrap_or_else(crate::health::default_dir);
            match super::probing::notify_socket(&dir, idx, run, &spec, *watchdog, &self.internal_tx)
            {
                Ok((vars, task)) => {
                    env.extend(vars);
                    self.notify.insert(idx, task);
                }
                Err(e) => tracing::error!("{}: cannot create its NOTIFY_SOCKET: {e}", spec.name),
            }
        }
        let creds = credentials(&spec);
        let cwd: &Path = spec.cwd.as_deref().unwrap_or(&self.launch_dir);
        let procs_fds = cgroup
            .as_ref()
            .map(|c: &ProcessCgroup| c.procs_fds())
            .unwrap_or_default();
        let request = spawn::SpawnSpec {
            argv: &spec.argv,
            env: &env,
            cwd,
            user: creds.as_ref(),
            inherit_stdin: false,
            output: if self.sink.is_some() {
                spawn::Output::Pipes
            } else {
                spawn::Output::Inherit
            },
            tty: pid1::TtyHandover::None,
            cgroup_procs: &procs_fds,
        };
        let result = spawn::spawn(&request);
        if let Some(mut cg) = cgroup {
            cg.close_procs_fds();
            if result.is_ok() {
                self.oom.started(idx, &cg, &self.internal_tx);
                self.cgroups.insert(idx, cg);
            } else {
                let _ = cg.remove();
            }
        }
        match result {
            Ok(child) => {
                if let Some(sink) = &self.sink {
                    for (stream, fd) in [
                        (Stream::Stdout, child.stdout),
                        (Stream::Stderr, child.stderr),
                    ] {
                        if let Some(fd) = fd {
                            self.relays.push(sink.relay(&spec.name, stream, fd));
                        }
                    }
                }
                self.schedule_memory_poll();
                Event::Started {
                    idx,
                    pid: child.pid,
                }
            }
            Err(e) => {
                if let Some(task) = self.notify.remove(&idx) {
                    task.abort();
                }
                Event::SpawnFailed {
                    idx,
                    code: e.exit_code,
                    reason: e.to_string(),
                    permanent: e.is_permanent(),
                }
            }
        }
    }

    /// Polling mode: measure every running process that has a memory limit;
    /// read the OOM counters that have no watch.
    fn poll_memory(&mut self, pending: &mut VecDeque<Event>) {
        let Some(due) = self.next_memory_poll else {
            return;
        };
        if due > Instant::now() {
            return;
        }
        self.next_memory_poll = None;
        for idx in self.oom.polled() {
            if let Some(cg) = self.cgroups.get(&idx) {
                self.oom.check(idx, cg, &self.services.metrics);
            }
        }
        for (idx, p) in self.sup.processes().iter().enumerate() {
            let (Some(limit), Some(pid)) = (p.spec.limits.memory, p.state.pid()) else {
                continue;
            };
            if self.cgroups.contains_key(&idx) {
                continue;
            }
            let bytes = crate::cgroup::poll::tree_rss(Path::new("/proc"), pid, pid);
            if bytes > limit {
                pending.push_back(Event::OverMemory {
                    idx,
                    run: p.run,
                    bytes,
                });
            }
        }
        self.schedule_memory_poll();
    }

    /// Arms the next memory poll when a limited process runs without a
    /// cgroup, or a cgroup's OOM counter has no watch.
    fn schedule_memory_poll(&mut self) {
        if self.next_memory_poll.is_some() {
            return;
        }
        if self.oom.needs_poll() {
            self.next_memory_poll = Some(Instant::now() + MEMORY_POLL);
            return;
        }
        if self.services.cgroups.is_some() {
            return;
        }
        let limited = self
            .sup
            .processes()
            .iter()
            .any(|p| p.spec.limits.memory.is_some() && p.state.pid().is_some())
            || self.sup.processes().iter().any(|p| {
                p.spec.limits.memory.is_some() && p.state == super::process::State::Starting
            });
        if limited {
            self.next_memory_poll = Some(Instant::now() + MEMORY_POLL);
        }
    }

    fn publish(&self) {
        let cgroups = |idx: usize| -> Vec<PathBuf> {
            self.cgroups
                .get(&idx)
                .map(|c| c.paths().into_iter().map(Path::to_path_buf).collect())
                .unwrap_or_default()
        };
        let snapshot = Snapshot::of(
            &self.sup,
            self.started_at,
            self.services.memory_mode,
            &cgroups,
        );
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
                crate::config::units::format_duration(crate::logs::stall::STALL)
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

async fn recv_control(
    rx: &mut Option<mpsc::Receiver<crate::control::Command>>,
) -> Option<crate::control::Command> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
