//! Task sets of services deployed by an external controller (`EXTERNAL`, `CODE_DEPLOY`):
//! CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet and
//! UpdateServicePrimaryTaskSet. A task set lives in its service's record (`taskSets[]`), so a
//! DescribeServices shows it and the service scheduler reads it with the service; these
//! handlers only record what is wanted, and the scheduler runs each task set's
//! `computedDesiredCount` of tasks (`startedBy` the task set's id).

use berth_ecs::EcsError;
use berth_ecs::error::invalid;
use berth_ecs::status::ServiceStatus;
use berth_ecs::task_set::{
    self, Controller, LIMIT, TaskSetStatus, not_task_set_service, task_set_id,
};
use berth_ecs_wire::{
    CreateTaskSetRequest, CreateTaskSetResponse, DeleteTaskSetRequest, DeleteTaskSetResponse,
    DescribeTaskSetsRequest, DescribeTaskSetsResponse, Service, TaskSet,
    UpdateServicePrimaryTaskSetRequest, UpdateServicePrimaryTaskSetResponse, UpdateTaskSetRequest,
    UpdateTaskSetResponse,
};
use berth_store::{Txn, transact};

use super::missing;
use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::{clusters, services, tags, task_definitions};

fn service_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// The service a task set action names, read inside its transaction: it must exist, be ACTIVE
/// and be deployed through task sets.
fn task_set_service(txn: &mut dyn Txn, cluster: &str, name: &str) -> Result<Service, ApiError> {
    let service = services::read(txn, cluster, name)?
        .filter(|s| s.status.as_deref() != Some(ServiceStatus::Inactive.as_str()))
        .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
    if service.status.as_deref() != Some(ServiceStatus::Active.as_str()) {
        return Err(EcsError::ServiceNotActive("Service was not ACTIVE.".into()).into());
    }
    if !controller_of(&service).uses_task_sets() {
        return Err(not_task_set_service().into());
    }
    Ok(service)
}

fn controller_of(service: &Service) -> Controller {
    Controller::of(
        service
            .deployment_controller
            .as_ref()
            .and_then(|c| c.r#type.as_deref()),
    )
}

/// The task set `id` of the service, unless it is deleted (DRAINING).
fn live_task_set<'a>(service: &'a mut Service, id: &str) -> Result<&'a mut TaskSet, ApiError> {
    service
        .task_sets
        .iter_mut()
        .flatten()
        .find(|s| {
            s.id.as_deref() == Some(id)
                && s.status.as_deref() != Some(TaskSetStatus::Draining.as_str())
        })
        .ok_or_else(|| EcsError::TaskSetNotFound.into())
}

