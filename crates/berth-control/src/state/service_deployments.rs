//! Service deployment and service revision records: written when a deployment is made, settled
//! by the scheduler from the rollout of the `deployments[]` entry each tracks, forgotten with
//! their service.

use berth_ecs::arn::Partition;
use berth_ecs::status::ServiceDeploymentStatus;
use berth_ecs_wire::{
    ContainerImage, Deployment, LoadBalancer, Rollback, Service, ServiceCurrentRevisionSummary,
    ServiceDeployment, ServiceDeploymentCircuitBreaker, ServiceRevision, ServiceRevisionSummary,
    TaskDefinition,
};
use berth_store::Txn;
use serde::{Deserialize, Serialize};

use super::{keys, read, write};
use crate::ControlPlane;
use crate::error::ApiError;

/// A service deployment as stored, with the `deployments[]` entry whose rollout settles it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredServiceDeployment {
    pub deployment: ServiceDeployment,
    pub tracks: String,
}

/// One service deployment, by the id it shares with its `deployments[]` entry, read inside a
/// transaction.
pub fn read_deployment(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
) -> Result<Option<StoredServiceDeployment>, ApiError> {
    read(txn, &keys::service_deployment(cluster, service, id))
}

/// One service deployment, from the latest committed state.
pub async fn fetch_deployment(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
    id: &str,
) -> Result<Option<StoredServiceDeployment>, ApiError> {
    super::fetch(cp, &keys::service_deployment(cluster, service, id)).await
}

/// Writes one service deployment under the id it shares with its `deployments[]` entry.
pub fn write_deployment(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
    record: &StoredServiceDeployment,
) {
    write(txn, &keys::service_deployment(cluster, service, id), record);
}

/// The service deployments of one service that `keep` accepts, in id order, from the latest
/// committed state.
pub async fn of_service(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
    keep: impl FnMut(&StoredServiceDeployment) -> bool,
) -> Result<Vec<StoredServiceDeployment>, ApiError> {
    let prefix = keys::service_deployments_of(cluster, service);
    let (found, _) = super::scan(cp, &prefix, None, usize::MAX, keep).await?;
    Ok(found)
}

/// One service revision, read inside a transaction.
pub fn read_revision(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
) -> Result<Option<ServiceRevision>, ApiError> {
    read(txn, &keys::service_revision(cluster, service, id))
}

/// One service revision, from the latest committed state.
pub async fn fetch_revision(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
    id: &str,
) -> Result<Option<ServiceRevision>, ApiError> {
    super::fetch(cp, &keys::service_revision(cluster, service, id)).await
}

/// The target groups the tasks of the `deployments[]` entry `deployment_id` register in: those
/// of its service revision, or, for a rollback (which has none of its own), those of the
/// revision it restores. `None` when neither is known.
pub async fn load_balancers_of(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
    deployment_id: &str,
) -> Result<Option<Vec<LoadBalancer>>, ApiError> {
    let mut revision = fetch_revision(cp, cluster, service, number(deployment_id)).await?;
    if revision.is_none() {
        let restored = of_service(cp, cluster, service, |r| r.tracks == deployment_id)
            .await?
            .into_iter()
            .find_map(|r| r.deployment.rollback?.service_revision_arn);
        if let Some(arn) = restored {
            let id = arn.rsplit('/').next().unwrap_or_default();
            revision = fetch_revision(cp, cluster, service, id).await?;
        }
    }
    Ok(revision.map(|r| r.load_balancers.unwrap_or_default()))
}

/// The target groups of the revision `deployments[]` entry `deployment_id` deployed (for a
/// rollback, the revision it restored), read inside a transaction: what a rollback to it
/// restores.
pub fn revision_load_balancers(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    deployment_id: &str,
) -> Result<Option<Vec<LoadBalancer>>, ApiError> {
    let mut revision = read_revision(txn, cluster, service, number(deployment_id))?;
    if revision.is_none() {
        let restored = all_in(txn, cluster, service)?
            .into_iter()
            .filter(|(_, r)| r.tracks == deployment_id)
            .find_map(|(_, r)| r.deployment.rollback?.service_revision_arn);
        if let Some(arn) = restored {
            let id = arn.rsplit('/').next().unwrap_or_default();
            revision = read_revision(txn, cluster, service, id)?;
        }
    }
    Ok(revision.map(|r| r.load_balancers.unwrap_or_default()))
}

/// The numeric id shared by a `deployments[]` entry, its service deployment and its revision.
fn number(deployment_id: &str) -> &str {
    deployment_id
        .strip_prefix("ecs-svc/")
        .unwrap_or(deployment_id)
}

fn arn_of(partition: &Partition, kind: &str, cluster: &str, service: &str, id: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:{kind}/{cluster}/{service}/{id}",
        partition.region, partition.account_id
    )
}

