//! oxinit's own `process_*` metrics: the standard set Prometheus client
//! libraries export about their process, so the usual dashboards and
//! alerts (`time() - process_start_time_seconds`) work on oxinit. Names,
//! types and help are those of the prometheus crate's `ProcessCollector`,
//! which this replaces; values are as client_golang gives them: CPU and
//! start time to the clock tick, where that crate truncated to seconds.
//!
//! The prometheus crate has such a collector behind its `process` feature,
//! but it brings the procfs crates to read three files [`crate::proc_stat`]
//! already reads: the static release binary, which must stay under 2 MB,
//! is 68 KiB smaller without them.
//!
//! A scrape costs one read of `/proc/self/stat`, one of `/proc/self/limits`
//! and one listing of `/proc/self/fd`; the boot time (`/proc/stat`) is read
//! once. A file that cannot be read leaves its metrics out of that scrape:
//! no stale or made-up value, and never a panic.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

use crate::proc_stat::{self, ProcStat};

/// One metric of the set: its name, help and type.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
}

const CPU_SECONDS: Family = Family {
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    kind: MetricType::COUNTER,
};
const OPEN_FDS: Family = Family {
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    kind: MetricType::GAUGE,
};
const MAX_FDS: Family = Family {
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
    kind: MetricType::GAUGE,
};
const VIRTUAL_MEMORY: Family = Family {
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
    kind: MetricType::GAUGE,
};
const RESIDENT_MEMORY: Family = Family {
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    kind: MetricType::GAUGE,
};
const START_TIME: Family = Family {
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    kind: MetricType::GAUGE,
};
const THREADS: Family = Family {
    name: "process_threads",
    help: "Number of OS threads in the process.",
    kind: MetricType::GAUGE,
};

const FAMILIES: [&Family; 7] = [
    &CPU_SECONDS,
    &OPEN_FDS,
    &MAX_FDS,
    &VIRTUAL_MEMORY,
    &RESIDENT_MEMORY,
    &START_TIME,
    &THREADS,
];

/// A [`Collector`] of the `process_*` metrics of one process (oxinit
/// itself, from [`OwnProcess::new`]).
pub struct OwnProcess {
    proc_root: PathBuf,
    /// The process's directory in `proc_root`: "self", or a pid (tests).
    dir: String,
    descs: Vec<Desc>,
    /// Seconds since the epoch at boot, once it could be read.
    boot_time: OnceLock<u64>,
}

impl OwnProcess {
    /// The metrics of the calling process, from /proc.
    pub fn new() -> OwnProcess {
        OwnProcess::of(Path::new("/proc"), "self")
    }

    /// The metrics of the process whose directory in `proc_root` is `dir`
    /// (a pid or "self"); `proc_root/stat` gives the boot time.
    pub fn of(proc_root: &Path, dir: &str) -> OwnProcess {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                Desc::new(f.name.into(), f.help.into(), Vec::new(), HashMap::new())
                    // The names and help texts are the constants above.
                    .expect("valid metric name and help")
            })
            .collect();
        OwnProcess {
            proc_root: proc_root.to_owned(),
            dir: dir.to_owned(),
            descs,
            boot_time: OnceLock::new(),
        }
    }

    fn boot_time(&self) -> Option<u64> {
        if let Some(&seconds) = self.boot_time.get() {
            return Some(seconds);
        }
        // Not cached while unreadable: a later scrape may succeed.
        let seconds = proc_stat::boot_time(&self.proc_root)?;
        Some(*self.boot_time.get_or_init(|| seconds))
    }

    fn stat_families(&self, stat: &ProcStat, out: &mut Vec<MetricFamily>) {
        let ticks = proc_stat::clock_ticks() as f64;
        out.push(CPU_SECONDS.with(stat.cpu_ticks as f64 / ticks));
        out.push(VIRTUAL_MEMORY.with(stat.vsize_bytes as f64));
        out.push(RESIDENT_MEMORY.with(stat.rss_bytes() as f64));
        out.push(THREADS.with(stat.threads as f64));
        if let Some(boot) = self.boot_time() {
            out.push(START_TIME.with(boot as f64 + stat.start_ticks as f64 / ticks));
        }
    }
}

impl Default for OwnProcess {
    fn default() -> Self {
        OwnProcess::new()
    }
}

impl Collector for OwnProcess {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let dir = self.proc_root.join(&self.dir);
        let mut out = Vec::with_capacity(FAMILIES.len());
        if let Some(stat) = proc_stat::read(&self.proc_root, &self.dir) {
            self.stat_families(&stat, &mut out);
        }
        if let Some(open) = open_fds(&dir.join("fd")) {
            out.push(OPEN_FDS.with(open as f64));
        }
        if let Some(max) = max_open_files(&dir.join("limits")) {
            out.push(MAX_FDS.with(max as f64));
        }
        out
    }
}

impl Family {
    /// This family with one unlabelled sample.
    fn with(&self, value: f64) -> MetricFamily {
        let mut metric = Metric::default();
        if self.kind == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        let mut family = MetricFamily::default();
        family.set_name(self.name.into());
        family.set_help(self.help.into());
        family.set_field_type(self.kind);
        family.set_metric(vec![metric]);
        family
    }
}

/// Entries of `/proc/<pid>/fd`. For `/proc/self` this includes the
/// descriptor the listing itself holds open, as client_golang and the
/// procfs crate count it.
fn open_fds(fd_dir: &Path) -> Option<usize> {
    Some(fs::read_dir(fd_dir).ok()?.flatten().count())
}

/// The soft limit on open files from `/proc/<pid>/limits` (the same figure
/// as `getrlimit(RLIMIT_NOFILE)` for oneself); `None` when unreadable or
/// "unlimited", which the kernel does not allow for this limit anyway.
fn max_open_files(limits: &Path) -> Option<u64> {
    let text = fs::read_to_string(limits).ok()?;
    // "Max open files            1024                 1048576              files"
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}
