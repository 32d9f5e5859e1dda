//! Smithy RPC v2 CBOR (`POST /service/{Service}/operation/{Op}`, `smithy-protocol: rpc-v2-cbor`):
//! request bodies → JSON form of the input shape, JSON form of the output → CBOR, error bodies.
//! Timestamps travel as tag 1 (epoch seconds), blobs as byte strings, as botocore writes and
//! reads them.

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

use super::{DecodeError, EncodeError};
use crate::model::{OperationModel, ServiceModel, ShapeId, ShapeKind};

const EPOCH_TAG: u64 = 1;

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        message: message.into(),
    }
}

/// Decodes a request body for `op` into the JSON form of its input shape. An empty body is an
/// empty input. Members the shape does not have are ignored, as Smithy servers do; anything
/// that is not one well-formed CBOR item of the right types is [`DecodeError::Malformed`].
pub fn decode(
    model: &ServiceModel,
    op: &OperationModel,
    body: &[u8],
) -> Result<Value, DecodeError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut reader = body;
    let item: Cbor = ciborium::de::from_reader(&mut reader)
        .map_err(|e| malformed(format!("malformed CBOR body: {e}")))?;
    if !reader.is_empty() {
        return Err(malformed("trailing bytes after the CBOR body"));
    }
    match op.input {
        Some(id) => Decoder { model }.value(id, &item, ""),
        None => Ok(Value::Object(Map::new())),
    }
}

struct Decoder<'m> {
    model: &'m ServiceModel,
}

impl Decoder<'_> {
    fn value(&self, id: ShapeId, item: &Cbor, path: &str) -> Result<Value, DecodeError> {
        let kind = &self.model.shape(id).kind;
        let wrong = || malformed(format!("wrong CBOR type for {path}: expected {kind:?}"));
        Ok(match (kind, item) {
            (ShapeKind::Structure { members, .. }, Cbor::Map(entries)) => {
                let mut object = Map::new();
                for (k, v) in entries {
                    let Cbor::Text(name) = k else {
                        return Err(wrong());
                    };
                    let Some(member) = members.iter().find(|m| m.name == name) else {
                        continue;
                    };
                    if v.is_null() {
                        continue;
                    }
                    let inner = format!("{path}.{name}");
                    object.insert(name.clone(), self.value(member.shape, v, &inner)?);
                }
                Value::Object(object)
            }
            (ShapeKind::List(member), Cbor::Array(items)) => Value::Array(
                items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| self.value(member.shape, v, path))
                    .collect::<Result<_, _>>()?,
            ),
            (ShapeKind::Map { value, .. }, Cbor::Map(entries)) => {
                let mut object = Map::new();
                for (k, v) in entries {
                    let Cbor::Text(key) = k else {
                        return Err(wrong());
                    };
                    if !v.is_null() {
                        object.insert(key.clone(), self.value(value.shape, v, path)?);
                    }
                }
                Value::Object(object)
            }
            (ShapeKind::String, Cbor::Text(s)) => Value::String(s.clone()),
            (ShapeKind::Boolean, Cbor::Bool(b)) => Value::Bool(*b),
            (ShapeKind::Integer, Cbor::Integer(i)) => {
                Value::from(i32::try_from(i128::from(*i)).map_err(|_| wrong())?)
            }
            (ShapeKind::Long, Cbor::Integer(i)) => {
                Value::from(i64::try_from(i128::from(*i)).map_err(|_| wrong())?)
            }
            (ShapeKind::Float | ShapeKind::Double, number) => {
                number_of(number).ok_or_else(wrong)?
            }
            (ShapeKind::Timestamp, Cbor::Tag(EPOCH_TAG, inner)) => {
                number_of(inner).ok_or_else(wrong)?
            }
            (ShapeKind::Blob, Cbor::Bytes(bytes)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            (ShapeKind::Document, _) => return Err(wrong()),
            _ => return Err(wrong()),
        })
    }
}

