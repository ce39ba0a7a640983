//! Sizes in bytes as oxfile.toml spells them: `"512M"` (1024-based, as
//! Docker reads it), `"512MB"` (1000-based), or a bare number of bytes.

/// The 1024-based units, largest first, as `parse_size` and Docker read them.
const BINARY: [(&str, u64); 4] = [
    ("T", 1 << 40),
    ("G", 1 << 30),
    ("M", 1 << 20),
    ("K", 1 << 10),
];

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
    match BINARY.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) if bytes % size == 0 => format!("{}{unit}", bytes / size),
        Some((unit, size)) => format!("{:.1}{unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
