//! What `/metrics` says: names, types, series at 0, counting, escaping,
//! usage figures.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::{names, parse, promtool_check, running, snapshot, stopped};
use crate::metrics::{usage, Metrics, EXIT_REASONS, HEALTH_RESULTS, JOB_RESULTS};
use crate::snapshot::{ExitInfo, ExitReason, HealthResult, JobResult, MemoryEnforcement};

/// Every metric of issue 6 and its type.
const EXPECTED: [(&str, &str); 30] = [
    ("oxinit_process_up", "gauge"),
    ("oxinit_process_restarts_total", "counter"),
    ("oxinit_process_exits_total", "counter"),
    ("oxinit_process_last_exit_code", "gauge"),
    ("oxinit_process_start_time_seconds", "gauge"),
    ("oxinit_process_memory_bytes", "gauge"),
    ("oxinit_process_memory_limit_bytes", "gauge"),
    ("oxinit_process_cpu_seconds_total", "counter"),
    ("oxinit_process_oom_kills_total", "counter"),
    ("oxinit_health_checks_total", "counter"),
    ("oxinit_health_check_duration_seconds", "histogram"),
    ("oxinit_oneshot_duration_seconds", "gauge"),
    ("oxinit_job_last_success_timestamp_seconds", "gauge"),
    ("oxinit_job_runs_total", "counter"),
    ("oxinit_process_reloads_total", "counter"),
    ("oxinit_zombies_reaped_total", "counter"),
    ("oxinit_log_lines_dropped_total", "counter"),
    ("oxinit_signals_received_total", "counter"),
    ("oxinit_memory_enforcement", "gauge"),
    ("oxinit_build_info", "gauge"),
    ("oxinit_sqlite_database_bytes", "gauge"),
    ("oxinit_sqlite_wal_bytes", "gauge"),
    ("oxinit_sqlite_filesystem_free_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_threads", "gauge"),
];

/// api (service with a limit), worker (service), migrate (oneshot),
/// optimize (job), and one database.
fn system() -> (Metrics, crate::snapshot::Snapshot, Vec<PathBuf>) {
    let metrics = Metrics::new(
        &names(&[
            ("api", "service"),
            ("worker", "service"),
            ("migrate", "oneshot"),
            ("optimize", "job"),
        ]),
        "1.2.3",
    );
    let mut api = stopped("api", "service");
    api.memory_limit_bytes = Some(512 << 20);
    let snap = snapshot(vec![
        api,
        stopped("worker", "service"),
        stopped("migrate", "oneshot"),
        stopped("optimize", "job"),
    ]);
    (metrics, snap, vec![PathBuf::from("/nonexistent/app.db")])
}

#[test]
fn every_metric_exists_with_its_type_and_help() {
    let (metrics, snap, dbs) = system();
    let text = metrics.render(&snap, &dbs);
    let exp = parse(&text);
    for (name, kind) in EXPECTED {
        assert_eq!(
            exp.types.get(name).map(String::as_str),
            Some(kind),
            "{name} in:\n{text}"
        );
        assert!(
            exp.helps.get(name).is_some_and(|h| h.len() > 10),
            "{name} has no useful HELP"
        );
        assert!(
            exp.samples
                .iter()
                .any(|s| super::family_of(&s.name, &exp.types) == Some(name)),
            "{name} has no sample"
        );
    }
    // Every oxinit_process_* / health / oneshot / job series names its process.
    for s in &exp.samples {
        let per_process = [
            "oxinit_process_",
            "oxinit_health_",
            "oxinit_oneshot_",
            "oxinit_job_",
        ]
        .iter()
        .any(|p| s.name.starts_with(p));
        if per_process {
            assert!(s.labels.contains_key("process"), "{s:?}");
        }
    }
    assert_eq!(exp.value("oxinit_build_info", &[("version", "1.2.3")]), 1.0);
}

#[test]
fn promtool_check_metrics_finds_nothing() {
    let (metrics, snap, dbs) = system();
    metrics.health_check("api", HealthResult::Ok, Duration::from_millis(3));
    metrics.signal_received("SIGHUP");
    let text = metrics.render(&snap, &dbs);
    if let Some(complaints) = promtool_check(&text) {
        assert_eq!(complaints, "", "promtool check metrics on:\n{text}");
    }
}

