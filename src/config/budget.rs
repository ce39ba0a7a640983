//! The stop budget: how long a shutdown can take at worst, and whether the
//! platform waits that long before it SIGKILLs oxinit (and, as PID 1 dies,
//! everything in the container, mid-sync).
//!
//! Worst case: every process uses its whole `stop_timeout`. Levels stop one
//! after the other, a level as long as its slowest process, so the services
//! take the sum of each level's longest `stop_timeout`; `shutdown_timeout`
//! cuts that short with a SIGKILL for all (and then no `orphan_grace`);
//! otherwise the leftovers get `orphan_grace` after it. Oneshots are left
//! out, as in the stop order `check` prints: at shutdown they have finished.
//!
//! The platforms: Docker waits 10 s (`docker stop -t`, compose
//! `stop_grace_period`), Kubernetes 30 s (`terminationGracePeriodSeconds`),
//! Fly.io its `kill_timeout` (5 s unless `fly.toml` next to the oxfile says
//! otherwise). With a `fly.toml` the platform is known, and only Fly's grace
//! is checked.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::plan::Plan;
use super::report::Report;
use super::schema::{InitSettings, Kind, Problem, ProcessSpec};
use super::signal::{parse_signal, SHUTDOWN_SIGNALS};
use crate::units::{format_duration as dur, parse_duration};

/// One stop level as the budget sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Services and jobs of the level, in plan order.
    pub names: Vec<String>,
    /// The longest `stop_timeout` among them.
    pub longest: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopBudget {
    pub levels: Vec<Level>,
    /// Sum of the levels' longest stop timeouts.
    pub services: Duration,
    pub shutdown_timeout: Duration,
    pub orphan_grace: Duration,
}

impl StopBudget {
    /// The levels' sum reaches `shutdown_timeout`: everything is SIGKILLed then.
    pub fn capped(&self) -> bool {
        self.services >= self.shutdown_timeout
    }

    /// The longest a shutdown can take.
    pub fn total(&self) -> Duration {
        if self.capped() {
            self.shutdown_timeout
        } else {
            self.services + self.orphan_grace
        }
    }

    /// One line, for `check` and the boot log: `api 15s + litestream 30s +
    /// orphan_grace 2s = 47s at most`.
    pub fn describe(&self) -> String {
        format!("{} = {} at most", self.terms(), dur(self.total()))
    }

    /// What the total is made of: `api 15s + litestream 30s + orphan_grace
    /// 2s`, or the levels' sum and the cap that cuts it.
    fn terms(&self) -> String {
        let mut parts: Vec<String> = self
            .levels
            .iter()
            .map(|l| format!("{} {}", l.names.join("/"), dur(l.longest)))
            .collect();
        if self.capped() {
            return format!(
                "{} = {}, cut at shutdown_timeout {} by a SIGKILL for all",
                parts.join(" + "),
                dur(self.services),
                dur(self.shutdown_timeout)
            );
        }
        parts.push(format!("orphan_grace {}", dur(self.orphan_grace)));
        parts.join(" + ")
    }
}

/// The budget of `processes` stopped along `plan`.
pub fn stop_budget(processes: &[ProcessSpec], init: &InitSettings, plan: &Plan) -> StopBudget {
    let levels: Vec<Level> = plan
        .stop_levels
        .iter()
        .filter_map(|level| {
            let members: Vec<&ProcessSpec> = level
                .iter()
                .filter_map(|n| processes.iter().find(|p| &p.name == n))
                .filter(|p| p.kind() != Kind::Oneshot)
                .collect();
            let longest = members.iter().map(|p| p.stop_timeout).max()?;
            Some(Level {
                names: members.iter().map(|p| p.name.clone()).collect(),
                longest,
            })
        })
        .collect();
    StopBudget {
        services: levels.iter().map(|l| l.longest).sum(),
        levels,
        shutdown_timeout: init.shutdown_timeout,
        orphan_grace: init.orphan_grace,
    }
}

/// Warns at each `stop_timeout` that cannot be honoured inside
/// `shutdown_timeout` because of the levels stopped before it. `spans`:
/// where each process's `stop_timeout` (else its name) was written.
pub(super) fn check_stop_timeouts(
    processes: &[ProcessSpec],
    init: &InitSettings,
    plan: &Plan,
    spans: &[Range<usize>],
    report: &mut Report<'_>,
) {
    let budget = stop_budget(processes, init, plan);
    let cap = init.shutdown_timeout;
    let mut before = Duration::ZERO;
    let mut earlier: Vec<String> = Vec::new();
    for level in &budget.levels {
        for name in &level.names {
            let Some(index) = processes.iter().position(|p| &p.name == name) else {
                continue;
            };
            let p = &processes[index];
            if before + p.stop_timeout <= cap {
                continue;
            }
            let after = if earlier.is_empty() {
                String::new()
            } else {
                format!(
                    " it stops after {}: up to {}, so",
                    earlier.join(", then "),
                    dur(before)
                )
            };
            let left = cap.saturating_sub(before);
            let gets = if left.is_zero() {
                "no time at all before its SIGKILL".to_string()
            } else {
                format!("SIGKILL after {}", dur(left))
            };
            report.warn(
                &spans[index],
                format!(
                    "[processes.{name}] stop_timeout: {} cannot be honoured:{after} it may need until {} of the shutdown, but [init] shutdown_timeout is {}: it would get {gets}; raise shutdown_timeout to at least {} or lower the stop timeouts",
                    dur(p.stop_timeout),
                    dur(before + p.stop_timeout),
                    dur(cap),
                    dur(before + p.stop_timeout + init.orphan_grace),
                ),
            );
        }
        before += level.longest;
        earlier.push(format!(
            "{} ({})",
            level.names.join("/"),
            dur(level.longest)
        ));
    }
}

