//! What ECS services need of Elastic Load Balancing, behind a trait the composition root
//! implements over the elbv2 service: berth-control depends on no elbv2 crate, and handlers
//! and the scheduler reach target groups only through it.

use std::sync::Arc;

use berth_aws::AwsError;
use berth_ecs::load_balancers::TargetGroupFacts;
use futures_util::future::BoxFuture;

/// One registration of a task with a target group: the container instance's EC2 instance id
/// (bridge and host mode) and the host port of the container port's binding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub id: String,
    pub port: i32,
}

/// A registered target's health in its target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub target: Target,
    /// ALB's state: `initial`, `healthy`, `unhealthy`, `draining`, …
    pub state: String,
    /// Why it is not healthy, as ALB describes it.
    pub description: Option<String>,
}

/// Target groups of a region, as services use them.
pub trait LoadBalancing: Send + Sync + 'static {
    /// The target group `arn` of `region`, `None` when it does not exist.
    fn target_group<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<TargetGroupFacts>, AwsError>>;

    /// Registers `targets`; returns how many were not registered already.
    fn register<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        targets: Vec<Target>,
    ) -> BoxFuture<'a, Result<usize, AwsError>>;

    /// Deregisters `targets` at `now` (they drain for the group's deregistration delay);
    /// returns how many were registered.
    fn deregister<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        targets: Vec<Target>,
        now: f64,
    ) -> BoxFuture<'a, Result<usize, AwsError>>;

    /// The health of target group `arn`'s registered targets at `now`.
    fn health<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        now: f64,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, AwsError>>;
}

/// A control plane without Elastic Load Balancing (tests, or a binary that serves no elbv2):
/// no target group exists, so no service can name one.
pub struct NoLoadBalancing;

impl LoadBalancing for NoLoadBalancing {
    fn target_group<'a>(
        &'a self,
        _region: &'a str,
        _arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<TargetGroupFacts>, AwsError>> {
        Box::pin(async { Ok(None) })
    }

    fn register<'a>(
        &'a self,
        _region: &'a str,
        _arn: &'a str,
        _targets: Vec<Target>,
    ) -> BoxFuture<'a, Result<usize, AwsError>> {
        Box::pin(async { Ok(0) })
    }

    fn deregister<'a>(
        &'a self,
        _region: &'a str,
        _arn: &'a str,
        _targets: Vec<Target>,
        _now: f64,
    ) -> BoxFuture<'a, Result<usize, AwsError>> {
        Box::pin(async { Ok(0) })
    }

    fn health<'a>(
        &'a self,
        _region: &'a str,
        _arn: &'a str,
        _now: f64,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, AwsError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The default for control planes built without one.
pub fn none() -> Arc<dyn LoadBalancing> {
    Arc::new(NoLoadBalancing)
}
