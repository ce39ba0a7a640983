//! What `oxinit check` prints for a valid file: the settings, the boot and
//! stop order, then each process as oxinit will run it (after defaults,
//! expansion and user lookup), then the warnings.
//!
//! Environment values are not printed: they often hold secrets and `check`
//! output ends up in CI logs. Only the names are shown.

use std::fmt::Write;

use super::plan::plan;
use super::schema::{Config, ProcessSpec, RestartPolicy};
use super::units::format_duration as dur;

/// The report `oxinit check` prints on success.
pub fn render_check(config: &Config) -> String {
    let mut out = String::new();
    let init = &config.init;
    let plan = plan(config);
    let is_oneshot = |name: &str| config.process(name).is_some_and(|p| p.oneshot);

    // `write!` into a String cannot fail.
    let _ = writeln!(out, "config:   {}", config.path.display());
    let _ = writeln!(out, "logs:     {}", init.log_format.as_str());
    let _ = writeln!(
        out,
        "shutdown: at most {} in all, then SIGKILL; leftover processes get {} between SIGTERM and SIGKILL",
        dur(init.shutdown_timeout),
        dur(init.orphan_grace)
    );

    let _ = writeln!(
        out,
        "\nboot order (a level starts once the one before is ready):"
    );
    for (index, level) in plan.start_levels.iter().enumerate() {
        let names: Vec<String> = level
            .iter()
            .map(|n| {
                if is_oneshot(n) {
                    format!("{n} (oneshot)")
                } else {
                    n.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "  {}. {}", index + 1, names.join(", "));
    }

    // Oneshots have finished by the time a shutdown normally runs, so the
    // stop order lists services; a oneshot still running stops with its level.
    let _ = writeln!(out, "\nstop order (reverse of boot):");
    let stop_levels = plan
        .stop_levels
        .iter()
        .map(|level| {
            level
                .iter()
                .filter(|n| !is_oneshot(n))
                .cloned()
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
            "  (no services: oxinit exits once the oneshots are done)"
        );
    }

    for process in &config.processes {
        out.push('\n');
        render_process(&mut out, config, process);
    }

    let services = config.processes.iter().filter(|p| !p.oneshot).count();
    let oneshots = config.processes.len() - services;
    if !config.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for warning in &config.warnings {
            let _ = writeln!(out, "  {}", warning.render(&config.path));
        }
    }
    let _ = writeln!(
        out,
        "\nok: {} ({} service{}, {} oneshot{}), {} warning{}",
        config.path.display(),
        services,
        plural(services),
        oneshots,
        plural(oneshots),
        config.warnings.len(),
        plural(config.warnings.len())
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

fn render_process(out: &mut String, config: &Config, p: &ProcessSpec) {
    let kind = if p.oneshot { "oneshot" } else { "service" };
    let _ = writeln!(out, "[{}] {kind}", p.name);
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
    if p.oneshot {
        let limit = p.timeout.map_or("no time limit".to_string(), |t| {
            format!("must finish within {}", dur(t))
        });
        line("runs", format!("once, {limit}; a failure aborts boot"));
    } else {
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
    line(
        "stop",
        format!(
            "{}, then SIGKILL after {}",
            p.stop_signal,
            dur(p.stop_timeout)
        ),
    );
    if !p.depends_on.is_empty() {
        let deps: Vec<String> = p
            .depends_on
            .iter()
            .map(|d| match config.process(d) {
                Some(dep) if dep.oneshot => format!("{d} (waits for its success)"),
                _ => format!("{d} (waits until it is started)"),
            })
            .collect();
        line("after", deps.join(", "));
    }
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
