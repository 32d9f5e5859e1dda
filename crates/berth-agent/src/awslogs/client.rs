//! The CloudWatch Logs calls the driver makes, as an AWS client makes them: JSON 1.1 with
//! `X-Amz-Target: Logs_20140328.OPERATION`, SigV4-signed for service `logs` in the group's
//! region, sent to the control plane (which serves every AWS API on one endpoint).

use berth_logs_wire as wire;
use berth_protocol::sigv4::Credentials;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::aws_client::CallError;
use crate::aws_client::{Api, SignedClient};

/// CloudWatch Logs' signing name and target prefix.
const LOGS: Api = Api {
    service: "logs",
    target_prefix: "Logs_20140328",
};

/// A CloudWatch Logs client for the control plane at one `http://HOST:PORT`.
#[derive(Clone)]
pub struct LogsClient {
    client: SignedClient,
}

impl LogsClient {
    pub fn new(server: &str, credentials: Credentials) -> Result<LogsClient, CallError> {
        Ok(LogsClient {
            client: SignedClient::new(server, credentials)?,
        })
    }

    async fn call<Request: Serialize, Response: DeserializeOwned + Default>(
        &self,
        region: &str,
        operation: &str,
        request: &Request,
    ) -> Result<Response, CallError> {
        self.client.call(LOGS, region, operation, request).await
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
        let request = PutLogEventsBody::new(group, stream, events);
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
pub(crate) struct PutLogEventsBody<'a> {
    log_group_name: &'a str,
    log_stream_name: &'a str,
    log_events: Vec<EventBody<'a>>,
}

impl<'a> PutLogEventsBody<'a> {
    /// Encoded from the batch as it is: no copy of its messages.
    pub(crate) fn new(
        group: &'a str,
        stream: &'a str,
        events: &'a [(i64, String)],
    ) -> PutLogEventsBody<'a> {
        PutLogEventsBody {
            log_group_name: group,
            log_stream_name: stream,
            log_events: events
                .iter()
                .map(|(timestamp, message)| EventBody {
                    timestamp: *timestamp,
                    message,
                })
                .collect(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let body = PutLogEventsBody::new("g", "s", &events);
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
}
