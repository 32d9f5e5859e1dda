//! AWS REST-JSON (`restJson1`: EventBridge Scheduler, Lambda, …): an operation is named by its
//! HTTP method and path (the model's `requestUri` template), and its input is spread over path
//! labels, query parameters, headers and a JSON body (or one `payload` member that is the whole
//! body). [`route`] finds the operation, [`decode`] gathers the input into its JSON form,
//! [`encode_response`] spreads an output back over status, headers and body, and [`error_body`]
//! writes errors as botocore's `RestJSONParser` reads them.
//!
//! Defaults follow botocore's serializers: timestamps are ISO 8601 in labels and query strings,
//! `http-date` in headers and epoch seconds in the body unless the member says otherwise; list
//! headers are comma-separated with strings quoted when they hold a comma or a quote;
//! `jsonvalue` headers are base64 of the JSON text.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::{DecodeError, EncodeError, format_f64, time};
use crate::model::{Location, Member, OperationModel, ServiceModel, ShapeKind, TimestampFormat};

/// Why no operation answers a method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No operation's template matches the path.
    NotFound,
    /// Some template matches the path, but none with this method.
    MethodNotAllowed,
}

/// One segment of a `requestUri` template's path.
#[derive(Debug, Clone, Copy)]
enum Segment<'t> {
    Literal(&'t str),
    /// `{Name}`: exactly one non-empty path segment.
    Label(&'t str),
    /// `{Key+}`: one or more segments, slashes included.
    Greedy(&'t str),
}

fn segments(path: &str) -> Vec<&str> {
    match path.strip_prefix('/').unwrap_or(path) {
        "" => Vec::new(),
        rest => rest.split('/').collect(),
    }
}

/// A template's path segments and its literal query parts (`?tagging`, `?x-id=GetObject`).
fn template(uri: &str) -> (Vec<Segment<'_>>, Vec<(&str, Option<&str>)>) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let parts = segments(path)
        .into_iter()
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(label) => match label.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy),
                    None => Segment::Label(label),
                },
                None => Segment::Literal(s),
            },
        )
        .collect();
    let literals = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| match q.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (q, None),
        })
        .collect();
    (parts, literals)
}

/// Matches raw (still percent-encoded) path segments against a template; on success, the
/// percent-decoded label values.
fn match_path<'t>(template: &[Segment<'t>], path: &[&str]) -> Option<Vec<(&'t str, String)>> {
    let (first, rest) = match template.split_first() {
        None => return path.is_empty().then(Vec::new),
        Some(split) => split,
    };
    match *first {
        Segment::Literal(literal) => {
            let (segment, tail) = path.split_first()?;
            (percent_decode(segment) == literal)
                .then(|| match_path(rest, tail))
                .flatten()
        }
        Segment::Label(label) => {
            let (segment, tail) = path.split_first()?;
            if segment.is_empty() {
                return None;
            }
            let mut labels = match_path(rest, tail)?;
            labels.insert(0, (label, percent_decode(segment)));
            Some(labels)
        }
        Segment::Greedy(label) => (1..=path.len()).rev().find_map(|taken| {
            let value = path[..taken].join("/");
            if value.is_empty() {
                return None;
            }
            let mut labels = match_path(rest, &path[taken..])?;
            labels.insert(0, (label, percent_decode(&value)));
            Some(labels)
        }),
    }
}

/// `%XX` escapes to bytes (a `%` that starts no escape stays as it is); invalid UTF-8 becomes
/// U+FFFD. Unlike form decoding, `+` is itself.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_has(params: &[(String, String)], key: &str, value: Option<&str>) -> bool {
    params
        .iter()
        .any(|(k, v)| k == key && value.is_none_or(|value| v == value))
}

/// The operation of `model` a request's method, raw path and raw query string name. When
/// several templates match, the most specific wins: more literal query parts, then more literal
/// segments, then no greedy label.
pub fn route(
    model: &ServiceModel,
    method: &str,
    path: &str,
    query: &str,
) -> Result<&'static OperationModel, RouteError> {
    let path = segments(path);
    let params = super::parse_form(query.as_bytes());
    let operations: &'static [OperationModel] = model.operations;
    let mut best: Option<((usize, usize, bool), &'static OperationModel)> = None;
    let mut path_matched = false;
    for op in operations {
        let (parts, literals) = template(op.http_path);
        if match_path(&parts, &path).is_none()
            || !literals.iter().all(|(k, v)| query_has(&params, k, *v))
        {
            continue;
        }
        path_matched = true;
        if !op.http_method.eq_ignore_ascii_case(method) {
            continue;
        }
        let score = (
            literals.len(),
            parts
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count(),
            !parts.iter().any(|s| matches!(s, Segment::Greedy(_))),
        );
        if best.is_none_or(|(top, _)| score > top) {
            best = Some((score, op));
        }
    }
    match best {
        Some((_, op)) => Ok(op),
        None if path_matched => Err(RouteError::MethodNotAllowed),
        None => Err(RouteError::NotFound),
    }
}

