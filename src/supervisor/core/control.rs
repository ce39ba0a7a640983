//! `oxinit restart|stop|start|reload NAME`: each request is answered once, by an
//! [`Action::Reply`], when what it asked for is done or refused.

use super::condition::launch;
use super::{Action, Command, Observation, Phase, Supervisor};
use crate::config::Kind;
use crate::snapshot::ReloadResult;
use crate::supervisor::process::Stage;
use crate::supervisor::process::{State, StopCause};
use crate::supervisor::transitions::Why;
use tokio::time::Instant;

impl Supervisor {
    pub(super) fn on_control(
        &mut self,
        id: u64,
        command: Command,
        name: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(idx) = self.find(name) else {
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
        if let Some(stage) = self.procs[idx].reload.as_ref().map(|r| r.stage.clone()) {
            if command != Command::Stop {
                out.push(Action::Reply {
                    id,
                    result: Err(format!(
                        "{name} is being reloaded; try again when the reload is done"
                    )),
                });
                return;
            }
            if stage == Stage::Starting {
                let why = format!(
                    "the reload of {name} was given up: `oxinit stop {name}` came before its new instance was ready"
                );
                self.abandon_reload(idx, ReloadResult::Aborted, why, now, out);
            }
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
        if command == Command::Reload {
            return self.request_reload(idx, id, now, out);
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
                p.transition(State::Stopped, Why::StopRequested);
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
                if let Some(run) = p.begin_run(Why::StartRequested) {
                    out.push(launch(idx, run, p));
                }
            }
        }
    }
}
