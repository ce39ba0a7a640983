//! Replicators, and the dependencies they imply.
//!
//! A replicator (Litestream) must run while anything writes the database and
//! stop after it, so its final sync ships the last writes. Writing that down
//! as `depends_on = ["litestream"]` on every other process is easy to forget,
//! and forgetting it loses data silently at every deploy. So:
//!
//! - A service whose command is `litestream replicate …` is a replicator
//!   unless `replicator = false`; `replicator = true` makes any service one (a
//!   custom backup sidecar). Oneshots and jobs never are (`litestream
//!   restore` is a oneshot).
//! - Every other service and job implicitly depends on every replicator, so
//!   replicators start before them and stop after them — unless the
//!   replicator depends on it (that edge would close a cycle): then the
//!   written `depends_on` wins.
//! - A replicator without a `depends_on` of its own waits for the boot
//!   oneshots (restore, migrate) that do not depend on it, so it never
//!   replicates a database that is still being restored. A written
//!   `depends_on` is authoritative: then it waits for exactly that.
//!
//! Detection: `argv[0]` is `litestream` (by basename: `/usr/local/bin/
//! litestream` counts) and `argv[1]` is `replicate`. Through a shell
//! (`sh -c '…'`, also bash, dash, ash), the script counts when one of its
//! commands, at the start or after `exec`, `;`, `&&`, `||` or `|`, is
//! `litestream replicate`, e.g. `litestream restore … && exec litestream
//! replicate`. Anything cleverer: set `replicator = true`.

use super::schema::{Kind, ProcessSpec};

/// Why a process is a replicator, for `check`.
pub fn reason(spec: &ProcessSpec) -> Option<&'static str> {
    if spec.kind() != Kind::Service {
        return None;
    }
    match spec.replicator {
        Some(true) => Some("replicator = true"),
        Some(false) => None,
        None if runs_litestream_replicate(&spec.argv) => {
            Some("its command is litestream replicate")
        }
        None => None,
    }
}

pub fn is_replicator(spec: &ProcessSpec) -> bool {
    reason(spec).is_some()
}

/// `litestream replicate …`, directly or as a command of an `sh -c` script.
pub fn runs_litestream_replicate(argv: &[String]) -> bool {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    if is_litestream_replicate(&words) {
        return true;
    }
    let shells = ["sh", "bash", "dash", "ash"];
    let [shell, flags, script, ..] = words[..] else {
        return false;
    };
    let shell_c = flags.starts_with('-') && !flags.starts_with("--") && flags.contains('c');
    if !shells.contains(&basename(shell)) || !shell_c {
        return false;
    }
    let tokens = shlex::split(script)
        .unwrap_or_else(|| script.split_whitespace().map(str::to_string).collect());
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    (0..tokens.len()).any(|i| {
        let at_command = i == 0 || {
            let before = tokens[i - 1];
            ["exec", ";", "&&", "||", "|"].contains(&before)
                || before.ends_with(';')
                || before.ends_with("&&")
        };
        at_command && is_litestream_replicate(&tokens[i..])
    })
}

