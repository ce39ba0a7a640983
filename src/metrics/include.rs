//! `[metrics] include`: one scrape target for the whole box.
//!
//! At each scrape of oxinit's `/metrics`, the include URLs (Litestream's
//! `addr:`, the app's own `/metrics`) are fetched concurrently, each within
//! `include_timeout` and `include_max_size`, and their families appended
//! after oxinit's own. A family whose name oxinit (or an earlier include)
//! already has is dropped whole and counted: two `process_cpu_seconds_total`
//! families would make the whole answer invalid. Each URL gets
//! `oxinit_include_up`, `oxinit_include_duration_seconds` and
//! `oxinit_include_dropped_families_total`, so a dead sidecar shows as a 0
//! instead of as missing series.
//!
//! The fetches are async tasks on the runtime (see [`super::http_get`]):
//! a stuck exporter parks its own task for one timeout, never the
//! supervisor, and never the render of oxinit's own figures.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::exposition::{append_new, escape_label, family_names};
use super::http_get::{get, FetchError};

/// The families this module writes itself.
const OWN_FAMILIES: [&str; 3] = [
    "oxinit_include_up",
    "oxinit_include_duration_seconds",
    "oxinit_include_dropped_families_total",
];

/// One include URL, resolved by the config (no DNS).
pub use crate::config::IncludeUrl as Target;

/// One fetch's outcome.
#[derive(Debug, Clone)]
pub struct Answer {
    pub result: Result<String, FetchError>,
    pub took: Duration,
}

/// The include URLs and what they cost.
#[derive(Debug, Default)]
pub struct Includes {
    targets: Vec<Target>,
    timeout: Duration,
    max_bytes: u64,
    /// Families dropped so far, by target.
    dropped: Mutex<Vec<u64>>,
}

