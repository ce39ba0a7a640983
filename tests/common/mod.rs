//! Stand-in for the shared integration-test harness (see /work/harness-api.md).
//!
//! The lead keeps the harness helper's version of this file when merging; this
//! one implements the same documented API, nothing more, so the supervisor
//! tests compile and run against either.
#![allow(dead_code)]

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `$OXINIT_TEST_BIN` if set, else the crate's own binary.
pub fn bin() -> PathBuf {
    match std::env::var_os("OXINIT_TEST_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_oxinit")),
    }
}

/// True when root-only things may run; a skip is a failure when `CI=true`.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root (PID namespaces / cgroups), and CI=true forbids skipping");
    }
    eprintln!("SKIP: {test}: needs root (PID namespaces / cgroups)");
    false
}

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes an executable script; `body` is the whole file, shebang included.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.file(name);
        fs::write(&path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn scratch() -> Scratch {
    Scratch {
        dir: tempfile::tempdir().expect("create a temp dir"),
    }
}

pub enum As {
    Pid1,
    Child,
}

pub enum ExitCode {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Debug for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitCode::Code(c) => write!(f, "exit code {c}"),
            ExitCode::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

pub struct Oxinit {
    child: Child,
    pid1: bool,
    out_dir: tempfile::TempDir,
    oxinit_pid: std::cell::Cell<Option<i32>>,
    exited: bool,
}

impl Oxinit {
    pub fn start(how: As, args: &[&str]) -> Oxinit {
        Self::start_with(how, args, &[], None)
    }

    pub fn start_with(how: As, args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> Oxinit {
        let out_dir = tempfile::tempdir().expect("create a temp dir for output");
        let stdout = File::create(out_dir.path().join("stdout")).expect("stdout file");
        let stderr = File::create(out_dir.path().join("stderr")).expect("stderr file");
        let pid1 = matches!(how, As::Pid1);
        let mut cmd = if pid1 {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
                .arg(bin());
            c
        } else {
            Command::new(bin())
        };
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin().display()));
        let oxinit_pid = std::cell::Cell::new((!pid1).then_some(child.id() as i32));
        Oxinit {
            child,
            pid1,
            out_dir,
            oxinit_pid,
            exited: false,
        }
    }

    pub fn pid(&self) -> i32 {
        if let Some(pid) = self.oxinit_pid.get() {
            return pid;
        }
        let unshare = self.child.id() as i32;
        let pid = wait_until(Duration::from_secs(5), "unshare to fork oxinit", || {
            children_of(unshare).into_iter().next()
        });
        self.oxinit_pid.set(Some(pid));
        pid
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) has no memory effects.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn wait(&mut self, deadline: Duration) -> ExitCode {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = true;
                return match (status.code(), status.signal()) {
                    (Some(c), _) => ExitCode::Code(c),
                    (None, Some(s)) => ExitCode::Signal(s),
                    _ => unreachable!("an exit status is a code or a signal"),
                };
            }
            if Instant::now() >= end {
                self.kill_tree();
                panic!(
                    "oxinit did not exit within {deadline:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.out_dir.path().join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.out_dir.path().join("stderr")).unwrap_or_default()
    }

    fn kill_tree(&mut self) {
        let top = self.child.id() as i32;
        for pid in descendants(top) {
            // SAFETY: kill(2) has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
    }
}

impl Drop for Oxinit {
    fn drop(&mut self) {
        if !self.exited {
            self.kill_tree();
        }
    }
}

/// Polls `f` every 10 ms until it returns `Some` or `deadline` passes.
pub fn wait_until<T>(deadline: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub t_ms: u64,
    pub who: String,
    pub what: String,
}

/// Parses "<unix-time-ms> <who> <event...>" lines; a torn or foreign line is skipped.
pub fn read_events(path: &Path) -> Vec<Event> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let t_ms = parts.next()?.parse().ok()?;
            let who = parts.next()?.to_string();
            let what = parts.next().unwrap_or("").to_string();
            Some(Event { t_ms, who, what })
        })
        .collect()
}

/// (pid, ppid, state) of every process in /proc.
fn processes() -> Vec<(i32, i32, char)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: split after the last ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split(' ');
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        Some((pid, ppid, state))
    })
    .collect()
}

fn children_of(pid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == pid)
        .map(|(p, _, _)| p)
        .collect()
}

pub fn descendants(pid: i32) -> Vec<i32> {
    let all = processes();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, ppid, _) in &all {
            if ppid == parent && !found.contains(&p) {
                found.push(p);
                frontier.push(p);
            }
        }
    }
    found
}

pub fn zombies_under(pid: i32) -> usize {
    let all = processes();
    let below = descendants(pid);
    all.iter()
        .filter(|(p, _, state)| *state == 'Z' && below.contains(p))
        .count()
}
