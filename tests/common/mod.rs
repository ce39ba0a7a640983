//! Shared integration-test harness: run the real oxinit binary, as PID 1 of a new
//! PID namespace or as an ordinary child, and observe it from the outside.
//!
//! The contract is /work/harness-api.md; everything past it is marked "addition".
//!
//! How a run is laid out:
//! - `As::Pid1`: `unshare --pid --fork --mount-proc -- [prefix…] oxinit ARGS`. The
//!   namespace's PID 1 is oxinit; when it exits the kernel kills the namespace, so
//!   nothing can outlive a test.
//! - `As::Child`: `python3 tests/scripts/keeper.py REPORT [prefix…] oxinit ARGS`.
//!   The keeper is a child subreaper that only forks, execs and waits: oxinit is
//!   still an ordinary child, but whatever it leaves behind is reparented to the
//!   keeper instead of escaping to the host's init. The keeper lists those
//!   leftovers in REPORT ([`Oxinit::leftovers`]) and kills them.
//!
//! In both cases oxinit's stdout and stderr go to files (no pipe can fill up and
//! block it), stdin is /dev/null, and dropping an [`Oxinit`] that is still running
//! SIGKILLs the whole tree. A test that panics prints what oxinit wrote.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use tempfile::TempDir;

/// The binary under test: $OXINIT_TEST_BIN if set (lets a test suite be checked
/// against tini/dumb-init where behaviour overlaps), else the oxinit of this crate.
pub fn bin() -> PathBuf {
    match std::env::var_os("OXINIT_TEST_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_oxinit")),
    }
}

/// True when the test may run root-only things. When not root: prints
/// "SKIP: <test>: needs root (PID namespaces / cgroups)" and returns false, but
/// panics instead when the environment has CI=true (a skip in CI is a failure).
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root (PID namespaces / cgroups), and CI=true forbids skipping");
    }
    eprintln!("SKIP: {test}: needs root (PID namespaces / cgroups)");
    false
}

/// Addition: the Python 3 that runs tests/scripts/*.py. The system interpreter
/// when there is one: a pyenv shim costs ~100 ms per start.
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Addition: the path of a helper under tests/scripts/.
pub fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// Addition: milliseconds since the Unix epoch, the clock of the event logs
/// (`date +%s%3N`, Python's `time.time()`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// A fresh temp dir plus helpers to write the files a test needs.
pub struct Scratch {
    pub dir: TempDir,
}

pub fn scratch() -> Scratch {
    Scratch {
        dir: tempfile::Builder::new()
            .prefix("oxinit-test-")
            .tempdir()
            .expect("create a temp dir"),
    }
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write an executable (0755) script; `body` is the whole file, shebang included.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.file(name);
        fs::write(&path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod 755 {}: {e}", path.display()));
        path
    }

    /// The path of `name` in the scratch dir (nothing is created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Addition: create a FIFO, to be used as a gate with [`open_gate`].
    pub fn fifo(&self, name: &str) -> PathBuf {
        let path = self.file(name);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o644))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
        path
    }
}

/// Addition: release a process blocked in `read _ < FIFO` (sh) or `open(FIFO)`:
/// wait until it has the FIFO open for reading, then write one line.
///
/// Use one gate per step, or wait for an event between two uses of the same gate:
/// a second line written while the reader still holds the first open is lost when
/// the reader closes the FIFO.
pub fn open_gate(fifo: &Path, deadline: Duration) {
    let mut gate = wait_until(deadline, &format!("a reader on {}", fifo.display()), || {
        // Non-blocking: ENXIO until a reader has it open (or waits in open()).
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok()
    });
    gate.write_all(b"go\n")
        .unwrap_or_else(|e| panic!("write to {}: {e}", fifo.display()));
}

/// How oxinit is launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum As {
    /// PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`); root only.
    Pid1,
    /// An ordinary child (of a subreaper keeper, see the module doc).
    Child,
}

/// How a process ended, from its `ExitStatus`. `unshare` and the keeper pass on
/// oxinit's status: the same code, or their own death by the same signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Code(i32),
    Signal(i32),
}

impl ExitCode {
    fn from_status(status: std::process::ExitStatus) -> ExitCode {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitCode::Code(code),
            (None, Some(sig)) => ExitCode::Signal(sig),
            (None, None) => unreachable!("an exited process has a code or a signal"),
        }
    }
}

