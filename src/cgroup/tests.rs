//! Detection, prepare and create on a fake cgroupfs in a temp dir, holding
//! the files a real mount would have; plus cgroup v2 operations on this
//! machine's real cgroup2 mount when run as root.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::sys::spawn::{join_before_exec, join_from_child};

const PID: u32 = 4242;

/// A fake machine: `<tmp>/proc/<PID>/{mountinfo,cgroup}` and a cgroupfs
/// root at `<tmp>/cgroup`.
struct Fake {
    _tmp: tempfile::TempDir,
    roots: Roots,
}

impl Fake {
    fn new(mountinfo: &str, proc_cgroup: &str) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let roots = Roots {
            cgroupfs: tmp.path().join("cgroup"),
            proc: tmp.path().join("proc"),
        };
        let proc_dir = roots.proc.join(PID.to_string());
        fs::create_dir_all(&proc_dir).unwrap();
        fs::create_dir_all(&roots.cgroupfs).unwrap();
        let mountinfo = mountinfo.replace("{cg}", roots.cgroupfs.to_str().unwrap());
        fs::write(proc_dir.join("mountinfo"), mountinfo).unwrap();
        fs::write(proc_dir.join("cgroup"), proc_cgroup).unwrap();
        Fake { _tmp: tmp, roots }
    }

    /// A cgroup2 mount at the cgroupfs root, us in its (namespace) root.
    fn v2(mount_options: &str, controllers: &str) -> Fake {
        let fake = Fake::new(
            &format!("30 20 0:26 / {{cg}} {mount_options} - cgroup2 cgroup2 rw,nsdelegate\n"),
            "0::/\n",
        );
        fake.cgroup(
            "",
            &[
                ("cgroup.controllers", &format!("{controllers}\n")),
                ("cgroup.procs", "1\n7\n"),
                ("cgroup.subtree_control", ""),
                ("cgroup.type", "domain\n"),
            ],
        );
        fake.cgroup("oxinit", &[("cgroup.procs", "")]);
        fake
    }

    /// The hybrid layout of Fly.io and CI: v1 memory and pids, an empty
    /// cgroup2 at `unified`.
    fn hybrid() -> Fake {
        let fake = Fake::new(
            "\
31 23 0:28 / {cg} rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / {cg}/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / {cg}/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / {cg}/unified rw,relatime - cgroup2 cgroup2 rw
",
            "8:pids:/\n4:memory:/a/b\n0::/\n",
        );
        fake.cgroup("unified", &[("cgroup.controllers", "hugetlb\n")]);
        fake.cgroup(
            "memory/a/b",
            &[
                ("cgroup.procs", "7\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
            ],
        );
        fake.cgroup("pids", &[("cgroup.procs", "1\n")]);
        fake
    }

    fn cgroup(&self, rel: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.roots.cgroupfs.join(rel);
        fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            fs::write(dir.join(name), content).unwrap();
        }
        dir
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.roots.cgroupfs.join(rel)).unwrap()
    }

    fn detect(&self, requested: Requested) -> Result<Enforcement, CgroupError> {
        detect(requested, &self.roots, PID)
    }
}

/// The files the kernel creates in a new v2 leaf with memory and pids on.
fn v2_leaf_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cgroup.procs", ""),
        ("memory.max", "max\n"),
        ("memory.high", "max\n"),
        ("memory.oom.group", "0\n"),
        ("pids.max", "max\n"),
    ]
}

#[test]
fn detect_picks_v2_on_a_writable_cgroup2_with_memory() {
    let fake = Fake::v2(
        "rw,nosuid,nodev,noexec,relatime",
        "cpuset cpu io memory pids",
    );
    let enforcement = fake.detect(Requested::Auto).unwrap();
    assert_eq!(enforcement.mode(), Mode::V2);
    assert_eq!(enforcement.mode().as_str(), "cgroup2");
    assert!(
        enforcement.reason().contains("is writable"),
        "{}",
        enforcement.reason()
    );
    assert_eq!(
        enforcement.cgroup_dir(),
        Some(fake.roots.cgroupfs.as_path())
    );
    assert!(enforcement.supports_pids());
    assert!(enforcement.supports_memory_high());
}

