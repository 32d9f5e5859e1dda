//! Random bytes and parameters into every decoder: errors are fine, panics are not.

mod restfixture;

use berth_wire::codec::{self, cbor, query, rest_json};
use berth_wire::model::ServiceModel;
use proptest::prelude::*;

const MODELS: [&ServiceModel; 3] = [
    &berth_sts_wire::MODEL,
    &berth_ec2_wire::MODEL,
    &berth_cloudwatch_wire::MODEL,
];

/// Key parts close enough to real member names to reach deep into the decoders.
const PARTS: &[&str] = &[
    "Filter",
    "Name",
    "Value",
    "member",
    "entry",
    "key",
    "value",
    "1",
    "2",
    "0",
    "-1",
    "x",
    "Tags",
    "Tag",
    "Key",
    "IpPermissions",
    "IpRanges",
    "CidrIp",
    "GroupId",
    "DryRun",
    "MaxResults",
    "PolicyArns",
    "arn",
    "DurationSeconds",
    "TagSpecification",
    "ResourceType",
    "VpcId",
    "",
    "99999999999",
];

fn param() -> impl Strategy<Value = (String, String)> {
    (
        prop::collection::vec(prop::sample::select(PARTS), 1..6),
        prop_oneof![
            Just(String::new()),
            Just("true".to_string()),
            Just("2026-12-05T19:17:58.123Z".to_string()),
            Just("12".to_string()),
            ".{0,12}",
        ],
    )
        .prop_map(|(parts, value)| (parts.join("."), value))
}

/// Path segments, query keys and header names REST-JSON templates and members use, and
/// escapes that decode to odd bytes.
const REST_PARTS: &[&str] = &[
    "schedules",
    "schedule-groups",
    "tags",
    "",
    "%",
    "%2",
    "%2F",
    "%FF",
    "%C3%BC",
    "..",
    "x",
    "+",
    "groupName",
    "clientToken",
    "MaxResults",
    "NamePrefix",
    "TagKeys",
    "State",
    "ScheduleGroup",
    "NextToken",
    "buckets",
    "things",
    "docs",
    "blobs",
    "download",
    "x-id",
    "PutObject",
    "id",
    "since",
    "when",
    "limit",
    "flag",
    "prefix",
    "token",
    "X-Labels",
    "x-meta-color",
    "If-Modified-Since",
    "X-Attributes",
    "X-Count",
    "X-Flag",
    "X-Ratio",
    "X-Expires",
];

/// Header values shaped like what the members expect, and almost so.
const HEADER_VALUES: &[&str] = &[
    "Sat, 05 Dec 2026 19:17:58 GMT",
    "Sat, 05 Dec 99999 19:17:58 GMT",
    "Sat, 31 Feb 2026 25:61:61 GMT",
    "2026-12-05T19:17:58Z",
    "\"a,b\",c,\"d\\\"e\"",
    "\"unterminated",
    "eyJhIjpbMSwieCJdfQ==",
    "bm90IGpzb24=",
    "!!",
    "true",
    "-2147483649",
    "1e309",
];

fn rest_request() -> impl Strategy<Value = (String, String, String, Vec<(String, String)>, Vec<u8>)>
{
    let part = || prop::sample::select(REST_PARTS).prop_map(str::to_string);
    (
        prop::sample::select(&["GET", "POST", "PUT", "DELETE", "PATCH"][..]),
        prop::collection::vec(prop_oneof![part(), ".{0,6}"], 0..5),
        prop::collection::vec((part(), prop_oneof![part(), ".{0,8}"]), 0..6),
        prop::collection::vec(
            (
                part(),
                prop_oneof![
                    prop::sample::select(HEADER_VALUES).prop_map(str::to_string),
                    ".{0,12}"
                ],
            ),
            0..4,
        ),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(b"{}".to_vec()),
            Just(
                br#"{"Target":{"Arn":1},"StartDate":"2026-12-05T19:17:58Z","Tags":[null,{}]}"#
                    .to_vec()
            ),
            Just(br#"{"FlexibleTimeWindow":[],"EndDate":"soon","Tags":{"a":1}}"#.to_vec()),
            Just(
                br#"{"name":1,"Updated":"bad","children":[{"Created":"x"},null,7],"Tags":[]}"#
                    .to_vec()
            ),
            Just(br#"{"Updated":"2026-12-05T19:17:58.5+01:00","children":{"a":{}}}"#.to_vec()),
        ],
    )
        .prop_map(|(method, path, query, headers, body)| {
            let query = query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            (
                method.to_string(),
                format!("/{}", path.join("/")),
                query,
                headers,
                body,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cbor_decoder_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for model in MODELS {
            for op in model.operations {
                let _ = cbor::decode(model, op, &body);
            }
        }
    }

    #[test]
    fn query_decoder_never_panics(params in prop::collection::vec(param(), 0..12)) {
        for model in MODELS {
            for op in model.operations {
                let _ = query::decode(model, op, &params);
            }
        }
    }

    #[test]
    fn rest_json_decoder_never_panics((method, path, query, headers, body) in rest_request()) {
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = rest_json::Request { path: &path, query: &query, headers: &headers, body: &body };
        for model in [&berth_scheduler_wire::MODEL, &restfixture::MODEL] {
            let _ = rest_json::route(model, &method, &path, &query);
            for op in model.operations {
                let _ = rest_json::decode(model, op, &request);
            }
        }
    }

    #[test]
    fn form_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let params = codec::parse_form(&body);
        for model in &MODELS[..2] {
            for op in model.operations {
                let _ = query::decode(model, op, &params);
            }
        }
    }
}

/// CBOR items nested deeper than any parser should follow, and lengths no body can hold.
#[test]
fn hostile_cbor_is_an_error() {
    let model = &berth_cloudwatch_wire::MODEL;
    let op = model.operation("PutMetricData").expect("op");
    let deep = [vec![0x81u8; 100_000], vec![0x00]].concat();
    assert!(cbor::decode(model, op, &deep).is_err());
    let huge = [0xbbu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(cbor::decode(model, op, &huge).is_err());
    assert!(
        cbor::decode(model, op, &[0xa0, 0x00]).is_err(),
        "trailing bytes"
    );
}
