//! Emits a service's `MODEL: berth_wire::model::ServiceModel`: the metadata, operations, shapes
//! and errors the protocol codecs need, as static slices indexed by shape position.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::Generator;

/// XML traits the codecs do not implement yet: a model using them must not be generated silently
/// wrong.
const UNSUPPORTED_TRAITS: &[&str] = &["xmlAttribute", "xmlNamespace"];

pub fn emit(generator: &Generator<'_>, out: &mut String) -> Result<()> {
    let ids: BTreeMap<&str, usize> = generator
        .included
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i))
        .collect();
    if ids.len() > usize::from(u16::MAX) {
        bail!("too many shapes for a u16 ShapeId");
    }
    let meta = generator.metadata;
    let text = |key: &str| meta[key].as_str().map(str::to_string);
    let protocols: Vec<String> = match meta["protocols"].as_array() {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => text("protocol").into_iter().collect(),
    };
    let protocol_variant = |p: &str| -> Result<&'static str> {
        Ok(match p {
            "json" => "Json",
            "query" => "Query",
            "ec2" => "Ec2",
            "smithy-rpc-v2-cbor" => "RpcV2Cbor",
            "rest-json" => "RestJson",
            "rest-xml" => "RestXml",
            other => bail!("unknown protocol {other}"),
        })
    };
    let variants = protocols
        .iter()
        .map(|p| protocol_variant(p).map(|v| format!("P::{v}")))
        .collect::<Result<Vec<_>>>()?;
    let endpoint_prefix = text("endpointPrefix").context("model has no endpointPrefix")?;

    let wire = generator.service.wire_crate;
    writeln!(
        out,
        "/// What the protocol codecs need of the model: metadata, operations, shapes, errors."
    )?;
    // One line per operation, shape and error keeps the table readable (rustfmt would spread
    // every member chain over several lines).
    writeln!(out, "#[rustfmt::skip]")?;
    writeln!(out, "pub static MODEL: {wire}::model::ServiceModel = {{")?;
    let body = model_body(generator, &ids, &variants, &endpoint_prefix)?;
    let mut imports = vec![
        "Member as M",
        "OperationModel as O",
        "Protocol as P",
        "Shape as S",
        "ShapeKind as K",
        "ServiceModel",
    ];
    if body.contains("\nE {") {
        imports.push("ErrorModel as E");
    }
    if body.contains("(T::") {
        imports.push("TimestampFormat as T");
    }
    if body.contains("(L::") {
        imports.push("Location as L");
    }
    imports.sort_unstable();
    writeln!(out, "use {wire}::model::{{{}}};", imports.join(", "))?;
    out.push_str(&body);
    writeln!(out, "}};")?;
    writeln!(out)?;
    Ok(())
}