#[test]
fn promtool_catches_a_bad_exposition() {
    // The check above can fail: promtool does complain about bad names.
    if let Some(complaints) =
        promtool_check("# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n")
    {
        assert!(complaints.contains("_total"), "{complaints}");
    }
}

#[test]
fn series_exist_at_zero_before_the_first_run() {
    let (metrics, snap, dbs) = system();
    let exp = parse(&metrics.render(&snap, &dbs));
    for name in ["api", "worker", "migrate", "optimize"] {
        let p = ("process", name);
        assert_eq!(exp.value("oxinit_process_up", &[p]), 0.0);
        assert_eq!(exp.value("oxinit_process_restarts_total", &[p]), 0.0);
        assert_eq!(exp.value("oxinit_process_oom_kills_total", &[p]), 0.0);
        assert_eq!(exp.value("oxinit_process_cpu_seconds_total", &[p]), 0.0);
        assert_eq!(exp.value("oxinit_process_memory_bytes", &[p]), 0.0);
        assert_eq!(exp.value("oxinit_process_start_time_seconds", &[p]), 0.0);
        for reason in EXIT_REASONS {
            assert_eq!(
                exp.value("oxinit_process_exits_total", &[p, ("reason", reason)]),
                0.0
            );
        }
    }
    for service in ["api", "worker"] {
        for result in HEALTH_RESULTS {
            let labels = [("process", service), ("result", result)];
            assert_eq!(exp.value("oxinit_health_checks_total", &labels), 0.0);
        }
        for result in crate::metrics::registry::RELOAD_RESULTS {
            let labels = [("process", service), ("result", result)];
            assert_eq!(exp.value("oxinit_process_reloads_total", &labels), 0.0);
        }
        let count = [("process", service)];
        assert_eq!(
            exp.value("oxinit_health_check_duration_seconds_count", &count),
            0.0
        );
    }
    assert_eq!(
        exp.value("oxinit_oneshot_duration_seconds", &[("process", "migrate")]),
        0.0
    );
    for result in JOB_RESULTS {
        let labels = [("process", "optimize"), ("result", result)];
        assert_eq!(exp.value("oxinit_job_runs_total", &labels), 0.0);
    }
    assert_eq!(
        exp.value(
            "oxinit_job_last_success_timestamp_seconds",
            &[("process", "optimize")]
        ),
        0.0
    );
    assert_eq!(exp.value("oxinit_zombies_reaped_total", &[]), 0.0);
    // Nothing in this test binary fills oxinit's log queue.
    assert_eq!(exp.value("oxinit_log_lines_dropped_total", &[]), 0.0);
    assert_eq!(
        exp.value("oxinit_signals_received_total", &[("signal", "SIGTERM")]),
        0.0
    );
    // Job series only for jobs, health series only for services.
    assert!(exp
        .find("oxinit_job_runs_total", &[("process", "api")])
        .is_empty());
    assert!(exp
        .find("oxinit_health_checks_total", &[("process", "optimize")])
        .is_empty());
    assert!(exp
        .find("oxinit_process_reloads_total", &[("process", "optimize")])
        .is_empty());
}

