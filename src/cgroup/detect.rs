//! Finding a cgroup hierarchy we may write to, without writing anything.
//!
//! Everything comes from two files of the (injectable) proc root:
//! `<proc>/<pid>/mountinfo` says which cgroup filesystems are mounted where,
//! from which root, and whether the mount is read-only (unprivileged Docker
//! mounts cgroupfs `ro`; mode bits would not stop root, the mount flag does);
//! `<proc>/<pid>/cgroup` says which cgroup we are in. Only mounts under
//! `Roots::cgroupfs` count, so a test can point both at a temp dir.
//!
//! Detection is read-only on purpose: `oxinit check` runs it to print how
//! limits would be enforced, and must not change the machine.

use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{access, AccessFlags};

use super::files::{self, PROCS};
use super::Roots;

/// One line of `/proc/<pid>/mountinfo`, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The path inside the filesystem that is mounted (field 4).
    pub root: String,
    pub point: PathBuf,
    /// The per-mount `ro` flag (field 6): a read-only bind of a writable
    /// filesystem is still read-only for us.
    pub read_only: bool,
    pub fstype: String,
    /// Super-block options; for cgroup v1 they name the controllers.
    pub super_options: Vec<String>,
}

pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mount_line).collect()
}

fn parse_mount_line(line: &str) -> Option<Mount> {
    // id parent major:minor root point options [optional…] - fstype source super
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    if left.len() < 6 || right.len() < 3 {
        return None;
    }
    Some(Mount {
        root: unescape(left[3]),
        point: PathBuf::from(unescape(left[4])),
        read_only: left[5].split(',').any(|o| o == "ro"),
        fstype: right[0].to_owned(),
        super_options: right[2].split(',').map(str::to_owned).collect(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(value) = bytes.get(i + 1..i + 4).and_then(octal) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal(digits: &[u8]) -> Option<u8> {
    let value = digits.iter().try_fold(0u16, |acc, &d| {
        (b'0'..=b'7')
            .contains(&d)
            .then(|| acc * 8 + u16::from(d - b'0'))
    })?;
    u8::try_from(value).ok()
}

/// Our place in each hierarchy, from `/proc/<pid>/cgroup`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Membership {
    /// The `0::/path` line (cgroup v2).
    pub unified: Option<String>,
    /// `N:ctrl1,ctrl2:/path` lines (cgroup v1).
    pub legacy: Vec<(Vec<String>, String)>,
}

impl Membership {
    pub fn legacy_path(&self, controller: &str) -> Option<&str> {
        self.legacy
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, path)| path.as_str())
    }
}

pub(crate) fn parse_proc_cgroup(text: &str) -> Membership {
    let mut membership = Membership::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            membership.unified = Some(path.to_owned());
        } else if !controllers.is_empty() {
            let controllers = controllers.split(',').map(str::to_owned).collect();
            membership.legacy.push((controllers, path.to_owned()));
        }
    }
    membership
}

/// The directory of cgroup `path` under `mount`, if the mount shows it.
fn cgroup_dir(mount: &Mount, path: &str) -> Result<PathBuf, String> {
    if Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(format!(
            "our cgroup {path} lies outside this cgroup namespace"
        ));
    }
    let relative = if mount.root == "/" {
        path
    } else if path == mount.root {
        ""
    } else if let Some(rest) = path
        .strip_prefix(mount.root.as_str())
        .filter(|rest| rest.starts_with('/'))
    {
        rest
    } else {
        return Err(format!(
            "our cgroup {path} is not visible in the mount at {} (it shows {})",
            mount.point.display(),
            mount.root
        ));
    };
    let relative = relative.trim_start_matches('/');
    // join("") would add a trailing slash to every message.
    Ok(if relative.is_empty() {
        mount.point.clone()
    } else {
        mount.point.join(relative)
    })
}

/// "cannot write PATH: read-only file system" when access(2) refuses.
fn check_writable(path: &Path) -> Result<(), String> {
    access(path, AccessFlags::W_OK).map_err(|errno| {
        format!(
            "cannot write {}: {}",
            path.display(),
            errno.desc().to_lowercase()
        )
    })
}

/// What `detect` learned from the proc root, or why it could not.
pub(crate) struct Facts {
    pub mounts: Vec<Mount>,
    pub membership: Membership,
}

