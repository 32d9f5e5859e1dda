//! CloudWatch Logs behind a real gateway served in-process on port 0, with a pinned clock:
//! groups and streams, PutLogEvents' verdicts, GetLogEvents' tokens, FilterLogEvents, retention
//! and tags, and the log store's sweep, size bound and durability across a reopen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_aws::Clock;
use berth_gateway::{Authentication, ConnectionLimits, Gateway, RootKey, Service};
use berth_logs_service::{LogEvent, Logs, LogsOptions, LogsService};
use berth_sigv4::{Credentials, RequestParts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A clock tests move by hand, in milliseconds.
struct PinnedClock(AtomicU64);

impl Clock for PinnedClock {
    fn now(&self) -> f64 {
        self.0.load(Ordering::SeqCst) as f64 / 1000.0
    }
}

/// Milliseconds since the epoch the tests start at.
const START: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

struct Server {
    address: std::net::SocketAddr,
    clock: Arc<PinnedClock>,
    logs: Logs,
    dir: tempfile::TempDir,
}

const ROOT: Credentials<'static> = Credentials {
    access_key_id: "AKIDROOT",
    secret_access_key: "root-secret",
    session_token: None,
};

fn options() -> LogsOptions {
    LogsOptions {
        max_bytes: u64::MAX,
        // The tests sweep by hand.
        sweep_every: std::time::Duration::from_secs(3600),
    }
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(&dir.path().join("logs.db"), options()).unwrap();
    let clock = Arc::new(PinnedClock(AtomicU64::new(START as u64)));
    let services: Vec<Arc<dyn Service>> = vec![Arc::new(LogsService::new(
        logs.clone(),
        "123456789012".into(),
    ))];
    let authentication = Authentication {
        identities: vec![Arc::new(RootKey {
            access_key_id: "AKIDROOT".into(),
            secret_access_key: "root-secret".into(),
            account_id: "123456789012".into(),
        })],
        accept_any_credentials: false,
        is_region: berth_aws::region::is_well_formed,
        account_id: "123456789012".into(),
    };
    let gateway = Arc::new(Gateway::new(
        services,
        authentication,
        Arc::new(berth_aws::authorization::RootOnly),
        clock.clone(),
        ConnectionLimits::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(berth_gateway::serve(
        listener,
        gateway.router(),
        ConnectionLimits::default(),
        std::future::pending(),
    ));
    Server {
        address,
        clock,
        logs,
        dir,
    }
}

impl Server {
    /// Calls a CloudWatch Logs action as botocore does (JSON 1.1, signed for `logs` in
    /// us-east-1 at the pinned time); returns the status and the JSON body.
    async fn call(&self, action: &str, input: Value) -> (u16, Value) {
        self.call_in("us-east-1", action, input).await
    }

    async fn call_in(&self, region: &str, action: &str, input: Value) -> (u16, Value) {
        let body = input.to_string();
        let host = self.address.to_string();
        let target = format!("Logs_20140328.{action}");
        let payload = hex::encode(Sha256::digest(body.as_bytes()));
        let unsigned = [
            ("host", host.as_bytes()),
            ("content-type", b"application/x-amz-json-1.1".as_slice()),
            ("x-amz-target", target.as_bytes()),
        ];
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &unsigned,
            payload_sha256: &payload,
        };
        let now = (self.clock.now()) as i64;
        let signed = berth_sigv4::sign_headers(&parts, &ROOT, region, "logs", now, false);
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: {target}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in signed {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1;
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    async fn ok(&self, action: &str, input: Value) -> Value {
        let (status, body) = self.call(action, input).await;
        assert_eq!(status, 200, "{action}: {body}");
        body
    }

    /// The error code and message of a call that must fail with 400.
    async fn refused(&self, action: &str, input: Value) -> (String, String) {
        let (status, body) = self.call(action, input).await;
        assert_eq!(status, 400, "{action}: {body}");
        let code = body["__type"].as_str().unwrap_or_default();
        let code = code.rsplit('#').next().unwrap().to_owned();
        let message = body["message"]
            .as_str()
            .or(body["Message"].as_str())
            .unwrap_or_default()
            .to_owned();
        (code, message)
    }

    async fn put(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = events
            .iter()
            .map(|(timestamp, message)| json!({"timestamp": timestamp, "message": message}))
            .collect();
        self.ok(
            "PutLogEvents",
            json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
        )
        .await
    }
}

fn messages(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn groups_and_streams_are_created_described_and_deleted() {
    let server = start().await;
    server
        .ok(
            "CreateLogGroup",
            json!({"logGroupName": "/ecs/web", "tags": {"team": "a"}}),
        )
        .await;
    assert_eq!(
        server
            .refused("CreateLogGroup", json!({"logGroupName": "/ecs/web"}))
            .await,
        (
            "ResourceAlreadyExistsException".into(),
            "The specified log group already exists".into()
        )
    );
    let (code, _) = server
        .refused("CreateLogGroup", json!({"logGroupName": "bad name"}))
        .await;
    assert_eq!(code, "InvalidParameterException");
    server
        .ok("CreateLogGroup", json!({"logGroupName": "/ecs/worker"}))
        .await;
    // Another region has groups of its own.
    let (status, other) = server
        .call_in("eu-west-1", "DescribeLogGroups", json!({}))
        .await;
    assert_eq!((status, other["logGroups"].clone()), (200, json!([])));

    let described = server
        .ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/ecs/w"}))
        .await;
    let web = &described["logGroups"][0];
    assert_eq!(web["logGroupName"], "/ecs/web");
    assert_eq!(
        web["arn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*"
    );
    assert_eq!(
        web["logGroupArn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"
    );
    assert_eq!(web["creationTime"], START);
    assert_eq!(described["logGroups"].as_array().unwrap().len(), 2);

    // Paging: one group per page, then none left.
    let first = server.ok("DescribeLogGroups", json!({"limit": 1})).await;
    assert_eq!(first["logGroups"][0]["logGroupName"], "/ecs/web");
    let second = server
        .ok(
            "DescribeLogGroups",
            json!({"limit": 1, "nextToken": first["nextToken"]}),
        )
        .await;
    assert_eq!(second["logGroups"][0]["logGroupName"], "/ecs/worker");
    assert!(second.get("nextToken").is_none(), "{second}");
    let pattern = server
        .ok("DescribeLogGroups", json!({"logGroupNamePattern": "WORK"}))
        .await;
    assert_eq!(pattern["logGroups"].as_array().unwrap().len(), 1);
    let identified = server
        .ok(
            "DescribeLogGroups",
            json!({"logGroupIdentifiers": ["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/worker", "/missing"]}),
        )
        .await;
    let names: Vec<&str> = identified["logGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["logGroupName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/ecs/worker"]);
    let infrequent = server
        .ok(
            "DescribeLogGroups",
            json!({"logGroupClass": "INFREQUENT_ACCESS"}),
        )
        .await;
    assert_eq!(infrequent["logGroups"], json!([]));

    server
        .ok(
            "CreateLogStream",
            json!({"logGroupName": "/ecs/web", "logStreamName": "a"}),
        )
        .await;
    assert_eq!(
        server
            .refused(
                "CreateLogStream",
                json!({"logGroupName": "/ecs/web", "logStreamName": "a"})
            )
            .await
            .0,
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        server
            .refused(
                "CreateLogStream",
                json!({"logGroupName": "/nope", "logStreamName": "a"})
            )
            .await,
        (
            "ResourceNotFoundException".into(),
            "The specified log group does not exist.".into()
        )
    );
    server
        .ok(
            "CreateLogStream",
            json!({"logGroupName": "/ecs/web", "logStreamName": "b"}),
        )
        .await;
    server.clock.0.fetch_add(1000, Ordering::SeqCst);
    server.put("/ecs/web", "a", &[(START + 500, "late")]).await;
    server.put("/ecs/web", "b", &[(START + 100, "early")]).await;

    let by_time = server
        .ok(
            "DescribeLogStreams",
            json!({"logGroupName": "/ecs/web", "orderBy": "LastEventTime", "descending": true}),
        )
        .await;
    let names: Vec<&str> = by_time["logStreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["logStreamName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let a = &by_time["logStreams"][0];
    assert_eq!(a["lastEventTimestamp"], START + 500);
    assert_eq!(a["firstEventTimestamp"], START + 500);
    assert_eq!(a["lastIngestionTime"], START + 1000);
    assert_eq!(a["storedBytes"], 4);
    assert_eq!(
        a["arn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:log-stream:a"
    );
    let paged = server
        .ok(
            "DescribeLogStreams",
            json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web", "limit": 1}),
        )
        .await;
    assert_eq!(paged["logStreams"][0]["logStreamName"], "a");
    let rest = server
        .ok(
            "DescribeLogStreams",
            json!({"logGroupName": "/ecs/web", "limit": 1, "nextToken": paged["nextToken"]}),
        )
        .await;
    assert_eq!(rest["logStreams"][0]["logStreamName"], "b");
    assert!(rest.get("nextToken").is_none());
    assert_eq!(
        server
            .refused(
                "DescribeLogStreams",
                json!({"logGroupName": "/ecs/web", "orderBy": "LastEventTime", "logStreamNamePrefix": "a"})
            )
            .await
            .0,
        "InvalidParameterException"
    );

    server
        .ok(
            "DeleteLogStream",
            json!({"logGroupName": "/ecs/web", "logStreamName": "a"}),
        )
        .await;
    assert_eq!(
        server
            .refused(
                "GetLogEvents",
                json!({"logGroupName": "/ecs/web", "logStreamName": "a"})
            )
            .await,
        (
            "ResourceNotFoundException".into(),
            "The specified log stream does not exist.".into()
        )
    );
    server
        .ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}))
        .await;
    assert_eq!(
        server
            .refused("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}))
            .await
            .0,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn put_log_events_rejects_by_index_and_refuses_bad_batches() {
    let server = start().await;
    server
        .ok("CreateLogGroup", json!({"logGroupName": "g"}))
        .await;
    assert_eq!(
        server
            .refused(
                "PutLogEvents",
                json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": START, "message": "x"}]})
            )
            .await,
        (
            "ResourceNotFoundException".into(),
            "The specified log stream does not exist.".into()
        )
    );
    server
        .ok(
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        )
        .await;
    let answer = server
        .put(
            "g",
            "s",
            &[
                (START - 15 * DAY, "too old"),
                (START - 1, "kept 1"),
                (START, "kept 2"),
                (START + 3 * HOUR, "too new"),
            ],
        )
        .await;
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3})
    );
    let read = server
        .ok(
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}),
        )
        .await;
    assert_eq!(messages(&read), ["kept 1", "kept 2"]);
    assert_eq!(read["events"][0]["ingestionTime"], START);

    assert_eq!(
        server
            .refused(
                "PutLogEvents",
                json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
                    {"timestamp": START, "message": "b"}, {"timestamp": START - 1, "message": "a"}]})
            )
            .await,
        (
            "InvalidParameterException".into(),
            "Log events in a single PutLogEvents request must be in chronological order.".into()
        )
    );
    let (code, _) = server
        .refused(
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": []}),
        )
        .await;
    assert_eq!(code, "InvalidParameterException");
    // A sequence token, however wrong, is ignored.
    server
        .ok(
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "sequenceToken": "123",
                   "logEvents": [{"timestamp": START, "message": "kept 3"}]}),
        )
        .await;
}

