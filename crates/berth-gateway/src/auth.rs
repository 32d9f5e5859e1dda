//! Authentication: every request's SigV4 signature is checked against the secret of the key that
//! signed it, as AWS does, and answered with the error each protocol family's clients expect
//! when it fails (`berth_sigv4::rejection`). Nothing runs for a request that fails here.

use std::borrow::Cow;

use async_trait::async_trait;
use axum::http::request::Parts;
use berth_aws::{AwsError, Principal, RequestContext};
use berth_sigv4::{Failure, Family, RequestParts, SigV4Error};
use subtle::ConstantTimeEq;

use crate::Gateway;

/// What an access key stands for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub secret_access_key: String,
    pub principal: Principal,
    /// Set for temporary credentials: the token requests must carry, and when it expires.
    pub session: Option<Session>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: f64,
}

/// A place access keys are kept: the account's root keys, STS's temporary credentials, later
/// IAM users' keys.
#[async_trait]
pub trait Identities: Send + Sync + 'static {
    async fn lookup(&self, access_key_id: &str) -> Result<Option<Identity>, AwsError>;
}

/// The account root user's long-term access key.
pub struct RootKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

#[async_trait]
impl Identities for RootKey {
    async fn lookup(&self, access_key_id: &str) -> Result<Option<Identity>, AwsError> {
        Ok((access_key_id == self.access_key_id).then(|| Identity {
            secret_access_key: self.secret_access_key.clone(),
            principal: Principal::root(&self.account_id),
            session: None,
        }))
    }
}

/// Signing keys by secret and scope. A key serves every request of its day, region and service,
/// and deriving one takes four HMACs; clients sign most requests with a handful of keys, so a
/// short list searched without allocating beats a map keyed by owned strings.
#[derive(Default)]
pub(crate) struct SigningKeys {
    keys: std::sync::Mutex<Vec<CachedKey>>,
}

struct CachedKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: berth_sigv4::SigningKey,
}

/// More keys than any real deployment's clients use in a day; past it the list starts over.
const MAX_SIGNING_KEYS: usize = 64;

impl SigningKeys {
    fn key(&self, secret: &str, signed: &berth_sigv4::Signed) -> berth_sigv4::SigningKey {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cached = keys.iter().find(|k| {
            k.date == signed.date
                && k.region == signed.region
                && k.service == signed.service
                && k.secret == secret
        });
        if let Some(cached) = cached {
            return cached.key.clone();
        }
        let key =
            berth_sigv4::SigningKey::derive(secret, &signed.date, &signed.region, &signed.service);
        if keys.len() >= MAX_SIGNING_KEYS {
            keys.clear();
        }
        keys.push(CachedKey {
            secret: secret.to_string(),
            date: signed.date.to_string(),
            region: signed.region.to_string(),
            service: signed.service.to_string(),
            key: key.clone(),
        });
        key
    }
}

fn reject(family: Family, failure: Failure) -> AwsError {
    let rejection = berth_sigv4::rejection(family, &failure);
    AwsError::new(rejection.status, rejection.code, rejection.message)
}

/// Whether a request carries a signature at all (valid or not).
pub(crate) fn is_signed(parts: &Parts) -> bool {
    parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature=") || q.contains("X-Amz-Credential="))
}

pub(crate) async fn authenticate(
    gateway: &Gateway,
    parts: &Parts,
    body: &[u8],
    family: Family,
    expected_service: Option<&str>,
    request_id: String,
) -> Result<RequestContext, AwsError> {
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let payload_sha256 = berth_sigv4::payload_sha256(body);
    let request = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &headers,
        payload_sha256: payload_sha256.as_str(),
    };
    let signed = berth_sigv4::parse(&request)
        .map_err(|err| reject(family, Failure::Signature(err)))?
        .ok_or_else(|| reject(family, Failure::Unsigned))?;
    if let Some(service) = expected_service
        && signed.service != service
    {
        let mut err = reject(family, Failure::Signature(SigV4Error::BadSignature));
        err.message = format!("Credential should be scoped to correct service: '{service}'. ");
        return Err(err);
    }
    if !berth_aws::region::is_well_formed(&signed.region)
        || !(gateway.authentication.is_region)(&signed.region)
    {
        let mut err = reject(family, Failure::Signature(SigV4Error::BadSignature));
        err.message = format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            signed.region
        );
        return Err(err);
    }
    let now = gateway.clock.now();
    let mut identity = None;
    for identities in &gateway.authentication.identities {
        if let Some(found) = identities.lookup(&signed.access_key_id).await? {
            identity = Some(found);
            break;
        }
    }
    let principal = match identity {
        Some(identity) => {
            match (&identity.session, &signed.session_token) {
                (Some(session), Some(token))
                    if bool::from(token.as_bytes().ct_eq(session.token.as_bytes())) =>
                {
                    if now >= session.expires_at {
                        return Err(reject(family, Failure::TokenExpired));
                    }
                }
                // Temporary keys without their token, a wrong token, or a token sent with
                // long-term keys: AWS calls each an invalid security token.
                (None, None) => {}
                _ => return Err(reject(family, Failure::UnknownAccessKey)),
            }
            let key = gateway
                .signing_keys
                .key(&identity.secret_access_key, &signed);
            berth_sigv4::verify_with_key(&signed, &request, &key, now as i64)
                .map_err(|err| reject(family, Failure::Signature(err)))?;
            identity.principal
        }
        None if gateway.authentication.accept_any_credentials => {
            Principal::root(&gateway.authentication.account_id)
        }
        None => return Err(reject(family, Failure::UnknownAccessKey)),
    };
    Ok(RequestContext {
        request_id,
        region: signed.region.into_owned(),
        principal,
        access_key_id: signed.access_key_id.into_owned(),
        session_token: signed.session_token.map(Cow::into_owned),
        source_ip: None,
        received_at: now,
    })
}
