//! The blog post's oxfile (app + Litestream, no `depends_on`) as PID 1: the
//! replicator starts first, and at shutdown `api` is stopped and waited for
//! before Litestream gets its single SIGTERM, so its final sync ships the
//! app's last writes. Stand-in scripts named `node` and `litestream` keep
//! the shape of the commands (detection is by argv[0]'s basename).

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{require_root, As};
use std::os::unix::fs::symlink;
use supervisor::*;

#[test]
fn the_posts_oxfile_stops_api_before_litestream_as_pid1() {
    if !require_root("the_posts_oxfile_stops_api_before_litestream_as_pid1") {
        return;
    }
    let rig = Rig::new();
    let bin = rig.file("bin");
    std::fs::create_dir(&bin).unwrap();
    // api takes 300 ms to flush after its SIGTERM; Litestream logs its
    // arguments so the test sees it ran `replicate`.
    let node = rig.script("api", &graceful("log args $*\n", "", 300));
    let litestream = rig.script("litestream", &graceful("log args $*\n", "", 0));
    symlink(&node, bin.join("node")).unwrap();
    symlink(&litestream, bin.join("litestream")).unwrap();
    let bin = bin.display();
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"[processes.api]
command = "{bin}/node dist/server.js"
[processes.litestream]
command = "{bin}/litestream replicate -config /etc/litestream.yml"
"#
        ),
    );
    rig.wait_event(&ox, "api", "start");
    rig.wait_event(&ox, "litestream", "start");
    assert_eq!(
        rig.matching("litestream", "args replicate -config /etc/litestream.yml")
            .len(),
        1,
        "{}",
        rig.report(&ox)
    );
    // oxinit spawned the replicator first (its own log is in order), after
    // logging the stop budget in one line.
    let err = ox.stderr();
    assert!(
        err.contains("stop budget: api 10s + litestream 10s + orphan_grace 2s = 22s at most"),
        "{}",
        rig.report(&ox)
    );
    let (l, a) = (err.find("started litestream"), err.find("started api"));
    assert!(
        matches!((l, a), (Some(l), Some(a)) if l < a),
        "{}",
        rig.report(&ox)
    );

    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    assert_eq!(rig.signals_seen("api"), ["TERM"], "{}", rig.report(&ox));
    assert_eq!(
        rig.signals_seen("litestream"),
        ["TERM"],
        "Litestream skips its final sync when signalled twice\n{}",
        rig.report(&ox)
    );
    assert_not_after(&rig, ("api", "exit"), ("litestream", "got TERM"));
}

/// A database that a replicator replicates must be in WAL mode (Litestream
/// replicates the WAL): when the replicator first starts, a database in
/// rollback-journal mode gets a warning naming it and the pragma to run; one
/// in WAL mode gets none. The mode is read from the file header.
#[test]
fn a_replicated_database_in_rollback_mode_is_warned_about() {
    let rig = Rig::new();
    let bin = rig.file("bin");
    std::fs::create_dir(&bin).unwrap();
    let litestream = rig.script("litestream", &graceful("", "", 0));
    symlink(&litestream, bin.join("litestream")).unwrap();
    let (rollback, wal) = (rig.file("rollback.db"), rig.file("wal.db"));
    for (db, mode) in [(&rollback, "DELETE"), (&wal, "WAL")] {
        let made = std::process::Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode='+sys.argv[2]); c.execute('create table t(x)'); c.commit(); c.close()"])
            .arg(db)
            .arg(mode)
            .status()
            .unwrap();
        assert!(made.success());
    }
    let mut ox = rig.run(
        As::Child,
        &format!(
            r#"{INIT}
[sqlite]
databases = ["{}", "{}"]
[processes.litestream]
command = "{}/litestream replicate"
"#,
            rollback.display(),
            wal.display(),
            bin.display()
        ),
    );
    rig.wait_event(&ox, "litestream", "start");
    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    let err = ox.stderr();
    let warned = |db: &std::path::Path| {
        err.lines().any(|l| {
            l.contains(&format!(
                "database {} is in rollback-journal mode",
                db.display()
            )) && l.contains("PRAGMA journal_mode=WAL")
                && l.contains("litestream replicates it")
        })
    };
    assert!(warned(&rollback), "{}", rig.report(&ox));
    assert!(
        !err.contains(&format!("database {} is in", wal.display())),
        "{err}"
    );
}
