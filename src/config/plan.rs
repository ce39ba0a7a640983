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
fn levels(deps: &[Vec<usize>]) -> Vec<Option<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done(Option<usize>),
    }
    fn visit(node: usize, deps: &[Vec<usize>], marks: &mut [Mark]) -> Option<usize> {
        match marks[node] {
            Mark::Done(level) => return level,
            Mark::Visiting => return None,
            Mark::New => {}
        }
        marks[node] = Mark::Visiting;
        let mut level = Some(0);
        for &dep in &deps[node] {
            level = match (level, visit(dep, deps, marks)) {
                (Some(mine), Some(theirs)) => Some(mine.max(theirs + 1)),
                _ => None,
            };
        }
        marks[node] = Mark::Done(level);
        level
    }
    let mut marks = vec![Mark::New; deps.len()];
    (0..deps.len())
        .map(|node| visit(node, deps, &mut marks))
        .collect()
}

/// Every dependency cycle as a path of node indices that starts and ends at
/// the same node (`[a, b, a]`). Each cycle is found once, from the first
/// node of it (in input order) that the depth-first search enters.
pub(crate) fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        node: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for &dep in &deps[node] {
            match marks[dep] {
                Mark::New => visit(dep, deps, marks, stack, cycles),
                Mark::OnStack => {
                    let start = stack.iter().position(|&n| n == dep).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(dep);
                    cycles.push(cycle);
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
    }
    let mut marks = vec![Mark::New; deps.len()];
    let mut cycles = Vec::new();
    for node in 0..deps.len() {
        if marks[node] == Mark::New {
            visit(node, deps, &mut marks, &mut Vec::new(), &mut cycles);
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

    #[test]
    fn cycles_are_found_once_each() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 3 is excluded by the caller; 4 -> 1 joins the cycle.
        let cycles = find_cycles(&[vec![1], vec![2], vec![0], vec![], vec![1]]);
        assert_eq!(cycles, vec![vec![0, 1, 2, 0]]);
        let two = find_cycles(&[vec![1], vec![0], vec![3], vec![2]]);
        assert_eq!(two, vec![vec![0, 1, 0], vec![2, 3, 2]]);
        assert!(find_cycles(&[vec![], vec![0], vec![0, 1]]).is_empty());
    }
}
