//! AWS JSON 1.0/1.1 request bodies: already the JSON form, but checked against the input shape
//! before a service decodes them. The generated serde types alone would take a JSON array for a
//! structure (serde fills a struct's fields from a sequence, in order), so `[]` or
//! `["my-cluster"]` would pass as a request; AWS answers SerializationException for a value of
//! the wrong JSON type anywhere. Unknown members are ignored, as AWS's JSON services ignore them;
//! numbers' ranges and the rest are left to the typed decode that follows.

use serde_json::Value;

use super::DecodeError;
use crate::model::{OperationModel, ServiceModel, ShapeId, ShapeKind};

/// Checks that `body` (non-empty) is one JSON object whose members have the JSON types of
/// `op`'s input shape, nested members included.
pub fn check(model: &ServiceModel, op: &OperationModel, body: &[u8]) -> Result<(), DecodeError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| DecodeError::Malformed {
        message: format!("Could not parse the request body: {err}"),
    })?;
    if !value.is_object() {
        return Err(DecodeError::Malformed {
            message: format!(
                "The request body must be a JSON object, not {}.",
                json_type(&value)
            ),
        });
    }
    match op.input {
        Some(id) => check_value(model, id, &value, ""),
        None => Ok(()),
    }
}

fn check_value(
    model: &ServiceModel,
    id: ShapeId,
    value: &Value,
    path: &str,
) -> Result<(), DecodeError> {
    let kind = &model.shape(id).kind;
    let fits = match (kind, value) {
        // Null is an absent member; the typed decode refuses it where it must.
        (_, Value::Null) | (ShapeKind::Document, _) => true,
        (ShapeKind::Structure { members, .. }, Value::Object(object)) => {
            for (name, item) in object {
                if let Some(member) = members.iter().find(|m| m.name == name) {
                    check_value(model, member.shape, item, &join(path, name))?;
                }
            }
            true
        }
        (ShapeKind::List(member), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                check_value(model, member.shape, item, &format!("{path}[{index}]"))?;
            }
            true
        }
        (ShapeKind::Map { value: member, .. }, Value::Object(object)) => {
            for (key, item) in object {
                check_value(model, member.shape, item, &join(path, key))?;
            }
            true
        }
        (ShapeKind::String | ShapeKind::Blob, Value::String(_)) => true,
        (ShapeKind::Boolean, Value::Bool(_)) => true,
        (
            ShapeKind::Integer | ShapeKind::Long | ShapeKind::Float | ShapeKind::Double,
            Value::Number(_),
        ) => true,
        (ShapeKind::Timestamp, Value::Number(_) | Value::String(_)) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(DecodeError::Malformed {
            message: format!(
                "'{path}' is {}, expected {}.",
                json_type(value),
                expected(kind)
            ),
        })
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(kind: &ShapeKind) -> &'static str {
    match kind {
        ShapeKind::String => "a string",
        ShapeKind::Blob => "a base64 string",
        ShapeKind::Boolean => "a boolean",
        ShapeKind::Integer | ShapeKind::Long => "an integer",
        ShapeKind::Float | ShapeKind::Double => "a number",
        ShapeKind::Timestamp => "a timestamp",
        ShapeKind::Document => "a document",
        ShapeKind::List(_) => "an array",
        ShapeKind::Map { .. } | ShapeKind::Structure { .. } => "an object",
    }
}