#[tokio::test]
async fn get_log_events_pages_forward_and_backward_with_aws_tokens() {
    let server = start().await;
    server
        .ok("CreateLogGroup", json!({"logGroupName": "g"}))
        .await;
    server
        .ok(
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        )
        .await;
    let lines: Vec<(i64, String)> = (0..5)
        .map(|i| (START - 50 + i, format!("line {i}")))
        .collect();
    let events: Vec<(i64, &str)> = lines.iter().map(|(t, m)| (*t, m.as_str())).collect();
    server.put("g", "s", &events).await;
    let get = |extra: Value| {
        let mut input = json!({"logGroupName": "g", "logStreamName": "s"});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input
    };

    // From the tail by default: the last events.
    let tail = server.ok("GetLogEvents", get(json!({"limit": 2}))).await;
    assert_eq!(messages(&tail), ["line 3", "line 4"]);
    let before = server
        .ok(
            "GetLogEvents",
            get(json!({"limit": 2, "nextToken": tail["nextBackwardToken"]})),
        )
        .await;
    assert_eq!(messages(&before), ["line 1", "line 2"]);
    let after = server
        .ok(
            "GetLogEvents",
            get(json!({"nextToken": tail["nextForwardToken"]})),
        )
        .await;
    assert_eq!(messages(&after), Vec::<String>::new());
    assert_eq!(after["nextForwardToken"], tail["nextForwardToken"]);

    // From the head, page by page, until the same token comes back.
    let mut token: Option<Value> = None;
    let mut seen = Vec::new();
    loop {
        let mut extra = json!({"limit": 2, "startFromHead": true});
        if let Some(token) = &token {
            extra["nextToken"] = token.clone();
        }
        let page = server.ok("GetLogEvents", get(extra)).await;
        seen.extend(messages(&page));
        if token.as_ref() == Some(&page["nextForwardToken"]) {
            break;
        }
        token = Some(page["nextForwardToken"].clone());
    }
    assert_eq!(seen, ["line 0", "line 1", "line 2", "line 3", "line 4"]);
    let token = token.unwrap();
    assert!(token.as_str().unwrap().starts_with("f/"), "{token}");

    // A time range keeps [startTime, endTime).
    let range = server
        .ok(
            "GetLogEvents",
            get(json!({"startTime": START - 49, "endTime": START - 47, "startFromHead": true})),
        )
        .await;
    assert_eq!(messages(&range), ["line 1", "line 2"]);
    assert_eq!(
        server
            .refused("GetLogEvents", get(json!({"nextToken": "f/nonsense"})))
            .await
            .0,
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn filter_log_events_matches_patterns_across_streams_in_time_order() {
    let server = start().await;
    server
        .ok("CreateLogGroup", json!({"logGroupName": "g"}))
        .await;
    for stream in ["app/1", "app/2", "db"] {
        server
            .ok(
                "CreateLogStream",
                json!({"logGroupName": "g", "logStreamName": stream}),
            )
            .await;
    }
    server
        .put(
            "g",
            "app/1",
            &[
                (START - 30, "ERROR disk full"),
                (START - 10, r#"{"level":"error","latency":250}"#),
            ],
        )
        .await;
    server
        .put(
            "g",
            "app/2",
            &[
                (START - 20, "WARN slow request"),
                (START - 5, r#"{"level":"info","latency":20}"#),
            ],
        )
        .await;
    server
        .put("g", "db", &[(START - 25, "ERROR timeout")])
        .await;

    let filter = |extra: Value| {
        let mut input = json!({"logGroupName": "g"});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input
    };
    let all = server.ok("FilterLogEvents", filter(json!({}))).await;
    assert_eq!(
        messages(&all),
        [
            "ERROR disk full",
            "ERROR timeout",
            "WARN slow request",
            r#"{"level":"error","latency":250}"#,
            r#"{"level":"info","latency":20}"#
        ]
    );
    assert_eq!(all["events"][1]["logStreamName"], "db");
    assert!(all.get("nextToken").is_none());
    assert_eq!(all["searchedLogStreams"].as_array().unwrap().len(), 3);

    let errors = server
        .ok(
            "FilterLogEvents",
            filter(json!({"filterPattern": "ERROR -timeout"})),
        )
        .await;
    assert_eq!(messages(&errors), ["ERROR disk full"]);
    let either = server
        .ok(
            "FilterLogEvents",
            filter(json!({"filterPattern": "?WARN ?timeout"})),
        )
        .await;
    assert_eq!(messages(&either), ["ERROR timeout", "WARN slow request"]);
    let json_match = server
        .ok(
            "FilterLogEvents",
            filter(json!({"filterPattern": "{ $.latency > 100 && $.level = \"err*\" }"})),
        )
        .await;
    assert_eq!(
        messages(&json_match),
        [r#"{"level":"error","latency":250}"#]
    );
    let prefixed = server
        .ok(
            "FilterLogEvents",
            filter(json!({"logStreamNamePrefix": "app/", "startTime": START - 20, "endTime": START - 5})),
        )
        .await;
    assert_eq!(
        messages(&prefixed),
        ["WARN slow request", r#"{"level":"error","latency":250}"#]
    );
    let named = server
        .ok("FilterLogEvents", filter(json!({"logStreamNames": ["db"]})))
        .await;
    assert_eq!(messages(&named), ["ERROR timeout"]);

    // Paging one event at a time visits them all, in order.
    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    loop {
        let mut extra = json!({"limit": 1});
        if let Some(token) = &token {
            extra["nextToken"] = token.clone();
        }
        let page = server.ok("FilterLogEvents", filter(extra)).await;
        seen.extend(messages(&page));
        match page.get("nextToken") {
            Some(next) => token = Some(next.clone()),
            None => break,
        }
    }
    assert_eq!(seen, messages(&all));
    assert_eq!(
        server
            .refused(
                "FilterLogEvents",
                filter(json!({"filterPattern": "{ $.a = "}))
            )
            .await
            .0,
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn retention_is_validated_shown_and_enforced_by_the_sweep() {
    let server = start().await;
    server
        .ok("CreateLogGroup", json!({"logGroupName": "g"}))
        .await;
    server
        .ok(
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": "s"}),
        )
        .await;
    server
        .put(
            "g",
            "s",
            &[
                (START - 3 * DAY, "old"),
                (START - 3 * DAY + HOUR, "older than a day too"),
            ],
        )
        .await;
    server.put("g", "s", &[(START, "new")]).await;
    let (code, message) = server
        .refused(
            "PutRetentionPolicy",
            json!({"logGroupName": "g", "retentionInDays": 4}),
        )
        .await;
    assert_eq!(code, "InvalidParameterException");
    assert!(
        message.contains("Member must satisfy enum value set: [1, 3, 5, 7"),
        "{message}"
    );
    server
        .ok(
            "PutRetentionPolicy",
            json!({"logGroupName": "g", "retentionInDays": 1}),
        )
        .await;
    let described = server.ok("DescribeLogGroups", json!({})).await;
    assert_eq!(described["logGroups"][0]["retentionInDays"], 1);

    let report = server.logs.store().sweep(START, u64::MAX).unwrap();
    assert_eq!(report.expired_events, 2);
    let read = server
        .ok(
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}),
        )
        .await;
    assert_eq!(messages(&read), ["new"]);
    let streams = server
        .ok("DescribeLogStreams", json!({"logGroupName": "g"}))
        .await;
    assert_eq!(streams["logStreams"][0]["storedBytes"], 3);
    assert_eq!(streams["logStreams"][0]["firstEventTimestamp"], START);

    // Under a retention, events older than it are rejected as expired.
    let answer = server
        .put("g", "s", &[(START - 2 * DAY, "expired"), (START, "fresh")])
        .await;
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({"expiredLogEventEndIndex": 1})
    );
    server
        .ok("DeleteRetentionPolicy", json!({"logGroupName": "g"}))
        .await;
    let described = server.ok("DescribeLogGroups", json!({})).await;
    assert!(described["logGroups"][0].get("retentionInDays").is_none());
}

#[tokio::test]
async fn tags_through_both_apis() {
    let server = start().await;
    server
        .ok(
            "CreateLogGroup",
            json!({"logGroupName": "g", "tags": {"a": "1"}}),
        )
        .await;
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:g";
    server
        .ok(
            "TagLogGroup",
            json!({"logGroupName": "g", "tags": {"b": "2"}}),
        )
        .await;
    server
        .ok(
            "TagResource",
            json!({"resourceArn": arn, "tags": {"c": "3"}}),
        )
        .await;
    let listed = server
        .ok("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    assert_eq!(listed["tags"], json!({"a": "1", "b": "2", "c": "3"}));
    server
        .ok(
            "UntagResource",
            json!({"resourceArn": arn, "tagKeys": ["a"]}),
        )
        .await;
    server
        .ok("UntagLogGroup", json!({"logGroupName": "g", "tags": ["b"]}))
        .await;
    let listed = server
        .ok("ListTagsLogGroup", json!({"logGroupName": "g"}))
        .await;
    assert_eq!(listed["tags"], json!({"c": "3"}));
    let many: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        server
            .refused("TagResource", json!({"resourceArn": arn, "tags": many}))
            .await
            .0,
        "TooManyTagsException"
    );
    assert_eq!(
        server
            .refused(
                "ListTagsForResource",
                json!({"resourceArn": "arn:aws:logs:us-east-1:123456789012:log-group:missing"})
            )
            .await
            .0,
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn the_rust_api_appends_creating_streams_and_events_survive_a_reopen() {
    let server = start().await;
    let logs = &server.logs;
    assert!(!logs.group_exists("us-east-1", "/ecs/app").await.unwrap());
    let now = START;
    let missing = logs
        .append(
            "us-east-1",
            "/ecs/app",
            "ecs/web/1",
            vec![LogEvent {
                timestamp: now,
                message: "x".into(),
            }],
            now,
        )
        .await;
    assert_eq!(missing, Err(berth_logs::LogsError::group_not_found()));
    logs.create_group("us-east-1", "/ecs/app", now)
        .await
        .unwrap();
    assert!(logs.group_exists("us-east-1", "/ecs/app").await.unwrap());
    // Many writers at once share commits and all land.
    let mut writers = Vec::new();
    for writer in 0..20 {
        let logs = logs.clone();
        writers.push(tokio::spawn(async move {
            let events = (0..50)
                .map(|i| LogEvent {
                    timestamp: now + i,
                    message: format!("writer {writer} line {i}"),
                })
                .collect();
            logs.append(
                "us-east-1",
                "/ecs/app",
                &format!("ecs/web/{writer}"),
                events,
                now,
            )
            .await
            .unwrap()
        }));
    }
    for writer in writers {
        assert_eq!(writer.await.unwrap().accepted, 0..50);
    }
    let path = server.dir.path().join("logs.db");
    let reopened = Logs::open(&path, options()).unwrap();
    let read = reopened
        .store()
        .read_stream(
            "us-east-1",
            "/ecs/app",
            "ecs/web/7",
            &berth_logs_service::store::StreamRead {
                from: berth_logs::Position::START,
                direction: berth_logs_service::store::Direction::Forward,
                start: 0,
                end: i64::MAX,
                limit: 100,
            },
        )
        .unwrap();
    assert_eq!(read.len(), 50);
    assert_eq!(read[49].message, "writer 7 line 49");
}

#[tokio::test]
async fn the_size_bound_evicts_the_oldest_events_first() {
    let server = start().await;
    let logs = &server.logs;
    logs.create_group("us-east-1", "g", START).await.unwrap();
    for batch in 0..3 {
        let events = (0..1000)
            .map(|i| LogEvent {
                timestamp: START + batch * 1000 + i,
                message: "0123456789".into(),
            })
            .collect();
        logs.append("us-east-1", "g", "s", events, START)
            .await
            .unwrap();
    }
    // 30,000 bytes stored in three batches; a bound of 15,000 is met by removing the oldest
    // batches whole (the store keeps events by batch), so two go.
    let report = logs.store().sweep(START, 15_000).unwrap();
    assert_eq!(report.evicted_events, 2000, "{report:?}");
    let streams = server
        .ok("DescribeLogStreams", json!({"logGroupName": "g"}))
        .await;
    assert_eq!(streams["logStreams"][0]["storedBytes"], 10_000);
    let head = server
        .ok(
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true, "limit": 1}),
        )
        .await;
    assert_eq!(head["events"][0]["timestamp"], START + 2000);
    let tail = server
        .ok(
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "limit": 1}),
        )
        .await;
    assert_eq!(tail["events"][0]["timestamp"], START + 2999);
}
