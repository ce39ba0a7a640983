//! Starting a child: fork, set it up, execve.
//!
//! Our own fork and exec rather than std's `Command`: std execs with glibc's
//! `execvp`, which runs a file the kernel refuses (ENOEXEC) with `/bin/sh`
//! (see [`super::exec`]). Between fork and exec only async-signal-safe system
//! calls run; everything they need (argv, envp, the paths to try, group
//! lists, fds) is prepared before the fork.
//!
//! A child whose set-up or exec failed writes the stage, the errno and the
//! candidate it was at to a close-on-exec pipe and `_exit`s; the parent reads
//! that (end of file means exec succeeded) and waits for that child. That is
//! the only wait outside the reaper, and it is safe because spawn and reap
//! never run concurrently: oxinit is one thread, and the reaper runs only from
//! the event loop.
//!
//! In the child, in order:
//! 1. stdin/stdout/stderr onto the fds the parent opened;
//! 2. default dispositions for every signal (whatever oxinit inherited);
//! 3. a new session (`setsid`), so stop signals reach its whole process group —
//!    or, under someone else's terminal session, a new foreground process group;
//! 4. the controlling terminal, when oxinit handed it over;
//! 5. its cgroup, by writing "0" to `cgroup.procs` fds the parent opened
//!    ([`join`]; so it is limited from its first instruction, and before
//!    privileges are dropped);
//! 6. supplementary groups, gid, uid;
//! 7. its working directory (as the user it runs as);
//! 8. an empty signal mask (oxinit blocks everything; children must not);
//! 9. its held listening sockets onto fds 3, 4, … and its pid into
//!    `LISTEN_PID` ([`sockets`]);
//! 10. `execve` of each candidate path in turn.

use super::exec::{self, CArray};
use super::pid1::TtyHandover;
use child::ChildSetup;
use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    /// The listening sockets it gets on fds 3, 4, … (`LISTEN_FDS`).
    pub listen: Listen<'a>,
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
    /// Preparing in the parent: pipes, /dev/null, fork.
    Prepare,
    Stdio,
    Session,
    Cgroup,
    Groups,
    Gid,
    Uid,
    Cwd,
    Sockets,
    Exec,
}

impl Stage {
    const ALL: [Stage; 10] = [
        Stage::Prepare,
        Stage::Stdio,
        Stage::Session,
        Stage::Cgroup,
        Stage::Groups,
        Stage::Gid,
        Stage::Uid,
        Stage::Cwd,
        Stage::Sockets,
        Stage::Exec,
    ];

    fn describe(self) -> &'static str {
        match self {
            Stage::Prepare => "cannot prepare its start",
            Stage::Stdio => "cannot set up its stdin/stdout/stderr",
            Stage::Session => "cannot start a new session (setsid)",
            Stage::Cgroup => "cannot join its cgroup",
            Stage::Groups => "cannot set supplementary groups",
            Stage::Gid => "cannot set its group id",
            Stage::Uid => "cannot set its user id",
            Stage::Cwd => "cannot enter its working directory",
            Stage::Sockets => "cannot put its listening sockets on fds 3, 4, …",
            Stage::Exec => "cannot execute it",
        }
    }

    /// The stage's name in the one-line message (`… at exec: …`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Stdio => "stdio",
            Stage::Session => "setsid",
            Stage::Cgroup => "cgroup",
            Stage::Groups => "setgroups",
            Stage::Gid => "setgid",
            Stage::Uid => "setuid",
            Stage::Cwd => "chdir",
            Stage::Sockets => "sockets",
            Stage::Exec => "exec",
        }
    }
}

/// A child that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program:?} ({}): {reason}", .stage.as_str())]
pub struct SpawnError {
    pub program: String,
    pub stage: Stage,
    pub reason: String,
    /// 127 for "not found", 126 for "found but cannot be executed" (the shell's
    /// and tini's convention).
    pub exit_code: i32,
    /// The errno behind it, if any.
    pub errno: Option<i32>,
}

impl SpawnError {
    /// True when starting it again cannot help: the command is not there or
    /// not executable, its working directory is missing, its user cannot be
    /// taken on. (Not a failed fork, pipe or cgroup join: those may pass.)
    pub fn is_permanent(&self) -> bool {
        match self.stage {
            Stage::Exec | Stage::Cwd | Stage::Groups | Stage::Gid | Stage::Uid => !matches!(
                self.errno,
                Some(libc::EAGAIN | libc::ENOMEM | libc::EINTR | libc::ETXTBSY)
            ),
            _ => false,
        }
    }
}