impl Includes {
    pub fn new(targets: Vec<Target>, timeout: Duration, max_bytes: u64) -> Includes {
        Includes {
            dropped: Mutex::new(vec![0; targets.len()]),
            targets,
            timeout,
            max_bytes,
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Fetches the targets at `which` (indexes) concurrently, each within
    /// the timeout and at most `cap`; the answers in the order of `which`.
    pub async fn fetch(&self, which: &[usize], cap: Duration) -> Vec<Answer> {
        let limit = self.timeout.min(cap);
        let mut tasks = JoinSet::new();
        for (slot, &i) in which.iter().enumerate() {
            let Some(target) = self.targets.get(i).cloned() else {
                continue;
            };
            let max = self.max_bytes;
            tasks.spawn(async move {
                let started = Instant::now();
                let result =
                    tokio::time::timeout(limit, get(target.addr, &target.host, &target.path, max))
                        .await
                        .unwrap_or(Err(FetchError::TimedOut(limit)));
                (
                    slot,
                    Answer {
                        result,
                        took: started.elapsed(),
                    },
                )
            });
        }
        let mut answers = vec![
            Answer {
                result: Err(FetchError::TimedOut(limit)),
                took: limit,
            };
            which.len()
        ];
        while let Some(done) = tasks.join_next().await {
            if let Ok((slot, answer)) = done {
                answers[slot] = answer;
            }
        }
        answers
    }

    /// [`Includes::fetch`] of every target.
    pub async fn fetch_all(&self, cap: Duration) -> Vec<Answer> {
        let all: Vec<usize> = (0..self.targets.len()).collect();
        self.fetch(&all, cap).await
    }

    /// oxinit's own exposition `own`, then `extra` (more of oxinit's own
    /// families, such as the replication lag), then the include gauges, then
    /// every included family whose name is still free. `answers` are of
    /// every target, in order.
    pub fn merge(&self, own: &str, extra: &str, answers: &[Answer]) -> String {
        let mut taken: HashSet<String> = family_names(own);
        taken.extend(family_names(extra));
        taken.extend(OWN_FAMILIES.iter().map(|s| s.to_string()));
        let mut included = String::new();
        let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        for (i, answer) in answers.iter().enumerate() {
            match &answer.result {
                Ok(text) => {
                    let n = append_new(&mut included, text, &mut taken);
                    if let Some(total) = dropped.get_mut(i) {
                        *total += n;
                    }
                }
                Err(e) => tracing::debug!(
                    "[metrics] include {}: {e}",
                    self.targets.get(i).map_or("?", |t| t.url.as_str())
                ),
            }
        }
        let mut out = String::with_capacity(own.len() + extra.len() + included.len() + 1024);
        out.push_str(own);
        out.push_str(extra);
        if !self.targets.is_empty() {
            self.gauges(&mut out, answers, &dropped);
        }
        out.push_str(&included);
        out
    }

    fn gauges(&self, out: &mut String, answers: &[Answer], dropped: &[u64]) {
        let labels: Vec<String> = self
            .targets
            .iter()
            .map(|t| format!("{{url=\"{}\"}}", escape_label(&t.url)))
            .collect();
        out.push_str(
            "# HELP oxinit_include_up 1 when the [metrics] include URL answered this scrape with \
             HTTP 200 within include_timeout and include_max_size, else 0.\n\
             # TYPE oxinit_include_up gauge\n",
        );
        for (label, answer) in labels.iter().zip(answers) {
            let up = u8::from(answer.result.is_ok());
            out.push_str(&format!("oxinit_include_up{label} {up}\n"));
        }
        out.push_str(
            "# HELP oxinit_include_duration_seconds Time the [metrics] include URL took to \
             answer (or to fail) at this scrape.\n\
             # TYPE oxinit_include_duration_seconds gauge\n",
        );
        for (label, answer) in labels.iter().zip(answers) {
            let took = answer.took.as_secs_f64();
            out.push_str(&format!("oxinit_include_duration_seconds{label} {took}\n"));
        }
        out.push_str(
            "# HELP oxinit_include_dropped_families_total Metric families of the [metrics] \
             include URL left out because oxinit or an earlier include URL has a family of \
             that name.\n\
             # TYPE oxinit_include_dropped_families_total counter\n",
        );
        for (label, n) in labels.iter().zip(dropped) {
            out.push_str(&format!(
                "oxinit_include_dropped_families_total{label} {n}\n"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every connection with `body` after `delay`.
    async fn exporter(body: &'static str, delay: Duration) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let _ = s.read(&mut request).await;
                    tokio::time::sleep(delay).await;
                    let answer = format!("HTTP/1.0 200 OK\r\n\r\n{body}");
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        Target {
            url: format!("http://{addr}/metrics"),
            addr,
            host: addr.to_string(),
            path: "/metrics".into(),
        }
    }

    const OWN: &str =
        "# HELP process_open_fds fds\n# TYPE process_open_fds gauge\nprocess_open_fds 7\n";
    const APP: &str = "# TYPE process_open_fds gauge\nprocess_open_fds 9\n\
                       # TYPE app_requests_total counter\napp_requests_total 3\n";

    #[tokio::test]
    async fn fetches_concurrently_and_merges_with_drops_counted() {
        let slow = exporter(APP, Duration::from_millis(300)).await;
        let also = exporter(APP, Duration::from_millis(300)).await;
        let includes = Includes::new(
            vec![slow.clone(), also.clone()],
            Duration::from_secs(2),
            1 << 20,
        );
        let started = Instant::now();
        let answers = includes.fetch_all(Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_millis(550),
            "not concurrent"
        );
        let text = includes.merge(OWN, "", &answers);
        assert_eq!(text.matches("app_requests_total 3").count(), 1, "{text}");
        assert!(text.contains("process_open_fds 7\n") && !text.contains("process_open_fds 9"));
        let up = format!("oxinit_include_up{{url=\"{}\"}} 1\n", slow.url);
        assert!(text.contains(&up), "{text}");
        // The first include loses process_open_fds to oxinit, the second
        // loses both families to oxinit and the first.
        let dropped = |t: &Target, n: u64| {
            format!(
                "oxinit_include_dropped_families_total{{url=\"{}\"}} {n}\n",
                t.url
            )
        };
        assert!(text.contains(&dropped(&slow, 1)), "{text}");
        assert!(text.contains(&dropped(&also, 2)), "{text}");
        // Counted again at every scrape.
        let text = includes.merge(OWN, "", &includes.fetch_all(Duration::from_secs(5)).await);
        assert!(text.contains(&dropped(&also, 4)), "{text}");
    }

    #[tokio::test]
    async fn a_stuck_or_absent_exporter_is_down_within_the_timeout() {
        let stuck = exporter(APP, Duration::from_secs(30)).await;
        let gone = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            Target {
                url: format!("http://{addr}/metrics"),
                addr,
                host: addr.to_string(),
                path: "/metrics".into(),
            }
        };
        let includes = Includes::new(
            vec![stuck.clone(), gone.clone()],
            Duration::from_millis(200),
            1 << 20,
        );
        let started = Instant::now();
        let answers = includes.fetch_all(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(matches!(answers[0].result, Err(FetchError::TimedOut(_))));
        assert!(matches!(answers[1].result, Err(FetchError::Connect { .. })));
        let text = includes.merge(OWN, "", &answers);
        for t in [&stuck, &gone] {
            let down = format!("oxinit_include_up{{url=\"{}\"}} 0\n", t.url);
            assert!(text.contains(&down), "{text}");
        }
        assert!(!text.contains("app_requests_total"));
    }

    #[test]
    fn no_targets_no_gauges() {
        let includes = Includes::default();
        assert_eq!(includes.merge(OWN, "", &[]), OWN);
    }
}
