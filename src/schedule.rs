//! STUB so the config branch compiles: the real `src/schedule.rs` (cron
//! parsing, next run) is written on another branch and replaces this file at
//! merge. Only `parse`, `as_str` and `next_after` are relied upon.

use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    text: String,
}

impl Schedule {
    /// Accepts any non-empty text (the real parser checks cron syntax).
    pub fn parse(text: &str) -> Result<Schedule, String> {
        if text.trim().is_empty() {
            return Err("empty schedule: write e.g. \"0 3 * * *\"".to_string());
        }
        Ok(Schedule {
            text: text.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The stub never knows the next run.
    pub fn next_after(&self, _after: SystemTime) -> Option<SystemTime> {
        None
    }
}
