//! Memory limits end to end (issue 5): the real oxinit as PID 1, as root, on
//! this project's CI layout (cgroup v1 memory at /sys/fs/cgroup/memory,
//! cgroup2 without memory). Each test names its processes after itself and
//! the test binary's pid: oxinit names its cgroups `oxinit-<process>` under its
//! own memory cgroup, which every test (and every worker on the machine)
//! shares.
//!
//! Hogs are Python `bytearray`s: allocating one writes every page, so the
//! memory is charged and resident at once.
//!
//! Without root these tests print `SKIP: …` and pass, except under CI=true.

mod common;
#[path = "common/http.rs"]
mod http;
#[path = "common/prom.rs"]
mod prom;
#[path = "common/supervised.rs"]
mod supervised;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use prom::Exposition;
use supervised::{process, shut_down, skip, toml_path, toml_str, unique, wait_stderr, Setup};

const MIB: f64 = (1u64 << 20) as f64;
const LIMIT: f64 = 64.0 * MIB;
const REASONS: [&str; 6] = ["exit", "signal", "oom", "memory", "health", "stop"];

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Python that holds `mib` MiB, every page touched, for a minute.
fn holder(mib: u32) -> String {
    format!("import time; b = bytearray({mib} << 20); time.sleep(60)")
}

/// The test's own v1 memory cgroup (oxinit, started by the test, sits in it),
/// when it is writable; else None after a SKIP.
fn own_v1_memory_cgroup(test: &str) -> Option<PathBuf> {
    if !require_root(test) {
        return None;
    }
    let table = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    // "ID:CONTROLLERS:PATH", controllers comma-separated; v2 is "0::PATH".
    let path = table.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let Some(path) = path else {
        skip(test, "no cgroup v1 memory controller in /proc/self/cgroup");
        return None;
    };
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let writable = nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok();
    if !dir.join("memory.limit_in_bytes").exists() || !writable {
        skip(
            test,
            &format!("{} is not a writable v1 memory cgroup", dir.display()),
        );
        return None;
    }
    Some(dir)
}

/// `name` is up and was never stopped, restarted or OOM-killed: no exit by
/// any reason.
fn assert_untouched(scrape: &Exposition, name: &str) {
    for reason in REASONS {
        assert_eq!(
            scrape.value(
                "oxinit_process_exits_total",
                &[("process", name), ("reason", reason)]
            ),
            Some(0.0),
            "{name} exits with reason {reason}"
        );
    }
    assert_eq!(scrape.of("oxinit_process_restarts_total", name), Some(0.0));
    assert_eq!(scrape.of("oxinit_process_oom_kills_total", name), Some(0.0));
    assert_eq!(scrape.of("oxinit_process_up", name), Some(1.0));
}

/// The status of a process that ran once and still runs: same pid, no restart,
/// no last exit.
fn assert_same_run(status: &serde_json::Value, name: &str, pid: &serde_json::Value) {
    let p = process(status, name);
    assert_eq!(p["state"], "running", "{name}: {p:#}");
    assert_eq!(&p["pid"], pid, "{name} was restarted: {p:#}");
    assert_eq!(p["restarts"], 0, "{name}: {p:#}");
    assert!(p["last_exit"].is_null(), "{name}: {p:#}");
}

fn exits(scrape: &Exposition, name: &str, reason: &str) -> f64 {
    scrape
        .value(
            "oxinit_process_exits_total",
            &[("process", name), ("reason", reason)],
        )
        .unwrap_or(0.0)
}

