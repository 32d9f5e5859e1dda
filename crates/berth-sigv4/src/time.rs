//! The two date formats a signed request can carry its time in: `X-Amz-Date`'s ISO 8601 basic
//! form (`20150830T123600Z`) and the HTTP `Date` header's RFC 7231 form
//! (`Sun, 30 Aug 2015 12:36:00 GMT`, or `-0000` as Python's `email.utils.formatdate` writes it,
//! which is what botocore sends when a request already has a `Date` header).

/// `YYYYMMDD'T'HHMMSS'Z'` for epoch seconds.
pub fn amz_date(epoch_seconds: i64) -> String {
    amz_date_bytes(epoch_seconds)
        .iter()
        .copied()
        .map(char::from)
        .collect()
}

/// [`amz_date`] without an allocation: every verified request formats its time once. Years
/// outside 0..=9999 have no four-digit form; they wrap, and such a request fails its checks.
pub(crate) fn amz_date_bytes(epoch_seconds: i64) -> [u8; 16] {
    let (days, rest) = (
        epoch_seconds.div_euclid(86_400),
        epoch_seconds.rem_euclid(86_400),
    );
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, width: usize, value: i64| {
        let mut value = value.rem_euclid(10_i64.pow(width as u32));
        for slot in out[at..at + width].iter_mut().rev() {
            // A single decimal digit.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(4, 2, month);
    put(6, 2, day);
    put(9, 2, rest / 3600);
    put(11, 2, rest % 3600 / 60);
    put(13, 2, rest % 60);
    out
}

/// Epoch seconds of an `X-Amz-Date` value; `None` unless it is exactly `YYYYMMDD'T'HHMMSS'Z'`
/// with every field in range, so that formatting the result gives back the same text.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    epoch(
        (number(0..4)?, number(4..6)?, number(6..8)?),
        (number(9..11)?, number(11..13)?, number(13..15)?),
    )
}

/// Epoch seconds of an HTTP `Date` header value in the IMF-fixdate form, with the zone written
/// as `GMT`, `UTC`, `Z` or a numeric offset.
pub fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [weekday, day, month, year, clock, zone] = fields.as_slice() else {
        return None;
    };
    if !weekday.ends_with(',') {
        return None;
    }
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    let number = |text: &str| -> Option<i64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
    };
    let clock: Vec<&str> = clock.split(':').collect();
    let [hour, minute, second] = clock.as_slice() else {
        return None;
    };
    let offset = match *zone {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        _ => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if digits.len() != 4 {
                return None;
            }
            let value = number(digits)?;
            sign * (value / 100 * 3600 + value % 100 * 60)
        }
    };
    let local = epoch(
        (number(year)?, month, number(day)?),
        (number(hour)?, number(minute)?, number(second)?),
    )?;
    Some(local - offset)
}

fn epoch(
    (year, month, day): (i64, i64, i64),
    (hour, minute, second): (i64, i64, i64),
) -> Option<i64> {
    let in_range = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second);
    in_range
        .then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil and civil-from-days algorithms (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
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
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        for text in ["20150830T123600Z", "20240229T235959Z", "21000301T000000Z"] {
            assert_eq!(amz_date(parse_amz_date(text).unwrap()), text);
        }
    }

    #[test]
    fn malformed_amz_dates_are_rejected() {
        for text in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "2015083+T123600Z",
            "20150830T12360aZ",
        ] {
            assert_eq!(parse_amz_date(text), None, "{text}");
        }
    }

    #[test]
    fn http_dates_in_every_zone_spelling() {
        let expected = parse_amz_date("20150830T123600Z");
        for text in [
            "Sun, 30 Aug 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36:00 -0000",
            "Sun, 30 Aug 2015 12:36:00 +0000",
            "Sun, 30 Aug 2015 14:36:00 +0200",
            "Sun, 30 Aug 2015 07:36:00 -0500",
        ] {
            assert_eq!(parse_http_date(text), expected, "{text}");
        }
        for text in [
            "Sun 30 Aug 2015 12:36:00 GMT",
            "Sun, 30 Foo 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36 GMT",
            "Sun, 30 Aug 2015 12:36:00 CEST",
            "Sun, 30 Aug 2015 12:36:00 +02",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }
}
