//! The Elastic Load Balancing v2 API for Application Load Balancers behind Berth's gateway:
//! load balancers, target groups and their targets, listeners and rules, attributes, tags,
//! listener certificates and the account's limits.
//!
//! Each call decodes its generated input shape, checks the model's constraints, passes the
//! authorization hook, reads the region's EC2 network, and runs ALB's rules from `berth-elbv2`
//! inside one store transaction over the region's keys `elbv2/{region}/` (which also reads
//! ACM's certificates where a listener names them, so the check and the write are one step). Ids are drawn before the transaction, so a re-run of
//! the closure writes the same records. The data plane reads the same records (see [`store`])
//! and writes health-check outcomes through [`record_target_health`].

mod certificates;
pub mod data_plane;
mod listeners;
mod load_balancers;
pub mod metrics;
pub mod registrations;
pub mod store;
mod tags;
mod target_groups;

use std::sync::Arc;

use async_trait::async_trait;
use berth_aws::{AwsError, ServiceError};
use berth_elbv2::{Elbv2Error, HealthResult, Scope};
use berth_elbv2_wire as wire;
use berth_gateway::{Call, Service};
use berth_store::{Store, StoreError, Txn, transact};
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use certificates::CertificateUsersOfListeners;
use store::Tables;

/// Elastic Load Balancing v2 over one store, for the one account this server serves.
pub struct Elbv2Service {
    store: Arc<dyn Store>,
    account_id: String,
    ports: Option<Arc<dyn ListenerPorts>>,
}

/// Whether the load balancers' data plane can serve a listener on a port (not privileged
/// without the right to bind it, not another process's). CreateListener and ModifyListener ask
/// before they store a listener, so a port that cannot be served is refused with the reason
/// and how to allow it, instead of a listener that never carries traffic.
pub trait ListenerPorts: Send + Sync + 'static {
    fn check(&self, port: u16) -> Result<(), String>;
}

/// Why a transaction failed: ALB's rules refused, or the store did.
enum Failure {
    Elbv2(Elbv2Error),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

impl From<Elbv2Error> for Failure {
    fn from(err: Elbv2Error) -> Self {
        Failure::Elbv2(err)
    }
}

impl From<Failure> for AwsError {
    fn from(failure: Failure) -> AwsError {
        match failure {
            Failure::Elbv2(err) => err.to_aws_error(),
            Failure::Store(err) => Elbv2Error::Internal(err.to_string()).to_aws_error(),
        }
    }
}

fn error(err: Elbv2Error) -> AwsError {
    err.to_aws_error()
}

/// The request's input shape; unreadable input and model violations are `ValidationError`, as
/// Elastic Load Balancing words them.
fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input).map_err(|err| {
        error(Elbv2Error::Validation(format!(
            "Could not read the request: {err}"
        )))
    })?;
    request
        .check()
        .map_err(|message| error(Elbv2Error::Validation(message)))?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

/// A page of `items` (in key order) after `marker`, at most `page_size` of them (the model
/// bounds it to 1–400), and the marker of the next page when more remain. Markers are the key
/// of the last item returned, so a page stays valid while records come and go.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    page_size: Option<i32>,
) -> (Vec<T>, Option<String>) {
    let size = page_size.unwrap_or(400).clamp(1, 400) as usize;
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| marker.is_none_or(|m| key(item).as_str() > m))
        .collect();
    if rest.len() <= size {
        return (rest, None);
    }
    rest.truncate(size);
    let next = rest.last().map(&key);
    (rest, next)
}

/// Random 64-bit values for new resources' ids, drawn before a transaction.
fn fresh_ids() -> [u64; 4] {
    rand::random()
}

impl Elbv2Service {
    pub fn new(store: Arc<dyn Store>, account_id: String) -> Elbv2Service {
        Elbv2Service {
            store,
            account_id,
            ports: None,
        }
    }

    /// Listeners are refused on ports `ports` says cannot be served.
    pub fn with_listener_ports(mut self, ports: Arc<dyn ListenerPorts>) -> Elbv2Service {
        self.ports = Some(ports);
        self
    }

    fn check_port(&self, port: i32) -> Result<(), AwsError> {
        let (Some(ports), Ok(port)) = (&self.ports, u16::try_from(port)) else {
            return Ok(());
        };
        ports.check(port).map_err(|reason| {
            error(Elbv2Error::InvalidConfigurationRequest(format!(
                "Port {port} cannot be used for a listener: {reason}"
            )))
        })
    }

    fn scope(&self, call: &Call<'_>) -> Scope {
        Scope::new(&self.account_id, &call.context.region)
    }

    /// Runs `operation` in one transaction over the call's region.
    async fn run<T, F>(&self, scope: Scope, mut operation: F) -> Result<T, AwsError>
    where
        T: Send + 'static,
        F: FnMut(&mut Tables<'_>) -> Result<T, Elbv2Error> + Send + 'static,
    {
        transact(&*self.store, move |txn: &mut dyn Txn| {
            let mut tables = Tables::new(txn, scope.clone());
            operation(&mut tables).map_err(Failure::from)
        })
        .await
        .map_err(AwsError::from)
    }

    /// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:RESOURCE`, for authorization of resources
    /// that do not exist yet.
    fn arn(&self, call: &Call<'_>, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{resource}",
            call.context.region, self.account_id
        )
    }
}

