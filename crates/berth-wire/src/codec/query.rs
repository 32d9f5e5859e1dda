//! AWS Query and its EC2 dialect: request parameters → JSON form of the input shape, JSON form of
//! the output shape → XML response, and both dialects' error bodies.
//!
//! Request keys follow botocore's serializers. Query: structure members by `locationName` (else
//! member name), lists as `Member.member.N` (`Member.N` when flattened; the `member` level is
//! the list member's `locationName` when it has one), maps as `Member.entry.N.key/value`, an
//! empty list as `Member=`. EC2: members by `queryName`, else capitalized `locationName`, else
//! member name, and lists always as `Member.N`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{DecodeError, EncodeError, format_f64, time, xml};
use crate::model::{
    Member, OperationModel, Protocol, ServiceModel, ShapeId, ShapeKind, TimestampFormat,
};

/// Parameters that ride along with every query request but are not input members: the action,
/// the API version, and SigV4 presigned-URL parameters.
fn is_envelope(name: &str) -> bool {
    name == "Action" || name == "Version" || name.starts_with("X-Amz-")
}

/// One request parameter, its key split at dots; `rest` is what the current level has not
/// consumed yet.
#[derive(Clone, Copy)]
struct Param<'a> {
    name: &'a str,
    rest: &'a [&'a str],
    value: &'a str,
}

struct Decoder<'m> {
    model: &'m ServiceModel,
    ec2: bool,
}

/// Decodes the (percent-decoded, see [`super::parse_form`]) parameters of a query or EC2 request
/// for `op` into the JSON form of its input shape. The dialect is `model.protocol`. `Action`,
/// `Version` and `X-Amz-*` parameters are skipped. Unknown parameters are an error for EC2
/// ([`DecodeError::UnknownParameter`]) and ignored for query services, as they do.
pub fn decode(
    model: &ServiceModel,
    op: &OperationModel,
    params: &[(String, String)],
) -> Result<Value, DecodeError> {
    let decoder = Decoder {
        model,
        ec2: model.protocol == Protocol::Ec2,
    };
    let split: Vec<(&str, Vec<&str>, &str)> = params
        .iter()
        .filter(|(k, _)| !is_envelope(k))
        .map(|(k, v)| (k.as_str(), k.split('.').collect(), v.as_str()))
        .collect();
    let entries: Vec<Param<'_>> = split
        .iter()
        .map(|(name, parts, value)| Param {
            name,
            rest: parts,
            value,
        })
        .collect();
    let Some(input) = op.input else {
        return match (decoder.ec2, entries.first()) {
            (true, Some(first)) => Err(unknown(first)),
            _ => Ok(Value::Object(Map::new())),
        };
    };
    Ok(decoder
        .structure(input, &entries)?
        .unwrap_or_else(|| Value::Object(Map::new())))
}

fn unknown(param: &Param<'_>) -> DecodeError {
    DecodeError::UnknownParameter {
        name: param.name.to_string(),
    }
}

