//! Answers that are event streams (`application/vnd.amazon.eventstream`), for operations whose
//! output carries a botocore `eventstream` member (CloudWatch Logs' StartLiveTail): the AWS
//! event-stream framing (prelude, headers, payload, CRCs) from aws-smithy-eventstream, the
//! messages in the order the service yields them.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue as HttpHeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// One message of an event-stream answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage {
    /// An event: `event_type` names the member of the output's event-stream union it fills
    /// (`sessionUpdate`), `payload` is that member's shape as JSON.
    Event {
        event_type: &'static str,
        payload: Vec<u8>,
    },
    /// A modeled exception of the union (`SessionTimeoutException`); the stream ends after it.
    Exception {
        exception_type: &'static str,
        payload: Vec<u8>,
    },
}

/// What a service yields for an event-stream operation.
pub type EventStream = BoxStream<'static, StreamMessage>;

const JSON: &str = "application/json";

fn header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

/// One message framed for the wire.
pub(crate) fn frame(message: &StreamMessage) -> Bytes {
    let message = match message {
        StreamMessage::Event {
            event_type,
            payload,
        } => Message::new(payload.clone())
            .add_header(header(":message-type", "event"))
            .add_header(header(":event-type", event_type))
            .add_header(header(":content-type", JSON)),
        StreamMessage::Exception {
            exception_type,
            payload,
        } => Message::new(payload.clone())
            .add_header(header(":message-type", "exception"))
            .add_header(header(":exception-type", exception_type))
            .add_header(header(":content-type", JSON)),
    };
    let mut framed = Vec::new();
    write_message_to(&message, &mut framed)
        .expect("a message with string headers and a payload under 16 MiB always frames");
    framed.into()
}

/// The HTTP answer of a JSON-protocol event-stream operation: first the `initial-response`
/// event botocore reads the output's other members from (`output_members`, `{}` when the
/// stream is the only one), then the service's messages, each sent as soon as it is yielded.
pub(crate) fn json_response(
    output_members: Vec<u8>,
    messages: EventStream,
    request_id: &str,
) -> Response {
    let initial = StreamMessage::Event {
        event_type: "initial-response",
        payload: output_members,
    };
    let framed = futures_util::stream::once(async move { initial })
        .chain(messages)
        .map(|message| Ok::<_, std::convert::Infallible>(frame(&message)));
    let mut response = Response::new(Body::from_stream(framed));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HttpHeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(value) = HttpHeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::read_message_from;

    use super::*;

    #[test]
    fn frames_read_back_with_their_headers_and_payload() {
        let framed = frame(&StreamMessage::Event {
            event_type: "sessionUpdate",
            payload: br#"{"sessionResults":[]}"#.to_vec(),
        });
        let mut buffer = &framed[..];
        let message = read_message_from(&mut buffer).unwrap();
        assert!(buffer.is_empty());
        let headers: Vec<(String, String)> = message
            .headers()
            .iter()
            .map(|h| {
                (
                    h.name().as_str().to_string(),
                    h.value().as_string().unwrap().as_str().to_string(),
                )
            })
            .collect();
        assert_eq!(
            headers,
            [
                (":message-type".to_string(), "event".to_string()),
                (":event-type".to_string(), "sessionUpdate".to_string()),
                (":content-type".to_string(), JSON.to_string()),
            ]
        );
        assert_eq!(&message.payload()[..], br#"{"sessionResults":[]}"#);
    }
}
