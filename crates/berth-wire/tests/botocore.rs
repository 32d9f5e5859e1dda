//! The codecs against botocore itself. `tests/botocore/cases.py gen` wrote the fixtures: random
//! inputs for every STS, CloudWatch and EventBridge Scheduler (REST-JSON) operation, the EC2
//! operations served, and the operations of a REST-JSON model written to use every HTTP binding
//! (`tests/botocore/restfixture-2026-12-05.json`), serialized by
//! botocore's own serializers, and random outputs. Here every request must decode to exactly the
//! params botocore was given, and every encoded response and error body must parse, with
//! botocore's parsers (run by `cases.py check`), back into the same data.

mod restfixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_wire::codec::{self, cbor, query, rest_json};
use berth_wire::model::{Protocol, ServiceModel};
use serde_json::{Value, json};

fn model(service: &str) -> &'static ServiceModel {
    match service {
        "sts" => &berth_sts_wire::MODEL,
        "ec2" => &berth_ec2_wire::MODEL,
        "cloudwatch" => &berth_cloudwatch_wire::MODEL,
        "scheduler" => &berth_scheduler_wire::MODEL,
        "restfixture" => &restfixture::MODEL,
        other => panic!("no model for {other}"),
    }
}

fn fixtures(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Equal as JSON, numbers compared as f64 (timestamps are epoch seconds with milliseconds).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-6 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn decodes_what_botocore_serializes() {
    let cases = fixtures("requests.json");
    assert!(cases.len() > 300, "fixtures hold every operation");
    let mut failures = Vec::new();
    for case in &cases {
        let service = case["service"].as_str().unwrap_or_default();
        let op_name = case["operation"].as_str().unwrap_or_default();
        let model = model(service);
        let op = model.operation(op_name).expect("operation in the model");
        let decoded = if let Some(rest) = case.get("rest") {
            decode_rest(model, op, rest)
        } else if let Some(form) = case["form"].as_str() {
            let params = codec::parse_form(form.as_bytes());
            assert_eq!(codec::action(&params), Some(op_name));
            query::decode(model, op, &params)
        } else {
            cbor::decode(
                model,
                op,
                &unhex(case["cbor_hex"].as_str().unwrap_or_default()),
            )
        };
        match decoded {
            Ok(value) if same(&value, &case["params"]) => {}
            other => failures.push(format!(
                "{service}.{op_name}: expected {}, got {other:?}",
                case["params"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests decoded wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A REST-JSON request as botocore built it: routed by method and path, then decoded.
fn decode_rest(
    model: &ServiceModel,
    op: &berth_wire::model::OperationModel,
    rest: &Value,
) -> Result<Value, codec::DecodeError> {
    let text = |key: &str| rest[key].as_str().unwrap_or_default();
    let routed = rest_json::route(model, text("method"), text("path"), text("query"));
    assert_eq!(
        routed.map(|o| o.name),
        Ok(op.name),
        "{} {}?{} routes to its operation",
        text("method"),
        text("path"),
        text("query")
    );
    let headers: Vec<(&str, &str)> = rest["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let body = unhex(text("body_hex"));
    let request = rest_json::Request {
        path: text("path"),
        query: text("query"),
        headers: &headers,
        body: &body,
    };
    rest_json::decode(model, op, &request)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const HOSTILE: &str = "No <such> thing & \"that's\" it: ünï 🚀";

/// Error bodies for each protocol, with the code and message botocore must report.
fn error_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    let sts = model("sts");
    let (code, sender, status) = codec::error_code(sts, "ExpiredTokenException");
    cases.push(json!({
        "service": "sts", "operation": "AssumeRole", "status": status,
        "body_hex": hex(query::error_body(Some(sts), &code, HOSTILE, sender, "req-1").as_bytes()),
        "error": {"code": code, "message": HOSTILE},
    }));
    let decode_error = query::decode(
        model("ec2"),
        model("ec2").operation("DescribeVpcs").expect("op"),
        &[("Bogus.1".to_string(), "x".to_string())],
    )
    .expect_err("unknown parameter");
    let code = decode_error.code(Protocol::Ec2);
    cases.push(json!({
        "service": "ec2", "operation": "DescribeVpcs", "status": 400,
        "body_hex": hex(query::ec2_error_body(code, &decode_error.message(), "req-2").as_bytes()),
        "error": {"code": "UnknownParameter", "message": "The parameter Bogus.1 is not recognized"},
    }));
    let cw = model("cloudwatch");
    let (code, sender, status) = codec::error_code(cw, "ResourceNotFoundException");
    cases.push(json!({
        "service": "cloudwatch", "operation": "DescribeAlarms", "status": status,
        "body_hex": hex(&cbor::error_body("ResourceNotFoundException", HOSTILE)),
        "headers": {"x-amzn-query-error": cbor::query_error_header(&code, sender)},
        "error": {"code": code, "message": HOSTILE},
    }));
    cases.push(json!({
        "service": "cloudwatch", "operation": "DescribeAlarms", "status": 400,
        "body_hex": hex(&cbor::error_body("com.amazonaws.cloudwatch#InvalidNextToken", "bad")),
        "error": {"code": "InvalidNextToken", "message": "bad"},
    }));
    let scheduler = model("scheduler");
    let (code, _, status) = codec::error_code(scheduler, "ResourceNotFoundException");
    cases.push(json!({
        "service": "scheduler", "operation": "GetSchedule", "status": status,
        "body_hex": hex(&rest_json::error_body(&code, HOSTILE)),
        "headers": {"x-amzn-errortype": code},
        "error": {"code": "ResourceNotFoundException", "message": HOSTILE},
    }));
    // Without the header (a proxy may drop it), botocore reads the body's `__type`.
    cases.push(json!({
        "service": "scheduler", "operation": "ListSchedules", "status": 404,
        "body_hex": hex(&rest_json::error_body("UnknownOperationException", "no route")),
        "error": {"code": "UnknownOperationException", "message": "no route"},
    }));
    cases
}

fn must<T>(encoded: Result<T, codec::EncodeError>, label: &str) -> T {
    encoded.unwrap_or_else(|e| panic!("{label}: {e}"))
}

fn python_checker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore/cases.py")
}

#[test]
fn botocore_parses_what_we_encode() {
    let mut cases = Vec::new();
    for case in fixtures("responses.json") {
        let service = case["service"].as_str().unwrap_or_default();
        let op_name = case["operation"].as_str().unwrap_or_default();
        let model = model(service);
        let op = model.operation(op_name).expect("operation in the model");
        let label = format!("{service}.{op_name}");
        let (status, headers, body) = match model.protocol {
            Protocol::RpcV2Cbor => (
                200,
                Vec::new(),
                must(cbor::encode_response(model, op, &case["output"]), &label),
            ),
            Protocol::RestJson => {
                let response = must(
                    rest_json::encode_response(model, op, &case["output"]),
                    &label,
                );
                (response.status, response.headers, response.body)
            }
            _ => (
                200,
                Vec::new(),
                must(
                    query::encode_response(model, op, &case["output"], "req-0"),
                    &label,
                )
                .into_bytes(),
            ),
        };
        let headers: serde_json::Map<String, Value> = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
            .collect();
        cases.push(json!({
            "service": service, "operation": op_name, "status": status, "headers": headers,
            "body_hex": hex(&body),
            "expected": case.get("expected").unwrap_or(&case["output"]),
        }));
    }
    cases.extend(error_cases());
    let dir = std::env::temp_dir().join(format!("berth-wire-botocore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("encoded.json");
    std::fs::write(&file, serde_json::to_vec(&cases).expect("JSON")).expect("write cases");
    let output = Command::new("python3")
        .arg(python_checker())
        .arg("check")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs python3 with botocore installed (pip install botocore): {e}")
        });
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "botocore did not parse our responses as expected:\n{stdout}\n{stderr}"
    );
}