/// A REST request as the decoder needs it: the raw path and query (percent-encoded, as they
/// arrived), the headers whose values are text, and the body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        message: message.into(),
    }
}

fn invalid(name: &str, value: &str, expected: &'static str) -> DecodeError {
    DecodeError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        expected,
    }
}

/// Decodes a request for `op` (as [`route`] found it) into the JSON form of its input shape.
/// Query parameters and headers the shape does not model are ignored, as AWS does.
pub fn decode(
    model: &ServiceModel,
    op: &OperationModel,
    request: &Request<'_>,
) -> Result<Value, DecodeError> {
    let mut input = Map::new();
    let Some(id) = op.input else {
        return Ok(Value::Object(input));
    };
    let shape = model.shape(id);
    let ShapeKind::Structure { members, .. } = &shape.kind else {
        return Err(malformed("the input shape is not a structure"));
    };
    let (parts, literals) = template(op.http_path);
    let labels = match_path(&parts, &segments(request.path))
        .ok_or_else(|| malformed(format!("{} does not match {}", request.path, op.http_path)))?;
    let params = super::parse_form(request.query.as_bytes());
    let decoder = Decoder { model };
    let mut body_members = Vec::new();
    for member in *members {
        let wire = member.location_name.unwrap_or(member.name);
        let value = match member.http_location {
            None => {
                body_members.push(member);
                None
            }
            Some(Location::StatusCode) => None,
            Some(Location::Uri) => labels
                .iter()
                .find(|(label, _)| *label == wire)
                .map(|(_, text)| decoder.text(member, text, TimestampFormat::Iso8601))
                .transpose()?,
            Some(Location::Querystring) => {
                decoder.query_member(member, members, &literals, &params)?
            }
            Some(Location::Header) => decoder.header_member(member, request.headers)?,
            Some(Location::Headers) => {
                let prefix = wire.to_ascii_lowercase();
                let map: Map<String, Value> = request
                    .headers
                    .iter()
                    .filter_map(|(name, value)| {
                        let lower = name.to_ascii_lowercase();
                        lower
                            .strip_prefix(&prefix)
                            .map(|key| (key.to_string(), Value::String(value.to_string())))
                    })
                    .collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
        };
        if let Some(value) = value {
            input.insert(member.name.to_string(), value);
        }
    }
    let body = request.body;
    if let Some(payload) = shape.payload {
        let member = members
            .iter()
            .find(|m| m.name == payload)
            .ok_or_else(|| malformed(format!("the payload member {payload} is not modelled")))?;
        if let Some(value) = decoder.payload(member, body)? {
            input.insert(member.name.to_string(), value);
        }
    } else if !body.iter().all(u8::is_ascii_whitespace) {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
        let Value::Object(object) = json else {
            return Err(malformed("the body is not a JSON object"));
        };
        for member in body_members {
            let key = member.location_name.unwrap_or(member.name);
            if let Some(value) = object.get(key).filter(|v| !v.is_null()) {
                let value = decoder.body_value(member, value, member.name)?;
                input.insert(member.name.to_string(), value);
            }
        }
    }
    Ok(Value::Object(input))
}

struct Decoder<'m> {
    model: &'m ServiceModel,
}

