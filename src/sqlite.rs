//! SQLite databases seen from outside: sizes for the metrics, and a boot
//! check that the database sits on a real volume.
//!
//! Nothing here opens a database. A reader's open transaction pins the WAL
//! (no checkpoint can pass it) and a lock taken by a metrics scrape could
//! stall the app's writers, so every figure comes from `stat` and `statvfs`.
//!
//! The boot check exists because the two classic ways to lose a container's
//! SQLite data are silent: a database in the container's own overlay layer
//! works until the container is replaced, one on tmpfs until it restarts.
//! And WAL mode relies on shared memory and POSIX locks that network
//! filesystems (NFS, SMB, 9p) do not provide safely.

use std::ffi::OsString;
use std::fs;
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