#[test]
fn events_are_counted() {
    let (metrics, snap, dbs) = system();
    metrics.process_exited("worker", ExitReason::Signal, 137);
    metrics.process_exited("worker", ExitReason::Signal, 137);
    metrics.process_exited("worker", ExitReason::Oom, 137);
    metrics.process_restarted("worker");
    metrics.oom_kills("worker", 1);
    metrics.health_check("api", HealthResult::Ok, Duration::from_millis(20));
    metrics.health_check("api", HealthResult::Timeout, Duration::from_secs(2));
    metrics.oneshot_finished("migrate", Duration::from_millis(1500));
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_123);
    metrics.job_run("optimize", JobResult::Success, at);
    metrics.job_run("optimize", JobResult::Failure, at + Duration::from_secs(99));
    metrics.zombies_reaped(3);
    metrics.signal_received("SIGTERM");
    metrics.signal_received("TERM");
    metrics.signal_received("SIGWINCH");
    metrics.set_memory_enforcement(MemoryEnforcement::Cgroup1);
    let mut snap = snap;
    snap.memory_enforcement = None; // not yet in the snapshot
    let exp = parse(&metrics.render(&snap, &dbs));
    let w = ("process", "worker");
    assert_eq!(
        exp.value("oxinit_process_exits_total", &[w, ("reason", "signal")]),
        2.0
    );
    assert_eq!(
        exp.value("oxinit_process_exits_total", &[w, ("reason", "oom")]),
        1.0
    );
    assert_eq!(exp.value("oxinit_process_last_exit_code", &[w]), 137.0);
    assert_eq!(exp.value("oxinit_process_restarts_total", &[w]), 1.0);
    assert_eq!(exp.value("oxinit_process_oom_kills_total", &[w]), 1.0);
    let api = ("process", "api");
    assert_eq!(
        exp.value("oxinit_health_checks_total", &[api, ("result", "timeout")]),
        1.0
    );
    assert_eq!(
        exp.value("oxinit_health_check_duration_seconds_count", &[api]),
        2.0
    );
    assert!((exp.value("oxinit_health_check_duration_seconds_sum", &[api]) - 2.02).abs() < 1e-9);
    assert_eq!(
        exp.value(
            "oxinit_health_check_duration_seconds_bucket",
            &[api, ("le", "0.025")]
        ),
        1.0
    );
    assert_eq!(
        exp.value("oxinit_oneshot_duration_seconds", &[("process", "migrate")]),
        1.5
    );
    let job = ("process", "optimize");
    assert_eq!(
        exp.value("oxinit_job_last_success_timestamp_seconds", &[job]),
        1_700_000_123.0,
        "a failure does not move the last success"
    );
    assert_eq!(
        exp.value("oxinit_job_runs_total", &[job, ("result", "failure")]),
        1.0
    );
    assert_eq!(exp.value("oxinit_zombies_reaped_total", &[]), 3.0);
    assert_eq!(
        exp.value("oxinit_signals_received_total", &[("signal", "SIGTERM")]),
        2.0
    );
    assert_eq!(
        exp.value("oxinit_signals_received_total", &[("signal", "SIGWINCH")]),
        1.0
    );
    for (mode, want) in [("cgroup2", 0.0), ("cgroup1", 1.0), ("poll", 0.0)] {
        assert_eq!(
            exp.value("oxinit_memory_enforcement", &[("mode", mode)]),
            want
        );
    }
}

#[test]
fn gauges_follow_the_snapshot() {
    let (metrics, mut snap, dbs) = system();
    let me = std::process::id() as i32;
    snap.processes[1] = running("worker", "service", me);
    snap.processes[1].last_exit = Some(ExitInfo {
        code: 3,
        reason: ExitReason::Exit,
        at: 1.0,
    });
    snap.memory_enforcement = Some(MemoryEnforcement::Cgroup2);
    let exp = parse(&metrics.render(&snap, &dbs));
    let w = ("process", "worker");
    assert_eq!(exp.value("oxinit_process_up", &[w]), 1.0);
    assert_eq!(
        exp.value("oxinit_process_start_time_seconds", &[w]),
        1_700_000_000.5
    );
    assert_eq!(exp.value("oxinit_process_last_exit_code", &[w]), 3.0);
    // Our own process tree (the test binary) has memory.
    assert!(exp.value("oxinit_process_memory_bytes", &[w]) > 1e6);
    assert_eq!(
        exp.value("oxinit_memory_enforcement", &[("mode", "cgroup2")]),
        1.0
    );
    // The limit series exists only where there is a limit.
    assert_eq!(
        exp.value("oxinit_process_memory_limit_bytes", &[("process", "api")]),
        (512u64 << 20) as f64
    );
    assert!(exp
        .find("oxinit_process_memory_limit_bytes", &[w])
        .is_empty());
    // The worker stops: back to 0.
    snap.processes[1] = stopped("worker", "service");
    let exp = parse(&metrics.render(&snap, &dbs));
    assert_eq!(exp.value("oxinit_process_up", &[w]), 0.0);
    assert_eq!(exp.value("oxinit_process_memory_bytes", &[w]), 0.0);
    assert_eq!(exp.value("oxinit_process_start_time_seconds", &[w]), 0.0);
}

