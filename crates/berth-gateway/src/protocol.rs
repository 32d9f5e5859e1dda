//! The wire protocols: which one a request speaks, how its body becomes the JSON form of its
//! operation's input, and how outputs and errors go back in the same protocol.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_aws::AwsError;
use berth_sigv4::Family;
use berth_wire::codec;
use berth_wire::model::{OperationModel, ServiceModel};
use http_body_util::{BodyExt, Limited};

use crate::{Gateway, MAX_REQUEST_BYTES, Service};

/// The protocol a request speaks; errors are answered in it too.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// AWS JSON 1.0 or 1.1 (the version the request's content type named).
    Json { version: JsonVersion },
    /// AWS Query (STS, IAM, elbv2): form requests, XML responses; the model gives the namespace
    /// (none when the request names no service Berth serves).
    Query(Option<&'static ServiceModel>),
    /// EC2's dialect of query.
    Ec2,
    /// Smithy RPC v2 CBOR.
    Cbor,
    /// REST-JSON: the method and path name the operation of the model's service.
    RestJson(&'static ServiceModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    V1_0,
    V1_1,
}

impl JsonVersion {
    fn content_type(self) -> &'static str {
        match self {
            JsonVersion::V1_0 => "application/x-amz-json-1.0",
            JsonVersion::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

impl Protocol {
    /// AWS JSON 1.1, the protocol of ECS and of Berth's own endpoints.
    pub fn json_1_1() -> Protocol {
        Protocol::Json {
            version: JsonVersion::V1_1,
        }
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Protocol::Json { .. } | Protocol::RestJson(_) => Family::Json,
            Protocol::Query(_) => Family::Query,
            Protocol::Ec2 => Family::Ec2,
            Protocol::Cbor => Family::Cbor,
        }
    }

    /// The protocol's refusal for a caller the authorizer denied.
    pub(crate) fn access_denied(self, message: String) -> AwsError {
        match self {
            Protocol::Json { .. } | Protocol::Cbor => {
                AwsError::new(400, "AccessDeniedException", message)
            }
            Protocol::Query(_) => AwsError::new(403, "AccessDenied", message),
            Protocol::RestJson(_) => AwsError::new(403, "AccessDeniedException", message),
            Protocol::Ec2 => AwsError::new(403, "UnauthorizedOperation", message),
        }
    }

    pub(crate) fn internal_error_code(self) -> &'static str {
        match self {
            Protocol::Json { .. } | Protocol::Cbor | Protocol::RestJson(_) => "InternalFailure",
            Protocol::Query(_) => "InternalFailure",
            Protocol::Ec2 => "InternalError",
        }
    }

    fn bad_request(self, code: &str, message: impl Into<String>) -> (Protocol, AwsError) {
        (self, AwsError::new(400, code, message))
    }

    fn unknown_operation(self, message: String) -> (Protocol, AwsError) {
        match self {
            Protocol::Json { .. } | Protocol::Cbor => {
                self.bad_request("UnknownOperationException", message)
            }
            // A REST service has no operation at a path it does not serve: 404, as AWS answers.
            Protocol::RestJson(_) => (
                self,
                AwsError::new(404, "UnknownOperationException", message),
            ),
            Protocol::Query(_) | Protocol::Ec2 => self.bad_request("InvalidAction", message),
        }
    }

    /// An error in this protocol's shape, with the request id clients log.
    pub fn error_response(self, err: &AwsError, request_id: &str) -> Response {
        let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, body): (&str, Vec<u8>) = match self {
            Protocol::Json { version } => (
                version.content_type(),
                serde_json::json!({ "__type": err.code, "message": err.message })
                    .to_string()
                    .into_bytes(),
            ),
            Protocol::Query(model) => (
                "text/xml",
                codec::query::error_body(
                    model,
                    &err.code,
                    &err.message,
                    err.is_sender_fault(),
                    request_id,
                )
                .into_bytes(),
            ),
            Protocol::Ec2 => (
                "text/xml;charset=UTF-8",
                codec::query::ec2_error_body(&err.code, &err.message, request_id).into_bytes(),
            ),
            Protocol::Cbor => (
                "application/cbor",
                codec::cbor::error_body(&err.code, &err.message),
            ),
            Protocol::RestJson(_) => (
                "application/json",
                codec::rest_json::error_body(&err.code, &err.message),
            ),
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-RequestId", value);
        }
        match self {
            Protocol::Json { .. } | Protocol::RestJson(_) => {
                if let Ok(value) = HeaderValue::from_str(&err.code) {
                    headers.insert("x-amzn-ErrorType", value);
                }
            }
            Protocol::Cbor => {
                headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
            }
            _ => {}
        }
        response
    }
}

