//! One line of `oxinit events`: what happened to which process, when, with
//! the facts that go with it. One flat type with optional fields: its JSON
//! (`oxinit events --json`, and the control socket's wire) is serde's, and
//! its text is [`Event::fields`] in the same order, so the two cannot say
//! different things. The event names are [`EventKind`]'s table.

use super::words::{EventKind, ExitReason, JobResult, ReloadResult};
use serde::{Deserialize, Serialize};

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, in Unix seconds.
    pub at: f64,
    pub event: EventKind,
    /// None for what concerns oxinit as a whole (`shutdown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// `exited`: why the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExitReason>,
    /// `exited`, `failed`: the exit code (128+N for signal N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// `exited`: the signal that ended it ("SIGKILL").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `exited`: how long the run lasted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<f64>,
    /// `restarting`: the restart delay, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// `restarting`: which restart this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<u32>,
    /// `job`: how the run went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// `reloaded`: how the reload ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadResult>,
    /// `oom`: processes the kernel killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kills: Option<u64>,
    /// `unhealthy`: the last failure; `shutdown`: its cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `exited`, `failed`: the last lines the process wrote to stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr: Vec<String>,
}

impl Event {
    /// An event of `kind` for `process` (None: oxinit itself) at `at`, with
    /// no other facts yet.
    pub fn new(kind: EventKind, process: Option<&str>, at: f64) -> Event {
        Event {
            at,
            event: kind,
            process: process.map(str::to_string),
            pid: None,
            reason: None,
            code: None,
            signal: None,
            uptime: None,
            delay: None,
            restart: None,
            result: None,
            reload: None,
            kills: None,
            why: None,
            stderr: Vec::new(),
        }
    }

    /// The facts of the text form, `key=value` in the JSON's order (the
    /// event and the process are the line's first words, the stderr lines
    /// follow it).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let seconds = |s: f64| format!("{s:.3}s");
        let mut out = Vec::new();
        let mut add = |key, value: Option<String>| {
            if let Some(value) = value {
                out.push((key, value));
            }
        };
        add("pid", self.pid.map(|p| p.to_string()));
        add("reason", self.reason.map(|r| r.to_string()));
        add("code", self.code.map(|c| c.to_string()));
        add("signal", self.signal.clone());
        add("uptime", self.uptime.map(seconds));
        add("delay", self.delay.map(seconds));
        add("restart", self.restart.map(|r| r.to_string()));
        add("result", self.result.map(|r| r.to_string()));
        add("reload", self.reload.map(|r| r.to_string()));
        add("kills", self.kills.map(|k| k.to_string()));
        add("why", self.why.as_ref().map(|w| format!("{w:?}")));
        out
    }

    /// The text form after the time stamp:
    /// `exited api reason=exit code=3 uptime=1.204s`, then one
    /// `  stderr| …` line for each stderr line.
    pub fn text(&self) -> String {
        let mut line = self.event.to_string();
        if let Some(process) = &self.process {
            line.push(' ');
            line.push_str(process);
        }
        for (key, value) in self.fields() {
            line.push_str(&format!(" {key}={value}"));
        }
        for stderr in &self.stderr {
            line.push_str("\n  stderr| ");
            line.push_str(stderr);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited() -> Event {
        Event {
            pid: Some(42),
            reason: Some(ExitReason::Exit),
            code: Some(3),
            uptime: Some(1.2041),
            stderr: vec!["boom".into()],
            ..Event::new(EventKind::Exited, Some("api"), 1795000000.25)
        }
    }

    #[test]
    fn the_text_and_the_json_say_the_same() {
        let event = exited();
        assert_eq!(
            event.text(),
            "exited api pid=42 reason=exit code=3 uptime=1.204s\n  stderr| boom"
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"at":1795000000.25,"event":"exited","process":"api","pid":42,"reason":"exit","code":3,"uptime":1.2041,"stderr":["boom"]}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        // Every field the JSON has (but the line's own words) is in the text.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = event.fields().iter().map(|(k, _)| *k).collect();
        for key in value.as_object().unwrap().keys() {
            let own = ["at", "event", "process", "stderr"].contains(&key.as_str());
            assert!(
                own || keys.contains(&key.as_str()),
                "{key} is not in the text"
            );
        }
    }

    #[test]
    fn the_event_names_are_the_known_strings() {
        assert_eq!(
            EventKind::LABELS,
            [
                "started",
                "ready",
                "unhealthy",
                "exited",
                "restarting",
                "failed",
                "stopped",
                "oom",
                "job",
                "shutdown",
                "reloaded"
            ]
        );
        let shutdown = Event {
            why: Some("SIGTERM".into()),
            ..Event::new(EventKind::Shutdown, None, 0.0)
        };
        assert_eq!(shutdown.text(), "shutdown why=\"SIGTERM\"");
    }
}
