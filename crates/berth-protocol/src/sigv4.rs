//! AWS Signature Version 4 for the agent channel: the agent signs its WebSocket upgrade request
//! (`GET`, no body, signed headers `host;x-amz-date`) with the account's credentials, as the ECS
//! agent signs its requests, and the control plane verifies it before accepting the agent.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a request's `X-Amz-Date` may be from the verifier's clock, as AWS allows.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// What a signature is over.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request is not signed")]
    Missing,
    #[error("the Authorization header is malformed")]
    Malformed,
    #[error("the access key {0} is not known")]
    UnknownKey(String),
    #[error("the request time is outside the allowed skew")]
    Skewed,
    #[error("the signature does not match")]
    BadSignature,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn signature(secret: &str, request: &SignedRequest) -> String {
    let date = &request.amz_date[..8.min(request.amz_date.len())];
    let empty_payload = hex::encode(Sha256::digest(b""));
    let canonical = format!(
        "{}\n{}\n\nhost:{}\nx-amz-date:{}\n\nhost;x-amz-date\n{empty_payload}",
        request.method, request.path, request.host, request.amz_date
    );
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = [date, request.region, request.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            hmac(&key, part)
        });
    hex::encode(hmac(&key, &to_sign))
}

/// The `Authorization` header value for `request`.
pub fn authorization(credentials: &Credentials, request: &SignedRequest) -> String {
    let date = &request.amz_date[..8.min(request.amz_date.len())];
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        credentials.access_key_id,
        request.region,
        request.service,
        signature(&credentials.secret_access_key, request)
    )
}

/// `YYYYMMDD'T'HHMMSS'Z'` for epoch seconds.
pub fn amz_date(epoch_seconds: i64) -> String {
    let (days, rest) = (
        epoch_seconds.div_euclid(86_400),
        epoch_seconds.rem_euclid(86_400),
    );
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn civil_date(days: i64) -> (i64, i64, i64) {
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

fn parse_amz_date(text: &str) -> Option<i64> {
    let digits = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    if text.len() != 16 || &text[8..9] != "T" || !text.ends_with('Z') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    // Days from civil date, the inverse of `civil_date`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Checks a signed request: the key must be known (`secret_of`), the date within the skew of
/// `now`, the signature exact. Returns the access key id that signed it.
pub fn verify(
    authorization: Option<&str>,
    request: &SignedRequest,
    now: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?;
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(AuthError::Malformed)?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut given = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(value) = part.strip_prefix("Credential=") {
            credential = Some(value);
        } else if let Some(value) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(value);
        } else if let Some(value) = part.strip_prefix("Signature=") {
            given = Some(value);
        }
    }
    let (credential, given) = (
        credential.ok_or(AuthError::Malformed)?,
        given.ok_or(AuthError::Malformed)?,
    );
    if signed_headers != Some("host;x-amz-date") {
        return Err(AuthError::Malformed);
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(AuthError::Malformed);
    };
    if !request.amz_date.starts_with(date)
        || *region != request.region
        || *service != request.service
    {
        return Err(AuthError::Malformed);
    }
    let signed_at = parse_amz_date(request.amz_date).ok_or(AuthError::Malformed)?;
    if (now - signed_at).abs() > MAX_SKEW_SECONDS {
        return Err(AuthError::Skewed);
    }
    let secret = secret_of(key).ok_or_else(|| AuthError::UnknownKey(key.to_string()))?;
    let expected = signature(&secret, request);
    if expected.as_bytes().ct_eq(given.as_bytes()).into() {
        Ok(key.to_string())
    } else {
        Err(AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> SignedRequest<'static> {
        SignedRequest {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            amz_date: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
        }
    }

    const KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn matches_the_aws_signature_v4_test_suite() {
        // "get-vanilla" from AWS's Signature Version 4 test suite.
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: KEY.into(),
        };
        assert_eq!(
            authorization(&credentials, &example()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn verification_accepts_good_signatures_only() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: KEY.into(),
        };
        let header = authorization(&credentials, &example());
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let secret_of = |key: &str| (key == "AKIDEXAMPLE").then(|| KEY.to_string());
        assert_eq!(
            verify(Some(&header), &example(), now, secret_of),
            Ok("AKIDEXAMPLE".into())
        );
        assert_eq!(
            verify(None, &example(), now, secret_of),
            Err(AuthError::Missing)
        );
        assert_eq!(
            verify(Some(&header), &example(), now + 3600, secret_of),
            Err(AuthError::Skewed)
        );
        let tampered = SignedRequest {
            path: "/other",
            ..example()
        };
        assert_eq!(
            verify(Some(&header), &tampered, now, secret_of),
            Err(AuthError::BadSignature)
        );
        let wrong = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "nope".into(),
        };
        assert_eq!(
            verify(
                Some(&authorization(&wrong, &example())),
                &example(),
                now,
                secret_of
            ),
            Err(AuthError::BadSignature)
        );
        let stranger = Credentials {
            access_key_id: "AKIDOTHER".into(),
            secret_access_key: KEY.into(),
        };
        assert_eq!(
            verify(
                Some(&authorization(&stranger, &example())),
                &example(),
                now,
                secret_of
            ),
            Err(AuthError::UnknownKey("AKIDOTHER".into()))
        );
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(
            amz_date(parse_amz_date("20261122T034200Z").unwrap()),
            "20261122T034200Z"
        );
        assert_eq!(amz_date(0), "19700101T000000Z");
    }
}
