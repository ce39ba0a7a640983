//! The supervisor's logic as a pure function: `handle(event, now) → actions`.
//!
//! It owns the state of every process and decides what happens next; it never
//! touches a process itself. The event loop (`event_loop.rs`) turns signals,
//! reaped children, probe answers, control requests and deadlines into
//! [`Event`]s and carries out the returned [`Action`]s. Every deadline lives in
//! the state (backoff end, stop timeout, oneshot timeout, next probe, next job
//! run, shutdown cap), so the loop only asks [`Supervisor::next_deadline`] and
//! there are no timers to cancel. Unit tests drive it with explicit instants.

use super::process::{ExitReason, LastExit, Process, State, StopCause};
use crate::config::{Config, InitSettings, Kind, RestartPolicy};
use crate::sys::reap::ExitStatus;
use crate::sys::signals;
use crate::units::{format_duration_approx as fmt_duration, format_size, format_size_approx};
use condition::launch;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

mod condition;

/// What a health probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    Unhealthy(String),
    TimedOut,
}

/// What a process said over its NOTIFY_SOCKET (systemd's sd_notify protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Ready,
    Stopping,
    Status(String),
    Watchdog,
}

/// A request from `oxinit restart|stop|start NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Restart,
    Stop,
    Start,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The event loop started process `idx` as `pid`.
    Started { idx: usize, pid: i32 },
    /// Process `idx` could not be started; `code` is 126/127. `permanent`:
    /// starting it again cannot help (not found, not executable, no cwd).
    SpawnFailed {
        idx: usize,
        code: i32,
        reason: String,
        permanent: bool,
    },
    /// The reaper collected `pid`; `oom` when its cgroup saw an OOM kill.
    Exited {
        pid: i32,
        status: ExitStatus,
        oom: bool,
    },
    /// oxinit received a signal (other than SIGCHLD).
    Signal(i32),
    /// A health probe of run `run` of process `idx` answered.
    Probe {
        idx: usize,
        run: u64,
        outcome: Outcome,
        took: Duration,
    },
    /// Run `run` of process `idx` sent a notification.
    Notify {
        idx: usize,
        run: u64,
        notice: Notice,
    },
    /// Run `run` of process `idx` uses `bytes`, over its limit (polling mode).
    OverMemory { idx: usize, run: u64, bytes: u64 },
    /// A control request, answered by an [`Action::Reply`] with the same id.
    Control {
        id: u64,
        command: Command,
        name: String,
    },
    /// The `when` conditions of process `idx` were checked (see
    /// [`Action::Check`]): `Ok(None)` they hold, `Ok(Some(why))` one does
    /// not, `Err` one could not be checked.
    Checked {
        idx: usize,
        verdict: Result<Option<String>, String>,
    },
    /// Time passed: act on every deadline that is due.
    Tick,
}

/// Facts for the metrics; the supervisor does not depend on who listens.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Exited {
        idx: usize,
        reason: ExitReason,
        code: i32,
    },
    Restarted {
        idx: usize,
    },
    Health {
        idx: usize,
        result: &'static str,
        took: Duration,
    },
    OneshotFinished {
        idx: usize,
        took: Duration,
    },
    /// result: "success" | "failure" | "timeout" | "skipped".
    JobRun {
        idx: usize,
        result: &'static str,
    },
}

/// What the event loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Spawn(usize),
    /// Check process `idx`'s `when` conditions, off the supervisor's thread
    /// (a path on a hung mount never answers); answer with Event::Checked.
    Check {
        idx: usize,
    },
    /// Signal process `idx`'s whole process group.
    Signal {
        idx: usize,
        sig: i32,
    },
    /// SIGCONT to the members of process `idx`'s group that are stopped, so
    /// they can act on the stop signal just sent; a running one gets none.
    Continue {
        idx: usize,
    },
    /// Run the health probe of process `idx` (answer with Event::Probe).
    Probe {
        idx: usize,
        run: u64,
    },
    /// Answer control request `id`.
    Reply {
        id: u64,
        result: Result<String, String>,
    },
    Record(Observation),
    /// Every process is stopped: sweep the leftovers and exit with `code`.
    Finish {
        code: i32,
    },
}