impl Decoder<'_> {
    /// A scalar member from its text form (a label, a query value, a header).
    fn text(
        &self,
        member: &Member,
        text: &str,
        timestamps: TimestampFormat,
    ) -> Result<Value, DecodeError> {
        let name = member.location_name.unwrap_or(member.name);
        Ok(match &self.model.shape(member.shape).kind {
            ShapeKind::String | ShapeKind::Blob => Value::String(text.to_string()),
            ShapeKind::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(invalid(name, text, "boolean")),
            },
            ShapeKind::Integer => Value::from(
                text.parse::<i32>()
                    .map_err(|_| invalid(name, text, "integer"))?,
            ),
            ShapeKind::Long => Value::from(
                text.parse::<i64>()
                    .map_err(|_| invalid(name, text, "long"))?,
            ),
            ShapeKind::Float | ShapeKind::Double => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid(name, text, "double"))?,
            ShapeKind::Timestamp => {
                let seconds = match member.timestamp_format.unwrap_or(timestamps) {
                    TimestampFormat::HttpDate => time::parse_http_date(text.trim()),
                    _ => time::parse(text.trim()),
                };
                seconds
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(name, text, "timestamp"))?
            }
            _ => return Err(invalid(name, text, "a scalar")),
        })
    }

    fn query_member(
        &self,
        member: &Member,
        members: &[Member],
        literals: &[(&str, Option<&str>)],
        params: &[(String, String)],
    ) -> Result<Option<Value>, DecodeError> {
        let key = member.location_name.unwrap_or(member.name);
        match &self.model.shape(member.shape).kind {
            ShapeKind::List(item) => {
                let values: Vec<Value> = params
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| self.text(item, v, TimestampFormat::Iso8601))
                    .collect::<Result<_, _>>()?;
                Ok((!values.is_empty()).then_some(Value::Array(values)))
            }
            ShapeKind::Map { value, .. } => {
                // Every parameter no other member, template literal or signature claims.
                let claimed = |k: &str| {
                    k.starts_with("X-Amz-")
                        || literals.iter().any(|(l, _)| *l == k)
                        || members.iter().any(|m| {
                            m.http_location == Some(Location::Querystring)
                                && m.location_name.unwrap_or(m.name) == k
                        })
                };
                let list = matches!(self.model.shape(value.shape).kind, ShapeKind::List(_));
                let mut map = Map::new();
                for (k, v) in params.iter().filter(|(k, _)| !claimed(k)) {
                    if list {
                        let entry = map.entry(k.clone()).or_insert_with(|| Value::Array(vec![]));
                        if let Value::Array(items) = entry {
                            items.push(Value::String(v.clone()));
                        }
                    } else {
                        map.insert(k.clone(), Value::String(v.clone()));
                    }
                }
                Ok((!map.is_empty()).then_some(Value::Object(map)))
            }
            _ => params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| self.text(member, v, TimestampFormat::Iso8601))
                .transpose(),
        }
    }

    fn header_member(
        &self,
        member: &Member,
        headers: &[(&str, &str)],
    ) -> Result<Option<Value>, DecodeError> {
        let name = member.location_name.unwrap_or(member.name);
        let Some(text) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
        else {
            return Ok(None);
        };
        if member.json_value {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| invalid(name, text, "base64-encoded JSON"))?;
            let json = String::from_utf8(bytes)
                .ok()
                .filter(|s| serde_json::from_str::<Value>(s).is_ok())
                .ok_or_else(|| invalid(name, text, "base64-encoded JSON"))?;
            return Ok(Some(Value::String(json)));
        }
        let ShapeKind::List(item) = &self.model.shape(member.shape).kind else {
            return self
                .text(member, text.trim(), TimestampFormat::HttpDate)
                .map(Some);
        };
        let mut items = split_header_list(text);
        let item_format = item.timestamp_format.unwrap_or(TimestampFormat::HttpDate);
        if matches!(self.model.shape(item.shape).kind, ShapeKind::Timestamp)
            && item_format == TimestampFormat::HttpDate
        {
            // An http-date holds a comma of its own (`Sat, 05 Dec 2026 …`).
            items = items.chunks(2).map(|pair| pair.join(", ")).collect();
        }
        items
            .iter()
            .map(|text| self.text(item, text, TimestampFormat::HttpDate))
            .collect::<Result<Vec<_>, _>>()
            .map(|values| Some(Value::Array(values)))
    }

    fn payload(&self, member: &Member, body: &[u8]) -> Result<Option<Value>, DecodeError> {
        if body.is_empty() {
            return Ok(None);
        }
        Ok(Some(match &self.model.shape(member.shape).kind {
            ShapeKind::Blob => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(body))
            }
            ShapeKind::String => Value::String(
                String::from_utf8(body.to_vec())
                    .map_err(|_| malformed("the body is not UTF-8 text"))?,
            ),
            _ => {
                let json: Value = serde_json::from_slice(body)
                    .map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
                self.body_value(member, &json, member.name)?
            }
        }))
    }

    /// A body value into the JSON form: members keyed by their wire names (`locationName`)
    /// renamed to member names, timestamps written as text turned to epoch seconds. Other
    /// values pass as they are; the service's typed decoding checks them.
    fn body_value(&self, member: &Member, value: &Value, path: &str) -> Result<Value, DecodeError> {
        let wrong = |expected: &'static str| invalid(path, &value.to_string(), expected);
        Ok(match (&self.model.shape(member.shape).kind, value) {
            (ShapeKind::Structure { members, .. }, Value::Object(object)) => {
                let mut out = Map::new();
                for m in *members {
                    let key = m.location_name.unwrap_or(m.name);
                    if let Some(v) = object.get(key).filter(|v| !v.is_null()) {
                        let inner = format!("{path}.{}", m.name);
                        out.insert(m.name.to_string(), self.body_value(m, v, &inner)?);
                    }
                }
                Value::Object(out)
            }
            (ShapeKind::Structure { .. }, _) => return Err(wrong("object")),
            (ShapeKind::List(item), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| self.body_value(item, v, path))
                    .collect::<Result<_, _>>()?,
            ),
            (ShapeKind::List(_), _) => return Err(wrong("list")),
            (ShapeKind::Map { value: item, .. }, Value::Object(object)) => {
                let mut out = Map::new();
                for (k, v) in object.iter().filter(|(_, v)| !v.is_null()) {
                    out.insert(k.clone(), self.body_value(item, v, path)?);
                }
                Value::Object(out)
            }
            (ShapeKind::Map { .. }, _) => return Err(wrong("map")),
            (ShapeKind::Timestamp, Value::String(text)) => {
                let seconds = match member.timestamp_format {
                    Some(TimestampFormat::HttpDate) => time::parse_http_date(text),
                    _ => time::parse(text),
                };
                seconds
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| wrong("timestamp"))?
            }
            _ => value.clone(),
        })
    }
}