#[async_trait]
impl Service for Elbv2Service {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        match call.operation {
            "CreateLoadBalancer" => self.create_load_balancer(call).await,
            "DescribeLoadBalancers" => self.describe_load_balancers(call).await,
            "DeleteLoadBalancer" => self.delete_load_balancer(call).await,
            "DescribeLoadBalancerAttributes" => self.describe_load_balancer_attributes(call).await,
            "ModifyLoadBalancerAttributes" => self.modify_load_balancer_attributes(call).await,
            "DescribeAccountLimits" => self.describe_account_limits(call).await,
            "CreateTargetGroup" => self.create_target_group(call).await,
            "ModifyTargetGroup" => self.modify_target_group(call).await,
            "DescribeTargetGroups" => self.describe_target_groups(call).await,
            "DeleteTargetGroup" => self.delete_target_group(call).await,
            "DescribeTargetGroupAttributes" => self.describe_target_group_attributes(call).await,
            "ModifyTargetGroupAttributes" => self.modify_target_group_attributes(call).await,
            "RegisterTargets" => self.register_targets(call).await,
            "DeregisterTargets" => self.deregister_targets(call).await,
            "DescribeTargetHealth" => self.describe_target_health(call).await,
            "CreateListener" => self.create_listener(call).await,
            "ModifyListener" => self.modify_listener(call).await,
            "DeleteListener" => self.delete_listener(call).await,
            "DescribeListeners" => self.describe_listeners(call).await,
            "AddListenerCertificates" => self.add_listener_certificates(call).await,
            "RemoveListenerCertificates" => self.remove_listener_certificates(call).await,
            "DescribeListenerCertificates" => self.describe_listener_certificates(call).await,
            "DescribeSSLPolicies" => self.describe_ssl_policies(call).await,
            "CreateRule" => self.create_rule(call).await,
            "ModifyRule" => self.modify_rule(call).await,
            "DeleteRule" => self.delete_rule(call).await,
            "DescribeRules" => self.describe_rules(call).await,
            "SetRulePriorities" => self.set_rule_priorities(call).await,
            "AddTags" => self.add_tags(call).await,
            "RemoveTags" => self.remove_tags(call).await,
            "DescribeTags" => self.describe_tags(call).await,
            other => {
                call.authorize(
                    &format!("elasticloadbalancing:{other}"),
                    Vec::new(),
                    Vec::new(),
                )?;
                Err(AwsError::new(
                    400,
                    "InvalidAction",
                    format!("The action {other} is not valid for this web service."),
                ))
            }
        }
    }
}

/// Records the outcome of health checks of one target (`target` is `ID:PORT`), for
/// DescribeTargetHealth to report: the data plane's health checker calls it whenever a target's
/// state changes. An outcome for a target that is no longer registered is dropped.
pub async fn record_target_health(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
    target_group_arn: &str,
    target_id: &str,
    port: i32,
    result: HealthResult,
) -> Result<(), AwsError> {
    let scope = Scope::new(account_id, region);
    let arn = target_group_arn.to_owned();
    let target = berth_elbv2::target_key(target_id, port);
    transact(&*store, move |txn: &mut dyn Txn| {
        let mut tables = Tables::new(txn, scope.clone());
        let group = tables.target_group(&arn)?;
        let name = group.target_group.target_group_name.unwrap_or_default();
        let registered: Option<berth_elbv2::RegisteredTarget> =
            tables.get(&store::target_key(&name, &target))?;
        if registered.is_some() {
            tables.put(&store::health_key(&name, &target), &result);
        }
        Ok::<_, Failure>(())
    })
    .await
    .map_err(AwsError::from)
}

#[cfg(test)]
mod tests {
    use super::page;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pages_follow_the_marker_of_the_last_item() {
        let all = names(&["a", "b", "c"]);
        let key = |s: &String| s.clone();
        let (first, marker) = page(all.clone(), key, None, Some(2));
        assert_eq!((first, marker.as_deref()), (names(&["a", "b"]), Some("b")));
        let (rest, marker) = page(all.clone(), key, Some("b"), Some(2));
        assert_eq!((rest, marker), (names(&["c"]), None));
        // A page exactly as long as what is left has no next marker.
        let (whole, marker) = page(all.clone(), key, None, Some(3));
        assert_eq!((whole.len(), marker), (3, None));
        // Records gone since the marker was issued do not shift the next page.
        let (after_delete, _) = page(names(&["a", "c"]), key, Some("b"), Some(2));
        assert_eq!(after_delete, names(&["c"]));
        assert_eq!(page(all, key, None, None).0.len(), 3);
    }
}
