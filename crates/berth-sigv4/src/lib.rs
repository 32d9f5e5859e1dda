//! AWS Signature Version 4: verifying a request exactly as AWS does for every service but S3,
//! and signing one exactly as botocore does.
//!
//! Pure: no I/O and no clock; "now" is always an argument.
//!
//! The rules follow AWS's "Create a canonical request for Signature Version 4" and "Elements of
//! an AWS API request signature" pages, checked against what botocore (`botocore/auth.py`,
//! `SigV4Auth` and `SigV4QueryAuth`) actually puts on the wire — see
//! `tests/botocore_vectors.json`, recorded from botocore itself by `tests/make_vectors.py`.
//!
//! The front door calls [`parse`]; `None` means the request is unsigned. It then looks the
//! access key up (an unknown key is [`Failure::UnknownAccessKey`]), checks the session token,
//! and calls [`verify`] with the key's secret. [`rejection`] says how each protocol family
//! answers each failure.

mod canonical;
mod rejection;
mod sign;
mod time;

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use rejection::{Failure, Family, Rejection, rejection};
pub use sign::{Credentials, presign, sign_headers};
pub use time::{amz_date, parse_amz_date, parse_http_date};

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's time may be from the verifier's clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The longest `X-Amz-Expires` AWS accepts: a signing key is valid for seven days.
pub const MAX_EXPIRES_SECONDS: i64 = 7 * 24 * 3600;

/// The payload hash a client sends in `X-Amz-Content-Sha256` when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The parts of an HTTP request a signature covers, as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded), e.g. `/` or `/service/X/operation/Y`.
    pub path: &'a str,
    /// The raw query string without `?`, possibly empty.
    pub query: &'a str,
    /// Every header as received: names in any case, repeated names allowed, in arrival order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Hex SHA-256 of the body as received.
    pub payload_sha256: &'a str,
}

/// Where a request carries its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The `Authorization` header.
    Header,
    /// `X-Amz-*` query parameters: a presigned URL.
    Query,
}

/// A request's signature and what it claims, before it is checked; borrowed from the request
/// where it can be, since every request is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<'a> {
    pub access_key_id: Cow<'a, str>,
    /// The credential scope's date, `YYYYMMDD`.
    pub date: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub service: Cow<'a, str>,
    /// Lower-case names, in the order the signature lists them.
    pub signed_headers: Vec<Cow<'a, str>>,
    pub signature: Cow<'a, str>,
    /// Epoch seconds, from `X-Amz-Date` (header or query parameter) or else the `Date` header.
    pub request_time: i64,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires_seconds: Option<i64>,
    /// `X-Amz-Security-Token`, header or query parameter.
    pub session_token: Option<Cow<'a, str>>,
    pub location: Location,
}

impl Signed<'_> {
    /// The same signature, owning its parts.
    pub fn into_owned(self) -> Signed<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        Signed {
            access_key_id: own(self.access_key_id),
            date: own(self.date),
            region: own(self.region),
            service: own(self.service),
            signed_headers: self.signed_headers.into_iter().map(own).collect(),
            signature: own(self.signature),
            request_time: self.request_time,
            expires_seconds: self.expires_seconds,
            session_token: self.session_token.map(own),
            location: self.location,
        }
    }

    /// `YYYYMMDD/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Parts of the signature are absent: `Credential`, `SignedHeaders`, `Signature` or the date
    /// for an `Authorization` header; the `X-Amz-*` parameter names for a presigned URL.
    #[error("the signature lacks {}", missing.join(", "))]
    Incomplete {
        location: Location,
        missing: Vec<&'static str>,
    },
    /// The `Authorization` header or `X-Amz-Algorithm` names another algorithm.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// Both an `Authorization` header and `X-Amz-Algorithm` are present, or either is repeated.
    #[error("the request carries more than one signature")]
    Ambiguous,
    /// The credential is not `<key>/<YYYYMMDD>/<region>/<service>/aws4_request`.
    #[error("malformed credential {0:?}")]
    MalformedCredential(String),
    /// `X-Amz-Date` (or `Date`) is not a valid date.
    #[error("malformed request date {0:?}")]
    MalformedDate(String),
    /// `X-Amz-Expires` is not a number of seconds from 1 to seven days.
    #[error("malformed X-Amz-Expires {0:?}")]
    MalformedExpires(String),
    /// The credential scope's date is not the request's date.
    #[error("credential date {scope_date} is not the request date {request_date}")]
    ScopeDateMismatch {
        scope_date: String,
        request_date: String,
    },
    /// `host` is not among the signed headers.
    #[error("the host header is not signed")]
    HostNotSigned,
    /// A header named in `SignedHeaders` is absent from the request.
    #[error("signed header {0} is absent")]
    SignedHeaderMissing(String),
    /// The request time is more than [`MAX_SKEW_SECONDS`] from now (either way).
    #[error("request time {} is too far from now ({})", amz_date(*request_time), amz_date(*now))]
    Skewed { request_time: i64, now: i64 },
    /// A presigned URL used after `request_time + expires_seconds`.
    #[error(
        "presigned URL expired at {}, now is {}",
        amz_date(request_time + expires_seconds),
        amz_date(*now)
    )]
    PresignExpired {
        request_time: i64,
        expires_seconds: i64,
        now: i64,
    },
    /// The signature is not the one the secret gives for this request.
    #[error("the signature does not match")]
    BadSignature,
}

