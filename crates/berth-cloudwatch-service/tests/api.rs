//! CloudWatch behind a real gateway served in-process on port 0 (JSON 1.0, as older SDKs
//! send it), with a pinned clock: PutMetricData's rules, GetMetricStatistics,
//! GetMetricData with math, ListMetrics, and alarms evaluated step by step by calling the
//! evaluator at chosen times, their history and the state changes other crates receive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_aws::Clock;
use berth_cloudwatch::alarm::StateValue;
use berth_cloudwatch_service::{CloudWatchService, Metrics, MetricsOptions};
use berth_gateway::{Authentication, ConnectionLimits, Gateway, RootKey, Service};
use berth_sigv4::{Credentials, RequestParts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct PinnedClock(AtomicU64);

impl Clock for PinnedClock {
    fn now(&self) -> f64 {
        self.0.load(Ordering::SeqCst) as f64 / 1000.0
    }
}

/// Milliseconds since the epoch the tests start at: a minute boundary (1,800,000,000,000 is one).
const START: i64 = 1_800_000_000_000;
const ACCOUNT: &str = "123456789012";

struct Server {
    address: std::net::SocketAddr,
    clock: Arc<PinnedClock>,
    metrics: Metrics,
    _dir: tempfile::TempDir,
}

const ROOT: Credentials<'static> = Credentials {
    access_key_id: "AKIDROOT",
    secret_access_key: "root-secret",
    session_token: None,
};

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::open(
        &dir.path().join("metrics.db"),
        ACCOUNT.into(),
        MetricsOptions::default(),
    )
    .unwrap();
    let clock = Arc::new(PinnedClock(AtomicU64::new(START as u64)));
    let services: Vec<Arc<dyn Service>> = vec![Arc::new(CloudWatchService::new(metrics.clone()))];
    let authentication = Authentication {
        identities: vec![Arc::new(RootKey {
            access_key_id: "AKIDROOT".into(),
            secret_access_key: "root-secret".into(),
            account_id: ACCOUNT.into(),
        })],
        accept_any_credentials: false,
        is_region: berth_aws::region::is_well_formed,
        account_id: ACCOUNT.into(),
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
        metrics,
        _dir: dir,
    }
}

impl Server {
    fn set_time(&self, ms: i64) {
        self.clock.0.store(ms as u64, Ordering::SeqCst);
    }

    /// Calls a CloudWatch action over JSON 1.0, signed for `monitoring` in us-east-1 at the
    /// pinned time; returns the status and the JSON body.
    async fn call(&self, action: &str, input: Value) -> (u16, Value) {
        let body = input.to_string();
        let host = self.address.to_string();
        let target = format!("GraniteServiceVersion20100801.{action}");
        let payload = hex::encode(Sha256::digest(body.as_bytes()));
        let unsigned = [
            ("host", host.as_bytes()),
            ("content-type", b"application/x-amz-json-1.0".as_slice()),
            ("x-amz-target", target.as_bytes()),
        ];
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &unsigned,
            payload_sha256: &payload,
        };
        let signed = berth_sigv4::sign_headers(
            &parts,
            &ROOT,
            "us-east-1",
            "monitoring",
            self.clock.now() as i64,
            false,
        );
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: {target}\r\ncontent-length: {}\r\nconnection: close\r\n",
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

