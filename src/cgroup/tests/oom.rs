//! OOM notification descriptors on the fake cgroupfs: the v2 watch wakes
//! when `memory.events` changes and the counter is read from it; the v1
//! registration writes what the kernel expects to `cgroup.event_control`.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::*;

fn readable(fd: &OwnedFd, ms: u16) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
}

const EVENTS: &str = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";

#[test]
fn v2_watch_wakes_when_memory_events_changes_and_counts_every_kill() {
    let fake = Fake::v2("rw", "memory pids");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    let mut files = v2_leaf_files();
    files.push(("memory.events", EVENTS));
    fake.cgroup("oxinit-api", &files);
    let cg = enforcement
        .create(
            "api",
            &Limits {
                memory: Some(64 << 20),
                ..Limits::default()
            },
        )
        .unwrap();
    assert_eq!(cg.hierarchy_path(), Some("/oxinit-api"));
    let watch = cg.oom_watch().unwrap();
    assert!(!readable(&watch, 0), "nothing happened yet");
    assert_eq!(cg.oom_kills().unwrap(), 0);

    let events = fake.roots.cgroupfs.join("oxinit-api/memory.events");
    fs::write(&events, EVENTS.replace("oom_kill 0", "oom_kill 3")).unwrap();
    assert!(
        readable(&watch, 5000),
        "a change of memory.events wakes the watch"
    );
    assert_eq!(cg.oom_kills().unwrap(), 3);
    drain_oom_watch(&watch);
    assert!(!readable(&watch, 0), "drained: quiet until the next change");

    fs::write(&events, EVENTS.replace("oom_kill 0", "oom_kill 5")).unwrap();
    assert!(readable(&watch, 5000));
    assert_eq!(cg.oom_kills().unwrap(), 5);
}

#[test]
fn v2_watch_of_a_cgroup_without_memory_events_says_which_file() {
    let fake = Fake::v2("rw", "memory pids");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup("oxinit-api", &v2_leaf_files());
    let cg = enforcement.create("api", &Limits::default()).unwrap();
    let err = cg.oom_watch().unwrap_err().to_string();
    assert!(err.contains("oxinit-api/memory.events"), "{err}");
}

#[test]
fn v1_watch_registers_an_eventfd_for_memory_oom_control() {
    let fake = Fake::hybrid();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup(
        "memory/a/b/oxinit-api",
        &[
            ("cgroup.procs", ""),
            ("cgroup.event_control", ""),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
        ],
    );
    let cg = enforcement.create("api", &Limits::default()).unwrap();
    assert_eq!(cg.hierarchy_path(), Some("/a/b/oxinit-api"));
    let watch = cg.oom_watch().unwrap();
    let written = fake.read("memory/a/b/oxinit-api/cgroup.event_control");
    let fds: Vec<i32> = written
        .split(' ')
        .map(|n| n.parse().expect("two descriptor numbers"))
        .collect();
    assert_eq!(fds.len(), 2, "{written:?}");
    assert_eq!(fds[0], std::os::fd::AsRawFd::as_raw_fd(&watch));
    assert!(!readable(&watch, 0));
}

#[test]
fn v1_watch_without_event_control_fails_so_the_caller_polls() {
    let fake = Fake::hybrid();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup(
        "memory/a/b/oxinit-api",
        &[
            ("cgroup.procs", ""),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.oom_control", "oom_kill 0\n"),
        ],
    );
    let cg = enforcement.create("api", &Limits::default()).unwrap();
    let err = cg.oom_watch().unwrap_err().to_string();
    assert!(err.contains("cgroup.event_control"), "{err}");
}