/// The first value of header `name`; an invalid UTF-8 value reads as a replacement character so
/// that it fails the checks it is put to.
fn header_text<'a>(request: &RequestParts<'a>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| std::str::from_utf8(value).unwrap_or("\u{fffd}"))
}

/// The query parameter `name`, decoded; an invalid UTF-8 value reads as a replacement character
/// so that it fails the checks it is put to.
fn query_param(query: &str, name: &str) -> Option<String> {
    canonical::query_params(query)
        .find(|(key, _)| key == name.as_bytes())
        .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
}

struct Credential<'a> {
    access_key_id: Cow<'a, str>,
    date: Cow<'a, str>,
    region: Cow<'a, str>,
    service: Cow<'a, str>,
}

/// The parts of `credential`, borrowed from it when it is borrowed.
fn parse_credential(credential: Cow<'_, str>) -> Result<Credential<'_>, SigV4Error> {
    match credential {
        Cow::Borrowed(text) => parse_credential_text(text),
        Cow::Owned(text) => parse_credential_text(&text).map(|c| Credential {
            access_key_id: c.access_key_id.into_owned().into(),
            date: c.date.into_owned().into(),
            region: c.region.into_owned().into(),
            service: c.service.into_owned().into(),
        }),
    }
}

fn parse_credential_text(credential: &str) -> Result<Credential<'_>, SigV4Error> {
    let malformed = || SigV4Error::MalformedCredential(credential.to_string());
    let mut parts = credential.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    let valid_date = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if key.is_empty() || !valid_date || region.is_empty() || service.is_empty() {
        return Err(malformed());
    }
    Ok(Credential {
        access_key_id: key.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
    })
}

fn parse_signed_headers(list: &str) -> Result<Vec<Cow<'_, str>>, SigV4Error> {
    let names: Vec<Cow<'_, str>> = list
        .split(';')
        .map(|name| match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(name.to_ascii_lowercase()),
            false => Cow::Borrowed(name),
        })
        .collect();
    if !names
        .iter()
        .any(|name| name == "host" || name == ":authority")
    {
        return Err(SigV4Error::HostNotSigned);
    }
    Ok(names)
}

/// Reads the signature a request carries, without checking it. `None` when the request carries
/// none at all (no `Authorization` header, no `X-Amz-Algorithm` parameter).
pub fn parse<'a>(request: &RequestParts<'a>) -> Result<Option<Signed<'a>>, SigV4Error> {
    let authorizations = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .count();
    if authorizations > 1 {
        return Err(SigV4Error::Ambiguous);
    }
    let authorization = header_text(request, "authorization");
    let algorithm = {
        let mut values = canonical::query_params(request.query)
            .filter(|(name, _)| name == b"X-Amz-Algorithm")
            .map(|(_, value)| String::from_utf8_lossy(&value).into_owned());
        let first = values.next();
        if values.next().is_some() {
            return Err(SigV4Error::Ambiguous);
        }
        first
    };
    match (authorization, algorithm) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(SigV4Error::Ambiguous),
        (Some(authorization), None) => parse_header(request, authorization).map(Some),
        (None, Some(algorithm)) => parse_query(request, &algorithm).map(Some),
    }
}

