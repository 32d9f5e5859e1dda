//! Container instances: registration (from the agent channel), DescribeContainerInstances,
//! ListContainerInstances, DeregisterContainerInstance and UpdateContainerInstancesState.

use std::collections::BTreeMap;

use berth_ecs::EcsError;
use berth_ecs::error::invalid;
use berth_ecs::lifecycle::TaskStatus;
use berth_ecs::pagination::{LIST_100, decode_token, encode_token};
use berth_ecs::status::InstanceStatus;
use berth_ecs_wire::{
    Attribute, ContainerInstance, DeleteAttributesRequest, DeleteAttributesResponse,
    DeregisterContainerInstanceRequest, DeregisterContainerInstanceResponse,
    DescribeContainerInstancesRequest, DescribeContainerInstancesResponse, Failure,
    ListAttributesRequest, ListAttributesResponse, ListContainerInstancesRequest,
    ListContainerInstancesResponse, PlatformDevice, PutAttributesRequest, PutAttributesResponse,
    RegisterContainerInstanceRequest, RegisterContainerInstanceResponse, Resource, Tag,
    UpdateContainerInstancesStateRequest, UpdateContainerInstancesStateResponse, VersionInfo,
};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::instances::{self, StoredInstance, integer, ports};
use crate::state::{clusters, tags, tasks};

/// DescribeContainerInstances takes at most this many container instances per call.
const BATCH_LIMIT: usize = 100;

/// UpdateContainerInstancesState takes at most this many container instances per call.
const UPDATE_STATE_LIMIT: usize = 10;

/// What an agent presents when it (re)connects, or a caller of RegisterContainerInstance.
pub struct Registration {
    pub cluster: String,
    pub container_instance_arn: Option<String>,
    pub host_id: String,
    pub total_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub version_info: VersionInfo,
    /// GPUs and other devices the host offers (RegisterContainerInstance's `platformDevices`).
    pub platform_devices: Vec<PlatformDevice>,
    /// The instance's tags when the registration names them (they replace its tags then).
    pub tags: Option<Vec<Tag>>,
    /// Whether this registration is the agent's channel connecting: a registration through the
    /// API leaves the instance's connection as it is (a new instance starts disconnected), as
    /// ECS counts an agent connected only while it holds its channel.
    pub connects: bool,
    /// The id to use when this is a new instance.
    pub new_id: String,
    pub now: f64,
}

/// Registers a new container instance, or re-registers the one the registration names: its
/// identity (ARN, id) is kept, its resources and attributes refreshed, and, for the agent's
/// channel, its agent marked connected. Returns the instance and the highest state-change
/// sequence number applied for it.
pub async fn register(
    cp: &ControlPlane,
    registration: Registration,
) -> Result<(StoredInstance, u64), ApiError> {
    let partition = cp.partition.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let cluster = &registration.cluster;
        clusters::active_cluster(txn, cluster)?;
        let existing = match &registration.container_instance_arn {
            Some(arn) => {
                let id = arn.rsplit('/').next().unwrap_or_default();
                instances::read(txn, cluster, id)?
                    .filter(|s| s.status() != InstanceStatus::Inactive.as_str())
            }
            None => None,
        };
        let total = &registration.total_resources;
        let stored = match existing {
            Some(mut stored) => {
                // Keep what running tasks reserve; move the totals to what the host has now.
                let mut remaining = stored.remaining();
                let registered = stored
                    .instance
                    .registered_resources
                    .clone()
                    .unwrap_or_default();
                remaining.cpu += integer(total, "CPU") - integer(&registered, "CPU");
                remaining.memory += integer(total, "MEMORY") - integer(&registered, "MEMORY");
                remaining.tcp_ports.extend(ports(total, "PORTS"));
                remaining.udp_ports.extend(ports(total, "PORTS_UDP"));
                stored.set_remaining(&remaining);
                stored.instance.registered_resources = Some(total.clone());
                stored.instance.attributes = Some(berth_ecs::attributes::merge(
                    &registration.attributes,
                    &stored.custom_attributes,
                ));
                stored.instance.version_info = Some(registration.version_info.clone());
                if !registration.platform_devices.is_empty() {
                    stored.platform_devices = registration.platform_devices.clone();
                }
                if registration.connects {
                    stored.instance.agent_connected = Some(true);
                    stored.disconnected_at = None;
                }
                stored
            }
            None => {
                let id = registration.new_id.clone();
                StoredInstance {
                    cluster: cluster.clone(),
                    id: id.clone(),
                    custom_attributes: Vec::new(),
                    task_groups: BTreeMap::new(),
                    disconnected_at: None,
                    platform_devices: registration.platform_devices.clone(),
                    instance: ContainerInstance {
                        container_instance_arn: Some(
                            partition.container_instance_arn(cluster, &id),
                        ),
                        ec2_instance_id: Some(registration.host_id.clone()),
                        version: Some(1),
                        version_info: Some(registration.version_info.clone()),
                        remaining_resources: Some(total.clone()),
                        registered_resources: Some(total.clone()),
                        status: Some(InstanceStatus::Active.as_str().into()),
                        agent_connected: Some(registration.connects),
                        attributes: Some(registration.attributes.clone()),
                        registered_at: Some(registration.now),
                        attachments: Some(Vec::new()),
                        tags: Some(Vec::new()),
                        ..ContainerInstance::default()
                    },
                }
            }
        };
        instances::write(txn, cluster, &stored);
        if let Some(new_tags) = &registration.tags {
            tags::write(txn, stored.arn(), new_tags);
        }
        let applied = instances::applied_sequence(txn, cluster, &stored.id)?;
        Ok::<_, ApiError>((stored, applied.unwrap_or(0)))
    })
    .await
}

