//! Human units, parsed and formatted in one place: durations (`"1m30s"`),
//! sizes (`"512M"`) and calendar dates (days since 1970, RFC 3339 stamps).
//!
//! A leaf: it imports nothing from the crate, so every module that shows or
//! reads a duration or a size (config, schedule, the supervisor's log lines,
//! `oxinit status`, the log relay's timestamps) uses the same spelling
//! without depending on the others.
//!
//! Every parser returns a message that shows the operator what to write
//! instead; the caller adds the file position and the key.

pub mod civil;
mod duration;
mod size;

pub use duration::{format_duration, format_duration_approx, parse_duration};
pub use size::{format_size, format_size_approx, parse_size};