/// A platform's grace between its stop signal and its SIGKILL.
struct Grace {
    /// "Docker's 10s"
    who: String,
    grace: Duration,
    /// What to set, given the seconds needed.
    fix: fn(u64) -> String,
}

/// What `fly.toml` next to the oxfile says, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlyToml {
    pub path: PathBuf,
    pub kill_timeout: Option<Duration>,
    pub kill_signal: Option<String>,
}

/// Fly's kill_timeout when fly.toml does not set one.
pub const FLY_DEFAULT: Duration = Duration::from_secs(5);

/// Reads `fly.toml` in `dir`: None when there is none; problems (unreadable,
/// bad values) go to `problems`, as warnings.
pub fn read_fly_toml(dir: &Path, problems: &mut Vec<Problem>) -> Option<FlyToml> {
    let path = dir.join("fly.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push(nowhere(format!(
                "cannot read {}: {e}; its kill_timeout is not checked against the stop budget",
                path.display()
            )));
            return None;
        }
    };
    let mut fly = FlyToml {
        path: path.clone(),
        kill_timeout: None,
        kill_signal: None,
    };
    let table = match DeTable::parse(&text) {
        Ok(table) => table,
        Err(e) => {
            problems.push(nowhere(format!(
                "{} is not valid TOML ({}); its kill_timeout is not checked against the stop budget",
                path.display(),
                e.message()
            )));
            return Some(fly);
        }
    };
    let shown = path.display();
    match table.get_ref().get("kill_timeout").map(|v| v.get_ref()) {
        None => {}
        Some(DeValue::Integer(i)) => match i.as_str().parse::<u64>() {
            Ok(secs) => fly.kill_timeout = Some(Duration::from_secs(secs)),
            Err(_) => problems.push(nowhere(format!(
                "{shown}: kill_timeout = {} is not a number of seconds; not checked",
                i.as_str()
            ))),
        },
        Some(DeValue::String(s)) => match parse_duration(s) {
            Ok(d) => fly.kill_timeout = Some(d),
            Err(e) => problems.push(nowhere(format!(
                "{shown}: kill_timeout = \"{s}\": {e}; not checked"
            ))),
        },
        Some(other) => problems.push(nowhere(format!(
            "{shown}: kill_timeout is a {}, not seconds (5) or a duration (\"5s\"); not checked",
            other.type_str()
        ))),
    }
    match table.get_ref().get("kill_signal").map(|v| v.get_ref()) {
        None => {}
        Some(DeValue::String(s)) => {
            fly.kill_signal = Some(s.to_string());
            if !parse_signal(s).is_ok_and(|sig| SHUTDOWN_SIGNALS.contains(&sig)) {
                problems.push(nowhere(format!(
                    "{shown}: kill_signal = \"{s}\" does not make oxinit shut down (only SIGINT, SIGTERM and SIGQUIT do; others are forwarded to the services), so Fly would SIGKILL everything after kill_timeout with no ordered stop; use \"SIGINT\" (Fly's default) or \"SIGTERM\""
                )));
            }
        }
        Some(other) => problems.push(nowhere(format!(
            "{shown}: kill_signal is a {}, not a signal name such as \"SIGINT\"",
            other.type_str()
        ))),
    }
    Some(fly)
}

/// The warning, if the worst-case shutdown outlasts the platforms' grace:
/// Fly's alone when there is a fly.toml, else Docker's, Fly's default and
/// Kubernetes'.
pub fn platform_warning(budget: &StopBudget, fly: Option<&FlyToml>) -> Option<Problem> {
    let graces = match fly {
        Some(fly) => vec![Grace {
            who: match fly.kill_timeout {
                Some(t) => format!("Fly's kill_timeout of {} in {}", dur(t), fly.path.display()),
                None => format!(
                    "Fly's default kill_timeout of {} ({} sets none)",
                    dur(FLY_DEFAULT),
                    fly.path.display()
                ),
            },
            grace: fly.kill_timeout.unwrap_or(FLY_DEFAULT),
            fix: |s| format!("set kill_timeout = {s} in fly.toml"),
        }],
        None => vec![
            Grace {
                who: "Docker's 10s".into(),
                grace: Duration::from_secs(10),
                fix: |s| format!("docker stop -t {s}, compose stop_grace_period: {s}s"),
            },
            Grace {
                who: format!("Fly's default kill_timeout of {}", dur(FLY_DEFAULT)),
                grace: FLY_DEFAULT,
                fix: |s| format!("kill_timeout = {s} in fly.toml"),
            },
            Grace {
                who: "Kubernetes' 30s".into(),
                grace: Duration::from_secs(30),
                fix: |s| format!("terminationGracePeriodSeconds: {s}"),
            },
        ],
    };
    let total = budget.total();
    // A second more than the budget: oxinit still has to reap and exit.
    let needed = total.as_secs() + u64::from(total.subsec_nanos() > 0) + 1;
    let short: Vec<String> = graces
        .iter()
        .filter(|g| g.grace < total)
        .map(|g| format!("{} ({})", g.who, (g.fix)(needed)))
        .collect();
    if short.is_empty() {
        return None;
    }
    Some(nowhere(format!(
        "stop budget: a shutdown can take {} ({}), longer than {}, after which the platform SIGKILLs oxinit and everything with it; give it at least {needed}s there, or lower the stop timeouts",
        dur(total),
        budget.terms(),
        short.join(", ")
    )))
}

fn nowhere(message: String) -> Problem {
    Problem {
        line: 0,
        col: 0,
        message,
    }
}
