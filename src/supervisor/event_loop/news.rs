//! What `oxinit events` hears: the loop notes what the outside can see of
//! every process before the core handles an event, and after it tells the
//! differences as [`Event`]s (started, ready, unhealthy, exited,
//! restarting, failed, stopped, shutdown) through the observer.
//!
//! Told from the state, not from each place in the core that changes it:
//! every change goes through the transition table, and a picture before and
//! after one event sees each of them, so a new way to fail or restart
//! cannot forget to say so. Jobs' runs and OOM kills, which are not state
//! changes, come from the core's observations (`Runner::record`) and the
//! OOM counter.

use super::Runner;
use crate::snapshot::{Event, EventKind, JobResult, Phase, ReloadResult};
use crate::supervisor::core::Supervisor;
use crate::supervisor::host::Host;
use crate::supervisor::process::{LastExit, State};
use crate::supervisor::transitions::Step;
use crate::sys::reap::ExitStatus;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// One process as the events see it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seen {
    step: Step,
    pid: Option<i32>,
    since: Option<Instant>,
    ready: bool,
    healthy: Option<bool>,
    last_exit: Option<LastExit>,
    restarts: u32,
}

/// Every process, and the phase, before an event.
#[derive(Debug, Clone)]
pub(super) struct Before {
    processes: Vec<Seen>,
    phase: Phase,
}

pub(super) fn before(sup: &Supervisor) -> Before {
    let processes = sup
        .processes()
        .iter()
        .map(|p| Seen {
            step: p.state.step(),
            pid: p.state.pid(),
            since: match p.state {
                State::Running { since, .. } | State::Stopping { since, .. } => Some(since),
                _ => None,
            },
            ready: p.ready(),
            healthy: p.health.healthy,
            last_exit: p.last_exit,
            restarts: p.restarts,
        })
        .collect();
    Before {
        processes,
        phase: sup.phase(),
    }
}

impl<H: Host> Runner<H> {
    /// Tells the observer what changed since `before` (see this module).
    pub(super) fn tell_news(&self, before: &Before, now: Instant, signal: Option<&str>) {
        let stderr = |name: &str| match (&self.logs, self.sup.find(name)) {
            (Some(book), Some(idx)) => {
                let from = self.run_logs.get(&idx).copied().unwrap_or(0);
                book.last_stderr_since(name, from, crate::logs::SHOWN_LINES)
            }
            _ => Vec::new(),
        };
        for event in since(before, &self.sup, now, &stderr, signal) {
            self.observer.event(&event);
        }
    }
}

/// A job's run ended (or was skipped) at `at`.
pub(super) fn job(name: &str, result: JobResult, at: SystemTime) -> Event {
    let unix = at
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Event {
        result: Some(result),
        ..Event::new(EventKind::Job, Some(name), unix)
    }
}

/// `reloaded`: how `oxinit reload` of `name` ended.
pub(super) fn reloaded(name: &str, result: ReloadResult, at: SystemTime) -> Event {
    let unix = at
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Event {
        reload: Some(result),
        ..Event::new(EventKind::Reloaded, Some(name), unix)
    }
}

/// What changed since `before`, in the order it happened to each process.
/// `stderr(name)`: the last lines `name` wrote to stderr; `signal`: the
/// signal that asked for a shutdown, if this event was one.
pub(super) fn since(
    before: &Before,
    sup: &Supervisor,
    now: Instant,
    stderr: &dyn Fn(&str) -> Vec<String>,
    signal: Option<&str>,
) -> Vec<Event> {
    let at = unix_now();
    let mut out = Vec::new();
    let mut ended = Vec::new();
    for (p, was) in sup.processes().iter().zip(&before.processes) {
        let name = p.name();
        let event = |kind| Event::new(kind, Some(name), at);
        if p.health.healthy == Some(false) && was.healthy != Some(false) {
            out.push(Event {
                why: p.health.status.clone(),
                ..event(EventKind::Unhealthy)
            });
        }
        if let Some(exit) = p.last_exit.filter(|e| Some(*e) != was.last_exit) {
            let failed = exit.reason.is_failure(exit.status.success());
            out.push(Event {
                pid: was.pid,
                reason: Some(exit.reason),
                code: Some(exit.status.code()),
                signal: match exit.status {
                    ExitStatus::Signal(n) => Some(crate::sys::signals::name(n)),
                    ExitStatus::Code(_) => None,
                },
                uptime: was
                    .since
                    .map(|since| exit.at.saturating_duration_since(since).as_secs_f64()),
                stderr: if failed { stderr(name) } else { Vec::new() },
                ..event(EventKind::Exited)
            });
            ended.push(name);
        }
        let step = p.state.step();
        if p.restarts > was.restarts {
            let delay = match p.state {
                State::Backoff { until } => until.saturating_duration_since(now),
                _ => Default::default(),
            };
            out.push(Event {
                delay: Some(delay.as_secs_f64()),
                restart: Some(p.restarts),
                ..event(EventKind::Restarting)
            });
        }
        if step != was.step {
            match p.state {
                State::Failed { status } => out.push(Event {
                    code: Some(status.code()),
                    stderr: stderr(name),
                    ..event(EventKind::Failed)
                }),
                State::Stopped => out.push(event(EventKind::Stopped)),
                _ => {}
            }
        }
        if let Some(pid) = p.state.pid().filter(|pid| Some(*pid) != was.pid) {
            out.push(Event {
                pid: Some(pid),
                ..event(EventKind::Started)
            });
        }
        if p.ready() && !was.ready && p.kind == crate::config::Kind::Service {
            out.push(event(EventKind::Ready));
        }
    }
    let phase = sup.phase();
    if phase == Phase::Stopping && before.phase != Phase::Stopping {
        let why = match (signal, ended.as_slice()) {
            (Some(signal), _) => signal.to_string(),
            (None, []) => "oxinit gave up".to_string(),
            (None, names) => format!("{} ended", names.join(", ")),
        };
        out.push(Event {
            why: Some(why),
            ..Event::new(EventKind::Shutdown, None, at)
        });
    }
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
