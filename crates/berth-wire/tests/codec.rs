//! Decoder errors and edge cases botocore never produces.

use berth_wire::codec::{DecodeError, json, parse_form, query};
use berth_wire::model::Protocol;
use serde_json::json;

fn pairs(form: &str) -> Vec<(String, String)> {
    parse_form(form.as_bytes())
}

#[test]
fn ec2_rejects_unknown_parameters_and_bad_values() {
    let model = &berth_ec2_wire::MODEL;
    let op = model.operation("DescribeVpcs").expect("op");
    let err = query::decode(model, op, &pairs("Action=DescribeVpcs&VpcIds=vpc-1")).unwrap_err();
    assert_eq!(err.code(Protocol::Ec2), "UnknownParameter");
    let err = query::decode(model, op, &pairs("DryRun=maybe")).unwrap_err();
    assert!(matches!(err, DecodeError::InvalidValue { .. }));
    assert_eq!(err.code(Protocol::Ec2), "InvalidParameterValue");
    let ok = query::decode(
        model,
        op,
        &pairs("Filter.1.Name=tag%3AName&Filter.1.Value.1=a%26b&VpcId.1=vpc-1&MaxResults=5"),
    )
    .expect("decodes");
    assert_eq!(
        ok,
        json!({"Filters": [{"Name": "tag:Name", "Values": ["a&b"]}], "VpcIds": ["vpc-1"], "MaxResults": 5})
    );
}

#[test]
fn query_ignores_unknown_parameters_and_reports_bad_values() {
    let model = &berth_sts_wire::MODEL;
    let op = model.operation("AssumeRole").expect("op");
    let ok = query::decode(model, op, &pairs("RoleArn=r&Bogus=1&Tags.member.1.Key=k")).expect("ok");
    assert_eq!(ok, json!({"RoleArn": "r", "Tags": [{"Key": "k"}]}));
    let err = query::decode(model, op, &pairs("DurationSeconds=ten")).unwrap_err();
    assert_eq!(err.code(Protocol::Query), "ValidationError");
}

#[test]
fn timestamps_are_written_as_aws_writes_them() {
    let model = &berth_sts_wire::MODEL;
    let op = model.operation("GetSessionToken").expect("op");
    let body = query::encode_response(
        model,
        op,
        &json!({"Credentials": {"Expiration": 1796152678.123, "AccessKeyId": "<&>"}}),
        "id",
    )
    .expect("encodes");
    assert!(
        body.contains("<Expiration>2026-12-01T19:17:58.123Z</Expiration>"),
        "{body}"
    );
    assert!(
        body.contains("<AccessKeyId>&lt;&amp;&gt;</AccessKeyId>"),
        "{body}"
    );
    assert!(body.starts_with("<GetSessionTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetSessionTokenResult>"));
}

#[test]
fn json_bodies_must_have_the_json_types_of_their_shapes() {
    let model = &berth_cloudwatch_wire::MODEL;
    let op = model.operation("PutMetricData").expect("op");
    let ok = br#"{"Namespace": "app", "MetricData": [{"MetricName": "m", "Value": 1, "Unit": null,
        "Dimensions": [{"Name": "a", "Value": "b"}], "Timestamp": 1700000000.5}], "Unknown": [1]}"#;
    json::check(model, op, ok).expect("well-typed, unknown members ignored");
    for body in [
        &b"[]"[..],
        b"[\"app\"]",
        b"null",
        b"\"text\"",
        b"{",
        br#"{"Namespace": 7}"#,
        br#"{"MetricData": {"MetricName": "m"}}"#,
        br#"{"MetricData": [["m"]]}"#,
        br#"{"MetricData": [{"Dimensions": [{"Name": ["a"]}]}]}"#,
        br#"{"MetricData": [{"Value": "1"}]}"#,
        br#"{"StrictEntityValidation": "true"}"#,
    ] {
        let err = json::check(model, op, body).unwrap_err();
        assert_eq!(
            err.code(Protocol::Json),
            "SerializationException",
            "{body:?}"
        );
    }
    let err = json::check(
        model,
        op,
        br#"{"MetricData": [{"Dimensions": [{"Name": 1}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "'MetricData[0].Dimensions[0].Name' is a number, expected a string."
    );
    let message = |body: &[u8]| json::check(model, op, body).unwrap_err().message();
    assert_eq!(
        message(b"[]"),
        "The request body must be a JSON object, not an array."
    );
    assert_eq!(
        message(br#"{"MetricData": [{}, {"Value": 1}, {"Value": null, "Values": [1, "2"]}]}"#),
        "'MetricData[2].Values[1]' is a string, expected a number."
    );
    // A member name written with escapes is still that member.
    assert_eq!(
        message(br#"{"Namespace": ["app"]}"#),
        "'Namespace' is an array, expected a string."
    );
    assert!(message(b"{\"Namespace\": \"app\"} x").starts_with("Could not parse the request body"));
    // Nesting is bounded, in unknown members too (serde_json's limit, as for the typed decode).
    let deep = format!("{}1{}", r#"{"x":"#.repeat(300), "}".repeat(300));
    assert!(
        json::check(model, op, deep.as_bytes())
            .unwrap_err()
            .message()
            .starts_with("Could not parse the request body: recursion limit exceeded"),
        "nesting is bounded"
    );
    let nested = format!("{}1{}", r#"{"x":"#.repeat(100), "}".repeat(100));
    json::check(model, op, nested.as_bytes()).expect("an unknown member is ignored");
}