/// A CBOR number as a JSON number (f64); NaN and infinities have no JSON form.
fn number_of(item: &Cbor) -> Option<Value> {
    let n = match item {
        Cbor::Float(f) => *f,
        Cbor::Integer(i) => i128::from(*i) as f64,
        _ => return None,
    };
    Number::from_f64(n).map(Value::Number)
}

/// Encodes the JSON form of `op`'s output as a CBOR body (empty when the operation has none).
pub fn encode_response(
    model: &ServiceModel,
    op: &OperationModel,
    output: &Value,
) -> Result<Vec<u8>, EncodeError> {
    let Some(id) = op.output else {
        return Ok(Vec::new());
    };
    let item = match output {
        Value::Null => Cbor::Map(Vec::new()),
        _ => Encoder { model }.value(id, output, "")?,
    };
    Ok(to_bytes(&item))
}

fn to_bytes(item: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every value built here is representable.
    ciborium::ser::into_writer(item, &mut out).expect("CBOR into a Vec");
    out
}

/// An error body: a map with `__type` (the exception's shape name; clients keep what follows any
/// `#`) and `message`. For a service with `aws_query_compatible`, also send
/// [`query_error_header`] as `x-amzn-query-error`, from which botocore takes the query code.
pub fn error_body(type_name: &str, message: &str) -> Vec<u8> {
    to_bytes(&Cbor::Map(vec![
        (Cbor::Text("__type".into()), Cbor::Text(type_name.into())),
        (Cbor::Text("message".into()), Cbor::Text(message.into())),
    ]))
}

/// The `x-amzn-query-error` header value (`Code;Sender`) for awsQueryCompatible services.
pub fn query_error_header(code: &str, sender_fault: bool) -> String {
    format!(
        "{code};{}",
        if sender_fault { "Sender" } else { "Receiver" }
    )
}

struct Encoder<'m> {
    model: &'m ServiceModel,
}

impl Encoder<'_> {
    fn value(&self, id: ShapeId, value: &Value, path: &str) -> Result<Cbor, EncodeError> {
        let kind = &self.model.shape(id).kind;
        let mismatch = || EncodeError::at(path, format_args!("{value} does not fit {kind:?}"));
        Ok(match (kind, value) {
            (ShapeKind::Structure { members, .. }, Value::Object(object)) => {
                let mut entries = Vec::new();
                for member in *members {
                    if let Some(v) = object.get(member.name).filter(|v| !v.is_null()) {
                        let inner = format!("{path}.{}", member.name);
                        entries.push((
                            Cbor::Text(member.name.into()),
                            self.value(member.shape, v, &inner)?,
                        ));
                    }
                }
                Cbor::Map(entries)
            }
            (ShapeKind::List(member), Value::Array(items)) => Cbor::Array(
                items
                    .iter()
                    .map(|v| self.value(member.shape, v, path))
                    .collect::<Result<_, _>>()?,
            ),
            (ShapeKind::Map { value: val, .. }, Value::Object(object)) => Cbor::Map(
                object
                    .iter()
                    .map(|(k, v)| Ok((Cbor::Text(k.clone()), self.value(val.shape, v, path)?)))
                    .collect::<Result<_, EncodeError>>()?,
            ),
            (ShapeKind::String, Value::String(s)) => Cbor::Text(s.clone()),
            (ShapeKind::Boolean, Value::Bool(b)) => Cbor::Bool(*b),
            (ShapeKind::Integer | ShapeKind::Long, Value::Number(n)) => {
                Cbor::Integer(n.as_i64().ok_or_else(mismatch)?.into())
            }
            (ShapeKind::Float | ShapeKind::Double, Value::Number(n)) => {
                Cbor::Float(n.as_f64().ok_or_else(mismatch)?)
            }
            (ShapeKind::Timestamp, Value::Number(n)) => Cbor::Tag(
                EPOCH_TAG,
                Box::new(Cbor::Float(n.as_f64().ok_or_else(mismatch)?)),
            ),
            (ShapeKind::Blob, Value::String(s)) => Cbor::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| EncodeError::at(path, format_args!("blob is not base64: {e}")))?,
            ),
            _ => return Err(mismatch()),
        })
    }
}