impl Decoder<'_> {
    /// Reports `param` when the dialect rejects unknown parameters; query ignores it.
    fn reject(&self, param: &Param<'_>) -> Result<(), DecodeError> {
        if self.ec2 {
            Err(unknown(param))
        } else {
            Ok(())
        }
    }

    /// The key a structure member is sent under.
    fn member_key(&self, member: &Member) -> String {
        if self.ec2 {
            if let Some(q) = member.query_name {
                return q.to_string();
            }
            if let Some(loc) = member.location_name {
                let mut chars = loc.chars();
                return chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                });
            }
            return member.name.to_string();
        }
        // A flattened list whose member has a locationName is sent under that name.
        if member.flattened
            && let ShapeKind::List(item) = &self.model.shape(member.shape).kind
            && let Some(loc) = item.location_name
        {
            return loc.to_string();
        }
        member.xml_name().to_string()
    }

    /// `None` when no parameter was meant for this value.
    fn value(&self, member: &Member, entries: &[Param<'_>]) -> Result<Option<Value>, DecodeError> {
        let shape = self.model.shape(member.shape);
        match &shape.kind {
            ShapeKind::Structure { .. } => self.structure(member.shape, entries),
            ShapeKind::List(item) => self.list(member, item, entries),
            ShapeKind::Map { key, value } => self.map(member, key, value, entries),
            _ => {
                let mut found = None;
                for param in entries {
                    if param.rest.is_empty() {
                        found = Some(param);
                    } else {
                        self.reject(param)?;
                    }
                }
                found.map(|p| self.scalar(member, p)).transpose()
            }
        }
    }

    fn structure(&self, id: ShapeId, entries: &[Param<'_>]) -> Result<Option<Value>, DecodeError> {
        let ShapeKind::Structure { members, .. } = &self.model.shape(id).kind else {
            return Ok(None);
        };
        let keys: Vec<String> = members.iter().map(|m| self.member_key(m)).collect();
        let mut groups: Vec<Vec<Param<'_>>> = vec![Vec::new(); members.len()];
        for param in entries {
            let index = param
                .rest
                .first()
                .and_then(|first| keys.iter().position(|k| k == first));
            match index {
                Some(i) => groups[i].push(Param {
                    rest: &param.rest[1..],
                    ..*param
                }),
                None => self.reject(param)?,
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let mut object = Map::new();
        for (member, group) in members.iter().zip(&groups) {
            if group.is_empty() {
                continue;
            }
            if let Some(value) = self.value(member, group)? {
                object.insert(member.name.to_string(), value);
            }
        }
        Ok(Some(Value::Object(object)))
    }

    /// Groups `entries` by their leading 1-based index, in index order.
    fn indexed<'p>(
        &self,
        entries: impl Iterator<Item = Param<'p>>,
    ) -> Result<BTreeMap<u32, Vec<Param<'p>>>, DecodeError> {
        let mut items: BTreeMap<u32, Vec<Param<'p>>> = BTreeMap::new();
        for param in entries {
            match param.rest.first().and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if n >= 1 && param.rest[0].bytes().all(|b| b.is_ascii_digit()) => {
                    items.entry(n).or_default().push(Param {
                        rest: &param.rest[1..],
                        ..param
                    });
                }
                _ => self.reject(&param)?,
            }
        }
        Ok(items)
    }

    fn list(
        &self,
        member: &Member,
        item: &Member,
        entries: &[Param<'_>],
    ) -> Result<Option<Value>, DecodeError> {
        let mut empty = false;
        let mut nested = Vec::new();
        for param in entries {
            if param.rest.is_empty() && param.value.is_empty() && !self.ec2 {
                // `Member=`: botocore's way of sending an empty list.
                empty = true;
            } else if self.ec2 || member.flattened {
                nested.push(*param);
            } else if param.rest.first() == Some(&item.location_name.unwrap_or("member")) {
                nested.push(Param {
                    rest: &param.rest[1..],
                    ..*param
                });
            } else {
                self.reject(param)?;
            }
        }
        let items = self.indexed(nested.into_iter())?;
        if items.is_empty() {
            return Ok(empty.then(|| Value::Array(Vec::new())));
        }
        let mut list = Vec::with_capacity(items.len());
        for group in items.values() {
            if let Some(value) = self.value(item, group)? {
                list.push(value);
            }
        }
        Ok(Some(Value::Array(list)))
    }

    fn map(
        &self,
        member: &Member,
        key: &Member,
        value: &Member,
        entries: &[Param<'_>],
    ) -> Result<Option<Value>, DecodeError> {
        let mut nested = Vec::new();
        for param in entries {
            if member.flattened {
                nested.push(*param);
            } else if param.rest.first() == Some(&"entry") {
                nested.push(Param {
                    rest: &param.rest[1..],
                    ..*param
                });
            } else {
                self.reject(param)?;
            }
        }
        let (key_name, value_name) = (key.xml_name_or("key"), value.xml_name_or("value"));
        let mut object = Map::new();
        for group in self.indexed(nested.into_iter())?.values() {
            let mut key_text = None;
            let mut values = Vec::new();
            for param in group {
                let rest = Param {
                    rest: param.rest.get(1..).unwrap_or_default(),
                    ..*param
                };
                match param.rest.first() {
                    Some(k) if *k == key_name && rest.rest.is_empty() => {
                        key_text = Some(param.value)
                    }
                    Some(v) if *v == value_name => values.push(rest),
                    _ => self.reject(param)?,
                }
            }
            if let (Some(k), Some(v)) = (key_text, self.value(value, &values)?) {
                object.insert(k.to_string(), v);
            }
        }
        Ok(Some(Value::Object(object)))
    }

    fn scalar(&self, member: &Member, param: &Param<'_>) -> Result<Value, DecodeError> {
        let text = param.value;
        let invalid = |expected: &'static str| DecodeError::InvalidValue {
            name: param.name.to_string(),
            value: text.to_string(),
            expected,
        };
        Ok(match self.model.shape(member.shape).kind {
            ShapeKind::String => Value::String(text.to_string()),
            ShapeKind::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(invalid("Boolean")),
            },
            ShapeKind::Integer => {
                Value::from(text.trim().parse::<i32>().map_err(|_| invalid("Integer"))?)
            }
            ShapeKind::Long => {
                Value::from(text.trim().parse::<i64>().map_err(|_| invalid("Long"))?)
            }
            ShapeKind::Float | ShapeKind::Double => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid("Double"))?,
            ShapeKind::Timestamp => time::parse(text.trim())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid("DateTime"))?,
            ShapeKind::Blob => {
                // The JSON form of a blob is its base64 text, which is what query requests carry.
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| invalid("Blob"))?;
                Value::String(text.to_string())
            }
            ShapeKind::Document
            | ShapeKind::List(_)
            | ShapeKind::Map { .. }
            | ShapeKind::Structure { .. } => return Err(unknown(param)),
        })
    }
}

