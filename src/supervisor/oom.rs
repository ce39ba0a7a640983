//! Counting OOM kills inside running processes' cgroups, as they happen.
//!
//! Reading the cgroup's OOM counter only when the main process exits misses
//! most kills: cgroup v1's OOM killer kills the largest task (often a
//! worker) and the service runs on. So each process cgroup gets a watch
//! ([`ProcessCgroup::oom_watch`]) whose task tells the loop to read the
//! counter; where no watch can be had, the loop reads it on its memory poll.
//! Every increase is added to `oxinit_process_oom_kills_total` and logged,
//! with the victim's pid and command where the kernel log tells them
//! ([`KernelLog`]); the last read happens before the cgroup is removed.
//!
//! The state here is per running process: the count of its current cgroup
//! already added. The metric itself is a counter that lives across exits
//! and restarts.

use super::internal::Internal;
use super::observe::Observer;
use crate::cgroup::{KernelLog, OomWakeups, ProcessCgroup};
use crate::supervisor::ids::ProcId;
use crate::units::format_size;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// After a wake-up, when to read the counter: at once, then again, because
/// cgroup v1 signals the eventfd when the cgroup enters OOM, before the
/// victim is killed and counted.
const LOOKS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(50),
    Duration::from_millis(500),
];

/// The kernel log, where the OOM killer names its victims.
pub(super) const KMSG: &str = "/dev/kmsg";

pub(super) struct OomCounter {
    log: KernelLog,
    watched: HashMap<ProcId, Watched>,
}

struct Watched {
    /// The cgroup's counter when the process started (non-zero only for a
    /// cgroup an earlier run left behind).
    baseline: u64,
    /// The counter as last read: kills up to here are counted.
    counted: u64,
    /// The task waiting on the watch; None when the counter is polled.
    task: Option<JoinHandle<()>>,
}

impl OomCounter {
    pub fn new(log: KernelLog) -> OomCounter {
        OomCounter {
            log,
            watched: HashMap::new(),
        }
    }

    /// Process `idx` started in `cg`: note its counter and watch it.
    pub fn started(&mut self, idx: ProcId, cg: &ProcessCgroup, tx: &UnboundedSender<Internal>) {
        let baseline = cg.oom_kills().unwrap_or(0);
        let watch = cg
            .oom_watch()
            .map_err(|e| e.to_string())
            .and_then(|fd| OomWakeups::new(fd).map_err(|e| format!("cannot wait on it: {e}")));
        let task = match watch {
            Ok(wakeups) => Some(tokio::spawn(wait_for_kills(wakeups, idx, tx.clone()))),
            Err(e) => {
                tracing::warn!(
                    "{}: no OOM notification ({e}); OOM kills are read every few seconds",
                    cg.process()
                );
                None
            }
        };
        if let Some(old) = self.watched.insert(
            idx,
            Watched {
                baseline,
                counted: baseline,
                task,
            },
        ) {
            old.abort();
        }
    }

    /// Whether process `idx`'s counter is read on the memory poll.
    pub fn is_polled(&self, idx: ProcId) -> bool {
        self.watched.get(&idx).is_some_and(|w| w.task.is_none())
    }

    /// The processes whose counter is read on the memory poll.
    pub fn polled(&self) -> Vec<ProcId> {
        self.watched
            .iter()
            .filter(|(_, w)| w.task.is_none())
            .map(|(&idx, _)| idx)
            .collect()
    }

