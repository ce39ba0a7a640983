//! Metrics and /health end to end (issue 6): the real oxinit as PID 1,
//! scraped over HTTP like Prometheus would, checked by Prometheus's own tools
//! (`promtool check metrics`, a real Prometheus server), and driven through
//! boot, failures and idle connections. The SQLite side is in sqlite_e2e.rs.
//!
//! Process names carry the test binary's pid where oxinit may make cgroups
//! for them (`oxinit-<process>`, shared by every test on the machine).
//!
//! Without root these tests print `SKIP: …` and pass, except under CI=true.

mod common;
#[path = "common/http.rs"]
mod http;
#[path = "common/prom.rs"]
mod prom;
#[path = "common/prometheus_server.rs"]
mod prometheus_server;
#[path = "common/supervised.rs"]
mod supervised;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use prom::Kind;
use prometheus_server::{Prometheus, PROMETHEUS, PROMTOOL};
use supervised::{process, shut_down, skip, toml_path, unique, Setup};

const MIB: f64 = (1u64 << 20) as f64;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Root, and the Prometheus tools where the test needs them.
fn can_run(test: &str, tools: &[&str]) -> bool {
    if !require_root(test) {
        return false;
    }
    match tools.iter().find(|t| !Path::new(t).exists()) {
        Some(missing) => {
            skip(
                test,
                &format!("{missing} is not installed (apt install prometheus)"),
            );
            false
        }
        None => true,
    }
}

/// Who the series of a family are about.
#[derive(Clone, Copy)]
enum About {
    /// oxinit itself: no `process` label.
    Oxinit,
    /// Every process of the oxfile.
    Every,
    /// Services (health checks), oneshots, jobs, processes with a memory limit.
    Services,
    Oneshots,
    Jobs,
    Limited,
}

/// Every family oxinit serves: name, TYPE, labels besides `process` (and
/// `le`), and whose series it has.
#[rustfmt::skip]
const FAMILIES: &[(&str, Kind, &[&str], About)] = &[
    ("oxinit_process_up",                         Kind::Gauge,     &[],          About::Every),
    ("oxinit_process_restarts_total",             Kind::Counter,   &[],          About::Every),
    ("oxinit_process_exits_total",                Kind::Counter,   &["reason"],  About::Every),
    ("oxinit_process_last_exit_code",             Kind::Gauge,     &[],          About::Every),
    ("oxinit_process_start_time_seconds",         Kind::Gauge,     &[],          About::Every),
    ("oxinit_process_memory_bytes",               Kind::Gauge,     &[],          About::Every),
    ("oxinit_process_memory_limit_bytes",         Kind::Gauge,     &[],          About::Limited),
    ("oxinit_process_cpu_seconds_total",          Kind::Counter,   &[],          About::Every),
    ("oxinit_process_oom_kills_total",            Kind::Counter,   &[],          About::Every),
    ("oxinit_health_checks_total",                Kind::Counter,   &["result"],  About::Services),
    ("oxinit_health_check_duration_seconds",      Kind::Histogram, &[],          About::Services),
    ("oxinit_oneshot_duration_seconds",           Kind::Gauge,     &[],          About::Oneshots),
    ("oxinit_job_last_success_timestamp_seconds", Kind::Gauge,     &[],          About::Jobs),
    ("oxinit_job_runs_total",                     Kind::Counter,   &["result"],  About::Jobs),
    ("oxinit_zombies_reaped_total",               Kind::Counter,   &[],          About::Oxinit),
    ("oxinit_log_lines_dropped_total",            Kind::Counter,   &[],          About::Oxinit),
    ("oxinit_signals_received_total",             Kind::Counter,   &["signal"],  About::Oxinit),
    ("oxinit_memory_enforcement",                 Kind::Gauge,     &["mode"],    About::Oxinit),
    ("oxinit_build_info",                         Kind::Gauge,     &["version"], About::Oxinit),
    ("oxinit_sqlite_database_bytes",              Kind::Gauge,     &["path"],    About::Oxinit),
    ("oxinit_sqlite_wal_bytes",                   Kind::Gauge,     &["path"],    About::Oxinit),
    ("oxinit_sqlite_filesystem_free_bytes",       Kind::Gauge,     &["path"],    About::Oxinit),
    ("oxinit_sqlite_journal_mode",                Kind::Gauge,     &["path", "mode"], About::Oxinit),
    ("process_cpu_seconds_total",                 Kind::Counter,   &[],          About::Oxinit),
    ("process_resident_memory_bytes",             Kind::Gauge,     &[],          About::Oxinit),
    ("process_virtual_memory_bytes",              Kind::Gauge,     &[],          About::Oxinit),
    ("process_start_time_seconds",                Kind::Gauge,     &[],          About::Oxinit),
    ("process_open_fds",                          Kind::Gauge,     &[],          About::Oxinit),
    ("process_max_fds",                           Kind::Gauge,     &[],          About::Oxinit),
];

