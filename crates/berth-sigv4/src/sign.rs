//! Signing, as botocore's `SigV4Auth` (headers) and `SigV4QueryAuth` (presigned URLs) do it, for
//! our own clients, tests and benchmarks.

use crate::{
    ALGORITHM, Location, RequestParts, Signed, SigningKey, UNSIGNED_PAYLOAD, amz_date, canonical,
    expected_signature,
};

/// What a request is signed with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<&'a str>,
}

/// Headers botocore never signs: hop-by-hop ones a proxy may rewrite, and the user agent and
/// trace id, which are added or changed after signing.
const UNSIGNED_HEADERS: [&str; 11] = [
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

fn signable(name: &str) -> bool {
    !UNSIGNED_HEADERS
        .iter()
        .any(|unsigned| name.eq_ignore_ascii_case(unsigned))
}

fn sorted_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = names.map(str::to_ascii_lowercase).collect();
    names.sort();
    names.dedup();
    names
}

fn signature_for(
    request: &RequestParts,
    credentials: &Credentials,
    (region, service): (&str, &str),
    now: i64,
    location: Location,
    signed_headers: Vec<String>,
) -> String {
    let date = amz_date(now);
    let signed = Signed {
        access_key_id: credentials.access_key_id.into(),
        date: date[..8].into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed_headers.into_iter().map(Into::into).collect(),
        signature: "".into(),
        request_time: now,
        expires_seconds: None,
        session_token: None,
        location,
    };
    let key = SigningKey::derive(credentials.secret_access_key, &date[..8], region, service);
    let signature = expected_signature(&signed, request, &key)
        .expect("every signed header is taken from the request itself");
    signature.iter().copied().map(char::from).collect()
}

/// The headers that sign `request` at `now` (epoch seconds), to send instead of any header of the
/// same name: `X-Amz-Date`, `X-Amz-Security-Token` when the credentials have a session token,
/// `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` when `unsigned_payload`, and `Authorization`.
///
/// Every other header of `request` is signed, but for those botocore leaves out (`User-Agent`,
/// hop-by-hop headers); `request.headers` must include `Host`. A `Date` header is signed as it
/// is (botocore would rewrite it); the time the signature is for is in `X-Amz-Date`.
pub fn sign_headers(
    request: &RequestParts,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: i64,
    unsigned_payload: bool,
) -> Vec<(String, String)> {
    let mut added = vec![("X-Amz-Date".to_string(), amz_date(now))];
    if let Some(token) = credentials.session_token {
        added.push(("X-Amz-Security-Token".into(), token.into()));
    }
    if unsigned_payload {
        added.push(("X-Amz-Content-SHA256".into(), UNSIGNED_PAYLOAD.into()));
    }
    let replaced = |name: &str| {
        name.eq_ignore_ascii_case("authorization")
            || added
                .iter()
                .any(|(added, _)| name.eq_ignore_ascii_case(added))
    };
    let headers: Vec<(&str, &[u8])> = request
        .headers
        .iter()
        .filter(|(name, _)| signable(name) && !replaced(name))
        .copied()
        .chain(
            added
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        )
        .collect();
    let signed_headers = sorted_names(headers.iter().map(|(name, _)| *name));
    let signing = RequestParts {
        headers: &headers,
        ..*request
    };
    let signature = signature_for(
        &signing,
        credentials,
        (region, service),
        now,
        Location::Header,
        signed_headers.clone(),
    );
    added.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
            credentials.access_key_id,
            &amz_date(now)[..8],
            signed_headers.join(";")
        ),
    ));
    added
}

/// The query string of a presigned URL for `request` at `now`, valid for `expires_seconds`:
/// `request.query`, then the `X-Amz-*` parameters in botocore's order, `X-Amz-Signature` last.
///
/// As botocore's non-S3 presigner does, this signs every header of `request` botocore would
/// (`Host` at least) and the body's hash as the payload (an empty body's, for a GET).
pub fn presign(
    request: &RequestParts,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: i64,
    expires_seconds: i64,
) -> String {
    let date = amz_date(now);
    let signed_headers = sorted_names(
        request
            .headers
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| signable(name)),
    );
    let mut query = String::from(request.query);
    let mut param = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        canonical::encode(value.as_bytes(), b"", &mut query);
    };
    param("X-Amz-Algorithm", ALGORITHM);
    param(
        "X-Amz-Credential",
        &format!(
            "{}/{}/{region}/{service}/aws4_request",
            credentials.access_key_id,
            &date[..8]
        ),
    );
    param("X-Amz-Date", &date);
    param("X-Amz-Expires", &expires_seconds.to_string());
    param("X-Amz-SignedHeaders", &signed_headers.join(";"));
    if let Some(token) = credentials.session_token {
        param("X-Amz-Security-Token", token);
    }
    let signing = RequestParts {
        query: &query,
        ..*request
    };
    let signature = signature_for(
        &signing,
        credentials,
        (region, service),
        now,
        Location::Query,
        signed_headers,
    );
    format!("{query}&X-Amz-Signature={signature}")
}