/// Addition: the command line that starts `bin() ARGS` the way `how` says, with
/// `prefix` (a program that ends by exec'ing its arguments, e.g. a launcher that
/// sets up signals) between the namespace/keeper and oxinit. `report` is where
/// the keeper lists leftovers (As::Child).
pub fn command_line(how: As, prefix: &[&str], args: &[&str], report: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = match how {
        As::Pid1 => ["unshare", "--pid", "--fork", "--mount-proc", "--"]
            .iter()
            .map(OsString::from)
            .collect(),
        As::Child => vec![
            python().into(),
            script_path("keeper.py").into(),
            report.into(),
        ],
    };
    argv.extend(prefix.iter().map(OsString::from));
    argv.push(bin().into());
    argv.extend(args.iter().map(OsString::from));
    argv
}

/// A running oxinit.
pub struct Oxinit {
    how: As,
    /// `unshare` (As::Pid1) or the keeper (As::Child): oxinit's parent.
    parent: Child,
    /// oxinit's pid as the host sees it; None if it exited before we saw it.
    pid: Option<i32>,
    out: TempDir,
    argv: Vec<OsString>,
    status: Option<ExitCode>,
}

impl Oxinit {
    pub fn start(how: As, args: &[&str]) -> Oxinit {
        Oxinit::start_with(how, args, &[], None)
    }

    pub fn start_with(how: As, args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> Oxinit {
        Oxinit::start_prefixed(how, &[], args, env, cwd)
    }

    /// Addition: like `start_with`, with `prefix` exec'ing oxinit (see [`command_line`]).
    pub fn start_prefixed(
        how: As,
        prefix: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
        cwd: Option<&Path>,
    ) -> Oxinit {
        Oxinit::launch(how, prefix, args, env, cwd, None)
    }

    /// Addition: like `start_with`, with oxinit's stdout and stderr both on
    /// `output` (e.g. the write end of a pipe the test stops reading) instead
    /// of files; [`Oxinit::stdout`] and [`Oxinit::stderr`] are then empty.
    pub fn start_writing_to(
        how: As,
        args: &[&str],
        env: &[(&str, &str)],
        output: std::os::fd::OwnedFd,
    ) -> Oxinit {
        Oxinit::launch(how, &[], args, env, None, Some(output))
    }

    fn launch(
        how: As,
        prefix: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
        cwd: Option<&Path>,
        output: Option<std::os::fd::OwnedFd>,
    ) -> Oxinit {
        let out = tempfile::Builder::new()
            .prefix("oxinit-out-")
            .tempdir()
            .expect("create a temp dir for oxinit's output");
        let argv = command_line(how, prefix, args, &out.path().join("leftovers"));
        let (stdout, stderr) = match output {
            Some(fd) => {
                let copy = fd.try_clone().expect("dup oxinit's output fd");
                (Stdio::from(fd), Stdio::from(copy))
            }
            None => (
                Stdio::from(File::create(out.path().join("stdout")).expect("create stdout file")),
                Stdio::from(File::create(out.path().join("stderr")).expect("create stderr file")),
            ),
        };
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Our own group: a ^C meant for `cargo test` must not reach the tree.
            .process_group(0)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (key, value) in env {
            cmd.env(key, value);
        }
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut parent = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", show(&argv)));
        // oxinit is the parent's only child until it forks or orphans reach the
        // keeper, so look now: the first child is oxinit (or what execs it). A
        // command that ends at once may be gone before we look: then pid() panics.
        let parent_pid = parent.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(&pid) = children(parent_pid).first() {
                break Some(pid);
            }
            if let Ok(Some(_)) = parent.try_wait() {
                break None; // status kept by std: try_wait() returns it again
            }
            if Instant::now() > deadline {
                let _ = parent.kill();
                let _ = parent.wait();
                panic!("{} did not start oxinit within 10s", show(&argv));
            }
            thread::sleep(Duration::from_millis(1));
        };
        Oxinit {
            how,
            parent,
            pid,
            out,
            argv,
            status: None,
        }
    }

    /// Host pid of oxinit itself (As::Pid1: the namespace's PID 1).
    pub fn pid(&self) -> i32 {
        self.pid.unwrap_or_else(|| {
            panic!(
                "oxinit exited before its pid could be seen\n{}",
                captured(self.out.path())
            )
        })
    }

    /// Addition: how this oxinit was launched.
    pub fn how(&self) -> As {
        self.how
    }

    /// kill(oxinit, sig), once oxinit can take it: first wait (5 s at most) until
    /// oxinit runs the binary under test (not unshare, keeper or a launcher) and
    /// has `sig` blocked or caught. Before that a signal would kill oxinit (or,
    /// as PID 1, be dropped by the kernel), which is not what a test means.
    pub fn signal(&self, sig: i32) {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP && sig != 0 {
            self.wait_handles(sig, Duration::from_secs(5));
        }
        kill(Pid::from_raw(self.pid()), Signal::try_from(sig).ok())
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
    }

