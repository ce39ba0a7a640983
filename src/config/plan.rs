//! The boot plan: dependency levels to start in, and the reverse to stop in.
//!
//! Level 0 holds the processes without dependencies; a process sits one level
//! above its deepest dependency, so everything in a level can start in
//! parallel once the previous levels are ready. Stopping walks the levels
//! backwards: `api` (which depends on `litestream`) stops first, so the
//! replicator is still running to ship the app's last writes — also when
//! nobody wrote that down: replicators imply dependencies of their own
//! (see [`super::replicator`]).

use super::schema::{Config, ProcessSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Level by level; within a level, file order.
    pub start_levels: Vec<Vec<String>>,
    /// `start_levels` reversed.
    pub stop_levels: Vec<Vec<String>>,
}

/// Orders a validated config. A `Config` from [`super::load`] has no cycles
/// and no unknown dependencies; for a hand-built one, unknown names are
/// ignored and processes caught in a cycle go to one last level, so this
/// never loops or panics.
pub fn plan(config: &Config) -> Plan {
    plan_processes(&config.processes)
}

/// [`plan`] of a list of processes.
pub(crate) fn plan_processes(processes: &[ProcessSpec]) -> Plan {
    let names: Vec<&str> = processes.iter().map(|p| p.name.as_str()).collect();
    // `depends_on` plus what replicators imply (they start first, stop last).
    let deps = super::replicator::dependencies(processes);
    let levels = levels(&deps);
    let depth = levels.iter().flatten().max().map_or(0, |max| max + 1);
    let last = levels.iter().any(Option::is_none);
    let mut start_levels = vec![Vec::new(); depth + usize::from(last)];
    for (index, level) in levels.iter().enumerate() {
        start_levels[level.unwrap_or(depth)].push(names[index].to_string());
    }
    let stop_levels = start_levels.iter().rev().cloned().collect();
    Plan {
        start_levels,
        stop_levels,
    }
}

/// The level of every node, None for nodes on or behind a cycle.
///
/// A depth-first walk with its own stack, not recursion: a chain of
/// 100,000 dependencies must not overflow PID 1's stack (that is a
/// SIGSEGV, which no panic handler catches).
fn levels(deps: &[Vec<usize>]) -> Vec<Option<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done(Option<usize>),
    }
    /// One above the dependency's level; None once a cycle is involved.
    fn above(mine: Option<usize>, theirs: Option<usize>) -> Option<usize> {
        Some(mine?.max(theirs? + 1))
    }
    let mut marks = vec![Mark::New; deps.len()];
    // (node, index of the next dependency to look at, level so far)
    let mut stack: Vec<(usize, usize, Option<usize>)> = Vec::new();
    for root in 0..deps.len() {
        if marks[root] != Mark::New {
            continue;
        }
        marks[root] = Mark::Visiting;
        stack.push((root, 0, Some(0)));
        while let Some(top) = stack.last_mut() {
            let (node, next, level) = *top;
            if let Some(&dep) = deps[node].get(next) {
                top.1 += 1;
                match marks[dep] {
                    Mark::New => {
                        marks[dep] = Mark::Visiting;
                        stack.push((dep, 0, Some(0)));
                    }
                    // On the current path: a cycle.
                    Mark::Visiting => top.2 = None,
                    Mark::Done(theirs) => top.2 = above(level, theirs),
                }
            } else {
                stack.pop();
                marks[node] = Mark::Done(level);
                if let Some(parent) = stack.last_mut() {
                    parent.2 = above(parent.2, level);
                }
            }
        }
    }
    marks
        .into_iter()
        .map(|mark| match mark {
            Mark::Done(level) => level,
            _ => None,
        })
        .collect()
}

