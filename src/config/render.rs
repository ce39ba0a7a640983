//! What `oxinit check` prints for a valid file: the settings, the boot and
//! stop order, then each process as oxinit will run it (after defaults,
//! expansion and user lookup), then the warnings. How memory limits will be
//! enforced on this machine is detected at boot, so the caller prints it
//! after this text; here is only what the file asks for.
//!
//! Environment values are not printed: they often hold secrets and `check`
//! output ends up in CI logs. Only the names are shown.

use std::fmt::Write;
use std::time::SystemTime;

use super::budget;
use super::plan::plan;
use super::replicator;
use super::schema::{Config, HealthCheck, HealthSpec, Kind, ProcessSpec, RestartPolicy};
use super::settings::MEMORY_ENFORCEMENT;
use crate::cgroup::{Limits, Requested};
use crate::units::{format_duration as dur, format_size};

/// The report `oxinit check` prints on success; next runs of jobs are
/// computed from the current time.
pub fn render_check(config: &Config) -> String {
    render_check_at(config, SystemTime::now())
}

/// [`render_check`] as of `now`.
pub fn render_check_at(config: &Config, now: SystemTime) -> String {
    let mut out = String::new();
    let init = &config.init;
    let plan = plan(config);
    let indices = config.indices();
    let by_name = |name: &str| indices.get(name).map(|&i| &config.processes[i]);
    let kind = |name: &str| by_name(name).map(ProcessSpec::kind);

    // `write!` into a String cannot fail.
    let _ = writeln!(out, "config:   {}", config.path.display());
    let _ = writeln!(out, "logs:     {}", init.log_format.as_str());
    let _ = writeln!(
        out,
        "shutdown: at most {} in all, then SIGKILL; leftover processes get {} between SIGTERM and SIGKILL",
        dur(init.shutdown_timeout),
        dur(init.orphan_grace)
    );
    match &init.control_socket {
        Some(path) => {
            let _ = writeln!(out, "control:  {}", path.display());
        }
        None => {
            let _ = writeln!(
                out,
                "control:  $OXINIT_SOCKET, else /run/oxinit.sock, else (/run not writable) $XDG_RUNTIME_DIR/oxinit.sock or /tmp/oxinit-UID/oxinit.sock"
            );
        }
    }
    if config.metrics.enabled {
        let _ = writeln!(
            out,
            "metrics:  http://{}/metrics (also /health and /status)",
            config.metrics.listen
        );
    } else {
        let _ = writeln!(out, "metrics:  off");
    }
    if !config.metrics.include.is_empty() {
        let urls: Vec<&str> = config
            .metrics
            .include
            .iter()
            .map(|u| u.url.as_str())
            .collect();
        let _ = writeln!(
            out,
            "include:  {} (appended to /metrics; at most {} and {} each)",
            urls.join(", "),
            dur(config.metrics.include_timeout),
            format_size(config.metrics.include_max_size)
        );
    }
    if config.sqlite.databases.is_empty() {
        let _ = writeln!(out, "sqlite:   no databases listed");
    } else {
        let paths: Vec<String> = config
            .sqlite
            .databases
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let on_overlay = if config.sqlite.require_volume {
            "refuses to boot"
        } else {
            "warns at boot"
        };
        let _ = writeln!(
            out,
            "sqlite:   {} (size and WAL metrics; {on_overlay} if one is not on a volume)",
            paths.join(", ")
        );
    }
    if let Some(max) = config.sqlite.max_replication_lag {
        let _ = writeln!(
            out,
            "lag:      /health fails while Litestream is more than {} behind",
            dur(max)
        );
    }
    let _ = writeln!(
        out,
        "memory:   enforcement \"{}\" requested ({})",
        MEMORY_ENFORCEMENT.name(init.memory_enforcement),
        match init.memory_enforcement {
            Requested::Auto => "cgroups where usable, else polling",
            Requested::Cgroup => "cgroups, or refuse to boot",
            Requested::Poll => "polling, even where cgroups would work",
        }
    );

    let _ = writeln!(
        out,
        "\nboot order (a level starts once the one before is ready):"
    );
    for (index, level) in plan.start_levels.iter().enumerate() {
        let names: Vec<String> = level
            .iter()
            .map(|n| match kind(n) {
                Some(Kind::Oneshot) => format!("{n} (oneshot)"),
                Some(Kind::Job) => format!("{n} (job)"),
                _ => n.clone(),
            })
            .collect();
        let _ = writeln!(out, "  {}. {}", index + 1, names.join(", "));
    }

    // Oneshots have finished by the time a shutdown normally runs, so the
    // stop order lists services and jobs (which may be mid-run); a oneshot
    // still running stops with its level.
    let _ = writeln!(out, "\nstop order (reverse of boot):");
    let stop_levels = plan
        .stop_levels
        .iter()
        .map(|level| {
            level
                .iter()
                .filter_map(|n| match kind(n) {
                    Some(Kind::Oneshot) => None,
                    Some(Kind::Job) => Some(format!("{n} (job, if running)")),
                    _ => Some(n.clone()),
                })
                .collect::<Vec<_>>()
        })
        .filter(|level| !level.is_empty());
    let mut any = false;
    for (index, level) in stop_levels.enumerate() {
        any = true;
        let _ = writeln!(out, "  {}. {}", index + 1, level.join(", "));
    }
    if !any {
        let _ = writeln!(
            out,
            "  (no services and no jobs: oxinit exits once the oneshots are done)"
        );
    }
    // The edges replicators add to `depends_on`, worked out once for both
    // the reasons under the stop order and each process's "after:" line.
    let implied = replicator::implied(&config.processes);
    render_replicators(&mut out, config, &implied);
    let budget = budget::stop_budget(&config.processes, init, &plan);
    let _ = writeln!(out, "\nstop budget: {}", budget.describe());
    // What the platform allows is not part of the file: these warnings are
    // `check`'s own, next to the file's.
    let mut warnings = config.warnings.clone();
    let dir = config.path.parent().unwrap_or(std::path::Path::new(""));
    let fly = budget::read_fly_toml(dir, &mut warnings);
    warnings.extend(budget::platform_warning(&budget, fly.as_ref()));

    let implied = implied_by_process(config, &implied);
    for (process, implied) in config.processes.iter().zip(&implied) {
        out.push('\n');
        render_process(&mut out, process, &by_name, implied, now);
    }

    let count = |k: Kind| config.processes.iter().filter(|p| p.kind() == k).count();
    let (services, oneshots, jobs) = (count(Kind::Service), count(Kind::Oneshot), count(Kind::Job));
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for warning in &warnings {
            let _ = writeln!(out, "  {}", warning.render(&config.path));
        }
    }
    let _ = writeln!(
        out,
        "\nok: {} ({} service{}, {} oneshot{}, {} job{}), {} warning{}",
        config.path.display(),
        services,
        plural(services),
        oneshots,
        plural(oneshots),
        jobs,
        plural(jobs),
        warnings.len(),
        plural(warnings.len())
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn render_process<'c>(
    out: &mut String,
    p: &ProcessSpec,
    by_name: &dyn Fn(&str) -> Option<&'c ProcessSpec>,
    implied: &[String],
    now: SystemTime,
) {
    let _ = writeln!(out, "[{}] {}", p.name, p.kind().as_str());
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "  {:<10} {text}", format!("{label}:"));
    };
    line("command", quote_argv(&p.argv));
    if let Some(cwd) = &p.cwd {
        line("cwd", cwd.display().to_string());
    }
    if let Some(user) = &p.user {
        let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
        let who = user
            .name
            .clone()
            .unwrap_or_else(|| "(no passwd entry)".into());
        let home = user
            .home
            .as_ref()
            .map(|h| format!(", home {}", h.display()))
            .unwrap_or_default();
        line(
            "user",
            format!(
                "{who} (uid {}, gid {}, groups {}{home})",
                user.uid,
                user.gid,
                groups.join(",")
            ),
        );
    }
    if !p.env.is_empty() {
        let names: Vec<&str> = p.env.iter().map(|(k, _)| k.as_str()).collect();
        line("env", format!("{} (values not shown)", names.join(", ")));
    }
    if !p.listen.is_empty() {
        line("listen", super::listen::describe(p));
    }
    let limit = p.timeout.map_or("no time limit".to_string(), |t| {
        format!("must finish within {}", dur(t))
    });
    match p.kind() {
        Kind::Job => {
            if let Some(schedule) = &p.schedule {
                let next = schedule
                    .next_after(now)
                    .map(|t| format!(" (next run {})", crate::units::civil::format_utc(t)))
                    .unwrap_or_default();
                line("schedule", format!("{}{next}", schedule.as_str()));
            }
            let each = p.timeout.map_or("with no time limit".to_string(), |t| {
                format!("must finish within {}", dur(t))
            });
            line(
                "runs",
                format!("to completion at each scheduled time, each run {each}; a failed run is logged and counted, never restarted, and never stops the container"),
            );
        }
        Kind::Oneshot => line("runs", format!("once, {limit}; a failure aborts boot")),
        Kind::Service => {
            line("restart", restart_text(p));
            line(
                "critical",
                if p.critical {
                    "yes: if it fails, oxinit stops everything and exits with its code".to_string()
                } else {
                    "no: if it fails, it stays down and the others keep running".to_string()
                },
            );
        }
    }
    if !p.when.is_empty() {
        let all: Vec<String> = p.when.iter().map(|c| c.to_string()).collect();
        let skipped = match p.kind() {
            Kind::Job => {
                "that run is skipped (counted as skipped) and it is checked again at the next"
            }
            _ => "it is skipped, and what depends on it starts as if it had succeeded",
        };
        line(
            "when",
            format!(
                "{}, checked when it would start; else {skipped}",
                all.join(" and ")
            ),
        );
    }
    if let Some(health) = &p.health {
        line("health", health_text(health));
    }
    if p.limits != Limits::default() {
        line("limits", limits_text(&p.limits));
    }
    line(
        "stop",
        format!(
            "{}, then SIGKILL after {}",
            p.stop_signal,
            dur(p.stop_timeout)
        ),
    );
    if !p.depends_on.is_empty() || !implied.is_empty() {
        let written = p.depends_on.iter().map(|d| (d.as_str(), ""));
        let implied = implied
            .iter()
            .map(|d| (d.as_str(), "implied by a replicator: "));
        let deps: Vec<String> = written
            .chain(implied)
            .map(|(d, why)| match by_name(d) {
                Some(dep) if dep.oneshot && !dep.when.is_empty() => {
                    format!("{d} ({why}waits for its success, or its skip)")
                }
                Some(dep) if dep.oneshot => format!("{d} ({why}waits for its success)"),
                Some(dep) if dep.health.is_some() => {
                    format!("{d} ({why}waits until it is healthy)")
                }
                _ => format!("{d} ({why}waits until it is started)"),
            })
            .collect();
        line("after", deps.join(", "));
    }
}

