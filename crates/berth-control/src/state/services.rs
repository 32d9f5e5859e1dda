//! Services as records: how a new deployment is minted and made PRIMARY, and how events are
//! kept — shared by the service handlers, StopServiceDeployment's rollback and the scheduler.

use berth_ecs::status::{DeploymentStatus, RolloutState};
use berth_ecs_wire::{Deployment, Service, ServiceEvent, TaskDefinition};
use berth_store::Txn;
use rand::Rng;

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// ECS keeps a service's 100 most recent events.
const EVENT_LIMIT: usize = 100;
/// A repeated event message is not recorded again within this many seconds.
const EVENT_REPEAT_SECS: f64 = 6.0 * 3600.0;

/// One service, read inside a transaction, whatever its status.
pub fn read(txn: &mut dyn Txn, cluster: &str, name: &str) -> Result<Option<Service>, ApiError> {
    super::read(txn, &keys::service(cluster, name))
}

/// One service, from the latest committed state, whatever its status.
pub async fn fetch(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
) -> Result<Option<Service>, ApiError> {
    super::fetch(cp, &keys::service(cluster, name)).await
}

/// Writes the service `name` of `cluster`.
pub fn write(txn: &mut dyn Txn, cluster: &str, name: &str, service: &Service) {
    super::write(txn, &keys::service(cluster, name), service);
}

/// Every service of `cluster`, whatever its status, read inside a transaction.
pub fn in_cluster(txn: &mut dyn Txn, cluster: &str) -> Result<Vec<Service>, ApiError> {
    txn.range(&keys::services_of(cluster), None, usize::MAX)?
        .iter()
        .map(super::decode)
        .collect()
}

/// One page of the services of `cluster` that `keep` accepts, in name order, starting after the
/// pagination key `after`; also returns the key to resume from when more may follow.
pub async fn page(
    cp: &ControlPlane,
    cluster: &str,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&Service) -> bool,
) -> Result<(Vec<Service>, Option<String>), ApiError> {
    super::scan(cp, &keys::services_of(cluster), after, page, keep).await
}

/// Every service of every cluster as `(cluster, name, service)`, from the latest committed
/// state. Each record is decoded only when the caller reaches it, so an unreadable one stops
/// the caller there and not before.
pub async fn everywhere(
    cp: &ControlPlane,
) -> Result<impl Iterator<Item = Result<(String, String, Service), ApiError>>, ApiError> {
    let records = cp.store.range(keys::SERVICES, None, usize::MAX).await?;
    Ok(records.into_iter().filter_map(|record| {
        let service = match super::decode::<Service>(&record) {
            Ok(service) => service,
            Err(err) => return Some(Err(err)),
        };
        let (cluster, name) = record
            .key
            .strip_prefix(keys::SERVICES)
            .and_then(|rest| rest.split_once('/'))?;
        Some(Ok((cluster.to_string(), name.to_string(), service)))
    }))
}

/// The clientToken the service was created with, read inside a transaction.
pub fn creation_token(
    txn: &mut dyn Txn,
    cluster: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    super::read(txn, &keys::service_token(cluster, name))
}

/// Records the clientToken the service was created with, so a retried CreateService returns it.
pub fn write_creation_token(txn: &mut dyn Txn, cluster: &str, name: &str, token: &str) {
    super::write(txn, &keys::service_token(cluster, name), &token);
}

/// The id of the task set a CreateTaskSet clientToken created, read inside a transaction.
pub fn task_set_token(
    txn: &mut dyn Txn,
    cluster: &str,
    name: &str,
    token: &str,
) -> Result<Option<String>, ApiError> {
    super::read(txn, &keys::task_set_token(cluster, name, token))
}

/// Records the task set a CreateTaskSet clientToken created.
pub fn write_task_set_token(txn: &mut dyn Txn, cluster: &str, name: &str, token: &str, id: &str) {
    super::write(txn, &keys::task_set_token(cluster, name, token), &id);
}

/// Records when UpdateService last ran: the scheduler's launch backoff counts failures since.
pub fn write_updated_at(txn: &mut dyn Txn, cluster: &str, name: &str, now: f64) {
    super::write(txn, &keys::service_updated(cluster, name), &now);
}

/// When UpdateService last ran on the service, if it ever did.
pub async fn fetch_updated_at(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
) -> Result<Option<f64>, ApiError> {
    super::fetch(cp, &keys::service_updated(cluster, name)).await
}

/// A new deployment's id: `ecs-svc/` and 19 digits, as ECS mints them.
pub fn deployment_id() -> String {
    let mut rng = rand::rng();
    format!(
        "ecs-svc/{}{:018}",
        rng.random_range(1..10),
        rng.random_range(0..1_000_000_000_000_000_000u64)
    )
}

/// A new PRIMARY deployment of `task_definition`.
/// A new PRIMARY deployment of `task_definition` with the id `id` (from [`deployment_id`],
/// minted outside any transaction).
pub fn new_deployment(
    service: &Service,
    task_definition: &str,
    id: String,
    now: f64,
) -> Deployment {
    Deployment {
        rollout_state_reason: Some(format!("ECS deployment {id} in progress.")),
        id: Some(id),
        status: Some(DeploymentStatus::Primary.as_str().into()),
        task_definition: Some(task_definition.to_string()),
        desired_count: service.desired_count,
        pending_count: Some(0),
        running_count: Some(0),
        failed_tasks: Some(0),
        created_at: Some(now),
        updated_at: Some(now),
        launch_type: service.launch_type.clone(),
        rollout_state: Some(RolloutState::InProgress.as_str().into()),
        ..Deployment::default()
    }
}

/// Makes `deployment` the PRIMARY: the current PRIMARY becomes ACTIVE.
pub fn deploy(service: &mut Service, deployment: Deployment) {
    let deployments = service.deployments.get_or_insert_with(Vec::new);
    for existing in deployments.iter_mut() {
        existing.status = Some(DeploymentStatus::Active.as_str().into());
    }
    deployments.insert(0, deployment);
}

/// Adds an event (newest first, at most 100), unless the newest event already says the same
/// thing and is recent: ECS suppresses repeats.
pub fn record_event(service: &mut Service, message: String, now: f64) {
    let events = service.events.get_or_insert_with(Vec::new);
    if events.first().is_some_and(|newest| {
        newest.message.as_deref() == Some(message.as_str())
            && now - newest.created_at.unwrap_or(0.0) < EVENT_REPEAT_SECS
    }) {
        return;
    }
    events.insert(
        0,
        ServiceEvent {
            id: Some(uuid::Uuid::new_v4().to_string()),
            created_at: Some(now),
            message: Some(message),
        },
    );
    events.truncate(EVENT_LIMIT);
}

/// Whether the task definition makes its tasks' health depend on container health checks.
pub fn health_checked(definition: &TaskDefinition) -> bool {
    definition
        .container_definitions
        .iter()
        .flatten()
        .any(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
}
