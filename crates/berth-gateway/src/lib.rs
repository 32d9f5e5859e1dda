//! The front door of every AWS service Berth serves, on one address, as AWS clients send them:
//!
//! 1. **Route** ([`protocol`]): `X-Amz-Target` picks a JSON 1.0/1.1 service, the path
//!    `/service/NAME/operation/OP` a Smithy RPC v2 CBOR one, a form body or query string with
//!    `Action=` a query or EC2 one — found by the service its SigV4 credential scope names — and
//!    any other method and path a REST-JSON operation of the service the scope names.
//! 2. **Authenticate** ([`auth`]): SigV4 (header or presigned query), verified for every request
//!    against the account's keys and STS's temporary credentials; the scope's region becomes the
//!    request's region.
//! 3. **Decode** the body into the JSON form of the operation's generated input shape
//!    (`berth_wire::codec`), so every service handler sees one representation.
//! 4. **Call** the service ([`Service`]); each call passes the authorization hook
//!    ([`Call::authorize`]) before its handler runs, and the gateway refuses to answer a call that
//!    skipped it.
//! 5. **Encode** the output or the error in the request's protocol.
//!
//! Connections are bounded in time ([`serve`]) so slow clients cannot starve the server.

mod auth;
mod event_stream;
mod metrics;
pub mod protocol;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::response::Response;
use axum::routing::{any, post};
use berth_aws::authorization::{AuthorizationRequest, Authorizer};
use berth_aws::{AwsError, Clock, RequestContext};
use berth_wire::model::ServiceModel;

pub use auth::{Identities, Identity, RootKey, Session};
pub use event_stream::{EventStream, StreamMessage};
pub use metrics::ApiMetrics;
pub use protocol::Protocol;
pub use serve::{ConnectionLimits, serve};

/// Requests larger than this are refused before they are read. ECS's largest inputs (task
/// definitions, at most 64 KiB of container definitions) fit many times over.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One AWS service behind the front door.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// The service's model, as generated from botocore's: its protocols, target prefix, signing
    /// name, operations and shapes.
    fn model(&self) -> &'static ServiceModel;

    /// Runs one operation. `call.input` is the JSON form of the operation's input shape; the
    /// result is the JSON form of its output shape.
    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError>;

    /// Whether `operation` answers with an event stream (its output carries a botocore
    /// `eventstream` member): the gateway then calls [`Service::stream`] instead of `call`.
    fn streams(&self, _operation: &str) -> bool {
        false
    }

    /// An event-stream operation: checked and authorized as `call` does, then the messages
    /// its answer carries, sent as they come.
    async fn stream(&self, call: &Call<'_>) -> Result<EventStream, AwsError> {
        Err(AwsError::new(
            500,
            "InternalFailure",
            format!("{} has no event stream", call.operation),
        ))
    }
}

/// One call of one operation, with its context and the authorization hook.
pub struct Call<'a> {
    pub context: &'a RequestContext,
    pub operation: &'a str,
    pub input: &'a [u8],
    protocol: Protocol,
    authorizer: &'a dyn Authorizer,
    authorized: AtomicBool,
}

impl<'a> Call<'a> {
    pub fn new(
        context: &'a RequestContext,
        operation: &'a str,
        input: &'a [u8],
        protocol: Protocol,
        authorizer: &'a dyn Authorizer,
    ) -> Call<'a> {
        Call {
            context,
            operation,
            input,
            protocol,
            authorizer,
            authorized: AtomicBool::new(false),
        }
    }

    /// Asks the authorizer whether the caller may perform `action` (`ecs:RunTask`) on
    /// `resources` (`*` when the action takes none), with the request's condition context plus
    /// `conditions`. Every handler passes here before it does anything.
    pub fn authorize(
        &self,
        action: &str,
        resources: Vec<String>,
        conditions: Vec<(String, String)>,
    ) -> Result<(), AwsError> {
        let request = AuthorizationRequest {
            principal: &self.context.principal,
            action,
            resources: if resources.is_empty() {
                vec!["*".to_string()]
            } else {
                resources
            },
            region: &self.context.region,
            source_ip: self.context.source_ip,
            conditions,
            time: self.context.received_at,
        };
        self.authorizer
            .authorize(&request)
            .map_err(|denied| self.protocol.access_denied(denied.message))?;
        self.authorized.store(true, Ordering::Release);
        Ok(())
    }

    fn was_authorized(&self) -> bool {
        self.authorized.load(Ordering::Acquire)
    }
}

