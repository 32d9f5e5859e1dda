//! `Elbv2Service::call` over a real SQLite store, as the gateway calls it, with the clock of
//! each call set by the test: the health contract with the data plane (outcomes recorded by
//! `record_target_health` show in DescribeTargetHealth) and draining that ends with the
//! deregistration delay.

use std::sync::Arc;

use berth_aws::authorization::RootOnly;
use berth_aws::{AwsError, Principal, RequestContext};
use berth_elbv2::{HealthResult, HealthState};
use berth_elbv2_service::{Elbv2Service, record_target_health};
use berth_gateway::{Call, Protocol, Service};
use berth_store::Store;
use berth_store_sqlite::SqliteStore;
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const START: f64 = 1_800_000_000.0;

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    service: Elbv2Service,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    Env {
        service: Elbv2Service::new(store.clone(), ACCOUNT.to_owned()),
        store,
        _dir: dir,
    }
}

impl Env {
    async fn call_at(&self, at: f64, operation: &str, input: Value) -> Result<Value, AwsError> {
        let context = RequestContext {
            request_id: "test".to_owned(),
            region: "us-east-1".to_owned(),
            principal: Principal::root(ACCOUNT),
            access_key_id: "AKIDTEST".to_owned(),
            session_token: None,
            source_ip: None,
            received_at: at,
        };
        let body = serde_json::to_vec(&input).unwrap();
        let call = Call::new(
            &context,
            operation,
            &body,
            Protocol::Query(Some(&berth_elbv2_wire::MODEL)),
            &RootOnly,
        );
        let output = self.service.call(&call).await?;
        Ok(serde_json::from_slice(&output).unwrap())
    }

    async fn ok_at(&self, at: f64, operation: &str, input: Value) -> Value {
        self.call_at(at, operation, input)
            .await
            .unwrap_or_else(|err| panic!("{operation} failed: {err:?}"))
    }

    async fn ok(&self, operation: &str, input: Value) -> Value {
        self.ok_at(START, operation, input).await
    }

