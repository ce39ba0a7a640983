//! Signals as oxfile.toml accepts them: `"SIGTERM"`, `"TERM"`, `"term"` or
//! a number such as `15` (`stop_signal`, and Fly's `kill_signal`).

use nix::sys::signal::Signal;

/// The signals that make oxinit shut down in order (the others are
/// forwarded to the services): what a platform's kill signal must be.
pub(super) const SHUTDOWN_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

/// Parses a signal: `"SIGTERM"`, `"TERM"`, `"term"` or a number such as `"15"`.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<i32>()
            .ok()
            .and_then(|n| Signal::try_from(n).ok())
            .ok_or_else(|| format!("{trimmed} is not a signal number on this system"));
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| {
        format!("unknown signal \"{text}\": use a name such as \"SIGTERM\", \"INT\", \"quit\" or a number")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_short_name_and_number() {
        assert_eq!(parse_signal("SIGTERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigint"), Ok(Signal::SIGINT));
        assert_eq!(parse_signal("QUIT"), Ok(Signal::SIGQUIT));
        assert_eq!(parse_signal("15"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Ok(Signal::SIGKILL));
    }

    #[test]
    fn bad_signals_are_refused() {
        assert!(parse_signal("SIGFOO")
            .unwrap_err()
            .contains("unknown signal"));
        assert!(parse_signal("").is_err());
        assert!(parse_signal("0")
            .unwrap_err()
            .contains("not a signal number"));
        assert!(parse_signal("999").is_err());
    }
}
