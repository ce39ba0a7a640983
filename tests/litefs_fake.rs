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
        let app = s.script("app", APP);
        let (mnt, log, sock) = (mnt.display(), log.display(), s.file("oxinit.sock"));
        let oxfile = format!(
            r#"
[init]
shutdown_timeout = "20s"
control_socket = "{sock}"

[metrics]
enabled = false

[processes.litefs]
command = ["{fake}", "{mnt}", "0.7", "{role}", "{log}"]
stop_timeout = "5s"

[processes.litefs.health]
type = "mount"
path = "{mnt}"
interval = "5s"
timeout = "2s"

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
            fake = fake.display(),
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

    /// SIGTERM; the app stops before the mount goes, and all ends with 0.
    fn stop(mut self) -> Vec<String> {
        self.oxinit.signal(libc::SIGTERM);
        assert_eq!(
            self.oxinit.wait(Duration::from_secs(30)),
            ExitCode::Code(0),
            "{}",
            self.oxinit.output()
        );
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
