//! `oxinit_sqlite_replication_lag_seconds`: the sampler that feeds
//! [`crate::sqlite::freshness`], and the gauge.
//!
//! The lag must be known between scrapes (for `/health`), and its proofs
//! need observations closer together than Prometheus scrapes, so a task
//! observes every [`SAMPLE_EVERY`]: it stats each database's `-wal` on the
//! blocking pool (a hung network filesystem costs one thread, and the next
//! stats wait for it rather than piling up) and asks the include URLs, all
//! at once: every round those that answer with Litestream's metrics or do
//! not answer yet, and those that answered without them (the app's) only
//! every [`PROBE_EVERY`] rounds, to notice a Litestream that appears there.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::exposition::{escape_label, sample_value};
use super::include::Includes;
use crate::config::{MetricsSettings, SqliteSettings};
use crate::sqlite::freshness::Replication;

/// How often the lag is observed (Litestream syncs every second by default).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Rounds between asks of include URLs that did not look like Litestream.
const PROBE_EVERY: u64 = 30;
/// How long a round waits for the `stat`s of the WALs.
const STAT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a scrape adds to oxinit's own figures: `[metrics] include` and the
/// replication lag.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub includes: Arc<Includes>,
    pub replication: Option<Arc<Replication>>,
}

/// The gauge's family name.
pub const LAG_FAMILY: &str = "oxinit_sqlite_replication_lag_seconds";

/// What a round learns about one database from its files.
struct Files {
    /// The WAL's mtime.
    wal_changed: Option<SystemTime>,
    /// The database's path without symlinks, for a Litestream that names it
    /// another way.
    canonical: Option<PathBuf>,
}

/// The includes and, when a database is listed and an include may be
/// Litestream's, the lag: its sampler spawned, and its verdict installed
/// for `/health` and `oxinit healthcheck` (which judge it even with
/// `[metrics] enabled = false`). Call on the runtime.
pub fn start(metrics: &MetricsSettings, sqlite: &SqliteSettings) -> Scrape {
    let includes = Arc::new(Includes::new(
        metrics.include.clone(),
        metrics.include_timeout,
        metrics.include_max_size,
    ));
    let replication = (!sqlite.databases.is_empty() && !metrics.include.is_empty()).then(|| {
        let replication = Arc::new(Replication::new(
            &sqlite.databases,
            sqlite.max_replication_lag,
        ));
        crate::sqlite::freshness::install(replication.clone());
        tokio::spawn(sample(
            includes.clone(),
            replication.clone(),
            sqlite.databases.clone(),
        ));
        replication
    });
    Scrape {
        includes,
        replication,
    }
}

/// Observes forever; spawn it on the runtime.
pub async fn sample(
    includes: Arc<Includes>,
    replication: Arc<Replication>,
    databases: Vec<PathBuf>,
) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The URLs that answered without Litestream's metrics; a URL that does
    // not answer (Litestream not started yet, or frozen) stays asked.
    let mut others: BTreeSet<usize> = BTreeSet::new();
    let mut stats: Option<JoinHandle<Vec<Files>>> = None;
    for round in 0u64.. {
        ticks.tick().await;
        let at = SystemTime::now();
        let which: Vec<usize> = (0..includes.targets().len())
            .filter(|i| round % PROBE_EVERY == 0 || !others.contains(i))
            .collect();
        let (answers, files) = tokio::join!(
            includes.fetch(&which, includes.timeout()),
            stat_files(&mut stats, &databases)
        );
        let mut texts = Vec::new();
        for (&i, answer) in which.iter().zip(&answers) {
            if let Ok(text) = &answer.result {
                if text.contains("litestream_sync_count") {
                    others.remove(&i);
                    texts.push(text.as_str());
                } else {
                    others.insert(i);
                }
            }
        }
        for (i, db) in databases.iter().enumerate() {
            let file = files.as_ref().and_then(|f| f.get(i));
            let mut names = vec![db.clone()];
            names.extend(file.and_then(|f| f.canonical.clone()));
            let synced = texts.iter().find_map(|text| successful_syncs(text, &names));
            replication.observe(db, at, file.and_then(|f| f.wal_changed), synced);
        }
    }
}

/// `litestream_sync_count - litestream_sync_error_count` for the database
/// under any of its `names`.
fn successful_syncs(text: &str, names: &[PathBuf]) -> Option<f64> {
    names.iter().find_map(|name| {
        let name = name.to_string_lossy();
        let syncs = sample_value(text, "litestream_sync_count", "db", &name)?;
        let errors = sample_value(text, "litestream_sync_error_count", "db", &name).unwrap_or(0.0);
        Some(syncs - errors)
    })
}

/// The files of every database, or None while an earlier `stat` hangs.
async fn stat_files(
    pending: &mut Option<JoinHandle<Vec<Files>>>,
    databases: &[PathBuf],
) -> Option<Vec<Files>> {
    if pending.as_ref().is_some_and(|h| !h.is_finished()) {
        return None;
    }
    let paths = databases.to_vec();
    let mut handle = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|db| Files {
                wal_changed: std::fs::metadata(crate::sqlite::wal_path(db))
                    .and_then(|m| m.modified())
                    .ok(),
                canonical: std::fs::canonicalize(db).ok(),
            })
            .collect()
    });
    match tokio::time::timeout(STAT_TIMEOUT, &mut handle).await {
        Ok(done) => {
            *pending = None;
            done.ok()
        }
        Err(_) => {
            *pending = Some(handle);
            None
        }
    }
}

/// The gauge in the text format: one series per database that Litestream
/// reported; nothing when there is none.
pub fn render_lag(replication: &Replication, now: SystemTime) -> String {
    let lags: Vec<(PathBuf, Duration)> = replication
        .lags(now)
        .into_iter()
        .filter_map(|(path, lag)| Some((path, lag?)))
        .collect();
    let mut out = String::new();
    if lags.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "# HELP {LAG_FAMILY} Seconds since the oldest change of the database's WAL that \
         Litestream is not known to have synced (0 when synced); see the README.\n\
         # TYPE {LAG_FAMILY} gauge\n"
    ));
    for (path, lag) in lags {
        let path = escape_label(&path.to_string_lossy());
        let _ = writeln!(out, "{LAG_FAMILY}{{path=\"{path}\"}} {}", lag.as_secs_f64());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successful_syncs_subtracts_errors_and_tries_each_name() {
        let text = "litestream_sync_count{db=\"/real/app.db\"} 10\n\
                    litestream_sync_error_count{db=\"/real/app.db\"} 3\n";
        let names = [PathBuf::from("/data/app.db"), PathBuf::from("/real/app.db")];
        assert_eq!(successful_syncs(text, &names), Some(7.0));
        assert_eq!(successful_syncs(text, &names[..1]), None);
    }

    #[test]
    fn the_gauge_has_a_series_per_reported_database() {
        let db = PathBuf::from("/data/a \"b\".db");
        let replication = Replication::new(std::slice::from_ref(&db), None);
        let now = SystemTime::now();
        assert_eq!(render_lag(&replication, now), "");
        replication.observe(&db, now, None, Some(1.0));
        let text = render_lag(&replication, now);
        assert!(
            text.contains("# TYPE oxinit_sqlite_replication_lag_seconds gauge\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "oxinit_sqlite_replication_lag_seconds{path=\"/data/a \\\"b\\\".db\"} 0\n"
            ),
            "{text}"
        );
    }
}
