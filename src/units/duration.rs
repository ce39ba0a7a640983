//! Durations as oxfile.toml and the command line spell them: `"500ms"`,
//! `"15s"`, `"1m30s"`.

use std::time::Duration;

/// The units a duration may be written in, largest first, in milliseconds.
/// The parser and the exact formatter read this one table, so whatever is
/// printed can be written back.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

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
        // Whole words only, so "ms" is never read as "m" followed by "s".
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

/// Formats a duration exactly, the way oxfile.toml spells it: `"1m30s"`,
/// `"500ms"`, `"0s"`; for the values of the file (a limit, a timeout).
/// Below one millisecond it falls back to µs/ns so a small runtime
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
    let mut out = String::new();
    let mut rest = total_ms;
    for (unit, size) in UNITS {
        let value = rest / u128::from(size);
        rest %= u128::from(size);
        if value != 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// Formats a measured duration roughly, for log lines and `oxinit status`:
/// `"250ms"`, `"1.5s"`, then its two largest units of d, h, m and s
/// (`"5m12s"`, `"3h4m"`, `"3d4h"`; a zero second unit is left out, `"5m"`).
pub fn format_duration_approx(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let ms = duration.as_millis();
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return if ms % 1_000 == 0 {
            format!("{}s", ms / 1_000)
        } else {
            format!("{:.1}s", duration.as_secs_f64())
        };
    }
    const ROUGH: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let total = duration.as_secs();
    // At least a minute, so the "m" unit at the latest.
    let first = ROUGH
        .iter()
        .position(|(size, _)| total >= *size)
        .unwrap_or(2);
    let (size, unit) = ROUGH[first];
    let mut out = format!("{}{unit}", total / size);
    if let Some(&(next_size, next_unit)) = ROUGH.get(first + 1) {
        let rest = total % size / next_size;
        if rest > 0 {
            out.push_str(&format!("{rest}{next_unit}"));
        }
    }
    out
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
        assert_eq!(format_duration(Duration::from_secs(24 * 3600)), "24h");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1ms");
        assert_eq!(format_duration(Duration::from_micros(15)), "15µs");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn rough_durations_keep_two_units() {
        let secs = Duration::from_secs;
        assert_eq!(format_duration_approx(Duration::ZERO), "0s");
        assert_eq!(format_duration_approx(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration_approx(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration_approx(secs(12)), "12s");
        assert_eq!(
            format_duration_approx(Duration::from_millis(150_500)),
            "2m30s"
        );
        assert_eq!(format_duration_approx(secs(312)), "5m12s");
        assert_eq!(format_duration_approx(secs(300)), "5m");
        assert_eq!(format_duration_approx(secs(3600)), "1h");
        assert_eq!(format_duration_approx(secs(3 * 3600 + 4 * 60 + 59)), "3h4m");
        assert_eq!(
            format_duration_approx(secs(3 * 86_400 + 4 * 3600 + 7)),
            "3d4h"
        );
        assert_eq!(format_duration_approx(secs(86_400 + 59)), "1d");
    }
}