pub(crate) fn read_facts(roots: &Roots, pid: u32) -> Result<Facts, String> {
    let proc_dir = roots.proc.join(pid.to_string());
    let read = |name: &str| {
        let path = proc_dir.join(name);
        fs::read_to_string(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    Ok(Facts {
        mounts: parse_mountinfo(&read("mountinfo")?),
        membership: parse_proc_cgroup(&read("cgroup")?),
    })
}

/// The visible mounts under the cgroupfs root. A mount is hidden by any later
/// one at its point or above it: `docker run -v
/// /sys/fs/cgroup/memory:/sys/fs/cgroup/memory:rw` stacks the host's writable
/// hierarchy on Docker's read-only one, and mountinfo lists both, the visible
/// one last.
fn under_cgroupfs<'a>(facts: &'a Facts, roots: &'a Roots) -> impl Iterator<Item = &'a Mount> + 'a {
    let mounts = &facts.mounts;
    mounts.iter().enumerate().filter_map(move |(i, m)| {
        let hidden = mounts[i + 1..]
            .iter()
            .any(|later| m.point.starts_with(&later.point));
        (m.point.starts_with(&roots.cgroupfs) && !hidden).then_some(m)
    })
}

/// A writable cgroup2 directory of ours with the memory controller.
#[derive(Debug, Clone)]
pub(crate) struct V2Target {
    pub dir: PathBuf,
    /// `dir`'s path from the hierarchy's root (the `0::` line of
    /// /proc/<pid>/cgroup): how the kernel log names it.
    pub path: String,
    /// The controllers we use that `cgroup.controllers` offers.
    pub controllers: Vec<String>,
}

pub(crate) fn probe_v2(facts: &Facts, roots: &Roots) -> Result<V2Target, String> {
    let mount = under_cgroupfs(facts, roots)
        .find(|m| m.fstype == "cgroup2")
        .ok_or_else(|| format!("no cgroup2 mount under {}", roots.cgroupfs.display()))?;
    let path = facts
        .membership
        .unified
        .as_deref()
        .ok_or("our /proc/<pid>/cgroup has no cgroup2 (0::) line")?;
    let dir = cgroup_dir(mount, path)?;
    let subtree_control = dir.join("cgroup.subtree_control");
    if mount.read_only {
        return Err(format!(
            "cannot write {}: read-only file system (cgroup2 at {} is mounted read-only)",
            subtree_control.display(),
            mount.point.display()
        ));
    }
    let listed = files::read(&dir.join("cgroup.controllers")).map_err(|e| e.to_string())?;
    let listed: Vec<&str> = listed.split_whitespace().collect();
    if !listed.contains(&"memory") {
        return Err(format!(
            "cgroup2 at {} offers no memory controller to {} (cgroup.controllers: {:?})",
            mount.point.display(),
            dir.display(),
            listed.join(" ")
        ));
    }
    for path in [dir.as_path(), &subtree_control, &dir.join(PROCS)] {
        check_writable(path)?;
    }
    let controllers = ["memory", "pids"]
        .into_iter()
        .filter(|c| listed.contains(c))
        .map(str::to_owned)
        .collect();
    Ok(V2Target {
        dir,
        path: path.to_owned(),
        controllers,
    })
}

/// Our writable cgroup v1 directories: memory (required), pids and cpuacct
/// (used when present and writable).
#[derive(Debug, Clone)]
pub(crate) struct V1Target {
    pub memory: PathBuf,
    /// `memory`'s path from the hierarchy's root (/proc/<pid>/cgroup).
    pub memory_path: String,
    pub pids: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    /// Why pids or cpuacct are not used, for the reason text.
    pub notes: Vec<String>,
}

pub(crate) fn probe_v1(facts: &Facts, roots: &Roots) -> Result<V1Target, String> {
    let memory = v1_dir(facts, roots, "memory")?;
    let memory_path = facts
        .membership
        .legacy_path("memory")
        .unwrap_or_default()
        .to_owned();
    let mut notes = Vec::new();
    let mut optional = |controller: &str| {
        v1_dir(facts, roots, controller)
            .map_err(|why| notes.push(why))
            .ok()
    };
    let pids = optional("pids");
    let cpuacct = optional("cpuacct");
    Ok(V1Target {
        memory,
        memory_path,
        pids,
        cpuacct,
        notes,
    })
}

fn v1_dir(facts: &Facts, roots: &Roots, controller: &str) -> Result<PathBuf, String> {
    let mount = under_cgroupfs(facts, roots)
        .find(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller))
        .ok_or_else(|| {
            format!(
                "no cgroup v1 {controller} hierarchy under {}",
                roots.cgroupfs.display()
            )
        })?;
    let path = facts
        .membership
        .legacy_path(controller)
        .ok_or_else(|| format!("our /proc/<pid>/cgroup has no {controller} line"))?;
    let dir = cgroup_dir(mount, path)?;
    if mount.read_only {
        return Err(format!(
            "cannot write {}: read-only file system (cgroup v1 {controller} hierarchy at {} \
             is mounted read-only)",
            dir.display(),
            mount.point.display()
        ));
    }
    if !dir.join(PROCS).is_file() {
        return Err(format!(
            "our {controller} cgroup {} does not exist",
            dir.display()
        ));
    }
    check_writable(&dir)?;
    Ok(dir)
}

