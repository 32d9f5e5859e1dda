//! Every request in `botocore_vectors.json` (signed by botocore, recorded as it reached a server;
//! see `make_vectors.py`) verifies; one changed byte anywhere it is signed fails it; and our own
//! signer produces botocore's signature for the same request.

use berth_sigv4::{
    Credentials, Location, RequestParts, SigV4Error, Signed, parse, presign, sign_headers, verify,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Document {
    vectors: Vec<Vector>,
}

#[derive(Deserialize, Clone)]
struct Vector {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body_hex: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    service: String,
    signed_at: i64,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("botocore_vectors.json");
    let document: Document = serde_json::from_str(text).expect("valid vectors");
    assert!(document.vectors.len() >= 30);
    document.vectors
}

fn body(vector: &Vector) -> Vec<u8> {
    hex::decode(&vector.body_hex).expect("hex body")
}

/// Parses and verifies `vector` as received at `now`.
fn check(vector: &Vector, now: i64) -> Result<Signed<'static>, SigV4Error> {
    let headers: Vec<(&str, &[u8])> = vector
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let payload = hex::encode(Sha256::digest(body(vector)));
    let request = RequestParts {
        method: &vector.method,
        path: &vector.path,
        query: &vector.query,
        headers: &headers,
        payload_sha256: &payload,
    };
    let signed = parse(&request)?.expect("every vector is signed");
    verify(&signed, &request, &vector.secret_access_key, now)?;
    Ok(signed.into_owned())
}

