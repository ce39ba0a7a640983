//! What oxinit's own lines say, as an operator reads them (issue 10 item 10):
//! a stop says how long the stop took and how long the process had run, the
//! count of processes agrees in number, a limit reads as it was written.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::As;
use supervisor::*;

#[test]
fn a_stop_says_how_long_it_took_and_how_long_the_process_ran() {
    let rig = Rig::new();
    // It flushes for 300 ms after its TERM, after running a second or so.
    let api = rig.script("api", &graceful("", "", 300));
    let mut ox = rig.run(
        As::Child,
        &format!(
            r#"{INIT}
[processes.api]
command = "{api}"
stop_timeout = "5s"
[processes.api.limits]
memory = "500MB"
"#
        ),
    );
    rig.wait_event(&ox, "api", "start");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    let err = ox.stderr();
    assert!(
        err.contains("supervising 1 process from"),
        "one process, not \"1 processes\":\n{err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("api stopped ("))
        .unwrap_or_else(|| panic!("no stop line:\n{err}"));
    // "api stopped (exit 0) in 310ms, after running 1.3s"
    let (took, ran) = line
        .split_once(" in ")
        .and_then(|(_, rest)| rest.split_once(", after running "))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(took.ends_with("ms") || took.ends_with('s'), "{line}");
    assert!(ran.trim_end().ends_with('s'), "{line}");
    assert_ne!(took, ran.trim_end(), "{line}");
    // The limit as written in the oxfile, not 476.8MiB or 488281.25KiB.
    let out = std::process::Command::new(common::bin())
        .args(["check", "--config", &rig.path("oxfile.toml")])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("memory 500MB"), "{plan}");
}

/// With no /dev/null (an empty /dev in a mount namespace), a process's start
/// fails with a line that says /dev/null is missing, not that the program or
/// its `#!` interpreter is. (A oneshot, so the boot ends with its 126.)
#[test]
fn no_dev_null_is_named_as_such() {
    if !common::require_root("no_dev_null_is_named_as_such") {
        return;
    }
    let rig = Rig::new();
    let config = rig.oxfile(&format!(
        "{INIT}\n[processes.api]\ncommand = \"/bin/true\"\noneshot = true\n"
    ));
    // oxinit's own fds 0-2 are open (files), so only the child's stdin
    // needs /dev/null.
    let script = format!(
        "mount -t tmpfs none /dev && exec {} run --config {config}",
        common::bin().display()
    );
    let out = common::run(
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(script),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.code, common::ExitCode::Code(126), "{out:?}");
    assert!(
        out.stderr.contains("has no /dev/null") && !out.stderr.contains("interpreter"),
        "{}",
        out.stderr
    );
}