/// The oxfile of the full tour: a oneshot, a checked service with a memory
/// limit, a plain service, a job and a database; returns the names.
struct Tour {
    setup: String,
    web: String,
    other: String,
    nightly: String,
}

impl Tour {
    fn new() -> Tour {
        Tour {
            setup: "setup".into(),
            web: unique("web"),
            other: unique("other"),
            nightly: "nightly".into(),
        }
    }

    fn oxfile(&self, s: &Setup, db: &Path) -> std::path::PathBuf {
        let Tour {
            setup,
            web,
            other,
            nightly,
        } = self;
        s.oxfile(
            "",
            &format!(
                r#"
[sqlite]
databases = [{db}]

[processes.{setup}]
command = "true"
oneshot = true

[processes.{web}]
command = "sleep 1000"
depends_on = ["{setup}"]
limits = {{ memory = "64M" }}
health = {{ type = "exec", command = "true", interval = "1s", timeout = "500ms" }}

[processes.{other}]
command = "sleep 1000"

[processes.{nightly}]
command = "true"
schedule = "0 3 * * *"
"#,
                db = toml_path(db)
            ),
        )
    }

    fn about(&self, about: About) -> Vec<&str> {
        match about {
            About::Oxinit => vec![],
            About::Every => vec![&self.setup, &self.web, &self.other, &self.nightly],
            About::Services | About::Limited => vec![&self.web],
            About::Oneshots => vec![&self.setup],
            About::Jobs => vec![&self.nightly],
        }
    }
}

