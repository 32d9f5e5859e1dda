//! Application Auto Scaling behind Berth's gateway, for ECS services' desired count
//! (`ecs:service:DesiredCount`, resource ids `service/CLUSTER/SERVICE`): scalable targets,
//! target tracking and step scaling policies, scheduled actions, scaling activities and tags, per region, with
//! their records under `application-autoscaling/REGION/` in the state store ([`records`]).
//!
//! Target tracking policies create their two alarms in CloudWatch ([`Metrics::put_managed_alarm`],
//! visible in DescribeAlarms, with the server's metric period); the [`reconciler`] follows
//! every alarm whose actions name a policy, and while one is in ALARM invokes the policy once
//! per alarm period, as CloudWatch re-invokes scaling actions: the pure
//! [`berth_autoscaling::decide`] says what to do, and the desired count changes through
//! [`ScalableResources`], which the composition root implements over ECS's UpdateService
//! path, so this crate knows nothing of the ECS control plane.

mod api;
mod convert;
pub mod reconciler;
mod records;
mod scheduled;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_autoscaling_wire as wire;
use berth_aws::{AwsError, Clock};
use berth_cloudwatch_service::Metrics;
use berth_gateway::{Call, Service};
use berth_store::Store;
use berth_wire::model::ServiceModel;
use futures_util::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What Application Auto Scaling needs of ECS: read an ACTIVE service's desired count, and set
/// it the way UpdateService does (the service scheduler then converges).
pub trait ScalableResources: Send + Sync + 'static {
    /// The desired count of `cluster`'s service `service` in `region`; `None` when there is no
    /// such ACTIVE service.
    fn desired_count<'a>(
        &'a self,
        region: &'a str,
        cluster: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Option<i32>, AwsError>>;

    fn set_desired_count<'a>(
        &'a self,
        region: &'a str,
        cluster: &'a str,
        service: &'a str,
        count: i32,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// Application Auto Scaling for the one account this server serves: the API
/// ([`AutoScaling::service`]) and the reconciler ([`reconciler::run`]) share it.
pub struct AutoScaling {
    store: Arc<dyn Store>,
    account_id: String,
    resources: Arc<dyn ScalableResources>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    /// The period of the alarms target tracking creates: the server's `--metric-period`.
    metric_period: Duration,
    /// Regions with scalable targets, for the reconciler (learnt from the store at start and
    /// from RegisterScalableTarget).
    regions: Mutex<BTreeSet<String>>,
    /// Pokes the reconciler after a change it should act on at once.
    wake: tokio::sync::Notify,
    /// Policy invocations by alarms in ALARM, by what they did (for Prometheus: a policy that
    /// keeps being invoked without scaling is what cooldowns and capacity bounds look like
    /// from outside).
    invocations: Family<Invocation, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Invocation {
    /// `scaled`, `unchanged` (cooldown, capacity bounds or no breach left) or `failed` (the
    /// desired count could not be set).
    outcome: &'static str,
}

impl AutoScaling {
    pub fn new(
        store: Arc<dyn Store>,
        account_id: String,
        resources: Arc<dyn ScalableResources>,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
        metric_period: Duration,
    ) -> Arc<AutoScaling> {
        Arc::new(AutoScaling {
            store,
            account_id,
            resources,
            metrics,
            clock,
            metric_period,
            regions: Mutex::new(BTreeSet::new()),
            wake: tokio::sync::Notify::new(),
            invocations: Family::default(),
        })
    }

    /// Exports the policy invocations by outcome (`berth_autoscaling_policy_invocations_total`)
    /// in `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "berth_autoscaling_policy_invocations",
            "Scaling policy invocations by an alarm in ALARM, by outcome (scaled, unchanged, failed)",
            self.invocations.clone(),
        );
    }

    fn count_invocation(&self, outcome: &'static str) {
        self.invocations
            .get_or_create(&Invocation { outcome })
            .inc();
    }

    /// The API behind the gateway.
    pub fn service(self: &Arc<Self>) -> AutoScalingService {
        AutoScalingService(self.clone())
    }

    fn note_region(&self, region: &str) {
        self.regions
            .lock()
            .expect("regions")
            .insert(region.to_owned());
    }

    fn regions(&self) -> Vec<String> {
        self.regions
            .lock()
            .expect("regions")
            .iter()
            .cloned()
            .collect()
    }
}

/// The gateway's handle on [`AutoScaling`].
pub struct AutoScalingService(Arc<AutoScaling>);

#[async_trait]
impl Service for AutoScalingService {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let scaling = &self.0;
        match call.operation {
            "RegisterScalableTarget" => scaling.register_scalable_target(call).await,
            "DeregisterScalableTarget" => scaling.deregister_scalable_target(call).await,
            "DescribeScalableTargets" => scaling.describe_scalable_targets(call).await,
            "PutScalingPolicy" => scaling.put_scaling_policy(call).await,
            "DeleteScalingPolicy" => scaling.delete_scaling_policy(call).await,
            "DescribeScalingPolicies" => scaling.describe_scaling_policies(call).await,
            "DescribeScalingActivities" => scaling.describe_scaling_activities(call).await,
            "PutScheduledAction" => scaling.put_scheduled_action(call).await,
            "DeleteScheduledAction" => scaling.delete_scheduled_action(call).await,
            "DescribeScheduledActions" => scaling.describe_scheduled_actions(call).await,
            "TagResource" => scaling.tag_resource(call).await,
            "UntagResource" => scaling.untag_resource(call).await,
            "ListTagsForResource" => scaling.list_tags_for_resource(call).await,
            other => {
                call.authorize(
                    &format!("application-autoscaling:{other}"),
                    Vec::new(),
                    Vec::new(),
                )?;
                Err(AwsError::new(
                    400,
                    "UnknownOperationException",
                    format!(
                        "The operation {other} is not supported by Berth's Application Auto Scaling."
                    ),
                ))
            }
        }
    }
}
