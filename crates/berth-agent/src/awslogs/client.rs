//! The CloudWatch Logs calls the driver makes, as an AWS client makes them: JSON 1.1 with
//! `X-Amz-Target: Logs_20140328.OPERATION`, SigV4-signed for service `logs` in the group's
//! region, sent to the control plane (which serves every AWS API on one endpoint).

use std::time::Duration;

use berth_logs_wire as wire;
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
    /// CloudWatch Logs answered with an error.
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

/// A CloudWatch Logs client for the control plane at one `http://HOST:PORT`.
#[derive(Clone)]
pub struct LogsClient {
    http: Client<HttpConnector, Full<Bytes>>,
    authority: String,
    credentials: Credentials,
}

impl LogsClient {
    pub fn new(server: &str, credentials: Credentials) -> Result<LogsClient, CallError> {
        let authority = server
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| {
                CallError::BadServer(format!(
                    "the agent ships logs over http:// only, not to {server}"
                ))
            })?
            .to_string();
        Ok(LogsClient {
            http: Client::builder(TokioExecutor::new()).build_http(),
            authority,
            credentials,
        })
    }

    async fn call<Request: Serialize, Response: DeserializeOwned + Default>(
        &self,
        region: &str,
        operation: &str,
        request: &Request,
    ) -> Result<Response, CallError> {
        let body = serde_json::to_vec(request).expect("wire shapes always encode");
        let target = format!("Logs_20140328.{operation}");
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
            (region, "logs"),
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

    pub async fn create_log_group(&self, region: &str, group: &str) -> Result<(), CallError> {
        let request = wire::CreateLogGroupRequest {
            log_group_name: Some(group.to_string()),
            ..Default::default()
        };
        self.call::<_, serde_json::Value>(region, "CreateLogGroup", &request)
            .await
            .map(drop)
    }

    pub async fn create_log_stream(
        &self,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<(), CallError> {
        let request = wire::CreateLogStreamRequest {
            log_group_name: Some(group.to_string()),
            log_stream_name: Some(stream.to_string()),
        };
        self.call::<_, serde_json::Value>(region, "CreateLogStream", &request)
            .await
            .map(drop)
    }

    /// Sends one batch (chronological `(timestamp ms, message)` pairs); answers how many
    /// events CloudWatch Logs rejected as too old, expired or too new.
    pub async fn put_log_events(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
    ) -> Result<usize, CallError> {
        // Encoded from the batch as it is: no copy of its messages.
        let request = PutLogEventsBody {
            log_group_name: group,
            log_stream_name: stream,
            log_events: events
                .iter()
                .map(|(timestamp, message)| EventBody {
                    timestamp: *timestamp,
                    message,
                })
                .collect(),
        };
        let response: wire::PutLogEventsResponse =
            self.call(region, "PutLogEvents", &request).await?;
        Ok(response
            .rejected_log_events_info
            .map_or(0, |info| rejected_count(&info, events.len())))
    }

    /// The stream's last event (GetLogEvents from the tail, one event).
    pub async fn last_event(
        &self,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<Option<(i64, String)>, CallError> {
        let request = wire::GetLogEventsRequest {
            log_group_name: Some(group.to_string()),
            log_stream_name: Some(stream.to_string()),
            start_from_head: Some(false),
            limit: Some(1),
            ..Default::default()
        };
        let response: wire::GetLogEventsResponse =
            self.call(region, "GetLogEvents", &request).await?;
        Ok(response.events.unwrap_or_default().pop().map(|event| {
            (
                event.timestamp.unwrap_or_default(),
                event.message.unwrap_or_default(),
            )
        }))
    }
}

/// PutLogEvents' request (`wire::PutLogEventsRequest`'s members the driver sends), borrowing
/// the batch's messages.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PutLogEventsBody<'a> {
    log_group_name: &'a str,
    log_stream_name: &'a str,
    log_events: Vec<EventBody<'a>>,
}

#[derive(Serialize)]
struct EventBody<'a> {
    timestamp: i64,
    message: &'a str,
}

/// How many events `rejectedLogEventsInfo` covers in a batch of `len`.
fn rejected_count(info: &wire::RejectedLogEventsInfo, len: usize) -> usize {
    let prefix = info
        .too_old_log_event_end_index
        .max(info.expired_log_event_end_index)
        .map_or(0, |end| end.max(0) as usize);
    let suffix = info
        .too_new_log_event_start_index
        .map_or(0, |start| len.saturating_sub(start.max(0) as usize));
    (prefix + suffix).min(len)
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
    fn rejected_events_are_counted_from_both_ends() {
        let info = wire::RejectedLogEventsInfo {
            too_old_log_event_end_index: Some(2),
            expired_log_event_end_index: Some(3),
            too_new_log_event_start_index: Some(8),
        };
        assert_eq!(rejected_count(&info, 10), 5);
        assert_eq!(
            rejected_count(&wire::RejectedLogEventsInfo::default(), 10),
            0
        );
    }

    #[test]
    fn the_put_body_reads_as_the_wire_request() {
        let events = [(1, "one".to_string()), (2, "t\"wo".to_string())];
        let body = PutLogEventsBody {
            log_group_name: "g",
            log_stream_name: "s",
            log_events: events
                .iter()
                .map(|(timestamp, message)| EventBody {
                    timestamp: *timestamp,
                    message,
                })
                .collect(),
        };
        let read: wire::PutLogEventsRequest =
            serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(read.log_group_name.as_deref(), Some("g"));
        assert_eq!(read.log_stream_name.as_deref(), Some("s"));
        let read: Vec<(i64, String)> = read
            .log_events
            .unwrap()
            .into_iter()
            .map(|e| (e.timestamp.unwrap(), e.message.unwrap()))
            .collect();
        assert_eq!(read, events);
    }

    #[test]
    fn only_plain_http_servers_are_used() {
        let credentials = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
        };
        assert!(LogsClient::new("http://127.0.0.1:9600/", credentials.clone()).is_ok());
        assert!(matches!(
            LogsClient::new("https://berth.example", credentials),
            Err(CallError::BadServer(_))
        ));
    }
}