/// Splits a list header at commas outside double quotes; quoted items lose their quotes and
/// backslash escapes.
fn split_header_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.extend(chars.next()),
            ',' if !quoted => items.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    items.push(current.trim().to_string());
    items
}

/// An encoded response: its status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Spreads the JSON form of `op`'s output over status (a `statusCode` member, else the
/// operation's `responseCode`), headers and body.
pub fn encode_response(
    model: &ServiceModel,
    op: &OperationModel,
    output: &Value,
) -> Result<Response, EncodeError> {
    let mut response = Response {
        status: op.response_code,
        headers: Vec::new(),
        content_type: "application/json",
        body: Vec::new(),
    };
    let Some(id) = op.output else {
        return Ok(response);
    };
    let shape = model.shape(id);
    let ShapeKind::Structure { members, .. } = &shape.kind else {
        return Err(EncodeError::at(
            shape.name,
            "the output shape is not a structure",
        ));
    };
    let empty = Map::new();
    let object = match output {
        Value::Object(object) => object,
        Value::Null => &empty,
        other => {
            return Err(EncodeError::at(
                "",
                format_args!("{other} is not an object"),
            ));
        }
    };
    let encoder = Encoder { model };
    let mut body = Map::new();
    for member in *members {
        let Some(value) = object.get(member.name).filter(|v| !v.is_null()) else {
            continue;
        };
        let wire = member.location_name.unwrap_or(member.name);
        match member.http_location {
            Some(Location::StatusCode) => {
                response.status = value
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| EncodeError::at(member.name, "not an HTTP status"))?;
            }
            Some(Location::Header) => {
                let text = encoder.header(member, value)?;
                response.headers.push((wire.to_string(), text));
            }
            Some(Location::Headers) => {
                let map = value
                    .as_object()
                    .ok_or_else(|| EncodeError::at(member.name, "not a map"))?;
                for (key, v) in map {
                    let text = v
                        .as_str()
                        .ok_or_else(|| EncodeError::at(member.name, "not a map of strings"))?;
                    response
                        .headers
                        .push((format!("{wire}{key}"), text.to_string()));
                }
            }
            Some(Location::Uri | Location::Querystring) => {}
            None if shape.payload == Some(member.name) => {
                let (content_type, bytes) = encoder.payload(member, value)?;
                response.content_type = content_type;
                response.body = bytes;
            }
            None => {
                body.insert(
                    wire.to_string(),
                    encoder.wire_value(member, value, member.name)?,
                );
            }
        }
    }
    if shape.payload.is_none() {
        response.body = serde_json::to_vec(&Value::Object(body)).expect("JSON values encode");
    }
    Ok(response)
}

