//! Starting a child: fork, set it up, exec.
//!
//! We use std's `Command` (PATH search, the exec-error pipe, envp) with a
//! `pre_exec` hook for what std does not do. Between fork and exec only
//! async-signal-safe system calls run; everything they need (group lists, fds)
//! is prepared before the fork.
//!
//! Std waits on a child whose exec failed. That is the only wait outside the
//! reaper, and it is safe because spawn and reap never run concurrently: oxinit
//! is one thread, and the reaper runs only from the event loop.
//!
//! In the child, in order:
//! 1. default dispositions for every signal (whatever oxinit inherited);
//! 2. a new session (`setsid`), so stop signals reach its whole process group —
//!    or, under someone else's terminal session, a new foreground process group;
//! 3. the controlling terminal, when oxinit handed it over;
//! 4. its cgroup, by writing "0" to `cgroup.procs` fds the parent opened (so it
//!    is limited from its first instruction, and before privileges are dropped);
//! 5. supplementary groups, gid, uid;
//! 6. an empty signal mask (oxinit blocks everything; children must not).

use super::pid1::TtyHandover;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Who the child runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (setgroups). Empty clears them.
    pub groups: Vec<u32>,
}

/// Where the child's stdout/stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The child writes to oxinit's own fds (zero overhead).
    Inherit,
    /// Each goes to a new pipe whose read end is returned, for the log relay.
    Pipes,
    /// Both go to /dev/null (health-check commands: only the exit code counts).
    Null,
}

/// Everything needed to start one child. The command line is any strings:
/// the oxfile's (UTF-8), or single-command mode's, passed on byte for byte.
#[derive(Debug)]
pub struct SpawnSpec<'a, S = String> {
    pub argv: &'a [S],
    /// Added to (and overriding) oxinit's own environment.
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub user: Option<&'a Credentials>,
    /// Inherit oxinit's stdin (single-command mode) or read /dev/null.
    pub inherit_stdin: bool,
    pub output: Output,
    pub tty: TtyHandover,
    /// `cgroup.procs` files opened for writing by the parent; the child joins
    /// each by writing "0" before exec.
    pub cgroup_procs: &'a [RawFd],
}

/// A running child.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// The step of the child's set-up that failed, reported back through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Session,
    Cgroup,
    Groups,
    Gid,
    Uid,
    Exec,
}

impl Stage {
    const ALL: [Stage; 6] = [
        Stage::Session,
        Stage::Cgroup,
        Stage::Groups,
        Stage::Gid,
        Stage::Uid,
        Stage::Exec,
    ];

    fn describe(self) -> &'static str {
        match self {
            Stage::Session => "cannot start a new session (setsid)",
            Stage::Cgroup => "cannot join its cgroup",
            Stage::Groups => "cannot set supplementary groups",
            Stage::Gid => "cannot set its group id",
            Stage::Uid => "cannot set its user id",
            Stage::Exec => "cannot execute it",
        }
    }
}

/// A child that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program:?}: {reason}")]
pub struct SpawnError {
    pub program: String,
    pub stage: Stage,
    pub reason: String,
    /// 127 for "not found", 126 for "found but cannot be executed" (the shell's
    /// and tini's convention).
    pub exit_code: i32,
}

/// Starts a child as `spec` says.
pub fn spawn<S: AsRef<OsStr>>(spec: &SpawnSpec<S>) -> Result<Spawned, SpawnError> {
    let program = spec.argv.first().map_or(OsStr::new(""), |p| p.as_ref());
    let fail = |stage, reason: String, exit_code| SpawnError {
        program: program.to_string_lossy().into_owned(),
        stage,
        reason,
        exit_code,
    };
    if program.is_empty() {
        return Err(fail(Stage::Exec, "empty command".into(), 127));
    }
    if !spec.cwd.is_dir() {
        return Err(fail(
            Stage::Exec,
            format!(
                "its working directory {} does not exist",
                spec.cwd.display()
            ),
            126,
        ));
    }

    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.cwd);
    if !spec.inherit_stdin {
        cmd.stdin(Stdio::null());
    }
    let mut readers = (None, None);
    if spec.output == Output::Null {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    if spec.output == Output::Pipes {
        let (out_r, out_w) = output_pipe()
            .map_err(|e| fail(Stage::Exec, format!("cannot create a pipe: {e}"), 126))?;
        let (err_r, err_w) = output_pipe()
            .map_err(|e| fail(Stage::Exec, format!("cannot create a pipe: {e}"), 126))?;
        cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        readers = (Some(out_r), Some(err_r));
    }

    let (stage_r, stage_w) =
        pipe().map_err(|e| fail(Stage::Exec, format!("cannot create a pipe: {e}"), 126))?;
    let setup = ChildSetup {
        tty: spec.tty,
        cgroup_procs: spec.cgroup_procs.to_vec(),
        creds: spec.user.map(|c| {
            (
                c.uid,
                c.gid,
                c.groups.iter().map(|&g| g as libc::gid_t).collect(),
            )
        }),
        stage_fd: stage_w.as_raw_fd(),
        // Read here, in the parent: the child must not allocate.
        ignored: ignored_signals(),
    };
    // SAFETY: `ChildSetup::run` makes only async-signal-safe system calls and
    // allocates nothing: all its data was prepared above, before the fork.
    unsafe {
        cmd.pre_exec(move || setup.run());
    }
    let result = cmd.spawn();
    drop(cmd); // closes our copies of the pipes' write ends
    drop(stage_w);
    match result {
        Ok(child) => Ok(Spawned {
            pid: child.id() as i32,
            stdout: readers.0,
            stderr: readers.1,
        }),
        Err(e) => {
            let stage = read_stage(stage_r).unwrap_or(Stage::Exec);
            Err(explain(program, spec.cwd, stage, e))
        }
    }
}