/// Each process's dependencies that no `depends_on` wrote (see
/// [`replicator`]), from the edges of [`replicator::implied`].
fn implied_by_process(config: &Config, implied: &[(usize, usize)]) -> Vec<Vec<String>> {
    let list = &config.processes;
    let mut out = vec![Vec::new(); list.len()];
    for &(from, to) in implied {
        out[from].push(list[to].name.clone());
    }
    out
}

/// One line per replicator that orders something nobody wrote down.
fn render_replicators(out: &mut String, config: &Config, implied: &[(usize, usize)]) {
    let list = &config.processes;
    for (r, spec) in list.iter().enumerate() {
        let Some(why) = replicator::reason(spec) else {
            continue;
        };
        let after: Vec<&str> = implied
            .iter()
            .filter(|&&(_, to)| to == r)
            .map(|&(from, _)| list[from].name.as_str())
            .collect();
        let before: Vec<&str> = implied
            .iter()
            .filter(|&&(from, _)| from == r)
            .map(|&(_, to)| list[to].name.as_str())
            .collect();
        if after.is_empty() && before.is_empty() {
            continue;
        }
        let mut text = format!("  {} is a replicator ({why})", spec.name);
        if !after.is_empty() {
            text += &format!(", so it starts before and stops after {}", after.join(", "));
        }
        if !before.is_empty() {
            text += &format!(", and starts once {} succeeded", before.join(", "));
        }
        let opt_out = if spec.replicator == Some(true) {
            "remove replicator = true"
        } else {
            "set replicator = false"
        };
        let _ = writeln!(out, "{text}; {opt_out} to opt out");
    }
}

