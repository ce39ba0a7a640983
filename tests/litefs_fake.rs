//! The LiteFS shape of examples/litefs with a fake `litefs mount` (LiteFS
//! itself cannot be installed here): a script that mounts a tmpfs after a
//! delay, holding `.primary` on a replica and not on the primary, waits
//! for SIGTERM and unmounts.
//!
//! oxinit runs as PID 1 of a new PID and mount namespace (`unshare --pid
//! --fork --mount-proc`: the tmpfs never reaches the host), with the
//! example's oxfile pointed at temp dirs: `type = "mount"` readiness on the
//! fake, `when = { missing = ".../.primary" }` on the migration. What each
//! process saw goes to an event log: the migration runs once on the
//! primary and is skipped on a replica, and the app starts either way, but
//! never before the mount. Root only: a SKIP line otherwise (a failure
//! under CI=true).

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;

/// `litefs mount`, faked: MNT DELAY ROLE LOG. The tmpfs is filled at a
/// staging mount and moved into place, so the mount and its `.primary`
/// appear together, as LiteFS shows them once it has joined the cluster.
const FAKE_LITEFS: &str = r#"#!/bin/sh
mnt=$1 delay=$2 role=$3 log=$4
stage="$mnt.stage"
trap 'umount "$mnt" && echo "litefs unmounted" >> "$log"; exit 0' TERM
echo "litefs starting" >> "$log"
sleep "$delay"
mkdir -p "$stage"
mount -t tmpfs -o size=1m litefs "$stage" || exit 1
[ "$role" = replica ] && echo primary-host > "$stage/.primary"
mount --move "$stage" "$mnt" || exit 1
echo "litefs mounted" >> "$log"
while :; do sleep 0.05; done
"#;

/// `litefs mount` hung: MNT LOG. A FUSE mount whose daemon never answers
/// (it holds /dev/fuse and reads nothing), so every stat of it blocks in
/// the kernel until the daemon goes. On SIGTERM it closes /dev/fuse, which
/// aborts the connection: the blocked calls return ENOTCONN.
const HUNG_LITEFS: &str = r#"#!/usr/bin/env python3
import os, signal, subprocess, sys, time
mnt, log = sys.argv[1], sys.argv[2]
fd = os.open("/dev/fuse", os.O_RDWR)
options = f"fd={fd},rootmode=40000,user_id=0,group_id=0"
subprocess.run(["mount", "-t", "fuse.hung", "-o", options, "hung", mnt], pass_fds=[fd], check=True)
with open(log, "a") as f:
    f.write("litefs mounted\n")