#[test]
fn odd_names_are_escaped() {
    let odd = "we\"ird\\na\nme";
    let metrics = Metrics::new(&names(&[(odd, "service")]), "0.1.0");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("my \"data\"\\\ndir.db");
    fs::write(&db, b"12345").unwrap();
    let snap = snapshot(vec![stopped(odd, "service")]);
    let text = metrics.render(&snap, std::slice::from_ref(&db));
    let exp = parse(&text);
    assert_eq!(exp.value("oxinit_process_up", &[("process", odd)]), 0.0);
    let path = db.to_str().unwrap();
    assert_eq!(
        exp.value("oxinit_sqlite_database_bytes", &[("path", path)]),
        5.0
    );
    if let Some(complaints) = promtool_check(&text) {
        assert_eq!(complaints, "");
    }
}

/// A fake /proc with one process (pid = group) using `ticks` of CPU and
/// `pages` of memory.
fn fake_proc(root: &Path, pid: i32, ticks: u64, pages: u64) {
    let dir = root.join(pid.to_string());
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("stat"),
        format!(
            "{pid} (app) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {ticks} 0 0 0 20 0 1 0 \
             12345 1000000 {pages} 18446744073709551615 1 1 0 0 0\n"
        ),
    )
    .unwrap();
}

#[test]
fn cpu_counter_never_goes_down_and_sums_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics = Metrics::new(&names(&[("app", "service")]), "0.1.0")
        .with_proc_root(tmp.path())
        .with_usage_max_age(Duration::ZERO);
    let cpu = |snap: &crate::snapshot::Snapshot| {
        parse(&metrics.render(snap, &[]))
            .value("oxinit_process_cpu_seconds_total", &[("process", "app")])
    };
    let mut run1 = running("app", "service", 100);
    let snap = snapshot(vec![run1.clone()]);
    fake_proc(tmp.path(), 100, 200, 10);
    let first = cpu(&snap);
    assert!(first > 0.0);
    // A descendant was reaped: the /proc sum drops; the counter must not.
    fake_proc(tmp.path(), 100, 50, 10);
    assert_eq!(cpu(&snap), first);
    fake_proc(tmp.path(), 100, 300, 10);
    let more = cpu(&snap);
    assert!((more - first * 1.5).abs() < 1e-9, "{more} vs {first}");
    // Stopped: the counter keeps its value.
    run1.up = false;
    run1.pid = None;
    assert_eq!(cpu(&snapshot(vec![run1])), more);
    // A new run starts from 0 in its own tree: the counter adds it.
    let mut run2 = running("app", "service", 200);
    run2.started_at = Some(1_700_000_100.0);
    fake_proc(tmp.path(), 200, 100, 10);
    let total = cpu(&snapshot(vec![run2]));
    assert!(
        (total - more * (4.0 / 3.0)).abs() < 1e-9,
        "{total} vs {more}"
    );
}

#[test]
fn usage_is_reused_within_its_max_age() {
    let tmp = tempfile::tempdir().unwrap();
    let memory = |metrics: &Metrics, pages: u64| {
        fake_proc(tmp.path(), 100, 100, pages);
        let snap = snapshot(vec![running("app", "service", 100)]);
        parse(&metrics.render(&snap, &[]))
            .value("oxinit_process_memory_bytes", &[("process", "app")])
    };
    let cached = Metrics::new(&names(&[("app", "service")]), "0.1.0")
        .with_proc_root(tmp.path())
        .with_usage_max_age(Duration::from_secs(3600));
    let first = memory(&cached, 10);
    assert!(first > 0.0);
    assert_eq!(memory(&cached, 20), first, "read again within the max age");
    let fresh = Metrics::new(&names(&[("app", "service")]), "0.1.0")
        .with_proc_root(tmp.path())
        .with_usage_max_age(Duration::ZERO);
    assert_eq!(memory(&fresh, 10), first);
    assert_eq!(memory(&fresh, 20), first * 2.0);
}

