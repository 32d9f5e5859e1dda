//! Timestamps between the JSON form (epoch seconds, f64) and the text forms XML and query
//! protocols use. Civil-date arithmetic is Howard Hinnant's days-from-civil algorithm.

use crate::model::TimestampFormat;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

/// Formats epoch seconds as the protocol writes them: ISO 8601 with milliseconds
/// (`2026-12-05T19:17:58.123Z`, as AWS XML services send), epoch seconds, or an HTTP date.
pub fn format(seconds: f64, format: TimestampFormat) -> String {
    if format == TimestampFormat::EpochSeconds {
        return crate::codec::format_f64(seconds);
    }
    let millis = (seconds * 1000.0).round() as i64;
    let (secs, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    match format {
        TimestampFormat::HttpDate => format!(
            "{}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT",
            DAYS[days.rem_euclid(7) as usize],
            MONTHS[(month - 1) as usize]
        ),
        _ => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
    }
}

/// Parses a request timestamp: epoch seconds, or ISO 8601 (`2026-12-05T19:17:58Z`, with an
/// optional fraction and a `Z` or `±hh:mm` offset) as botocore's serializers write it.
pub fn parse(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &after_dot[..digits]).parse().ok()?;
        rest = &after_dot[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (oh, om): (i64, i64) = (hm[..2].parse().ok()?, hm[2..].parse().ok()?);
            sign * (oh * 3600 + om * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset;
    Some(seconds as f64 + fraction)
}

/// Parses an RFC 7231 `http-date` (`Sat, 05 Dec 2026 19:17:58 GMT`), as botocore writes
/// timestamps in headers; falls back to [`parse`] for members that chose another format.
pub fn parse_http_date(text: &str) -> Option<f64> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [weekday, day, month, year, clock, "GMT"] = fields.as_slice() else {
        return parse(text);
    };
    if !weekday.ends_with(',') {
        return None;
    }
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let clock: Vec<i64> = clock
        .split(':')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = clock.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(0..=9999).contains(&year)
        || *h > 23
        || *m > 59
        || *s > 60
        || *h < 0
        || *m < 0
        || *s < 0
    {
        return None;
    }
    Some((days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) as f64)
}