/// Issue 5, cgroup v1: over `memory = "64M"` the kernel OOM-kills the process
/// in its own cgroup, oxinit says so (reason `oom` in the log, the metrics and
/// `status`) and restarts it; a process under the same limit in its own
/// cgroup is untouched; both cgroups are gone after shutdown.
#[test]
fn cgroup_v1_oom_kill_is_reported_and_restarted() {
    const TEST: &str = "cgroup_v1_oom_kill_is_reported_and_restarted";
    let Some(own) = own_v1_memory_cgroup(TEST) else {
        return;
    };
    let (hog, calm) = (unique("oomhog"), unique("oomcalm"));
    let py = toml_str(python());
    let setup = Setup::new();
    let config = setup.oxfile(
        "",
        &format!(
            r#"
[processes.{hog}]
command = [{py}, "-c", "{}"]
restart_delay = "200ms"
max_restarts = 100
limits = {{ memory = "64M" }}

[processes.{calm}]
command = [{py}, "-c", "{}"]
limits = {{ memory = "64M" }}
"#,
            holder(200),
            holder(16)
        ),
    );
    let mut ox = setup.start(&config);

    // The calm process runs in its own v1 memory cgroup with the limit set.
    let scrape = setup.wait_scrape(&mut ox, secs(10), "calm holding 16 MiB", |s| {
        s.of("oxinit_process_memory_bytes", &calm)
            .is_some_and(|m| m >= 16.0 * MIB)
    });
    assert_eq!(
        scrape.value("oxinit_memory_enforcement", &[("mode", "cgroup1")]),
        Some(1.0)
    );
    let status = setup.wait_status(&mut ox, secs(5), "calm running", |s| {
        process(s, &calm)["state"] == "running"
    });
    assert_eq!(status["memory_enforcement"], "cgroup1", "{status:#}");
    let calm_pid = process(&status, &calm)["pid"].clone();
    let calm_cgroups: Vec<PathBuf> = process(&status, &calm)["cgroups"]
        .as_array()
        .expect("cgroups is a list")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("a cgroup path")))
        .collect();
    let calm_memory = own.join(format!("oxinit-{calm}"));
    assert!(
        calm_cgroups.contains(&calm_memory),
        "{calm} is not in {}: {calm_cgroups:?}",
        calm_memory.display()
    );
    let limit = fs::read_to_string(calm_memory.join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), "67108864", "{calm}'s memory.limit_in_bytes");
    let procs = fs::read_to_string(calm_memory.join("cgroup.procs")).unwrap();
    let host_pid = find_descendant(ox.pid(), &holder(16)).expect("the calm python");
    assert!(
        procs.split_whitespace().any(|p| p == host_pid.to_string()),
        "{calm} (host pid {host_pid}) not in its cgroup.procs: {procs:?}"
    );

    // The hog is OOM-killed and restarted, again and again.
    let scrape = setup.wait_scrape(&mut ox, secs(15), "two OOM kills of the hog", |s| {
        exits(s, &hog, "oom") >= 2.0
            && s.of("oxinit_process_restarts_total", &hog)
                .is_some_and(|n| n >= 2.0)
            && s.of("oxinit_process_oom_kills_total", &hog)
                .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(
        scrape.of("oxinit_process_memory_limit_bytes", &hog),
        Some(LIMIT)
    );
    assert_eq!(
        scrape.of("oxinit_process_memory_limit_bytes", &calm),
        Some(LIMIT)
    );
    for reason in ["exit", "memory", "health", "stop"] {
        assert_eq!(exits(&scrape, &hog, reason), 0.0, "{hog} exits by {reason}");
    }
    let status = setup.wait_status(&mut ox, secs(5), "two restarts in status", |s| {
        process(s, &hog)["restarts"].as_u64() >= Some(2)
    });
    let p = process(&status, &hog);
    assert_eq!(p["last_exit"]["reason"], "oom", "{p:#}");
    assert_eq!(p["last_exit"]["code"], 137, "SIGKILL is 128+9: {p:#}");
    let said = format!("{hog} was killed by the kernel OOM killer");
    wait_stderr(&mut ox, secs(5), &said, |text| text.contains(&said));

    // The calm one was never touched.
    assert_untouched(&scrape, &calm);
    let used = scrape.of("oxinit_process_memory_bytes", &calm).unwrap();
    assert!(
        (16.0 * MIB..LIMIT).contains(&used),
        "{calm} is charged {used} bytes; it holds 16 MiB under a 64 MiB limit"
    );
    assert_same_run(&status, &calm, &calm_pid);

    shut_down(&mut ox);
    let mut gone = calm_cgroups;
    gone.extend([calm_memory, own.join(format!("oxinit-{hog}"))]);
    for dir in gone {
        assert!(
            !dir.exists(),
            "{} is still there after shutdown\n{}",
            dir.display(),
            ox.output()
        );
    }
}

/// Issue 5, polling: with `memory_enforcement = "poll"`, a process whose
/// grandchild grows past the limit is stopped (the whole group, reason
/// `memory`) and restarted; a process under the limit is never touched.
#[test]
fn polling_stops_a_process_whose_grandchild_grows_past_the_limit() {
    const TEST: &str = "polling_stops_a_process_whose_grandchild_grows_past_the_limit";
    if !require_root(TEST) {
        return;
    }
    let (hog, calm) = (unique("pollhog"), unique("pollcalm"));
    let setup = Setup::new();
    // sh -> subshell -> python: the memory is two levels below the process.
    let grow = setup.scratch.script(
        "grow.sh",
        &format!(
            "#!/bin/sh\n( {} -c '{}'; exit 0 ) &\nwait\n",
            python(),
            holder(200)
        ),
    );
    let py = toml_str(python());
    let config = setup.oxfile(
        r#"memory_enforcement = "poll""#,
        &format!(
            r#"
[processes.{hog}]
command = [{}]
restart_delay = "200ms"
max_restarts = 100
limits = {{ memory = "64M" }}

[processes.{calm}]
command = [{py}, "-c", "{}"]
limits = {{ memory = "64M" }}
"#,
            toml_path(&grow),
            holder(16)
        ),
    );
    let mut ox = setup.start(&config);

    let scrape = setup.wait_scrape(&mut ox, secs(10), "calm holding 16 MiB", |s| {
        s.of("oxinit_process_memory_bytes", &calm)
            .is_some_and(|m| m >= 16.0 * MIB)
    });
    assert_eq!(
        scrape.value("oxinit_memory_enforcement", &[("mode", "poll")]),
        Some(1.0)
    );
    let status = setup.wait_status(&mut ox, secs(5), "calm running", |s| {
        process(s, &calm)["state"] == "running"
    });
    assert_eq!(status["memory_enforcement"], "poll", "{status:#}");
    let calm_pid = process(&status, &calm)["pid"].clone();

    // A grandchild hog, seen running, is gone once oxinit stopped the group.
    let grandchild = wait_until(secs(10), "the grandchild hog", || {
        find_descendant(ox.pid(), &holder(200))
    });
    let parent = proc_stat(grandchild).map(|p| p.ppid);
    assert_ne!(parent, Some(ox.pid()), "the hog must not be oxinit's child");

    let scrape = setup.wait_scrape(&mut ox, secs(15), "two memory stops", |s| {
        exits(s, &hog, "memory") >= 2.0
            && s.of("oxinit_process_restarts_total", &hog)
                .is_some_and(|n| n >= 2.0)
    });
    assert!(
        !is_alive(grandchild),
        "the grandchild hog {grandchild} survived the stop: {}",
        cmdline(grandchild)
    );
    for reason in ["exit", "oom", "health", "stop"] {
        assert_eq!(exits(&scrape, &hog, reason), 0.0, "{hog} exits by {reason}");
    }
    let status = setup.wait_status(&mut ox, secs(5), "two restarts in status", |s| {
        process(s, &hog)["restarts"].as_u64() >= Some(2)
    });
    let p = process(&status, &hog);
    assert_eq!(p["last_exit"]["reason"], "memory", "{p:#}");
    let said = format!("{hog} uses");
    let stderr = wait_stderr(&mut ox, secs(5), "the memory stop", |text| {
        text.lines()
            .any(|l| l.contains(&said) && l.contains("over its memory limit"))
    });

    assert_untouched(&scrape, &calm);
    assert_same_run(&status, &calm, &calm_pid);
    assert!(
        !stderr.contains(&format!("{calm} uses")),
        "{calm} was flagged\n{stderr}"
    );
    shut_down(&mut ox);
}

/// Issue 5: `oxinit check` says which mode this machine would use, and why.
#[test]
fn check_prints_the_mode_used_here_and_why() {
    const TEST: &str = "check_prints_the_mode_used_here_and_why";
    let Some(own) = own_v1_memory_cgroup(TEST) else {
        return;
    };
    let setup = Setup::new();
    let body = "[processes.app]\ncommand = \"sleep 1\"\nlimits = { memory = \"64M\" }\n";
    let check = |init: &str| {
        let config = setup.oxfile(init, body);
        let out = run(
            Command::new(bin()).args(["check", "--config", config.to_str().unwrap()]),
            secs(10),
        );
        assert_eq!(out.code, ExitCode::Code(0), "{out:?}");
        out.stdout
            .lines()
            .find(|l| l.starts_with("memory limits here: "))
            .unwrap_or_else(|| panic!("no 'memory limits here:' line:\n{}", out.stdout))
            .to_owned()
    };

    let auto = check("");
    assert!(auto.starts_with("memory limits here: cgroup1 ("), "{auto}");
    assert!(
        auto.contains(&format!("{} is writable", own.display())),
        "the v1 reason names our memory cgroup: {auto}"
    );
    assert!(auto.contains("cgroup2 not used"), "why not cgroup2: {auto}");

    let required = check(r#"memory_enforcement = "cgroup""#);
    assert!(
        required.starts_with("memory limits here: cgroup1 ("),
        "{required}"
    );

    let poll = check(r#"memory_enforcement = "poll""#);
    assert!(poll.starts_with("memory limits here: poll ("), "{poll}");
    assert!(poll.contains("memory_enforcement = \"poll\""), "{poll}");
}

/// Issue 15, cgroup v1: the OOM killer kills the largest task, here a worker,
/// and the service runs on. Every kill is counted as it happens
/// (`oxinit_process_oom_kills_total` goes up by the number of kills, not by
/// at most one when the main process exits), each is logged with the
/// victim's pid and command, and the main process is never touched.
#[test]
fn cgroup_v1_worker_oom_kills_are_counted_while_the_service_runs() {
    const TEST: &str = "cgroup_v1_worker_oom_kills_are_counted_while_the_service_runs";
    const KILLS: usize = 3;
    if own_v1_memory_cgroup(TEST).is_none() {
        return;
    }
    let svc = unique("oomworkers");
    let setup = Setup::new();
    let workers = setup.scratch.file("workers");
    let gate = setup.scratch.file("gate");
    // A small main process starting one hog worker after another, each past
    // the limit; it records their pids, runs on until the gate opens, then
    // exits 3.
    let main = setup.scratch.script(
        "workers.sh",
        &format!(
            "#!/bin/sh\nfor i in $(seq {KILLS}); do\n  {} -c '{}' &\n  echo $! >> {}\n  wait\ndone\n\
             while [ ! -e {} ]; do sleep 0.05; done\nexit 3\n",
            python(),
            holder(200),
            workers.display(),
            gate.display()
        ),
    );
    let config = setup.oxfile(
        "",
        &format!(
            "[processes.{svc}]\ncommand = [{}]\nrestart = \"never\"\ncritical = false\n\
             limits = {{ memory = \"64M\" }}\n",
            toml_path(&main)
        ),
    );
    // An ordinary child, not PID 1 of a pid namespace: the kernel log's pids
    // are then the ones the script saw. It starts in cgroups of its own: at
    // boot oxinit clears every `oxinit-*` cgroup beside it, which would kill
    // the processes of the other oxinits the tests run at the same time.
    let nest = Nest::new(&format!("oxt{}w", std::process::id()));
    let mut ox = Oxinit::start_prefixed(
        As::Child,
        &["sh", "-c", &nest.join_script(), "sh"],
        &["run", "--config", config.to_str().unwrap()],
        &[],
        None,
    );
    setup.wait_scrape(&mut ox, secs(10), "the service up", |s| {
        s.of("oxinit_process_up", &svc) == Some(1.0)
    });
    let status = setup.wait_status(&mut ox, secs(10), "the service running", |s| {
        process(s, &svc)["state"] == "running"
    });
    let main_pid = process(&status, &svc)["pid"].clone();

    let scrape = setup.wait_scrape(&mut ox, secs(30), "every worker OOM kill counted", |s| {
        s.of("oxinit_process_oom_kills_total", &svc) >= Some(KILLS as f64)
    });
    assert_eq!(
        scrape.of("oxinit_process_oom_kills_total", &svc),
        Some(KILLS as f64),
        "one count per kill"
    );
    assert_eq!(
        exits(&scrape, &svc, "oom"),
        0.0,
        "the main process never exited"
    );
    assert_eq!(scrape.of("oxinit_process_up", &svc), Some(1.0));
    let status = setup.status();
    assert_same_run(&status, &svc, &main_pid);

    let pids: Vec<String> = fs::read_to_string(&workers)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(pids.len(), KILLS, "workers started: {pids:?}");
    let stderr = wait_stderr(&mut ox, secs(5), "a log line per kill", |text| {
        text.contains(&format!("OOM kill {KILLS} of this run"))
    });
    for (nth, pid) in pids.iter().enumerate() {
        let said = format!("{svc}: the kernel OOM killer killed pid {pid} (python3");
        let line = stderr
            .lines()
            .find(|l| l.contains(&said))
            .unwrap_or_else(|| panic!("no line naming worker {pid}: {said:?}\n{stderr}"));
        assert!(
            line.contains(&format!(
                "at its 64M memory limit (OOM kill {} of this run)",
                nth + 1
            )),
            "{line}"
        );
    }

    // The main process's own exit, after its workers' OOM kills, is an exit
    // (code 3), not an OOM kill; the count stays.
    fs::write(&gate, "").unwrap();
    let scrape = setup.wait_scrape(&mut ox, secs(10), "the main process's exit", |s| {
        exits(s, &svc, "exit") >= 1.0
    });
    assert_eq!(exits(&scrape, &svc, "oom"), 0.0);
    assert_eq!(
        scrape.of("oxinit_process_oom_kills_total", &svc),
        Some(KILLS as f64),
        "the count survives the exit"
    );
    shut_down(&mut ox);
}

/// A child cgroup of the test's own in each v1 hierarchy oxinit uses
/// (memory, pids, cpuacct), removed on drop once empty.
struct Nest(Vec<PathBuf>);

impl Nest {
    fn new(name: &str) -> Nest {
        let table = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        let mut dirs = Vec::new();
        for line in table.lines() {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
            let (Some(controllers), Some(path)) = (controllers, path) else {
                continue;
            };
            for c in ["memory", "pids", "cpuacct"] {
                let root = Path::new("/sys/fs/cgroup").join(c);
                if controllers.split(',').any(|x| x == c) && root.join("cgroup.procs").exists() {
                    let dir = root.join(path.trim_start_matches('/')).join(name);
                    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                    dirs.push(dir);
                }
            }
        }
        Nest(dirs)
    }

    /// `sh -c` text that moves the shell into every nest, then execs "$@".
    fn join_script(&self) -> String {
        let moves: Vec<String> = self
            .0
            .iter()
            .map(|d| format!("echo $$ > {}/cgroup.procs", d.display()))
            .collect();
        format!("{} && exec \"$@\"", moves.join(" && "))
    }
}

impl Drop for Nest {
    fn drop(&mut self) {
        for dir in &self.0 {
            let deadline = std::time::Instant::now() + secs(5);
            while dir.exists()
                && fs::remove_dir(dir).is_err()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