/// Where a request goes, as far as its head tells.
pub(crate) struct Route {
    pub protocol: Protocol,
    /// Known from the head for JSON and CBOR; query and EC2 requests name theirs in the
    /// signature, which authentication checks first.
    pub service: Option<Arc<dyn Service>>,
    pub operation: Option<&'static OperationModel>,
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn content_type(parts: &Parts) -> &str {
    header_str(parts, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
}

pub(crate) fn route(gateway: &Gateway, parts: &Parts) -> Result<Route, (Protocol, AwsError)> {
    if let Some(target) = parts.headers.get("x-amz-target") {
        let version = match content_type(parts) {
            "application/x-amz-json-1.0" => JsonVersion::V1_0,
            "application/x-amz-json-1.1" | "application/json" => JsonVersion::V1_1,
            other => {
                return Err(Protocol::Json {
                    version: JsonVersion::V1_1,
                }
                .bad_request(
                    "SerializationException",
                    format!(
                        "Unsupported content type '{other}': JSON-protocol requests must be application/x-amz-json-1.0 or 1.1"
                    ),
                ));
            }
        };
        let protocol = Protocol::Json { version };
        let target = target
            .to_str()
            .map_err(|_| protocol.unknown_operation("X-Amz-Target is not valid ASCII".into()))?;
        let (prefix, name) = target.split_once('.').unwrap_or((target, ""));
        let unknown = || protocol.unknown_operation(format!("Unknown operation {target}"));
        let service = gateway.service_for_target(prefix).ok_or_else(unknown)?;
        let operation = service.model().operation(name).ok_or_else(unknown)?;
        if parts.method != Method::POST {
            return Err(protocol.unknown_operation(format!(
                "JSON-protocol requests are POSTs, not {}",
                parts.method
            )));
        }
        return Ok(Route {
            protocol,
            service: Some(service.clone()),
            operation: Some(operation),
        });
    }
    if let Some(rest) = parts.uri.path().strip_prefix("/service/") {
        let protocol = Protocol::Cbor;
        let (name, operation) = rest
            .split_once("/operation/")
            .ok_or_else(|| protocol.unknown_operation(format!("Unknown path {rest}")))?;
        if header_str(parts, "smithy-protocol") != Some("rpc-v2-cbor") {
            return Err(protocol.bad_request(
                "SerializationException",
                "Smithy RPC v2 requests must carry the header smithy-protocol: rpc-v2-cbor",
            ));
        }
        let unknown =
            || protocol.unknown_operation(format!("Unknown operation {name}.{operation}"));
        let service = gateway
            .service_for_target(name)
            .filter(|s| {
                s.model()
                    .protocols
                    .contains(&berth_wire::model::Protocol::RpcV2Cbor)
            })
            .ok_or_else(unknown)?;
        let operation = service.model().operation(operation).ok_or_else(unknown)?;
        let body_type = content_type(parts);
        if !body_type.is_empty() && body_type != "application/cbor" {
            return Err(protocol.bad_request(
                "SerializationException",
                format!("Unsupported content type '{body_type}': expected application/cbor"),
            ));
        }
        return Ok(Route {
            protocol,
            service: Some(service.clone()),
            operation: Some(operation),
        });
    }
    let scope_service = signing_service(parts);
    let is_form =
        parts.method == Method::POST && content_type(parts) == "application/x-www-form-urlencoded";
    if !is_form && let Some(route) = rest_json_route(gateway, parts, scope_service.as_deref())? {
        return Ok(route);
    }
    // Query and EC2: the dialect depends on the service the signature names.
    let service = scope_service
        .as_deref()
        .and_then(|name| gateway.service_signing_as(name))
        .cloned();
    let protocol = match &service {
        Some(service) if service.model().protocol == berth_wire::model::Protocol::Ec2 => {
            Protocol::Ec2
        }
        Some(service) => Protocol::Query(Some(service.model())),
        None => Protocol::Query(None),
    };
    let is_query_get =
        parts.method == Method::GET && parts.uri.path() == "/" && parts.uri.query().is_some();
    if !is_form && !is_query_get {
        // Neither a target nor a form: what an AWS JSON endpoint says to such a request.
        return Err(Protocol::Json {
            version: JsonVersion::V1_1,
        }
        .bad_request(
            "UnknownOperationException",
            "The request names no operation: no X-Amz-Target header, no form body with an Action",
        ));
    }
    if service.is_none()
        && let Some(name) = scope_service
    {
        return Err(protocol.bad_request(
            "InvalidAction",
            format!("Berth does not serve the AWS service '{name}'."),
        ));
    }
    Ok(Route {
        protocol,
        service,
        operation: None,
    })
}

/// A REST-JSON request: one whose SigV4 scope names a REST-JSON service, routed by method and
/// path in that service's model (a path it does not serve is refused in its shape), or an
/// unsigned one whose method and path some REST-JSON service serves — so authentication refuses
/// it in the JSON family's words. `None`: not REST-JSON; a query GET (`Action=`) never is.
fn rest_json_route(
    gateway: &Gateway,
    parts: &Parts,
    scope_service: Option<&str>,
) -> Result<Option<Route>, (Protocol, AwsError)> {
    let (method, path) = (parts.method.as_str(), parts.uri.path());
    let query = parts.uri.query().unwrap_or_default();
    let found = |service: &Arc<dyn Service>, operation| Route {
        protocol: Protocol::RestJson(service.model()),
        service: Some(service.clone()),
        operation: Some(operation),
    };
    match scope_service {
        Some(name) => {
            let Some(service) = gateway.rest_json_service(name) else {
                return Ok(None);
            };
            let protocol = Protocol::RestJson(service.model());
            match codec::rest_json::route(service.model(), method, path, query) {
                Ok(operation) => Ok(Some(found(service, operation))),
                Err(codec::rest_json::RouteError::NotFound) => {
                    Err(protocol.unknown_operation(format!("No operation serves {method} {path}")))
                }
                Err(codec::rest_json::RouteError::MethodNotAllowed) => {
                    let (protocol, mut err) = protocol
                        .unknown_operation(format!("No operation serves {method} on {path}"));
                    err.status = 405;
                    Err((protocol, err))
                }
            }
        }
        None => {
            let names_action = codec::parse_form(query.as_bytes())
                .iter()
                .any(|(name, _)| name == "Action");
            if names_action {
                return Ok(None);
            }
            Ok(gateway.rest_json_services().find_map(|service| {
                codec::rest_json::route(service.model(), method, path, query)
                    .ok()
                    .map(|operation| found(service, operation))
            }))
        }
    }
}

/// An unsigned query request names no service in a signature; the API version it asks for
/// tells which service it meant (`2016-11-15` is EC2's), so its refusal comes in that
/// service's dialect.
pub(crate) fn identify_unsigned(
    gateway: &Gateway,
    route: Route,
    parts: &Parts,
    body: &[u8],
) -> Route {
    if route.service.is_some() || !matches!(route.protocol, Protocol::Query(_)) {
        return route;
    }
    let mut params = codec::parse_form(body);
    if let Some(query) = parts.uri.query() {
        params.extend(codec::parse_form(query.as_bytes()));
    }
    let version = params
        .iter()
        .find(|(name, _)| name == "Version")
        .map(|(_, v)| v.as_str());
    let Some(service) = version.and_then(|v| gateway.service_with_version(v)) else {
        return route;
    };
    let protocol = match service.model().protocol {
        berth_wire::model::Protocol::Ec2 => Protocol::Ec2,
        _ => Protocol::Query(Some(service.model())),
    };
    Route {
        protocol,
        service: Some(service.clone()),
        operation: None,
    }
}

/// The service a request's SigV4 credential scope names (header or presigned query).
fn signing_service(parts: &Parts) -> Option<String> {
    let scope_service = |credential: &str| credential.split('/').nth(3).map(str::to_string);
    if let Some(authorization) = header_str(parts, header::AUTHORIZATION.as_str()) {
        let credential = authorization
            .split([',', ' '])
            .find_map(|part| part.trim().strip_prefix("Credential="))?;
        return scope_service(credential);
    }
    let query = parts.uri.query()?;
    codec::parse_form(query.as_bytes())
        .into_iter()
        .find(|(name, _)| name == "X-Amz-Credential")
        .and_then(|(_, credential)| scope_service(&credential))
}

/// Reads a whole body, refusing more than [`MAX_REQUEST_BYTES`] (before reading, when the
/// declared length says so) and bodies that take longer than `timeout` to arrive.
pub(crate) async fn read_body(
    parts: &Parts,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, AwsError> {
    let too_large = || {
        AwsError::new(
            413,
            "RequestEntityTooLargeException",
            format!("Request body must not exceed {MAX_REQUEST_BYTES} bytes"),
        )
    };
    let declared =
        header_str(parts, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    let collect = Limited::new(body, MAX_REQUEST_BYTES).collect();
    tokio::pin!(collect);
    // Most bodies have arrived with their header: only one still on its way needs a timer.
    let collected = match futures_util::poll!(collect.as_mut()) {
        std::task::Poll::Ready(collected) => collected,
        std::task::Poll::Pending => tokio::time::timeout(timeout, collect).await.map_err(|_| {
            AwsError::new(
                408,
                "RequestTimeoutException",
                format!(
                    "The request body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            )
        })?,
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(err) => Err(AwsError::new(
            400,
            "IncompleteBody",
            format!("The request body could not be read: {err}"),
        )),
    }
}

/// A request decoded for its service.
pub(crate) struct Decoded {
    pub protocol: Protocol,
    pub service: Arc<dyn Service>,
    pub operation: &'static OperationModel,
    /// The JSON form of the operation's input shape (for JSON protocols, the body itself).
    pub input: Bytes,
}

pub(crate) fn decode(
    route: Route,
    parts: &Parts,
    body: &Bytes,
) -> Result<Decoded, (Protocol, AwsError)> {
    let protocol = route.protocol;
    match protocol {
        Protocol::Json { .. } => {
            let service = route.service.expect("JSON routes name their service");
            let operation = route.operation.expect("JSON routes name their operation");
            // botocore sends `{}` for an empty input; other clients may send nothing at all.
            let input = if body.iter().all(u8::is_ascii_whitespace) {
                Bytes::from_static(b"{}")
            } else {
                codec::json::check(service.model(), operation, body).map_err(|err| {
                    protocol.bad_request(err.code(berth_wire::model::Protocol::Json), err.message())
                })?;
                body.clone()
            };
            Ok(Decoded {
                protocol,
                service,
                operation,
                input,
            })
        }
        Protocol::Cbor => {
            let service = route.service.expect("CBOR routes name their service");
            let operation = route.operation.expect("CBOR routes name their operation");
            let input = codec::cbor::decode(service.model(), operation, body).map_err(|err| {
                protocol.bad_request(
                    err.code(berth_wire::model::Protocol::RpcV2Cbor),
                    err.message(),
                )
            })?;
            Ok(Decoded {
                protocol,
                service,
                operation,
                input: serde_json::to_vec(&input)
                    .expect("JSON values always encode")
                    .into(),
            })
        }
        Protocol::RestJson(model) => {
            let service = route.service.expect("REST-JSON routes name their service");
            let operation = route
                .operation
                .expect("REST-JSON routes name their operation");
            // Headers that are not text cannot be members; the decoder ignores what it lacks.
            let headers: Vec<(&str, &str)> = parts
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                .collect();
            let request = codec::rest_json::Request {
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or_default(),
                headers: &headers,
                body,
            };
            let input = codec::rest_json::decode(model, operation, &request).map_err(|err| {
                protocol.bad_request(
                    err.code(berth_wire::model::Protocol::RestJson),
                    err.message(),
                )
            })?;
            Ok(Decoded {
                protocol,
                service,
                operation,
                input: serde_json::to_vec(&input)
                    .expect("JSON values always encode")
                    .into(),
            })
        }
        Protocol::Query(_) | Protocol::Ec2 => {
            let service = route
                .service
                .expect("authentication refuses query requests of unknown services");
            let model = service.model();
            let mut params = match parts.method {
                Method::GET => Vec::new(),
                _ => codec::parse_form(body),
            };
            if let Some(query) = parts.uri.query() {
                params.extend(codec::parse_form(query.as_bytes()));
            }
            let action = codec::action(&params).ok_or_else(|| {
                protocol.bad_request(
                    "MissingAction",
                    "The request must contain the parameter Action.",
                )
            })?;
            let version = params
                .iter()
                .find(|(name, _)| name == "Version")
                .map(|(_, v)| v.as_str());
            let operation = model
                .operation(action)
                .filter(|_| version.is_none_or(|v| v == model.api_version))
                .ok_or_else(|| {
                    protocol.unknown_operation(match protocol {
                        Protocol::Ec2 => {
                            format!("The action {action} is not valid for this web service.")
                        }
                        _ => format!(
                            "Could not find operation {action} for version {}",
                            version.unwrap_or(model.api_version)
                        ),
                    })
                })?;
            // The form's dialect, not the service's first protocol (CloudWatch's is CBOR).
            let model_protocol = match protocol {
                Protocol::Ec2 => berth_wire::model::Protocol::Ec2,
                _ => berth_wire::model::Protocol::Query,
            };
            let input = codec::query::decode(model, operation, &params)
                .map_err(|err| protocol.bad_request(err.code(model_protocol), err.message()))?;
            Ok(Decoded {
                protocol,
                service,
                operation,
                input: serde_json::to_vec(&input)
                    .expect("JSON values always encode")
                    .into(),
            })
        }
    }
}

/// The output, in the request's protocol.
pub(crate) fn encode(
    decoded: &Decoded,
    output: Vec<u8>,
    request_id: &str,
) -> Result<Response, AwsError> {
    let model = decoded.service.model();
    let broken = |what: String| AwsError::new(500, decoded.protocol.internal_error_code(), what);
    let as_value = || {
        serde_json::from_slice::<serde_json::Value>(&output)
            .map_err(|err| broken(format!("The service's output is not JSON: {err}")))
    };
    let mut status = StatusCode::OK;
    let mut extra_headers = Vec::new();
    let (content_type, body, cbor): (&str, Vec<u8>, bool) = match decoded.protocol {
        Protocol::Json { version } => (version.content_type(), output, false),
        Protocol::Query(_) | Protocol::Ec2 => {
            let xml =
                codec::query::encode_response(model, decoded.operation, &as_value()?, request_id)
                    .map_err(|err| broken(format!("The output does not fit its shape: {err}")))?;
            ("text/xml", xml.into_bytes(), false)
        }
        Protocol::Cbor => {
            let body = codec::cbor::encode_response(model, decoded.operation, &as_value()?)
                .map_err(|err| broken(format!("The output does not fit its shape: {err}")))?;
            ("application/cbor", body, true)
        }
        Protocol::RestJson(_) => {
            let encoded = codec::rest_json::encode_response(model, decoded.operation, &as_value()?)
                .map_err(|err| broken(format!("The output does not fit its shape: {err}")))?;
            status = StatusCode::from_u16(encoded.status)
                .map_err(|_| broken(format!("{} is not an HTTP status", encoded.status)))?;
            for (name, value) in encoded.headers {
                let name = header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| broken(format!("{name} is not a header name")))?;
                let value = HeaderValue::from_str(&value)
                    .map_err(|_| broken(format!("the {name} header's value is not sendable")))?;
                extra_headers.push((name, value));
            }
            (encoded.content_type, encoded.body, false)
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in extra_headers {
        headers.append(name, value);
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    if cbor {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    Ok(response)
}