    /// Addition: wait until oxinit runs the binary under test and has `sig` in its
    /// blocked or caught set (/proc/PID/status SigBlk, SigCgt), or sits in
    /// sigtimedwait (tini): that call unblocks the set it waits for while it
    /// waits, so /proc cannot show it and we take the wait as readiness.
    pub fn wait_handles(&self, sig: i32, deadline: Duration) {
        let want = fs::canonicalize(bin()).unwrap_or_else(|_| bin());
        let bit = 1u64 << (sig - 1);
        let pid = self.pid();
        let end = Instant::now() + deadline;
        loop {
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            // An interpreted stand-in (OXINIT_TEST_BIN=some.py) shows its script
            // in argv, not in exe.
            let runs_bin = exe.as_deref() == Some(want.as_path())
                || fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                    raw.split(|&b| b == 0)
                        .take(2)
                        .any(|arg| Path::new(std::ffi::OsStr::from_bytes(arg)) == bin())
                });
            if runs_bin && (signal_masks(pid) & bit != 0 || in_sigtimedwait(pid)) {
                return;
            }
            if !is_alive(pid) || Instant::now() > end {
                panic!(
                    "oxinit (pid {pid}) never blocked or caught signal {sig} within {deadline:?} \
                     (exe {exe:?}, alive {})\n{}",
                    is_alive(pid),
                    captured(self.out.path())
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Wait for oxinit to exit. Panics with the captured stdout and stderr when the
    /// deadline passes (after killing the tree).
    pub fn wait(&mut self, deadline: Duration) -> ExitCode {
        let end = Instant::now() + deadline;
        loop {
            if let Some(code) = self.try_wait() {
                return code;
            }
            if Instant::now() > end {
                let output = captured(self.out.path());
                self.kill_tree();
                panic!(
                    "{} still running after {deadline:?}\n{output}",
                    show(&self.argv)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Addition: oxinit's exit code if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitCode> {
        if self.status.is_none() {
            if let Some(status) = self.parent.try_wait().expect("waitpid(oxinit's parent)") {
                self.status = Some(ExitCode::from_status(status));
            }
        }
        self.status
    }

    /// Addition: like [`wait_for_event`], but fail at once, with oxinit's output,
    /// if oxinit exits first (e.g. it rejected its arguments).
    pub fn expect_event(&mut self, log: &Path, deadline: Duration, who: &str, what: &str) -> Event {
        let end = Instant::now() + deadline;
        loop {
            if let Some(event) = read_events(log)
                .into_iter()
                .find(|e| e.who == who && e.what.starts_with(what))
            {
                return event;
            }
            if let Some(code) = self.try_wait() {
                panic!(
                    "oxinit exited ({code:?}) before event '{who} {what}'; events: {:?}\n{}",
                    read_events(log),
                    self.output()
                );
            }
            if Instant::now() > end {
                panic!(
                    "timed out after {deadline:?} waiting for event '{who} {what}' in {}; \
                     events: {:?}",
                    log.display(),
                    read_events(log)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.out.path().join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.out.path().join("stderr")).unwrap_or_default()
    }

    /// Addition, As::Child only: the processes oxinit left behind when it exited,
    /// one "<pid> <state> <cmdline>" per line (the keeper killed them). Call after
    /// `wait`. Always empty for As::Pid1: the kernel kills a namespace with its
    /// PID 1, so nothing can be left.
    pub fn leftovers(&self) -> Vec<String> {
        assert!(
            self.status.is_some(),
            "leftovers() is known once oxinit has exited"
        );
        fs::read_to_string(self.out.path().join("leftovers"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Addition: stdout and stderr, labelled, for assertion messages.
    pub fn output(&self) -> String {
        captured(self.out.path())
    }

    fn kill_tree(&mut self) {
        if self.try_wait().is_some() {
            return; // the keeper/unshare cleaned up; the pids may be reused now
        }
        match self.how {
            // The kernel kills the whole namespace with its PID 1.
            As::Pid1 => {
                if let Some(pid) = self.pid {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            // Nothing escapes the keeper (a subreaper): kill all below it.
            As::Child => kill_descendants(self.parent.id() as i32),
        }
        let _ = self.parent.kill();
        let _ = self.parent.wait();
    }
}

impl Drop for Oxinit {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "=== {} ({:?}, pid {:?}) ===\n{}",
                show(&self.argv),
                self.how,
                self.pid,
                captured(self.out.path())
            );
        }
        self.kill_tree();
    }
}

/// Addition: the result of [`run`].
#[derive(Debug)]
pub struct Output {
    pub code: ExitCode,
    pub stdout: String,
    pub stderr: String,
}

/// Addition: run a helper command (stdout/stderr captured) and wait for it; past
/// the deadline, kill its whole tree and panic with what it printed.
pub fn run(cmd: &mut Command, deadline: Duration) -> Output {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("create stdout file"))
        .stderr(File::create(&err).expect("create stderr file"))
        .process_group(0)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if Instant::now() > end {
            kill_descendants(child.id() as i32);
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {deadline:?}\n{}",
                captured(dir.path())
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: ExitCode::from_status(status),
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// Poll `f` every 10 ms until it returns Some or the deadline passes (panic with `what`).
pub fn wait_until<T>(deadline: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_until_every(deadline, Duration::from_millis(10), what, f)
}

/// Addition: `wait_until` with another poll interval (for costly checks).
pub fn wait_until_every<T>(
    deadline: Duration,
    every: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = f() {
            return value;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        thread::sleep(every);
    }
}

/// One line of an event log: "<unix-time-ms> <who> <event...>".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub t_ms: u64,
    pub who: String,
    pub what: String,
}

/// Lines of an event log written by test scripts: "<unix-time-ms> <who> <event...>".
/// A missing file is an empty log; a line still being written is skipped.
pub fn read_events(path: &Path) -> Vec<Event> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let t_ms = parts.next()?.parse().ok()?;
            let who = parts.next()?.to_owned();
            let what = parts.next().unwrap_or("").to_owned();
            Some(Event { t_ms, who, what })
        })
        .collect()
}

/// Addition: wait until the log has an event from `who` whose text starts with
/// `what`, and return it.
pub fn wait_for_event(log: &Path, deadline: Duration, who: &str, what: &str) -> Event {
    wait_until(
        deadline,
        &format!("event '{who} {what}' in {}", log.display()),
        || {
            read_events(log)
                .into_iter()
                .find(|e| e.who == who && e.what.starts_with(what))
        },
    )
}

/// Addition: a process as /proc/PID/stat shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    /// R, S, D, Z, T…
    pub state: char,
    pub pgrp: i32,
    pub session: i32,
}

/// Addition: /proc/PID/stat of one process, None when it is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let data = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
    })
}

/// Addition: every process in /proc.
pub fn processes() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Addition: a process's command line, arguments joined by spaces ("" when gone).
pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Addition: the process exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|p| p.state != 'Z' && p.state != 'X')
}