/// Starts a child as `spec` says.
pub fn spawn<S: AsRef<OsStr>>(spec: &SpawnSpec<S>) -> Result<Spawned, SpawnError> {
    let program = spec.argv.first().map_or(OsStr::new(""), |p| p.as_ref());
    let fail = |stage, reason: String, exit_code, errno| SpawnError {
        program: program.to_string_lossy().into_owned(),
        stage,
        reason,
        exit_code,
        errno,
    };
    let prepare = |what: &str, e: io::Error| {
        // Without this, an image with no /dev/null (a bare chroot, an empty
        // /dev) reads like a problem of the program itself.
        let hint = match (what, e.kind()) {
            ("open /dev/null", io::ErrorKind::NotFound) => {
                ": this image or root has no /dev/null; give it one (Docker and Kubernetes \
                 always mount /dev; elsewhere `mknod -m 666 /dev/null c 1 3`)"
            }
            _ => "",
        };
        fail(
            Stage::Prepare,
            format!("cannot {what}: {e}{hint}"),
            126,
            e.raw_os_error(),
        )
    };
    if program.is_empty() {
        return Err(fail(Stage::Exec, "empty command".into(), 127, None));
    }
    let nul = |what: &str, text: std::ffi::OsString| {
        fail(
            Stage::Prepare,
            format!("{what} {:?} holds a NUL byte", text.to_string_lossy()),
            126,
            None,
        )
    };
    let argv = CArray::new(spec.argv.iter().map(|a| a.as_ref().to_os_string()))
        .map_err(|a| nul("the argument", a))?;
    // `slot` must outlive the fork: envp points into it.
    let (vars, mut slot) = sockets::environment(exec::environment(spec.env), spec.listen);
    let mut envp = CArray::new(vars).map_err(|v| nul("the variable", v))?;
    let pid_slot = slot.as_mut().map(sockets::PidSlot::as_mut_ptr);
    sockets::with_slot(&mut envp, pid_slot);
    let listen_fds = match spec.listen {
        Listen::Pass { fds, .. } => fds.to_vec(),
        Listen::Untouched => Vec::new(),
    };
    let paths = exec::candidates(program, exec::child_path(spec.env).as_deref());
    let candidates = CArray::new(paths.iter().map(|p| p.as_os_str().to_os_string()))
        .map_err(|p| nul("the path", p))?;
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes())
        .map_err(|_| nul("the working directory", spec.cwd.as_os_str().into()))?;

    let stdin = match spec.inherit_stdin {
        true => None,
        false => Some(dev_null(libc::O_RDONLY).map_err(|e| prepare("open /dev/null", e))?),
    };
    let (mut stdout, mut stderr, mut readers) = (None, None, (None, None));
    match spec.output {
        Output::Inherit => {}
        Output::Null => {
            stdout = Some(dev_null(libc::O_WRONLY).map_err(|e| prepare("open /dev/null", e))?);
            stderr = Some(dev_null(libc::O_WRONLY).map_err(|e| prepare("open /dev/null", e))?);
        }
        Output::Pipes => {
            let (out_r, out_w) = output_pipe().map_err(|e| prepare("create a pipe", e))?;
            let (err_r, err_w) = output_pipe().map_err(|e| prepare("create a pipe", e))?;
            (stdout, stderr) = (Some(out_w), Some(err_w));
            readers = (Some(out_r), Some(err_r));
        }
    }
    let (report_r, report_w) = pipe().map_err(|e| prepare("create a pipe", e))?;
    let fd = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
    let setup = ChildSetup {
        stdio: [fd(&stdin), fd(&stdout), fd(&stderr)],
        tty: spec.tty,
        cgroup_procs: spec.cgroup_procs,
        creds: spec.user.map(|c| {
            (
                c.uid,
                c.gid,
                c.groups.iter().map(|&g| g as libc::gid_t).collect(),
            )
        }),
        cwd: &cwd,
        argv: &argv,
        envp: &envp,
        candidates: &candidates,
        report_fd: report_w.as_raw_fd(),
        sockets: listen_fds,
        pid_slot,
        // Read here, in the parent: the child must not allocate.
        ignored: ignored_signals(),
    };
    // SAFETY: the child runs only `ChildSetup::exec`, which makes only
    // async-signal-safe system calls on data prepared above and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        setup.exec();
    }
    // Our copies of the child's ends: its stdio and the report pipe's write end.
    drop((stdin, stdout, stderr, report_w));
    if pid < 0 {
        return Err(prepare("fork", io::Error::last_os_error()));
    }
    match read_report(report_r) {
        None => Ok(Spawned {
            pid,
            stdout: readers.0,
            stderr: readers.1,
        }),
        Some(report) => {
            // It has _exited (or is about to): collect it here, see the module docs.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            let tried = paths.get(report.candidate).map(PathBuf::as_path);
            Err(explain(program, spec.cwd, &paths, tried, report))
        }
    }
}

