//! The two ways CloudWatch writes a time into alarm reasons: ISO 8601 with milliseconds and a
//! `+0000` offset in the reason data, and `dd/MM/yy HH:mm:ss` in the reason text.

/// (year, month, day, hour, minute, second, millisecond) in UTC of milliseconds since the epoch.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (in_day / 3_600_000) as u32,
        (in_day / 60_000 % 60) as u32,
        (in_day / 1000 % 60) as u32,
        (in_day % 1000) as u32,
    )
}

/// `2026-12-06T02:40:00.000+0000`, as alarm reason data writes times.
pub fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}+0000")
}

/// `06/12/26 02:40:00`, as alarm reason texts write a datapoint's time.
pub fn short(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!(
        "{d:02}/{mo:02}/{:02} {h:02}:{mi:02}:{s:02}",
        y.rem_euclid(100)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000+0000");
        // 2026-12-06T02:40:05.123Z
        assert_eq!(iso(1_796_524_805_123), "2026-12-06T02:40:05.123+0000");
        assert_eq!(short(1_796_524_805_123), "06/12/26 02:40:05");
        // A leap day.
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000+0000");
    }
}
