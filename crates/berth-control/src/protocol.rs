//! The AWS-protocol front door: every API is served by `POST /` on one address. JSON-protocol
//! services are told apart by `X-Amz-Target`; query-protocol services (elbv2, iam, sts; later)
//! by the service name in the SigV4 credential scope, as AWS clients send them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_wire::ecs::Operation;

use crate::error::ApiError;
use crate::{ControlPlane, Regions, ecs};

/// What the routes share: every region's control plane.
#[derive(Clone)]
pub struct Api {
    pub regions: Arc<Regions>,
    /// The region of unsigned requests.
    pub default_region: String,
}

impl Api {
    pub(crate) async fn region_of(
        &self,
        headers: &HeaderMap,
    ) -> Result<Arc<ControlPlane>, ApiError> {
        let credential = parse_authorization(headers)?;
        let region = credential.map_or(self.default_region.clone(), |c| c.region);
        self.regions.region(&region).await
    }
}

/// Requests larger than this are refused before they are read. ECS's largest inputs (task
/// definitions, at most 64 KiB of container definitions) fit many times over.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Berth's placement dry run: a RunTask request in, where it would go out.
pub const PLAN_RUN_TASK_PATH: &str = "/berth/v1/plan/run-task";

async fn plan_run_task(State(api): State<Api>, headers: HeaderMap, body: Body) -> Response {
    let plan = async {
        let control_plane = api.region_of(&headers).await?;
        let body = read_body(&headers, body).await?;
        let request: berth_wire::ecs::RunTaskRequest =
            serde_json::from_slice(&body).map_err(|err| {
                ApiError::serialization(format!("Could not parse the request body: {err}"))
            })?;
        berth_wire::Validate::check(&request).map_err(berth_ecs::EcsError::InvalidParameter)?;
        crate::ecs::tasks::plan(&control_plane, request).await
    };
    match plan.await {
        Ok(plan) => axum::Json(plan).into_response(),
        Err(err) => err.into_response(),
    }
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/", post(aws_request))
        .route("/healthz", get(|| async { "ok" }))
        .route(berth_protocol::CONNECT_PATH, get(crate::agents::connect))
        .route(PLAN_RUN_TASK_PATH, post(plan_run_task))
        .with_state(api)
}

/// The API a request is for, with the operation it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceCall {
    Ecs(Operation),
}

/// The parts of a SigV4 `Authorization` header that route and identify a request. The
/// signature itself is verified once authentication lands (B8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…,
/// Signature=…`. `None` when the request is unsigned.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let incomplete = |what: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            format!("Authorization header requires {what}."),
        )
    };
    let value = value.to_str().map_err(|_| incomplete("ASCII content"))?;
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("the AWS4-HMAC-SHA256 algorithm"))?;
    let mut credential = None;
    let mut signed_headers = false;
    let mut signature = false;
    for part in rest.split(',').map(str::trim) {
        if let Some(scope) = part.strip_prefix("Credential=") {
            credential = Some(scope);
        } else if part.starts_with("SignedHeaders=") {
            signed_headers = true;
        } else if part.starts_with("Signature=") {
            signature = true;
        }
    }
    let scope = credential.ok_or_else(|| incomplete("'Credential' parameter"))?;
    if !signed_headers {
        return Err(incomplete("'SignedHeaders' parameter"));
    }
    if !signature {
        return Err(incomplete("'Signature' parameter"));
    }
    match scope.split('/').collect::<Vec<_>>().as_slice() {
        [key, date, region, service, "aws4_request"] if !key.is_empty() => Ok(Some(Credential {
            access_key_id: key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        })),
        _ => Err(incomplete(
            "a Credential of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request",
        )),
    }
}

fn identify(headers: &HeaderMap, credential: Option<&Credential>) -> Result<ServiceCall, ApiError> {
    if let Some(target) = headers.get("x-amz-target") {
        let target = target
            .to_str()
            .map_err(|_| ApiError::unknown_operation("X-Amz-Target is not valid ASCII"))?;
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        return match prefix {
            ecs::TARGET_PREFIX => Operation::from_name(operation)
                .map(ServiceCall::Ecs)
                .ok_or_else(|| ApiError::unknown_operation(format!("Unknown operation {target}"))),
            _ => Err(ApiError::unknown_operation(format!(
                "Unknown operation {target}"
            ))),
        };
    }
    let service = credential.map_or("unsigned", |c| c.service.as_str());
    Err(ApiError::unknown_operation(format!(
        "No X-Amz-Target header, and no query-protocol API is served for service '{service}'"
    )))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "application/x-amz-json-1.1" | "application/x-amz-json-1.0" | "application/json" => Ok(()),
        other => Err(ApiError::serialization(format!(
            "Unsupported content type '{other}': JSON-protocol requests must be application/x-amz-json-1.1"
        ))),
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request body must not exceed {MAX_REQUEST_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| too_large())
}

async fn dispatch(api: &Api, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let credential = parse_authorization(headers)?;
    let call = identify(headers, credential.as_ref())?;
    check_content_type(headers)?;
    let body = read_body(headers, body).await?;
    let control_plane = api.region_of(headers).await?;
    match call {
        ServiceCall::Ecs(operation) => ecs::call(&control_plane, operation, &body).await,
    }
}

async fn aws_request(State(api): State<Api>, headers: HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = match dispatch(&api, &headers, body).await {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            response
        }
        Err(err) => {
            if err.status.is_server_error() {
                tracing::error!(exception = err.exception, message = %err.message, "request failed");
            } else {
                tracing::debug!(exception = err.exception, message = %err.message, "request rejected");
            }
            err.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn parses_the_credential_scope_of_a_sigv4_header() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )]);
        let credential = parse_authorization(&h).unwrap().unwrap();
        assert_eq!(credential.access_key_id, "AKIDEXAMPLE");
        assert_eq!(credential.region, "us-east-1");
        assert_eq!(credential.service, "ecs");
        assert!(parse_authorization(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn rejects_malformed_authorization_headers() {
        for bad in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs, SignedHeaders=host, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs/aws4_request, Signature=abc",
        ] {
            let err = parse_authorization(&headers(&[("authorization", bad)])).unwrap_err();
            assert_eq!(err.exception, "IncompleteSignatureException", "{bad}");
        }
    }

    #[test]
    fn routes_json_targets_and_refuses_unknown_ones() {
        let ecs = headers(&[(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        )]);
        assert_eq!(
            identify(&ecs, None).unwrap(),
            ServiceCall::Ecs(Operation::ListClusters)
        );
        for target in [
            "AmazonEC2ContainerServiceV20141113.Frobnicate",
            "Nope.ListClusters",
            "x",
        ] {
            let err = identify(&headers(&[("x-amz-target", target)]), None).unwrap_err();
            assert_eq!(err.exception, "UnknownOperationException");
        }
    }
}