def stop(*_):
    os.close(fd)
    with open(log, "a") as f:
        f.write("litefs stopped\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(1)
"#;

/// The app: says whether the mount was there when it started, then runs
/// until stopped.
const APP: &str = r#"#!/bin/sh
mnt=$1 log=$2
if grep -q " $mnt " /proc/self/mountinfo; then seen=mounted; else seen=unmounted; fi
echo "app started ($seen)" >> "$log"
trap 'echo "app stopped" >> "$log"; exit 0' TERM
while :; do sleep 0.05; done
"#;

struct Cluster {
    s: Scratch,
    oxinit: Oxinit,
}

impl Cluster {
    /// Boots the example-shaped oxfile with the fake in role `role`.
    fn boot(role: &str) -> Cluster {
        let s = scratch();
        let mnt = s.file("litefs");
        fs::create_dir(&mnt).unwrap();
        let log = s.file("events");
        fs::write(&log, "").unwrap();
        let fake = s.script("litefs-fake", FAKE_LITEFS);
        let hung = s.script("litefs-hung", HUNG_LITEFS);
        let app = s.script("app", APP);
        let (mnt, log, sock) = (mnt.display(), log.display(), s.file("oxinit.sock"));
        let litefs = match role {
            "hung" => format!(r#"["{}", "{mnt}", "{log}"]"#, hung.display()),
            _ => format!(
                r#"["{}", "{mnt}", "0.7", "{role}", "{log}"]"#,
                fake.display()
            ),
        };
        let oxfile = format!(
            r#"
[init]
shutdown_timeout = "20s"
control_socket = "{sock}"

[metrics]
enabled = false

[processes.litefs]
command = {litefs}
stop_timeout = "5s"

[processes.litefs.health]
type = "mount"
path = "{mnt}"
interval = "1s"
timeout = "500ms"
retries = 1000

[processes.migrate]
command = ["sh", "-c", "echo migrate ran >> {log}"]
oneshot = true
depends_on = ["litefs"]
when = {{ missing = "{mnt}/.primary" }}

[processes.app]
command = ["{app}", "{mnt}", "{log}"]
depends_on = ["migrate", "litefs"]
stop_timeout = "5s"
"#,
            sock = sock.display(),
            app = app.display(),
        );
        let config = s.file("oxfile.toml");
        fs::write(&config, oxfile).unwrap();
        let oxinit = Oxinit::start(As::Pid1, &["run", "--config", config.to_str().unwrap()]);
        Cluster { s, oxinit }
    }

    fn events(&self) -> Vec<String> {
        fs::read_to_string(self.s.file("events"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn wait_for_line(&self, line: &str) {
        wait_until(Duration::from_secs(20), line, || {
            self.events().iter().any(|e| e == line).then_some(())
        });
    }

    /// Waits for the app's first line, and says it must be `app started
    /// (mounted)`: a start before the mount fails here, not by a timeout.
    fn wait_for_the_app(&self) {
        let line = wait_until(Duration::from_secs(20), "the app to start", || {
            self.events()
                .into_iter()
                .find(|e| e.starts_with("app started"))
        });
        assert_eq!(line, "app started (mounted)", "{}", self.oxinit.output());
    }

    /// `oxinit status` as a client sees it.
    fn status(&self) -> String {
        let out = run(
            std::process::Command::new(bin())
                .args(["status", "--socket"])
                .arg(self.s.file("oxinit.sock")),
            Duration::from_secs(10),
        );
        assert_eq!(out.code, ExitCode::Code(0), "oxinit status: {out:?}");
        out.stdout
    }

    /// SIGTERM, and all ends with 0 within `deadline`.
    fn terminate(&mut self, deadline: Duration) {
        self.oxinit.signal(libc::SIGTERM);
        assert_eq!(
            self.oxinit.wait(deadline),
            ExitCode::Code(0),
            "{}",
            self.oxinit.output()
        );
    }

    /// SIGTERM; the app stops before the mount goes, and all ends with 0.
    fn stop(mut self) -> Vec<String> {
        self.terminate(Duration::from_secs(30));
        let events = self.events();
        let at = |line: &str| events.iter().position(|e| e == line);
        assert!(
            at("app stopped") < at("litefs unmounted") && at("app stopped").is_some(),
            "the app stops before LiteFS unmounts: {events:?}"
        );
        events
    }
}

fn before(events: &[String], first: &str, then: &str) -> bool {
    let at = |line: &str| events.iter().position(|e| e == line);
    matches!((at(first), at(then)), (Some(a), Some(b)) if a < b)
}

#[test]
fn on_the_primary_the_migration_runs_once_after_the_mount_and_before_the_app() {
    if !require_root("on_the_primary_the_migration_runs_once_after_the_mount_and_before_the_app") {
        return;
    }
    let cluster = Cluster::boot("primary");
    cluster.wait_for_the_app();
    let events = cluster.events();
    assert_eq!(
        events,
        [
            "litefs starting",
            "litefs mounted",
            "migrate ran",
            "app started (mounted)"
        ],
        "{}",
        cluster.oxinit.output()
    );
    let status = cluster.status();
    assert!(status.contains("migrate"), "{status}");
    assert!(!status.contains("skipped"), "{status}");
    let stderr = cluster.oxinit.stderr();
    assert!(
        stderr.contains("litefs is ready (health check passed)"),
        "{stderr}"
    );
    assert!(!stderr.contains("migrate skipped"), "{stderr}");
    let events = cluster.stop();
    assert_eq!(events.iter().filter(|e| *e == "migrate ran").count(), 1);
}

#[test]
fn on_a_replica_the_migration_is_skipped_and_the_app_still_starts_after_the_mount() {
    if !require_root(
        "on_a_replica_the_migration_is_skipped_and_the_app_still_starts_after_the_mount",
    ) {
        return;
    }
    let cluster = Cluster::boot("replica");
    cluster.wait_for_the_app();
    let events = cluster.events();
    assert!(
        before(&events, "litefs mounted", "app started (mounted)"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "migrate ran"), "{events:?}");
    let primary = Path::new(&cluster.s.file("litefs")).join(".primary");
    let stderr = cluster.oxinit.stderr();
    let skipped = format!(
        "migrate skipped: {} exists, and it runs only when missing = \"{}\"",
        primary.display(),
        primary.display()
    );
    assert_eq!(
        stderr.matches(&skipped).count(),
        1,
        "logged once:\n{stderr}"
    );
    assert!(!stderr.contains("boot aborted"), "{stderr}");
    let status = cluster.status();
    let line = status
        .lines()
        .find(|l| l.starts_with("migrate"))
        .unwrap_or_else(|| panic!("no migrate line in:\n{status}"));
    assert!(line.contains("skipped"), "{status}");
    let events = cluster.stop();
    assert!(!events.iter().any(|e| e == "migrate ran"), "{events:?}");
}

/// A mount that hangs every stat keeps its service unready (each probe
/// times out, and the few threads stuck on it bound the rest), the app
/// waiting, and oxinit answering: `oxinit status` replies and SIGTERM
/// ends it all in time.
#[test]
fn a_hung_mount_is_not_ready_and_never_stalls_oxinit() {
    if !require_root("a_hung_mount_is_not_ready_and_never_stalls_oxinit") {
        return;
    }
    let mut cluster = Cluster::boot("hung");
    cluster.wait_for_line("litefs mounted");
    let stderr = wait_until(Duration::from_secs(20), "two timed-out probes", || {
        let stderr = cluster.oxinit.stderr();
        (stderr.matches("litefs: health check failed").count() >= 2).then_some(stderr)
    });
    assert!(
        stderr.contains("health check failed (no answer within 500ms)"),
        "{stderr}"
    );
    let t0 = std::time::Instant::now();
    let status = cluster.status();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "status took {:?}",
        t0.elapsed()
    );
    let state = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{status}"))
            .to_string()
    };
    assert!(state("litefs").contains("starting"), "{status}");
    assert!(state("app").contains("waiting"), "{status}");
    assert!(
        !cluster
            .events()
            .iter()
            .any(|e| e.starts_with("app started")),
        "{:?}",
        cluster.events()
    );
    cluster.terminate(Duration::from_secs(15));
    assert!(cluster.events().iter().any(|e| e == "litefs stopped"));
}