/// Turns a set-up or exec failure into the operator's sentence and exit code.
fn explain(
    program: &OsStr,
    cwd: &Path,
    paths: &[PathBuf],
    tried: Option<&Path>,
    report: Report,
) -> SpawnError {
    let Report { stage, errno, .. } = report;
    let e = io::Error::from_raw_os_error(errno);
    let mk = |reason: String, exit_code| SpawnError {
        program: program.to_string_lossy().into_owned(),
        stage,
        reason,
        exit_code,
        errno: Some(errno),
    };
    // Which file exec refused, when it was found through $PATH.
    let via = match tried {
        Some(path) if !program.as_bytes().contains(&b'/') => format!("{}: ", path.display()),
        _ => String::new(),
    };
    match (stage, errno) {
        (Stage::Cwd, libc::ENOENT | libc::ENOTDIR) => mk(
            format!("its working directory {} does not exist", cwd.display()),
            126,
        ),
        (Stage::Cwd, _) => mk(format!("{} {}: {e}", stage.describe(), cwd.display()), 126),
        (Stage::Exec, libc::ENOENT | libc::ENOTDIR) => {
            // The file is there, so it is its `#!` interpreter that is missing.
            let found = paths.iter().map(|p| cwd.join(p)).find(|p| p.is_file());
            let slash = program.as_bytes().contains(&b'/');
            match (found, slash) {
                (Some(_), true) => mk("its interpreter (the #! line) was not found".into(), 126),
                (Some(found), false) => mk(
                    format!(
                        "{}: its interpreter (the #! line) was not found",
                        found.display()
                    ),
                    126,
                ),
                (None, true) => mk("no such file".into(), 127),
                (None, false) => mk("not found in $PATH".into(), 127),
            }
        }
        (Stage::Exec, libc::EACCES) => {
            let dir = tried.map(|p| cwd.join(p)).filter(|p| p.is_dir());
            match dir {
                Some(_) => mk(format!("{via}is a directory"), 126),
                None => mk(format!("{via}permission denied (is it executable?)"), 126),
            }
        }
        (Stage::Exec, libc::ENOEXEC) => {
            mk(format!("{via}not an executable (exec format error)"), 126)
        }
        (Stage::Exec, _) => mk(format!("{via}{e}"), 126),
        _ => mk(format!("{}: {e}", stage.describe()), 126),
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

/// What a child that could not exec wrote back.
struct Report {
    stage: Stage,
    errno: i32,
    /// The index of the candidate path exec failed on last.
    candidate: usize,
}

/// The report's size on the pipe: stage, errno, candidate. Under PIPE_BUF, so
/// it arrives whole.
pub(super) const REPORT_LEN: usize = 9;

/// None when the pipe closed empty: exec succeeded (the pipe is close-on-exec).
fn read_report(fd: OwnedFd) -> Option<Report> {
    let mut buf = [0u8; REPORT_LEN];
    let mut file = std::fs::File::from(fd);
    let mut got = 0;
    while got < REPORT_LEN {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if got == 0 {
        return None;
    }
    let stage = Stage::ALL
        .get(buf[0] as usize)
        .copied()
        .unwrap_or(Stage::Exec);
    let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let candidate = u32::from_ne_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
    Some(Report {
        stage,
        errno,
        candidate,
    })
}

/// /dev/null, close-on-exec (the child dup2s it onto 0, 1 or 2).
fn dev_null(mode: i32) -> io::Result<OwnedFd> {
    // SAFETY: open(2) of a constant path; the fd is owned by the result.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), mode | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and belongs to no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
                // SAFETY: `sigaction` is a plain C struct for which all-zero
                // bytes are a valid value.
                let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                // SAFETY: a query: the null new action changes nothing, and
                // `old` is a valid, writable struct the kernel fills.
                let ok = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0;
                ok && old.sa_sigaction == libc::SIG_IGN
            })
            .collect()
    })
}

mod child;
mod join;
mod sockets;

pub use sockets::Listen;

#[cfg(test)]
pub(crate) use join::join_before_exec;
pub use join::join_from_child;
#[cfg(test)]
mod tests;
