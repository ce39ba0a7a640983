//! Filesystems a test mounts in its scratch dir (root only): a tmpfs or an
//! overlay, to put a database where it would not survive the container.
//! Unmounted when dropped, even after a failed assertion.
//!
//! Include with `#[path = "common/mounts.rs"] mod mounts;` after `mod common;`.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{run, ExitCode};

pub struct Mount {
    target: PathBuf,
}

impl Mount {
    /// A small tmpfs at `target` (created).
    pub fn tmpfs(target: &Path) -> Mount {
        fs::create_dir_all(target).expect("create the tmpfs mount point");
        mount(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], target)
    }

    /// An overlay at `target`, its layers next to it in `layers` (all created):
    /// what a container's root filesystem is.
    pub fn overlay(target: &Path, layers: &Path) -> Mount {
        let [lower, upper, work] = ["lower", "upper", "work"].map(|d| layers.join(d));
        for dir in [target, &lower, &upper, &work] {
            fs::create_dir_all(dir).expect("create an overlay directory");
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        mount(&["-t", "overlay", "-o", &options, "overlay"], target)
    }

    pub fn path(&self) -> &Path {
        &self.target
    }
}

fn mount(args: &[&str], target: &Path) -> Mount {
    let out = run(
        Command::new("mount").args(args).arg(target),
        Duration::from_secs(10),
    );
    assert_eq!(
        out.code,
        ExitCode::Code(0),
        "mount {args:?} {target:?}: {out:?}"
    );
    Mount {
        target: target.to_owned(),
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.target).status();
        if !status.is_ok_and(|s| s.success()) {
            // Busy (a process still has a file open there): detach it now,
            // the kernel frees it when the last user is gone.
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}
