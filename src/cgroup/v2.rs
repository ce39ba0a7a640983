//! cgroup v2: one leaf per limited process next to oxinit's own leaf.
//!
//! ```text
//! <our cgroup>/              cgroup.subtree_control = +memory +pids
//! ├── oxinit/                oxinit itself (and `docker exec` sessions)
//! ├── oxinit-api/            memory.max, memory.high, pids.max
//! └── oxinit-litestream/
//! ```
//!
//! The kernel's "no internal processes" rule: a non-root cgroup that holds
//! processes cannot enable controllers for its children (EBUSY). Our cgroup
//! holds oxinit itself (in a container with a cgroup namespace it is the
//! namespace root, which is *not* the real root), so we first move every
//! process into the `oxinit` leaf, then enable the controllers.

use std::io::Write;
use std::path::Path;

use nix::errno::Errno;

use super::detect::V2Target;
use super::files;
use super::layout::Layout;
use super::members::{self, Owner};
use super::process::ProcessCgroup;
use super::{cleanup_leftovers, make_dir, CgroupError, Limits, Prepared};

/// Rounds of "move what is left, try again" while processes fork into our
/// cgroup during the move.
const MOVE_ROUNDS: usize = 5;

pub(crate) fn prepare(target: &V2Target, name: &str) -> Result<Prepared, CgroupError> {
    let dir = &target.dir;
    // Only the real root cgroup lacks `cgroup.type`; it is exempt from the
    // rule, and moving a whole host's processes would be wrong there.
    let real_root = !dir.join("cgroup.type").exists();
    let leaf = dir.join(name);
    let mut moved = Vec::new();
    if !real_root {
        make_dir(&leaf)?;
        evacuate(dir, &leaf, &mut moved)?;
    }

    let subtree_control = dir.join("cgroup.subtree_control");
    let already = files::read(&subtree_control)?;
    let missing: Vec<String> = target
        .controllers
        .iter()
        .filter(|c| !already.split_whitespace().any(|e| e == c.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let value = missing
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut round = 1;
        loop {
            match files::write(&subtree_control, &value) {
                Ok(()) => break,
                // A process forked into our cgroup after the move: move it too.
                Err(err)
                    if err.errno() == Some(Errno::EBUSY) && !real_root && round < MOVE_ROUNDS =>
                {
                    round += 1;
                    evacuate(dir, &leaf, &mut moved)?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    let leftovers = cleanup_leftovers(std::slice::from_ref(dir), name);
    Ok(Prepared {
        moved,
        enabled: missing,
        leftovers,
    })
}

/// Moves every process of `from` into `to`, until a read of `from` shows no
/// pid not already moved (a real cgroup.procs empties; a fake one does not).
fn evacuate(from: &Path, to: &Path, moved: &mut Vec<i32>) -> Result<(), CgroupError> {
    let mut procs = files::open_procs(to)?;
    let target = to.join(files::PROCS);
    for _ in 0..MOVE_ROUNDS {
        let fresh: Vec<i32> = files::read_pids(from)?
            .into_iter()
            .filter(|pid| !moved.contains(pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            // One write(2) per pid: cgroupfs takes one pid per write.
            match procs.write_all(format!("{pid}\n").as_bytes()) {
                Ok(()) => moved.push(pid),
                // It exited between the read and the write.
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) => {}
                Err(source) => {
                    return Err(CgroupError::Write {
                        path: target,
                        value: pid.to_string(),
                        source,
                    })
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn create(
    target: &V2Target,
    name: &str,
    process: &str,
    limits: &Limits,
) -> Result<ProcessCgroup, CgroupError> {
    let leaf = target.dir.join(format!("{name}-{process}"));
    let fresh = make_dir(&leaf)?;
    if !fresh {
        // Left by an earlier start of this process whose removal failed:
        // reuse it, without the stragglers. Unless another oxinit runs there.
        if let Owner::Another(owner) = members::owner(&leaf, Path::new("/proc")) {
            return Err(CgroupError::InUse { path: leaf, owner });
        }
        let killed = members::kill_members(&leaf)?;
        tracing::warn!(
            "reusing cgroup {} left by an earlier run ({killed} process(es) killed)",
            leaf.display()
        );
    }
    configure(target, &leaf, limits)
        .and_then(|()| files::open_procs_fd(&leaf))
        .map(|fd| {
            let path = format!("{}/{name}-{process}", target.path.trim_end_matches('/'));
            ProcessCgroup::new(
                process,
                Layout::V2 { dir: leaf.clone() },
                vec![fd],
                limits.memory,
            )
            .with_hierarchy_path(path)
        })
        .inspect_err(|_| {
            if fresh {
                let _ = std::fs::remove_dir(&leaf);
            }
        })
}

fn configure(target: &V2Target, leaf: &Path, limits: &Limits) -> Result<(), CgroupError> {
    // memory.high is written only when configured: a new cgroup starts at
    // "max", and throttling below the hard limit is a policy the config
    // chooses, not something this layer invents.
    if let Some(high) = limits.memory_high {
        files::write(&leaf.join("memory.high"), &high.to_string())?;
    }
    if let Some(max) = limits.memory {
        files::write(&leaf.join("memory.max"), &max.to_string())?;
    }
    // On OOM, kill the whole process, not one worker of it: the supervisor
    // then sees an exit and applies the restart policy, as polling does.
    // (Linux 4.19+; older kernels lack the file.)
    let oom_group = leaf.join("memory.oom.group");
    if oom_group.exists() {
        files::write(&oom_group, "1")?;
    }
    if let Some(pids) = limits.pids {
        if target.controllers.iter().any(|c| c == "pids") {
            files::write(&leaf.join("pids.max"), &pids.to_string())?;
        } else {
            tracing::warn!(
                "pids limit for {} ignored: no pids controller in {}",
                leaf.display(),
                target.dir.display()
            );
        }
    }
    Ok(())
}
