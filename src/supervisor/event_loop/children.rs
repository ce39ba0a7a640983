//! The loop's children: starting one (its cgroup, notify socket, output
//! relays), reaping, and releasing what a run held once it is gone; the
//! memory poll over the running ones.

use super::{Child, Runner};
use crate::cgroup::ProcessCgroup;
use crate::config::{HealthCheck, ProcessSpec};
use crate::launch::{child_env, credentials};
use crate::logs::Stream;
use crate::supervisor::core::Event;
use crate::supervisor::host::Host;
use crate::supervisor::ids::{ProcId, RunId};
use crate::sys::reap::ExitStatus;
use crate::sys::{pid1, spawn};
use std::collections::VecDeque;
use std::path::Path;

impl<H: Host> Runner<H> {
    /// Reaps every child that has exited; true when one of ours did.
    pub(super) fn reap(&mut self, pending: &mut VecDeque<Event>) -> bool {
        let mut orphans = 0;
        let mut ours = false;
        for (pid, status) in self.host.reap() {
            if let Some(child) = self.children.remove(&pid) {
                let oom = self.release(child.idx, child.run, status);
                pending.push_back(Event::Exited { pid, status, oom });
                ours = true;
            } else if let Some(event) = self.exec_probes.reaped(pid, status) {
                pending.push_back(event);
            } else {
                orphans += 1;
                tracing::debug!("reaped orphan {pid} ({status})");
            }
        }
        // Adopted orphans only: our own children are counted as exits.
        self.observer.zombies_reaped(orphans);
        ours
    }

    /// After process `idx` ended with `status`: reads its cgroup's OOM
    /// counter, clears out what it left in the cgroup and removes it; closes
    /// its notify socket; gives its held sockets oxinit's backlog again, or,
    /// in the shutdown, closes them.
    /// Returns true when it died of SIGKILL and the kernel
    /// OOM-killed something in its cgroup during this run: a worker killed
    /// earlier does not make a clean exit an OOM.
    fn release(&mut self, idx: ProcId, run: RunId, status: ExitStatus) -> bool {
        // During a reload the other instance accepts on the same sockets:
        // they stay as it has them, and close in the shutdown only once no
        // instance is left.
        let other_runs = self.children.values().any(|c| c.idx == idx);
        let stopping = self.sup.phase() == crate::snapshot::Phase::Stopping;
        match (other_runs, stopping) {
            (true, _) => {}
            (false, true) => self.sockets.close(idx.0),
            (false, false) => self.sockets.of(idx.0).restore_backlog(),
        }
        if let Some(task) = self.notify.remove(&(idx, run)) {
            task.abort();
        }
        // A reload's other instance keeps its own cgroup.
        if self.cgroup_runs.get(&idx) != Some(&run) {
            return false;
        }
        self.cgroup_runs.remove(&idx);
        let Some(mut cg) = self.cgroups.remove(&idx) else {
            return false;
        };
        let kills = self.oom.ended(idx, &cg, &*self.observer);
        let oom = kills > 0 && status == ExitStatus::Signal(libc::SIGKILL);
        let _ = cg.kill_all();
        if let Err(e) = cg.remove() {
            // Busy: members still dying. The final cleanup removes it.
            tracing::debug!("{e}");
        }
        oom
    }

    /// Starts run `run` of process `idx` and reports how it went.
    pub(super) fn spawn(&mut self, idx: ProcId, run: RunId) -> Event {
        let p = &self.sup.processes()[idx];
        let (spec, first) = (p.spec.clone(), !p.ran);
        // Until its first start succeeds: by then restore and migrate ran.
        if first && crate::config::replicator::is_replicator(&spec) {
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
        // A reload's new instance beside the old one, which holds the cgroup.
        let beside = p.reload.as_ref().is_some_and(|r| r.run == run);
        if beside && spec.limits != Default::default() && self.host.has_cgroups() {
            tracing::warn!(
                "{}: the new instance runs without a cgroup of its own until its next restart (the old one holds it); its memory limit is measured instead",
                spec.name
            );
        } else if spec.limits != Default::default() {
            match self.host.create_cgroup(&spec.name, &spec.limits) {
                Some(Ok(cg)) => cgroup = Some(cg),
                Some(Err(e)) => {
                    tracing::error!("{}: {e}; it runs without its cgroup limits", spec.name)
                }
                None => {}
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
            // A reload's new instance gets a socket of its own beside the old
            // one's: READY=1 on it is that instance's, exactly.
            let named = match beside {
                true => ProcessSpec {
                    name: format!("{}.reload", spec.name),
                    ..spec.clone()
                },
                false => spec.clone(),
            };
            match crate::supervisor::probing::notify_socket(
                &dir,
                idx,
                run,
                &named,
                *watchdog,
                &self.internal_tx,
            ) {
                Ok((vars, task)) => {
                    env.extend(vars);
                    self.notify.insert((idx, run), task);
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
            // Every start, and any instance beside a running one, gets the
            // same held sockets.
            listen: self.sockets.of(idx.0).listen(),
        };
        let result = self.host.spawn(&request);
        // Without a cgroup, a memory limit is enforced by measuring.
        let mut polled = (!self.host.has_cgroups() || beside) && spec.limits.memory.is_some();
        if let Some(mut cg) = cgroup {
            cg.close_procs_fds();
            if result.is_ok() {
                self.oom.started(idx, &cg, &self.internal_tx);
                polled = self.oom.is_polled(idx);
                self.cgroups.insert(idx, cg);
                self.cgroup_runs.insert(idx, run);
            } else {
                let _ = cg.remove();
            }
        }
        match result {
            Ok(child) => {
                if let Some(book) = &self.logs {
                    self.run_logs.insert(idx, book.cursor(&spec.name));
                }
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
                self.children.insert(
                    child.pid,
                    Child {
                        idx,
                        run,
                        limit: spec.limits.memory,
                    },
                );
                Event::Started {
                    idx,
                    run,
                    pid: child.pid,
                    polled,
                }
            }
            Err(e) => {
                if let Some(task) = self.notify.remove(&(idx, run)) {
                    task.abort();
                }
                Event::SpawnFailed {
                    idx,
                    run,
                    code: e.exit_code,
                    reason: e.to_string(),
                    permanent: e.is_permanent(),
                }
            }
        }
    }

    /// Polling mode: measure every running process that has a memory limit
    /// and no cgroup; read the OOM counters that have no watch.
    pub(super) fn poll_memory(&mut self, pending: &mut VecDeque<Event>) {
        for idx in self.oom.polled() {
            if let Some(cg) = self.cgroups.get(&idx) {
                self.oom.check(idx, cg, &*self.observer);
            }
        }
        for (&pid, child) in &self.children {
            let Some(limit) = child.limit else {
                continue;
            };
            if self.cgroup_runs.get(&child.idx) == Some(&child.run) {
                continue;
            }
            let bytes = self.host.tree_rss(pid);
            if bytes > limit {
                pending.push_back(Event::OverMemory {
                    idx: child.idx,
                    run: child.run,
                    bytes,
                });
            }
        }
    }
}
