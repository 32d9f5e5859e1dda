//! What ECS services need of target groups, as typed calls for the composition root: a target
//! group's type and load balancers (CreateService's checks), and registering and deregistering
//! a service's tasks — the same records and draining as RegisterTargets and DeregisterTargets,
//! without a request to decode.

use std::sync::Arc;

use berth_aws::AwsError;
use berth_elbv2::{self as elbv2, Elbv2Error, RegisteredTarget, Scope};
use berth_store::{Store, Txn, transact};

use crate::Failure;
use crate::store::{self, Tables};

/// A target group as a service's load balancer configuration needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTargetGroup {
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    /// The load balancers that forward to it (through a listener or a rule).
    pub load_balancer_arns: Vec<String>,
    /// How long a deregistered target drains, in seconds.
    pub deregistration_delay: u64,
}

/// The target group `arn` of `region`, if it exists.
pub async fn target_group(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
    arn: &str,
) -> Result<Option<ServiceTargetGroup>, AwsError> {
    let scope = Scope::new(account_id, region);
    let arn = arn.to_owned();
    transact(&*store, move |txn: &mut dyn Txn| {
        let mut tables = Tables::new(txn, scope.clone());
        let record = match tables.target_group(&arn) {
            Ok(record) => record,
            Err(Elbv2Error::TargetGroupNotFound) => return Ok(None),
            Err(err) => return Err(Failure::from(err)),
        };
        let load_balancer_arns = tables
            .associations()?
            .remove(&arn)
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Some(ServiceTargetGroup {
            deregistration_delay: elbv2::deregistration_delay(&record.attributes),
            target_type: record
                .target_group
                .target_type
                .unwrap_or_else(|| "instance".into()),
            load_balancer_arns,
        }))
    })
    .await
    .map_err(AwsError::from)
}

/// Registers `targets` (id, port) with target group `arn`; returns how many were not already
/// registered (a draining one is registered again, as RegisterTargets does).
pub async fn register(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
    arn: &str,
    targets: Vec<(String, i32)>,
) -> Result<usize, AwsError> {
    let scope = Scope::new(account_id, region);
    let arn = arn.to_owned();
    transact(&*store, move |txn: &mut dyn Txn| {
        let mut tables = Tables::new(txn, scope.clone());
        let record = tables.target_group(&arn)?;
        let group = &record.target_group;
        let name = group.target_group_name.clone().unwrap_or_default();
        let mut added = 0;
        for (id, port) in &targets {
            let description = berth_elbv2_wire::TargetDescription {
                id: Some(id.clone()),
                port: Some(*port),
                ..Default::default()
            };
            // A service's targets are its tasks' hosts or addresses, never in a VPC's blocks.
            let checked = elbv2::check_target(
                &description,
                group.target_type.as_deref().unwrap_or("instance"),
                group.port.unwrap_or(80),
                &[],
            )?;
            let key = store::target_key(&name, &checked.key());
            let existing: Option<RegisteredTarget> = tables.get(&key)?;
            if existing
                .as_ref()
                .is_some_and(|t| t.draining_until.is_none())
            {
                continue;
            }
            if existing.is_some() {
                tables.delete(&store::health_key(&name, &checked.key()));
            }
            tables.put(&key, &checked);
            added += 1;
        }
        Ok::<_, Failure>(added)
    })
    .await
    .map_err(AwsError::from)
}

/// Deregisters `targets` (id, port) from target group `arn`: they drain for the group's
/// deregistration delay while a load balancer uses the group, as DeregisterTargets does.
/// Targets not registered (or already draining) are left alone; returns how many began to
/// drain or were removed.
pub async fn deregister(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
    arn: &str,
    targets: Vec<(String, i32)>,
    now: f64,
) -> Result<usize, AwsError> {
    let scope = Scope::new(account_id, region);
    let arn = arn.to_owned();
    transact(&*store, move |txn: &mut dyn Txn| {
        let mut tables = Tables::new(txn, scope.clone());
        let record = match tables.target_group(&arn) {
            Ok(record) => record,
            // A group deleted since leaves nothing to deregister from.
            Err(Elbv2Error::TargetGroupNotFound) => return Ok(0),
            Err(err) => return Err(Failure::from(err)),
        };
        let name = record
            .target_group
            .target_group_name
            .clone()
            .unwrap_or_default();
        let in_use = tables.associations()?.contains_key(&arn);
        let delay = elbv2::deregistration_delay(&record.attributes);
        let mut removed = 0;
        for (id, port) in &targets {
            let key = elbv2::target_key(id, *port);
            let stored: Option<RegisteredTarget> = tables.get(&store::target_key(&name, &key))?;
            let Some(target) = stored.filter(|t| t.draining_until.is_none()) else {
                continue;
            };
            if in_use && delay > 0 {
                let draining = RegisteredTarget {
                    draining_until: Some(now + delay as f64),
                    ..target
                };
                tables.put(&store::target_key(&name, &key), &draining);
            } else {
                tables.delete(&store::target_key(&name, &key));
                tables.delete(&store::health_key(&name, &key));
            }
            removed += 1;
        }
        Ok::<_, Failure>(removed)
    })
    .await
    .map_err(AwsError::from)
}

/// One registered target's health, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthOf {
    pub id: String,
    pub port: i32,
    /// ALB's state: `initial`, `healthy`, `unhealthy`, `draining`, `unused`, `unavailable`.
    pub state: String,
    /// Why it is not healthy, as ALB describes it.
    pub description: Option<String>,
}

/// The health of target group `arn`'s registered targets at `now`; empty when the group does
/// not exist.
pub async fn health(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
    arn: &str,
    now: f64,
) -> Result<Vec<TargetHealthOf>, AwsError> {
    let scope = Scope::new(account_id, region);
    let arn = arn.to_owned();
    transact(&*store, move |txn: &mut dyn Txn| {
        let mut tables = Tables::new(txn, scope.clone());
        let record = match tables.target_group(&arn) {
            Ok(record) => record,
            Err(Elbv2Error::TargetGroupNotFound) => return Ok(Vec::new()),
            Err(err) => return Err(Failure::from(err)),
        };
        let name = record
            .target_group
            .target_group_name
            .clone()
            .unwrap_or_default();
        let in_use = tables.associations()?.contains_key(&arn);
        let checks_enabled = record.target_group.health_check_enabled != Some(false);
        let mut out = Vec::new();
        for target in tables.targets_of(&name)? {
            let recorded = tables.health_of(&name, &target.key())?;
            let health = elbv2::describe_health(
                Some(&target),
                in_use,
                checks_enabled,
                recorded.as_ref(),
                now,
            );
            out.push(TargetHealthOf {
                id: target.id.clone(),
                port: target.port,
                state: health.state.unwrap_or_default(),
                description: health.description,
            });
        }
        Ok::<_, Failure>(out)
    })
    .await
    .map_err(AwsError::from)
}