/// Issue 6: every metric of the contract is served with its TYPE and labels,
/// per process where it should be, with values that make sense; and
/// Prometheus's own linter (`promtool check metrics`) finds nothing to say.
#[test]
fn every_metric_is_served_with_its_type_and_promtool_agrees() {
    const TEST: &str = "every_metric_is_served_with_its_type_and_promtool_agrees";
    if !can_run(TEST, &[PROMTOOL]) {
        return;
    }
    let started = unix_now();
    let setup = Setup::new();
    let db = setup.scratch.file("app.db");
    let tour = Tour::new();
    let mut ox = setup.start(&tour.oxfile(&setup, &db));
    let scrape = setup.wait_scrape(&mut ox, secs(10), "a passed health check", |s| {
        s.value(
            "oxinit_health_checks_total",
            &[("process", &tour.web), ("result", "ok")],
        )
        .is_some_and(|n| n >= 1.0)
    });

    for &(name, kind, labels, about) in FAMILIES {
        let family = scrape
            .family(name)
            .unwrap_or_else(|| panic!("no {name} in the scrape: {:#?}", scrape.families));
        assert_eq!(family.kind, kind, "TYPE of {name}");
        assert!(
            family.help.as_ref().is_some_and(|h| !h.is_empty()),
            "HELP of {name}"
        );
        let mut want: BTreeSet<&str> = labels.iter().copied().collect();
        if !matches!(about, About::Oxinit) {
            want.insert("process");
        }
        for sample in &family.samples {
            let have: BTreeSet<&str> = sample
                .labels
                .keys()
                .map(String::as_str)
                .filter(|&l| l != "le")
                .collect();
            assert_eq!(have, want, "labels of {sample:?}");
        }
        let processes = family.label_values("process");
        for who in tour.about(about) {
            assert!(
                processes.iter().any(|p| p == who),
                "{name} has no series for {who}: {processes:?}"
            );
        }
    }

    // Label values and values that say something.
    let reasons = ["exit", "health", "memory", "oom", "signal", "stop"];
    assert_eq!(
        scrape
            .family("oxinit_process_exits_total")
            .unwrap()
            .label_values("reason"),
        reasons
    );
    assert_eq!(
        scrape
            .family("oxinit_process_memory_limit_bytes")
            .unwrap()
            .label_values("process"),
        [tour.web.as_str()],
        "only a process with a limit has a limit series"
    );
    assert_eq!(
        scrape.of("oxinit_process_memory_limit_bytes", &tour.web),
        Some(64.0 * MIB)
    );
    let modes = scrape.family("oxinit_memory_enforcement").unwrap();
    assert_eq!(modes.label_values("mode"), ["cgroup1", "cgroup2", "poll"]);
    assert_eq!(
        modes.samples.iter().map(|s| s.value).sum::<f64>(),
        1.0,
        "one mode"
    );
    let version = run(Command::new(bin()).arg("--version"), secs(10)).stdout;
    let version = version.trim().trim_start_matches("oxinit ");
    assert_eq!(
        scrape.value("oxinit_build_info", &[("version", version)]),
        Some(1.0)
    );
    let signals = scrape.family("oxinit_signals_received_total").unwrap();
    for signal in ["SIGTERM", "SIGINT"] {
        assert!(
            signals.label_values("signal").iter().any(|s| s == signal),
            "{signal}"
        );
    }
    let runs = scrape
        .family("oxinit_job_runs_total")
        .unwrap()
        .label_values("result");
    for result in ["success", "failure"] {
        assert!(
            runs.iter().any(|r| r == result),
            "job result {result}: {runs:?}"
        );
    }
    for (who, up) in [
        (&tour.web, 1.0),
        (&tour.other, 1.0),
        (&tour.setup, 0.0),
        (&tour.nightly, 0.0),
    ] {
        assert_eq!(scrape.of("oxinit_process_up", who), Some(up), "up of {who}");
    }
    let now = unix_now();
    let web_start = scrape
        .of("oxinit_process_start_time_seconds", &tour.web)
        .unwrap();
    assert!(
        (started - 1.0..now + 1.0).contains(&web_start),
        "{web_start} not in [{started}, {now}]"
    );
    let own_start = scrape.value("process_start_time_seconds", &[]).unwrap();
    assert!(
        (started - 2.0..now + 1.0).contains(&own_start),
        "oxinit started at {own_start}"
    );
    let took = scrape
        .of("oxinit_oneshot_duration_seconds", &tour.setup)
        .unwrap();
    assert!(took > 0.0 && took < 10.0, "`true` took {took}s");
    assert!(scrape.value("process_resident_memory_bytes", &[]).unwrap() > MIB);
    let db_label = db.to_str().unwrap();
    assert_eq!(
        scrape.value("oxinit_sqlite_database_bytes", &[("path", db_label)]),
        Some(0.0)
    );
    assert!(scrape.value("oxinit_sqlite_filesystem_free_bytes", &[("path", db_label)]) > Some(0.0));
    let checks = scrape
        .value(
            "oxinit_health_check_duration_seconds_count",
            &[("process", &tour.web)],
        )
        .unwrap();
    assert!(checks >= 1.0, "the histogram counts the checks");

    // Prometheus's own parser and linter on the very same text.
    let body = setup.request("GET", "/metrics").expect("GET /metrics").body;
    let file = setup.scratch.file("metrics.txt");
    fs::write(&file, &body).unwrap();
    let lint = run(
        Command::new("sh").args([
            "-c",
            &format!("{PROMTOOL} check metrics < '{}'", file.display()),
        ]),
        secs(20),
    );
    assert_eq!(
        lint.code,
        ExitCode::Code(0),
        "promtool check metrics: {lint:?}\n{body}"
    );
    assert_eq!(
        (lint.stdout.trim(), lint.stderr.trim()),
        ("", ""),
        "promtool has something to say"
    );
    shut_down(&mut ox);
}