/// Why the shutdown started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// TERM/INT/QUIT: exit 0, or 137 if something had to be SIGKILLed.
    Requested,
    /// A oneshot or critical service failed: exit with its code.
    Failed(i32),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Running,
    /// Stopping `stop_levels[level]`; everything is SIGKILLed at `deadline`.
    ShuttingDown {
        cause: Cause,
        level: usize,
        deadline: Instant,
    },
    Finished,
}

/// The whole system: every process plus the boot/shutdown phase.
#[derive(Debug)]
pub struct Supervisor {
    procs: Vec<Process>,
    /// Indices of processes, level by level, in boot order.
    start_levels: Vec<Vec<usize>>,
    deps: Vec<Vec<usize>>,
    init: InitSettings,
    phase: Phase,
    /// Boot finished once (latched: a later crash does not make it "booting").
    boot_done: bool,
    /// Something got SIGKILL during the shutdown.
    killed_any: bool,
    /// Every process was SIGKILLed at once: the sweep gets no grace either.
    hurried: bool,
    /// The wall clock at `mono0`, to place cron times on the monotonic clock.
    wall0: SystemTime,
    mono0: Instant,
}

impl Supervisor {
    pub fn new(config: &Config, now: Instant, wall: SystemTime) -> Supervisor {
        let indices = config.indices();
        let index = |name: &str| *indices.get(name).expect("plan names a known process");
        let plan = crate::config::plan::plan(config);
        let start_levels = plan
            .start_levels
            .iter()
            .map(|lvl| lvl.iter().map(|n| index(n)).collect())
            .collect();
        // `depends_on` plus the edges replicators imply, as the plan has them.
        let deps = crate::config::replicator::dependencies(&config.processes);
        Supervisor {
            procs: config.processes.iter().cloned().map(Process::new).collect(),
            start_levels,
            deps,
            init: config.init.clone(),
            phase: Phase::Running,
            boot_done: false,
            killed_any: false,
            hurried: false,
            wall0: wall,
            mono0: now,
        }
    }

    pub fn processes(&self) -> &[Process] {
        &self.procs
    }

    /// The pid of process `idx`, while it may be signalled.
    pub fn pid(&self, idx: usize) -> Option<i32> {
        self.procs[idx].state.pid()
    }

    /// The process running as `pid` (not an adopted orphan).
    pub fn owner(&self, pid: i32) -> Option<usize> {
        self.procs.iter().position(|p| p.state.pid() == Some(pid))
    }

    /// True once everything was SIGKILLed at once (second signal, shutdown cap).
    pub fn hurried(&self) -> bool {
        self.hurried
    }

    /// True once boot has finished: every oneshot succeeded and every service
    /// was ready at the same time.
    pub fn booted(&self) -> bool {
        self.boot_done
    }

