//! Signed calls to the AWS APIs the control plane serves, as an AWS client makes them: JSON 1.1
//! with `X-Amz-Target`, SigV4-signed with the agent's credentials for the API's service in the
//! call's region, sent to the control plane (which serves every AWS API on one endpoint). The
//! one place the agent signs a call; the awslogs driver and the task protection endpoint use it.

use std::time::Duration;

use berth_protocol::sigv4::{self, Credentials};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one call may take before it counts as failed (and is retried by the caller).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The control plane could not be reached, or did not answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The service answered with an error.
    #[error("{code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// The server address is not one this client can use.
    #[error("{0}")]
    BadServer(String),
    /// A success whose body is not the operation's output.
    #[error("unreadable response: {0}")]
    Unreadable(String),
}

impl CallError {
    /// Whether trying again later may succeed: the server was away, busy or failing, not
    /// refusing the request itself.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Unreachable(_) => true,
            CallError::Service { status, code, .. } => {
                *status >= 500
                    || code == "ThrottlingException"
                    || code == "ServiceUnavailableException"
            }
            CallError::BadServer(_) | CallError::Unreadable(_) => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A client for the control plane at one `http://HOST:PORT`.
#[derive(Clone)]
pub struct SignedClient {
    http: Client<HttpConnector, Full<Bytes>>,
    authority: String,
    credentials: Credentials,
}

/// One API's calls: its signing name and its `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub service: &'static str,
    pub target_prefix: &'static str,
}

impl SignedClient {
    pub fn new(server: &str, credentials: Credentials) -> Result<SignedClient, CallError> {
        let authority = server
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| {
                CallError::BadServer(format!(
                    "the agent calls AWS APIs over http:// only, not {server}"
                ))
            })?
            .to_string();
        Ok(SignedClient {
            http: Client::builder(TokioExecutor::new()).build_http(),
            authority,
            credentials,
        })
    }

    /// Calls `operation` of `api` in `region` with `request`; a 200 answer is decoded as the
    /// operation's output (an empty body as its default), any other as the service's error.
    pub async fn call<Request: Serialize, Response: DeserializeOwned + Default>(
        &self,
        api: Api,
        region: &str,
        operation: &str,
        request: &Request,
    ) -> Result<Response, CallError> {
        let body = serde_json::to_vec(request).expect("wire shapes always encode");
        let target = format!("{}.{operation}", api.target_prefix);
        let content_type = "application/x-amz-json-1.1";
        let signed = sigv4::sign(
            &self.credentials,
            &sigv4::Request {
                method: "POST",
                host: &self.authority,
                path: "/",
                headers: &[("content-type", content_type), ("x-amz-target", &target)],
                body: &body,
            },
            (region, api.service),
            sigv4::now(),
        );
        let mut builder = hyper::Request::post(format!("http://{}/", self.authority))
            .header("host", &self.authority)
            .header("content-type", content_type)
            .header("x-amz-target", &target);
        for (name, value) in &signed {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| CallError::BadServer(err.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|err| CallError::Unreachable(format!("{err:?}")))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|err| CallError::Unreachable(err.to_string()))?
                .to_bytes();
            Ok::<_, CallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| CallError::Unreachable(format!("no answer within {CALL_TIMEOUT:?}")))??;
        if status == 200 {
            if bytes.is_empty() {
                return Ok(Response::default());
            }
            return serde_json::from_slice(&bytes)
                .map_err(|err| CallError::Unreadable(err.to_string()));
        }
        Err(service_error(status, &bytes))
    }
}

/// A JSON 1.1 error body: `__type` (possibly `namespace#Code`) and `message`.
fn service_error(status: u16, body: &[u8]) -> CallError {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed
        .get("__type")
        .and_then(|t| t.as_str())
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed
        .get("message")
        .or_else(|| parsed.get("Message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    CallError::Service {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_read_as_aws_clients_read_them() {
        let error = service_error(
            400,
            br#"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log group does not exist."}"#,
        );
        assert_eq!(
            error.to_string(),
            "ResourceNotFoundException: The specified log group does not exist."
        );
        assert!(!error.is_transient());
        assert!(service_error(500, b"oops").is_transient());
        assert_eq!(service_error(502, b"oops").code(), Some("HTTP 502"));
        assert!(
            service_error(400, br#"{"__type":"ThrottlingException","message":"slow"}"#)
                .is_transient()
        );
    }

    #[test]
    fn only_plain_http_servers_are_used() {
        let credentials = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
        };
        assert!(SignedClient::new("http://127.0.0.1:9600/", credentials.clone()).is_ok());
        assert!(matches!(
            SignedClient::new("https://berth.example", credentials),
            Err(CallError::BadServer(_))
        ));
    }
}
