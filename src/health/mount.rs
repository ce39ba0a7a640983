//! `type = "mount"`: ready when a filesystem is mounted at a path and
//! answers.
//!
//! For daemons whose readiness is their mount: `litefs mount` (FUSE), and
//! any other FUSE or network filesystem a process serves. `FROM scratch`
//! images have no `mountpoint(1)` for an exec check, hence a built-in kind.
//!
//! A path is a mount point when /proc/self/mountinfo lists it (compared as
//! written: the configured path is not resolved, since resolving it would
//! touch the mount), or, without /proc or for a path written through a
//! symlink, when it lives on another device than its parent. It answers
//! when a stat of it and the read of one directory entry return: the
//! kernel passes both to a FUSE daemon, so a daemon that has mounted but
//! hangs is not ready. Both run off the supervisor's thread (see
//! [`super::blocking`]), bounded by the check's timeout.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::blocking;
use super::probe::Outcome;

/// Probes `path` within `timeout`.
pub async fn probe(path: PathBuf, timeout: Duration) -> Outcome {
    let mountinfo = PathBuf::from("/proc/self/mountinfo");
    let key = path.display().to_string();
    match blocking::run(&key, timeout, move || check(&path, &mountinfo)).await {
        Ok(Ok(())) => Outcome::Healthy,
        Ok(Err(why)) => Outcome::Unhealthy(why),
        Err(blocking::Unanswered::TimedOut(_)) => Outcome::TimedOut,
        Err(other) => Outcome::Unhealthy(other.to_string()),
    }
}

/// The blocking check: `Err` says why `path` is not a mount that answers.
/// `mountinfo` is /proc/self/mountinfo (a parameter for tests).
pub fn check(path: &Path, mountinfo: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_dir() {
        return Err(format!(
            "{shown} is not a directory, so nothing is mounted on it"
        ));
    }
    let listed = std::fs::read_to_string(mountinfo)
        .map(|text| lists(&text, path))
        .unwrap_or(false);
    if !listed && !on_own_device(path, meta.dev()) {
        return Err(format!("nothing is mounted on {shown} yet"));
    }
    // A directory read goes to the filesystem itself (a stat of the mount
    // root may be answered from the kernel's cache).
    let mut entries = std::fs::read_dir(path).map_err(|e| format!("{shown}: {e}"))?;
    if let Some(Err(e)) = entries.next() {
        return Err(format!("reading {shown}: {e}"));
    }
    Ok(())
}

/// Its parent is on another device (the root is always a mount).
fn on_own_device(path: &Path, dev: u64) -> bool {
    match path.parent() {
        None => true,
        Some(parent) => std::fs::metadata(parent).is_ok_and(|p| p.dev() != dev),
    }
}

/// Whether mountinfo(5) text lists `path` as a mount point.
pub fn lists(mountinfo: &str, path: &Path) -> bool {
    crate::cgroup::parse_mountinfo(mountinfo)
        .iter()
        .any(|mount| mount.point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 22 0:31 / /litefs rw,nosuid,nodev,relatime shared:9 - fuse.litefs litefs rw,user_id=0
36 22 0:32 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_lists_mount_points_as_the_kernel_escapes_them() {
        assert!(lists(MOUNTINFO, Path::new("/litefs")));
        assert!(lists(MOUNTINFO, Path::new("/mnt/with space")));
        assert!(lists(MOUNTINFO, Path::new("/")));
        assert!(!lists(MOUNTINFO, Path::new("/lite")));
        assert!(!lists(MOUNTINFO, Path::new("/litefs/sub")));
        assert!(!lists(MOUNTINFO, Path::new("/mnt/with\\040space")));
    }

    #[test]
    fn a_plain_directory_is_not_ready_and_a_listed_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("litefs");
        let empty = dir.path().join("mountinfo");
        std::fs::write(&empty, "").unwrap();

        let absent = check(&mnt, &empty).unwrap_err();
        assert!(absent.contains("No such file"), "{absent}");
        std::fs::create_dir(&mnt).unwrap();
        assert_eq!(
            check(&mnt, &empty),
            Err(format!("nothing is mounted on {} yet", mnt.display()))
        );
        let listed = dir.path().join("listed");
        std::fs::write(
            &listed,
            format!(
                "35 22 0:31 / {} rw - fuse.litefs litefs rw\n",
                mnt.display()
            ),
        )
        .unwrap();
        assert_eq!(check(&mnt, &listed), Ok(()));
        // Without /proc, the device of its parent decides: the root is a
        // mount, a plain directory is not.
        let no_proc = dir.path().join("no-such-mountinfo");
        assert_eq!(check(Path::new("/"), &no_proc), Ok(()));
        assert!(check(&mnt, &no_proc).is_err());
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(check(&file, &listed)
            .unwrap_err()
            .contains("not a directory"));
    }
}
