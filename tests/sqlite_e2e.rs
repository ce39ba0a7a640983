//! SQLite end to end (issue 6): the real oxinit as PID 1 watching databases
//! (`[sqlite] databases`): gauges that follow a WAL as it grows and is
//! checkpointed, and databases that would not survive the container (tmpfs,
//! overlay), warned about at boot or, with `require_volume = true`, refused.
//!
//! Without root these tests print `SKIP: …` and pass, except under CI=true.

mod common;
#[path = "common/http.rs"]
mod http;
#[path = "common/mounts.rs"]
mod mounts;
#[path = "common/prom.rs"]
mod prom;
#[path = "common/supervised.rs"]
mod supervised;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use mounts::Mount;
use prom::Exposition;
use supervised::{shut_down, toml_path, toml_str, unique, Setup};

const MIB: f64 = (1u64 << 20) as f64;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Writes 2 MiB through a WAL with automatic checkpoints off, then
/// checkpoints it, each step behind a gate FIFO, logging "wrote" and
/// "checkpointed" as events.
const WAL_WRITER: &str = r#"
import sqlite3, sys, time
db, log, create, checkpoint = sys.argv[1:5]
def event(what):
    with open(log, "a") as f:
        f.write(f"{int(time.time() * 1000)} app {what}\n")
open(create).readline()
con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE t(x BLOB)")
con.execute("BEGIN")
for _ in range(512):
    con.execute("INSERT INTO t VALUES (randomblob(4096))")
con.execute("COMMIT")
event("wrote")
open(checkpoint).readline()
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
event("checkpointed")
time.sleep(3600)
"#;

/// Issue 6: the SQLite gauges follow the files: 0 before the database
/// exists, a WAL that grows while the database stays small, then a database
/// that grew and an empty WAL after a checkpoint; free bytes as statvfs says.
#[test]
fn sqlite_gauges_follow_a_wal_that_grows_and_is_checkpointed() {
    const TEST: &str = "sqlite_gauges_follow_a_wal_that_grows_and_is_checkpointed";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let db = setup.scratch.file("app.db");
    let wal = setup.scratch.file("app.db-wal");
    let log = setup.scratch.file("events");
    let create = setup.scratch.fifo("create");
    let checkpoint = setup.scratch.fifo("checkpoint");
    let writer = setup.scratch.file("wal_writer.py");
    fs::write(&writer, WAL_WRITER).unwrap();
    let app = unique("app");
    let args = [&writer, &db, &log, &create, &checkpoint].map(|p| toml_path(p));
    let config = setup.oxfile(
        "",
        &format!(
            "[sqlite]\ndatabases = [{}]\n\n[processes.{app}]\ncommand = [{}, {}]\n",
            toml_path(&db),
            toml_str(python()),
            args.join(", ")
        ),
    );
    let mut ox = setup.start(&config);
    let path = db.to_str().unwrap();
    let gauge = |s: &Exposition, name: &str| s.value(name, &[("path", path)]);
    let size = |p: &Path| fs::metadata(p).map(|m| m.len() as f64).ok();

    let before = setup.wait_scrape(&mut ox, secs(10), "app up", |s| {
        s.of("oxinit_process_up", &app) == Some(1.0)
    });
    assert_eq!(
        gauge(&before, "oxinit_sqlite_database_bytes"),
        Some(0.0),
        "no database yet"
    );
    assert_eq!(
        gauge(&before, "oxinit_sqlite_wal_bytes"),
        Some(0.0),
        "no WAL yet"
    );
    let free = gauge(&before, "oxinit_sqlite_filesystem_free_bytes").unwrap();
    let vfs = nix::sys::statvfs::statvfs(setup.scratch.path()).unwrap();
    let avail = vfs.blocks_available() as f64 * vfs.fragment_size() as f64;
    assert!(
        (free - avail).abs() < 1024.0 * MIB,
        "free bytes {free}, statvfs says {avail} available"
    );

    open_gate(&create, secs(10));
    ox.expect_event(&log, secs(10), "app", "wrote");
    let grown = setup.wait_scrape(&mut ox, secs(10), "the WAL gauge", |s| {
        gauge(s, "oxinit_sqlite_wal_bytes") == size(&wal)
            && gauge(s, "oxinit_sqlite_database_bytes") == size(&db)
    });
    let wal_bytes = gauge(&grown, "oxinit_sqlite_wal_bytes").unwrap();
    let db_bytes = gauge(&grown, "oxinit_sqlite_database_bytes").unwrap();
    assert!(
        wal_bytes >= 2.0 * MIB,
        "2 MiB went through the WAL: {wal_bytes}"
    );
    assert!(db_bytes < MIB, "nothing checkpointed yet: {db_bytes}");

    open_gate(&checkpoint, secs(10));
    ox.expect_event(&log, secs(10), "app", "checkpointed");
    let after = setup.wait_scrape(&mut ox, secs(10), "the checkpoint in the gauges", |s| {
        gauge(s, "oxinit_sqlite_wal_bytes") == Some(0.0)
            && gauge(s, "oxinit_sqlite_database_bytes") == size(&db)
    });
    let db_bytes = gauge(&after, "oxinit_sqlite_database_bytes").unwrap();
    assert!(
        db_bytes >= 2.0 * MIB,
        "the checkpoint moved the rows in: {db_bytes}"
    );
    shut_down(&mut ox);
}