fn is_litestream_replicate(words: &[&str]) -> bool {
    matches!(words, [program, "replicate", ..] if basename(program) == "litestream")
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Every process's dependencies by index: what `depends_on` says (unknown
/// names left out), plus the edges replicators imply (see the module doc),
/// added in file order and only where they close no cycle.
pub fn dependencies(processes: &[ProcessSpec]) -> Vec<Vec<usize>> {
    // By map, not by scan: 10,000 processes with 50 dependencies each must
    // stay linear (issue 15).
    let index: std::collections::HashMap<&str, usize> = processes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut deps: Vec<Vec<usize>> = processes
        .iter()
        .map(|p| {
            p.depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let replicators: Vec<usize> = (0..processes.len())
        .filter(|&i| is_replicator(&processes[i]))
        .collect();
    // First what replicators wait for, then what waits for them: a oneshot
    // that depends on a service must not end up behind the replicator that
    // service will wait for.
    for &r in &replicators {
        if !processes[r].depends_on.is_empty() {
            continue;
        }
        // Edges out of r make no new path *to* r, so one walk per replicator
        // answers "does this oneshot reach r?" for all of them.
        let reach_r = reaching(&deps, r);
        for (o, oneshot) in processes.iter().enumerate() {
            if oneshot.kind() == Kind::Oneshot && !reach_r[o] {
                deps[r].push(o);
            }
        }
    }
    for &r in &replicators {
        // Edges p → r (where r does not reach p) make r reach nothing new,
        // so one walk per replicator serves every p.
        let from_r = reachable(&deps, r);
        for p in 0..processes.len() {
            if processes[p].kind() == Kind::Oneshot || replicators.contains(&p) {
                continue;
            }
            if !deps[p].contains(&r) && !from_r[p] {
                deps[p].push(r);
            }
        }
    }
    deps
}

/// The edges [`dependencies`] added to `depends_on`, as (process, dependency).
pub fn implied(processes: &[ProcessSpec]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (p, deps) in dependencies(processes).iter().enumerate() {
        for &d in deps {
            if !processes[p].depends_on.contains(&processes[d].name) {
                out.push((p, d));
            }
        }
    }
    out
}

/// Which nodes `from` reaches (itself included).
fn reachable(deps: &[Vec<usize>], from: usize) -> Vec<bool> {
    let mut seen = vec![false; deps.len()];
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if !std::mem::replace(&mut seen[node], true) {
            stack.extend(&deps[node]);
        }
    }
    seen
}

/// Which nodes reach `to` (itself included): [`reachable`] on the reversed
/// edges.
fn reaching(deps: &[Vec<usize>], to: usize) -> Vec<bool> {
    let mut reverse = vec![Vec::new(); deps.len()];
    for (node, out) in deps.iter().enumerate() {
        for &d in out {
            reverse[d].push(node);
        }
    }
    reachable(&reverse, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn litestream_replicate_is_found_by_basename_and_through_sh_c() {
        for yes in [
            &["litestream", "replicate"][..],
            &["/usr/local/bin/litestream", "replicate", "-config", "/etc/l.yml"],
            &["sh", "-c", "exec litestream replicate -config /etc/l.yml"],
            &["/bin/bash", "-ec", "litestream restore -if-replica-exists /data/app.db && exec /usr/bin/litestream replicate"],
            &["sh", "-c", "echo hi; litestream replicate"],
        ] {
            assert!(runs_litestream_replicate(&argv(yes)), "{yes:?}");
        }
        for no in [
            &[
                "litestream",
                "restore",
                "-if-replica-exists",
                "/data/app.db",
            ][..],
            &["litestream"],
            &["node", "litestream", "replicate"],
            &["sh", "-c", "echo litestream replicate"],
            &["sh", "script.sh", "litestream replicate"],
            &["python3", "-c", "litestream replicate"],
            &["litestream-replicate"],
        ] {
            assert!(!runs_litestream_replicate(&argv(no)), "{no:?}");
        }
    }

    fn spec(name: &str, command: &[&str], deps: &[&str]) -> ProcessSpec {
        let mut p = ProcessSpec::new(name, argv(command));
        p.depends_on = deps.iter().map(|d| d.to_string()).collect();
        p
    }

    #[test]
    fn every_other_service_and_job_depends_on_a_replicator() {
        let mut optimize = spec("optimize", &["sqlite3"], &[]);
        optimize.schedule = Some(crate::schedule::Schedule::parse("@daily").unwrap());
        let mut restore = spec("restore", &["litestream", "restore"], &[]);
        restore.oneshot = true;
        let list = [
            restore,
            spec("api", &["node", "dist/server.js"], &[]),
            spec("litestream", &["litestream", "replicate"], &[]),
            optimize,
        ];
        assert_eq!(
            dependencies(&list),
            [vec![], vec![2], vec![0], vec![2]],
            "the replicator waits for the oneshot; api and the job wait for it"
        );
        assert_eq!(implied(&list), [(1, 2), (2, 0), (3, 2)]);
    }

    #[test]
    fn written_depends_on_stays_authoritative_and_no_cycle_is_made() {
        let mut migrate = spec("migrate", &["migrate"], &["minio"]);
        migrate.oneshot = true;
        let list = [
            // The replicator ships to a local S3 stand-in it depends on.
            spec("minio", &["minio"], &[]),
            spec("litestream", &["litestream", "replicate"], &["minio"]),
            migrate,
            spec("api", &["api"], &["migrate"]),
        ];
        // minio is not made to wait for the replicator (cycle); the
        // replicator has its own depends_on, so it does not wait for migrate.
        assert_eq!(dependencies(&list), [vec![], vec![0], vec![0], vec![2, 1]]);
        // replicator = false turns it off; = true turns it on.
        let mut off = list.clone();
        off[1].replicator = Some(false);
        off[0].replicator = Some(true);
        assert_eq!(dependencies(&off), [vec![], vec![0], vec![0], vec![2, 0]]);
    }
}