pub async fn create(
    cp: &ControlPlane,
    request: CreateTaskSetRequest,
) -> Result<CreateTaskSetResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let name = service_name(request.service.as_deref().unwrap_or_default()).to_string();
    berth_ecs::placement::check_launch_target(
        request.launch_type.as_deref(),
        request.capacity_provider_strategy.as_deref(),
        request.platform_version.as_deref(),
    )?;
    if request
        .load_balancers
        .as_ref()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(EcsError::UnsupportedFeature(
            "Load balancers on task sets are not supported yet.".into(),
        )
        .into());
    }
    if request
        .service_registries
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(EcsError::UnsupportedFeature(
            "Service discovery registries are not supported yet.".into(),
        )
        .into());
    }
    if request.platform_version.is_some() {
        return Err(invalid(
            "The platform version must be null when specifying an EC2 launch type.",
        )
        .into());
    }
    let scale = task_set::scale(request.scale.as_ref())?;
    let tags = request.tags.clone().unwrap_or_default();
    berth_ecs::tags::check_user_tags(&tags)?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let definition = task_definitions::resolve_for_service(
        cp,
        request.task_definition.as_deref().unwrap_or_default(),
    )
    .await?;
    // Services run bridge, host or none tasks today: a network configuration is awsvpc's.
    if request.network_configuration.is_some() {
        return Err(invalid(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        )
        .into());
    }
    let id = services::deployment_id();
    let now = cp.clock.now();
    let token = request.client_token.clone();
    let external_id = request.external_id.clone();
    let definition_arn = definition.task_definition_arn.clone().unwrap_or_default();
    let partition = cp.partition.clone();
    let created = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut service = task_set_service(txn, &cluster, &name)?;
        // A retry of the same call (same clientToken) gets the task set it created.
        if let Some(token) = &token
            && let Some(earlier) = services::task_set_token(txn, &cluster, &name, token)?
            && let Some(set) = service
                .task_sets
                .iter()
                .flatten()
                .find(|s| s.id.as_deref() == Some(earlier.as_str()))
        {
            return Ok((
                set.clone(),
                tags::read(txn, set.task_set_arn.as_deref().unwrap_or_default())?,
            ));
        }
        if service.task_sets.iter().flatten().count() >= LIMIT {
            return Err(task_set::limit_reached().into());
        }
        let mut set = task_set::new(
            &partition,
            &cluster,
            &service,
            &id,
            &definition_arn,
            scale.clone(),
            now,
        );
        set.external_id = external_id.clone();
        let arn = set.task_set_arn.clone().unwrap_or_default();
        service
            .task_sets
            .get_or_insert_with(Vec::new)
            .push(set.clone());
        services::write(txn, &cluster, &name, &service);
        if let Some(token) = &token {
            services::write_task_set_token(txn, &cluster, &name, token, &id);
        }
        tags::write(txn, &arn, &tags);
        Ok::<_, ApiError>((set, tags.clone()))
    })
    .await?;
    let (mut set, set_tags) = created;
    if !set_tags.is_empty() {
        set.tags = Some(set_tags);
    }
    Ok(CreateTaskSetResponse {
        task_set: Some(set),
    })
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeTaskSetsRequest,
) -> Result<DescribeTaskSetsResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let name = service_name(request.service.as_deref().unwrap_or_default());
    let wanted = request
        .task_sets
        .iter()
        .flatten()
        .map(|reference| task_set_id(reference).map(|id| (reference, id)))
        .collect::<Result<Vec<_>, _>>()?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let service = services::fetch(cp, &cluster, name)
        .await?
        .filter(|s| s.status.as_deref() != Some(ServiceStatus::Inactive.as_str()))
        .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
    if !controller_of(&service).uses_task_sets() {
        return Err(not_task_set_service().into());
    }
    let all = service.task_sets.unwrap_or_default();
    let mut found = Vec::new();
    let mut failures = Vec::new();
    if request.task_sets.is_none() {
        found = all;
    } else {
        for (reference, id) in wanted {
            match all.iter().find(|s| s.id.as_deref() == Some(id)) {
                Some(set) => found.push(set.clone()),
                None if reference.starts_with("arn:") => failures.push(missing(reference.clone())),
                None => failures.push(missing(cp.partition.task_set_arn(&cluster, name, id))),
            }
        }
    }
    if request.include.iter().flatten().any(|f| f == "TAGS") {
        for set in &mut found {
            set.tags =
                Some(tags::fetch(cp, set.task_set_arn.as_deref().unwrap_or_default()).await?);
        }
    }
    Ok(DescribeTaskSetsResponse {
        task_sets: Some(found),
        failures: Some(failures),
    })
}

/// The task set an UpdateTaskSet, DeleteTaskSet or UpdateServicePrimaryTaskSet call names.
struct TaskSetTarget {
    cluster: String,
    service: String,
    id: String,
}

impl TaskSetTarget {
    fn of(
        cp: &ControlPlane,
        cluster: Option<&str>,
        service: Option<&str>,
        task_set: Option<&str>,
    ) -> Result<TaskSetTarget, ApiError> {
        Ok(TaskSetTarget {
            cluster: cp.partition.cluster_name(cluster)?,
            service: service_name(service.unwrap_or_default()).to_string(),
            id: task_set_id(task_set.unwrap_or_default())?.to_string(),
        })
    }
}