/// Joins reasons into one sentence-like string.
pub(crate) fn join_reasons(reasons: &[String]) -> String {
    let mut out = String::new();
    for (i, reason) in reasons.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(out, "{reason}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:9 - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_fields_and_optional_fields() {
        let mounts = parse_mountinfo(HYBRID);
        assert_eq!(mounts.len(), 6);
        let pids = &mounts[4];
        assert_eq!(pids.point, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(pids.fstype, "cgroup");
        assert_eq!(pids.super_options, vec!["rw", "pids"]);
        assert!(!pids.read_only);
        let ro = parse_mountinfo(
            "90 80 0:26 /docker/abc /sys/fs/cgroup ro,nosuid,nodev master:3 - cgroup2 cgroup rw,nsdelegate",
        );
        assert!(ro[0].read_only);
        assert_eq!(ro[0].root, "/docker/abc");
    }

    #[test]
    fn a_mount_stacked_on_another_hides_it() {
        // `docker run -v /sys/fs/cgroup/memory:/sys/fs/cgroup/memory:rw` on a
        // v1 host: Docker's read-only mount of the container's own cgroup,
        // then the host's whole writable hierarchy on top of it.
        let facts = Facts {
            mounts: parse_mountinfo(
                "85 84 0:47 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755\n\
                 89 85 0:32 /docker/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n\
                 93 85 0:36 /docker/c1 /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids\n\
                 100 89 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
            ),
            membership: parse_proc_cgroup("8:pids:/docker/c1\n4:memory:/docker/c1\n"),
        };
        let roots = Roots {
            proc: "/proc".into(),
            cgroupfs: "/sys/fs/cgroup".into(),
        };
        let visible: Vec<&str> = under_cgroupfs(&facts, &roots)
            .map(|m| m.root.as_str())
            .collect();
        assert_eq!(
            visible,
            ["/", "/docker/c1", "/"],
            "tmpfs, pids, the host's memory"
        );
        let memory = under_cgroupfs(&facts, &roots)
            .find(|m| m.super_options.iter().any(|o| o == "memory"))
            .unwrap();
        assert!(
            !memory.read_only,
            "the writable mount on top is the one used"
        );
        // A later mount above them hides everything below it.
        let mut all = facts.mounts.clone();
        all.extend(parse_mountinfo(
            "101 84 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
        ));
        let facts = Facts {
            mounts: all,
            ..facts
        };
        assert_eq!(under_cgroupfs(&facts, &roots).count(), 1);
    }

    #[test]
    fn mountinfo_octal_escapes() {
        let m = parse_mountinfo("1 2 0:1 / /mnt/a\\040b\\134c rw - cgroup2 cgroup2 rw");
        assert_eq!(m[0].point, Path::new("/mnt/a b\\c"));
        assert_eq!(unescape("tail\\04"), "tail\\04");
    }

    #[test]
    fn proc_cgroup_lines() {
        let m = parse_proc_cgroup(
            "9:name=systemd:/\n4:memory:/process_api/bb4a\n2:cpu,cpuacct:/x\n0::/\n",
        );
        assert_eq!(m.unified.as_deref(), Some("/"));
        assert_eq!(m.legacy_path("memory"), Some("/process_api/bb4a"));
        assert_eq!(m.legacy_path("cpuacct"), Some("/x"));
        assert_eq!(m.legacy_path("pids"), None);
    }

    #[test]
    fn cgroup_dir_honours_the_mount_root() {
        let mount = |root: &str| Mount {
            root: root.into(),
            point: "/sys/fs/cgroup".into(),
            read_only: false,
            fstype: "cgroup2".into(),
            super_options: vec![],
        };
        assert_eq!(
            cgroup_dir(&mount("/"), "/a/b").unwrap(),
            Path::new("/sys/fs/cgroup/a/b")
        );
        assert_eq!(
            cgroup_dir(&mount("/docker/c1"), "/docker/c1")
                .unwrap()
                .as_os_str(),
            "/sys/fs/cgroup"
        );
        assert_eq!(
            cgroup_dir(&mount("/"), "/").unwrap().as_os_str(),
            "/sys/fs/cgroup"
        );
        assert_eq!(
            cgroup_dir(&mount("/docker/c1"), "/docker/c1/sub").unwrap(),
            Path::new("/sys/fs/cgroup/sub")
        );
        assert!(cgroup_dir(&mount("/docker/c1"), "/docker/c10").is_err());
        assert!(cgroup_dir(&mount("/"), "/../../user.slice").is_err());
    }
}