/// RegisterContainerInstance: what a third-party agent (or a tool) calls to register a host, on
/// the same records the agent channel writes. The instance is ACTIVE and, until an agent holds
/// its channel, `agentConnected: false`, so nothing is placed on it yet (as ECS places nothing
/// on an instance whose agent is disconnected).
pub async fn register_through_api(
    cp: &ControlPlane,
    request: RegisterContainerInstanceRequest,
) -> Result<RegisterContainerInstanceResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let new_tags = request.tags.clone();
    if let Some(new_tags) = &new_tags {
        berth_ecs::tags::check_user_tags(new_tags)?;
    }
    for attribute in request.attributes.iter().flatten() {
        berth_ecs::attributes::check(attribute)?;
    }
    // Re-registration names the instance by its ARN, in this cluster.
    if let Some(arn) = request.container_instance_arn.as_deref() {
        let resource = cp.partition.resource_of(arn)?;
        if resource
            .strip_prefix("container-instance/")
            .and_then(|rest| rest.split_once('/'))
            .is_none_or(|(of, _)| of != cluster)
        {
            return Err(invalid(format!("Invalid container instance ARN: {arn}")).into());
        }
    }
    // The identity document names the EC2 instance; a host without one gets an id of its own.
    let host_id = request
        .instance_identity_document
        .as_deref()
        .and_then(|document| serde_json::from_str::<serde_json::Value>(document).ok())
        .and_then(|document| document.get("instanceId")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("i-{}", &uuid::Uuid::new_v4().simple().to_string()[..17]));
    let registration = Registration {
        cluster,
        container_instance_arn: request.container_instance_arn.clone(),
        host_id,
        total_resources: request.total_resources.clone().unwrap_or_default(),
        attributes: request.attributes.clone().unwrap_or_default(),
        version_info: request.version_info.clone().unwrap_or_default(),
        platform_devices: request.platform_devices.clone().unwrap_or_default(),
        tags: new_tags,
        connects: false,
        new_id: uuid::Uuid::new_v4().simple().to_string(),
        now: cp.clock.now(),
    };
    let (stored, _) = register(cp, registration).await?;
    let arn = stored.arn().to_string();
    let mut instance = present(cp, stored).await?;
    instance.tags = Some(tags::fetch(cp, &arn).await?);
    Ok(RegisterContainerInstanceResponse {
        container_instance: Some(instance),
    })
}