fn header<'a>(vector: &'a Vector, name: &str) -> Option<&'a str> {
    vector
        .headers
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[test]
fn every_botocore_request_verifies() {
    let failures: Vec<String> = vectors()
        .iter()
        .filter_map(|vector| {
            let error = check(vector, vector.signed_at + 1).err()?;
            Some(format!("{}: {error}", vector.name))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    for vector in vectors() {
        let signed = check(&vector, vector.signed_at + 1).expect("verifies");
        assert_eq!(
            signed.access_key_id, vector.access_key_id,
            "{}",
            vector.name
        );
        assert_eq!(signed.region, vector.region, "{}", vector.name);
        assert_eq!(signed.service, vector.service, "{}", vector.name);
        assert_eq!(signed.request_time, vector.signed_at, "{}", vector.name);
        assert_eq!(
            signed.session_token.as_deref(),
            vector.session_token.as_deref(),
            "{}",
            vector.name
        );
        let presigned = vector.query.contains("X-Amz-Signature=");
        let location = if presigned {
            Location::Query
        } else {
            Location::Header
        };
        assert_eq!(signed.location, location, "{}", vector.name);
        assert_eq!(
            signed.expires_seconds.is_some(),
            presigned,
            "{}",
            vector.name
        );
    }
}

#[test]
fn one_changed_byte_fails_every_request() {
    for vector in vectors() {
        let name = &vector.name;
        let now = vector.signed_at;
        let unsigned_payload = header(&vector, "x-amz-content-sha256") == Some("UNSIGNED-PAYLOAD");

        let mut tampered = vector.clone();
        let mut bytes = body(&vector);
        match bytes.first_mut() {
            Some(first) => *first ^= 1,
            None => bytes.push(b'x'),
        }
        tampered.body_hex = hex::encode(bytes);
        let result = check(&tampered, now);
        if unsigned_payload {
            assert!(
                result.is_ok(),
                "{name}: the body of UNSIGNED-PAYLOAD is not signed"
            );
        } else {
            assert_eq!(result.err(), Some(SigV4Error::BadSignature), "{name}: body");
        }

        let mut tampered = vector.clone();
        tampered.path.push('x');
        assert_eq!(
            check(&tampered, now).err(),
            Some(SigV4Error::BadSignature),
            "{name}: path"
        );

        let mut tampered = vector.clone();
        tampered.query = format!("x{}", vector.query);
        assert_eq!(
            check(&tampered, now).err(),
            Some(SigV4Error::BadSignature),
            "{name}: query"
        );

        let signed = check(&vector, now).expect("verifies");
        for signed_header in &signed.signed_headers {
            let mut tampered = vector.clone();
            for (header, value) in &mut tampered.headers {
                if header.eq_ignore_ascii_case(signed_header) {
                    // Change a byte within the value, not whitespace around it (which is trimmed).
                    let mut bytes = value.clone().into_bytes();
                    bytes[0] = if bytes[0] == b'1' { b'2' } else { b'1' };
                    *value = String::from_utf8(bytes).expect("ASCII");
                    break;
                }
            }
            assert!(
                check(&tampered, now).is_err(),
                "{name}: header {signed_header}"
            );
            let mut dropped = vector.clone();
            dropped
                .headers
                .retain(|(header, _)| !header.eq_ignore_ascii_case(signed_header));
            assert!(
                check(&dropped, now).is_err(),
                "{name}: without {signed_header}"
            );
        }

        let mut wrong_secret = vector.clone();
        wrong_secret.secret_access_key.push('x');
        assert_eq!(
            check(&wrong_secret, now).err(),
            Some(SigV4Error::BadSignature),
            "{name}: secret"
        );
    }
}

#[test]
fn our_signer_signs_as_botocore_does() {
    let mut compared = 0;
    for vector in vectors() {
        let name = &vector.name;
        let signed = check(&vector, vector.signed_at).expect("verifies");
        let credentials = Credentials {
            access_key_id: &vector.access_key_id,
            secret_access_key: &vector.secret_access_key,
            session_token: vector.session_token.as_deref(),
        };
        let body = body(&vector);
        let payload = hex::encode(Sha256::digest(&body));
        match signed.location {
            Location::Header => {
                // botocore signs a Date header it rewrites itself; ours keeps Date as it is.
                if header(&vector, "x-amz-date").is_none() {
                    continue;
                }
                let unsigned = header(&vector, "x-amz-content-sha256") == Some("UNSIGNED-PAYLOAD");
                // The headers as they were before signing: those botocore signed, but for the
                // ones the signer adds.
                let added = [
                    "x-amz-date",
                    "x-amz-security-token",
                    "x-amz-content-sha256",
                    "authorization",
                ];
                let headers: Vec<(&str, &[u8])> = vector
                    .headers
                    .iter()
                    .filter(|(header, _)| {
                        let lower = header.to_ascii_lowercase();
                        signed.signed_headers.iter().any(|name| *name == lower)
                            && !added.contains(&lower.as_str())
                    })
                    .map(|(header, value)| (header.as_str(), value.as_bytes()))
                    .collect();
                let request = RequestParts {
                    method: &vector.method,
                    path: &vector.path,
                    query: &vector.query,
                    headers: &headers,
                    payload_sha256: &payload,
                };
                let ours = sign_headers(
                    &request,
                    &credentials,
                    &vector.region,
                    &vector.service,
                    vector.signed_at,
                    unsigned,
                );
                for (name_added, value) in &ours {
                    assert_eq!(
                        header(&vector, name_added),
                        Some(value.as_str()),
                        "{name}: {name_added}"
                    );
                }
            }
            Location::Query => {
                let (operation, _) = vector
                    .query
                    .split_once("&X-Amz-Algorithm=")
                    .expect("botocore puts the X-Amz parameters last");
                let headers: Vec<(&str, &[u8])> = vector
                    .headers
                    .iter()
                    .filter(|(header, _)| header.eq_ignore_ascii_case("host"))
                    .map(|(header, value)| (header.as_str(), value.as_bytes()))
                    .collect();
                let request = RequestParts {
                    method: &vector.method,
                    path: &vector.path,
                    query: operation,
                    headers: &headers,
                    payload_sha256: &payload,
                };
                let ours = presign(
                    &request,
                    &credentials,
                    &vector.region,
                    &vector.service,
                    vector.signed_at,
                    signed.expires_seconds.expect("presigned"),
                );
                assert_eq!(ours, vector.query, "{name}");
            }
        }
        compared += 1;
    }
    assert!(compared >= 29, "{compared}");
}