fn parse_header<'a>(
    request: &RequestParts<'a>,
    authorization: &'a str,
) -> Result<Signed<'a>, SigV4Error> {
    let authorization = authorization.trim();
    let (algorithm, rest) = authorization.split_once(' ').unwrap_or((authorization, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let amz_date = header_text(request, "x-amz-date");
    let date = header_text(request, "date");
    let missing: Vec<&'static str> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
        ("X-Amz-Date", amz_date.is_none() && date.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(SigV4Error::Incomplete {
            location: Location::Header,
            missing,
        });
    };
    let request_time = match (amz_date, date) {
        (Some(amz_date), _) => parse_amz_date(amz_date.trim())
            .ok_or_else(|| SigV4Error::MalformedDate(amz_date.to_string()))?,
        (None, Some(date)) => {
            parse_http_date(date).ok_or_else(|| SigV4Error::MalformedDate(date.to_string()))?
        }
        (None, None) => {
            return Err(SigV4Error::Incomplete {
                location: Location::Header,
                missing,
            });
        }
    };
    let credential = parse_credential(credential.into())?;
    check_scope_date(&credential, request_time)?;
    Ok(Signed {
        access_key_id: credential.access_key_id,
        date: credential.date,
        region: credential.region,
        service: credential.service,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: signature.into(),
        request_time,
        expires_seconds: None,
        session_token: header_text(request, "x-amz-security-token").map(Cow::Borrowed),
        location: Location::Header,
    })
}

fn parse_query<'a>(request: &RequestParts<'a>, algorithm: &str) -> Result<Signed<'a>, SigV4Error> {
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let param = |name| query_param(request.query, name);
    let (credential, signed_headers, signature, amz_date) = (
        param("X-Amz-Credential"),
        param("X-Amz-SignedHeaders"),
        param("X-Amz-Signature"),
        param("X-Amz-Date"),
    );
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (&credential, &signed_headers, &signature, &amz_date)
    else {
        let missing = [
            ("X-Amz-Credential", credential.is_none()),
            ("X-Amz-Signature", signature.is_none()),
            ("X-Amz-SignedHeaders", signed_headers.is_none()),
            ("X-Amz-Date", amz_date.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        return Err(SigV4Error::Incomplete {
            location: Location::Query,
            missing,
        });
    };
    let request_time =
        parse_amz_date(amz_date).ok_or_else(|| SigV4Error::MalformedDate(amz_date.clone()))?;
    let expires_seconds = match param("X-Amz-Expires") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if (1..=MAX_EXPIRES_SECONDS).contains(&seconds) => Some(seconds),
            _ => return Err(SigV4Error::MalformedExpires(text)),
        },
    };
    let credential = parse_credential(credential.clone().into())?;
    check_scope_date(&credential, request_time)?;
    let session_token = match param("X-Amz-Security-Token") {
        Some(token) => Some(Cow::Owned(token)),
        None => header_text(request, "x-amz-security-token").map(Cow::Borrowed),
    };
    let signed_headers = parse_signed_headers(signed_headers)?
        .into_iter()
        .map(|name| Cow::Owned(name.into_owned()))
        .collect();
    Ok(Signed {
        access_key_id: credential.access_key_id,
        date: credential.date,
        region: credential.region,
        service: credential.service,
        signed_headers,
        signature: signature.clone().into(),
        request_time,
        expires_seconds,
        session_token,
        location: Location::Query,
    })
}

fn check_scope_date(credential: &Credential<'_>, request_time: i64) -> Result<(), SigV4Error> {
    let request_date = time::amz_date_bytes(request_time);
    if request_date[..8] == *credential.date.as_bytes() {
        Ok(())
    } else {
        Err(SigV4Error::ScopeDateMismatch {
            scope_date: credential.date.to_string(),
            request_date: amz_date(request_time),
        })
    }
}

/// The payload hash the canonical request ends with: the client's `X-Amz-Content-Sha256`
/// (header, or query parameter of a presigned URL) when it sent one — `UNSIGNED-PAYLOAD`
/// included — else the body's hash. botocore's non-S3 presigner signs the (empty) body's hash.
fn payload_hash<'a>(signed: &Signed, request: &RequestParts<'a>) -> Cow<'a, str> {
    if let Some(value) = header_text(request, "x-amz-content-sha256") {
        return value.trim().into();
    }
    if signed.location == Location::Query
        && let Some(value) = query_param(request.query, "X-Amz-Content-Sha256")
    {
        return value.into();
    }
    request.payload_sha256.into()
}

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex of a digest, as signatures and payload hashes are written, without an
/// allocation: every verified request writes three.
fn hex_digits(digest: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0; 64];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 15)];
    }
    out
}