impl Member {
    fn xml_name_or(&self, default: &'static str) -> &'static str {
        self.location_name.unwrap_or(default)
    }
}

/// Encodes the JSON form of `op`'s output as a query response:
/// `<OpResponse xmlns=NS><OpResult>…</OpResult><ResponseMetadata><RequestId>…` (no result
/// element when the operation has no output), or for EC2
/// `<OpResponse xmlns=NS><requestId>…</requestId>…</OpResponse>`.
pub fn encode_response(
    model: &ServiceModel,
    op: &OperationModel,
    output: &Value,
    request_id: &str,
) -> Result<String, EncodeError> {
    let ec2 = model.protocol == Protocol::Ec2;
    let root = format!("{}Response", op.name);
    let mut out = String::with_capacity(512);
    out.push('<');
    out.push_str(&root);
    out.push_str(" xmlns=\"");
    xml::escape_into(&mut out, &namespace(model));
    out.push_str("\">");
    if ec2 {
        xml::text_element(&mut out, "requestId", request_id);
    }
    if let Some(id) = op.output {
        let encoder = Encoder { model };
        let wrapper = op.result_wrapper.filter(|_| !ec2);
        if let Some(w) = wrapper {
            xml::open(&mut out, w);
        }
        encoder.members(&mut out, id, output, "")?;
        if let Some(w) = wrapper {
            xml::close(&mut out, w);
        }
    }
    if !ec2 {
        out.push_str("<ResponseMetadata>");
        xml::text_element(&mut out, "RequestId", request_id);
        out.push_str("</ResponseMetadata>");
    }
    xml::close(&mut out, &root);
    Ok(out)
}

/// The response namespace; EC2's model omits the trailing slash EC2 itself sends.
fn namespace(model: &ServiceModel) -> String {
    let ns = model.xml_namespace.unwrap_or_default();
    if model.protocol == Protocol::Ec2 && !ns.ends_with('/') {
        format!("{ns}/")
    } else {
        ns.to_string()
    }
}

/// A query error body: `<ErrorResponse xmlns=NS><Error><Type>Sender|Receiver</Type><Code>…`.
/// `code` is the wire code (see [`super::error_code`] for modelled exceptions). Without a model
/// (a request for a service the server does not know) there is no namespace to name, and the
/// element has none; clients read the error the same way.
pub fn error_body(
    model: Option<&ServiceModel>,
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> String {
    let mut out = String::from("<ErrorResponse");
    if let Some(model) = model {
        out.push_str(" xmlns=\"");
        xml::escape_into(&mut out, &namespace(model));
        out.push('"');
    }
    out.push_str("><Error>");
    xml::text_element(
        &mut out,
        "Type",
        if sender_fault { "Sender" } else { "Receiver" },
    );
    xml::text_element(&mut out, "Code", code);
    xml::text_element(&mut out, "Message", message);
    out.push_str("</Error>");
    xml::text_element(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>");
    out
}

/// An EC2 error body: `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error>
/// </Errors><RequestID>…</RequestID></Response>`.
pub fn ec2_error_body(code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::from("<Response><Errors><Error>");
    xml::text_element(&mut out, "Code", code);
    xml::text_element(&mut out, "Message", message);
    out.push_str("</Error></Errors>");
    xml::text_element(&mut out, "RequestID", request_id);
    out.push_str("</Response>");
    out
}

struct Encoder<'m> {
    model: &'m ServiceModel,
}

impl Encoder<'_> {
    /// Writes the members of structure `id` found in `value` (in model order).
    fn members(
        &self,
        out: &mut String,
        id: ShapeId,
        value: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        let ShapeKind::Structure { members, .. } = &self.model.shape(id).kind else {
            return Err(EncodeError::at(path, "not a structure shape"));
        };
        let object = match value {
            Value::Object(object) => object,
            Value::Null => return Ok(()),
            _ => return Err(EncodeError::at(path, "expected an object")),
        };
        for member in *members {
            let Some(v) = object.get(member.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let path = if path.is_empty() {
                member.name.to_string()
            } else {
                format!("{path}.{}", member.name)
            };
            self.member(out, member, member.xml_name(), v, &path)?;
        }
        Ok(())
    }

    /// Writes `value` as element(s) named `name`.
    fn member(
        &self,
        out: &mut String,
        member: &Member,
        name: &str,
        value: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        match &self.model.shape(member.shape).kind {
            ShapeKind::List(item) => {
                let Value::Array(items) = value else {
                    return Err(EncodeError::at(path, "expected an array"));
                };
                if member.flattened {
                    let item_name = item.location_name.unwrap_or(name);
                    for v in items {
                        self.member(out, item, item_name, v, path)?;
                    }
                } else {
                    xml::open(out, name);
                    let item_name = item.location_name.unwrap_or("member");
                    for v in items {
                        self.member(out, item, item_name, v, path)?;
                    }
                    xml::close(out, name);
                }
            }
            ShapeKind::Map { key, value: val } => {
                let Value::Object(entries) = value else {
                    return Err(EncodeError::at(path, "expected an object"));
                };
                if !member.flattened {
                    xml::open(out, name);
                }
                for (k, v) in entries {
                    xml::open(out, if member.flattened { name } else { "entry" });
                    xml::text_element(out, key.xml_name_or("key"), k);
                    self.member(out, val, val.xml_name_or("value"), v, path)?;
                    xml::close(out, if member.flattened { name } else { "entry" });
                }
                if !member.flattened {
                    xml::close(out, name);
                }
            }
            ShapeKind::Structure { .. } => {
                xml::open(out, name);
                self.members(out, member.shape, value, path)?;
                xml::close(out, name);
            }
            _ => {
                let text = self.scalar_text(member, value, path)?;
                xml::text_element(out, name, &text);
            }
        }
        Ok(())
    }

    fn scalar_text(
        &self,
        member: &Member,
        value: &Value,
        path: &str,
    ) -> Result<String, EncodeError> {
        let kind = &self.model.shape(member.shape).kind;
        let mismatch = || EncodeError::at(path, format_args!("{value} does not fit {kind:?}"));
        Ok(match (kind, value) {
            (ShapeKind::String | ShapeKind::Blob, Value::String(s)) => s.clone(),
            (ShapeKind::Boolean, Value::Bool(b)) => b.to_string(),
            (ShapeKind::Integer | ShapeKind::Long, Value::Number(n))
                if n.is_i64() || n.is_u64() =>
            {
                n.to_string()
            }
            (ShapeKind::Float | ShapeKind::Double, Value::Number(n)) => {
                format_f64(n.as_f64().ok_or_else(mismatch)?)
            }
            (ShapeKind::Timestamp, Value::Number(n)) => time::format(
                n.as_f64().ok_or_else(mismatch)?,
                member.timestamp_format.unwrap_or(TimestampFormat::Iso8601),
            ),
            _ => return Err(mismatch()),
        })
    }
}
