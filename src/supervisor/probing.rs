//! Running health probes for the event loop.
//!
//! HTTP and TCP probes are tasks that answer over the loop's internal channel;
//! a hung endpoint costs one timeout and never blocks the loop or another
//! probe. Exec probes are children like any other: spawned here, reaped by the
//! one reaper (the loop hands their exits to [`Probes::reaped`]), and SIGKILLed
//! when they outlive the timeout. Notify sockets feed sd_notify messages in.
//! Mount probes and `when` conditions stat paths that may hang: they run on
//! threads of their own (see `health::blocking`).

use super::core::{Event, Notice, Outcome};
use super::internal::Internal;
use crate::config::{HealthCheck, ProcessSpec};
use crate::health::{blocking, mount, notify, probe};
use crate::supervisor::ids::{ProcId, RunId};
use crate::sys::{reap::ExitStatus, spawn};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug)]
struct ExecProbe {
    idx: ProcId,
    run: RunId,
    started: Instant,
    timed_out: bool,
}

/// The exec probes that are running, by pid.
#[derive(Debug, Default)]
pub struct Probes {
    running: HashMap<i32, ExecProbe>,
}

/// What one probe is for: run `run` of process `idx`, running as
/// `instance` (an exec check gets it in `OXINIT_INSTANCE_PID`). `attribute`:
/// a reload runs, so an HTTP or TCP answer counts only if that instance
/// accepted the connection.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub idx: ProcId,
    pub run: RunId,
    pub instance: Option<i32>,
    pub attribute: bool,
}

impl Probes {
    /// Starts the probe of `target`; an exec probe is started by `spawn`
    /// (the loop's host). Returns an answer at once when the probe could
    /// not even start.
    pub fn start(
        &mut self,
        target: Target,
        spec: &ProcessSpec,
        cwd: &Path,
        tx: &UnboundedSender<Internal>,
        spawn: impl FnOnce(&spawn::SpawnSpec) -> Result<spawn::Spawned, spawn::SpawnError>,
    ) -> Option<Event> {
        let health = spec.health.as_ref()?;
        let limit = health.timeout;
        let Target {
            idx,
            run,
            instance,
            attribute,
        } = target;
        let attributed = instance.filter(|_| attribute);
        let answer = move |outcome: Outcome, took: Duration| Event::Probe {
            idx,
            run,
            outcome,
            took,
        };
        match &health.check {
            HealthCheck::Http {
                addr, host, path, ..
            } => {
                let (addr, host, path, tx) = (*addr, host.clone(), path.clone(), tx.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let outcome =
                        convert(probe::http_for(addr, &host, &path, limit, at(attributed)).await);
                    let _ = tx.send(Internal::Event(answer(outcome, t0.elapsed())));
                });
                None
            }
            HealthCheck::Tcp { addr } => {
                let (addr, tx) = (*addr, tx.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let outcome = convert(probe::tcp_for(addr, limit, at(attributed)).await);
                    let _ = tx.send(Internal::Event(answer(outcome, t0.elapsed())));
                });
                None
            }
            HealthCheck::Mount { path } => {
                let (path, tx) = (path.clone(), tx.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let outcome = convert(mount::probe(path, limit).await);
                    let _ = tx.send(Internal::Event(answer(outcome, t0.elapsed())));
                });
                None
            }
            HealthCheck::Exec { argv } => {
                let mut env = crate::launch::child_env(spec);
                if let Some(pid) = instance {
                    env.push(("OXINIT_INSTANCE_PID".into(), pid.to_string()));
                }
                let creds = crate::launch::credentials(spec);
                let request = spawn::SpawnSpec {
                    argv,
                    env: &env,
                    cwd,
                    user: creds.as_ref(),
                    inherit_stdin: false,
                    output: spawn::Output::Null,
                    tty: crate::sys::pid1::TtyHandover::None,
                    cgroup_procs: &[],
                    listen: spawn::Listen::Pass {
                        fds: &[],
                        names: &[],
                    },
                };
                match spawn(&request) {
                    Ok(child) => {
                        self.running.insert(
                            child.pid,
                            ExecProbe {
                                idx,
                                run,
                                started: Instant::now(),
                                timed_out: false,
                            },
                        );
                        None
                    }
                    Err(e) => Some(answer(Outcome::Unhealthy(e.to_string()), Duration::ZERO)),
                }
            }
            HealthCheck::Notify { .. } => None,
        }
    }

    /// The reaper collected `pid`: the answer, if it was an exec probe.
    pub fn reaped(&mut self, pid: i32, status: ExitStatus) -> Option<Event> {
        let p = self.running.remove(&pid)?;
        let outcome = match (p.timed_out, status) {
            (true, _) => Outcome::TimedOut,
            (false, ExitStatus::Code(0)) => Outcome::Healthy,
            (false, status) => Outcome::Unhealthy(format!("check command: {status}")),
        };
        Some(Event::Probe {
            idx: p.idx,
            run: p.run,
            outcome,
            took: p.started.elapsed(),
        })
    }

    /// The exec probe of run `run` of process `idx` outlived its timeout
    /// (the core keeps that deadline): returns its pid, whose whole group
    /// the loop kills. Its answer comes when the reaper collects it.
    pub fn time_out(&mut self, idx: ProcId, run: RunId) -> Option<i32> {
        let (&pid, p) = self
            .running
            .iter_mut()
            .find(|(_, p)| (p.idx, p.run) == (idx, run) && !p.timed_out)?;
        p.timed_out = true;
        Some(pid)
    }
}