/// True when `path` is on a filesystem that survives the container (not
/// tmpfs, not overlay): only there can a test expect no warning.
fn on_a_volume(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC};
    let kind = statfs(path).expect("statfs").filesystem_type();
    kind != TMPFS_MAGIC && kind != OVERLAYFS_SUPER_MAGIC
}

/// Issue 6: a database on tmpfs is named at boot, with the filesystem type,
/// as a warning; boot goes on; a database on a volume is not warned about.
#[test]
fn a_database_on_tmpfs_is_warned_about_at_boot() {
    const TEST: &str = "a_database_on_tmpfs_is_warned_about_at_boot";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let tmpfs = Mount::tmpfs(&setup.scratch.file("tmpfs"));
    let lost = tmpfs.path().join("app.db");
    let kept = setup.scratch.file("kept.db");
    let app = unique("app");
    let config = setup.oxfile(
        "",
        &format!(
            "[sqlite]\ndatabases = [{}, {}]\n\n[processes.{app}]\ncommand = \"sleep 1000\"\n",
            toml_path(&lost),
            toml_path(&kept)
        ),
    );
    let mut ox = setup.start(&config);
    setup.wait_scrape(&mut ox, secs(10), "app up", |s| {
        s.of("oxinit_process_up", &app) == Some(1.0)
    });
    let stderr = ox.stderr();
    let warning = stderr
        .lines()
        .find(|l| l.contains(lost.to_str().unwrap()))
        .unwrap_or_else(|| panic!("no line names {}:\n{stderr}", lost.display()));
    assert!(warning.contains("WARN"), "a warning: {warning}");
    assert!(
        warning.contains("tmpfs"),
        "names the filesystem type: {warning}"
    );
    if on_a_volume(setup.scratch.path()) {
        assert!(
            !stderr.contains(kept.to_str().unwrap()),
            "a database on a volume is not warned about:\n{stderr}"
        );
    }
    shut_down(&mut ox);
}

/// Issue 6: with `require_volume = true`, a database on tmpfs or on an
/// overlay stops boot before any process starts (exit 78, the path and the
/// filesystem type said); on a volume, boot goes on.
#[test]
fn require_volume_refuses_tmpfs_and_overlay() {
    const TEST: &str = "require_volume_refuses_tmpfs_and_overlay";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let marker = setup.scratch.file("started");
    let app = unique("app");
    let boot = |db: &Path| {
        let config = setup.oxfile(
            "",
            &format!(
                "[sqlite]\ndatabases = [{}]\nrequire_volume = true\n\n\
                 [processes.{app}]\ncommand = [\"sh\", \"-c\", \"touch {}; exec sleep 1000\"]\n",
                toml_path(db),
                marker.display()
            ),
        );
        setup.start(&config)
    };

    let tmpfs = Mount::tmpfs(&setup.scratch.file("tmpfs"));
    let overlay = Mount::overlay(
        &setup.scratch.file("overlay"),
        &setup.scratch.file("layers"),
    );
    for (mount, kind) in [(&tmpfs, "tmpfs"), (&overlay, "overlay")] {
        let db = mount.path().join("app.db");
        let mut ox = boot(&db);
        assert_eq!(
            ox.wait(secs(10)),
            ExitCode::Code(78),
            "{kind}\n{}",
            ox.output()
        );
        let stderr = ox.stderr();
        let line = stderr
            .lines()
            .find(|l| l.contains(db.to_str().unwrap()))
            .unwrap_or_else(|| panic!("no line names {}:\n{stderr}", db.display()));
        assert!(line.contains(kind), "names {kind}: {line}");
        assert!(line.contains("require_volume"), "says why it stops: {line}");
        assert!(
            !marker.exists(),
            "{app} started although boot was refused ({kind})"
        );
    }

    if on_a_volume(setup.scratch.path()) {
        let mut ox = boot(&setup.scratch.file("app.db"));
        wait_until(secs(10), "the app to start on a volume", || {
            marker.exists().then_some(())
        });
        shut_down(&mut ox);
    }
}
