//! cgroup v1 for real, as root, on the hybrid layout of Fly.io machines and
//! this project's CI (v1 memory at /sys/fs/cgroup/memory). Each test uses
//! its own cgroup name (`oxt<pid><tag>`), so leftover cleanup in one test
//! never touches another test's (or a real oxinit's) cgroups.
//!
//! Without root these tests print `SKIP: …` and pass, except under CI=true.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxinit::api::cgroup::{detect, Enforcement, Limits, Mode, ProcessCgroup, Requested, Roots};
use oxinit::api::sys::spawn::join_from_child;

const MIB: u64 = 1 << 20;

fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {why}, and CI=true forbids skipping"
    );
    println!("SKIP: {test}: {why}");
}

/// The v1 enforcement of this machine under a per-test name, or None
/// (after printing SKIP) where the test cannot run.
fn v1(test: &str, tag: &str) -> Option<Enforcement> {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root");
        return None;
    }
    let enforcement = detect(Requested::Cgroup, &Roots::default(), std::process::id());
    let enforcement = match enforcement {
        Ok(e) if e.mode() == Mode::V1 => e,
        Ok(e) => {
            skip(
                test,
                &format!(
                    "needs the hybrid (v1 memory) layout; this machine is {}: {}",
                    e.mode(),
                    e.reason()
                ),
            );
            return None;
        }
        Err(err) => {
            skip(test, &err.to_string());
            return None;
        }
    };
    Some(
        enforcement
            .with_name(&format!("oxt{}{tag}", std::process::id()))
            .unwrap(),
    )
}

