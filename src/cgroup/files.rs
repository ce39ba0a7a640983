//! Reading and writing cgroup interface files.
//!
//! Interface files always exist in a cgroup directory, so they are opened
//! without `O_CREAT`: a missing file then fails with ENOENT ("the controller
//! is not enabled") instead of silently creating a regular file that the
//! kernel never reads. On a fake cgroupfs in a temp dir the same rule makes
//! tests honest: only the files a real mount would have can be written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::CgroupError;

pub(crate) const PROCS: &str = "cgroup.procs";

pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a single-value file such as `memory.current`; "max" reads as
/// `u64::MAX`.
pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    parse_u64(text.trim()).ok_or_else(|| CgroupError::Parse {
        path: path.to_owned(),
        what: format!("expected a number, found {:?}", text.trim()),
    })
}

fn parse_u64(value: &str) -> Option<u64> {
    if value == "max" {
        Some(u64::MAX)
    } else {
        value.parse().ok()
    }
}

/// The value of `key` in a flat keyed file (`memory.events`,
/// `memory.oom_control`, `cpu.stat`): lines of `key value`.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| parse_u64(v.trim())).flatten()
    })
}

pub(crate) fn read_keyed(path: &Path, key: &str) -> Result<u64, CgroupError> {
    let text = read(path)?;
    keyed(&text, key).ok_or_else(|| CgroupError::Parse {
        path: path.to_owned(),
        what: format!("no {key:?} line"),
    })
}

/// Writes one value, replacing the file's content (O_WRONLY|O_TRUNC, no
/// O_CREAT; std adds O_CLOEXEC). Truncation is a no-op on cgroupfs and keeps
/// a fake file equal to the last value written.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|source| CgroupError::Open {
            path: path.to_owned(),
            source,
        })?;
    file.write_all(value.as_bytes())
        .map_err(|source| CgroupError::Write {
            path: path.to_owned(),
            value: value.to_owned(),
            source,
        })
}

/// Opens a `cgroup.procs` for writing (O_WRONLY|O_CLOEXEC, no O_CREAT, no
/// O_TRUNC): the descriptor a child writes "0" to between fork and exec, or
/// the one `prepare` writes pid after pid to.
pub(crate) fn open_procs(dir: &Path) -> Result<File, CgroupError> {
    let path = dir.join(PROCS);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| CgroupError::Open { path, source })
}

pub(crate) fn open_procs_fd(dir: &Path) -> Result<OwnedFd, CgroupError> {
    open_procs(dir).map(OwnedFd::from)
}

/// The pids listed in `dir/cgroup.procs`. A missing file reads as empty: the
/// cgroup is gone (or, on a fake cgroupfs, was never populated).
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let path = dir.join(PROCS);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CgroupError::Read { path, source }),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.trim().parse::<i32>().map_err(|_| CgroupError::Parse {
                path: path.clone(),
                what: format!("{line:?} is not a pid"),
            })
        })
        .collect()
}

/// The child cgroups of `dir` (subdirectories), depth first: children
/// before their parent, so rmdir can walk the list in order.
pub(crate) fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect_subtree(dir, &mut out);
    out
}

fn collect_subtree(dir: &Path, out: &mut Vec<PathBuf>) {
    // A cgroup that vanishes mid-walk simply has no children left.
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let child = entry.path();
            collect_subtree(&child, out);
            out.push(child);
        }
    }
}

/// Every pid in `dir` and in the cgroups below it.
pub(crate) fn read_pids_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = read_pids(dir)?;
    for child in subtree(dir) {
        pids.extend(read_pids(&child)?);
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_parse() {
        let events = "low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed(events, "oom_kill"), Some(1));
        assert_eq!(keyed(events, "oom"), Some(2));
        assert_eq!(keyed(events, "nope"), None);
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n";
        assert_eq!(keyed(oom_control, "oom_kill"), Some(4));
    }

    #[test]
    fn write_never_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("memory.max");
        let err = write(&missing, "1").unwrap_err();
        assert!(!missing.exists());
        assert!(err.to_string().contains("controller"), "{err}");
    }

    #[test]
    fn write_replaces_content_and_read_u64_understands_max() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.max");
        fs::write(&path, "max\n").unwrap();
        assert_eq!(read_u64(&path).unwrap(), u64::MAX);
        write(&path, "1048576").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "1048576");
        assert_eq!(read_u64(&path).unwrap(), 1048576);
    }

    #[test]
    fn pids_of_a_missing_cgroup_are_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_pids(&dir.path().join("gone")).unwrap().is_empty());
        fs::write(dir.path().join(PROCS), "12\n\n34\n").unwrap();
        assert_eq!(read_pids(dir.path()).unwrap(), vec![12, 34]);
        fs::write(dir.path().join(PROCS), "12\nx\n").unwrap();
        assert!(read_pids(dir.path()).is_err());
    }
}