    async fn refused(&self, action: &str, input: Value) -> (u16, String, String) {
        let (status, body) = self.call(action, input).await;
        assert!(status >= 400, "{action}: {body}");
        let code = body["__type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap()
            .to_owned();
        let message = body["message"]
            .as_str()
            .or(body["Message"].as_str())
            .unwrap_or_default()
            .to_owned();
        (status, code, message)
    }

    async fn put(&self, name: &str, value: f64, at_ms: i64) {
        self.ok(
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": name, "Dimensions": [{"Name": "Service", "Value": "web"}], "Value": value, "Timestamp": at_ms as f64 / 1000.0, "Unit": "Count"}]}),
        )
        .await;
    }

    async fn alarm(&self, name: &str) -> Value {
        let body = self
            .ok("DescribeAlarms", json!({"AlarmNames": [name]}))
            .await;
        body["MetricAlarms"][0].clone()
    }
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[tokio::test]
async fn datapoints_are_put_and_read_back_as_statistics() {
    let server = start().await;
    server.set_time(START + 600_000);
    server
        .ok(
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [
                {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}], "Values": [1.0, 2.0, 9.0], "Counts": [1.0, 2.0, 1.0], "Timestamp": secs(START), "Unit": "Milliseconds"},
                {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}], "StatisticValues": {"SampleCount": 2.0, "Sum": 10.0, "Minimum": 4.0, "Maximum": 6.0}, "Timestamp": secs(START + 60_000), "Unit": "Milliseconds"},
                {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "api"}], "Value": 100.0, "Timestamp": secs(START)}
            ]}),
        )
        .await;
    let body = server
        .ok(
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}],
                   "StartTime": secs(START), "EndTime": secs(START + 120_000), "Period": 60,
                   "Statistics": ["Average", "Sum", "SampleCount", "Minimum", "Maximum"], "ExtendedStatistics": ["p50"]}),
        )
        .await;
    assert_eq!(body["Label"], "Latency");
    let points = body["Datapoints"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["Timestamp"], json!(secs(START)));
    assert_eq!(
        (
            points[0]["Sum"].as_f64(),
            points[0]["SampleCount"].as_f64(),
            points[0]["Average"].as_f64()
        ),
        (Some(14.0), Some(4.0), Some(3.5))
    );
    assert_eq!(
        (points[0]["Minimum"].as_f64(), points[0]["Maximum"].as_f64()),
        (Some(1.0), Some(9.0))
    );
    assert_eq!(points[0]["ExtendedStatistics"]["p50"].as_f64(), Some(2.0));
    assert_eq!(points[0]["Unit"], "Milliseconds");
    // A statistic set has no values to take percentiles of.
    assert_eq!(points[1]["Average"].as_f64(), Some(5.0));
    assert!(points[1].get("ExtendedStatistics").is_none());

    let data = server
        .ok(
            "GetMetricData",
            json!({"StartTime": secs(START), "EndTime": secs(START + 120_000), "ScanBy": "TimestampAscending", "MetricDataQueries": [
                {"Id": "web", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}]}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                {"Id": "api", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "api"}]}, "Period": 60, "Stat": "Sum"}, "ReturnData": false},
                {"Id": "total", "Expression": "SUM(METRICS())", "Label": "Total"},
                {"Id": "share", "Expression": "100 * web / FILL(api, 0)"}
            ]}),
        )
        .await;
    let results = data["MetricDataResults"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["Label"], "Total");
    assert_eq!(results[0]["Values"], json!([114.0, 10.0]));
    assert_eq!(
        results[0]["Timestamps"],
        json!([secs(START), secs(START + 60_000)])
    );
    // Division by the filled zero leaves the second minute out.
    assert_eq!(results[1]["Values"], json!([14.0]));
    assert_eq!(results[1]["StatusCode"], "Complete");

    // Paging by MaxDatapoints, newest first by default.
    let first = server
        .ok(
            "GetMetricData",
            json!({"StartTime": secs(START), "EndTime": secs(START + 120_000), "MaxDatapoints": 1, "MetricDataQueries": [
                {"Id": "m", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}]}, "Period": 60, "Stat": "Maximum"}}
            ]}),
        )
        .await;
    assert_eq!(first["MetricDataResults"][0]["Values"], json!([6.0]));
    assert_eq!(first["MetricDataResults"][0]["StatusCode"], "PartialData");
    let token = first["NextToken"].as_str().unwrap();
    let second = server
        .ok(
            "GetMetricData",
            json!({"StartTime": secs(START), "EndTime": secs(START + 120_000), "MaxDatapoints": 1, "NextToken": token, "MetricDataQueries": [
                {"Id": "m", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}]}, "Period": 60, "Stat": "Maximum"}}
            ]}),
        )
        .await;
    assert_eq!(second["MetricDataResults"][0]["Values"], json!([9.0]));
    assert!(second.get("NextToken").is_none());

    let listed = server
        .ok(
            "ListMetrics",
            json!({"Namespace": "App", "Dimensions": [{"Name": "Service", "Value": "api"}]}),
        )
        .await;
    assert_eq!(
        listed["Metrics"],
        json!([{"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "api"}]}])
    );
    assert_eq!(
        server
            .ok("ListMetrics", json!({"Dimensions": [{"Name": "Service"}]}))
            .await["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // RecentlyActive: data put more than 3 hours ago does not count.
    server.set_time(START + 4 * 3_600_000);
    assert_eq!(
        server
            .ok("ListMetrics", json!({"RecentlyActive": "PT3H"}))
            .await["Metrics"],
        json!([])
    );
}

#[tokio::test]
async fn bad_input_gets_cloudwatch_errors() {
    let server = start().await;
    let refused = |input: Value| server.refused("PutMetricData", input);
    assert_eq!(
        refused(json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "m", "Value": 1.0}]}))
            .await
            .1,
        "InvalidParameterValue"
    );
    let (status, code, message) = refused(json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}]})).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterCombination")
    );
    assert_eq!(
        message,
        "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both."
    );
    let old = secs(START - 15 * 86_400_000);
    assert_eq!(
        refused(json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0, "Timestamp": old}]})).await.2,
        "The parameter MetricData.member.1.Timestamp must specify a time no more than two weeks in the past."
    );
    let ahead = secs(START + 3 * 3_600_000);
    assert_eq!(
        refused(json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0, "Timestamp": ahead}]})).await.2,
        "The parameter MetricData.member.1.Timestamp must specify a time no more than two hours in the future."
    );
    let dims: Vec<Value> = (0..31)
        .map(|i| json!({"Name": format!("d{i}"), "Value": "v"}))
        .collect();
    assert_eq!(refused(json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0, "Dimensions": dims}]})).await.1, "InvalidParameterValue");
    assert_eq!(refused(json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0, "StorageResolution": 5}]})).await.1, "InvalidParameterValue");

    let (_, code, message) = server
        .refused("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "m", "StartTime": secs(START), "EndTime": secs(START + 1_441 * 60_000), "Period": 60, "Statistics": ["Sum"]}))
        .await;
    assert_eq!(code, "InvalidParameterCombination");
    assert!(message.starts_with(
        "You have requested up to 1,441 datapoints, which exceeds the limit of 1,440."
    ));
    let (_, code, _) = server.refused("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "m", "StartTime": secs(START), "EndTime": secs(START + 60_000), "Period": 60})).await;
    assert_eq!(code, "InvalidParameterCombination");
    let (_, code, _) = server
        .refused("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "m", "StartTime": secs(START), "EndTime": secs(START + 60_000), "Period": 45, "Statistics": ["Sum"]}))
        .await;
    assert_eq!(code, "InvalidParameterValue");

    let alarm = json!({"AlarmName": "a", "Namespace": "App", "MetricName": "m", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 3, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"});
    assert_eq!(
        server.refused("PutMetricAlarm", alarm).await.1,
        "InvalidParameterCombination"
    );
    let band = json!({"AlarmName": "a", "Namespace": "App", "MetricName": "m", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"});
    assert_eq!(
        server.refused("PutMetricAlarm", band).await.1,
        "InvalidParameterCombination"
    );
    let (status, code, _) = server
        .refused(
            "SetAlarmState",
            json!({"AlarmName": "nope", "StateValue": "ALARM", "StateReason": "x"}),
        )
        .await;
    assert_eq!((status, code.as_str()), (404, "ResourceNotFound"));
    let (status, code, _) = server
        .refused("DeleteAlarms", json!({"AlarmNames": ["nope"]}))
        .await;
    assert_eq!((status, code.as_str()), (404, "ResourceNotFound"));
    let (status, code, _) = server
        .refused(
            "ListTagsForResource",
            json!({"ResourceARN": format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:nope")}),
        )
        .await;
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
}

#[tokio::test]
async fn alarms_are_evaluated_and_their_changes_published() {
    let server = start().await;
    let mut changes = server.metrics.subscribe();
    let topic = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:p";
    server
        .ok(
            "PutMetricAlarm",
            json!({"AlarmName": "busy", "Namespace": "App", "MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "web"}],
                   "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 10.0,
                   "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [topic], "OKActions": ["arn:ok"],
                   "Tags": [{"Key": "team", "Value": "a"}]}),
        )
        .await;
    let alarm = server.alarm("busy").await;
    assert_eq!(alarm["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(alarm["StateReason"], "Unchecked: Initial alarm creation");
    assert_eq!(
        alarm["AlarmArn"],
        format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:busy")
    );

    // No data: stays INSUFFICIENT_DATA, no change published.
    assert_eq!(server.metrics.evaluate_due(START + 1_000).await.unwrap(), 1);
    assert!(changes.try_recv().is_err());
    // Evaluated once per minute: a second call in the same minute does nothing.
    assert_eq!(
        server.metrics.evaluate_due(START + 30_000).await.unwrap(),
        0
    );

    // One minute breaching and the earlier one missing: CloudWatch alarms on what it has.
    server.put("Requests", 20.0, START + 5_000).await;
    server
        .metrics
        .evaluate_due(START + 60_000 + 1_000)
        .await
        .unwrap();
    let alarm = server.alarm("busy").await;
    assert_eq!(alarm["StateValue"], "ALARM");
    let change = changes.try_recv().unwrap();
    assert_eq!(
        (change.old_state, change.new_state),
        (StateValue::InsufficientData, StateValue::Alarm)
    );
    assert_eq!(change.actions, vec![topic.to_owned()]);
    assert_eq!(
        change.alarm_arn,
        format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:busy")
    );

    // The next minute does not breach: 1 of 2, so OK, with OKActions.
    server.put("Requests", 3.0, START + 65_000).await;
    server
        .metrics
        .evaluate_due(START + 120_000 + 1_000)
        .await
        .unwrap();
    let alarm = server.alarm("busy").await;
    assert_eq!(alarm["StateValue"], "OK");
    let t = |ms: i64| berth_cloudwatch::time::short(ms);
    assert_eq!(
        alarm["StateReason"],
        format!(
            "Threshold Crossed: 1 out of the last 2 datapoints [3.0 ({})] were not greater than the threshold (10.0) (minimum 1 datapoint for ALARM -> OK transition).",
            t(START + 60_000)
        )
    );
    let data: Value = serde_json::from_str(alarm["StateReasonData"].as_str().unwrap()).unwrap();
    assert_eq!(data["recentDatapoints"], json!([3.0, 20.0]));
    assert_eq!(
        changes.try_recv().unwrap().actions,
        vec!["arn:ok".to_owned()]
    );

    // Two breaching minutes: ALARM, with M-out-of-N's reason.
    server.put("Requests", 30.0, START + 125_000).await;
    server.put("Requests", 40.0, START + 185_000).await;
    server
        .metrics
        .evaluate_due(START + 240_000 + 1_000)
        .await
        .unwrap();
    let alarm = server.alarm("busy").await;
    assert_eq!(alarm["StateValue"], "ALARM");
    assert!(
        alarm["StateReason"]
            .as_str()
            .unwrap()
            .starts_with("Threshold Crossed: 2 out of the last 2 datapoints [40.0"),
        "{}",
        alarm["StateReason"]
    );

    // SetAlarmState holds until the next evaluation, which puts it back.
    server.set_time(START + 250_000);
    server
        .ok(
            "SetAlarmState",
            json!({"AlarmName": "busy", "StateValue": "OK", "StateReason": "testing"}),
        )
        .await;
    assert_eq!(server.alarm("busy").await["StateReason"], "testing");
    server.metrics.evaluate_due(START + 255_000).await.unwrap();
    assert_eq!(server.alarm("busy").await["StateValue"], "OK");
    server
        .metrics
        .evaluate_due(START + 300_000 + 1_000)
        .await
        .unwrap();
    assert_eq!(server.alarm("busy").await["StateValue"], "ALARM");

    // Disabled actions: the change is still published, with no actions.
    server.set_time(START + 302_000);
    server
        .ok("DisableAlarmActions", json!({"AlarmNames": ["busy"]}))
        .await;
    while changes.try_recv().is_ok() {}
    server
        .ok(
            "SetAlarmState",
            json!({"AlarmName": "busy", "StateValue": "OK", "StateReason": "quiet"}),
        )
        .await;
    let change = changes.try_recv().unwrap();
    assert!(change.actions.is_empty());
    assert_eq!(server.alarm("busy").await["ActionsEnabled"], false);

    let history = server.ok("DescribeAlarmHistory", json!({"AlarmName": "busy", "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending"})).await;
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["HistorySummary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        vec![
            "Alarm updated from INSUFFICIENT_DATA to ALARM",
            "Alarm updated from ALARM to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK",
        ]
    );
    let configuration = server
        .ok(
            "DescribeAlarmHistory",
            json!({"AlarmName": "busy", "HistoryItemType": "ConfigurationUpdate"}),
        )
        .await;
    assert_eq!(
        configuration["AlarmHistoryItems"][0]["HistorySummary"],
        "Alarm \"busy\" created"
    );

    // Filters, tags, deletion.
    assert_eq!(
        server
            .ok("DescribeAlarms", json!({"StateValue": "ALARM"}))
            .await["MetricAlarms"],
        json!([])
    );
    assert_eq!(
        server
            .ok(
                "DescribeAlarms",
                json!({"ActionPrefix": "arn:aws:autoscaling"})
            )
            .await["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .ok("DescribeAlarms", json!({"AlarmNamePrefix": "bu"}))
            .await["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let arn = format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:busy");
    server
        .ok(
            "TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "env", "Value": "prod"}]}),
        )
        .await;
    server
        .ok(
            "UntagResource",
            json!({"ResourceARN": arn, "TagKeys": ["team"]}),
        )
        .await;
    assert_eq!(
        server
            .ok("ListTagsForResource", json!({"ResourceARN": arn}))
            .await["Tags"],
        json!([{"Key": "env", "Value": "prod"}])
    );
    server
        .ok("DeleteAlarms", json!({"AlarmNames": ["busy"]}))
        .await;
    assert_eq!(
        server.ok("DescribeAlarms", json!({})).await["MetricAlarms"],
        json!([])
    );
}

#[tokio::test]
async fn describe_alarms_pages_by_name() {
    let server = start().await;
    for i in 0..5 {
        server
            .ok(
                "PutMetricAlarm",
                json!({"AlarmName": format!("a{i}"), "Namespace": "App", "MetricName": "m", "Statistic": "Sum", "Period": 10, "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}),
            )
            .await;
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"MaxRecords": 2});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let page = server.ok("DescribeAlarms", input).await;
        names.extend(
            page["MetricAlarms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["AlarmName"].as_str().unwrap().to_owned()),
        );
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, vec!["a0", "a1", "a2", "a3", "a4"]);
}

#[tokio::test]
async fn list_metrics_pages_by_five_hundred_and_missing_members_are_named() {
    let server = start().await;
    let data: Vec<Value> = (0..501)
        .map(|i| json!({"MetricName": format!("m{i:03}"), "Value": 1.0, "Timestamp": secs(START)}))
        .collect();
    server
        .ok(
            "PutMetricData",
            json!({"Namespace": "Many", "MetricData": data}),
        )
        .await;
    let first = server.ok("ListMetrics", json!({"Namespace": "Many"})).await;
    assert_eq!(first["Metrics"].as_array().unwrap().len(), 500);
    assert_eq!(first["Metrics"][499]["MetricName"], "m499");
    let token = first["NextToken"].as_str().unwrap();
    let second = server
        .ok(
            "ListMetrics",
            json!({"Namespace": "Many", "NextToken": token}),
        )
        .await;
    assert_eq!(
        second["Metrics"],
        json!([{"Namespace": "Many", "MetricName": "m500", "Dimensions": []}])
    );
    assert!(second.get("NextToken").is_none());
    assert_eq!(
        server
            .refused("ListMetrics", json!({"NextToken": "garbage"}))
            .await
            .1,
        "InvalidNextToken"
    );

    let (status, code, message) = server
        .refused("PutMetricAlarm", json!({"AlarmName": "a", "Namespace": "App", "MetricName": "m", "Statistic": "Sum", "Period": 60, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}))
        .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "MissingParameter"),
        "{message}"
    );
    assert!(
        message.contains("evaluationPeriods") || message.contains("EvaluationPeriods"),
        "{message}"
    );
}

#[tokio::test]
async fn berth_publishes_under_aws_namespaces_through_the_rust_api() {
    let server = start().await;
    let metric = berth_cloudwatch::MetricId::new(
        "AWS/ECS",
        "CPUUtilization",
        vec![berth_cloudwatch::Dimension {
            name: "ClusterName".into(),
            value: "default".into(),
        }],
    );
    let point = |value: f64| {
        berth_cloudwatch::stats::Datapoint::of_values(
            START + 1_000,
            1,
            vec![(value, 1.0)],
            Some("Percent".into()),
        )
    };
    server
        .metrics
        .put(
            "us-east-1",
            vec![(metric.clone(), point(40.0)), (metric.clone(), point(60.0))],
            START,
        )
        .await
        .unwrap();
    let body = server
        .ok(
            "GetMetricStatistics",
            json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": [{"Name": "ClusterName", "Value": "default"}],
                   "StartTime": secs(START), "EndTime": secs(START + 60_000), "Period": 1, "Statistics": ["Average"]}),
        )
        .await;
    assert_eq!(
        body["Datapoints"],
        json!([{"Timestamp": secs(START + 1_000), "Average": 50.0, "Unit": "Percent"}])
    );
    // The API's own rules still hold for Berth's publishers.
    let unnamed = berth_cloudwatch::MetricId::new("AWS/ECS", "", Vec::new());
    assert!(
        server
            .metrics
            .put("us-east-1", vec![(unnamed, point(1.0))], START)
            .await
            .is_err()
    );
}

/// CloudWatch answers a range starting more than 3 hours, 15 days or 63 days ago only with
/// periods that are multiples of 60, 300 or 3600 seconds (the resolution its data is kept at
/// then), and with no datapoints, not an error, for a finer period.
#[tokio::test]
async fn an_old_range_is_answered_only_at_the_resolution_kept_for_its_age() {
    const DAY: i64 = 86_400_000;
    let server = start().await;
    let metric = berth_cloudwatch::MetricId::new(
        "App",
        "Requests",
        vec![berth_cloudwatch::Dimension {
            name: "Service".into(),
            value: "web".into(),
        }],
    );
    let point = |at: i64, resolution: u32, value: f64| {
        (
            metric.clone(),
            berth_cloudwatch::stats::Datapoint::of_values(at, resolution, vec![(value, 1.0)], None),
        )
    };
    // Data of three ages, put through the Rust API (PutMetricData takes nothing older than
    // two weeks): seconds four hours ago, minutes twenty days ago, minutes a hundred days ago.
    let (hours_4, days_20, days_100) = (START - 4 * 3_600_000, START - 20 * DAY, START - 100 * DAY);
    server
        .metrics
        .put(
            "us-east-1",
            vec![
                point(hours_4, 1, 1.0),
                point(hours_4 + 1_000, 1, 2.0),
                point(days_20, 60, 3.0),
                point(days_20 + 60_000, 60, 4.0),
                point(days_100, 60, 5.0),
                point(days_100 + 60_000, 60, 6.0),
            ],
            START,
        )
        .await
        .unwrap();
    let statistics = |start: i64, period: i64| {
        json!({"Namespace": "App", "MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "web"}],
               "StartTime": secs(start), "EndTime": secs(start + 3_600_000), "Period": period, "Statistics": ["Sum"]})
    };
    let data = |start: i64, period: i64| {
        json!({"StartTime": secs(start), "EndTime": secs(start + 3_600_000), "MetricDataQueries": [
            {"Id": "m", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "web"}]}, "Period": period, "Stat": "Sum"}}
        ]})
    };
    for (start, finer, kept, sum) in [
        (hours_4, 10, 60, 3.0),
        (days_20, 60, 300, 7.0),
        (days_100, 300, 3600, 11.0),
    ] {
        let none = server
            .ok("GetMetricStatistics", statistics(start, finer))
            .await;
        assert_eq!(none["Datapoints"], json!([]), "{finer} s from {start}");
        let answered = server
            .ok("GetMetricStatistics", statistics(start, kept))
            .await;
        assert_eq!(
            answered["Datapoints"],
            json!([{"Timestamp": secs(start), "Sum": sum, "Unit": "None"}]),
            "{kept} s from {start}"
        );
        let none = server.ok("GetMetricData", data(start, finer)).await;
        assert_eq!(
            none["MetricDataResults"][0]["Values"],
            json!([]),
            "{finer} s from {start}"
        );
        let answered = server.ok("GetMetricData", data(start, kept)).await;
        assert_eq!(
            answered["MetricDataResults"][0]["Values"],
            json!([sum]),
            "{kept} s from {start}"
        );
    }
}

/// Application Auto Scaling's alarms: created through the Rust API with the metrics' period
/// (1 s here, which PutMetricAlarm refuses), evaluated every period, their values readable by
/// the policy they trigger, and deleted with it.
#[tokio::test]
async fn managed_alarms_take_any_period_and_show_the_values_they_evaluate() {
    let server = start().await;
    let mut changes = server.metrics.subscribe();
    let name = "TargetTracking-service/default/web-AlarmHigh-1";
    let policy = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/ecs/service/default/web:policyName/p";
    let dimensions = vec![berth_cloudwatch::Dimension {
        name: "Service".into(),
        value: "web".into(),
    }];
    let alarm = berth_cloudwatch_wire::MetricAlarm {
        alarm_name: Some(name.into()),
        namespace: Some("App".into()),
        metric_name: Some("Requests".into()),
        dimensions: Some(vec![berth_cloudwatch_wire::Dimension {
            name: Some("Service".into()),
            value: Some("web".into()),
        }]),
        statistic: Some("Sum".into()),
        period: Some(1),
        evaluation_periods: Some(3),
        datapoints_to_alarm: Some(3),
        threshold: Some(10.0),
        comparison_operator: Some("GreaterThanThreshold".into()),
        actions_enabled: Some(true),
        alarm_actions: Some(vec![policy.into()]),
        ..Default::default()
    };
    server
        .metrics
        .put_managed_alarm("us-east-1", alarm, START)
        .await
        .unwrap();
    let described = server.alarm(name).await;
    assert_eq!(described["Period"], 1);
    assert_eq!(described["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(
        described["AlarmArn"],
        format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}")
    );

    let metric = berth_cloudwatch::MetricId::new("App", "Requests", dimensions);
    for second in 0..3 {
        let point = berth_cloudwatch::stats::Datapoint::of_values(
            START + second * 1_000 + 100,
            1,
            vec![(20.0 + second as f64, 1.0)],
            None,
        );
        server
            .metrics
            .put("us-east-1", vec![(metric.clone(), point)], START)
            .await
            .unwrap();
    }
    // Three 1-second periods above 10: ALARM, and the policy is told.
    assert_eq!(server.metrics.evaluate_due(START + 3_000).await.unwrap(), 1);
    assert_eq!(server.alarm(name).await["StateValue"], "ALARM");
    let change = changes.try_recv().unwrap();
    assert_eq!(change.new_state, StateValue::Alarm);
    assert_eq!(change.actions, vec![policy.to_owned()]);
    let alarms = server.metrics.alarms("us-east-1").await.unwrap();
    assert_eq!(
        server
            .metrics
            .alarm_values("us-east-1", &alarms[0], START + 3_000)
            .await
            .unwrap(),
        vec![20.0, 21.0, 22.0]
    );
    // A second later it is evaluated again (its slot is one period), and the window has moved.
    assert_eq!(server.metrics.evaluate_due(START + 3_500).await.unwrap(), 0);
    assert_eq!(server.metrics.evaluate_due(START + 4_000).await.unwrap(), 1);
    assert_eq!(
        server
            .metrics
            .alarm_values("us-east-1", &alarms[0], START + 4_000)
            .await
            .unwrap(),
        vec![21.0, 22.0]
    );

    // Replacing it keeps its state; deleting it removes it.
    let mut replaced = alarms[0].clone();
    replaced.threshold = Some(50.0);
    server
        .metrics
        .put_managed_alarm("us-east-1", replaced, START + 5_000)
        .await
        .unwrap();
    let described = server.alarm(name).await;
    assert_eq!(
        (
            described["StateValue"].clone(),
            described["Threshold"].clone()
        ),
        (json!("ALARM"), json!(50.0))
    );
    server
        .metrics
        .delete_managed_alarms("us-east-1", vec![name.into()])
        .await
        .unwrap();
    assert!(server.metrics.alarms("us-east-1").await.unwrap().is_empty());
}