/// How long a `when` condition's stat may take. A path that has not
/// answered in this long is on a hung mount: the check fails (and a oneshot
/// with it) rather than guess.
pub const CONDITION_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks the `when` conditions of process `idx`, before its run `run`,
/// off the loop's thread; the answer comes as an [`Event::Checked`].
pub fn check_conditions(
    idx: ProcId,
    run: RunId,
    spec: &ProcessSpec,
    tx: &UnboundedSender<Internal>,
) {
    let (conditions, tx) = (spec.when.clone(), tx.clone());
    let paths: Vec<String> = conditions
        .iter()
        .map(|c| c.path().display().to_string())
        .collect();
    tokio::spawn(async move {
        let paths = paths.join(", ");
        let checked = blocking::run(&paths, CONDITION_TIMEOUT, move || {
            crate::health::condition::first_failing(&conditions)
        });
        let verdict = checked
            .await
            .unwrap_or_else(|e| Err(format!("stat of {paths}: {e}")));
        let _ = tx.send(Internal::Event(Event::Checked { idx, run, verdict }));
    });
}

fn convert(outcome: probe::Outcome) -> Outcome {
    match outcome {
        probe::Outcome::Healthy => Outcome::Healthy,
        probe::Outcome::Unhealthy(why) => Outcome::Unhealthy(why),
        probe::Outcome::TimedOut => Outcome::TimedOut,
        probe::Outcome::NotCounted(why) => Outcome::NotCounted(why),
    }
}

/// The instance a probe is for, as the probe looks it up in /proc.
fn at(instance: Option<i32>) -> Option<probe::ForInstance> {
    instance.map(|pid| probe::ForInstance {
        pid,
        proc_root: "/proc".into(),
    })
}

/// Environment variables added for a child.
pub type ChildEnv = Vec<(String, String)>;

/// Binds the NOTIFY_SOCKET of run `run` of process `idx` and starts the task
/// that forwards what it says. Returns the child's environment additions
/// (NOTIFY_SOCKET, WATCHDOG_USEC) and the task, which owns the socket.
pub fn notify_socket(
    dir: &Path,
    idx: ProcId,
    run: RunId,
    spec: &ProcessSpec,
    watchdog: Option<Duration>,
    tx: &UnboundedSender<Internal>,
) -> Result<(ChildEnv, JoinHandle<()>), notify::NotifyError> {
    let owner = spec.user.as_ref().map(|u| (u.uid, u.gid));
    let socket = notify::NotifySocket::bind(dir, &spec.name, owner)?;
    let env = socket.child_env(watchdog);
    let tx = tx.clone();
    let task = tokio::spawn(async move {
        loop {
            let notices = match socket.recv().await {
                Ok(notices) => notices,
                Err(e) => {
                    tracing::warn!("reading {}: {e}", socket.path().display());
                    return;
                }
            };
            for notice in notices {
                let notice = match notice {
                    notify::Notice::Ready => Notice::Ready,
                    notify::Notice::Stopping => Notice::Stopping,
                    notify::Notice::Status(s) => Notice::Status(s),
                    notify::Notice::Watchdog => Notice::Watchdog,
                    _ => continue,
                };
                if tx
                    .send(Internal::Event(Event::Notify { idx, run, notice }))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Ok((env, task))
}
