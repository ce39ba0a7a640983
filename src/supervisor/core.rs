//! The supervisor's logic as a pure function: `handle(event, now) → actions`.
//!
//! It owns the state of every process and decides what happens next; it never
//! touches a process itself. The event loop (`event_loop.rs`) turns signals,
//! reaped children and deadlines into [`Event`]s and carries out the returned
//! [`Action`]s. Every deadline lives in the state (backoff end, stop timeout,
//! oneshot timeout, shutdown cap), so the loop only asks [`Supervisor::next_deadline`]
//! and there are no timers to cancel. Unit tests drive it with paused time.

use super::process::{Process, State, StopCause};
use crate::config::{Config, InitSettings, RestartPolicy};
use crate::sys::reap::ExitStatus;
use crate::sys::signals;
use std::time::Duration;
use tokio::time::Instant;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The event loop started process `idx` as `pid`.
    Started { idx: usize, pid: i32 },
    /// Process `idx` could not be started; `code` is 126/127.
    SpawnFailed { idx: usize, code: i32 },
    /// The reaper collected `pid`.
    Exited { pid: i32, status: ExitStatus },
    /// oxinit received a signal (other than SIGCHLD).
    Signal(i32),
    /// Time passed: act on every deadline that is due.
    Tick,
}

/// What the event loop must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Spawn(usize),
    /// Signal process `idx`'s whole process group.
    Signal {
        idx: usize,
        sig: i32,
    },
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
    /// Something got SIGKILL (stop timeout, shutdown cap, second signal).
    killed_any: bool,
    /// Every process was SIGKILLed at once: the sweep gets no grace either.
    hurried: bool,
}

impl Supervisor {
    pub fn new(config: &Config) -> Supervisor {
        let index = |name: &str| {
            config
                .processes
                .iter()
                .position(|p| p.name == name)
                .expect("plan names a known process")
        };
        let plan = crate::config::plan::plan(config);
        let start_levels = plan
            .start_levels
            .iter()
            .map(|lvl| lvl.iter().map(|n| index(n)).collect())
            .collect();
        let deps = config
            .processes
            .iter()
            .map(|p| p.depends_on.iter().map(|d| index(d)).collect())
            .collect();
        Supervisor {
            procs: config.processes.iter().cloned().map(Process::new).collect(),
            start_levels,
            deps,
            init: config.init.clone(),
            phase: Phase::Running,
            killed_any: false,
            hurried: false,
        }
    }

    pub fn processes(&self) -> &[Process] {
        &self.procs
    }

    /// The pid of process `idx`, while it may be signalled.
    pub fn pid(&self, idx: usize) -> Option<i32> {
        self.procs[idx].state.pid()
    }

    /// True when `pid` is one of ours (not an adopted orphan).
    pub fn owns(&self, pid: i32) -> bool {
        self.procs.iter().any(|p| p.state.pid() == Some(pid))
    }

    /// True once everything was SIGKILLed at once (second signal, shutdown cap).
    pub fn hurried(&self) -> bool {
        self.hurried
    }