/// Issue 6: a real Prometheus server scrapes a running oxinit; its query API
/// has `oxinit_process_up` for each process, and its metadata (what
/// Prometheus's parser made of the TYPE lines) has the right type for every
/// family.
#[test]
fn a_prometheus_server_scrapes_oxinit() {
    const TEST: &str = "a_prometheus_server_scrapes_oxinit";
    if !can_run(TEST, &[PROMETHEUS]) {
        return;
    }
    let setup = Setup::new();
    let db = setup.scratch.file("app.db");
    let tour = Tour::new();
    let mut ox = setup.start(&tour.oxfile(&setup, &db));
    setup.wait_scrape(&mut ox, secs(10), "web up", |s| {
        s.of("oxinit_process_up", &tour.web) == Some(1.0)
    });
    let prometheus = Prometheus::start(setup.scratch.path(), setup.addr());

    let want = [
        (&tour.setup, "0"),
        (&tour.web, "1"),
        (&tour.other, "1"),
        (&tour.nightly, "0"),
    ];
    let seen = wait_until_every(
        secs(15),
        Duration::from_millis(200),
        "oxinit_process_up in Prometheus",
        || {
            let result = prometheus.query("oxinit_process_up");
            let found: Vec<(String, String)> = result
                .iter()
                .map(|r| {
                    assert_eq!(r["metric"]["job"], "oxinit", "{r}");
                    (
                        r["metric"]["process"].as_str().unwrap_or("").to_owned(),
                        r["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            want.iter()
                .all(|(p, v)| found.iter().any(|(fp, fv)| fp == *p && fv == v))
                .then_some(found)
        },
    );
    assert_eq!(seen.len(), want.len(), "one series per process: {seen:?}");
    let up = prometheus.query("up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["value"][1], "1", "the scrape succeeds: {up:?}");

    let metadata = wait_until_every(secs(10), Duration::from_millis(200), "metadata", || {
        prometheus
            .api("/api/v1/metadata")
            .filter(|m| m.get("oxinit_process_up").is_some())
    });
    for &(name, kind, _, _) in FAMILIES {
        let types: Vec<&str> = metadata[name]
            .as_array()
            .unwrap_or_else(|| panic!("Prometheus has no metadata for {name}: {metadata:#}"))
            .iter()
            .filter_map(|m| m["type"].as_str())
            .collect();
        assert_eq!(types, [kind.to_string()], "Prometheus's type of {name}");
    }
    drop(prometheus);
    shut_down(&mut ox);
}

/// Issue 6: /health is 503 while boot waits for a oneshot, 200 once every
/// service is up, and 503 again when a non-critical service failed for good,
/// while oxinit keeps the rest running; `oxinit healthcheck` agrees.
#[test]
fn health_is_503_during_boot_200_when_up_and_503_after_a_failure() {
    const TEST: &str = "health_is_503_during_boot_200_when_up_and_503_after_a_failure";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let booting = setup.scratch.fifo("booting");
    let failing = setup.scratch.fifo("failing");
    let (steady, flaky) = (unique("steady"), unique("flaky"));
    let config = setup.oxfile(
        "",
        &format!(
            r#"
[processes.gate]
command = ["sh", "-c", "read _ < {booting}"]
oneshot = true

[processes.{steady}]
command = "sleep 1000"

[processes.{flaky}]
command = ["sh", "-c", "read _ < {failing}; exit 3"]
critical = false
max_restarts = 0
"#,
            booting = booting.display(),
            failing = failing.display()
        ),
    );
    let mut ox = setup.start(&config);
    let health = |code: u16| setup.request("GET", "/health").filter(|r| r.status == code);
    let json = |body: &str| -> serde_json::Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/health body ({e}): {body}"))
    };

    let during = wait_until(secs(10), "/health to answer", || {
        setup.request("GET", "/health")
    });
    assert_eq!(during.status, 503, "during boot: {during:?}");
    assert_eq!(json(&during.body)["booted"], false, "{}", during.body);
    assert_eq!(
        setup.healthcheck(),
        ExitCode::Code(1),
        "healthcheck during boot"
    );

    open_gate(&booting, secs(10));
    let up = wait_until(secs(10), "/health 200", || health(200));
    let body = json(&up.body);
    assert_eq!(
        (&body["booted"], &body["healthy"]),
        (&true.into(), &true.into()),
        "{body}"
    );
    assert_eq!(
        setup.healthcheck(),
        ExitCode::Code(0),
        "healthcheck when up"
    );

    open_gate(&failing, secs(10));
    let down = wait_until(secs(10), "/health 503 again", || health(503));
    let body = json(&down.body);
    assert_eq!(
        (&body["booted"], &body["healthy"]),
        (&true.into(), &false.into()),
        "{body}"
    );
    assert!(
        down.body.contains(&flaky),
        "the body names {flaky}: {}",
        down.body
    );
    assert_eq!(
        setup.healthcheck(),
        ExitCode::Code(1),
        "healthcheck after the failure"
    );
    assert_eq!(
        ox.try_wait(),
        None,
        "a non-critical failure keeps oxinit running"
    );
    let scrape = setup.wait_scrape(&mut ox, secs(5), "flaky down in the metrics", |s| {
        s.of("oxinit_process_up", &flaky) == Some(0.0)
            && s.of("oxinit_process_last_exit_code", &flaky) == Some(3.0)
    });
    assert_eq!(scrape.of("oxinit_process_up", &steady), Some(1.0));
    assert_eq!(
        scrape.of("oxinit_process_restarts_total", &flaky),
        Some(0.0)
    );
    shut_down(&mut ox);
}

/// Issue 6: what oxinit does not serve is 404; a method other than GET/HEAD
/// on what it serves is 405 with an Allow header.
#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    const TEST: &str = "unknown_paths_are_404_and_other_methods_405";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let config = setup.oxfile("", "[processes.app]\ncommand = \"sleep 1000\"\n");
    let mut ox = setup.start(&config);
    setup.wait_scrape(&mut ox, secs(10), "app up", |s| {
        s.of("oxinit_process_up", "app") == Some(1.0)
    });

    for path in ["/", "/nope", "/metrics/x", "/healthz"] {
        let r = setup.request("GET", path).expect("an answer");
        assert_eq!(r.status, 404, "GET {path}: {r:?}");
    }
    for (method, path) in [
        ("POST", "/metrics"),
        ("PUT", "/health"),
        ("DELETE", "/status"),
    ] {
        let r = setup.request(method, path).expect("an answer");
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        let allow = r.header("allow").unwrap_or("");
        assert!(allow.contains("GET"), "{method} {path}: Allow {allow:?}");
    }
    let status = setup.request("GET", "/status").expect("GET /status");
    assert_eq!(status.status, 200, "{status:?}");
    let json: serde_json::Value = serde_json::from_str(&status.body).expect("/status is JSON");
    assert_eq!(process(&json, "app")["state"], "running", "{json:#}");
    shut_down(&mut ox);
}

/// Issue 6: hundreds of clients that connect and send nothing (or half a
/// request) stop neither scrapes nor supervision: /metrics still answers,
/// and a service that exits meanwhile is restarted.
#[test]
fn idle_connections_stop_neither_scrapes_nor_supervision() {
    const TEST: &str = "idle_connections_stop_neither_scrapes_nor_supervision";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let gate = setup.scratch.fifo("exit");
    let bouncer = unique("bouncer");
    let config = setup.oxfile(
        "",
        &format!(
            r#"
[processes.{bouncer}]
command = ["sh", "-c", "read _ < {}; exit 1"]
restart_delay = "100ms"
critical = false
"#,
            gate.display()
        ),
    );
    let mut ox = setup.start(&config);
    let first = setup.wait_scrape(&mut ox, secs(10), "bouncer up", |s| {
        s.of("oxinit_process_up", &bouncer) == Some(1.0)
    });
    let first_start = first
        .of("oxinit_process_start_time_seconds", &bouncer)
        .expect("a start time");

    let mut idle = Vec::new();
    for i in 0..400 {
        let mut conn = TcpStream::connect_timeout(&setup.addr(), secs(5))
            .unwrap_or_else(|e| panic!("idle connection {i}: {e}"));
        if i % 2 == 1 {
            conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        idle.push(conn);
    }
    for _ in 0..3 {
        let scrape = setup
            .try_scrape()
            .expect("a scrape while 400 connections idle");
        assert_eq!(scrape.of("oxinit_process_up", &bouncer), Some(1.0));
    }
    open_gate(&gate, secs(10));
    // A new run: the start time moved (a scrape can catch the exit counted a
    // moment before `up` falls, so restarts and up alone are not enough).
    setup.wait_scrape(&mut ox, secs(10), "the bouncer restarted", |s| {
        s.of("oxinit_process_restarts_total", &bouncer) == Some(1.0)
            && s.of("oxinit_process_up", &bouncer) == Some(1.0)
            && s.of("oxinit_process_start_time_seconds", &bouncer) > Some(first_start)
    });
    let status = setup.wait_status(&mut ox, secs(5), "the bouncer running again", |s| {
        process(s, &bouncer)["state"] == "running"
    });
    assert_eq!(process(&status, &bouncer)["restarts"], 1, "{status:#}");
    wait_until(secs(5), "/health 200 after the restart", || {
        setup.request("GET", "/health").filter(|r| r.status == 200)
    });
    drop(idle);
    shut_down(&mut ox);
}

/// Issue 6: `oxinit_zombies_reaped_total` counts adopted orphans (its HELP:
/// "not counting its own children"): three orphans are three, whatever
/// oxinit's own oneshots and health-check commands did meanwhile.
#[test]
fn zombies_reaped_counts_adopted_orphans_only() {
    const TEST: &str = "zombies_reaped_counts_adopted_orphans_only";
    if !require_root(TEST) {
        return;
    }
    let setup = Setup::new();
    let (orphans, checked) = (unique("orphans"), unique("checked"));
    let config = setup.oxfile(
        "",
        &format!(
            r#"
[processes.once]
command = "true"
oneshot = true

[processes.{orphans}]
command = ["sh", "-c", "(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &); exec sleep 1000"]

[processes.{checked}]
command = "sleep 1000"
health = {{ type = "exec", command = "true", interval = "1s", timeout = "500ms" }}
"#
        ),
    );
    let mut ox = setup.start(&config);
    let scrape = setup.wait_scrape(&mut ox, secs(10), "three orphans and two checks", |s| {
        s.value("oxinit_zombies_reaped_total", &[]) >= Some(3.0)
            && s.value(
                "oxinit_health_checks_total",
                &[("process", &checked), ("result", "ok")],
            ) >= Some(2.0)
    });
    assert_eq!(
        scrape.value("oxinit_zombies_reaped_total", &[]),
        Some(3.0),
        "three orphans were adopted; the oneshot and the health checks are oxinit's own children"
    );
    shut_down(&mut ox);
}