fn health_text(health: &HealthSpec) -> String {
    let what = match &health.check {
        HealthCheck::Http {
            addr, host, path, ..
        } => format!("http GET {path} on {addr} (Host: {host})"),
        HealthCheck::Tcp { addr } => format!("tcp connect to {addr}"),
        HealthCheck::Exec { argv } => format!("exec {}, healthy on exit 0", quote_argv(argv)),
        HealthCheck::Mount { path } => format!(
            "mount at {}, healthy when it is mounted and a stat and a directory read answer",
            path.display()
        ),
        HealthCheck::Notify { watchdog } => {
            let watchdog = watchdog
                .map(|w| format!(", then WATCHDOG=1 at least every {}", dur(w)))
                .unwrap_or_default();
            // Readiness comes from the process itself: no probe timing applies.
            return format!(
                "notify: ready when the process sends READY=1 to $NOTIFY_SOCKET{watchdog}"
            );
        }
    };
    let start = if health.start_period.is_zero() {
        String::new()
    } else {
        format!(", none counted in the first {}", dur(health.start_period))
    };
    let quick = health.interval.min(std::time::Duration::from_secs(1));
    format!(
        "{what}; at start, then every 100ms (after 5s doubling to {}) until ready, then every {}; timeout {}, unhealthy after {} failure{} in a row (before ready, at most one counted per {}){start}",
        dur(quick),
        dur(health.interval),
        dur(health.timeout),
        health.retries,
        plural(health.retries as usize),
        dur(health.interval)
    )
}

