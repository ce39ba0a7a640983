//! The SQLite gauges on a real WAL database, and the boot volume check on
//! real tmpfs and overlayfs mounts (mounted by the test when it runs as
//! root; otherwise /dev/shm stands in for tmpfs and overlayfs is skipped).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use oxinit::api::metrics::Metrics;
use oxinit::api::snapshot::Snapshot;
use oxinit::api::sqlite::{check_volumes, stats, volume_check};

/// A python3 process holding one connection open to a WAL database (the
/// last connection to close would checkpoint and delete the -wal file),
/// doing what the test says, one command a line.
struct Writer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const WRITER: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
print(db.execute("PRAGMA journal_mode=WAL").fetchone()[0], flush=True)
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("CREATE TABLE IF NOT EXISTS t(x BLOB)")
print("ready", flush=True)
for line in sys.stdin:
    cmd, *arg = line.split()
    if cmd == "write":
        db.execute("BEGIN")
        for _ in range(int(arg[0])):
            db.execute("INSERT INTO t VALUES (randomblob(1000))")
        db.execute("COMMIT")
    elif cmd == "checkpoint":
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    print("ok", flush=True)
"#;

impl Writer {
    /// `None` (SKIP) without python3, except under CI.
    fn start(db: &Path) -> Option<Writer> {
        let child = Command::new("python3")
            .args(["-c", WRITER])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "python3: {e}");
                eprintln!("SKIP: python3 not available: {e}");
                return None;
            }
        };
        let mut writer = Writer {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        };
        assert_eq!(writer.line(), "wal");
        assert_eq!(writer.line(), "ready");
        Some(writer)
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the python writer died");
        line.trim().to_string()
    }

    fn run(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        assert_eq!(self.line(), "ok", "{command}");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn gauges_follow_a_wal_that_grows_and_is_checkpointed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    assert_eq!(stats(&db).database_bytes, 0);
    let Some(mut writer) = Writer::start(&db) else {
        return;
    };
    let start = stats(&db);
    assert!(start.database_bytes > 0, "{start:?}");

    writer.run("write 300");
    let grown = stats(&db);
    assert!(
        grown.wal_bytes >= start.wal_bytes + 300 * 1000,
        "{start:?} → {grown:?}"
    );
    writer.run("write 300");
    let grown_more = stats(&db);
    assert!(grown_more.wal_bytes >= grown.wal_bytes + 300 * 1000);

    // What /metrics says agrees with stat.
    let metrics = Metrics::new(&[], "0.1.0");
    let text = metrics.render(&Snapshot::default(), std::slice::from_ref(&db));
    let line = |name: &str| {
        let prefix = format!("{name}{{path=\"{}\"}} ", db.display());
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(line("oxinit_sqlite_wal_bytes"), grown_more.wal_bytes as f64);
    // The journal mode from the file header: the writer put it in WAL mode.
    let journal = |mode: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("oxinit_sqlite_journal_mode{")
                    && l.contains(&format!("path=\"{}\"", db.display()))
                    && l.contains(&format!("mode=\"{mode}\""))
            })
            .unwrap_or_else(|| panic!("no journal mode {mode} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (journal("wal").as_str(), journal("rollback").as_str()),
        ("1", "0")
    );
    assert!(line("oxinit_sqlite_filesystem_free_bytes") > 0.0);

    writer.run("checkpoint");
    let checkpointed = stats(&db);
    assert_eq!(checkpointed.wal_bytes, 0, "TRUNCATE empties the WAL");
    assert!(
        checkpointed.database_bytes >= 600 * 1000,
        "the frames moved into the database: {checkpointed:?}"
    );
    let text = metrics.render(&Snapshot::default(), std::slice::from_ref(&db));
    assert!(text.contains(&format!(
        "oxinit_sqlite_wal_bytes{{path=\"{}\"}} 0\n",
        db.display()
    )));
}

/// A mount made by the test, unmounted on drop.
struct Mount {
    _dir: tempfile::TempDir,
    point: PathBuf,
}

impl Mount {
    /// `mount -t tmpfs` or an overlay in a temp dir; `None` when not
    /// permitted (not root, no CAP_SYS_ADMIN).
    fn new(kind: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point).unwrap();
        let mut cmd = Command::new("mount");
        match kind {
            "tmpfs" => {
                cmd.args(["-t", "tmpfs", "tmpfs"]);
            }
            _ => {
                for d in ["lower", "upper", "work"] {
                    std::fs::create_dir(dir.path().join(d)).unwrap();
                }
                let p = |d: &str| dir.path().join(d).display().to_string();
                cmd.args(["-t", "overlay", "overlay", "-o"]).arg(format!(
                    "lowerdir={},upperdir={},workdir={}",
                    p("lower"),
                    p("upper"),
                    p("work")
                ));
            }
        }
        let ok = cmd
            .arg(&point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Mount { _dir: dir, point })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
    }
}

fn fs_type(dir: &Path) -> String {
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn database_on_tmpfs_warns_and_require_volume_fails() {
    let mount = Mount::new("tmpfs");
    let base = match &mount {
        Some(m) => m.point.clone(),
        None if fs_type(Path::new("/dev/shm")) == "tmpfs" => PathBuf::from("/dev/shm"),
        None => {
            eprintln!("SKIP: cannot mount tmpfs and /dev/shm is not tmpfs");
            return;
        }
    };
    // The database and its directory need not exist yet.
    let db = base.join("oxinit-test-not-yet/app.db");
    let warning = volume_check(&db).expect("a warning for tmpfs");
    eprintln!(
        "{}",
        check_volumes(std::slice::from_ref(&db), true).unwrap_err()
    );
    assert!(warning.contains("tmpfs"), "{warning}");
    assert!(warning.contains(&db.display().to_string()), "{warning}");
    assert!(warning.contains("volume"), "{warning}");

    let warnings = check_volumes(std::slice::from_ref(&db), false).unwrap();
    assert_eq!(warnings, vec![warning.clone()]);
    let err = check_volumes(std::slice::from_ref(&db), true).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("require_volume = true"), "{text}");
    assert!(text.contains("tmpfs"), "{text}");
}

#[test]
fn database_on_overlayfs_warns() {
    let Some(mount) = Mount::new("overlay") else {
        eprintln!("SKIP: cannot mount overlayfs here");
        return;
    };
    let db = mount.point.join("app.db");
    let warning = volume_check(&db).expect("a warning for overlayfs");
    assert!(warning.contains("overlayfs"), "{warning}");
    assert!(warning.contains("container is replaced"), "{warning}");
}

#[test]
fn database_on_a_disk_is_fine() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kind = fs_type(dir);
    if !["ext2/ext3", "xfs", "btrfs", "zfs", "f2fs"].contains(&kind.as_str()) {
        eprintln!("SKIP: the source tree is on {kind}, not a plain disk filesystem");
        return;
    }
    let db = dir.join("no-such-dir/app.db");
    assert_eq!(volume_check(&db), None);
    assert_eq!(check_volumes(&[db], true).unwrap(), Vec::<String>::new());
}