/// Spawns `cmd` so that it joins `cg` between fork and exec.
fn spawn_in(cg: &ProcessCgroup, cmd: &mut Command) -> Child {
    let fds = cg.procs_fds();
    // SAFETY: join_from_child is async-signal-safe (write(2) only).
    unsafe { cmd.pre_exec(move || join_from_child(&fds).map_err(io::Error::from)) }
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn paths(cg: &ProcessCgroup) -> Vec<PathBuf> {
    cg.paths().into_iter().map(PathBuf::from).collect()
}

/// Removes a test's cgroups even when an assertion failed, so a failing
/// run leaves nothing behind on the machine.
struct Tidy(Vec<PathBuf>);

impl Tidy {
    fn new(cg: &ProcessCgroup) -> Tidy {
        Tidy(paths(cg))
    }
}

impl Drop for Tidy {
    fn drop(&mut self) {
        for dir in &self.0 {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if pid > 1 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
            }
        }
        for dir in &self.0 {
            let deadline = Instant::now() + Duration::from_secs(2);
            while dir.exists() && std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn over_the_limit_the_kernel_kills_and_oom_kills_counts_it() {
    let Some(enforcement) = v1("oom", "oom") else {
        return;
    };
    enforcement.prepare().unwrap();
    let limits = Limits {
        memory: Some(64 * MIB),
        ..Limits::default()
    };
    let mut cg = enforcement.create("hog", &limits).unwrap();
    let _tidy = Tidy::new(&cg);
    assert_eq!(cg.oom_kills().unwrap(), 0);

    // bytes * n writes every page, so all 200 MiB must be resident.
    let status = spawn_in(
        &cg,
        Command::new("python3").args(["-c", "b = b'\\x01' * (200 << 20); print('survived')"]),
    )
    .wait()
    .unwrap();

    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(cg.oom_kills().unwrap() >= 1);
    let peak = cg.memory_peak().unwrap();
    assert!(
        (32 * MIB..=65 * MIB).contains(&peak),
        "peak {peak} vs limit 64 MiB"
    );
    let dirs = paths(&cg);
    cg.remove().unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn under_the_limit_a_child_is_untouched_but_accounted() {
    let Some(enforcement) = v1("calm", "calm") else {
        return;
    };
    let limits = Limits {
        memory: Some(64 * MIB),
        memory_high: None,
        pids: Some(32),
    };
    let mut cg = enforcement.create("calm", &limits).unwrap();
    let _tidy = Tidy::new(&cg);
    let leaf = format!("oxt{}calm-calm", std::process::id());

    let child = spawn_in(
        &cg,
        Command::new("python3")
            .args([
                "-c",
                "b = b'\\x01' * (16 << 20); print(open('/proc/self/cgroup').read())",
            ])
            .stdout(Stdio::piped()),
    );
    let out = child.wait_with_output().unwrap();

    assert!(out.status.success(), "{:?}", out.status);
    let cgroups = String::from_utf8_lossy(&out.stdout);
    for controller in ["memory", "pids"] {
        let line = cgroups.lines().find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        });
        assert!(
            line.is_some_and(|l| l.ends_with(&leaf)),
            "{controller} not joined:\n{cgroups}"
        );
    }
    assert_eq!(cg.oom_kills().unwrap(), 0);
    assert!(
        cg.memory_peak().unwrap() >= 16 * MIB,
        "the 16 MiB were charged here"
    );
    assert!(
        cg.cpu_seconds().is_some_and(|s| s > 0.0),
        "{:?}",
        cg.cpu_seconds()
    );
    assert_eq!(
        std::fs::read_to_string(cg.paths()[1].join("pids.max"))
            .unwrap()
            .trim(),
        "32"
    );
    let dirs = paths(&cg);
    assert_eq!(dirs.len(), 3, "memory, pids and cpuacct: {dirs:?}");
    cg.remove().unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn kill_all_reaches_processes_outside_the_group() {
    let Some(enforcement) = v1("kill", "kill") else {
        return;
    };
    let mut cg = enforcement
        .create(
            "tree",
            &Limits {
                memory: Some(64 * MIB),
                ..Limits::default()
            },
        )
        .unwrap();
    let _tidy = Tidy::new(&cg);
    // The sleeps call setsid: a group kill would miss them, the cgroup not.
    let mut child = spawn_in(
        &cg,
        Command::new("sh").args(["-c", "setsid sleep 60 & setsid sleep 60 & wait"]),
    );
    wait_until("three members", || cg.members().is_ok_and(|m| m.len() == 3));
    assert!(cg.kill_all().unwrap() >= 3);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    wait_until("an empty cgroup", || {
        cg.members().is_ok_and(|m| m.is_empty())
    });
    cg.remove().unwrap();
    assert!(!cg.path().exists());
}

#[test]
fn prepare_kills_and_removes_a_previous_runs_cgroups() {
    let Some(enforcement) = v1("leftovers", "left") else {
        return;
    };
    let cg = enforcement
        .create(
            "stale",
            &Limits {
                memory: Some(64 * MIB),
                ..Limits::default()
            },
        )
        .unwrap();
    let _tidy = Tidy::new(&cg);
    let mut child = spawn_in(&cg, Command::new("sleep").arg("60"));
    let dirs = paths(&cg);
    drop(cg); // as if oxinit died without cleaning up

    let prepared = enforcement.prepare().unwrap();

    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(prepared.leftovers.killed >= 1);
    assert!(
        prepared.leftovers.failed.is_empty(),
        "{:?}",
        prepared.leftovers.failed
    );
    for dir in dirs {
        assert!(
            prepared.leftovers.removed.contains(&dir),
            "{} not reported",
            dir.display()
        );
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

/// Issue 15: a worker OOM-killed while its parent runs on wakes the cgroup's
/// OOM watch (an eventfd on memory.oom_control), the counter says how many,
/// and the kernel log names each victim by pid and command.
#[test]
fn the_oom_watch_wakes_on_a_worker_kill_and_the_kernel_log_names_it() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use oxinit::api::cgroup::{drain_oom_watch, KernelLog};
    use std::os::fd::AsFd;

    let Some(enforcement) = v1("oomwatch", "ow") else {
        return;
    };
    let limits = Limits {
        memory: Some(64 * MIB),
        ..Limits::default()
    };
    let mut cg = enforcement.create("svc", &limits).unwrap();
    let _tidy = Tidy::new(&cg);
    let watch = cg.oom_watch().unwrap();
    let mut log = KernelLog::open("/dev/kmsg".as_ref(), "/proc".as_ref());
    let readable = |ms: u16| {
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
    };
    assert!(!readable(0));

    // The parent stays small and runs on; each worker grows past the limit.
    let mut parent = spawn_in(
        &cg,
        Command::new("sh")
            .args([
                "-c",
                "for i in 1 2; do python3 -c 'b = bytearray(200 << 20)' & echo $!; wait; done; \
                 exec sleep 60",
            ])
            .stdout(Stdio::piped()),
    );
    let (mut kills, mut wakes) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while kills < 2 {
        assert!(Instant::now() < deadline, "2 OOM kills; counted {kills}");
        if readable(100) {
            wakes += 1;
            drain_oom_watch(&watch);
        }
        kills = cg.oom_kills().unwrap();
    }
    assert!(wakes >= 1, "the watch never woke for {kills} kills");
    assert_eq!(parent.try_wait().unwrap(), None, "the parent runs on");
    // Each worker's pid, as `$!` gave it (two lines; sleep keeps the pipe open).
    let mut workers = String::new();
    let mut stdout = std::io::BufReader::new(parent.stdout.take().unwrap());
    for _ in 0..2 {
        std::io::BufRead::read_line(&mut stdout, &mut workers).unwrap();
    }
    let victims = log
        .claim(cg.hierarchy_path().unwrap(), 5)
        .expect("/dev/kmsg is readable as root");
    let pids: Vec<String> = victims.iter().map(|v| v.pid.to_string()).collect();
    assert_eq!(pids.len(), 2, "{victims:?}");
    for v in &victims {
        assert!(v.comm.starts_with("python3"), "{v:?}");
        assert!(v.pid_is_ours, "no pid namespace here: {v:?}");
    }
    assert_eq!(workers.split_whitespace().collect::<Vec<_>>(), pids);
    cg.kill_all().unwrap();
    parent.wait().unwrap();
    wait_until("an empty cgroup", || {
        cg.members().is_ok_and(|m| m.is_empty())
    });
    cg.remove().unwrap();
}