/// Applies `change` to the service holding the live task set `target` names (the cluster must
/// exist, the service be ACTIVE and deployed through task sets) and writes the service back, in
/// one transaction. `change` gets the service, the task set's id and the time of the call.
async fn change_task_set<R: Send + 'static>(
    cp: &ControlPlane,
    target: TaskSetTarget,
    change: impl Fn(&mut Service, &str, f64) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    if !clusters::exists(cp, &target.cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let now = cp.clock.now();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut service = task_set_service(txn, &target.cluster, &target.service)?;
        live_task_set(&mut service, &target.id)?;
        let changed = change(&mut service, &target.id, now)?;
        services::write(txn, &target.cluster, &target.service, &service);
        Ok(changed)
    })
    .await
}

/// [`change_task_set`] for a change of the task set alone, given the service's desired count.
async fn change_live_task_set<R: Send + 'static>(
    cp: &ControlPlane,
    target: TaskSetTarget,
    change: impl Fn(&mut TaskSet, i32, f64) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    change_task_set(cp, target, move |service, id, now| {
        let desired = service.desired_count.unwrap_or(0);
        change(live_task_set(service, id)?, desired, now)
    })
    .await
}

pub async fn update(
    cp: &ControlPlane,
    request: UpdateTaskSetRequest,
) -> Result<UpdateTaskSetResponse, ApiError> {
    let target = TaskSetTarget::of(
        cp,
        request.cluster.as_deref(),
        request.service.as_deref(),
        request.task_set.as_deref(),
    )?;
    let scale = task_set::scale(request.scale.as_ref())?;
    change_live_task_set(cp, target, move |set, desired, now| {
        set.scale = Some(scale.clone());
        set.updated_at = Some(now);
        task_set::recompute(set, desired, now);
        Ok(UpdateTaskSetResponse {
            task_set: Some(set.clone()),
        })
    })
    .await
}

pub async fn delete(
    cp: &ControlPlane,
    request: DeleteTaskSetRequest,
) -> Result<DeleteTaskSetResponse, ApiError> {
    let target = TaskSetTarget::of(
        cp,
        request.cluster.as_deref(),
        request.service.as_deref(),
        request.task_set.as_deref(),
    )?;
    let force = request.force == Some(true);
    change_live_task_set(cp, target, move |set, desired, now| {
        if !force {
            if set.status.as_deref() == Some(TaskSetStatus::Primary.as_str()) {
                return Err(invalid(
                    "The primary task set cannot be deleted unless force is true.",
                )
                .into());
            }
            let tasks = set.running_count.unwrap_or(0) + set.pending_count.unwrap_or(0);
            if set.computed_desired_count.unwrap_or(0) > 0 || tasks > 0 {
                return Err(invalid(
                    "The task set cannot be deleted while it is scaled above 0 unless force is true.",
                )
                .into());
            }
        }
        set.status = Some(TaskSetStatus::Draining.as_str().into());
        task_set::recompute(set, desired, now);
        set.updated_at = Some(now);
        Ok(DeleteTaskSetResponse {
            task_set: Some(set.clone()),
        })
    })
    .await
}

pub async fn update_primary(
    cp: &ControlPlane,
    request: UpdateServicePrimaryTaskSetRequest,
) -> Result<UpdateServicePrimaryTaskSetResponse, ApiError> {
    let target = TaskSetTarget::of(
        cp,
        request.cluster.as_deref(),
        request.service.as_deref(),
        request.primary_task_set.as_deref(),
    )?;
    change_task_set(cp, target, move |service, id, now| {
        for set in service.task_sets.iter_mut().flatten() {
            let status = if set.id.as_deref() == Some(id) {
                TaskSetStatus::Primary
            } else if set.status.as_deref() == Some(TaskSetStatus::Primary.as_str()) {
                TaskSetStatus::Active
            } else {
                continue;
            };
            if set.status.as_deref() != Some(status.as_str()) {
                set.status = Some(status.as_str().into());
                set.updated_at = Some(now);
            }
        }
        let primary = live_task_set(service, id)?.clone();
        // What the primary task set runs becomes the service's.
        service.task_definition = primary.task_definition.clone();
        service.launch_type = primary.launch_type.clone();
        service.network_configuration = primary.network_configuration.clone();
        Ok(UpdateServicePrimaryTaskSetResponse {
            task_set: Some(primary),
        })
    })
    .await
}
