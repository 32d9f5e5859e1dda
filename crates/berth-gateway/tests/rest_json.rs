//! REST-JSON through a real gateway served in-process on port 0: a small service over
//! EventBridge Scheduler's model (no REST-JSON service is registered in Berth yet) echoes
//! GetSchedule's decoded input. Requests are signed as botocore signs them, and one test drives
//! botocore's own client against the server.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_aws::{AwsError, Clock};
use berth_gateway::{Authentication, Call, ConnectionLimits, Gateway, RootKey, Service};
use berth_sigv4::{Credentials, RequestParts};
use berth_wire::model::ServiceModel;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GetSchedule answers its decoded input as its output (GetScheduleOutput has the same `Name`
/// and `GroupName` members); every other operation finds nothing.
struct EchoScheduler;

#[async_trait]
impl Service for EchoScheduler {
    fn model(&self) -> &'static ServiceModel {
        &berth_scheduler_wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        call.authorize(&format!("scheduler:{}", call.operation), vec![], vec![])?;
        match call.operation {
            "GetSchedule" => Ok(call.input.to_vec()),
            other => Err(AwsError::new(
                404,
                "ResourceNotFoundException",
                format!("{other} found nothing"),
            )),
        }
    }
}

struct PinnedClock(f64);

impl Clock for PinnedClock {
    fn now(&self) -> f64 {
        self.0
    }
}

const NOW: f64 = 1_796_000_000.0;

const ROOT: Credentials<'static> = Credentials {
    access_key_id: "AKIDROOT",
    secret_access_key: "root-secret",
    session_token: None,
};

async fn start(clock: Arc<dyn Clock>) -> std::net::SocketAddr {
    let authentication = Authentication {
        identities: vec![Arc::new(RootKey {
            access_key_id: ROOT.access_key_id.into(),
            secret_access_key: ROOT.secret_access_key.into(),
            account_id: "123456789012".into(),
        })],
        accept_any_credentials: false,
        is_region: berth_aws::region::is_well_formed,
        account_id: "123456789012".into(),
    };
    let gateway = Arc::new(Gateway::new(
        vec![Arc::new(EchoScheduler)],
        authentication,
        Arc::new(berth_aws::authorization::RootOnly),
        clock,
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
    address
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// Sends one request (signed for `scheduler` at [`NOW`] unless `signed` is false).
async fn send(address: std::net::SocketAddr, method: &str, target: &str, signed: bool) -> Answer {
    let host = address.to_string();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    if signed {
        let payload = hex::encode(Sha256::digest(b""));
        let unsigned = [("host", host.as_bytes())];
        let parts = RequestParts {
            method,
            path,
            query,
            headers: &unsigned,
            payload_sha256: &payload,
        };
        let signed =
            berth_sigv4::sign_headers(&parts, &ROOT, "us-east-1", "scheduler", NOW as i64, false);
        for (name, value) in signed {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn a_labelled_path_decodes_into_the_input() {
    let address = start(Arc::new(PinnedClock(NOW))).await;
    let answer = send(
        address,
        "GET",
        "/schedules/nightly%20report%2F1?groupName=team-a&unmodelled=1",
        true,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.body,
        json!({"Name": "nightly report/1", "GroupName": "team-a"})
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused_in_rest_json_shape() {
    let address = start(Arc::new(PinnedClock(NOW))).await;
    let answer = send(address, "GET", "/no/such/thing", true).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.headers["x-amzn-errortype"],
        "UnknownOperationException"
    );
    assert_eq!(answer.body["__type"], "UnknownOperationException");
    assert_eq!(
        answer.body["message"],
        "No operation serves GET /no/such/thing"
    );

    let answer = send(address, "PATCH", "/schedules/x", true).await;
    assert_eq!(answer.status, 405);
    assert_eq!(
        answer.headers["x-amzn-errortype"],
        "UnknownOperationException"
    );
}

#[tokio::test]
async fn service_errors_and_bad_input_come_back_in_rest_json_shape() {
    let address = start(Arc::new(PinnedClock(NOW))).await;
    let answer = send(address, "GET", "/schedule-groups/default", true).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.headers["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
    assert_eq!(answer.body["message"], "GetScheduleGroup found nothing");

    let answer = send(address, "GET", "/schedules?MaxResults=ten", true).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["__type"], "SerializationException");
}

#[tokio::test]
async fn an_unsigned_request_gets_the_json_familys_signature_error() {
    let address = start(Arc::new(PinnedClock(NOW))).await;
    let answer = send(address, "GET", "/schedules/nightly", false).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(answer.body["message"], "Missing Authentication Token");
}

/// botocore's own client (as aws-cli and boto3 use it) against the gateway: its request routes
/// and decodes, and it reads both the output and a modelled error.
#[tokio::test]
async fn botocore_calls_the_gateway() {
    let address = start(Arc::new(berth_aws::SystemClock)).await;
    let script = r#"
import json, sys
import botocore.session
from botocore.exceptions import ClientError
client = botocore.session.get_session().create_client(
    "scheduler", region_name="us-east-1", endpoint_url=sys.argv[1],
    aws_access_key_id="AKIDROOT", aws_secret_access_key="root-secret")
out = client.get_schedule(Name="nightly report/1", GroupName="team a+b")
out.pop("ResponseMetadata")
try:
    client.get_schedule_group(Name="default")
    error = None
except ClientError as e:
    error = [e.response["Error"]["Code"], e.response["Error"]["Message"],
             e.response["ResponseMetadata"]["HTTPStatusCode"]]
print(json.dumps({"output": out, "error": error}))
"#;
    let endpoint = format!("http://{address}");
    let output = tokio::process::Command::new("python3")
        .args(["-c", script, &endpoint])
        .output()
        .await
        .expect("this test needs python3 with botocore installed (pip install botocore)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        result,
        json!({
            "output": {"Name": "nightly report/1", "GroupName": "team a+b"},
            "error": ["ResourceNotFoundException", "GetScheduleGroup found nothing", 404],
        })
    );
}