    /// Reads `cg`'s counter; counts and logs the kills since the last read.
    /// Returns how many there were.
    pub fn check(&mut self, idx: ProcId, cg: &ProcessCgroup, observer: &dyn Observer) -> u64 {
        let Some(watched) = self.watched.get_mut(&idx) else {
            return 0;
        };
        let total = match cg.oom_kills() {
            Ok(total) => total,
            Err(e) => {
                tracing::debug!("{}: {e}", cg.process());
                return 0;
            }
        };
        if total <= watched.counted {
            return 0;
        }
        let new = total - watched.counted;
        let first = watched.counted - watched.baseline + 1;
        watched.counted = total;
        let name = cg.process();
        observer.oom_kills(name, new);
        let limit = cg
            .memory_limit()
            .map(|l| format!("its {} memory limit", format_size(l)))
            .unwrap_or_else(|| "its memory limit".to_owned());
        let (victims, why) = match cg.hierarchy_path() {
            Some(path) => match self.log.claim(path, new as usize) {
                Ok(victims) => (victims, "the kernel log has no line for it".to_owned()),
                Err(why) => (Vec::new(), why),
            },
            None => (Vec::new(), "its cgroup path is unknown".to_owned()),
        };
        for (i, nth) in (first..=first + new - 1).enumerate() {
            match victims.get(i) {
                Some(victim) => tracing::warn!(
                    "{name}: the kernel OOM killer killed {victim} in its cgroup at {limit} \
                     (OOM kill {nth} of this run)"
                ),
                None => tracing::warn!(
                    "{name}: the kernel OOM killer killed a process in its cgroup at {limit} \
                     (OOM kill {nth} of this run); which one is unknown: {why}"
                ),
            }
        }
        new
    }

    /// Process `idx` ended: the last read of its counter (before the cgroup
    /// goes), then it is no longer watched. Returns how many of its cgroup's
    /// processes were OOM-killed during this run.
    pub fn ended(&mut self, idx: ProcId, cg: &ProcessCgroup, observer: &dyn Observer) -> u64 {
        self.check(idx, cg, observer);
        match self.watched.remove(&idx) {
            Some(watched) => {
                watched.abort();
                watched.counted - watched.baseline
            }
            None => 0,
        }
    }
}

