//! Helpers for the supervisor-mode tests (`oxinit run --config F`).
//!
//! A [`Rig`] is a scratch dir holding an `oxfile.toml`, the test processes (small
//! `/bin/sh` scripts) and one event log they all append to:
//! `<unix-time-ms> <name> <event…>`. Tests assert on that log — order, counts and
//! gaps between timestamps, with generous tolerances — and never sleep: every
//! wait polls the log (or oxinit's output) against a deadline.
//!
//! Script habits that matter:
//! - traps are installed before the script logs `start`, so a signal sent the
//!   moment a test sees `start` is never lost; and `start` is the last thing
//!   logged before the service idles, because a group signal kills the `date`
//!   of a `log` still running (the line comes out torn and is skipped);
//! - a long wait is `sleep 1000 & wait $!`: `wait` returns as soon as a trapped
//!   signal arrives, whereas a foreground `sleep` would delay the trap until it
//!   ends;
//! - every signal a service can be sent is trapped and logged as `got SIG`, so a
//!   test can count exactly which signals each process saw.
//!
//! Included with `#[path = "common/supervisor.rs"] mod supervisor;` next to
//! `mod common;`, so it depends only on the documented harness API.
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{self, As, Event, ExitCode, Oxinit, Scratch};

/// How long any single wait may take before the test fails. Only reached when
/// something is wrong; a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Signals a standard service traps and logs (`got TERM`, `got HUP`, …).
pub const TRAPPED: [&str; 7] = ["TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "WINCH"];

/// `[init]` for most tests: short orphan grace so shutdown stays quick, and a
/// shutdown cap far above what any passing test needs.
pub const INIT: &str = r#"[init]
orphan_grace = "300ms"
shutdown_timeout = "10s"
"#;

/// Wall-clock milliseconds, the same clock as `date +%s%3N` in the scripts.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The exit code, or a panic naming the signal (oxinit should always exit).
pub fn code_of(exit: ExitCode) -> i32 {
    match exit {
        ExitCode::Code(c) => c,
        ExitCode::Signal(s) => panic!("oxinit was killed by signal {s} instead of exiting"),
    }
}

pub struct Rig {
    pub scratch: Scratch,
    pub log: PathBuf,
}

impl Rig {
    pub fn new() -> Rig {
        let scratch = common::scratch();
        let log = scratch.path().join("events.log");
        Rig { scratch, log }
    }

    /// Path of `name` in the scratch dir. (Not `Scratch::file`, whose contract
    /// does not say whether it creates the file: a test for "command not
    /// found" needs a path that surely does not exist.)
    pub fn file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Path of `name` in the scratch dir, as a string for an oxfile.
    pub fn path(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }

    /// Writes `<name>.sh`: a prelude defining `LOG`, `DIR`, `NAME` and `log`,
    /// then `body`. Returns its path for `command = "…"`.
    pub fn script(&self, name: &str, body: &str) -> String {
        let prelude = format!(
            "#!/bin/sh\n\
             LOG='{log}'\n\
             DIR='{dir}'\n\
             NAME='{name}'\n\
             log() {{ echo \"$(date +%s%3N) $NAME $*\" >> \"$LOG\"; }}\n",
            log = self.log.display(),
            dir = self.scratch.path().display(),
        );
        self.scratch
            .script(&format!("{name}.sh"), &format!("{prelude}{body}"))
            .display()
            .to_string()
    }

    /// A well-behaved service: see [`graceful`].
    pub fn service(&self, name: &str, linger_ms: u64) -> String {
        self.script(name, &graceful("", "", linger_ms))
    }

    /// A service that logs its stop signals but keeps running: only SIGKILL
    /// ends it.
    pub fn stubborn(&self, name: &str) -> String {
        let mut traps = String::new();
        for sig in TRAPPED {
            traps.push_str(&format!("trap 'log got {sig}' {sig}\n"));
        }
        self.script(
            name,
            &format!("{traps}log pid $$\nlog start\n{SERVE_FOREVER}"),
        )
    }

    /// A oneshot: logs `start`, works for `work_ms`, logs `done`, exits `code`.
    pub fn oneshot(&self, name: &str, work_ms: u64, code: i32) -> String {
        let work = sleep_cmd(work_ms);
        self.script(
            name,
            &format!("log pid $$\nlog start\n{work}\nlog done\nexit {code}\n"),
        )
    }

    /// A process that logs `start` and `exit` and exits `code` at once.
    pub fn crasher(&self, name: &str, code: i32) -> String {
        self.script(name, &format!("log start\nlog exit\nexit {code}\n"))
    }

    /// Writes `oxfile.toml` and returns its path. Tests run in parallel, so
    /// each oxinit gets its own control socket and no metrics port (the
    /// defaults, /run/oxinit.sock and :9091, would collide) unless the test
    /// sets them itself.
    pub fn oxfile(&self, toml: &str) -> String {
        let path = self.file("oxfile.toml");
        let socket = format!("control_socket = {:?}\n", self.path("ox.sock"));
        // Appended (or put right after an existing [init] header) so the line
        // numbers the config tests assert on stay as written.
        let mut text = if toml.contains("control_socket") {
            toml.to_string()
        } else if let Some(at) = toml.find("[init]\n") {
            format!("{}[init]\n{socket}{}", &toml[..at], &toml[at + 7..])
        } else {
            format!("{toml}\n[init]\n{socket}")
        };
        if !text.contains("[metrics]") {
            text.push_str("\n[metrics]\nenabled = false\n");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path.display().to_string()
    }

    /// `oxinit run --config <oxfile>`.
    pub fn run(&self, how: As, toml: &str) -> Oxinit {
        let config = self.oxfile(toml);
        Oxinit::start(how, &["run", "--config", &config])
    }

    pub fn events(&self) -> Vec<Event> {
        common::read_events(&self.log)
    }

    /// Events of `who` whose text is exactly `what`.
    pub fn matching(&self, who: &str, what: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.who == who && e.what == what)
            .collect()
    }

    pub fn count(&self, who: &str, what: &str) -> usize {
        self.matching(who, what).len()
    }

    /// Timestamps of `who`'s `what` events, in log order.
    pub fn times(&self, who: &str, what: &str) -> Vec<u64> {
        self.matching(who, what).iter().map(|e| e.t_ms).collect()
    }

    /// Timestamp of the first `who what`; panics with the log when absent.
    pub fn at(&self, who: &str, what: &str) -> u64 {
        match self.matching(who, what).first() {
            Some(e) => e.t_ms,
            None => panic!("no \"{who} {what}\" in the event log:\n{}", self.dump()),
        }
    }

    /// Every `got SIG` event of `who`, as the signal names.
    pub fn signals_seen(&self, who: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.who == who)
            .filter_map(|e| e.what.strip_prefix("got ").map(str::to_string))
            .collect()
    }

    /// `who`'s pid as the script logged it (a host pid only under `As::Child`).
    pub fn pid_of(&self, who: &str) -> i32 {
        let e = self
            .events()
            .into_iter()
            .find(|e| e.who == who && e.what.starts_with("pid "))
            .unwrap_or_else(|| panic!("{who} never logged its pid:\n{}", self.dump()));
        e.what[4..].trim().parse().expect("a numeric pid")
    }

    /// Waits until the log holds at least `n` `who what` events; returns them.
    pub fn wait_count(&self, ox: &Oxinit, who: &str, what: &str, n: usize) -> Vec<Event> {
        self.wait_for(ox, &format!("{n} × \"{who} {what}\""), || {
            let found = self.matching(who, what);
            (found.len() >= n).then_some(found)
        })
    }

    /// Waits for the first `who what` event; returns its timestamp.
    pub fn wait_event(&self, ox: &Oxinit, who: &str, what: &str) -> u64 {
        self.wait_count(ox, who, what, 1)[0].t_ms
    }

    /// Polls `f` every 10 ms; on timeout panics with the event log and
    /// oxinit's output, which is what one needs to see why.
    pub fn wait_for<T>(&self, ox: &Oxinit, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= end {
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}\n{}",
                    self.report(ox)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for oxinit to exit and returns its exit code.
    pub fn finish(&self, ox: &mut Oxinit) -> i32 {
        code_of(ox.wait(DEADLINE))
    }

    /// Waits for oxinit to exit and checks its exit code.
    pub fn expect_exit(&self, ox: &mut Oxinit, expected: i32) {
        let code = self.finish(ox);
        assert_eq!(code, expected, "oxinit exit code\n{}", self.report(ox));
    }

    /// The event log as text, for failure messages.
    pub fn dump(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_else(|_| "(no event log)\n".into())
    }

    /// Event log plus oxinit's output, for failure messages.
    pub fn report(&self, ox: &Oxinit) -> String {
        format!(
            "--- events ---\n{}--- oxinit stdout ---\n{}\n--- oxinit stderr ---\n{}",
            self.dump(),
            ox.stdout(),
            ox.stderr()
        )
    }
}

/// The body of a well-behaved service: runs `setup`, logs `start`, idles until
/// a stop signal (TERM, INT or QUIT: logged as `got SIG`), runs `teardown`,
/// takes `linger_ms` to "flush", logs `exit` and exits 0. HUP, USR1, USR2 and
/// WINCH are logged and otherwise ignored.
///
/// The stop signal only sets a flag, so the traps stay armed while the service
/// winds down: a second stop signal is logged, not swallowed by an `exit`
/// inside the first trap. The idle loop re-checks the flag between starting
/// `sleep` and waiting for it, and the trap kills the current `sleep`, so a
/// signal landing between two commands cannot leave the script waiting 1000 s.
pub fn graceful(setup: &str, teardown: &str, linger_ms: u64) -> String {
    let mut traps = String::new();
    for sig in TRAPPED {
        let action = match sig {
            "TERM" | "INT" | "QUIT" => format!("log got {sig}; stopping=1; kill $! 2>/dev/null"),
            _ => format!("log got {sig}"),
        };
        traps.push_str(&format!("trap '{action}' {sig}\n"));
    }
    let linger = if linger_ms == 0 {
        String::new()
    } else {
        format!(
            "sleep {}.{:03} & wait $!\n",
            linger_ms / 1000,
            linger_ms % 1000
        )
    };
    format!(
        "{traps}{setup}log pid $$\nlog start\n\
         while [ -z \"$stopping\" ]; do sleep 1000 & [ -n \"$stopping\" ] || wait $!; done\n\
         kill $! 2>/dev/null\n\
         {teardown}{linger}log exit\nexit 0\n"
    )
}

/// The body's tail that keeps a service alive yet responsive to traps.
pub const SERVE_FOREVER: &str = "while :; do sleep 1000 & wait $!; done\n";

/// `sleep 0.250;` (or nothing for 0), for a script body.
pub fn sleep_cmd(ms: u64) -> String {
    if ms == 0 {
        String::new()
    } else {
        format!("sleep {}.{:03};", ms / 1000, ms % 1000)
    }
}

/// Asserts `lo <= value <= hi` with a message that shows the event log.
pub fn assert_within(rig: &Rig, what: &str, value: i64, lo: i64, hi: i64) {
    assert!(
        (lo..=hi).contains(&value),
        "{what}: {value} ms, expected {lo}..={hi} ms\n--- events ---\n{}",
        rig.dump()
    );
}

/// Asserts event `a` happened no later than event `b` (millisecond stamps).
pub fn assert_not_after(rig: &Rig, a: (&str, &str), b: (&str, &str)) {
    let (ta, tb) = (rig.at(a.0, a.1), rig.at(b.0, b.1));
    assert!(
        ta <= tb,
        "expected \"{} {}\" ({ta}) not after \"{} {}\" ({tb})\n--- events ---\n{}",
        a.0,
        a.1,
        b.0,
        b.1,
        rig.dump()
    );
}

/// Whether `pid` is gone (or a zombie about to be reaped by someone else).
pub fn is_dead(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

/// The state letter (`S`, `T`, `Z`…) of each descendant of `pid`.
pub fn descendant_states(pid: i32) -> Vec<(i32, char)> {
    common::descendants(pid)
        .into_iter()
        .filter_map(|p| {
            let stat = fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let state = stat[stat.rfind(')')? + 2..].chars().next()?;
            Some((p, state))
        })
        .collect()
}

/// Whether `text` names line `n` the way a position usually reads:
/// `file:7:3`, `line 7`, ` 7:3` or a `7 | …` source excerpt — and not as part
/// of a longer number or a clock time (line 7 must not match 17, 70 or 12:7:05).
pub fn mentions_line(text: &str, n: usize) -> bool {
    let patterns = [
        format!(":{n}:"),
        format!("line {n}"),
        format!(" {n}:"),
        format!("{n} |"),
    ];
    patterns.iter().any(|pat| {
        text.match_indices(pat.as_str()).any(|(i, m)| {
            let digit_before = text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_digit());
            let digit_after = pat.ends_with(|c: char| c.is_ascii_digit())
                && text[i + m.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit());
            !digit_before && !digit_after
        })
    })
}
