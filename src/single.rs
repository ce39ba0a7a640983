//! Single-command mode: `oxinit -- CMD ARGS…`, a drop-in for `tini --` and
//! `dumb-init`.
//!
//! One child, in its own session. Every catchable signal goes to its process
//! group; the one reaper collects it and any orphan that lands on us; when it
//! exits, the final sweep stops whatever it left behind, and oxinit exits with
//! its code (128+N for signal N, 126/127 when it could not be executed).

//!
//! No event loop: one thread blocks in poll(2) on the signalfd, with the stop
//! timeout as its only deadline. That is all this mode waits for, and it keeps
//! oxinit's start, its path from a signal to the child, and its memory as
//! small as tini's. Not its stderr: the child writes there itself (and blocks
//! there if nobody reads, as without oxinit), while oxinit's own warnings go
//! through `diag`'s queue, so a stuck pipe cannot hold up the SIGKILL at the
//! stop timeout (the writer thread starts only if there is something to say).

use crate::sweep::sweep_blocking;
use crate::sys::{kill, pid1, reap, signals, signals::BlockingSignals, spawn};
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// What `oxinit [--grace D] [--stop-timeout D] -- CMD…` asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Passed on byte for byte, like tini's: not necessarily UTF-8.
    pub argv: Vec<OsString>,
    /// After the child exits: how long leftovers get between TERM and KILL.
    pub grace: Duration,
    /// After the first TERM/INT: how long the child gets before its group is
    /// SIGKILLed. None waits for as long as it takes (tini's behaviour).
    pub stop_timeout: Option<Duration>,
}

/// Runs the child to completion and returns oxinit's exit code.
pub fn run(opts: Options) -> i32 {
    let tty = pid1::prepare_tty();
    if !pid1::is_pid1() {
        if let Err(e) = pid1::become_subreaper() {
            tracing::warn!(
                "cannot become a child subreaper ({e}): orphans will go to the real init"
            );
        }
    }
    let cwd = pid1::launch_dir();
    pid1::chdir_root();
    let mut signals = match BlockingSignals::open() {
        Ok(s) => s,
        Err(e) => {
            crate::say!("cannot read signals (signalfd): {e}");
            return crate::exit::INTERNAL;
        }
    };

    let spec = spawn::SpawnSpec {
        argv: &opts.argv,
        env: &[],
        cwd: &cwd,
        user: None,
        inherit_stdin: true,
        output: spawn::Output::Inherit,
        tty,
        cgroup_procs: &[],
        listen: spawn::Listen::Untouched,
    };
    let child = match spawn::spawn(&spec) {
        Ok(child) => child,
        Err(e) => {
            crate::say!("{e} (exit {})", e.exit_code);
            return e.exit_code;
        }
    };
    // The child leads its own process group (setsid or setpgid).
    let pgid = child.pid;
    tracing::debug!("started {:?} as pid {}", opts.argv, child.pid);

    let mut kill_at: Option<Instant> = None;
    let status = loop {
        let batch = match signals.wait(kill_at) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("reading signals failed: {e}");
                continue;
            }
        };
        if batch.is_empty() {
            // Only the stop timeout sets a deadline.
            tracing::warn!(
                "{:?} did not exit within the stop timeout: sending SIGKILL",
                opts.argv[0]
            );
            kill::group(pgid, libc::SIGKILL);
            kill_at = None;
            continue;
        }
        let mut exited = None;
        for &sig in batch {
            if sig == libc::SIGCHLD {
                for (pid, status) in reap::reap().exited {
                    if pid == child.pid {
                        exited = Some(status);
                    } else {
                        tracing::debug!("reaped orphan {pid} ({status})");
                    }
                }
            } else if signals::is_forwardable(sig) {
                kill::group(pgid, sig);
                let stopping = sig == libc::SIGTERM || sig == libc::SIGINT;
                if let (true, None, Some(t)) = (stopping, kill_at, opts.stop_timeout) {
                    kill_at = Some(Instant::now() + t);
                }
            }
        }
        if let Some(status) = exited {
            break status;
        }
    };
    tracing::debug!("{:?} ended: {status}", opts.argv[0]);
    sweep_blocking(&mut signals, &[pgid], opts.grace);
    status.code()
}
