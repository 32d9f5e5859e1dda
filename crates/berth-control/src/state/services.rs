//! Services as records: how a new deployment is minted and made PRIMARY, and how events are
//! kept — shared by the service handlers, StopServiceDeployment's rollback and the scheduler.

use berth_ecs_wire::{Deployment, Service, ServiceEvent, TaskDefinition};
use rand::Rng;

/// ECS keeps a service's 100 most recent events.
const EVENT_LIMIT: usize = 100;
/// A repeated event message is not recorded again within this many seconds.
const EVENT_REPEAT_SECS: f64 = 6.0 * 3600.0;

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
        status: Some("PRIMARY".into()),
        task_definition: Some(task_definition.to_string()),
        desired_count: service.desired_count,
        pending_count: Some(0),
        running_count: Some(0),
        failed_tasks: Some(0),
        created_at: Some(now),
        updated_at: Some(now),
        launch_type: service.launch_type.clone(),
        rollout_state: Some("IN_PROGRESS".into()),
        ..Deployment::default()
    }
}

/// Makes `deployment` the PRIMARY: the current PRIMARY becomes ACTIVE.
pub fn deploy(service: &mut Service, deployment: Deployment) {
    let deployments = service.deployments.get_or_insert_with(Vec::new);
    for existing in deployments.iter_mut() {
        existing.status = Some("ACTIVE".into());
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