impl Watched {
    fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Waits on a watch; on each wake-up asks the loop to read the counter of
/// process `idx` (see [`LOOKS`]). Ends when the loop is gone.
async fn wait_for_kills(wakeups: OomWakeups, idx: ProcId, tx: UnboundedSender<Internal>) {
    while wakeups.next().await.is_ok() {
        for pause in LOOKS {
            tokio::time::sleep(pause).await;
            if tx.send(Internal::OomEvent(idx)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    const EVENTS: &str = "low 0\nhigh 0\nmax 0\noom 0\noom_kill N\noom_group_kill 0\n";

    fn kill_line(pid: i32) -> String {
        format!(
            "3,9,9,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,\
             mems_allowed=0,oom_memcg=/oxinit-api,task_memcg=/oxinit-api,task=worker,\
             pid={pid},uid=0\n"
        )
    }

    /// What oxinit_process_oom_kills_total{process="api"} would say.
    #[derive(Default)]
    struct Counted(std::cell::Cell<u64>);

    impl Observer for Counted {
        fn oom_kills(&self, name: &str, n: u64) {
            assert_eq!(name, "api");
            self.0.set(self.0.get() + n);
        }
        fn process_exited(&self, _: &str, _: crate::snapshot::ExitReason, _: i32) {}
        fn process_restarted(&self, _: &str) {}
        fn process_reloaded(&self, _: &str, _: crate::snapshot::ReloadResult) {}
        fn health_check(&self, _: &str, _: crate::snapshot::HealthResult, _: Duration) {}
        fn oneshot_finished(&self, _: &str, _: Duration) {}
        fn job_run(&self, _: &str, _: crate::snapshot::JobResult, _: std::time::SystemTime) {}
        fn zombies_reaped(&self, _: u64) {}
        fn signal_received(&self, _: &str) {}
    }

    fn counted(metrics: &Counted) -> String {
        metrics.0.get().to_string()
    }

    /// On a fake cgroup v2 tree: every rise of `memory.events`' `oom_kill`
    /// is counted once, however often the loop looks, across the exit; a
    /// count an earlier run left in a reused cgroup is not this run's.
    #[tokio::test]
    async fn every_kill_is_counted_once_and_the_run_total_survives_the_exit() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fs::create_dir(&dir).unwrap();
        let events = dir.join("memory.events");
        fs::write(&events, EVENTS.replace('N', "2")).unwrap();
        let kmsg = tmp.path().join("kmsg");
        fs::write(&kmsg, "").unwrap();
        let cg = ProcessCgroup::fake_v2("api", &dir, Some(64 << 20));
        let metrics = Counted::default();
        let mut oom = OomCounter::new(KernelLog::open(&kmsg, tmp.path()));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();

        oom.started(ProcId(0), &cg, &tx);
        assert!(!oom.is_polled(ProcId(0)), "memory.events is watched");
        assert_eq!(
            oom.check(ProcId(0), &cg, &metrics),
            0,
            "2 kills of an earlier run"
        );
        assert_eq!(counted(&metrics), "0");

        let mut log = fs::OpenOptions::new().append(true).open(&kmsg).unwrap();
        log.write_all(kill_line(41).as_bytes()).unwrap();
        fs::write(&events, EVENTS.replace('N', "3")).unwrap();
        assert_eq!(oom.check(ProcId(0), &cg, &metrics), 1);
        assert_eq!(
            oom.check(ProcId(0), &cg, &metrics),
            0,
            "a second look adds nothing"
        );
        log.write_all(kill_line(42).as_bytes()).unwrap();
        fs::write(&events, EVENTS.replace('N', "5")).unwrap();
        assert_eq!(
            oom.check(ProcId(0), &cg, &metrics),
            2,
            "one victim named, one not"
        );
        assert_eq!(counted(&metrics), "3");

        fs::write(&events, EVENTS.replace('N', "6")).unwrap();
        assert_eq!(oom.ended(ProcId(0), &cg, &metrics), 4, "kills of this run");
        assert_eq!(counted(&metrics), "4", "the exit keeps the count");
        assert_eq!(oom.check(ProcId(0), &cg, &metrics), 0, "no longer watched");
        // A new run in a new cgroup adds to the same counter.
        fs::write(&events, EVENTS.replace('N', "0")).unwrap();
        oom.started(ProcId(0), &cg, &tx);
        fs::write(&events, EVENTS.replace('N', "1")).unwrap();
        assert_eq!(oom.ended(ProcId(0), &cg, &metrics), 1);
        assert_eq!(counted(&metrics), "5");
    }

    #[tokio::test]
    async fn without_a_watch_the_counter_is_polled() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fs::create_dir(&dir).unwrap();
        // No memory.events: no watch (and, until it appears, no count).
        let cg = ProcessCgroup::fake_v2("api", &dir, None);
        let mut oom = OomCounter::new(KernelLog::unavailable("test"));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        oom.started(ProcId(3), &cg, &tx);
        assert!(oom.is_polled(ProcId(3)));
        assert_eq!(oom.polled(), vec![ProcId(3)]);
        oom.ended(ProcId(3), &cg, &Counted::default());
        assert!(!oom.is_polled(ProcId(3)));
    }

    /// The watch task asks the loop to look when memory.events changes.
    #[tokio::test]
    async fn a_change_of_memory_events_reaches_the_loop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oxinit-api");
        fs::create_dir(&dir).unwrap();
        let events = dir.join("memory.events");
        fs::write(&events, EVENTS.replace('N', "0")).unwrap();
        let cg = ProcessCgroup::fake_v2("api", &dir, None);
        let mut oom = OomCounter::new(KernelLog::unavailable("test"));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        oom.started(ProcId(7), &cg, &tx);
        fs::write(&events, EVENTS.replace('N', "1")).unwrap();
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the watch woke")
            .unwrap();
        assert!(matches!(msg, Internal::OomEvent(ProcId(7))), "{msg:?}");
    }
}