    /// "booting" | "running" | "stopping" | "stopped".
    pub fn phase(&self) -> &'static str {
        match self.phase {
            Phase::Running if self.boot_done => "running",
            Phase::Running => "booting",
            Phase::ShuttingDown { .. } => "stopping",
            Phase::Finished => "stopped",
        }
    }

    /// The wall-clock time of a monotonic instant.
    pub fn wall(&self, t: Instant) -> SystemTime {
        match t.checked_duration_since(self.mono0) {
            Some(d) => self.wall0 + d,
            None => self.wall0 - (self.mono0 - t),
        }
    }

    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let running = self.phase == Phase::Running;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for p in &self.procs {
            match p.state {
                State::Backoff { until } if running => consider(until),
                State::Stopping {
                    kill_at,
                    killed: false,
                    ..
                } => consider(kill_at),
                State::Running { since, .. } => {
                    if let (true, Some(t)) = (p.kind != Kind::Service, p.spec.timeout) {
                        consider(since + t);
                    }
                    if let (Some(t), false) = (p.health.next_probe, p.health.probing) {
                        consider(t);
                    }
                    if let Some(t) = p.health.watchdog_deadline {
                        consider(t);
                    }
                }
                _ => {}
            }
            if let (Some(t), true, false) = (p.next_run, running, p.held) {
                consider(t);
            }
        }
        if let Phase::ShuttingDown { deadline, .. } = self.phase {
            if !self.hurried {
                consider(deadline);
            }
        }
        next
    }

    /// Handles one event; returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Started { idx, pid } => self.started(idx, pid, now, &mut out),
            Event::SpawnFailed {
                idx,
                code,
                reason,
                permanent,
            } => self.spawn_failed(idx, code, &reason, permanent, now, &mut out),
            Event::Exited { pid, status, oom } => {
                if let Some(idx) = self.owner(pid) {
                    self.ended(idx, status, oom, now, &mut out);
                }
            }
            Event::Signal(sig) => self.on_signal(sig, now, &mut out),
            Event::Probe {
                idx,
                run,
                outcome,
                took,
            } => self.on_probe(idx, run, outcome, took, now, &mut out),
            Event::Notify { idx, run, notice } => self.on_notice(idx, run, notice, now),
            Event::OverMemory { idx, run, bytes } => {
                let p = &self.procs[idx];
                if p.run == run && matches!(p.state, State::Running { .. }) {
                    let limit = p.spec.limits.memory.unwrap_or(0);
                    tracing::warn!(
                        "{} uses {}, over its memory limit of {}: stopping it",
                        p.spec.name,
                        format_size_approx(bytes),
                        format_size(limit)
                    );
                    self.stop(idx, StopCause::Memory, now, &mut out);
                }
            }
            Event::Control { id, command, name } => {
                self.on_control(id, command, &name, now, &mut out)
            }
            Event::Checked { idx, verdict } => self.checked(idx, verdict, now, &mut out),
            Event::Tick => {}
        }
        self.on_deadlines(now, &mut out);
        self.advance(now, &mut out);
        out
    }

    fn started(&mut self, idx: usize, pid: i32, now: Instant, out: &mut Vec<Action>) {
        let p = &mut self.procs[idx];
        p.run += 1;
        p.state = State::Running { pid, since: now };
        p.health = Default::default();
        if p.probed() {
            // The first probe right away: see `cadence`.
            p.health.next_probe = Some(now);
        }
        tracing::info!("started {} (pid {pid})", p.spec.name);
        if let Some(id) = p.pending_reply.take() {
            out.push(Action::Reply {
                id,
                result: Ok(format!("{} started (pid {pid})", p.spec.name)),
            });
        }
    }

    /// Process `idx` could not be started. A critical service whose first
    /// start fails in a way no retry can fix aborts the boot at once, with
    /// the spawn's code and one line, instead of retrying with backoff while
    /// the rest runs without it. Anything else counts as an exit with `code`.
    fn spawn_failed(
        &mut self,
        idx: usize,
        code: i32,
        reason: &str,
        permanent: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        if let Some(id) = p.pending_reply.take() {
            out.push(Action::Reply {
                id,
                result: Err(format!("{}: {reason}", p.spec.name)),
            });
        }
        let first_start = p.run == 0 && p.kind == Kind::Service;
        if !(permanent && first_start && p.spec.critical && self.phase == Phase::Running) {
            tracing::error!("{}: {reason} (counts as exit code {code})", p.spec.name);
            self.ended(idx, ExitStatus::Code(code), false, now, out);
            return;
        }
        tracing::error!(
            "{}: {reason}; it is critical and a restart cannot fix this: boot aborted (exit code {code})",
            p.spec.name
        );
        let status = ExitStatus::Code(code);
        p.last_exit = Some(LastExit {
            status,
            reason: ExitReason::Exit,
            at: now,
        });
        p.last_failure = Some(code);
        p.state = State::Failed { status };
        out.push(Action::Record(Observation::Exited {
            idx,
            reason: ExitReason::Exit,
            code,
        }));
        self.begin_shutdown(Cause::Failed(code), now);
    }

    fn on_signal(&mut self, sig: i32, now: Instant, out: &mut Vec<Action>) {
        let stop = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig);
        match (&self.phase, stop) {
            (Phase::Running, true) => {
                tracing::info!("received {}: shutting down", signals::name(sig));
                self.begin_shutdown(Cause::Requested, now);
            }
            (Phase::ShuttingDown { .. }, true) if sig != libc::SIGQUIT => {
                tracing::warn!(
                    "received {} again: killing every process now",
                    signals::name(sig)
                );
                self.kill_everything(now, out);
            }
            (_, true) => {}
            (_, false) if signals::is_forwardable(sig) => {
                for (idx, p) in self.procs.iter().enumerate() {
                    if matches!(p.state, State::Running { .. }) {
                        out.push(Action::Signal { idx, sig });
                    }
                }
            }
            _ => {}
        }
    }

    /// Process `idx` ended (or could not start) with `status`.
    fn ended(
        &mut self,
        idx: usize,
        status: ExitStatus,
        oom: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let shutting_down = self.phase != Phase::Running;
        let boot_done = self.boot_done;
        let p = &mut self.procs[idx];
        let name = p.spec.name.clone();
        let (uptime, stop_took, cause) = match p.state {
            State::Running { since, .. } => (now.duration_since(since), None, None),
            State::Stopping {
                since,
                asked,
                cause,
                ..
            } => (
                now.duration_since(since),
                Some(now.duration_since(asked)),
                Some(cause),
            ),
            _ => (Duration::ZERO, None, None),
        };
        let reason = match (oom, cause) {
            (true, _) => ExitReason::Oom,
            (false, Some(StopCause::Health)) => ExitReason::Health,
            (false, Some(StopCause::Memory)) => ExitReason::Memory,
            (false, Some(_)) => ExitReason::Stop,
            (false, None) if matches!(status, ExitStatus::Signal(_)) => ExitReason::Signal,
            (false, None) => ExitReason::Exit,
        };
        p.last_exit = Some(LastExit {
            status,
            reason,
            at: now,
        });
        if status.code() != 0 {
            p.last_failure = Some(status.code());
        }
        p.health = Default::default();
        out.push(Action::Record(Observation::Exited {
            idx,
            reason,
            code: status.code(),
        }));
        if oom {
            let limit = p
                .spec
                .limits
                .memory
                .map(format_size)
                .unwrap_or_else(|| "memory".into());
            tracing::error!("{name} was killed by the kernel OOM killer at its {limit} limit");
        }

        // Requests from the control socket come first.
        match cause {
            Some(StopCause::Restart) if !shutting_down => {
                tracing::info!(
                    "{name} {}; starting it again",
                    stopped_how(status, stop_took, uptime)
                );
                p.restarts += 1;
                p.state = State::Starting;
                out.push(Action::Record(Observation::Restarted { idx }));
                out.push(launch(idx, p));
                return;
            }
            Some(StopCause::Manual) => {
                tracing::info!(
                    "{name} {} on request",
                    stopped_how(status, stop_took, uptime)
                );
                p.state = State::Stopped;
                if let Some(id) = p.pending_reply.take() {
                    out.push(Action::Reply {
                        id,
                        result: Ok(format!("{name} stopped ({status})")),
                    });
                }
                return;
            }
            _ => {}
        }
        if let Some(id) = p.pending_reply.take() {
            out.push(Action::Reply {
                id,
                result: Err(format!(
                    "{name} ended ({status}) before the request completed"
                )),
            });
        }

        if p.kind == Kind::Job {
            let result = match (cause, status.success()) {
                (Some(StopCause::Timeout), _) => "timeout",
                (_, true) => "success",
                (_, false) => "failure",
            };
            out.push(Action::Record(Observation::JobRun { idx, result }));
            match result {
                "success" => {
                    tracing::info!("job {name} finished ({status}) in {}", fmt_duration(uptime))
                }
                "timeout" => tracing::error!("job {name} timed out and was stopped ({status})"),
                _ => tracing::error!(
                    "job {name} failed ({status}) after {}",
                    fmt_duration(uptime)
                ),
            }
            p.state = if shutting_down {
                State::Exited { status }
            } else {
                State::Scheduled
            };
            return;
        }
        if let (Some(StopCause::Shutdown), _) | (_, true) = (cause, shutting_down) {
            tracing::info!("{name} {}", stopped_how(status, stop_took, uptime));
            p.state = State::Exited { status };
            return;
        }
        if p.kind == Kind::Oneshot {
            let ok = status.success() && cause != Some(StopCause::Timeout);
            if ok {
                tracing::info!("{name} finished ({status}) in {}", fmt_duration(uptime));
                p.state = State::Exited { status };
                out.push(Action::Record(Observation::OneshotFinished {
                    idx,
                    took: uptime,
                }));
            } else if boot_done {
                // Run again by hand after boot: a failure is reported, not fatal.
                tracing::error!("{name} failed ({status})");
                p.state = State::Failed { status };
            } else {
                let what = if cause == Some(StopCause::Timeout) {
                    "timed out and was stopped"
                } else {
                    "failed"
                };
                tracing::error!("{name} {what} ({status}): boot aborted");
                p.state = State::Failed { status };
                let code = p.failure_code();
                self.begin_shutdown(Cause::Failed(code), now);
            }
            return;
        }

        // A service.
        let wants_restart = match p.spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => reason.is_failure(status),
            RestartPolicy::Never => false,
        };
        if !wants_restart {
            p.state = State::Exited { status };
            if p.spec.critical {
                tracing::warn!(
                    "{name} exited ({status}) and is not restarted; it is critical: shutting down"
                );
                // Stopped for its health or memory, it failed even if it then
                // exited 0: the container must not end as a success.
                let code = match reason.is_failure(status) {
                    true => p.failure_code(),
                    false => status.code(),
                };
                self.begin_shutdown(Cause::Failed(code), now);
            } else {
                tracing::warn!("{name} exited ({status}) and is not restarted");
            }
            return;
        }
        match p.backoff.on_exit(&p.spec, uptime, now) {
            super::backoff::Decision::RestartAfter(delay) => {
                p.restarts += 1;
                p.state = State::Backoff { until: now + delay };
                out.push(Action::Record(Observation::Restarted { idx }));
                tracing::warn!(
                    "{name} exited ({status}, reason {}) after {}; restarting in {} (restart {})",
                    reason.as_str(),
                    fmt_duration(uptime),
                    fmt_duration(delay),
                    p.restarts
                );
            }
            super::backoff::Decision::GiveUp => {
                p.state = State::Failed { status };
                let (max, window) = (p.spec.max_restarts, fmt_duration(p.spec.restart_window));
                if p.spec.critical {
                    let code = p.failure_code();
                    tracing::error!("{name} failed: it exited ({status}) after {max} restarts within {window}; it is critical: shutting down (exit code {code})");
                    self.begin_shutdown(Cause::Failed(code), now);
                } else {
                    tracing::error!("{name} failed: it exited ({status}) after {max} restarts within {window}; left stopped (critical = false)");
                }
            }
        }
    }

    fn on_probe(
        &mut self,
        idx: usize,
        run: u64,
        outcome: Outcome,
        took: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let p = &mut self.procs[idx];
        let (State::Running { since, .. }, true) = (p.state.clone(), p.run == run) else {
            return;
        };
        let Some(h) = p.spec.health.clone() else {
            return;
        };
        p.health.probing = false;
        let result = match outcome {
            Outcome::Healthy => "ok",
            Outcome::Unhealthy(_) => "fail",
            Outcome::TimedOut => "timeout",
        };
        out.push(Action::Record(Observation::Health { idx, result, took }));
        let started = p.health.probe_started.unwrap_or(now);
        let ready = p.health.ready || outcome == Outcome::Healthy;
        let quick = p.health.readiness_probes;
        p.health.next_probe = Some(super::cadence::next_probe(&h, ready, quick, started, now));
        let counts = super::cadence::failure_counts(&h, &p.health, since, now);
        if !p.health.ready {
            p.health.readiness_probes += 1;
        }
        match outcome {
            Outcome::Healthy => {
                p.health.failures = 0;
                p.health.healthy = Some(true);
                p.health.status = None;
                if !p.health.ready {
                    p.health.ready = true;
                    tracing::info!("{} is ready (health check passed)", p.spec.name);
                }
            }
            Outcome::Unhealthy(_) | Outcome::TimedOut => {
                let why = match &outcome {
                    Outcome::Unhealthy(why) => why.clone(),
                    _ => format!("no answer within {}", fmt_duration(h.timeout)),
                };
                p.health.status = Some(why.clone());
                if !counts {
                    tracing::debug!("{}: not ready yet ({why})", p.spec.name);
                    return;
                }
                if !p.health.ready {
                    p.health.last_counted = Some(now);
                }
                p.health.failures += 1;
                if p.health.failures < h.retries {
                    tracing::warn!(
                        "{}: health check failed ({why}), {} of {}",
                        p.spec.name,
                        p.health.failures,
                        h.retries
                    );
                    return;
                }
                p.health.healthy = Some(false);
                tracing::warn!(
                    "{} is unhealthy: {} consecutive failed checks (last: {why}); restarting it",
                    p.spec.name,
                    p.health.failures
                );
                self.stop(idx, StopCause::Health, now, out);
            }
        }
    }

    fn on_notice(&mut self, idx: usize, run: u64, notice: Notice, now: Instant) {
        let watchdog = self.procs[idx].watchdog();
        let p = &mut self.procs[idx];
        if p.run != run || !matches!(p.state, State::Running { .. } | State::Stopping { .. }) {
            return;
        }
        match notice {
            Notice::Ready => {
                if !p.health.ready {
                    tracing::info!("{} is ready (READY=1)", p.spec.name);
                }
                p.health.ready = true;
                p.health.healthy = Some(true);
                p.health.watchdog_deadline = watchdog.map(|w| now + w);
            }
            Notice::Watchdog => {
                p.health.healthy = Some(true);
                p.health.watchdog_deadline = watchdog.map(|w| now + w);
            }
            Notice::Status(s) => p.health.status = Some(s),
            Notice::Stopping => p.health.status = Some("stopping (STOPPING=1)".into()),
        }
    }

    fn on_control(
        &mut self,
        id: u64,
        command: Command,
        name: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(idx) = self.procs.iter().position(|p| p.name() == name) else {
            let names: Vec<&str> = self.procs.iter().map(|p| p.name()).collect();
            out.push(Action::Reply {
                id,
                result: Err(format!(
                    "no process named {name:?}; processes: {}",
                    names.join(", ")
                )),
            });
            return;
        };
        if self.phase != Phase::Running {
            out.push(Action::Reply {
                id,
                result: Err("oxinit is shutting down".into()),
            });
            return;
        }
        let deps_met = self.deps_met(idx);
        let p = &mut self.procs[idx];
        if p.pending_reply.is_some() {
            out.push(Action::Reply {
                id,
                result: Err(format!("{name} is busy with another request")),
            });
            return;
        }
        match (command, p.state.clone()) {
            (Command::Stop, State::Running { .. }) => {
                p.held = true;
                p.pending_reply = Some(id);
                self.stop(idx, StopCause::Manual, now, out);
            }
            (Command::Stop, State::Stopping { .. }) => {
                p.held = true;
                p.pending_reply = Some(id);
                if let State::Stopping { ref mut cause, .. } = p.state {
                    *cause = StopCause::Manual;
                }
            }
            (Command::Stop, _) => {
                p.held = true;
                p.state = State::Stopped;
                out.push(Action::Reply {
                    id,
                    result: Ok(format!("{name} is stopped")),
                });
            }
            (Command::Restart, State::Running { .. }) => {
                p.held = false;
                p.pending_reply = Some(id);
                self.stop(idx, StopCause::Restart, now, out);
            }
            (Command::Start, State::Running { pid, .. }) => {
                if p.kind == Kind::Job {
                    out.push(Action::Reply {
                        id,
                        result: Err(format!("job {name} is running (pid {pid})")),
                    });
                } else {
                    out.push(Action::Reply {
                        id,
                        result: Err(format!("{name} is already running (pid {pid})")),
                    });
                }
            }
            (_, State::Stopping { .. } | State::Starting) => {
                out.push(Action::Reply {
                    id,
                    result: Err(format!("{name} is {}; try again", p.state.word())),
                });
            }
            (_, _) if !deps_met => {
                out.push(Action::Reply {
                    id,
                    result: Err(format!("{name} waits for its dependencies")),
                });
            }
            (_, _) => {
                // Start (or restart something not running): now, with a fresh
                // crash-loop history.
                p.held = false;
                p.backoff = Default::default();
                p.pending_reply = Some(id);
                if p.state != State::Waiting {
                    p.restarts += 1;
                    out.push(Action::Record(Observation::Restarted { idx }));
                }
                p.state = State::Starting;
                out.push(launch(idx, p));
            }
        }
    }

    fn on_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        let running = self.phase == Phase::Running;
        for idx in 0..self.procs.len() {
            let next_cron = self.next_cron(idx, now);
            let p = &mut self.procs[idx];
            // Jobs: a run is due.
            if let (Some(t), true, false) = (p.next_run, running, p.held) {
                if t <= now {
                    p.next_run = next_cron;
                    if p.state.pid().is_some() || p.state == State::Starting {
                        tracing::warn!("job {} is still running: skipping this run", p.spec.name);
                        out.push(Action::Record(Observation::JobRun {
                            idx,
                            result: "skipped",
                        }));
                    } else {
                        p.state = State::Starting;
                        out.push(launch(idx, p));
                    }
                }
            }
            let p = &mut self.procs[idx];
            match p.state {
                State::Backoff { until } if running && until <= now => {
                    p.state = State::Starting;
                    out.push(launch(idx, p));
                }
                State::Stopping {
                    ref mut killed,
                    kill_at,
                    ..
                } if !*killed && kill_at <= now => {
                    *killed = true;
                    if !running {
                        self.killed_any = true;
                    }
                    tracing::warn!(
                        "{} did not stop within {}: SIGKILL",
                        p.spec.name,
                        fmt_duration(p.spec.stop_timeout)
                    );
                    out.push(Action::Signal {
                        idx,
                        sig: libc::SIGKILL,
                    });
                }
                State::Running { since, .. } => {
                    if let (true, Some(t)) = (p.kind != Kind::Service, p.spec.timeout) {
                        if since + t <= now {
                            tracing::error!(
                                "{} is still running after its timeout of {}: stopping it",
                                p.spec.name,
                                fmt_duration(t)
                            );
                            self.stop(idx, StopCause::Timeout, now, out);
                            continue;
                        }
                    }
                    if let Some(t) = p.health.watchdog_deadline {
                        if t <= now {
                            let w = p.watchdog().map(fmt_duration).unwrap_or_default();
                            tracing::warn!(
                                "{} is unhealthy: no WATCHDOG=1 for {w}; restarting it",
                                p.spec.name
                            );
                            p.health.healthy = Some(false);
                            p.health.status = Some(format!("watchdog: no WATCHDOG=1 for {w}"));
                            self.stop(idx, StopCause::Health, now, out);
                            continue;
                        }
                    }
                    if let (Some(t), false) = (p.health.next_probe, p.health.probing) {
                        if t <= now {
                            p.health.probing = true;
                            p.health.probe_started = Some(now);
                            out.push(Action::Probe { idx, run: p.run });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Phase::ShuttingDown { deadline, .. } = self.phase {
            if !self.hurried && deadline <= now {
                tracing::warn!(
                    "shutdown_timeout of {} reached: killing every process",
                    fmt_duration(self.init.shutdown_timeout)
                );
                self.kill_everything(now, out);
            }
        }
    }

    /// The next cron time of job `idx` after `now`, on the monotonic clock.
    fn next_cron(&self, idx: usize, now: Instant) -> Option<Instant> {
        let schedule = self.procs[idx].spec.schedule.as_ref()?;
        let wall_now = self.wall(now);
        let next = schedule.next_after(wall_now)?;
        Some(now + next.duration_since(wall_now).unwrap_or_default())
    }

    /// Starts whatever is ready; moves the shutdown along, level by level.
    fn advance(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Running => {
                for level in 0..self.start_levels.len() {
                    for i in 0..self.start_levels[level].len() {
                        let idx = self.start_levels[level][i];
                        if self.procs[idx].state != State::Waiting || !self.deps_met(idx) {
                            continue;
                        }
                        if self.procs[idx].kind == Kind::Job {
                            let next = self.next_cron(idx, now);
                            let p = &mut self.procs[idx];
                            p.state = State::Scheduled;
                            p.next_run = next;
                            match next {
                                Some(t) => tracing::info!(
                                    "job {} scheduled ({}), first run in {}",
                                    p.spec.name,
                                    p.spec.schedule.as_ref().map(|s| s.as_str()).unwrap_or(""),
                                    fmt_duration(t - now)
                                ),
                                None => tracing::warn!(
                                    "job {} has no future run time: it will never run",
                                    p.spec.name
                                ),
                            }
                        } else {
                            self.procs[idx].state = State::Starting;
                            out.push(launch(idx, &self.procs[idx]));
                        }
                    }
                }
                if !self.boot_done && self.all_up() {
                    self.boot_done = true;
                    tracing::info!("boot finished: every service is ready");
                }
            }
            Phase::ShuttingDown {
                cause,
                mut level,
                deadline,
            } => {
                let stop_levels: Vec<Vec<usize>> =
                    self.start_levels.iter().rev().cloned().collect();
                while level < stop_levels.len() {
                    for &idx in &stop_levels[level] {
                        if matches!(self.procs[idx].state, State::Running { .. }) {
                            self.stop(idx, StopCause::Shutdown, now, out);
                        }
                    }
                    if stop_levels[level]
                        .iter()
                        .any(|&i| self.procs[i].state.pid().is_some())
                    {
                        break;
                    }
                    level += 1;
                }
                if level < stop_levels.len() {
                    self.phase = Phase::ShuttingDown {
                        cause,
                        level,
                        deadline,
                    };
                } else {
                    self.phase = Phase::Finished;
                    let code = match cause {
                        Cause::Failed(code) => code,
                        Cause::Requested if self.killed_any => crate::exit::KILLED,
                        Cause::Requested => 0,
                    };
                    for p in &mut self.procs {
                        if let Some(id) = p.pending_reply.take() {
                            out.push(Action::Reply {
                                id,
                                result: Err("oxinit shut down".into()),
                            });
                        }
                    }
                    out.push(Action::Finish { code });
                }
            }
            Phase::Finished => {}
        }
    }

    /// Every oneshot succeeded (or was skipped) and every service is ready.
    fn all_up(&self) -> bool {
        self.procs.iter().all(|p| match p.kind {
            Kind::Oneshot => p.done(),
            Kind::Service => p.ready(),
            Kind::Job => true,
        })
    }

    /// A dependency is met when a oneshot succeeded or was skipped, or a
    /// service is ready.
    fn deps_met(&self, idx: usize) -> bool {
        self.deps[idx].iter().all(|&d| {
            let dep = &self.procs[d];
            match dep.kind {
                Kind::Oneshot => dep.done(),
                _ => dep.ready(),
            }
        })
    }

    /// Sends the stop signal exactly once, then SIGCONT to what of the group is
    /// stopped, so it can act on it; SIGKILL follows at `stop_timeout`.
    fn stop(&mut self, idx: usize, cause: StopCause, now: Instant, out: &mut Vec<Action>) {
        let p = &mut self.procs[idx];
        let State::Running { pid, since } = p.state else {
            return;
        };
        tracing::info!(
            "stopping {} with {} (stop_timeout {})",
            p.spec.name,
            p.spec.stop_signal.as_str(),
            fmt_duration(p.spec.stop_timeout)
        );
        p.state = State::Stopping {
            pid,
            since,
            asked: now,
            kill_at: now + p.spec.stop_timeout,
            killed: false,
            cause,
        };
        p.health.next_probe = None;
        p.health.watchdog_deadline = None;
        out.push(Action::Signal {
            idx,
            sig: p.spec.stop_signal as i32,
        });
        out.push(Action::Continue { idx });
    }

    fn begin_shutdown(&mut self, cause: Cause, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        for p in &mut self.procs {
            p.next_run = None;
            if matches!(
                p.state,
                State::Waiting | State::Backoff { .. } | State::Scheduled
            ) {
                p.state = State::Cancelled;
            }
        }
        self.phase = Phase::ShuttingDown {
            cause,
            level: 0,
            deadline: now + self.init.shutdown_timeout,
        };
    }

    /// Second TERM/INT, or shutdown_timeout: SIGKILL every process group now.
    fn kill_everything(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.hurried = true;
        self.killed_any = true;
        for (idx, p) in self.procs.iter_mut().enumerate() {
            match p.state {
                State::Running { pid, since } => {
                    p.state = State::Stopping {
                        pid,
                        since,
                        asked: now,
                        kill_at: since,
                        killed: true,
                        cause: StopCause::Shutdown,
                    };
                }
                State::Stopping { ref mut killed, .. } => *killed = true,
                _ => continue,
            }
            out.push(Action::Signal {
                idx,
                sig: libc::SIGKILL,
            });
        }
    }
}

/// "stopped (exit 0) in 120ms, after running 9.9s": how long the stop took
/// and how long the process had run, told apart ("stopped after 9.9s" read
/// as a slow stop).
fn stopped_how(status: ExitStatus, stop_took: Option<Duration>, uptime: Duration) -> String {
    match stop_took {
        Some(took) => format!(
            "stopped ({status}) in {}, after running {}",
            fmt_duration(took),
            fmt_duration(uptime)
        ),
        None => format!("ended ({status}) after running {}", fmt_duration(uptime)),
    }
}