/// Marks an instance's agent as disconnected (its tasks keep running; B4 reacts to it).
pub async fn disconnected(cp: &ControlPlane, cluster: String, id: String) -> Result<(), ApiError> {
    let now = cp.clock.now();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        if let Some(mut stored) = instances::read(txn, &cluster, &id)?
            && stored.connected()
        {
            stored.instance.agent_connected = Some(false);
            stored.disconnected_at = Some(now);
            stored.bump();
            instances::write(txn, &cluster, &stored);
        }
        Ok::<_, ApiError>(())
    })
    .await
}

/// The instance id a `containerInstance` parameter names (an id or an ARN).
fn instance_id<'a>(cp: &ControlPlane, reference: &'a str) -> Result<&'a str, ApiError> {
    Ok(cp.partition.resource_id(reference, "container-instance")?)
}

/// The instance as the API shows it, with task counts that are true now.
async fn present(
    cp: &ControlPlane,
    mut stored: StoredInstance,
) -> Result<ContainerInstance, ApiError> {
    // The instance's live tasks, through its index rather than the whole cluster.
    let mut all = Vec::new();
    for id in tasks::ids_on_instance(cp, &stored.cluster, &stored.id).await? {
        all.extend(tasks::fetch(cp, &stored.cluster, &id).await?);
    }
    stored.instance.running_tasks_count = Some(
        all.iter()
            .filter(|t| tasks::status(t) == TaskStatus::Running)
            .count() as i32,
    );
    stored.instance.pending_tasks_count =
        Some(all.iter().filter(|t| tasks::status(t).is_pending()).count() as i32);
    Ok(stored.instance)
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeContainerInstancesRequest,
) -> Result<DescribeContainerInstancesResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let references = request.container_instances.clone().unwrap_or_default();
    if references.is_empty() {
        return Err(invalid("Container instance cannot be empty.").into());
    }
    if references.len() > BATCH_LIMIT {
        return Err(invalid(format!(
            "At most {BATCH_LIMIT} container instances can be described in one call."
        ))
        .into());
    }
    let include_tags = request.include.iter().flatten().any(|f| f == "TAGS");
    let mut instances = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        let id = instance_id(cp, reference)?;
        match instances::fetch(cp, &cluster, id).await? {
            Some(stored) => {
                let arn = stored.arn().to_string();
                let mut instance = present(cp, stored).await?;
                instance.tags = match include_tags {
                    true => Some(tags::fetch(cp, &arn).await?),
                    false => None,
                };
                instances.push(instance);
            }
            None => failures.push(Failure {
                arn: Some(cp.partition.container_instance_arn(&cluster, id)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeContainerInstancesResponse {
        container_instances: Some(instances),
        failures: Some(failures),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListContainerInstancesRequest,
) -> Result<ListContainerInstancesResponse, ApiError> {
    const SCOPE: &str = "ListContainerInstances";
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let filter = match request.filter.as_deref() {
        Some(expression) => Some(
            berth_scheduler::Query::parse(expression)
                .map_err(|err| invalid(format!("Invalid filter: {err}")))?,
        ),
        None => None,
    };
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    // Without a status filter ECS lists every instance that is not INACTIVE.
    let wanted = request.status.clone();
    let (instances, next) = instances::page(cp, &cluster, after, page, |s| {
        let status_matches = match &wanted {
            Some(status) => s.status() == status,
            None => s.status() != InstanceStatus::Inactive.as_str(),
        };
        status_matches
            && filter
                .as_ref()
                .is_none_or(|query| query.matches(&s.for_placement()))
    })
    .await?;
    Ok(ListContainerInstancesResponse {
        container_instance_arns: Some(instances.iter().map(|s| s.arn().to_string()).collect()),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}

pub async fn deregister(
    cp: &ControlPlane,
    request: DeregisterContainerInstanceRequest,
) -> Result<DeregisterContainerInstanceResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let id = instance_id(
        cp,
        request.container_instance.as_deref().unwrap_or_default(),
    )?
    .to_string();
    let force = request.force == Some(true);
    let now = cp.clock.now();
    let stored = transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        let mut stored = instances::read(txn, &cluster, &id)?
            .filter(|s| s.status() != InstanceStatus::Inactive.as_str())
            .ok_or_else(|| invalid("The referenced container instance was not found."))?;
        let active_tasks = tasks::live_on_instance(txn, &cluster, stored.arn())?;
        if !active_tasks.is_empty() && !force {
            return Err(invalid(
                "Found running tasks on the instance. Stop them first, or deregister with force.",
            )
            .into());
        }
        // ECS stops tracking the tasks of a force-deregistered instance; the agent, no longer
        // given them, stops their containers.
        for mut task in active_tasks {
            if tasks::mark_stopped(&mut task, now, "Container instance deregistered") {
                tasks::store(txn, &cluster, &task);
            }
        }
        stored.instance.status = Some(InstanceStatus::Inactive.as_str().into());
        stored.instance.agent_connected = Some(false);
        stored.bump();
        instances::write(txn, &cluster, &stored);
        Ok::<_, ApiError>(stored)
    })
    .await?;
    Ok(DeregisterContainerInstanceResponse {
        container_instance: Some(present(cp, stored).await?),
    })
}

pub async fn update_state(
    cp: &ControlPlane,
    request: UpdateContainerInstancesStateRequest,
) -> Result<UpdateContainerInstancesStateResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let status = request.status.clone().unwrap_or_default();
    if !InstanceStatus::SETTABLE
        .iter()
        .any(|s| s.as_str() == status)
    {
        return Err(invalid(format!(
            "Container instances can only be set to ACTIVE or DRAINING, not {status}."
        ))
        .into());
    }
    let references = request.container_instances.clone().unwrap_or_default();
    if references.len() > UPDATE_STATE_LIMIT {
        return Err(invalid(format!(
            "instanceIds can have at most {UPDATE_STATE_LIMIT} items."
        ))
        .into());
    }
    for reference in &references {
        instance_id(cp, reference)?;
    }
    let partition = cp.partition.clone();
    let (updated, failures) = transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        let mut updated = Vec::new();
        let mut failures = Vec::new();
        for reference in &references {
            let id = partition.resource_id(reference, "container-instance")?;
            match instances::read(txn, &cluster, id)?
                .filter(|s| s.status() != InstanceStatus::Inactive.as_str())
            {
                Some(mut stored) => {
                    if stored.status() != status {
                        stored.instance.status = Some(status.clone());
                        stored.bump();
                        instances::write(txn, &cluster, &stored);
                    }
                    updated.push(stored);
                }
                None => failures.push(Failure {
                    arn: Some(partition.container_instance_arn(&cluster, id)),
                    reason: Some("MISSING".into()),
                    detail: None,
                }),
            }
        }
        Ok::<_, ApiError>((updated, failures))
    })
    .await?;
    let mut instances = Vec::new();
    for stored in updated {
        instances.push(present(cp, stored).await?);
    }
    Ok(UpdateContainerInstancesStateResponse {
        container_instances: Some(instances),
        failures: Some(failures),
    })
}

