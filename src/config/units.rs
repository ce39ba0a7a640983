//! Human units in oxfile.toml: durations ("1m30s"), sizes ("512M") and signals
//! ("SIGTERM", "term", 15).
//!
//! Every parser returns a message that shows the operator what to write
//! instead; the caller adds the file position and the process/key name.

use std::time::Duration;

use nix::sys::signal::Signal;

/// Parses a duration such as `"500ms"`, `"15s"`, `"5m"`, `"1h"` or a
/// combination such as `"1m30s"` (largest unit first, each unit once).
///
/// A bare number is refused on purpose: `15` could mean seconds or
/// milliseconds, and guessing wrong turns a 15 s stop timeout into 15 ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration: write e.g. \"15s\"".to_string());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a duration needs a unit: write \"{text}s\""));
    }
    // Units in the order they may appear; ms must be tried before m.
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let hint = "use whole numbers with the units h, m, s, ms, e.g. \"500ms\", \"15s\", \"1m30s\"";
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration \"{text}\": {hint}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration \"{text}\" is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(rank) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("invalid duration \"{text}\": every number needs a unit; {hint}")
            } else {
                format!("invalid duration \"{text}\": unknown unit \"{unit}\"; {hint}")
            });
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!(
                "invalid duration \"{text}\": write units from largest to smallest, each once (e.g. \"1h30m\")"
            ));
        }
        last_rank = Some(rank);
        total_ms = number
            .checked_mul(UNITS[rank].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("duration \"{text}\" is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way oxfile.toml spells it: `"1m30s"`, `"500ms"`,
/// `"0s"`. Below one millisecond it falls back to µs/ns so a small runtime
/// measurement never prints as zero.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let total_ms = duration.as_millis();
    if total_ms == 0 {
        let nanos = duration.subsec_nanos();
        return if nanos >= 1_000 {
            format!("{}µs", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let hours = total_ms / 3_600_000;
    let minutes = total_ms / 60_000 % 60;
    let seconds = total_ms / 1_000 % 60;
    let millis = total_ms % 1_000;
    let mut out = String::new();
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if value != 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// Parses a size in bytes: a bare integer is bytes; `K`, `M`, `G`, `T` and
/// `KiB`…`TiB` are powers of 1024 (as Docker's `--memory`); `KB`…`TB` are
/// powers of 1000; `B` is bytes. Units are case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let hint = "write bytes as a number, or use K/M/G/T (1024-based, like Docker), KiB/MiB/GiB/TiB, or KB/MB/GB/TB (1000-based), e.g. \"512M\"";
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid size \"{text}\": {hint}"));
    }
    let number: u64 = trimmed[..digits]
        .parse()
        .map_err(|_| format!("size \"{text}\" is too large"))?;
    let unit = trimmed[digits..].trim_start().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("invalid size \"{text}\": unknown unit; {hint}")),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// Formats an exact byte count (a limit) the way an oxfile writes it: `512M`
/// for 1024-based multiples (`K`, `M`, `G`, `T`, as `parse_size` and Docker
/// read them), `512MB` for 1000-based ones, whichever is shorter, so a limit
/// reads back as it was written (`"512MB"` is not shown as `500000K`). Other
/// counts are bytes with an approximation (`5000001 bytes (~4.8M)`), so the
/// exact value is never hidden.
pub fn format_size(bytes: u64) -> String {
    const BINARY: [(&str, u64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    const DECIMAL: [(&str, u64); 4] = [
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("KB", 1_000),
    ];
    let exact = |units: &[(&'static str, u64)]| {
        units
            .iter()
            .find(|(_, size)| bytes >= *size && bytes % size == 0)
            .map(|&(unit, size)| (bytes / size, unit))
    };
    match (exact(&BINARY), exact(&DECIMAL)) {
        (Some((b, _)), Some((d, du))) if d < b => format!("{d}{du}"),
        (Some((b, bu)), _) => format!("{b}{bu}"),
        (None, Some((d, du))) => format!("{d}{du}"),
        (None, None) if bytes < 1024 => format!("{bytes} bytes"),
        (None, None) => format!("{bytes} bytes (~{})", format_size_approx(bytes)),
    }
}

/// An approximate byte count for measurements (`523.4M`, `2K`, `300 bytes`),
/// in the oxfile's 1024-based units.
pub fn format_size_approx(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) if bytes % size == 0 => format!("{}{unit}", bytes / size),
        Some((unit, size)) => format!("{:.1}{unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

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
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_combine_largest_unit_first() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
        let err = parse_duration("30s1m").unwrap_err();
        assert!(err.contains("largest to smallest"), "{err}");
        assert!(parse_duration("1s1s").is_err());
    }

    #[test]
    fn bare_number_duration_says_what_to_write() {
        let err = parse_duration("15").unwrap_err();
        assert!(err.contains("write \"15s\""), "{err}");
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "s", "1.5s", "15 s", "15S", "15sec", "-1s", "1d", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let err = parse_duration("99999999999999999999h").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        assert!(
            parse_duration("5124095576030432h").is_err(),
            "overflow in ms"
        );
    }

    #[test]
    fn format_duration_round_trips() {
        for text in ["0s", "500ms", "15s", "5m", "1h", "1m30s", "2h5m", "1s1ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_duration(Duration::from_micros(1500)), "1ms");
        assert_eq!(format_duration(Duration::from_micros(15)), "15µs");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn sizes_follow_docker_and_si() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("1KB"), Ok(1_000));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
    }

    #[test]
    fn sizes_format_exactly() {
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1 << 30), "1G");
        assert_eq!(format_size(3 << 40), "3T");
        assert_eq!(format_size(1536), "1536 bytes (~1.5K)");
        assert_eq!(format_size(2048), "2K");
        // As written: 1024-based in K/M/G, 1000-based in KB/MB/GB.
        assert_eq!(format_size(parse_size("512M").unwrap()), "512M");
        assert_eq!(format_size(parse_size("512MB").unwrap()), "512MB");
        assert_eq!(format_size(parse_size("64MiB").unwrap()), "64M");
        assert_eq!(format_size(parse_size("1G").unwrap()), "1G");
        assert_eq!(format_size(parse_size("1500MB").unwrap()), "1500MB");
        assert_eq!(format_size(100), "100 bytes");
        assert_eq!(format_size_approx(548_864_123), "523.4M");
        assert_eq!(format_size_approx(64 << 20), "64M");
        assert_eq!(format_size(5_000_000), "5MB");
        assert_eq!(format_size(5_000_001), "5000001 bytes (~4.8M)");
        assert_eq!(format_size(512), "512 bytes");
        assert_eq!(format_size(0), "0 bytes");
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["", "M", "1.5G", "-1", "12X", "1 GiBs"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_size("99999999T").unwrap_err().contains("too large"));
    }

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