fn limits_text(limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(memory) = limits.memory {
        parts.push(format!("memory {}", format_size(memory)));
    }
    if let Some(high) = limits.memory_high {
        parts.push(format!(
            "memory_high {} (cgroup v2 only)",
            format_size(high)
        ));
    }
    if let Some(pids) = limits.pids {
        parts.push(format!("pids {pids}"));
    }
    parts.join(", ")
}

fn restart_text(p: &ProcessSpec) -> String {
    if p.restart == RestartPolicy::Never {
        return "never".to_string();
    }
    let when = if p.restart == RestartPolicy::Always {
        "always (any exit)"
    } else {
        "on-failure (non-zero exit or signal)"
    };
    if p.max_restarts == 0 {
        return format!("{when}, but max_restarts = 0: the first failure is final");
    }
    format!(
        "{when}; delay {} doubling to {}, back to {} after {} up; failed after {} restart{} within {}",
        dur(p.restart_delay),
        dur(p.restart_delay_max),
        dur(p.restart_delay),
        dur(p.restart_reset),
        p.max_restarts,
        plural(p.max_restarts as usize),
        dur(p.restart_window)
    )
}

/// argv as a shell would need it typed: plain words bare, others quoted.
fn quote_argv(argv: &[String]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|w| match shlex::try_quote(w) {
            Ok(quoted) => quoted.into_owned(),
            // Only a NUL byte makes quoting fail; show it escaped instead.
            Err(_) => format!("{w:?}"),
        })
        .collect();
    words.join(" ")
}
