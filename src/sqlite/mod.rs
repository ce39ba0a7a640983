//! SQLite databases seen from outside: sizes and the journal mode for the
//! metrics, and boot checks that the database sits on a real volume and is
//! in WAL mode where a replicator needs it.
//!
//! Nothing here opens a database with SQLite. A reader's open transaction pins the WAL
//! (no checkpoint can pass it) and a lock taken by a metrics scrape could
//! stall the app's writers, so every figure comes from `stat` and `statvfs`.
//!
//! The boot check exists because the two classic ways to lose a container's
//! SQLite data are silent: a database in the container's own overlay layer
//! works until the container is replaced, one on tmpfs until it restarts.
//! And WAL mode relies on shared memory and POSIX locks that network
//! filesystems (NFS, SMB, 9p) do not provide safely.
//!
//! [`freshness`]: how far Litestream's replica is behind the WAL, from
//! Litestream's own metrics and the WAL's change time.

pub mod freshness;

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::sys::statfs::statfs;
use nix::sys::statvfs::statvfs;

/// Sizes of one database, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbStats {
    /// The database file; 0 while it does not exist.
    pub database_bytes: u64,
    /// Its `-wal` file; 0 when there is none (rollback-journal mode, or
    /// after a `TRUNCATE` checkpoint).
    pub wal_bytes: u64,
    /// Available to unprivileged writers on the filesystem that holds (or
    /// will hold) the database.
    pub filesystem_free_bytes: u64,
    /// From the file header; None while the database does not exist or is
    /// not (yet) a SQLite file.
    pub journal_mode: Option<JournalMode>,
}

/// How a database keeps its journal, as its header says (bytes 18 and 19,
/// the file format write and read versions: 1 legacy rollback journal, 2 WAL).
/// A database is in WAL mode once `PRAGMA journal_mode=WAL` ran on it; the
/// mode is persistent, so the header tells without opening the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// delete, truncate, persist, memory or off: a rollback journal.
    Rollback,
    Wal,
}

impl JournalMode {
    pub const ALL: [JournalMode; 2] = [JournalMode::Rollback, JournalMode::Wal];

    /// The `mode` label of `oxinit_sqlite_journal_mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Rollback => "rollback",
            JournalMode::Wal => "wal",
        }
    }
}

/// Reads the journal mode from the first 20 bytes of the file. Only a
/// regular file is read (a FIFO at that path must not block a scrape).
pub fn journal_mode(path: &Path) -> Option<JournalMode> {
    if !fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut header = [0u8; 20];
    fs::File::open(path).ok()?.read_exact(&mut header).ok()?;
    if &header[..16] != b"SQLite format 3\0" {
        return None;
    }
    match (header[18], header[19]) {
        (2, 2) => Some(JournalMode::Wal),
        (1, 1) => Some(JournalMode::Rollback),
        _ => None,
    }
}

/// A warning when a replicated database exists and is not in WAL mode:
/// Litestream replicates the WAL, and refuses (or silently does nothing with)
/// a database in rollback-journal mode.
pub fn wal_check(path: &Path) -> Option<String> {
    match journal_mode(path)? {
        JournalMode::Wal => None,
        JournalMode::Rollback => Some(format!(
            "[sqlite] database {} is in rollback-journal mode, but a replicator (Litestream) \
             needs WAL mode: run `PRAGMA journal_mode=WAL;` on it once (the mode persists), \
             e.g. `sqlite3 {} 'PRAGMA journal_mode=WAL;'` or in the app's start-up",
            path.display(),
            path.display()
        )),
    }
}

/// Stats `path` and `path-wal`, and the filesystem of the nearest existing
/// directory: free space is worth knowing before the database is created.
/// What cannot be read is 0.
pub fn stats(path: &Path) -> DbStats {
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let free = nearest_existing(path)
        .and_then(|dir| statvfs(&dir).ok())
        .map(|vfs| vfs.blocks_available().saturating_mul(vfs.fragment_size()))
        .unwrap_or(0);
    DbStats {
        database_bytes: size(path),
        wal_bytes: size(&wal_path(path)),
        filesystem_free_bytes: free,
        journal_mode: journal_mode(path),
    }
}

/// `app.db` → `app.db-wal`, the name SQLite gives the write-ahead log.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push("-wal");
    PathBuf::from(name)
}

/// A warning when the directory of `path` (or its nearest existing
/// ancestor: the database may not exist yet at boot) is on overlayfs,
/// tmpfs or a network filesystem, naming the path and the filesystem type
/// and saying what to do. `None` when the filesystem is fine or unknown.
pub fn volume_check(path: &Path) -> Option<String> {
    let checked = nearest_existing(path)?;
    let magic = statfs(&checked).ok()?.filesystem_type().0 as u64;
    let (fs_type, risk) = classify(magic)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(&checked);
    let on = if checked == dir {
        fs_type.to_string()
    } else {
        format!("{fs_type} (at {})", checked.display())
    };
    let why = match risk {
        Risk::ContainerLayer => format!(
            "the container's own writable layer, lost when the container is replaced. \
             Mount a volume at {}",
            dir.display()
        ),
        Risk::Memory => format!(
            "in memory, lost when the container or machine restarts. Mount a persistent \
             volume at {}",
            dir.display()
        ),
        Risk::Network => "a network filesystem, where SQLite's WAL mode is unsafe (it needs \
             shared memory and POSIX locks across clients) and the database can be corrupted. \
             Use a local volume"
            .to_string(),
    };
    Some(format!(
        "[sqlite] database {} is on {on}: {why}",
        path.display()
    ))
}

