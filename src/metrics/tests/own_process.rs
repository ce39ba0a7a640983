//! oxinit's own `process_*` metrics: the conventional names, types and help,
//! values that match known facts about real processes, and metrics left out
//! (not zeroed, no panic) when their file cannot be read.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::proto::{MetricFamily, MetricType};

use crate::metrics::own_process::OwnProcess;
use crate::proc_stat;

/// Name → (type, help) as client_golang and the prometheus crate export them.
const CONVENTION: [(&str, MetricType, &str); 7] = [
    (
        "process_cpu_seconds_total",
        MetricType::COUNTER,
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_open_fds",
        MetricType::GAUGE,
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        MetricType::GAUGE,
        "Maximum number of open file descriptors.",
    ),
    (
        "process_virtual_memory_bytes",
        MetricType::GAUGE,
        "Virtual memory size in bytes.",
    ),
    (
        "process_resident_memory_bytes",
        MetricType::GAUGE,
        "Resident memory size in bytes.",
    ),
    (
        "process_start_time_seconds",
        MetricType::GAUGE,
        "Start time of the process since unix epoch in seconds.",
    ),
    (
        "process_threads",
        MetricType::GAUGE,
        "Number of OS threads in the process.",
    ),
];

/// Name → value of each collected family, checking each has one
/// unlabelled sample of its type.
fn values(families: &[MetricFamily]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for f in families {
        assert_eq!(f.get_metric().len(), 1, "{}", f.name());
        let m = &f.get_metric()[0];
        assert!(m.get_label().is_empty(), "{}", f.name());
        let value = match f.get_field_type() {
            MetricType::COUNTER => m.get_counter().get_value(),
            MetricType::GAUGE => m.get_gauge().get_value(),
            other => panic!("{} is a {other:?}", f.name()),
        };
        assert!(out.insert(f.name().to_owned(), value).is_none());
    }
    out
}