    /// A load balancer in the default network with an HTTP listener forwarding to a new
    /// target group, which has one registered instance target; returns the group's ARN.
    async fn group_in_use(&self) -> String {
        let lb = self.ok("CreateLoadBalancer", json!({"Name": "web"})).await;
        let lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"].clone();
        let vpc = lb["LoadBalancers"][0]["VpcId"].clone();
        let tg = self
            .ok(
                "CreateTargetGroup",
                json!({"Name": "web", "Protocol": "HTTP", "Port": 80, "VpcId": vpc}),
            )
            .await;
        let tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ok(
            "CreateListener",
            json!({"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 80,
                   "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg_arn}]}),
        )
        .await;
        self.ok(
            "RegisterTargets",
            json!({"TargetGroupArn": tg_arn, "Targets": [{"Id": "i-0123456789abcdef0"}]}),
        )
        .await;
        tg_arn
    }

    async fn health_at(&self, at: f64, tg_arn: &str) -> Vec<(String, String, String)> {
        let described = self
            .ok_at(
                at,
                "DescribeTargetHealth",
                json!({"TargetGroupArn": tg_arn}),
            )
            .await;
        described["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let health = &d["TargetHealth"];
                (
                    d["Target"]["Id"].as_str().unwrap().to_owned(),
                    health["State"].as_str().unwrap().to_owned(),
                    health["Reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn target(state: &str, reason: &str) -> Vec<(String, String, String)> {
    vec![(
        "i-0123456789abcdef0".to_owned(),
        state.to_owned(),
        reason.to_owned(),
    )]
}

#[tokio::test]
async fn recorded_health_shows_until_the_target_drains_away() {
    let env = env();
    let tg_arn = env.group_in_use().await;
    assert_eq!(
        env.health_at(START, &tg_arn).await,
        target("initial", "Elb.RegistrationInProgress")
    );

    let unhealthy = HealthResult {
        state: HealthState::Unhealthy,
        reason: Some("Target.ResponseCodeMismatch".into()),
        description: Some("Health checks failed with these codes: [503]".into()),
    };
    record_target_health(
        env.store.clone(),
        ACCOUNT,
        "us-east-1",
        &tg_arn,
        "i-0123456789abcdef0",
        80,
        unhealthy,
    )
    .await
    .unwrap();
    assert_eq!(
        env.health_at(START, &tg_arn).await,
        target("unhealthy", "Target.ResponseCodeMismatch")
    );
    let healthy = HealthResult {
        state: HealthState::Healthy,
        reason: None,
        description: None,
    };
    record_target_health(
        env.store.clone(),
        ACCOUNT,
        "us-east-1",
        &tg_arn,
        "i-0123456789abcdef0",
        80,
        healthy.clone(),
    )
    .await
    .unwrap();
    assert_eq!(env.health_at(START, &tg_arn).await, target("healthy", ""));
    // An outcome for a target that is not registered is dropped.
    record_target_health(
        env.store.clone(),
        ACCOUNT,
        "us-east-1",
        &tg_arn,
        "i-00000000",
        80,
        healthy,
    )
    .await
    .unwrap();
    assert_eq!(env.health_at(START, &tg_arn).await.len(), 1);

    // Deregistered, the target drains for the default 300 s, then is gone.
    env.ok_at(
        START + 10.0,
        "DeregisterTargets",
        json!({"TargetGroupArn": tg_arn, "Targets": [{"Id": "i-0123456789abcdef0"}]}),
    )
    .await;
    assert_eq!(
        env.health_at(START + 309.0, &tg_arn).await,
        target("draining", "Target.DeregistrationInProgress")
    );
    assert_eq!(env.health_at(START + 311.0, &tg_arn).await, vec![]);
    // Registered again after draining, it starts over without its old health.
    env.ok_at(
        START + 320.0,
        "RegisterTargets",
        json!({"TargetGroupArn": tg_arn, "Targets": [{"Id": "i-0123456789abcdef0"}]}),
    )
    .await;
    assert_eq!(
        env.health_at(START + 320.0, &tg_arn).await,
        target("initial", "Elb.RegistrationInProgress")
    );
}

#[tokio::test]
async fn unknown_group_and_malformed_input() {
    let env = env();
    let missing =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/0123456789abcdef";
    let err = env
        .call_at(
            START,
            "DescribeTargetHealth",
            json!({"TargetGroupArn": missing}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (400, "TargetGroupNotFound")
    );
    let err = env
        .call_at(START, "CreateTargetGroup", json!({"Protocol": "HTTP"}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "ValidationError");
    assert!(err.message.contains("Name"), "{}", err.message);
}

/// Ports below 1024 cannot be served, as for an unprivileged process.
struct UnprivilegedPorts;

impl berth_elbv2_service::ListenerPorts for UnprivilegedPorts {
    fn check(&self, port: u16) -> Result<(), String> {
        if port < 1024 {
            Err("ports below 1024 need privilege".into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_listener_on_a_port_the_data_plane_cannot_serve_is_refused() {
    let mut env = env();
    env.service = Elbv2Service::new(env.store.clone(), ACCOUNT.to_owned())
        .with_listener_ports(Arc::new(UnprivilegedPorts));
    let lb = env.ok("CreateLoadBalancer", json!({"Name": "web"})).await;
    let lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"].clone();
    let fixed = json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]);
    let refused = env
        .call_at(
            START,
            "CreateListener",
            json!({"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 80, "DefaultActions": fixed}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "InvalidConfigurationRequest");
    assert_eq!(
        refused.message,
        "Port 80 cannot be used for a listener: ports below 1024 need privilege"
    );
    let listeners = env
        .ok("DescribeListeners", json!({"LoadBalancerArn": lb_arn}))
        .await;
    assert_eq!(listeners["Listeners"], json!([]));

    let listener = env
        .ok(
            "CreateListener",
            json!({"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 8080, "DefaultActions": fixed}),
        )
        .await;
    let listener_arn = listener["Listeners"][0]["ListenerArn"].clone();
    let refused = env
        .call_at(
            START,
            "ModifyListener",
            json!({"ListenerArn": listener_arn, "Port": 443}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "InvalidConfigurationRequest");
}
