//! Polling /proc for real: a process tree whose grandchild holds 100 MiB
//! and has left the process group.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oxinit::api::cgroup::poll;

const MIB: u64 = 1 << 20;

/// Starts `python3 -c script` in its own process group and waits for the
/// "ready <pid>" line the grandchild prints; returns the child and that pid.
fn start_tree(script: &str) -> (Child, i32) {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // A broken script closes stdout: read_line returns and the parse fails.
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild = line
        .strip_prefix("ready ")
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected \"ready <pid>\", got {line:?}"));
    (child, grandchild)
}

fn stop_tree(mut child: Child, grandchild: i32) {
    let _ = kill(Pid::from_raw(grandchild), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(-(child.id() as i32)), Signal::SIGKILL);
    child.wait().unwrap();
}

/// VmRSS from /proc/<pid>/status: a different file and parser than the
/// stat-based scan under test.
fn vm_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

const HOLDER: &str = r#"
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()                      # leaves the process group
    b = b"\x01" * (100 << 20)        # every page written: resident
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(60)
    os._exit(0)
os.waitpid(pid, 0)
"#;

#[test]
fn tree_rss_counts_the_grandchild_outside_the_group() {
    let (child, grandchild) = start_tree(HOLDER);
    let root = child.id() as i32;

    let measured = poll::tree_rss(Path::new("/proc"), root, root);
    let truth = vm_rss(root) + vm_rss(grandchild);
    let members = poll::tree_usage(Path::new("/proc"), root, root).pids;
    stop_tree(child, grandchild);

    assert!(
        members.contains(&grandchild),
        "{members:?} lacks {grandchild}"
    );
    assert!(
        !members.contains(&(std::process::id() as i32)),
        "counted the test itself"
    );
    assert!(measured >= 100 * MIB, "measured {measured}");
    let diff = measured.abs_diff(truth);
    assert!(diff < 4 * MIB, "measured {measured}, VmRSS sum {truth}");
}

const BURNER: &str = r#"
import os, time
pid = os.fork()
if pid == 0:
    while time.process_time() < 0.5:
        pass
    os._exit(0)
os.waitpid(pid, 0)                   # reaped: its time moves to our cutime
print(f"ready {os.getpid()}", flush=True)
time.sleep(60)
"#;

#[test]
fn tree_cpu_seconds_keeps_time_of_reaped_descendants() {
    let (child, pid) = start_tree(BURNER);
    let root = child.id() as i32;
    assert_eq!(pid, root);

    let seconds = poll::tree_usage(Path::new("/proc"), root, root).cpu_seconds;
    stop_tree(child, pid);

    // 0.5 s burnt by the exited grandchild, plus interpreter start-ups;
    // generous upper bound for a loaded machine.
    assert!((0.45..5.0).contains(&seconds), "{seconds}");
}
