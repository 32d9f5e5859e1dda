//! How Berth's own clients (the agent's channel, `berth plan`) sign their requests: with the
//! account's credentials, as an AWS client signs an `ecs` request, so the gateway verifies them
//! like any other call.

use sha2::{Digest, Sha256};

/// An access key and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A request to sign: everything but the signature headers.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// Headers already set, besides `host`.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers (`X-Amz-Date`, `Authorization`) that sign `request` for `region`'s `service` at
/// `now` (seconds since the epoch).
pub fn sign(
    credentials: &Credentials,
    request: &Request,
    scope: (&str, &str),
    now: i64,
) -> Vec<(String, String)> {
    sign_with_query(credentials, request, "", scope, now)
}

/// As [`sign`], for a request whose path carries the query string `query` (without `?`).
pub fn sign_with_query(
    credentials: &Credentials,
    request: &Request,
    query: &str,
    (region, service): (&str, &str),
    now: i64,
) -> Vec<(String, String)> {
    let mut all: Vec<(&str, &[u8])> = vec![("host", request.host.as_bytes())];
    all.extend(
        request
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_bytes())),
    );
    let payload = hex::encode(Sha256::digest(request.body));
    let parts = berth_sigv4::RequestParts {
        method: request.method,
        path: request.path,
        query,
        headers: &all,
        payload_sha256: &payload,
    };
    let key = berth_sigv4::Credentials {
        access_key_id: &credentials.access_key_id,
        secret_access_key: &credentials.secret_access_key,
        session_token: None,
    };
    berth_sigv4::sign_headers(&parts, &key, region, service, now, false)
}

/// Seconds since the epoch, by the wall clock.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_aws_test_suite_says() {
        // "get-vanilla" from AWS's Signature Version 4 test suite.
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        };
        let now = berth_sigv4::parse_amz_date("20150830T123600Z").unwrap();
        let request = Request {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            headers: &[],
            body: b"",
        };
        let headers = sign(&credentials, &request, ("us-east-1", "service"), now);
        assert!(headers.contains(&("X-Amz-Date".into(), "20150830T123600Z".into())));
        let authorization = &headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