/// One dependency cycle, as a path of node indices that starts and ends at
/// the same node (`[a, b, a]`). A long one keeps its first and last nodes
/// only, so that reporting every cycle costs as much as the graph: a chain
/// of 10,000 processes that all depend back on the first holds 10,000
/// cycles, 5,000 nodes long on average.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// The nodes shown: all of them, or the first [`Cycle::HEAD`] and the
    /// last [`Cycle::TAIL`] (which end with the first node again).
    pub path: Vec<usize>,
    /// How many nodes between the head and the tail are not in `path`.
    pub elided: usize,
}

impl Cycle {
    pub const HEAD: usize = 6;
    pub const TAIL: usize = 5;

    fn new(on_stack: &[usize], start: usize) -> Cycle {
        let len = on_stack.len() + 1;
        if len <= Cycle::HEAD + Cycle::TAIL {
            let mut path = on_stack.to_vec();
            path.push(start);
            return Cycle { path, elided: 0 };
        }
        let mut path = on_stack[..Cycle::HEAD].to_vec();
        path.extend_from_slice(&on_stack[on_stack.len() - (Cycle::TAIL - 1)..]);
        path.push(start);
        Cycle {
            path,
            elided: len - Cycle::HEAD - Cycle::TAIL,
        }
    }
}