#[test]
fn usage_from_proc_when_there_is_no_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path(), 100, 100, 10);
    fake_proc(tmp.path(), 101, 100, 30); // not in the tree
    let u = usage::read(&running("app", "service", 100), tmp.path());
    let per_page = u.memory_bytes.unwrap() / 10;
    assert!(per_page >= 4096, "{u:?}");
    assert!(u.cpu_seconds.unwrap() > 0.0);
    assert_eq!(u.memory_peak_bytes, None);
    // Not running: nothing, even though the pid's files exist.
    let mut gone = running("app", "service", 100);
    gone.up = false;
    assert_eq!(usage::read(&gone, tmp.path()), usage::Usage::default());
}

#[test]
fn usage_from_a_cgroup_v2_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("oxinit-app");
    fs::create_dir(&cg).unwrap();
    fs::write(cg.join("memory.current"), "1048576\n").unwrap();
    fs::write(cg.join("memory.peak"), "2097152\n").unwrap();
    fs::write(
        cg.join("cpu.stat"),
        "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
    )
    .unwrap();
    let mut p = running("app", "service", 100);
    p.cgroups = vec![cg];
    // No /proc at all: the cgroup is enough.
    let u = usage::read(&p, &tmp.path().join("no-proc"));
    assert_eq!(u.memory_bytes, Some(1 << 20));
    assert_eq!(u.memory_peak_bytes, Some(2 << 20));
    assert_eq!(u.cpu_seconds, Some(2.5));
}

#[test]
fn usage_from_cgroup_v1_hierarchies() {
    let tmp = tempfile::tempdir().unwrap();
    let memory = tmp.path().join("memory/oxinit-app");
    let cpuacct = tmp.path().join("cpuacct/oxinit-app");
    fs::create_dir_all(&memory).unwrap();
    fs::create_dir_all(&cpuacct).unwrap();
    fs::write(memory.join("memory.usage_in_bytes"), "4096\n").unwrap();
    fs::write(memory.join("memory.max_usage_in_bytes"), "8192\n").unwrap();
    fs::write(cpuacct.join("cpuacct.usage"), "1500000000\n").unwrap();
    let mut p = running("app", "service", 100);
    p.cgroups = vec![memory.clone(), cpuacct];
    let u = usage::read(&p, tmp.path());
    assert_eq!(u.memory_bytes, Some(4096));
    assert_eq!(u.memory_peak_bytes, Some(8192));
    assert_eq!(u.cpu_seconds, Some(1.5));
    // v1 without a cpuacct cgroup: CPU from /proc, memory from the cgroup.
    let proc_root = tmp.path().join("proc");
    fake_proc(&proc_root, 100, 100, 1);
    p.cgroups = vec![memory];
    let u = usage::read(&p, &proc_root);
    assert_eq!(u.memory_bytes, Some(4096));
    assert!(u.cpu_seconds.unwrap() > 0.0);
}

#[test]
fn sqlite_gauges_follow_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    let metrics = Metrics::new(&[], "0.1.0");
    let snap = snapshot(vec![]);
    let path = db.to_str().unwrap();
    let read = |name: &str| {
        parse(&metrics.render(&snap, std::slice::from_ref(&db))).value(name, &[("path", path)])
    };
    assert_eq!(read("oxinit_sqlite_database_bytes"), 0.0);
    assert!(read("oxinit_sqlite_filesystem_free_bytes") > 0.0);
    fs::write(&db, vec![0u8; 8192]).unwrap();
    fs::write(crate::sqlite::wal_path(&db), vec![0u8; 4120]).unwrap();
    assert_eq!(read("oxinit_sqlite_database_bytes"), 8192.0);
    assert_eq!(read("oxinit_sqlite_wal_bytes"), 4120.0);
    fs::remove_file(crate::sqlite::wal_path(&db)).unwrap();
    assert_eq!(read("oxinit_sqlite_wal_bytes"), 0.0);
}

/// The count lives in `diag`; each scrape copies it, and a counter never
/// goes down.
#[test]
fn dropped_log_lines_are_copied_from_the_logger_at_each_scrape() {
    let (metrics, snap, dbs) = system();
    metrics.refresh_log_lines_dropped(5);
    let exp = parse(&metrics.render(&snap, &dbs));
    assert_eq!(exp.value("oxinit_log_lines_dropped_total", &[]), 5.0);
    metrics.refresh_log_lines_dropped(3);
    let exp = parse(&metrics.render(&snap, &dbs));
    assert_eq!(exp.value("oxinit_log_lines_dropped_total", &[]), 5.0);
}