/// How the gateway authenticates callers.
pub struct Authentication {
    /// Where access keys are looked up, in order (the account's root keys, STS sessions, …).
    pub identities: Vec<Arc<dyn Identities>>,
    /// Accept any access key with a well-formed signature as the account's root, without
    /// checking the signature (the dummy `test`/`test` keys of local emulators).
    pub accept_any_credentials: bool,
    pub account_id: String,
    /// The regions requests may be scoped to. Each region a request names becomes a namespace
    /// with its own background work, so only the partition's real regions are let in.
    pub is_region: fn(&str) -> bool,
}

/// The front door: every registered service on one router.
pub struct Gateway {
    services: Vec<Arc<dyn Service>>,
    signing_keys: auth::SigningKeys,
    authentication: Authentication,
    authorizer: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
    limits: ConnectionLimits,
    metrics: Option<ApiMetrics>,
}

impl Gateway {
    pub fn new(
        services: Vec<Arc<dyn Service>>,
        authentication: Authentication,
        authorizer: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
        limits: ConnectionLimits,
    ) -> Gateway {
        Gateway {
            services,
            signing_keys: auth::SigningKeys::default(),
            authentication,
            authorizer,
            clock,
            limits,
            metrics: None,
        }
    }

    /// Counts and times every call in `metrics` (see [`ApiMetrics::register`]).
    pub fn with_metrics(mut self, metrics: ApiMetrics) -> Gateway {
        self.metrics = Some(metrics);
        self
    }