fn model_body(
    generator: &Generator<'_>,
    ids: &BTreeMap<&str, usize>,
    variants: &[String],
    endpoint_prefix: &str,
) -> Result<String> {
    let meta = generator.metadata;
    let text = |key: &str| meta[key].as_str().map(str::to_string);
    let opt = |v: Option<String>| v.map_or("None".to_string(), |v| format!("Some({v:?})"));
    let mut out = String::new();
    writeln!(out, "ServiceModel {{")?;
    writeln!(out, "name: {:?},", generator.service.name)?;
    writeln!(
        out,
        "protocol: {},",
        variants.first().context("no protocol")?
    )?;
    writeln!(out, "protocols: &[{}],", variants.join(", "))?;
    writeln!(
        out,
        "api_version: {:?},",
        text("apiVersion").unwrap_or_default()
    )?;
    writeln!(out, "target_prefix: {},", opt(text("targetPrefix")))?;
    writeln!(out, "json_version: {},", opt(text("jsonVersion")))?;
    writeln!(out, "xml_namespace: {},", opt(text("xmlNamespace")))?;
    writeln!(
        out,
        "signing_name: {:?},",
        text("signingName").unwrap_or_else(|| endpoint_prefix.to_string())
    )?;
    writeln!(out, "endpoint_prefix: {endpoint_prefix:?},")?;
    writeln!(
        out,
        "aws_query_compatible: {},",
        meta.get("awsQueryCompatible").is_some()
    )?;

    writeln!(out, "operations: &[")?;
    for (name, op) in &generator.operations {
        let id = |key: &str| -> Result<String> {
            Ok(match op[key]["shape"].as_str() {
                Some(shape) => format!("Some({})", ids.get(shape).context("unknown shape")?),
                None => "None".to_string(),
            })
        };
        writeln!(
            out,
            "O {{ name: {name:?}, http_method: {:?}, http_path: {:?}, response_code: {}, input: {}, output: {}, result_wrapper: {} }},",
            op["http"]["method"].as_str().unwrap_or("POST"),
            op["http"]["requestUri"].as_str().unwrap_or("/"),
            op["http"]["responseCode"].as_u64().unwrap_or(200),
            id("input")?,
            id("output")?,
            opt(op["output"]["resultWrapper"].as_str().map(str::to_string)),
        )?;
    }
    writeln!(out, "],")?;

    writeln!(out, "shapes: &[")?;
    for name in &generator.included {
        let shape = generator.shape(name);
        for t in UNSUPPORTED_TRAITS {
            if shape.get(*t).is_some() {
                bail!("{name} uses {t}, which berth_wire::model does not describe yet");
            }
        }
        let kind = match shape["type"].as_str().unwrap_or_default() {
            "string" => "K::String".to_string(),
            "boolean" => "K::Boolean".to_string(),
            "integer" => "K::Integer".to_string(),
            "long" => "K::Long".to_string(),
            "float" => "K::Float".to_string(),
            "double" => "K::Double".to_string(),
            "timestamp" => "K::Timestamp".to_string(),
            "blob" => "K::Blob".to_string(),
            "structure" if shape.get("document").is_some() => "K::Document".to_string(),
            "list" => format!(
                "K::List({})",
                member(generator, ids, "member", &shape["member"])?
            ),
            "map" => format!(
                "K::Map {{ key: {}, value: {} }}",
                member(generator, ids, "key", &shape["key"])?,
                member(generator, ids, "value", &shape["value"])?
            ),
            "structure" => {
                let mut members = Vec::new();
                if let Some(map) = shape["members"].as_object() {
                    for (member_name, spec) in map {
                        members.push(member(generator, ids, member_name, spec)?);
                    }
                }
                format!(
                    "K::Structure {{ members: &[{}], union: {} }}",
                    members.join(", "),
                    shape.get("union").is_some()
                )
            }
            other => bail!("unsupported shape type {other} for {name}"),
        };
        let payload = match shape["payload"].as_str() {
            Some(member) => format!(".payload({member:?})"),
            None => String::new(),
        };
        writeln!(out, "S::new({name:?}, {kind}){payload},")?;
    }
    writeln!(out, "],")?;

    writeln!(out, "errors: &[")?;
    for name in &generator.included {
        let shape = generator.shape(name);
        if shape.get("exception").is_none() {
            continue;
        }
        let error = &shape["error"];
        writeln!(
            out,
            "E {{ shape: {name:?}, code: {:?}, http_status: {}, sender_fault: {} }},",
            error["code"].as_str().unwrap_or(name),
            error["httpStatusCode"].as_u64().unwrap_or(400),
            error["senderFault"]
                .as_bool()
                .unwrap_or(shape.get("fault").is_none()),
        )?;
    }
    writeln!(out, "],")?;
    writeln!(out, "}}")?;
    Ok(out)
}

/// A `Member` expression: the reference's traits over its target shape's.
fn member(
    generator: &Generator<'_>,
    ids: &BTreeMap<&str, usize>,
    name: &str,
    spec: &Value,
) -> Result<String> {
    let target_name = spec["shape"].as_str().context("member without shape")?;
    let target = generator.shape(target_name);
    for t in UNSUPPORTED_TRAITS {
        if spec.get(*t).is_some() {
            bail!("member {name} uses {t}, which berth_wire::model does not describe yet");
        }
    }
    let trait_of = |key: &str| spec.get(key).or_else(|| target.get(key));
    let mut expr = format!(
        "M::new({name:?}, {})",
        ids.get(target_name)
            .with_context(|| format!("{target_name} is not generated"))?
    );
    if let Some(location) = trait_of("locationName").and_then(Value::as_str) {
        write!(expr, ".location({location:?})")?;
    }
    if let Some(query) = spec.get("queryName").and_then(Value::as_str) {
        write!(expr, ".query({query:?})")?;
    }
    if trait_of("flattened").and_then(Value::as_bool) == Some(true) {
        expr.push_str(".flattened()");
    }
    if let Some(format) = trait_of("timestampFormat").and_then(Value::as_str) {
        let variant = match format {
            "iso8601" => "T::Iso8601",
            "unixTimestamp" => "T::EpochSeconds",
            "rfc822" => "T::HttpDate",
            other => bail!("unknown timestampFormat {other}"),
        };
        write!(expr, ".timestamp({variant})")?;
    }
    if let Some(location) = spec.get("location").and_then(Value::as_str) {
        let variant = match location {
            "uri" => "L::Uri",
            "querystring" => "L::Querystring",
            "header" => "L::Header",
            "headers" => "L::Headers",
            "statusCode" => "L::StatusCode",
            other => bail!(
                "member {name} has location {other}, which berth_wire::model does not describe"
            ),
        };
        write!(expr, ".http({variant})")?;
    }
    if trait_of("jsonvalue").and_then(Value::as_bool) == Some(true) {
        expr.push_str(".json_value()");
    }
    if spec.get("idempotencyToken").and_then(Value::as_bool) == Some(true) {
        expr.push_str(".idempotency_token()");
    }
    Ok(expr)
}