/// The instance an attribute's `targetId` names (an id or an ARN), when it exists.
fn target_id(cp: &ControlPlane, attribute: &Attribute) -> Result<String, ApiError> {
    let target = attribute.target_id.as_deref().unwrap_or_default();
    if target.is_empty() {
        return Err(invalid(format!(
            "Attribute '{}' needs a targetId naming a container instance.",
            attribute.name.as_deref().unwrap_or_default()
        ))
        .into());
    }
    if attribute
        .target_type
        .as_deref()
        .is_some_and(|t| t != "container-instance")
    {
        return Err(invalid("The only targetType is container-instance.").into());
    }
    Ok(instance_id(cp, target)?.to_string())
}

fn target_not_found(id: &str) -> ApiError {
    EcsError::TargetNotFound(format!("Could not find the target {id}.")).into()
}

pub async fn put_attributes(
    cp: &ControlPlane,
    request: PutAttributesRequest,
) -> Result<PutAttributesResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let attributes = request.attributes.clone().unwrap_or_default();
    if attributes.len() > berth_ecs::attributes::MAX_CUSTOM {
        return Err(invalid(format!(
            "At most {} attributes can be put in one call.",
            berth_ecs::attributes::MAX_CUSTOM
        ))
        .into());
    }
    let mut targets = Vec::new();
    for attribute in &attributes {
        berth_ecs::attributes::check(attribute)?;
        targets.push(target_id(cp, attribute)?);
    }
    let written = attributes.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        for (attribute, id) in written.iter().zip(&targets) {
            let mut stored = instances::read(txn, &cluster, id)?
                .filter(|s| s.status() != InstanceStatus::Inactive.as_str())
                .ok_or_else(|| target_not_found(id))?;
            let set = std::slice::from_ref(attribute);
            stored.custom_attributes = berth_ecs::attributes::merge(&stored.custom_attributes, set);
            if stored.custom_attributes.len() > berth_ecs::attributes::MAX_CUSTOM {
                return Err(EcsError::AttributeLimitExceeded(format!(
                    "You can apply up to {} custom attributes for each resource.",
                    berth_ecs::attributes::MAX_CUSTOM
                ))
                .into());
            }
            let current = stored.instance.attributes.clone().unwrap_or_default();
            stored.instance.attributes = Some(berth_ecs::attributes::merge(&current, set));
            stored.bump();
            instances::write(txn, &cluster, &stored);
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(PutAttributesResponse {
        attributes: Some(attributes),
    })
}