/// Every dependency cycle. Each is found once, from the first node of it
/// (in input order) that the depth-first search enters. Iterative, like
/// [`levels`], and each node's place on the path is kept, so a cycle costs
/// no search.
pub(crate) fn find_cycles(deps: &[Vec<usize>]) -> Vec<Cycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        /// On the current path, at this index of it.
        OnPath(usize),
        Done,
    }
    let mut marks = vec![Mark::New; deps.len()];
    let mut cycles = Vec::new();
    let mut path: Vec<usize> = Vec::new();
    // Parallel to `path`: the index of the next dependency to look at.
    let mut next: Vec<usize> = Vec::new();
    for root in 0..deps.len() {
        if marks[root] != Mark::New {
            continue;
        }
        marks[root] = Mark::OnPath(0);
        path.push(root);
        next.push(0);
        while let (Some(&node), Some(cursor)) = (path.last(), next.last_mut()) {
            let Some(&dep) = deps[node].get(*cursor) else {
                marks[node] = Mark::Done;
                path.pop();
                next.pop();
                continue;
            };
            *cursor += 1;
            match marks[dep] {
                Mark::New => {
                    marks[dep] = Mark::OnPath(path.len());
                    path.push(dep);
                    next.push(0);
                }
                Mark::OnPath(at) => cycles.push(Cycle::new(&path[at..], dep)),
                Mark::Done => {}
            }
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::InitSettings;

    fn config(list: &[(&str, &[&str])]) -> Config {
        Config {
            path: "oxfile.toml".into(),
            init: InitSettings::default(),
            metrics: Default::default(),
            sqlite: Default::default(),
            processes: list
                .iter()
                .map(|(name, deps)| {
                    let mut p = ProcessSpec::new(name, vec!["true".into()]);
                    p.depends_on = deps.iter().map(|d| d.to_string()).collect();
                    p
                })
                .collect(),
            warnings: Vec::new(),
            translation: None,
        }
    }

    fn names(levels: &[&[&str]]) -> Vec<Vec<String>> {
        levels
            .iter()
            .map(|l| l.iter().map(|n| n.to_string()).collect())
            .collect()
    }

    #[test]
    fn design_example_levels_and_reverse_stop() {
        let plan = plan(&config(&[
            ("restore", &[]),
            ("migrate", &["restore"]),
            ("litestream", &["migrate"]),
            ("api", &["migrate", "litestream"]),
            ("optimize", &[]),
        ]));
        assert_eq!(
            plan.start_levels,
            names(&[
                &["restore", "optimize"],
                &["migrate"],
                &["litestream"],
                &["api"]
            ])
        );
        assert_eq!(
            plan.stop_levels,
            names(&[
                &["api"],
                &["litestream"],
                &["migrate"],
                &["restore", "optimize"]
            ])
        );
    }

    #[test]
    fn level_is_one_above_the_deepest_dependency_in_file_order() {
        // `web` is declared before what it depends on; c depends on a deep and a shallow dep.
        let plan = plan(&config(&[
            ("web", &["db"]),
            ("c", &["b", "db"]),
            ("db", &[]),
            ("b", &["web"]),
            ("solo", &[]),
        ]));
        assert_eq!(
            plan.start_levels,
            names(&[&["db", "solo"], &["web"], &["b"], &["c"]])
        );
    }

    #[test]
    fn hand_built_cycles_land_in_a_last_level() {
        let plan = plan(&config(&[
            ("a", &["b"]),
            ("b", &["a"]),
            ("c", &[]),
            ("d", &["zzz"]),
        ]));
        assert_eq!(plan.start_levels, names(&[&["c", "d"], &["a", "b"]]));
    }

    fn paths(cycles: Vec<Cycle>) -> Vec<Vec<usize>> {
        cycles
            .into_iter()
            .map(|c| {
                assert_eq!(c.elided, 0);
                c.path
            })
            .collect()
    }

    #[test]
    fn cycles_are_found_once_each() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 3 is excluded by the caller; 4 -> 1 joins the cycle.
        let cycles = find_cycles(&[vec![1], vec![2], vec![0], vec![], vec![1]]);
        assert_eq!(paths(cycles), vec![vec![0, 1, 2, 0]]);
        let two = find_cycles(&[vec![1], vec![0], vec![3], vec![2]]);
        assert_eq!(paths(two), vec![vec![0, 1, 0], vec![2, 3, 2]]);
        assert!(find_cycles(&[vec![], vec![0], vec![0, 1]]).is_empty());
    }

    /// 0 -> 1 -> … -> n-1, and every node also depends back on 0.
    fn chain_back_to_zero(n: usize) -> Vec<Vec<usize>> {
        (0..n)
            .map(|i| if i + 1 < n { vec![i + 1, 0] } else { vec![0] })
            .collect()
    }

    #[test]
    fn long_cycles_keep_their_ends_and_count_the_rest() {
        let cycles = find_cycles(&chain_back_to_zero(12));
        // The walk goes down the chain first, so the longest cycle comes
        // first: node 11 - i closes 0 -> … -> 11 - i -> 0.
        assert_eq!(cycles.len(), 12);
        assert_eq!(cycles[11].path, vec![0, 0]);
        assert_eq!(cycles[2].path, (0..=9).chain([0]).collect::<Vec<_>>());
        assert_eq!(cycles[2].elided, 0);
        assert_eq!(cycles[0].path, vec![0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 0]);
        assert_eq!(cycles[0].elided, 2);
        // Linear work, checked without a clock: what is kept per cycle is
        // bounded, whatever the length of the path.
        let cycles = find_cycles(&chain_back_to_zero(50_000));
        assert_eq!(cycles.len(), 50_000);
        let kept: usize = cycles.iter().map(|c| c.path.len()).sum();
        assert!(kept <= 50_000 * (Cycle::HEAD + Cycle::TAIL), "{kept}");
        assert_eq!(cycles[0].elided, 50_001 - Cycle::HEAD - Cycle::TAIL);
    }

    #[test]
    fn a_chain_of_100000_neither_recurses_nor_loops() {
        // Recursion would need about 100,000 frames here: past the 2 MiB
        // stack a test thread has, so this test is what keeps it iterative.
        let n = 100_000;
        let chain: Vec<Vec<usize>> = (0..n)
            .map(|i| if i > 0 { vec![i - 1] } else { vec![] })
            .collect();
        assert_eq!(levels(&chain)[n - 1], Some(n - 1));
        assert!(find_cycles(&chain).is_empty());
        let mut looped = chain;
        looped[0].push(n - 1);
        assert!(levels(&looped).iter().all(Option::is_none));
        assert_eq!(find_cycles(&looped).len(), 1);
    }
}
