//! What `oxinit status` prints: a header line and one row per process.
//!
//! ```text
//! oxinit 0.1.0, pid 1, up 3d4h, running, memory limits: cgroup2
//! NAME        KIND     STATE    PID  UPTIME  RESTARTS  LAST EXIT
//! migrate     oneshot  exited   -    -       0         code 0, 3d4h ago
//! litestream  service  running  12   3d4h    0         -
//! api         service  ready    40   5m12s   2         SIGKILL (oom), 5m13s ago
//! api (new)   service  starting 51   2s      -         -
//! worker      service  failed   -    -       10        code 1, 2s ago
//! worker (failed), its last stderr lines:
//!   | Error: cannot connect to redis
//! ```
//!
//! (The `api (new)` row: `oxinit reload api` is under way; columns widen to
//! fit.)

use super::Snapshot;
use crate::snapshot::{ExitInfo, ExitReason, Kind, ProcessStatus};
use crate::units::format_duration_approx;

/// The status table of `snapshot` as seen at `now` (Unix seconds).
pub fn render_status(snapshot: &Snapshot, now: f64) -> String {
    let mut out = format!(
        "oxinit {}, pid {}, up {}, {}, memory limits: {}\n",
        snapshot.version,
        snapshot.pid,
        human_duration(now - snapshot.started_at),
        snapshot.phase,
        snapshot.memory_enforcement.map_or("-", |m| m.as_str()),
    );
    let jobs = snapshot.processes.iter().any(|p| p.kind == Kind::Job);
    let mut header = vec![
        "NAME",
        "KIND",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT",
    ];
    if jobs {
        header.push("NEXT RUN");
    }
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for p in &snapshot.processes {
        let mut row = vec![
            p.name.clone(),
            p.kind.to_string(),
            p.state.to_string(),
            p.pid.map_or("-".to_string(), |pid| pid.to_string()),
            uptime(p, now),
            p.restarts.to_string(),
            p.last_exit
                .as_ref()
                .map_or("-".to_string(), |e| describe_exit(e, now)),
        ];
        if jobs {
            row.push(match p.next_run {
                Some(at) if p.kind == Kind::Job => format!("in {}", human_duration(at - now)),
                _ => "-".to_string(),
            });
        }
        rows.push(row);
        // `oxinit reload` under way: the other instance, on a row of its own.
        if let Some(r) = &p.reload {
            let mut row = vec![
                format!("{} ({})", p.name, r.instance),
                p.kind.to_string(),
                r.state.to_string(),
                r.pid.map_or("-".to_string(), |pid| pid.to_string()),
                r.started_at
                    .map_or("-".to_string(), |at| human_duration(now - at)),
                "-".to_string(),
                "-".to_string(),
            ];
            if jobs {
                row.push("-".to_string());
            }
            rows.push(row);
        }
    }
    out.push_str(&align(&rows));
    // Why a process is unhealthy (or what it says of itself via sd_notify)
    // is too long for a column.
    for p in &snapshot.processes {
        if let Some(text) = p.status_text.as_deref().filter(|t| !t.is_empty()) {
            out.push_str(&format!("{}: {text}\n", p.name));
        }
        if let Some((r, text)) = p
            .reload
            .as_ref()
            .and_then(|r| Some((r, r.status_text.as_deref()?)))
        {
            out.push_str(&format!("{} ({}): {text}\n", p.name, r.instance));
        }
    }
    // What a process that failed (or waits to be restarted) said last,
    // without a trip to `oxinit logs`.
    for p in snapshot
        .processes
        .iter()
        .filter(|p| !p.last_stderr.is_empty())
    {
        out.push_str(&format!(
            "{} ({}), its last stderr lines:\n",
            p.name, p.state
        ));
        for line in &p.last_stderr {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    out
}

fn uptime(p: &ProcessStatus, now: f64) -> String {
    match p.started_at {
        Some(at) if p.up => human_duration(now - at),
        _ => "-".to_string(),
    }
}

/// "code 1, 2m ago", "SIGKILL (oom), 10s ago", "code 0 (stop), 1h ago".
fn describe_exit(exit: &ExitInfo, now: f64) -> String {
    let how = if exit.code > 128 && exit.reason != ExitReason::Exit {
        crate::sys::signals::name(exit.code - 128)
    } else {
        format!("code {}", exit.code)
    };
    let why = match exit.reason {
        ExitReason::Exit | ExitReason::Signal => String::new(),
        reason => format!(" ({reason})"),
    };
    format!("{how}{why}, {} ago", human_duration(now - exit.at))
}

/// Columns padded to their widest cell, two spaces apart; no trailing blanks.
fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A duration in seconds, in its two largest units: "12s", "5m12s", "3h4m",
/// "3d4h" (see [`format_duration_approx`]). Negative (clock steps) and
/// sub-second durations are "0s".
pub fn human_duration(seconds: f64) -> String {
    // Whole seconds: a status line does not show the tenths the log lines do.
    let whole = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    format_duration_approx(std::time::Duration::from_secs(whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_their_two_largest_units() {
        assert_eq!(human_duration(0.4), "0s");
        assert_eq!(human_duration(-3.0), "0s");
        assert_eq!(human_duration(f64::NAN), "0s");
        assert_eq!(human_duration(12.9), "12s");
        assert_eq!(human_duration(312.0), "5m12s");
        assert_eq!(human_duration(300.0), "5m");
        assert_eq!(human_duration(3.0 * 3600.0 + 4.0 * 60.0 + 59.0), "3h4m");
        assert_eq!(human_duration(3.0 * 86_400.0 + 4.0 * 3600.0 + 7.0), "3d4h");
        assert_eq!(human_duration(86_400.0 + 59.0), "1d");
    }

    #[test]
    fn exits_name_the_signal_and_the_reason() {
        let at = |code, reason: &str| ExitInfo {
            code,
            reason: reason.parse().unwrap(),
            at: 1000.0,
        };
        assert_eq!(describe_exit(&at(1, "exit"), 1120.0), "code 1, 2m ago");
        assert_eq!(
            describe_exit(&at(137, "oom"), 1010.0),
            "SIGKILL (oom), 10s ago"
        );
        assert_eq!(describe_exit(&at(143, "signal"), 1001.0), "SIGTERM, 1s ago");
        assert_eq!(
            describe_exit(&at(0, "stop"), 4600.0),
            "code 0 (stop), 1h ago"
        );
        // A program that exits 130 by itself was not killed by a signal.
        assert_eq!(describe_exit(&at(130, "exit"), 1000.0), "code 130, 0s ago");
    }

    #[test]
    fn a_failed_process_shows_its_last_stderr_lines() {
        let mut snapshot = Snapshot::default();
        snapshot.processes.push(ProcessStatus {
            name: "worker".into(),
            state: crate::snapshot::ProcessState::Failed,
            last_stderr: vec!["connecting".into(), "Error: refused".into()],
            ..Default::default()
        });
        let text = render_status(&snapshot, 0.0);
        assert!(
            text.ends_with(
                "worker (failed), its last stderr lines:\n  | connecting\n  | Error: refused\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_reload_shows_its_second_instance_on_a_row_of_its_own() {
        use crate::snapshot::{ProcessState, ReloadStatus};
        let api = ProcessStatus {
            name: "api".into(),
            state: ProcessState::Ready,
            pid: Some(40),
            up: true,
            started_at: Some(700.0),
            reload: Some(ReloadStatus {
                instance: "new".into(),
                state: ProcessState::Starting,
                pid: Some(51),
                ready: false,
                started_at: Some(998.0),
                status_text: Some("HTTP 503".into()),
            }),
            ..Default::default()
        };
        let snapshot = Snapshot {
            processes: vec![api],
            ..Default::default()
        };
        let table = render_status(&snapshot, 1000.0);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "api        service  ready     40   5m      0         -",
                "api (new)  service  starting  51   2s      -         -",
                "api (new): HTTP 503",
            ],
            "{table}"
        );
    }
}