#[test]
fn detect_follows_the_mount_root_to_our_cgroup() {
    // cgroupns=host: the mount shows /docker/c1, and that is our cgroup.
    let fake = Fake::new(
        "30 20 0:26 /docker/c1 {cg} rw,relatime - cgroup2 cgroup2 rw\n",
        "0::/docker/c1/inner\n",
    );
    fake.cgroup(
        "inner",
        &[
            ("cgroup.controllers", "memory\n"),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
        ],
    );
    let enforcement = fake.detect(Requested::Cgroup).unwrap();
    assert_eq!(
        enforcement.cgroup_dir(),
        Some(fake.roots.cgroupfs.join("inner").as_path())
    );
    assert!(!enforcement.supports_pids());
}

#[test]
fn prepare_moves_our_processes_into_the_leaf_then_enables_controllers() {
    let fake = Fake::v2("rw,relatime", "cpuset cpu io memory pids");
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    assert_eq!(fake.read("oxinit/cgroup.procs"), "1\n7\n");
    assert_eq!(prepared.moved, vec![1, 7]);
    assert_eq!(fake.read("cgroup.subtree_control"), "+memory +pids");
    assert_eq!(prepared.enabled, vec!["memory", "pids"]);
}

#[test]
fn prepare_enables_only_offered_controllers_not_yet_enabled() {
    let fake = Fake::v2("rw", "cpu memory");
    fake.cgroup("", &[("cgroup.subtree_control", "cpu\n")]);
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    assert_eq!(fake.read("cgroup.subtree_control"), "+memory");
    assert_eq!(prepared.enabled, vec!["memory"]);

    let fake = Fake::v2("rw", "memory pids");
    fake.cgroup("", &[("cgroup.subtree_control", "memory pids\n")]);
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    assert_eq!(fake.read("cgroup.subtree_control"), "memory pids\n");
    assert!(prepared.enabled.is_empty());
}

#[test]
fn prepare_in_the_real_root_cgroup_moves_nothing() {
    // The real root has no cgroup.type and is exempt from the rule.
    let fake = Fake::v2("rw", "memory pids");
    fs::remove_file(fake.roots.cgroupfs.join("cgroup.type")).unwrap();
    fs::remove_dir_all(fake.roots.cgroupfs.join("oxinit")).unwrap();
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    assert!(prepared.moved.is_empty());
    assert!(!fake.roots.cgroupfs.join("oxinit").exists());
    assert_eq!(fake.read("cgroup.subtree_control"), "+memory +pids");
}

#[test]
fn prepare_removes_only_our_leftovers() {
    let fake = Fake::v2("rw", "memory pids");
    fake.cgroup("oxinit-api", &[]);
    fake.cgroup("oxinit-worker/nested", &[]);
    fake.cgroup("other-app", &[]);
    fake.cgroup("oxinitx-api", &[]);
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    let mut removed = prepared.leftovers.removed.clone();
    removed.sort();
    assert_eq!(
        removed,
        vec![
            fake.roots.cgroupfs.join("oxinit-api"),
            fake.roots.cgroupfs.join("oxinit-worker")
        ]
    );
    assert!(
        prepared.leftovers.failed.is_empty(),
        "{:?}",
        prepared.leftovers.failed
    );
    for kept in ["oxinit", "other-app", "oxinitx-api"] {
        assert!(
            fake.roots.cgroupfs.join(kept).is_dir(),
            "{kept} was removed"
        );
    }
}

