//! Stickiness cookies, pure: `AWSALB` (and its `AWSALBCORS` twin for cross-site requests) names
//! the target a client sticks to, `AWSALBTG`/`AWSALBTGCORS` the target group of a weighted
//! forward. ALB encrypts its cookie; ours is an opaque encoding of (target group, target) that
//! the data plane only honours while it names a target still eligible in that group, so a
//! forged cookie can choose nothing a client could not be given anyway.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;

pub const TARGET_COOKIE: &str = "AWSALB";
pub const TARGET_CORS_COOKIE: &str = "AWSALBCORS";
pub const GROUP_COOKIE: &str = "AWSALBTG";
pub const GROUP_CORS_COOKIE: &str = "AWSALBTGCORS";

/// Cookie value naming `target` in `target_group`.
pub fn encode_target(target_group: &str, target: SocketAddr) -> String {
    URL_SAFE_NO_PAD.encode(format!("{target_group}\n{target}"))
}

pub fn decode_target(value: &str) -> Option<(String, SocketAddr)> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (group, target) = text.split_once('\n')?;
    Some((group.to_string(), target.parse().ok()?))
}

pub fn encode_group(target_group: &str) -> String {
    URL_SAFE_NO_PAD.encode(target_group)
}

pub fn decode_group(value: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()
}

/// The value of cookie `name` in the request's `Cookie` headers (the first, if repeated).
pub fn request_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The two `Set-Cookie` values ALB sends for one stickiness cookie: the plain one and the CORS
/// one that cross-site requests carry (`SameSite=None` needs `Secure`).
pub fn set_cookies(
    name: &str,
    cors_name: &str,
    value: &str,
    now: SystemTime,
    duration: Duration,
) -> [String; 2] {
    let expires = http_date(now + duration);
    [
        format!("{name}={value}; Expires={expires}; Path=/"),
        format!("{cors_name}={value}; Expires={expires}; Path=/; SameSite=None; Secure"),
    ]
}

/// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_cookie_round_trips() {
        let target: SocketAddr = "10.0.0.7:32768".parse().unwrap();
        let value = encode_target("arn:aws:elasticloadbalancing:tg/a", target);
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            decode_target(&value),
            Some(("arn:aws:elasticloadbalancing:tg/a".to_string(), target))
        );
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(
            decode_target(&encode_target("g", v6)),
            Some(("g".into(), v6))
        );
    }

    #[test]
    fn garbage_cookies_decode_to_nothing() {
        assert_eq!(decode_target("not base64!"), None);
        assert_eq!(decode_target(&URL_SAFE_NO_PAD.encode("no-newline")), None);
        assert_eq!(
            decode_target(&URL_SAFE_NO_PAD.encode("g\nnot-an-address")),
            None
        );
        assert_eq!(decode_group("%%%"), None);
        assert_eq!(decode_group(&encode_group("tg-1")), Some("tg-1".into()));
    }

    #[test]
    fn request_cookie_finds_the_named_pair_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", "a=1; AWSALBX=2".parse().unwrap());
        headers.append("cookie", "AWSALB=abc; b=3".parse().unwrap());
        assert_eq!(request_cookie(&headers, "AWSALB"), Some("abc"));
        assert_eq!(request_cookie(&headers, "b"), Some("3"));
        assert_eq!(request_cookie(&headers, "AWSALBCORS"), None);
    }

    #[test]
    fn set_cookies_carry_expiry_and_cors_attributes() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let [plain, cors] = set_cookies(
            TARGET_COOKIE,
            TARGET_CORS_COOKIE,
            "v",
            now,
            Duration::from_secs(60),
        );
        assert_eq!(
            plain,
            "AWSALB=v; Expires=Sun, 06 Nov 1994 08:50:37 GMT; Path=/"
        );
        assert_eq!(
            cors,
            "AWSALBCORS=v; Expires=Sun, 06 Nov 1994 08:50:37 GMT; Path=/; SameSite=None; Secure"
        );
    }

    #[test]
    fn http_dates_across_leap_years_and_month_ends() {
        let at = |s: u64| http_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_798_761_599), "Thu, 31 Dec 2026 23:59:59 GMT");
        // 2100 is not a leap year: the day after 28 February is 1 March.
        assert_eq!(at(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }
}