fn revision_summary(arn: &str, requested: i32) -> ServiceRevisionSummary {
    ServiceRevisionSummary {
        arn: Some(arn.to_string()),
        requested_task_count: Some(requested),
        running_task_count: Some(0),
        pending_task_count: Some(0),
        ..ServiceRevisionSummary::default()
    }
}

/// Writes the service revision and service deployment of a new PRIMARY `deployment` of
/// `service` (whose `deployments[]` does not hold it yet), stops the one it supersedes, and
/// points the service at them.
/// `outgoing_load_balancers` are the target groups the superseded PRIMARY ran with (the
/// service's before this update), written to its revision: revisions stored before they kept
/// target groups say none, and that deployment's tasks must still leave its groups.
#[allow(clippy::too_many_arguments)]
pub fn record(
    txn: &mut dyn Txn,
    partition: &Partition,
    cluster: &str,
    service: &mut Service,
    deployment: &Deployment,
    definition: Option<&TaskDefinition>,
    outgoing_load_balancers: &[LoadBalancer],
    now: f64,
) -> Result<(), ApiError> {
    let name = service.service_name.clone().unwrap_or_default();
    let id = number(deployment.id.as_deref().unwrap_or_default()).to_string();
    let revision_arn = arn_of(partition, "service-revision", cluster, &name, &id);
    let revision = ServiceRevision {
        service_revision_arn: Some(revision_arn.clone()),
        service_arn: service.service_arn.clone(),
        cluster_arn: service.cluster_arn.clone(),
        task_definition: deployment.task_definition.clone(),
        launch_type: deployment.launch_type.clone(),
        // The deployment's target groups: the scheduler registers its tasks in these.
        load_balancers: Some(service.load_balancers.clone().unwrap_or_default()),
        service_registries: Some(Vec::new()),
        container_images: definition.map(|d| {
            d.container_definitions
                .iter()
                .flatten()
                .map(|c| ContainerImage {
                    container_name: c.name.clone(),
                    image: c.image.clone(),
                    image_digest: None,
                })
                .collect()
        }),
        created_at: Some(now),
        ..ServiceRevision::default()
    };
    write(txn, &keys::service_revision(cluster, &name, &id), &revision);
    let desired = service.desired_count.unwrap_or(0);
    let mut sources = Vec::new();
    if let Some(previous) = service.deployments.iter().flatten().next() {
        let previous_id = number(previous.id.as_deref().unwrap_or_default());
        pin_load_balancers(txn, cluster, &name, previous_id, outgoing_load_balancers)?;
        sources.push(revision_summary(
            &arn_of(partition, "service-revision", cluster, &name, previous_id),
            previous.running_count.unwrap_or(0),
        ));
        let key = keys::service_deployment(cluster, &name, previous_id);
        if let Some(mut superseded) = read::<StoredServiceDeployment>(txn, &key)?
            && superseded
                .deployment
                .status
                .as_deref()
                .and_then(ServiceDeploymentStatus::parse)
                .is_some_and(ServiceDeploymentStatus::is_unfinished)
        {
            superseded.deployment.status = Some(ServiceDeploymentStatus::Stopped.as_str().into());
            superseded.deployment.status_reason =
                Some("The service deployment was superseded by a newer one.".into());
            superseded.deployment.finished_at = Some(now);
            superseded.deployment.updated_at = Some(now);
            write(txn, &key, &superseded);
        }
    }
    let configuration = service.deployment_configuration.clone().unwrap_or_default();
    let breaker = configuration
        .deployment_circuit_breaker
        .clone()
        .unwrap_or_default();
    let deployment_arn = arn_of(partition, "service-deployment", cluster, &name, &id);
    let record = StoredServiceDeployment {
        deployment: ServiceDeployment {
            service_deployment_arn: Some(deployment_arn.clone()),
            service_arn: service.service_arn.clone(),
            cluster_arn: service.cluster_arn.clone(),
            created_at: Some(now),
            started_at: Some(now),
            updated_at: Some(now),
            status: Some(ServiceDeploymentStatus::InProgress.as_str().into()),
            target_service_revision: Some(revision_summary(&revision_arn, desired)),
            source_service_revisions: Some(sources),
            deployment_configuration: Some(configuration.clone()),
            deployment_circuit_breaker: Some(ServiceDeploymentCircuitBreaker {
                status: Some(
                    if breaker.enable == Some(true) {
                        "MONITORING"
                    } else {
                        "DISABLED"
                    }
                    .into(),
                ),
                failure_count: Some(0),
                threshold: Some(
                    berth_ecs::service::circuit_breaker_threshold(desired.max(0) as u32) as i32,
                ),
            }),
            ..ServiceDeployment::default()
        },
        tracks: deployment.id.clone().unwrap_or_default(),
    };
    write(txn, &keys::service_deployment(cluster, &name, &id), &record);
    service.current_service_deployment = Some(deployment_arn);
    service.current_service_revisions = Some(vec![ServiceCurrentRevisionSummary {
        arn: Some(revision_arn),
        requested_task_count: Some(desired),
        running_task_count: Some(0),
        pending_task_count: Some(0),
    }]);
    Ok(())
}