#[test]
fn leftover_members_are_killed_before_removal() {
    let fake = Fake::v2("rw", "memory pids");
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    fake.cgroup(
        "oxinit-api",
        &[("cgroup.procs", &format!("{}\n", victim.id()))],
    );
    let prepared = fake.detect(Requested::Auto).unwrap().prepare().unwrap();
    assert_eq!(victim.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(prepared.leftovers.killed, 1);
    // A fake cgroup dir holds a regular file, so rmdir fails: reported, not
    // fatal.
    assert_eq!(prepared.leftovers.failed.len(), 1);
}

#[test]
fn leftovers_with_cgroup_kill_use_it() {
    let fake = Fake::v2("rw", "memory pids");
    let dir = fake.cgroup("oxinit-api", &[("cgroup.kill", ""), ("cgroup.procs", "")]);
    let cleanup = fake.detect(Requested::Auto).unwrap().cleanup();
    assert_eq!(fs::read_to_string(dir.join("cgroup.kill")).unwrap(), "1");
    assert_eq!(cleanup.failed.len(), 1, "the fake dir cannot be removed");
}

#[test]
fn create_v2_writes_limits_and_the_child_joins_through_the_fd() {
    let fake = Fake::v2("rw", "memory pids");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup("oxinit-api", &v2_leaf_files());
    let limits = Limits {
        memory: Some(512 << 20),
        memory_high: None,
        pids: Some(64),
    };
    let mut cg = enforcement.create("api", &limits).unwrap();
    assert_eq!(fake.read("oxinit-api/memory.max"), "536870912");
    assert_eq!(
        fake.read("oxinit-api/memory.high"),
        "max\n",
        "unset: left alone"
    );
    assert_eq!(fake.read("oxinit-api/pids.max"), "64");
    assert_eq!(fake.read("oxinit-api/memory.oom.group"), "1");
    assert_eq!(cg.memory_limit(), Some(512 << 20));
    assert_eq!(cg.path(), fake.roots.cgroupfs.join("oxinit-api"));

    let fds = cg.procs_fds();
    assert_eq!(fds.len(), 1);
    join_from_child(&fds).unwrap();
    assert_eq!(fake.read("oxinit-api/cgroup.procs"), "0");
    assert_eq!(
        fake.read("cgroup.procs"),
        "1\n7\n",
        "our own cgroup untouched"
    );
    cg.close_procs_fds();
    assert!(cg.procs_fds().is_empty());
}

#[test]
fn create_v2_writes_memory_high_when_set_and_skips_pids_without_controller() {
    let fake = Fake::v2("rw", "memory");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup("oxinit-api", &v2_leaf_files());
    let limits = Limits {
        memory: Some(1 << 30),
        memory_high: Some(900 << 20),
        pids: Some(10),
    };
    enforcement.create("api", &limits).unwrap();
    assert_eq!(
        fake.read("oxinit-api/memory.high"),
        (900u64 << 20).to_string()
    );
    assert_eq!(fake.read("oxinit-api/pids.max"), "max\n");
}

#[test]
fn create_failure_removes_the_new_directory_and_says_why() {
    // mkdir on a fake cgroupfs makes an empty directory: memory.max is
    // missing, as it would be without the memory controller.
    let fake = Fake::v2("rw", "memory pids");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    let limits = Limits {
        memory: Some(1 << 20),
        ..Limits::default()
    };
    let err = enforcement.create("api", &limits).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("oxinit-api/memory.max"), "{text}");
    assert!(text.contains("controller"), "{text}");
    assert!(!fake.roots.cgroupfs.join("oxinit-api").exists());
    assert!(!fake.roots.cgroupfs.join("oxinit-api/memory.max").exists());
}

#[test]
fn read_only_cgroupfs_falls_back_to_polling_and_says_what_to_do() {
    let fake = Fake::v2("ro,nosuid,nodev,noexec,relatime", "memory pids");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    assert_eq!(enforcement.mode(), Mode::Poll);
    let reason = enforcement.reason();
    let expected = format!(
        "cannot write {}/cgroup.subtree_control: read-only file system",
        fake.roots.cgroupfs.display()
    );
    assert!(reason.starts_with(&expected), "{reason}");
    assert!(reason.contains("Memory limits use polling"), "{reason}");
    assert!(reason.contains("--privileged"), "{reason}");

    let err = fake.detect(Requested::Cgroup).unwrap_err();
    assert!(matches!(err, CgroupError::Unavailable { .. }));
    let text = err.to_string();
    assert!(text.contains("read-only file system"), "{text}");
    assert!(text.contains("memory_enforcement = \"auto\""), "{text}");

    let (enforcement, prepared) = setup(Requested::Auto, &fake.roots, PID).unwrap();
    assert_eq!(enforcement.mode(), Mode::Poll);
    assert!(prepared.moved.is_empty());
    assert_eq!(fake.read("cgroup.procs"), "1\n7\n");
}

#[test]
fn hybrid_layout_picks_v1_and_explains_why_not_v2() {
    let fake = Fake::hybrid();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    assert_eq!(enforcement.mode(), Mode::V1);
    assert_eq!(enforcement.mode().as_str(), "cgroup1");
    let reason = enforcement.reason();
    assert!(reason.contains("offers no memory controller"), "{reason}");
    assert!(
        reason.contains("no cgroup v1 cpuacct hierarchy"),
        "{reason}"
    );
    assert_eq!(
        enforcement.cgroup_dir(),
        Some(fake.roots.cgroupfs.join("memory/a/b").as_path())
    );
    assert!(enforcement.supports_pids());
    assert!(!enforcement.supports_memory_high());
}

