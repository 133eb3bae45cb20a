//! Durations and points in time as admins type them: `90d`, `24h`, `5m`,
//! `30s`, `2w`; `--since 24h` means 24 hours ago, and absolute times
//! (`2026-11-20`, `2026-11-20T14:00`, RFC 3339) are read in local time
//! unless they carry an offset.

/// Seconds in `text`, e.g. `90d`, `24h`, `5m`, `30s`, `2w` (a bare number
/// is seconds).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if unit_secs > 0 && n > 0 => n
            .checked_mul(unit_secs)
            .ok_or_else(|| format!("`{text}` is too long")),
        _ => Err(format!(
            "`{text}` is not a duration: use a positive number with s, m, h, d or w (e.g. 90d, 24h, 5m)"
        )),
    }
}

/// Unix seconds for `text`: a duration before `now` (`24h`), `now`, or an
/// absolute date/time.
pub fn parse_time(text: &str, now: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Ok(secs) = parse_duration(text) {
        return Ok(now - secs);
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let tz = jiff::tz::TimeZone::system();
    let civil = text.parse::<jiff::civil::DateTime>().or_else(|_| {
        text.parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil.map(|dt| dt.to_zoned(tz)) {
        Ok(Ok(zoned)) => Ok(zoned.timestamp().as_second()),
        _ => Err(format!(
            "`{text}` is not a time: give a duration ago (24h, 7d), `now`, or a date such as 2026-11-20 or 2026-11-20T14:00"
        )),
    }
}

/// `3s`, `5m`, `2h`, `4d` ago-style age of a duration in seconds.
pub fn format_age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("30"), Ok(30));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        assert!(parse_duration("5x").unwrap_err().contains("not a duration"));
        assert!(parse_duration("0d").is_err());
        assert_eq!(parse_time("24h", 100_000), Ok(100_000 - 86_400));
        assert_eq!(parse_time("now", 5), Ok(5));
        assert_eq!(parse_time("2026-11-20T00:00:00Z", 0), Ok(1_795_132_800));
        assert!(parse_time("2026-11-20", 0).is_ok());
        assert!(parse_time("yesterday", 0).is_err());
        assert_eq!(format_age(59), "59s");
        assert_eq!(format_age(7200), "2h");
    }
}