fn names(values: &BTreeMap<String, f64>) -> Vec<&str> {
    values.keys().map(String::as_str).collect()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn names_types_and_help_are_the_conventional_ones() {
    let collector = OwnProcess::new();
    let descs = collector.desc();
    assert_eq!(descs.len(), CONVENTION.len());
    let families = collector.collect();
    assert_eq!(families.len(), CONVENTION.len());
    for (name, kind, help) in CONVENTION {
        let desc = descs.iter().find(|d| d.fq_name == name);
        assert_eq!(desc.map(|d| d.help.as_str()), Some(help), "desc of {name}");
        let family = families.iter().find(|f| f.name() == name).unwrap();
        assert_eq!(family.get_field_type(), kind, "{name}");
        assert_eq!(family.help(), help, "{name}");
    }
    // Its descriptions are valid and identify it: a registry takes it once.
    let registry = prometheus::Registry::new();
    registry.register(Box::new(OwnProcess::new())).unwrap();
    assert!(registry.register(Box::new(OwnProcess::new())).is_err());
}

#[test]
fn this_process_figures_match_what_the_kernel_says() {
    let v = values(&OwnProcess::new().collect());
    let (soft, _hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert_eq!(v["process_max_fds"], soft as f64);
    // stdin, stdout, stderr and the listing's own descriptor at least.
    assert!(v["process_open_fds"] >= 4.0, "{v:?}");
    assert!(v["process_open_fds"] <= soft as f64, "{v:?}");
    // The test harness runs tests on threads of this process.
    assert!(v["process_threads"] >= 1.0, "{v:?}");
    assert!(v["process_resident_memory_bytes"] > 1e6, "{v:?}");
    assert!(v["process_virtual_memory_bytes"] >= v["process_resident_memory_bytes"]);
    assert!(v["process_cpu_seconds_total"] >= 0.0, "{v:?}");
    // The test binary started a moment ago; allow a slow CI.
    let now = unix_now();
    let start = v["process_start_time_seconds"];
    assert!(
        (now - 3600.0..=now + 1.0).contains(&start),
        "start {start}, now {now}"
    );
}

/// User + system CPU seconds of this process by getrusage(2): the same
/// accounting as /proc's, read through another interface.
fn rusage_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    (usage.user_time() + usage.system_time()).num_microseconds() as f64 / 1e6
}

#[test]
fn cpu_seconds_are_the_processes_cpu_time_to_the_tick() {
    let collector = OwnProcess::new();
    let cpu = || values(&collector.collect())["process_cpu_seconds_total"];
    let first = cpu();
    // Work until the kernel has charged a few clock ticks to this process
    // (by getrusage, so a collector that rounds cannot end the loop on a
    // whole second).
    let target = rusage_seconds() + 0.05;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut spins = 0u64;
    while rusage_seconds() < target && Instant::now() < deadline {
        for i in 0..100_000u64 {
            spins = std::hint::black_box(spins.wrapping_add(i));
        }
    }
    let low = rusage_seconds();
    let value = cpu();
    let high = rusage_seconds();
    assert!(value >= first + 0.04, "{first} → {value}");
    // /proc truncates user and system time to whole ticks each, getrusage
    // gives microseconds: the figure lies within two ticks below the
    // readings around it (whole seconds, as the prometheus crate's
    // collector gave, would not).
    let ticks = 2.0 / proc_stat::clock_ticks() as f64;
    assert!(
        (low - ticks - 1e-6..=high + 1e-6).contains(&value),
        "{value} not within [{low} - {ticks}, {high}]"
    );
}

/// `sh -c SCRIPT` that ends in `exec sleep 30`, once it is `sleep`.
struct Sleeper(Child);

impl Sleeper {
    fn start(script: &str) -> Sleeper {
        let child = Command::new("sh")
            .args(["-c", &format!("{script}; exec sleep 30")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_to_string(&comm).ok().as_deref() != Some("sleep\n") {
            assert!(Instant::now() < deadline, "{script}: no sleep after 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        Sleeper(child)
    }

    /// The descriptors open in the child, from its own /proc/PID/fd: its
    /// table holds still once it is `sleep`.
    fn fds(&self) -> Vec<u32> {
        let dir = format!("/proc/{}/fd", self.0.id());
        let mut fds: Vec<u32> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        fds.sort();
        fds
    }

    fn metrics(&self) -> BTreeMap<String, f64> {
        let collector = OwnProcess::of(Path::new("/proc"), &self.0.id().to_string());
        values(&collector.collect())
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn open_fds_count_the_child_s_own_fd_table_and_max_fds_is_the_soft_limit() {
    // Child processes, not this one: tests on other threads open and close
    // descriptors of this process at any time, a child's table holds still.
    let plain = Sleeper::start("ulimit -n 77");
    let one_more = Sleeper::start("exec 3</dev/null");
    let (a, b) = (plain.metrics(), one_more.metrics());
    // Each child's count against its own fd table, not against the other
    // child's: a child inherits whatever descriptors other test threads had
    // open without CLOEXEC at its fork, so two children may differ by more
    // than the one file (this failed about 1 run in 8 under load).
    assert!(a["process_open_fds"] >= 3.0, "{a:?}");
    assert_eq!(a["process_open_fds"], plain.fds().len() as f64);
    assert_eq!(b["process_open_fds"], one_more.fds().len() as f64);
    assert!(one_more.fds().contains(&3), "{:?}", one_more.fds());
    assert_eq!(a["process_max_fds"], 77.0);
    assert_eq!(a["process_threads"], 1.0);
    // sleep was started within the last seconds (btime has whole seconds).
    let now = unix_now();
    let start = a["process_start_time_seconds"];
    assert!(
        (now - 15.0..=now + 1.0).contains(&start),
        "start {start}, now {now}"
    );
    assert!(a["process_cpu_seconds_total"] < 5.0, "{a:?}");
}

/// A fake /proc with `self/stat`; `with` adds more files.
fn fake_proc(with: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let stat = "4242 (oxinit) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                251 50 7 8 20 0 3 0 1234 8000000 500 18446744073709551615 1 1 0 0 0\n";
    let mut files = vec![("self/stat", stat)];
    files.extend_from_slice(with);
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
";

#[test]
fn figures_come_from_the_files_as_the_kernel_writes_them() {
    let proc = fake_proc(&[
        ("stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
        ("self/limits", LIMITS),
        ("self/fd/0", ""),
        ("self/fd/1", ""),
        ("self/fd/2", ""),
    ]);
    let collector = OwnProcess::of(proc.path(), "self");
    let v = values(&collector.collect());
    let ticks = proc_stat::clock_ticks() as f64;
    let expected = BTreeMap::from([
        ("process_cpu_seconds_total".to_owned(), 301.0 / ticks),
        ("process_max_fds".to_owned(), 1024.0),
        ("process_open_fds".to_owned(), 3.0),
        (
            "process_resident_memory_bytes".to_owned(),
            500.0 * proc_stat::page_size() as f64,
        ),
        (
            "process_start_time_seconds".to_owned(),
            1_700_000_000.0 + 1234.0 / ticks,
        ),
        ("process_threads".to_owned(), 3.0),
        ("process_virtual_memory_bytes".to_owned(), 8_000_000.0),
    ]);
    assert_eq!(v, expected);

    // The boot time is read once: a changed /proc/stat is not read again.
    fs::write(proc.path().join("stat"), "btime 1\n").unwrap();
    let again = values(&collector.collect());
    assert_eq!(
        again["process_start_time_seconds"],
        expected["process_start_time_seconds"]
    );
}

#[test]
fn a_file_that_cannot_be_read_leaves_out_its_metrics_only() {
    let stat_only = [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_threads",
        "process_virtual_memory_bytes",
    ];
    // No /proc/stat, fd directory or limits.
    let proc = fake_proc(&[]);
    let collector = OwnProcess::of(proc.path(), "self");
    assert_eq!(names(&values(&collector.collect())), stat_only);

    // The boot time is not cached while it cannot be read.
    fs::write(proc.path().join("stat"), "btime 1700000000\n").unwrap();
    let v = values(&collector.collect());
    assert!(v.contains_key("process_start_time_seconds"), "{v:?}");

    // An unlimited (or garbled) limit is no number of descriptors.
    let unlimited = LIMITS.replace("1024   ", "unlimited");
    fs::write(proc.path().join("self/limits"), unlimited).unwrap();
    fs::create_dir(proc.path().join("self/fd")).unwrap();
    fs::write(proc.path().join("self/stat"), "4242 (oxinit) S 1").unwrap();
    assert_eq!(
        names(&values(&collector.collect())),
        ["process_open_fds"],
        "a truncated stat drops every figure it gives"
    );

    // The process is gone: nothing, and no panic.
    let gone = OwnProcess::of(proc.path(), "999999");
    assert!(gone.collect().is_empty());
    let no_proc = OwnProcess::of(&proc.path().join("nonexistent"), "self");
    assert!(no_proc.collect().is_empty());
}