#[test]
fn create_v1_writes_limit_and_pids_and_opens_both_procs() {
    let fake = Fake::hybrid();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    let prepared = enforcement.prepare().unwrap();
    assert!(prepared.moved.is_empty(), "v1 moves nothing");
    assert_eq!(fake.read("memory/a/b/cgroup.procs"), "7\n");
    fake.cgroup(
        "memory/a/b/oxinit-api",
        &[
            ("cgroup.procs", ""),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
        ],
    );
    fake.cgroup(
        "pids/oxinit-api",
        &[("cgroup.procs", ""), ("pids.max", "max\n")],
    );
    let limits = Limits {
        memory: Some(64 << 20),
        memory_high: Some(60 << 20),
        pids: Some(32),
    };
    let cg = enforcement.create("api", &limits).unwrap();
    assert_eq!(
        fake.read("memory/a/b/oxinit-api/memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(fake.read("pids/oxinit-api/pids.max"), "32");
    assert_eq!(cg.paths().len(), 2);
    let fds = cg.procs_fds();
    assert_eq!(fds.len(), 2);
    join_from_child(&fds).unwrap();
    assert_eq!(fake.read("memory/a/b/oxinit-api/cgroup.procs"), "0");
    assert_eq!(fake.read("pids/oxinit-api/cgroup.procs"), "0");
}

#[test]
fn v1_without_pids_limit_makes_no_pids_cgroup() {
    let fake = Fake::hybrid();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    fake.cgroup(
        "memory/a/b/oxinit-api",
        &[("cgroup.procs", ""), ("memory.limit_in_bytes", "0\n")],
    );
    let cg = enforcement
        .create(
            "api",
            &Limits {
                memory: Some(1 << 20),
                ..Limits::default()
            },
        )
        .unwrap();
    assert_eq!(cg.procs_fds().len(), 1);
    assert!(!fake.roots.cgroupfs.join("pids/oxinit-api").exists());
}

#[test]
fn polling_when_asked_and_no_cgroup_to_create() {
    let fake = Fake::v2("rw", "memory pids");
    let enforcement = fake.detect(Requested::Poll).unwrap();
    assert_eq!(enforcement.mode(), Mode::Poll);
    assert!(enforcement
        .reason()
        .contains("memory_enforcement = \"poll\""));
    let err = enforcement.create("api", &Limits::default()).unwrap_err();
    assert!(matches!(err, CgroupError::PollMode { .. }), "{err}");
    assert!(enforcement.prepare().unwrap().moved.is_empty());
    assert_eq!(fake.read("cgroup.procs"), "1\n7\n");
}

#[test]
fn unreadable_proc_means_polling_or_an_error() {
    let fake = Fake::v2("rw", "memory");
    fs::remove_file(fake.roots.proc.join(PID.to_string()).join("mountinfo")).unwrap();
    let enforcement = fake.detect(Requested::Auto).unwrap();
    assert_eq!(enforcement.mode(), Mode::Poll);
    assert!(
        enforcement.reason().starts_with("cannot read "),
        "{}",
        enforcement.reason()
    );
    assert!(fake.detect(Requested::Cgroup).is_err());
}

#[test]
fn no_cgroup_mounts_at_all() {
    let fake = Fake::new("22 1 0:21 / /proc rw - proc proc rw\n", "0::/\n");
    let reason = fake.detect(Requested::Auto).unwrap().reason().to_owned();
    assert!(reason.contains("no cgroup2 mount under"), "{reason}");
    assert!(reason.contains("no cgroup v1 memory hierarchy"), "{reason}");
}

#[test]
fn names_must_be_one_path_component() {
    let fake = Fake::v2("rw", "memory");
    let enforcement = fake.detect(Requested::Auto).unwrap();
    for bad in ["", "a/b", "..", "."] {
        let err = enforcement.create(bad, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(enforcement.clone().with_name("x/y").is_err());
}

#[test]
fn with_name_changes_the_leaf_and_the_leftover_prefix() {
    let fake = Fake::v2("rw", "memory");
    fake.cgroup("t1", &[("cgroup.procs", "")]);
    fake.cgroup("oxinit-api", &[]);
    fake.cgroup("t1-api", &[]);
    let enforcement = fake
        .detect(Requested::Auto)
        .unwrap()
        .with_name("t1")
        .unwrap();
    let prepared = enforcement.prepare().unwrap();
    assert_eq!(fake.read("t1/cgroup.procs"), "1\n7\n");
    assert_eq!(
        prepared.leftovers.removed,
        vec![fake.roots.cgroupfs.join("t1-api")]
    );
    assert!(fake.roots.cgroupfs.join("oxinit-api").is_dir());
}

#[test]
fn requested_parses() {
    assert_eq!("auto".parse::<Requested>().unwrap(), Requested::Auto);
    assert_eq!("cgroup".parse::<Requested>().unwrap(), Requested::Cgroup);
    assert_eq!("poll".parse::<Requested>().unwrap(), Requested::Poll);
    assert!("cgroups"
        .parse::<Requested>()
        .unwrap_err()
        .contains("\"auto\""));
    assert_eq!(Requested::default(), Requested::Auto);
}

// ---- the real cgroup2 mount (root only) --------------------------------

/// True when root-only tests may run; prints SKIP otherwise, and panics
/// under CI=true, where skipping would hide a broken test.
fn running_as_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root, and CI=true forbids skipping it"
    );
    println!("SKIP: {test} needs root");
    false
}

/// Our cgroup in the machine's cgroup2 mount, if there is a writable one.
fn real_v2_dir() -> Option<PathBuf> {
    let roots = Roots::default();
    let facts = detect::read_facts(&roots, std::process::id()).ok()?;
    let mount = facts
        .mounts
        .iter()
        .find(|m| m.fstype == "cgroup2" && m.point.starts_with(&roots.cgroupfs) && !m.read_only)?;
    let path = facts.membership.unified.as_deref()?;
    let dir = mount.point.join(path.trim_start_matches('/'));
    dir.join("cgroup.procs").is_file().then_some(dir)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn real_v2_join_members_cpu_kill_and_remove() {
    if !running_as_root("real_v2_join_members_cpu_kill_and_remove") {
        return;
    }
    let Some(dir) = real_v2_dir() else {
        println!("SKIP: no writable cgroup2 mount of ours under /sys/fs/cgroup");
        return;
    };
    // Our cgroup is the real root on this machine (exempt from the no
    // internal processes rule) or a leaf we must not touch: only create a
    // child without controllers, which is allowed in both.
    if dir.join("cgroup.type").exists() {
        println!(
            "SKIP: our cgroup2 {} is not the root; not touching it",
            dir.display()
        );
        return;
    }
    let target = detect::V2Target {
        dir: dir.clone(),
        path: "/".into(),
        controllers: vec![],
    };
    let name = format!("oxt{}v2", std::process::id());
    let mut cg = v2::create(&target, &name, "probe", &Limits::default()).unwrap();
    let leaf = cg.path().to_owned();
    // Even when an assertion fails: kill what is inside, remove the leaf.
    struct Tidy(PathBuf);
    impl Drop for Tidy {
        fn drop(&mut self) {
            let _ = members::remove_tree(&self.0);
        }
    }
    let _tidy = Tidy(leaf.clone());
    assert_eq!(leaf, dir.join(format!("{name}-probe")));
    let fds = cg.procs_fds();
    let mut sh = Command::new("sh");
    sh.args([
        "-c",
        "sleep 60 & i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; wait",
    ]);
    let mut child = join_before_exec(&mut sh, fds).spawn().unwrap();
    cg.close_procs_fds();
    let own_cgroup = fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    assert!(
        own_cgroup.contains(&format!("{name}-probe")),
        "{own_cgroup}"
    );
    wait_until("sh and its sleep in the cgroup", || {
        cg.members()
            .is_ok_and(|m| m.len() == 2 && m.contains(&(child.id() as i32)))
    });
    wait_until("CPU time to show", || {
        cg.cpu_seconds().is_some_and(|s| s > 0.0)
    });
    assert!(cg.kill_all().unwrap() >= 2);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    wait_until("the cgroup to empty", || {
        cg.members().is_ok_and(|m| m.is_empty())
    });
    cg.remove().unwrap();
    assert!(!Path::new(&leaf).exists());
}

mod oom;