/// Lower-case hex SHA-256 of `bytes`: the payload hash a request is signed with.
pub fn payload_sha256(bytes: &[u8]) -> PayloadHash {
    PayloadHash(hex_digits(&Sha256::digest(bytes).into()))
}

/// A hex SHA-256, kept on the stack.
#[derive(Clone, Copy)]
pub struct PayloadHash([u8; 64]);

impl PayloadHash {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key: `AWS4<secret>` HMAC'd with the date, region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// A signing key ready to sign: the HMAC state after the key's own two blocks, which every
/// signature with the key starts from. A verifier may keep one per key id and scope, since one
/// key serves every request of a day, region and service.
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

impl SigningKey {
    /// The key of a secret for one scope (see [`signing_key`]).
    pub fn derive(secret_access_key: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let key = signing_key(secret_access_key, date, region, service);
        SigningKey(HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length"))
    }
}

/// The hex signature `signed` should carry for `request`, or the signed header it lacks. The
/// string to sign is fed to the HMAC part by part rather than built.
fn expected_signature(
    signed: &Signed,
    request: &RequestParts,
    key: &SigningKey,
) -> Result<[u8; 64], SigV4Error> {
    let skip = (signed.location == Location::Query).then_some("X-Amz-Signature");
    // Written out and hashed at once: many small updates of a hash cost more than one copy.
    let mut canonical = Vec::with_capacity(1024);
    canonical::write_request(
        request,
        &signed.signed_headers,
        skip,
        &payload_hash(signed, request),
        &mut canonical,
    )
    .map_err(SigV4Error::SignedHeaderMissing)?;
    let canonical = Sha256::digest(&canonical);
    let mut mac = key.0.clone();
    // `AWS4-HMAC-SHA256\n<time>\n<scope>\n<hex SHA-256 of the canonical request>`.
    for part in [
        ALGORITHM.as_bytes(),
        b"\n",
        &time::amz_date_bytes(signed.request_time),
        b"\n",
        signed.date.as_bytes(),
        b"/",
        signed.region.as_bytes(),
        b"/",
        signed.service.as_bytes(),
        b"/aws4_request\n",
        &hex_digits(&canonical.into()),
    ] {
        mac.update(part);
    }
    Ok(hex_digits(&mac.finalize().into_bytes().into()))
}

/// Checks a parsed signature: the request time against `now` (within [`MAX_SKEW_SECONDS`] either
/// way; a presigned URL from `request_time - MAX_SKEW_SECONDS` until `request_time + expires`),
/// then the signature itself, compared in constant time.
pub fn verify(
    signed: &Signed,
    request: &RequestParts,
    secret_access_key: &str,
    now_epoch_seconds: i64,
) -> Result<(), SigV4Error> {
    let key = SigningKey::derive(
        secret_access_key,
        &signed.date,
        &signed.region,
        &signed.service,
    );
    verify_with_key(signed, request, &key, now_epoch_seconds)
}

/// [`verify`] with the signing key of the signature's scope already derived.
pub fn verify_with_key(
    signed: &Signed,
    request: &RequestParts,
    key: &SigningKey,
    now_epoch_seconds: i64,
) -> Result<(), SigV4Error> {
    let now = now_epoch_seconds;
    let skewed = SigV4Error::Skewed {
        request_time: signed.request_time,
        now,
    };
    match signed.expires_seconds {
        _ if signed.request_time - now > MAX_SKEW_SECONDS => return Err(skewed),
        Some(expires_seconds) if now > signed.request_time + expires_seconds => {
            return Err(SigV4Error::PresignExpired {
                request_time: signed.request_time,
                expires_seconds,
                now,
            });
        }
        None if now - signed.request_time > MAX_SKEW_SECONDS => return Err(skewed),
        _ => {}
    }
    let expected = expected_signature(signed, request, key)?;
    if bool::from(expected[..].ct_eq(signed.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::BadSignature)
    }
}

#[cfg(test)]
mod tests;