    /// The routes of every AWS API: `POST /` (JSON, query and EC2), `GET /` (presigned query
    /// requests), `POST /service/NAME/operation/OP` (Smithy RPC v2 CBOR), and every other
    /// method and path (REST-JSON, whose models name their own paths).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", any(aws_request))
            .route(
                "/service/{service}/operation/{operation}",
                post(aws_request),
            )
            .fallback(aws_request)
            .with_state(self)
    }

    /// The connection limits to serve this gateway with ([`serve`]).
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Reads the body of a request to one of Berth's own routes within the same bounds as an
    /// AWS API call's (size and time).
    pub async fn read_body(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
    ) -> Result<axum::body::Bytes, AwsError> {
        protocol::read_body(parts, body, self.limits.body_timeout).await
    }

    /// Authenticates a request that is not an AWS API call (the agent channel's upgrade, Berth's
    /// own endpoints) as if it were one of `service`'s, answering failures as that service's
    /// JSON protocol does.
    pub async fn authenticate(
        &self,
        parts: &axum::http::request::Parts,
        body: &[u8],
        service: &str,
    ) -> Result<RequestContext, AwsError> {
        let family = berth_sigv4::Family::Json;
        let request_id = uuid::Uuid::new_v4().to_string();
        auth::authenticate(self, parts, body, family, Some(service), request_id).await
    }

    fn service_for_target(&self, prefix: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|s| s.model().target_prefix == Some(prefix))
    }

    fn service_signing_as(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|s| s.model().signing_name == name && speaks_forms(s.model()))
    }

    fn rest_json_services(&self) -> impl Iterator<Item = &Arc<dyn Service>> {
        self.services
            .iter()
            .filter(|s| s.model().protocol == berth_wire::model::Protocol::RestJson)
    }

    fn rest_json_service(&self, signing_name: &str) -> Option<&Arc<dyn Service>> {
        self.rest_json_services()
            .find(|s| s.model().signing_name == signing_name)
    }

    fn service_with_version(&self, version: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|s| s.model().api_version == version && speaks_forms(s.model()))
    }

    async fn handle(
        &self,
        request: Request<Body>,
        remote: Option<SocketAddr>,
        request_id: &str,
        named: &mut Option<(&'static str, &'static str)>,
    ) -> Result<Response, (Protocol, AwsError)> {
        let (parts, body) = request.into_parts();
        let route = protocol::route(self, &parts)?;
        if let (Some(service), Some(operation)) = (&route.service, route.operation) {
            *named = Some((service.model().signing_name, operation.name));
        }
        let body = protocol::read_body(&parts, body, self.limits.body_timeout)
            .await
            .map_err(|err| (route.protocol, err))?;
        let route = if auth::is_signed(&parts) {
            route
        } else {
            protocol::identify_unsigned(self, route, &parts, &body)
        };
        let protocol = route.protocol;
        let fail = |err: AwsError| (protocol, err);
        let mut context = auth::authenticate(
            self,
            &parts,
            &body,
            protocol.family(),
            route.service.as_ref().map(|s| s.model().signing_name),
            request_id.to_string(),
        )
        .await
        .map_err(fail)?;
        context.source_ip = remote.map(|r| r.ip());
        let decoded = protocol::decode(route, &parts, &body)?;
        *named = Some((decoded.service.model().signing_name, decoded.operation.name));
        let call = Call::new(
            &context,
            decoded.operation.name,
            &decoded.input,
            decoded.protocol,
            &*self.authorizer,
        );
        let not_authorized = || {
            tracing::error!(
                operation = decoded.operation.name,
                "a handler answered without asking the authorizer"
            );
            fail(AwsError::new(
                500,
                protocol.internal_error_code(),
                "The request was not authorized.",
            ))
        };
        if decoded.service.streams(decoded.operation.name) {
            if !matches!(protocol, Protocol::Json { .. }) {
                return Err(fail(AwsError::new(
                    400,
                    "UnsupportedProtocol",
                    format!(
                        "{} streams its answer, which Berth serves over the JSON protocols only",
                        decoded.operation.name
                    ),
                )));
            }
            let messages = decoded.service.stream(&call).await.map_err(fail)?;
            if !call.was_authorized() {
                return Err(not_authorized());
            }
            // The event stream is the only member of the outputs Berth streams.
            return Ok(event_stream::json_response(
                b"{}".to_vec(),
                messages,
                request_id,
            ));
        }
        // Counted so that an error answer that still changed state is seen, whatever else
        // writes meanwhile (tests/e2e/api_fuzz.py checks it).
        let (output, writes) =
            berth_store::attribution::count_writes(decoded.service.call(&call)).await;
        if writes > 0 {
            if let Err(err) = &output {
                tracing::error!(
                    operation = decoded.operation.name,
                    code = %err.code,
                    writes,
                    "a call answered an error after committing writes"
                );
            }
            if let Some(metrics) = &self.metrics {
                metrics.wrote(
                    decoded.service.model().signing_name,
                    decoded.operation.name,
                    output.is_ok(),
                );
            }
        }
        let output = output.map_err(fail)?;
        if !call.was_authorized() {
            return Err(not_authorized());
        }
        protocol::encode(&decoded, output, request_id).map_err(fail)
    }
}

/// Whether a service takes form-encoded `Action=` requests: query or EC2 as its own protocol,
/// or query among others (CloudWatch lists it after RPC v2 CBOR and JSON 1.0).
fn speaks_forms(model: &ServiceModel) -> bool {
    use berth_wire::model::Protocol;
    model.protocol == Protocol::Ec2 || model.protocols.contains(&Protocol::Query)
}

async fn aws_request(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address);
    let mut named = None;
    let response = match gateway
        .handle(request, remote, &request_id, &mut named)
        .await
    {
        Ok(response) => response,
        Err((protocol, err)) => {
            if err.status >= 500 {
                tracing::error!(code = %err.code, message = %err.message, "request failed");
            } else {
                tracing::debug!(code = %err.code, message = %err.message, "request rejected");
            }
            protocol.error_response(&err, &request_id)
        }
    };
    if let (Some(metrics), Some((service, operation))) = (&gateway.metrics, named) {
        metrics.observe(
            service,
            operation,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    response
}
