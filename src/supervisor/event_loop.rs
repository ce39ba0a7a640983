//! The impure half of the supervisor: turns signals, reaped children and
//! deadlines into events for [`Supervisor::handle`], and carries out the
//! actions it returns (spawn, signal, finish).
//!
//! ```text
//!  signalfd ──▶ SIGCHLD ──▶ reap() ──▶ Event::Exited ─┐
//!           └─▶ other   ─────────────▶ Event::Signal ─┤
//!  sleep_until(next_deadline) ───────▶ Event::Tick ───┼─▶ Supervisor::handle ──▶ actions
//!  spawn result ─────────────▶ Started/SpawnFailed ───┘
//! ```
//! One task, one thread: spawning and reaping never overlap, and a pid is in
//! the supervisor's state from the moment `spawn` returns, before the reaper
//! can see it exit.

use super::core::{Action, Event, Supervisor};
use crate::config::{Config, LogFormat, ProcessSpec};
use crate::logs::{LogSink, Stream, Style};
use crate::sys::{kill, pid1, reap, signals::Signals, spawn};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};

/// How long, after the last process is gone, we wait for its final output.
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// Everything the loop owns besides the supervisor's state.
struct Runner {
    sup: Supervisor,
    signals: Signals,
    sink: Option<LogSink>,
    relays: Vec<JoinHandle<crate::logs::RelayStats>>,
    launch_dir: PathBuf,
    orphans_reaped: u64,
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
    let mut runner = Runner {
        sup: Supervisor::new(&config),
        signals,
        sink,
        relays: Vec::new(),
        launch_dir,
        orphans_reaped: 0,
    };
    let code = runner.run().await;
    let swept = crate::sweep::sweep(
        &mut runner.signals,
        &[],
        if runner.sup.hurried() {
            Duration::ZERO
        } else {
            config.init.orphan_grace
        },
    )
    .await;
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
                    match action {
                        Action::Spawn(idx) => pending.push_back(self.spawn(idx)),
                        Action::Signal { idx, sig } => {
                            if let Some(pid) = self.sup.pid(idx) {
                                kill::group(pid, sig);
                            }
                        }
                        Action::Finish { code } => return code,
                    }
                }
            }
            let deadline = self.sup.next_deadline();
            tokio::select! {
                batch = self.signals.recv() => match batch {
                    Ok(batch) => {
                        for sig in batch {
                            if sig == libc::SIGCHLD {
                                self.reap(&mut pending);
                            } else {
                                pending.push_back(Event::Signal(sig));
                            }
                        }
                    }
                    Err(e) => tracing::error!("reading signals failed: {e}"),
                },
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    pending.push_back(Event::Tick);
                }
            }
        }
    }

    fn reap(&mut self, pending: &mut VecDeque<Event>) {
        for (pid, status) in reap::reap().exited {
            if self.sup.owns(pid) {
                pending.push_back(Event::Exited { pid, status });
            } else {
                self.orphans_reaped += 1;
                tracing::debug!("reaped orphan {pid} ({status})");
            }
        }
    }

    /// Starts process `idx` and reports how it went.
    fn spawn(&mut self, idx: usize) -> Event {
        let spec = &self.sup.processes()[idx].spec;
        let env = child_env(spec);
        let creds = spec.user.as_ref().map(|u| spawn::Credentials {
            uid: u.uid,
            gid: u.gid,
            groups: u.groups.clone(),
        });
        let cwd: &Path = spec.cwd.as_deref().unwrap_or(&self.launch_dir);
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
            cgroup_procs: &[],
        };
        match spawn::spawn(&request) {
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
                Event::Started {
                    idx,
                    pid: child.pid,
                }
            }
            Err(e) => {
                tracing::error!("{}: {e} (counts as exit code {})", spec.name, e.exit_code);
                Event::SpawnFailed {
                    idx,
                    code: e.exit_code,
                }
            }
        }
    }

    /// Waits (bounded) for the relays to pass on the last lines.
    async fn finish_logs(&mut self) {
        let relays = std::mem::take(&mut self.relays);
        let all = async {
            for r in relays {
                let _ = r.await;
            }
        };
        if timeout(LOG_DRAIN, all).await.is_err() {
            tracing::warn!("some output pipes stayed open after every process stopped; their last lines may be missing");
        }
        if let Some(sink) = &self.sink {
            sink.flush().await;
        }
        tracing::debug!("reaped {} adopted orphans in total", self.orphans_reaped);
    }
}

/// The child's additions to oxinit's environment: HOME/USER/LOGNAME for a
/// `user` (as login and Docker do), then the oxfile's env.
fn child_env(spec: &ProcessSpec) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(user) = &spec.user {
        if let Some(home) = &user.home {
            env.push(("HOME".to_string(), home.display().to_string()));
        }
        if let Some(name) = &user.name {
            env.push(("USER".to_string(), name.clone()));
            env.push(("LOGNAME".to_string(), name.clone()));
        }
    }
    env.extend(spec.env.iter().cloned());
    env
}