struct Encoder<'m> {
    model: &'m ServiceModel,
}

impl Encoder<'_> {
    fn header(&self, member: &Member, value: &Value) -> Result<String, EncodeError> {
        if member.json_value {
            let json = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            return Ok(base64::engine::general_purpose::STANDARD.encode(json));
        }
        match (&self.model.shape(member.shape).kind, value) {
            (ShapeKind::List(item), Value::Array(items)) => {
                let texts = items
                    .iter()
                    .map(|v| {
                        let text = self.text(item, v, TimestampFormat::HttpDate)?;
                        Ok(
                            if v.is_string() && (text.contains(',') || text.contains('"')) {
                                format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
                            } else {
                                text
                            },
                        )
                    })
                    .collect::<Result<Vec<_>, EncodeError>>()?;
                Ok(texts.join(","))
            }
            _ => self.text(member, value, TimestampFormat::HttpDate),
        }
    }

    fn text(
        &self,
        member: &Member,
        value: &Value,
        timestamps: TimestampFormat,
    ) -> Result<String, EncodeError> {
        let mismatch = || EncodeError::at(member.name, format_args!("{value} is not a scalar"));
        Ok(match (&self.model.shape(member.shape).kind, value) {
            (ShapeKind::Timestamp, Value::Number(n)) => time::format(
                n.as_f64().ok_or_else(mismatch)?,
                member.timestamp_format.unwrap_or(timestamps),
            ),
            (ShapeKind::Float | ShapeKind::Double, Value::Number(n)) => {
                format_f64(n.as_f64().ok_or_else(mismatch)?)
            }
            (_, Value::String(text)) => text.clone(),
            (_, Value::Number(n)) => n.to_string(),
            (_, Value::Bool(b)) => b.to_string(),
            _ => return Err(mismatch()),
        })
    }

    fn payload(
        &self,
        member: &Member,
        value: &Value,
    ) -> Result<(&'static str, Vec<u8>), EncodeError> {
        Ok(match (&self.model.shape(member.shape).kind, value) {
            (ShapeKind::Blob, Value::String(text)) => (
                "application/octet-stream",
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| EncodeError::at(member.name, format_args!("not base64: {e}")))?,
            ),
            (ShapeKind::String, Value::String(text)) => ("text/plain", text.clone().into_bytes()),
            _ => (
                "application/json",
                serde_json::to_vec(&self.wire_value(member, value, member.name)?)
                    .expect("JSON values encode"),
            ),
        })
    }

    /// The JSON form into the body's: members under their wire names, timestamps in the
    /// member's format when it is not epoch seconds.
    fn wire_value(&self, member: &Member, value: &Value, path: &str) -> Result<Value, EncodeError> {
        let mismatch = || EncodeError::at(path, format_args!("{value} does not fit its shape"));
        Ok(match (&self.model.shape(member.shape).kind, value) {
            (ShapeKind::Structure { members, .. }, Value::Object(object)) => {
                let mut out = Map::new();
                for m in *members {
                    if let Some(v) = object.get(m.name).filter(|v| !v.is_null()) {
                        let inner = format!("{path}.{}", m.name);
                        out.insert(
                            m.location_name.unwrap_or(m.name).to_string(),
                            self.wire_value(m, v, &inner)?,
                        );
                    }
                }
                Value::Object(out)
            }
            (ShapeKind::List(item), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|v| self.wire_value(item, v, path))
                    .collect::<Result<_, _>>()?,
            ),
            (ShapeKind::Map { value: item, .. }, Value::Object(object)) => Value::Object(
                object
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.wire_value(item, v, path)?)))
                    .collect::<Result<_, EncodeError>>()?,
            ),
            (ShapeKind::Structure { .. } | ShapeKind::List(_) | ShapeKind::Map { .. }, _) => {
                return Err(mismatch());
            }
            (ShapeKind::Timestamp, Value::Number(n)) => match member.timestamp_format {
                Some(format @ (TimestampFormat::Iso8601 | TimestampFormat::HttpDate)) => {
                    Value::String(time::format(n.as_f64().ok_or_else(mismatch)?, format))
                }
                _ => value.clone(),
            },
            _ => value.clone(),
        })
    }
}

/// An error body botocore's `RestJSONParser` reads: it takes the code from the
/// `x-amzn-ErrorType` header (send `code` there too) or from `__type`, and the message from
/// `message`.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "__type": code, "message": message }))
        .expect("JSON values encode")
}
