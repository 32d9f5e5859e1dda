//! AWS STS (query protocol): GetCallerIdentity — the account, ARN and user id of the caller —
//! and GetSessionToken — temporary credentials, kept in the store under `sts/session/KEY`,
//! which the gateway accepts (through [`Sessions`]) until they expire. STS credentials work in
//! every region, so sessions are not namespaced by region.

use std::sync::Arc;

use async_trait::async_trait;
use berth_aws::{AwsError, Principal};
use berth_gateway::{Call, Identities, Identity, Service, Session};
use berth_store::{Namespace, Store, StoreError, Txn, transact};
use berth_sts_wire as wire;
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// GetSessionToken's bounds for the root user: AWS allows root sessions of 15 minutes to an
/// hour, one hour by default.
const ROOT_MIN_SECONDS: i32 = 900;
const ROOT_MAX_SECONDS: i32 = 3600;

/// A temporary credential as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSession {
    secret_access_key: String,
    session_token: String,
    expires_at: f64,
    principal_arn: String,
    user_id: String,
    account_id: String,
}

fn sessions_store(store: Arc<dyn Store>) -> Namespace {
    Namespace::new(store, "sts/session/")
}

pub struct StsService {
    sessions: Namespace,
}

impl StsService {
    pub fn new(store: Arc<dyn Store>) -> StsService {
        StsService {
            sessions: sessions_store(store),
        }
    }
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new(400, "ValidationError", message)
}

fn decode<T: serde::de::DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input)
        .map_err(|err| validation(format!("Could not read the request: {err}")))?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

fn random(length: usize, uppercase: bool) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| {
            let c = rng.sample(Alphanumeric) as char;
            if uppercase { c.to_ascii_uppercase() } else { c }
        })
        .collect()
}

#[async_trait]
impl Service for StsService {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let context = call.context;
        match call.operation {
            "GetCallerIdentity" => {
                let _: wire::GetCallerIdentityRequest = decode(call)?;
                // AWS needs no permission for this action; the hook still sees every call.
                call.authorize("sts:GetCallerIdentity", Vec::new(), Vec::new())?;
                Ok(encode(&wire::GetCallerIdentityResponse {
                    account: Some(context.account_id().to_string()),
                    arn: Some(context.principal.arn.clone()),
                    user_id: Some(context.principal.user_id.clone()),
                }))
            }
            "GetSessionToken" => {
                let request: wire::GetSessionTokenRequest = decode(call)?;
                call.authorize("sts:GetSessionToken", Vec::new(), Vec::new())?;
                request.check().map_err(validation)?;
                if context.session_token.is_some() {
                    return Err(AwsError::new(
                        403,
                        "AccessDenied",
                        "Cannot call GetSessionToken with session credentials",
                    ));
                }
                let duration = request.duration_seconds.unwrap_or(ROOT_MAX_SECONDS);
                if !(ROOT_MIN_SECONDS..=ROOT_MAX_SECONDS).contains(&duration) {
                    return Err(validation(format!(
                        "Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {ROOT_MAX_SECONDS} and greater than or equal to {ROOT_MIN_SECONDS} for the root user"
                    )));
                }
                let access_key_id = format!("ASIA{}", random(16, true));
                let session = StoredSession {
                    secret_access_key: random(40, false),
                    session_token: random(356, false),
                    // Whole seconds, as STS reports expirations.
                    expires_at: (context.received_at + f64::from(duration)).floor(),
                    principal_arn: context.principal.arn.clone(),
                    user_id: context.principal.user_id.clone(),
                    account_id: context.account_id().to_string(),
                };
                let record = serde_json::to_vec(&session).expect("sessions always encode");
                let key = access_key_id.clone();
                transact(&self.sessions, move |txn: &mut dyn Txn| {
                    txn.put(&key, record.clone());
                    Ok::<_, StoreError>(())
                })
                .await
                .map_err(|err| AwsError::new(500, "InternalFailure", err.to_string()))?;
                Ok(encode(&wire::GetSessionTokenResponse {
                    credentials: Some(wire::Credentials {
                        access_key_id: Some(access_key_id),
                        secret_access_key: Some(session.secret_access_key),
                        session_token: Some(session.session_token),
                        expiration: Some(session.expires_at),
                    }),
                }))
            }
            other => {
                call.authorize(&format!("sts:{other}"), Vec::new(), Vec::new())?;
                Err(AwsError::new(
                    400,
                    "InvalidAction",
                    format!("Berth does not implement the STS action {other} yet."),
                ))
            }
        }
    }
}

/// The temporary credentials STS issued, as the gateway looks keys up.
pub struct Sessions {
    sessions: Namespace,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>) -> Sessions {
        Sessions {
            sessions: sessions_store(store),
        }
    }
}

#[async_trait]
impl Identities for Sessions {
    async fn lookup(&self, access_key_id: &str) -> Result<Option<Identity>, AwsError> {
        // Only keys STS issued can be sessions; anything else is not read from the store.
        if !access_key_id.starts_with("ASIA") {
            return Ok(None);
        }
        let found = self
            .sessions
            .get(access_key_id)
            .await
            .map_err(|err| AwsError::new(500, "InternalFailure", err.to_string()))?;
        let Some(found) = found else {
            return Ok(None);
        };
        let session: StoredSession = serde_json::from_slice(&found.value).map_err(|err| {
            AwsError::new(500, "InternalFailure", format!("unreadable session: {err}"))
        })?;
        Ok(Some(Identity {
            secret_access_key: session.secret_access_key,
            principal: Principal {
                arn: session.principal_arn,
                user_id: session.user_id,
                account_id: session.account_id,
            },
            session: Some(Session {
                token: session.session_token,
                expires_at: session.expires_at,
            }),
        }))
    }
}
