//! Protocol codecs: translate AWS wire formats to and from the one internal representation, the
//! JSON form of the generated serde types (member names as keys, timestamps as epoch seconds,
//! blobs as base64). Everything is driven by a service's static [`ServiceModel`]; nothing here
//! does I/O.
//!
//! - [`json`]: AWS JSON 1.0/1.1 request bodies checked against the input shape's JSON types.
//! - [`query`]: AWS Query and EC2 requests (form pairs → JSON), XML responses and error bodies.
//! - [`cbor`]: Smithy RPC v2 CBOR requests, responses and error bodies.
//! - [`rest_json`]: REST-JSON routing (method and path to operation), requests spread over
//!   labels, query, headers and body, responses and error bodies.
//! - [`time`]: timestamps between the JSON form's epoch seconds and ISO 8601 or HTTP dates.
//!
//! AWS JSON 1.0/1.1 needs no translation: its bodies already are the JSON form, and are only
//! checked ([`json::check`]).

pub mod cbor;
pub mod json;
pub mod query;
pub mod rest_json;
pub mod time;
mod xml;

use std::fmt;

use crate::model::{Protocol, ServiceModel};

/// Why a request body could not be turned into the JSON form of its input shape. Every variant
/// is the client's fault (HTTP 400); [`DecodeError::code`] names the AWS error code per protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A parameter that is not a member of the input shape (EC2 only: AWS Query services ignore
    /// parameters they do not model, so the query decoder skips them).
    UnknownParameter { name: String },
    /// A value that does not parse as its member's type (`DryRun=maybe`, `MaxResults=ten`).
    InvalidValue {
        name: String,
        value: String,
        expected: &'static str,
    },
    /// A body that is not well-formed for the protocol (truncated or garbage CBOR, a CBOR item of
    /// the wrong type for its member).
    Malformed { message: String },
}

impl DecodeError {
    /// The AWS error code for this error in `protocol`: EC2 answers `UnknownParameter` and
    /// `InvalidParameterValue`; query services (STS, IAM, …) report bad values as
    /// `ValidationError`; JSON and CBOR services answer `SerializationException`.
    pub fn code(&self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (DecodeError::UnknownParameter { .. }, Protocol::Ec2) => "UnknownParameter",
            (_, Protocol::Ec2) => "InvalidParameterValue",
            (_, Protocol::Query) => "ValidationError",
            _ => "SerializationException",
        }
    }

    /// The message AWS gives with [`DecodeError::code`].
    pub fn message(&self) -> String {
        match self {
            DecodeError::UnknownParameter { name } => {
                format!("The parameter {name} is not recognized")
            }
            DecodeError::InvalidValue {
                name,
                value,
                expected,
            } => {
                format!("Value ({value}) for parameter {name} is invalid. Expected: '{expected}'.")
            }
            DecodeError::Malformed { message } => message.clone(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for DecodeError {}

/// A handler's output JSON does not fit its output shape: a bug on our side (HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Where in the output (`Credentials.Expiration`) and what is wrong.
    pub message: String,
}

impl EncodeError {
    fn at(path: &str, what: impl fmt::Display) -> EncodeError {
        EncodeError {
            message: format!("{path}: {what}"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

/// Splits an `application/x-www-form-urlencoded` body or a URL query string into percent-decoded
/// `(name, value)` pairs (`+` is a space; invalid UTF-8 becomes U+FFFD), in order.
pub fn parse_form(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `Action` parameter of a query request: the operation's name.
pub fn action(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str())
}

/// The code clients see for the modelled exception `shape` of `model` (query services' codes
/// differ from shape names), whether it is the sender's fault, and its HTTP status. Unmodelled
/// names are their own code, sender fault, 400.
pub fn error_code(model: &ServiceModel, shape: &str) -> (String, bool, u16) {
    match model.error(shape) {
        Some(e) => (e.code.to_string(), e.sender_fault, e.http_status),
        None => (shape.to_string(), true, 400),
    }
}

/// Shortest text that reads back as the same f64 (Rust's `Display`), as the XML parsers expect.
fn format_f64(value: f64) -> String {
    format!("{value}")
}
