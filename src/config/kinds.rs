//! The rules that depend on what kind of process a table describes
//! ([`Kind`]): a service restarts and may be health-checked; a oneshot runs
//! once at boot and its failure aborts boot; a job runs at scheduled times
//! and its failure never stops the container. Checked once the whole table
//! is read, so the order of the keys does not matter.

use super::report::Report;
use super::schema::{Kind, ProcessSpec, RestartPolicy};
use super::table::Seen;
use crate::units::format_duration;

/// Keys that only make sense for a restarted service.
pub(super) const SERVICE_ONLY: &[&str] = &[
    "restart",
    "restart_delay",
    "restart_delay_max",
    "restart_reset",
    "max_restarts",
    "restart_window",
    "critical",
];

/// The rules that tie keys together, checked once the whole table is read.
pub(super) fn check_combinations(
    spec: &mut ProcessSpec,
    seen: &Seen,
    label: &str,
    report: &mut Report<'_>,
) {
    backlog_needs_listen(seen, label, report);
    match spec.kind() {
        Kind::Job => {
            if spec.oneshot {
                if let Some(span) = seen.get("oneshot") {
                    report.error(
                        span,
                        format!("{label} oneshot: a scheduled job already runs to completion; remove oneshot"),
                    );
                }
            }
            for key in SERVICE_ONLY {
                if let Some(span) = seen.get(key) {
                    let why = if *key == "critical" {
                        "a job's failure never takes the container down (it is logged and counted, and the job runs again at its next time)"
                    } else {
                        "a scheduled job is not restarted: after a failure it runs again at its next scheduled time"
                    };
                    report.error(span, format!("{label} {key}: {why}; remove {key}"));
                }
            }
            refuse_replicator(seen, label, "a scheduled job", report);
            refuse_listen(seen, label, "a scheduled job", report);
            refuse_health(seen, label, "a scheduled job runs to completion, so there is nothing to keep checking: its exit code is its result", report);
            // Whatever the service defaults are: a run is never restarted,
            // and its failure never stops the container.
            spec.restart = RestartPolicy::Never;
            spec.critical = false;
        }
        Kind::Oneshot => {
            for key in SERVICE_ONLY {
                if let Some(span) = seen.get(key) {
                    let why = if *key == "critical" {
                        "a oneshot is always critical: its failure aborts boot"
                    } else {
                        "a oneshot is not restarted: its failure aborts boot"
                    };
                    report.error(
                        span,
                        format!("{label} {key}: {why}; remove {key} or set oneshot = false"),
                    );
                }
            }
            refuse_replicator(seen, label, "a oneshot", report);
            refuse_listen(seen, label, "a oneshot", report);
            refuse_health(seen, label, "a oneshot runs once to completion, so there is nothing to keep checking: its exit code is its result", report);
            // Never restarted, whatever the service default is.
            spec.restart = RestartPolicy::Never;
        }
        Kind::Service => check_service(spec, seen, label, report),
    }
}

/// Held sockets queue connections for a process that is coming back; a
/// oneshot or a job ends for good (or until its next time), and its
/// clients would wait in the queue for nobody.
fn refuse_listen(seen: &Seen, label: &str, what: &str, report: &mut Report<'_>) {
    if let Some(span) = seen.get("listen") {
        report.error(
            span,
            format!("{label} listen: {what} runs to completion, and connections would wait in the socket's queue while nothing accepts them; hold sockets for a service (and remove listen here)"),
        );
    }
}

/// `backlog` sizes the queue of `listen`'s sockets: alone it means nothing.
fn backlog_needs_listen(seen: &Seen, label: &str, report: &mut Report<'_>) {
    if let (Some(span), false) = (seen.get("backlog"), seen.contains_key("listen")) {
        report.error(
            span,
            format!("{label} backlog: sizes the queue of the sockets of listen, which is not set; add listen = [\"0.0.0.0:PORT\"] or remove backlog"),
        );
    }
}

/// A replicator runs beside the app for as long as it runs; a oneshot
/// (`litestream restore`) or a job cannot be one.
fn refuse_replicator(seen: &Seen, label: &str, what: &str, report: &mut Report<'_>) {
    if let Some(span) = seen.get("replicator") {
        report.error(
            span,
            format!("{label} replicator: {what} runs to completion, so it cannot run beside the others as their replicator (only a service can); remove replicator"),
        );
    }
}

fn refuse_health(seen: &Seen, label: &str, why: &str, report: &mut Report<'_>) {
    if let Some(span) = seen.get("health") {
        let table = label.trim_end_matches(']');
        report.error(
            span,
            format!("{label} health: {why}; remove {table}.health]"),
        );
    }
}

fn check_service(spec: &ProcessSpec, seen: &Seen, label: &str, report: &mut Report<'_>) {
    if let Some(span) = seen.get("when") {
        report.error(
            span,
            format!("{label} when: only a oneshot or a scheduled job can have a condition, checked each time a run starts; a service runs as long as the container does, and what the condition saw at its start may change meanwhile (a LiteFS primary moves); set oneshot = true, or let the service read the path itself"),
        );
    }
    if let Some(span) = seen.get("timeout") {
        report.error(
            span,
            format!("{label} timeout: only a oneshot or a scheduled job has a run timeout (a service runs until stopped); did you mean stop_timeout?"),
        );
    }
    if spec.restart_delay_max < spec.restart_delay {
        // Point at whichever bound was written (defaults cannot conflict).
        let written = ["restart_delay_max", "restart_delay"]
            .into_iter()
            .find_map(|key| seen.get(key).map(|span| (key, span.clone())));
        let (key, span) = written.unwrap_or(("restart_delay", 0..0));
        let default = if seen.contains_key("restart_delay_max") {
            ""
        } else {
            ", the default"
        };
        report.error(
            &span,
            format!(
                "{label} {key}: restart_delay_max ({}{default}) is shorter than restart_delay ({}); the backoff grows from restart_delay up to restart_delay_max",
                format_duration(spec.restart_delay_max),
                format_duration(spec.restart_delay)
            ),
        );
    }
}