/// `[sqlite] require_volume = true` found a database that is not on a volume.
#[derive(Debug, thiserror::Error)]
#[error(
    "[sqlite] require_volume = true, but {}. Set require_volume = false to start anyway",
    warnings.join("; and ")
)]
pub struct NotOnVolume {
    pub warnings: Vec<String>,
}

/// The boot check over every `[sqlite] databases` entry: the warnings to
/// log, or with `require_volume` an error holding all of them.
pub fn check_volumes(paths: &[PathBuf], require_volume: bool) -> Result<Vec<String>, NotOnVolume> {
    let warnings: Vec<String> = paths.iter().filter_map(|p| volume_check(p)).collect();
    if require_volume && !warnings.is_empty() {
        return Err(NotOnVolume { warnings });
    }
    Ok(warnings)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Risk {
    ContainerLayer,
    Memory,
    Network,
}

/// The filesystem types worth a warning, by `statfs` magic number
/// (linux/magic.h and the filesystems' sources).
fn classify(magic: u64) -> Option<(&'static str, Risk)> {
    Some(match magic {
        0x794c_7630 => ("overlayfs", Risk::ContainerLayer),
        0x6175_6673 => ("aufs", Risk::ContainerLayer),
        0x0102_1994 => ("tmpfs", Risk::Memory),
        0x8584_58f6 => ("ramfs", Risk::Memory),
        0x6969 => ("nfs", Risk::Network),
        0x517b => ("smb", Risk::Network),
        0xff53_4d42 => ("cifs", Risk::Network),
        0xfe53_4d42 => ("smb2", Risk::Network),
        0x0102_1997 => ("9p", Risk::Network),
        0x00c3_6400 => ("ceph", Risk::Network),
        0x5346_414f => ("afs", Risk::Network),
        _ => return None,
    })
}

/// The directory that holds `path`, or its nearest ancestor that exists.
fn nearest_existing(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    absolute
        .parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .find(|dir| dir.is_dir())
        .map(Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_database_reads_zero_sizes_but_real_free_space() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("not/yet/app.db");
        let stats = stats(&db);
        assert_eq!(stats.database_bytes, 0);
        assert_eq!(stats.wal_bytes, 0);
        assert!(stats.filesystem_free_bytes > 0, "{stats:?}");
    }

    #[test]
    fn sizes_of_database_and_wal() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("app.db");
        fs::write(&db, vec![0u8; 4096]).unwrap();
        assert_eq!(stats(&db).wal_bytes, 0);
        fs::write(wal_path(&db), vec![0u8; 1000]).unwrap();
        let s = stats(&db);
        assert_eq!((s.database_bytes, s.wal_bytes), (4096, 1000));
    }

    /// The first page of a SQLite database as SQLite writes it: the magic,
    /// the page size (bytes 16-17) and the file format write/read versions
    /// (bytes 18-19: 1 rollback journal, 2 WAL). Written by hand so this test
    /// spawns no child (a unit test beside the reaper's must not wait on
    /// one); real databases made by SQLite in both modes are read by
    /// tests/sqlite_stats.rs and tests/replicator_order.rs.
    fn make_db(path: &Path, mode: &str) {
        let version = if mode == "WAL" { 2 } else { 1 };
        let mut page = vec![0u8; 4096];
        page[..16].copy_from_slice(b"SQLite format 3\0");
        page[16..18].copy_from_slice(&4096u16.to_be_bytes());
        page[18] = version;
        page[19] = version;
        fs::write(path, page).unwrap();
    }

    #[test]
    fn journal_mode_from_the_header_of_each_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, del) = (tmp.path().join("wal.db"), tmp.path().join("del.db"));
        make_db(&wal, "WAL");
        make_db(&del, "DELETE");
        assert_eq!(journal_mode(&wal), Some(JournalMode::Wal));
        assert_eq!(journal_mode(&del), Some(JournalMode::Rollback));
        assert_eq!(stats(&wal).journal_mode, Some(JournalMode::Wal));
        assert_eq!(wal_check(&wal), None);
        let warning = wal_check(&del).expect("a warning for rollback mode");
        assert!(warning.contains("PRAGMA journal_mode=WAL"), "{warning}");
        assert!(warning.contains(&del.display().to_string()), "{warning}");
    }

    #[test]
    fn journal_mode_of_what_is_no_database_is_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing.db");
        assert_eq!(journal_mode(&missing), None);
        assert_eq!(wal_check(&missing), None);
        let empty = tmp.path().join("empty.db");
        fs::write(&empty, b"").unwrap();
        assert_eq!(journal_mode(&empty), None);
        let text = tmp.path().join("text.db");
        fs::write(&text, b"not a database at all, just some text").unwrap();
        assert_eq!(journal_mode(&text), None);
        // A FIFO is not opened (it would block until a writer came).
        let fifo = tmp.path().join("fifo.db");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(journal_mode(&fifo), None);
    }

    #[test]
    fn wal_path_appends_to_odd_names() {
        assert_eq!(
            wal_path(Path::new("/data/my app.db")),
            Path::new("/data/my app.db-wal")
        );
        assert_eq!(wal_path(Path::new("x")), Path::new("x-wal"));
    }

    #[test]
    fn nearest_existing_walks_up() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("a/b/app.db");
        assert_eq!(nearest_existing(&db).unwrap(), tmp.path());
        fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        assert_eq!(nearest_existing(&db).unwrap(), tmp.path().join("a/b"));
    }

    #[test]
    fn classify_known_and_unknown_types() {
        assert_eq!(classify(0x794c_7630).unwrap().0, "overlayfs");
        assert_eq!(classify(0x0102_1994).unwrap().1, Risk::Memory);
        assert_eq!(classify(0x6969).unwrap().1, Risk::Network);
        assert_eq!(classify(0xef53), None); // ext4
    }
}