pub async fn delete_attributes(
    cp: &ControlPlane,
    request: DeleteAttributesRequest,
) -> Result<DeleteAttributesResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let attributes = request.attributes.clone().unwrap_or_default();
    let mut targets = Vec::new();
    for attribute in &attributes {
        targets.push(target_id(cp, attribute)?);
    }
    let deleted = attributes.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        for (attribute, id) in deleted.iter().zip(&targets) {
            let mut stored = instances::read(txn, &cluster, id)?
                .filter(|s| s.status() != InstanceStatus::Inactive.as_str())
                .ok_or_else(|| target_not_found(id))?;
            stored
                .custom_attributes
                .retain(|a| a.name != attribute.name);
            if let Some(all) = &mut stored.instance.attributes {
                all.retain(|a| a.name != attribute.name);
            }
            stored.bump();
            instances::write(txn, &cluster, &stored);
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(DeleteAttributesResponse {
        attributes: Some(attributes),
    })
}

pub async fn list_attributes(
    cp: &ControlPlane,
    request: ListAttributesRequest,
) -> Result<ListAttributesResponse, ApiError> {
    const SCOPE: &str = "ListAttributes";
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    if request.attribute_value.is_some() && request.attribute_name.is_none() {
        return Err(invalid("attributeValue can only be given with attributeName.").into());
    }
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let (instances, _) = instances::page(cp, &cluster, None, usize::MAX, |s| {
        s.status() != InstanceStatus::Inactive.as_str()
    })
    .await?;
    // Each attribute's position is "instance id / attribute name", in that order.
    let mut all: Vec<(String, Attribute)> = Vec::new();
    for stored in &instances {
        for attribute in stored.instance.attributes.iter().flatten() {
            let wanted_name = request
                .attribute_name
                .as_ref()
                .is_none_or(|n| attribute.name.as_ref() == Some(n));
            let wanted_value = request
                .attribute_value
                .as_ref()
                .is_none_or(|v| attribute.value.as_ref() == Some(v));
            if wanted_name && wanted_value {
                let position = format!(
                    "{}/{}",
                    stored.id,
                    attribute.name.as_deref().unwrap_or_default()
                );
                all.push((
                    position,
                    Attribute {
                        target_type: Some("container-instance".into()),
                        target_id: Some(stored.arn().to_string()),
                        ..attribute.clone()
                    },
                ));
            }
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let rest: Vec<(String, Attribute)> = all
        .into_iter()
        .filter(|(position, _)| after.as_ref().is_none_or(|after| position > after))
        .collect();
    let more = rest.len() > page;
    let page_items: Vec<(String, Attribute)> = rest.into_iter().take(page).collect();
    let next_token = more
        .then(|| {
            page_items
                .last()
                .map(|(position, _)| encode_token(SCOPE, position))
        })
        .flatten();
    Ok(ListAttributesResponse {
        attributes: Some(
            page_items
                .into_iter()
                .map(|(_, attribute)| attribute)
                .collect(),
        ),
        next_token,
    })
}