/// How a scheduler pass ended for the PRIMARY deployment, to settle its service deployment.
/// Each carries how many of the deployment's tasks failed (the circuit breaker's count).
pub enum Settled<'a> {
    Completed {
        failed_tasks: i32,
    },
    /// The circuit breaker tripped; with rollback, `deployments[]` got `rollback` (the new
    /// PRIMARY) restoring the revision of the completed deployment `source`.
    Failed {
        failed_tasks: i32,
        rollback: Option<(&'a Deployment, &'a str)>,
    },
}

/// Settles the service deployment that tracks `tracked` (a `deployments[]` id) after the
/// scheduler saw its rollout complete or fail.
pub fn settle(
    txn: &mut dyn Txn,
    partition: &Partition,
    cluster: &str,
    service: &str,
    tracked: &str,
    outcome: Settled,
    now: f64,
) -> Result<(), ApiError> {
    let failed_tasks = match outcome {
        Settled::Completed { failed_tasks } | Settled::Failed { failed_tasks, .. } => failed_tasks,
    };
    let records = all_in(txn, cluster, service)?;
    let Some((key, mut record)) = records.into_iter().find(|(_, r)| r.tracks == tracked) else {
        return Ok(());
    };
    let deployment = &mut record.deployment;
    deployment.updated_at = Some(now);
    let rolling_back = deployment
        .status
        .as_deref()
        .and_then(ServiceDeploymentStatus::parse)
        .is_some_and(ServiceDeploymentStatus::is_rolling_back);
    // The failures counted are the deployment's own, not those of the rollback it tracks now.
    if !rolling_back && let Some(breaker) = deployment.deployment_circuit_breaker.as_mut() {
        breaker.failure_count = Some(failed_tasks);
    }
    match outcome {
        Settled::Completed { .. } => {
            let status = if rolling_back {
                ServiceDeploymentStatus::RollbackSuccessful
            } else {
                ServiceDeploymentStatus::Successful
            };
            deployment.status = Some(status.as_str().into());
            deployment.finished_at = Some(now);
        }
        Settled::Failed { .. } if rolling_back => {
            deployment.status = Some(ServiceDeploymentStatus::RollbackFailed.as_str().into());
            deployment.finished_at = Some(now);
        }
        Settled::Failed { rollback: None, .. } => {
            deployment.status = Some(ServiceDeploymentStatus::Stopped.as_str().into());
            deployment.status_reason =
                Some("ECS deployment circuit breaker: tasks failed to start.".into());
            if let Some(breaker) = deployment.deployment_circuit_breaker.as_mut() {
                breaker.status = Some("TRIGGERED".into());
            }
            deployment.finished_at = Some(now);
        }
        Settled::Failed {
            rollback: Some((rollback, source)),
            ..
        } => {
            let source = arn_of(
                partition,
                "service-revision",
                cluster,
                service,
                number(source),
            );
            deployment.status = Some(ServiceDeploymentStatus::RollbackInProgress.as_str().into());
            deployment.status_reason =
                Some("ECS deployment circuit breaker: tasks failed to start.".into());
            if let Some(breaker) = deployment.deployment_circuit_breaker.as_mut() {
                breaker.status = Some("TRIGGERED".into());
            }
            deployment.rollback = Some(Rollback {
                reason: Some("ECS deployment circuit breaker: tasks failed to start.".into()),
                started_at: Some(now),
                service_revision_arn: Some(source),
            });
            record.tracks = rollback.id.clone().unwrap_or_default();
        }
    }
    write(txn, &key, &record);
    Ok(())
}

/// Makes the revision `id` name `load_balancers` when it names others.
fn pin_load_balancers(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
    load_balancers: &[LoadBalancer],
) -> Result<(), ApiError> {
    let key = keys::service_revision(cluster, service, id);
    if let Some(mut revision) = read::<ServiceRevision>(txn, &key)?
        && revision.load_balancers.as_deref().unwrap_or_default() != load_balancers
    {
        revision.load_balancers = Some(load_balancers.to_vec());
        write(txn, &key, &revision);
    }
    Ok(())
}

/// A service's deployments with their keys, inside a transaction.
fn all_in(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
) -> Result<Vec<(String, StoredServiceDeployment)>, ApiError> {
    let mut found = Vec::new();
    for kv in txn.range(
        &keys::service_deployments_of(cluster, service),
        None,
        usize::MAX,
    )? {
        found.push((kv.key.clone(), super::decode(&kv)?));
    }
    Ok(found)
}

/// Forgets a deleted service's deployments and revisions.
pub fn forget(txn: &mut dyn Txn, cluster: &str, service: &str) -> Result<(), ApiError> {
    for prefix in [
        keys::service_deployments_of(cluster, service),
        keys::service_revisions_of(cluster, service),
    ] {
        for kv in txn.range(&prefix, None, usize::MAX)? {
            txn.delete(&kv.key);
        }
    }
    Ok(())
}