/// Addition: direct children of a pid (every thread's children, as the kernel lists them).
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Processes below `pid` (children, grandchildren…), from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    descendants_in(&processes(), pid)
        .into_iter()
        .map(|p| p.pid)
        .collect()
}

/// Zombies among the processes below `pid`.
pub fn zombies_under(pid: i32) -> usize {
    descendants_in(&processes(), pid)
        .iter()
        .filter(|p| p.state == 'Z')
        .count()
}

/// Addition: the first process below `pid` whose command line contains `needle`.
pub fn find_descendant(pid: i32, needle: &str) -> Option<i32> {
    descendants(pid)
        .into_iter()
        .find(|&p| cmdline(p).contains(needle))
}

fn descendants_in(table: &[ProcStat], root: i32) -> Vec<ProcStat> {
    let mut kids: HashMap<i32, Vec<&ProcStat>> = HashMap::new();
    for p in table {
        kids.entry(p.ppid).or_default().push(p);
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &child in kids.get(&pid).into_iter().flatten() {
            found.push(child.clone());
            todo.push(child.pid);
        }
    }
    found
}

/// SIGKILL everything below `root`. Freeze first (SIGSTOP until the set stops
/// growing): a stopped process cannot fork, and its children stay below it.
fn kill_descendants(root: i32) {
    let mut seen = HashSet::new();
    for _ in 0..100 {
        let new: Vec<i32> = descendants(root)
            .into_iter()
            .filter(|p| !seen.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for &pid in &new {
            let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
        }
        seen.extend(new);
    }
    for &pid in &seen {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// The process is blocked in sigtimedwait/sigwait (/proc/PID/wchan).
fn in_sigtimedwait(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.starts_with("do_sigtimedwait"))
}

/// SigBlk of every thread | SigCgt of the process, from /proc.
fn signal_masks(pid: i32) -> u64 {
    let hex = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let mut mask = fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| hex(&s, "SigCgt:"))
        .unwrap_or(0);
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(status) = fs::read_to_string(task.path().join("status")) {
                mask |= hex(&status, "SigBlk:");
            }
        }
    }
    mask
}

fn captured(dir: &Path) -> String {
    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- stdout ---\n{}--- stderr ---\n{}--- end ---",
        read("stdout"),
        read("stderr")
    )
}

fn show(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