/// Turns an exec or set-up error into the operator's sentence and exit code.
fn explain(program: &OsStr, cwd: &Path, stage: Stage, e: io::Error) -> SpawnError {
    let mk = |reason: String, exit_code| SpawnError {
        program: program.to_string_lossy().into_owned(),
        stage,
        reason,
        exit_code,
    };
    if stage != Stage::Exec {
        return mk(format!("{}: {e}", stage.describe()), 126);
    }
    match e.raw_os_error() {
        Some(libc::ENOENT) if program.as_bytes().contains(&b'/') => {
            let path = cwd.join(program);
            if path.exists() {
                // The file is there, so it is its `#!` interpreter that is missing.
                mk("its interpreter (the #! line) was not found".into(), 126)
            } else {
                mk("no such file".into(), 127)
            }
        }
        Some(libc::ENOENT) => mk("not found in $PATH".into(), 127),
        Some(libc::EACCES) => mk("permission denied (is it executable?)".into(), 126),
        Some(libc::ENOEXEC) => mk("not an executable (exec format error)".into(), 126),
        _ => mk(e.to_string(), 126),
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// A child's stdout/stderr pipe for the log relay. 1 MiB instead of the
/// default 64 KiB: a chatty child fills a 64 KiB pipe in one go, so the relay
/// would wake (and hand a batch to its writer thread) every 64 KiB. The pages
/// are only allocated as data waits in the pipe. Best effort: past
/// /proc/sys/fs/pipe-max-size (unprivileged) the default stays.
fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe()?;
    let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    Ok((r, w))
}

fn read_stage(fd: OwnedFd) -> Option<Stage> {
    let mut byte = [0u8; 1];
    let n = std::fs::File::from(fd).read(&mut byte).ok()?;
    (n == 1)
        .then(|| Stage::ALL.get(byte[0] as usize).copied())
        .flatten()
}

/// The signals oxinit ignores: inherited from whoever started it (nohup, a
/// shell's background job, a launcher), since oxinit itself ignores none.
/// Read once, in the parent before its first fork: a child that allocated
/// between fork and exec could deadlock on a lock held by one of the parent's
/// other threads (the log writers).
static IGNORED: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();

fn ignored_signals() -> &'static [i32] {
    IGNORED.get_or_init(|| {
        (1..=libc::SIGRTMAX())
            .filter(|&sig| {
                // SAFETY: a query (no new action); `old` is written by the kernel.
                let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                let ok = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0;
                ok && old.sa_sigaction == libc::SIG_IGN
            })
            .collect()
    })
}

/// What the child does between fork and exec.
struct ChildSetup {
    tty: TtyHandover,
    cgroup_procs: Vec<RawFd>,
    creds: Option<(u32, u32, Vec<libc::gid_t>)>,
    stage_fd: RawFd,
    ignored: &'static [i32],
}

impl ChildSetup {
    fn run(&self) -> io::Result<()> {
        // SAFETY: only async-signal-safe calls below, on data prepared before fork.
        unsafe {
            // exec resets caught signals by itself; only ignored ones
            // survive it, so only those need resetting.
            for &sig in self.ignored {
                libc::signal(sig, libc::SIG_DFL);
            }
            match self.tty {
                TtyHandover::Foreground => {
                    libc::setpgid(0, 0);
                    // A background group calling tcsetpgrp gets SIGTTOU: ignore
                    // it for this one call.
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::tcsetpgrp(0, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                }
                TtyHandover::Session | TtyHandover::None => {
                    if libc::setsid() == -1 {
                        return self.fail(Stage::Session);
                    }
                    if self.tty == TtyHandover::Session {
                        // Best effort: without it the child still runs, just
                        // without job control.
                        libc::ioctl(0, libc::TIOCSCTTY, 0);
                    }
                }
            }
            if crate::cgroup::join_from_child(&self.cgroup_procs).is_err() {
                return self.fail(Stage::Cgroup); // errno is still write(2)'s
            }
            if let Some((uid, gid, groups)) = &self.creds {
                if libc::setgroups(groups.len(), groups.as_ptr()) == -1 {
                    return self.fail(Stage::Groups);
                }
                if libc::setgid(*gid) == -1 {
                    return self.fail(Stage::Gid);
                }
                if libc::setuid(*uid) == -1 {
                    return self.fail(Stage::Uid);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        Ok(())
    }

    /// Records the failed stage for the parent, then fails with errno.
    fn fail(&self, stage: Stage) -> io::Result<()> {
        let err = io::Error::last_os_error();
        let code = Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0) as u8;
        // SAFETY: write(2) is async-signal-safe.
        unsafe { libc::write(self.stage_fd, [code].as_ptr().cast(), 1) };
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_reads_the_ignored_signals_before_forking() {
        let argv = ["true".to_string()];
        let spec = SpawnSpec {
            argv: &argv,
            env: &[],
            cwd: Path::new("/"),
            user: None,
            inherit_stdin: false,
            output: Output::Null,
            tty: TtyHandover::None,
            cgroup_procs: &[],
        };
        let child = spawn(&spec).expect("true starts");
        // Had only the child computed the set (allocating after fork), the
        // parent's copy would still be empty.
        assert!(IGNORED.get().is_some());
        // Another test's reaper may have taken it first: either way it is gone.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    }
}