    /// True when boot has finished: every oneshot succeeded and every service runs.
    pub fn booted(&self) -> bool {
        self.phase == Phase::Running
            && self.procs.iter().all(|p| match p.state {
                State::Exited { status } => !p.spec.oneshot || status.success(),
                State::Running { .. } => !p.spec.oneshot,
                _ => false,
            })
    }

    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for p in &self.procs {
            match p.state {
                State::Backoff { until } if self.phase == Phase::Running => consider(until),
                State::Stopping {
                    kill_at,
                    killed: false,
                    ..
                } => consider(kill_at),
                State::Running { since, .. } => {
                    if let (true, Some(t)) = (p.spec.oneshot, p.spec.timeout) {
                        consider(since + t);
                    }
                }
                _ => {}
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
            Event::Started { idx, pid } => {
                tracing::info!("started {} (pid {pid})", self.procs[idx].name());
                self.procs[idx].state = State::Running { pid, since: now };
            }
            Event::SpawnFailed { idx, code } => self.ended(idx, ExitStatus::Code(code), now),
            Event::Exited { pid, status } => {
                if let Some(idx) = self.procs.iter().position(|p| p.state.pid() == Some(pid)) {
                    self.ended(idx, status, now);
                }
            }
            Event::Signal(sig) => self.on_signal(sig, now, &mut out),
            Event::Tick => {}
        }
        self.on_deadlines(now, &mut out);
        self.advance(now, &mut out);
        out
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
                self.kill_everything(out);
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
    fn ended(&mut self, idx: usize, status: ExitStatus, now: Instant) {
        let shutting_down = !matches!(self.phase, Phase::Running);
        let p = &mut self.procs[idx];
        p.last_exit = Some(status);
        let name = p.spec.name.clone();
        let uptime = match p.state {
            State::Running { since, .. } | State::Stopping { since, .. } => {
                now.duration_since(since)
            }
            _ => Duration::ZERO,
        };
        match p.state {
            State::Stopping {
                cause: StopCause::Timeout,
                ..
            } => {
                p.state = State::Failed { status };
                tracing::error!("{name} timed out and was stopped ({status}): boot aborted");
                self.begin_shutdown(Cause::Failed(status.code()), now);
            }
            State::Stopping { .. } => {
                tracing::info!("{name} stopped ({status}) after {}", fmt_duration(uptime));
                p.state = State::Exited { status };
            }
            _ if shutting_down => {
                tracing::info!("{name} exited ({status}) during shutdown");
                p.state = State::Exited { status };
            }
            _ if p.spec.oneshot => {
                if status.success() {
                    tracing::info!("{name} finished ({status}) in {}", fmt_duration(uptime));
                    p.state = State::Exited { status };
                } else {
                    p.state = State::Failed { status };
                    tracing::error!("{name} failed ({status}): boot aborted");
                    self.begin_shutdown(Cause::Failed(status.code()), now);
                }
            }
            _ => {
                let wants_restart = match p.spec.restart {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => !status.success(),
                    RestartPolicy::Never => false,
                };
                if !wants_restart {
                    p.state = State::Exited { status };
                    if p.spec.critical {
                        tracing::warn!("{name} exited ({status}) and is not restarted; it is critical: shutting down");
                        self.begin_shutdown(Cause::Failed(status.code()), now);
                    } else {
                        tracing::warn!("{name} exited ({status}) and is not restarted");
                    }
                    return;
                }
                match p.backoff.on_exit(&p.spec, uptime, now) {
                    super::backoff::Decision::RestartAfter(delay) => {
                        p.restarts += 1;
                        p.state = State::Backoff { until: now + delay };
                        tracing::warn!(
                            "{name} exited ({status}) after {}; restarting in {} (restart {})",
                            fmt_duration(uptime),
                            fmt_duration(delay),
                            p.restarts
                        );
                    }
                    super::backoff::Decision::GiveUp => {
                        p.state = State::Failed { status };
                        let (max, window) = (p.spec.max_restarts, p.spec.restart_window);
                        if p.spec.critical {
                            tracing::error!(
                                "{name} failed: it exited ({status}) after {max} restarts within {}; it is critical: shutting down",
                                fmt_duration(window)
                            );
                            self.begin_shutdown(Cause::Failed(status.code()), now);
                        } else {
                            tracing::error!(
                                "{name} failed: it exited ({status}) after {max} restarts within {}; left stopped (critical = false)",
                                fmt_duration(window)
                            );
                        }
                    }
                }
            }
        }
    }

    fn on_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        let running = self.phase == Phase::Running;
        for idx in 0..self.procs.len() {
            let p = &mut self.procs[idx];
            match p.state {
                State::Backoff { until } if running && until <= now => {
                    p.state = State::Starting;
                    out.push(Action::Spawn(idx));
                }
                State::Stopping {
                    ref mut killed,
                    kill_at,
                    ..
                } if !*killed && kill_at <= now => {
                    *killed = true;
                    self.killed_any = true;
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
                    if let (true, Some(t)) = (p.spec.oneshot, p.spec.timeout) {
                        if since + t <= now {
                            tracing::error!(
                                "{} is still running after its timeout of {}: stopping it",
                                p.spec.name,
                                fmt_duration(t)
                            );
                            self.stop(idx, StopCause::Timeout, now, out);
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
                self.kill_everything(out);
            }
        }
    }

    /// Starts whatever is ready; moves the shutdown along, level by level.
    fn advance(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Running => {
                for level in 0..self.start_levels.len() {
                    for i in 0..self.start_levels[level].len() {
                        let idx = self.start_levels[level][i];
                        if self.procs[idx].state == State::Waiting && self.deps_met(idx) {
                            self.procs[idx].state = State::Starting;
                            out.push(Action::Spawn(idx));
                        }
                    }
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
                    out.push(Action::Finish { code });
                }
            }
            Phase::Finished => {}
        }
    }

    /// A dependency is met when a oneshot succeeded, or a service runs.
    fn deps_met(&self, idx: usize) -> bool {
        self.deps[idx].iter().all(|&d| {
            let dep = &self.procs[d];
            match dep.state {
                State::Exited { status } if dep.spec.oneshot => status.success(),
                State::Running { .. } => !dep.spec.oneshot,
                _ => false,
            }
        })
    }

    /// Sends the stop signal exactly once, then SIGCONT so a stopped process
    /// can act on it; SIGKILL follows at `stop_timeout`.
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
            kill_at: now + p.spec.stop_timeout,
            killed: false,
            cause,
        };
        out.push(Action::Signal {
            idx,
            sig: p.spec.stop_signal as i32,
        });
        out.push(Action::Signal {
            idx,
            sig: libc::SIGCONT,
        });
    }

    fn begin_shutdown(&mut self, cause: Cause, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        for p in &mut self.procs {
            if matches!(p.state, State::Waiting | State::Backoff { .. }) {
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
    fn kill_everything(&mut self, out: &mut Vec<Action>) {
        self.hurried = true;
        for (idx, p) in self.procs.iter_mut().enumerate() {
            let pid = match p.state {
                State::Running { pid, since } => {
                    p.state = State::Stopping {
                        pid,
                        since,
                        kill_at: since,
                        killed: true,
                        cause: StopCause::Shutdown,
                    };
                    pid
                }
                State::Stopping {
                    pid,
                    ref mut killed,
                    ..
                } => {
                    *killed = true;
                    pid
                }
                _ => continue,
            };
            tracing::debug!("SIGKILL to {} (pid {pid})", p.spec.name);
            out.push(Action::Signal {
                idx,
                sig: libc::SIGKILL,
            });
        }
        self.killed_any = true;
    }
}

/// "250ms", "1.5s", "2m30s" — for log lines.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if ms % 1000 == 0 {
            format!("{}s", ms / 1000)
        } else {
            format!("{s:.1}s")
        }
    } else {
        let s = d.as_secs();
        if s % 60 == 0 {
            format!("{}m", s / 60)
        } else {
            format!("{}m{}s", s / 60, s % 60)
        }
    }
}
