//! Tasks: RunTask, StartTask, StopTask, DescribeTasks and ListTasks, and how the state changes
//! agents report move a task through ECS's lifecycle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_ecs::EcsError;
use berth_ecs::arn::{Partition, TaskDefinitionRef};
use berth_ecs::error::{client, invalid};
use berth_ecs::lifecycle::{ContainerStatus, DesiredStatus, TaskEvent, TaskState, TaskStatus};
use berth_ecs::pagination::{LIST_100, decode_token, encode_token};
use berth_ecs::placement::{
    check_launch_target, demand_of, effective_containers, parse_constraints, parse_strategies,
    required_attributes_with_overrides,
};
use berth_ecs::status::{InstanceStatus, TaskDefinitionStatus};
use berth_ecs_wire::{
    Attribute, Container, DescribeTasksRequest, DescribeTasksResponse, Failure, ListTasksRequest,
    ListTasksResponse, PlacementConstraint, PlacementStrategy, RunTaskRequest, RunTaskResponse,
    StartTaskRequest, StartTaskResponse, StopTaskRequest, StopTaskResponse, Tag, Task,
    TaskDefinition, TaskOverride,
};
use berth_scheduler::{Cluster as PlacementCluster, LaunchType, PlacementRequest, Resources};
use berth_store::{Txn, transact};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::instances::{self, StoredInstance};
use crate::state::tasks::{self as task_records, ClientTokenRecord};
use crate::state::tasks::{advance, bump, demand_of_task, mark_stopped, status, store, task_id};
use crate::state::{clusters, tags, task_definitions};
use crate::views::ViewPlan;

/// RunTask's `count` and StartTask's instance list are capped at 10.
const LAUNCH_LIMIT: usize = 10;
/// DescribeTasks takes at most 100 tasks.
const DESCRIBE_LIMIT: usize = 100;

/// Everything a launch (RunTask or StartTask) decides before its transaction.
#[derive(Clone)]
struct Launch {
    cluster: String,
    definition: TaskDefinition,
    overrides: TaskOverride,
    group: String,
    started_by: Option<String>,
    tags: Vec<Tag>,
    now: f64,
    /// Fresh ids, one per task to launch, and one per container of each.
    task_ids: Vec<String>,
    container_ids: Vec<Vec<String>>,
}

impl Launch {
    fn task(
        &self,
        partition: &Partition,
        index: usize,
        instance: &StoredInstance,
        demand: &Resources,
    ) -> Task {
        let task_id = &self.task_ids[index];
        let task_arn = partition.task_arn(&self.cluster, task_id);
        let containers = effective_containers(&self.definition, &self.overrides)
            .into_iter()
            .zip(&self.container_ids[index])
            .map(|(definition, id)| Container {
                container_arn: Some(partition.container_arn(&self.cluster, task_id, id)),
                task_arn: Some(task_arn.clone()),
                name: definition.name.clone(),
                image: definition.image.clone(),
                last_status: Some(ContainerStatus::Pending.as_str().into()),
                network_interfaces: Some(Vec::new()),
                health_status: Some("UNKNOWN".into()),
                cpu: Some(definition.cpu.unwrap_or(0).to_string()),
                memory: definition.memory.map(|m| m.to_string()),
                memory_reservation: definition.memory_reservation.map(|m| m.to_string()),
                ..Container::default()
            })
            .collect();
        let availability_zone = instance
            .instance
            .attributes
            .iter()
            .flatten()
            .find(|a| a.name.as_deref() == Some("ecs.availability-zone"))
            .and_then(|a| a.value.clone());
        Task {
            task_arn: Some(task_arn),
            cluster_arn: Some(partition.cluster_arn(&self.cluster)),
            task_definition_arn: self.definition.task_definition_arn.clone(),
            container_instance_arn: Some(instance.arn().to_string()),
            overrides: Some(TaskOverride {
                container_overrides: Some(
                    self.overrides
                        .container_overrides
                        .clone()
                        .unwrap_or_default(),
                ),
                inference_accelerator_overrides: Some(Vec::new()),
                ..self.overrides.clone()
            }),
            last_status: Some(TaskState::LAUNCHED.last.as_str().into()),
            desired_status: Some(TaskState::LAUNCHED.desired.as_str().into()),
            cpu: Some(demand.cpu.to_string()),
            memory: Some(demand.memory.to_string()),
            containers: Some(containers),
            started_by: self.started_by.clone(),
            group: Some(self.group.clone()),
            launch_type: Some("EC2".into()),
            version: Some(1),
            created_at: Some(self.now),
            attachments: Some(Vec::new()),
            attributes: Some(vec![Attribute {
                name: Some("ecs.cpu-architecture".into()),
                value: Some("x86_64".into()),
                ..Attribute::default()
            }]),
            availability_zone,
            health_status: Some("UNKNOWN".into()),
            enable_execute_command: Some(false),
            tags: Some(self.tags.clone()),
            ..Task::default()
        }
    }
}

/// A task or container id: 32 hex digits as ECS's, time-ordered (UUID v7) so the records of
/// tasks launched together sit together in the store's key order and share its pages.
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The parameters RunTask and StartTask share.
struct LaunchParams {
    cluster: Option<String>,
    task_definition: Option<String>,
    overrides: Option<TaskOverride>,
    group: Option<String>,
    started_by: Option<String>,
    tags: Option<Vec<Tag>>,
}

impl From<&RunTaskRequest> for LaunchParams {
    fn from(request: &RunTaskRequest) -> LaunchParams {
        LaunchParams {
            cluster: request.cluster.clone(),
            task_definition: request.task_definition.clone(),
            overrides: request.overrides.clone(),
            group: request.group.clone(),
            started_by: request.started_by.clone(),
            tags: request.tags.clone(),
        }
    }
}

impl From<&StartTaskRequest> for LaunchParams {
    fn from(request: &StartTaskRequest) -> LaunchParams {
        LaunchParams {
            cluster: request.cluster.clone(),
            task_definition: request.task_definition.clone(),
            overrides: request.overrides.clone(),
            group: request.group.clone(),
            started_by: request.started_by.clone(),
            tags: request.tags.clone(),
        }
    }
}

/// Who launches: a user's RunTask or StartTask may only use ACTIVE task definition revisions
/// and user tags, while a service's scheduler keeps running (and scaling) a revision
/// deregistered after it was deployed and adds ECS-managed `aws:ecs:*` tags.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Launcher {
    User,
    ServiceScheduler,
}

/// Checks what RunTask and StartTask share and resolves the task definition.
async fn prepare_launch(
    cp: &ControlPlane,
    params: LaunchParams,
    count: usize,
    launcher: Launcher,
) -> Result<Launch, ApiError> {
    let LaunchParams {
        cluster,
        task_definition,
        overrides,
        group,
        started_by,
        tags,
    } = params;
    let cluster = cp.partition.cluster_name(cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let reference = TaskDefinitionRef::parse(
        &cp.partition,
        task_definition.as_deref().unwrap_or_default(),
    )
    .map_err(|_| client("TaskDefinition not found."))?;
    let definition = task_definitions::resolve(cp, &reference)
        .await?
        .ok_or_else(|| client("TaskDefinition not found."))?;
    if launcher == Launcher::User
        && definition.status.as_deref() != Some(TaskDefinitionStatus::Active.as_str())
    {
        return Err(client("TaskDefinition is inactive").into());
    }
    if !definition
        .compatibilities
        .iter()
        .flatten()
        .any(|c| c == "EC2")
    {
        return Err(client("Task definition does not support launch_type EC2.").into());
    }
    if definition.network_mode.as_deref() == Some("awsvpc") {
        return Err(EcsError::UnsupportedFeature(
            "Tasks in awsvpc network mode are not supported yet.".into(),
        )
        .into());
    }
    let overrides = overrides.unwrap_or_default();
    let names: Vec<&str> = definition
        .container_definitions
        .iter()
        .flatten()
        .filter_map(|c| c.name.as_deref())
        .collect();
    for o in overrides.container_overrides.iter().flatten() {
        let name = o.name.as_deref().unwrap_or_default();
        if !names.contains(&name) {
            return Err(invalid(format!(
                "Container override name '{name}' does not match a container in the task definition."
            ))
            .into());
        }
    }
    for size in [&overrides.cpu, &overrides.memory].into_iter().flatten() {
        if size.trim().is_empty() {
            return Err(invalid("Task size overrides cannot be empty.").into());
        }
    }
    if let Some(cpu) = &overrides.cpu {
        berth_ecs::task_definition::parse_task_cpu(cpu)?;
    }
    if let Some(memory) = &overrides.memory {
        berth_ecs::task_definition::parse_task_memory(memory)?;
    }
    let tags = tags.unwrap_or_default();
    if launcher == Launcher::User {
        berth_ecs::tags::check_user_tags(&tags)?;
    }
    let containers = names.len();
    let family = definition.family.clone().unwrap_or_default();
    Ok(Launch {
        cluster,
        group: group.unwrap_or_else(|| format!("family:{family}")),
        definition,
        overrides,
        started_by,
        tags,
        now: cp.clock.now(),
        task_ids: (0..count).map(|_| new_id()).collect(),
        container_ids: (0..count)
            .map(|_| (0..containers).map(|_| new_id()).collect())
            .collect(),
    })
}

/// What RunTask refuses before it looks anything up; returns the task count.
fn check_run_task(request: &RunTaskRequest) -> Result<usize, ApiError> {
    let count = request.count.unwrap_or(1);
    if !(1..=LAUNCH_LIMIT as i32).contains(&count) {
        return Err(invalid(format!(
            "count must be between 1 and {LAUNCH_LIMIT}, but was {count}."
        ))
        .into());
    }
    check_launch_target(
        request.launch_type.as_deref(),
        request.capacity_provider_strategy.as_deref(),
        request.platform_version.as_deref(),
    )?;
    Ok(count as usize)
}

/// How many plans a RunTask makes on the in-memory view (each re-checked when it commits)
/// before it plans inside its transaction, on the store itself.
const VIEW_ATTEMPTS: usize = 3;

/// Where a launch's tasks go: a plan made on the view, or a placement inside the transaction.
enum Placing {
    Planned(ViewPlan),
    InTransaction { seed: u64 },
}

pub async fn run(cp: &ControlPlane, request: RunTaskRequest) -> Result<RunTaskResponse, ApiError> {
    launch(cp, request, Launcher::User).await
}

/// RunTask on behalf of a service's scheduler, whose deployment may run a task definition
/// revision that was deregistered since.
pub async fn run_for_service(
    cp: &ControlPlane,
    request: RunTaskRequest,
) -> Result<RunTaskResponse, ApiError> {
    launch(cp, request, Launcher::ServiceScheduler).await
}

async fn launch(
    cp: &ControlPlane,
    request: RunTaskRequest,
    launcher: Launcher,
) -> Result<RunTaskResponse, ApiError> {
    let count = check_run_task(&request)?;
    let launch = Arc::new(prepare_launch(cp, LaunchParams::from(&request), count, launcher).await?);
    let mut fingerprint = serde_json::to_value(&request).unwrap_or_default();
    if let Some(map) = fingerprint.as_object_mut() {
        map.remove("clientToken");
    }
    let placement_request = Arc::new(placement_request(
        &launch,
        count as u32,
        request.placement_constraints.as_deref().unwrap_or_default(),
        request.placement_strategy.as_deref().unwrap_or_default(),
    )?);
    let launching = Arc::new(Launching {
        partition: cp.partition.clone(),
        launch,
        request: placement_request,
        token: request.client_token.clone(),
        fingerprint,
    });
    for _ in 0..VIEW_ATTEMPTS {
        cp.views.caught_up(&*cp.store).await;
        let mut rng = StdRng::seed_from_u64(rand::random());
        let Some(plan) = cp
            .views
            .plan(&launching.launch.cluster, &launching.request, &mut rng)
        else {
            break;
        };
        let placing = Placing::Planned(plan.clone());
        let attempt = launching.clone();
        let outcome = transact(&*cp.store, move |txn: &mut dyn Txn| {
            attempt.commit(txn, &placing)
        })
        .await?;
        match outcome {
            Some((tasks, failures)) => {
                return Ok(RunTaskResponse {
                    tasks: Some(tasks),
                    failures: Some(failures),
                });
            }
            None => {
                cp.views
                    .forget_plan(&*cp.store, &launching.launch.cluster, &plan)
                    .await?;
            }
        }
    }
    let placing = Placing::InTransaction {
        seed: rand::random(),
    };
    let (tasks, failures) = transact(&*cp.store, move |txn: &mut dyn Txn| {
        launching.commit(txn, &placing)
    })
    .await?
    .ok_or_else(|| EcsError::Server("a placement in its transaction went stale".into()))?;
    Ok(RunTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

/// The tasks a launch started and ECS's `failures[]` for those it could not place.
type Launched = (Vec<Task>, Vec<Failure>);

/// A RunTask, ready to commit.
struct Launching {
    partition: Partition,
    launch: Arc<Launch>,
    request: Arc<PlacementRequest>,
    token: Option<String>,
    fingerprint: serde_json::Value,
}

impl Launching {
    /// Places and writes the tasks, or replays the earlier call with the same clientToken.
    /// `None` when a plan made on the view no longer fits the instances it chose.
    fn commit(&self, txn: &mut dyn Txn, placing: &Placing) -> Result<Option<Launched>, ApiError> {
        let launch = &*self.launch;
        let cluster = &launch.cluster;
        if let Some(token) = &self.token
            && let Some(previous) = task_records::read_client_token(txn, cluster, token)?
        {
            if previous.request != self.fingerprint {
                return Err(EcsError::Conflict(
                    "The clientToken was already used with different parameters.".into(),
                )
                .into());
            }
            let mut tasks = Vec::new();
            for arn in &previous.task_arns {
                tasks.extend(task_records::read(txn, cluster, task_id(arn))?);
            }
            return Ok(Some((tasks, previous.failures)));
        }
        let (tasks, failures) = match placing {
            Placing::Planned(plan) => {
                let Some(launched) = self.commit_plan(txn, plan)? else {
                    return Ok(None);
                };
                launched
            }
            Placing::InTransaction { seed } => {
                let (stored_instances, cluster_view) = placement_view(txn, cluster)?;
                if stored_instances
                    .iter()
                    .all(|s| s.status() == InstanceStatus::Inactive.as_str())
                {
                    return Err(
                        invalid("No Container Instances were found in your cluster.").into(),
                    );
                }
                let placement =
                    cluster_view.place(&self.request, &mut StdRng::seed_from_u64(*seed));
                commit_launch(
                    txn,
                    &self.partition,
                    launch,
                    stored_instances,
                    cluster_view,
                    &placement,
                )
            }
        };
        if let Some(token) = &self.token {
            let record = ClientTokenRecord {
                request: self.fingerprint.clone(),
                task_arns: tasks.iter().filter_map(|t| t.task_arn.clone()).collect(),
                failures: failures.clone(),
                created_at: launch.now,
            };
            task_records::write_client_token(txn, cluster, token, &record);
        }
        Ok(Some((tasks, failures)))
    }

    /// Re-checks a plan made on the view against the chosen instances' records and writes it
    /// when every task still fits where it was planned.
    fn commit_plan(
        &self,
        txn: &mut dyn Txn,
        plan: &ViewPlan,
    ) -> Result<Option<Launched>, ApiError> {
        let cluster = &self.launch.cluster;
        let mut chosen: Vec<&str> = Vec::new();
        for id in &plan.targets {
            if !chosen.contains(&id.as_str()) {
                chosen.push(id);
            }
        }
        let mut current = Vec::with_capacity(chosen.len());
        for id in &chosen {
            match instances::read(txn, cluster, id)? {
                Some(stored) => current.push(stored),
                None => return Ok(None),
            }
        }
        let cluster_view =
            PlacementCluster::new(current.iter().map(StoredInstance::for_placement).collect());
        let targets: Vec<usize> = plan
            .targets
            .iter()
            .filter_map(|id| chosen.iter().position(|c| c == id))
            .collect();
        let verified = cluster_view.place_on(&targets, &self.request);
        if verified.unplaced > 0 {
            return Ok(None);
        }
        let (tasks, _) = commit_launch(
            txn,
            &self.partition,
            &self.launch,
            current,
            cluster_view,
            &verified,
        );
        Ok(Some((tasks, plan.failures.clone())))
    }
}

/// RunTask's and StartTask's placement request: the task definition's constraints then the
/// call's (at most 10), the call's strategies (at most 5; none means random, as in ECS).
fn placement_request(
    launch: &Launch,
    count: u32,
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Result<PlacementRequest, ApiError> {
    let definition = &launch.definition;
    let request = PlacementRequest {
        count,
        group: launch.group.clone(),
        demand: demand_of(definition, &launch.overrides),
        launch_type: Some(LaunchType::Ec2),
        required_attributes: required_attributes_with_overrides(definition, &launch.overrides),
        subnet_zones: None,
        constraints: parse_constraints(Some(definition), constraints)?,
        strategies: parse_strategies(strategies)?,
    };
    request
        .check_limits()
        .map_err(|err| invalid(err.to_string()))?;
    Ok(request)
}

/// The cluster's instances and the placement engine's view of them (with the task groups of
/// their live tasks), inside a transaction.
fn placement_view(
    txn: &mut dyn Txn,
    cluster: &str,
) -> Result<(Vec<StoredInstance>, PlacementCluster), ApiError> {
    let stored = instances::all_in(txn, cluster)?;
    let view = PlacementCluster::new(stored.iter().map(StoredInstance::for_placement).collect());
    Ok((stored, view))
}

/// Writes the placed tasks and the instances' new remaining resources; returns the tasks and
/// ECS's `failures[]` (one per instance that turned a task down) when some found no place.
fn commit_launch(
    txn: &mut dyn Txn,
    partition: &Partition,
    launch: &Launch,
    mut stored_instances: Vec<StoredInstance>,
    mut cluster_view: PlacementCluster,
    placement: &berth_scheduler::Placement,
) -> (Vec<Task>, Vec<Failure>) {
    let mut tasks = Vec::new();
    for (index, &chosen) in placement.tasks.iter().enumerate() {
        let demand = demand_of(&launch.definition, &launch.overrides);
        let task = launch.task(partition, index, &stored_instances[chosen], &demand);
        store(txn, &launch.cluster, &task);
        // A new task has no tags key to clear.
        if !launch.tags.is_empty() {
            tags::write(
                txn,
                task.task_arn.as_deref().unwrap_or_default(),
                &launch.tags,
            );
        }
        tasks.push(task);
    }
    cluster_view.apply(placement);
    let touched: BTreeSet<usize> = placement.tasks.iter().copied().collect();
    for chosen in touched {
        let stored = &mut stored_instances[chosen];
        let planned = &cluster_view.instances()[chosen];
        stored.task_groups = planned.task_groups.clone();
        stored.set_remaining(&planned.remaining);
        instances::write(txn, &launch.cluster, stored);
    }
    let failures = placement_failures(placement, &stored_instances);
    (tasks, failures)
}

/// ECS's `failures[]` for the tasks a plan left unplaced: one per instance that turned one down.
fn placement_failures(
    placement: &berth_scheduler::Placement,
    instances: &[StoredInstance],
) -> Vec<Failure> {
    placement
        .failures
        .iter()
        .map(|failure| Failure {
            arn: Some(instances[failure.instance].arn().to_string()),
            reason: Some(failure.reason.as_str().to_string()),
            detail: Some(failure.detail.clone()),
        })
        .collect()
}

/// Where a RunTask request would place its tasks, and why each instance would or would not take
/// one, without starting or reserving anything: Berth's dry run (ECS has none).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Container instance ARN → how many of the tasks it would run.
    pub placements: BTreeMap<String, u32>,
    pub unplaced: u32,
    pub candidates: Vec<Candidate>,
    /// ECS's `failures[]` for the tasks that would find no instance.
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub container_instance_arn: String,
    pub eligible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub async fn plan(cp: &ControlPlane, request: RunTaskRequest) -> Result<Plan, ApiError> {
    // A plan refuses exactly what RunTask would.
    let count = check_run_task(&request)?;
    let launch = prepare_launch(cp, LaunchParams::from(&request), count, Launcher::User).await?;
    let placement_request = placement_request(
        &launch,
        count as u32,
        request.placement_constraints.as_deref().unwrap_or_default(),
        request.placement_strategy.as_deref().unwrap_or_default(),
    )?;
    let cluster = launch.cluster.clone();
    let seed: u64 = rand::random();
    // A read-only transaction: one consistent view of the instances and their tasks.
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let (stored, view) = placement_view(txn, &cluster)?;
        let placement = view.place(&placement_request, &mut StdRng::seed_from_u64(seed));
        let mut placements = BTreeMap::new();
        for &index in &placement.tasks {
            *placements
                .entry(stored[index].arn().to_string())
                .or_insert(0) += 1;
        }
        let candidates = view
            .explain(&placement_request)
            .into_iter()
            .zip(&stored)
            .map(|(rejection, instance)| Candidate {
                container_instance_arn: instance.arn().to_string(),
                eligible: rejection.is_none(),
                reason: rejection.as_ref().map(|r| r.reason.as_str().to_string()),
                detail: rejection.map(|r| r.detail),
            })
            .collect();
        let failures = placement_failures(&placement, &stored);
        Ok::<_, ApiError>(Plan {
            placements,
            unplaced: placement.unplaced,
            candidates,
            failures,
        })
    })
    .await
}

pub async fn start(
    cp: &ControlPlane,
    request: StartTaskRequest,
) -> Result<StartTaskResponse, ApiError> {
    start_on(cp, request, Launcher::User).await
}

/// StartTask on behalf of a DAEMON service's scheduler (see [`run_for_service`]).
pub async fn start_for_service(
    cp: &ControlPlane,
    request: StartTaskRequest,
) -> Result<StartTaskResponse, ApiError> {
    start_on(cp, request, Launcher::ServiceScheduler).await
}

async fn start_on(
    cp: &ControlPlane,
    request: StartTaskRequest,
    launcher: Launcher,
) -> Result<StartTaskResponse, ApiError> {
    let targets = request.container_instances.clone().unwrap_or_default();
    if targets.is_empty() || targets.len() > LAUNCH_LIMIT {
        return Err(invalid(format!(
            "StartTask takes between 1 and {LAUNCH_LIMIT} container instances."
        ))
        .into());
    }
    let launch = prepare_launch(cp, LaunchParams::from(&request), targets.len(), launcher).await?;
    let placement_request = placement_request(&launch, 1, &[], &[])?;
    let partition = cp.partition.clone();
    let (tasks, failures) = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let cluster = &launch.cluster;
        let (stored_instances, cluster_view) = placement_view(txn, cluster)?;
        let mut named = Vec::new();
        let mut missing = Vec::new();
        for target in &targets {
            let id = task_id(target);
            match stored_instances
                .iter()
                .position(|s| s.id == id && s.status() != InstanceStatus::Inactive.as_str())
            {
                Some(index) => named.push(index),
                None => missing.push(Failure {
                    arn: Some(partition.container_instance_arn(cluster, id)),
                    reason: Some("MISSING".into()),
                    detail: None,
                }),
            }
        }
        // StartTask names its instances: no launch type filter, no strategy.
        let request = PlacementRequest {
            launch_type: None,
            ..placement_request.clone()
        };
        let placement = cluster_view.place_on(&named, &request);
        let (tasks, mut failures) = commit_launch(
            txn,
            &partition,
            &launch,
            stored_instances,
            cluster_view,
            &placement,
        );
        failures.extend(missing);
        Ok::<_, ApiError>((tasks, failures))
    })
    .await?;
    Ok(StartTaskResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

pub async fn stop(
    cp: &ControlPlane,
    request: StopTaskRequest,
) -> Result<StopTaskResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let id = cp
        .partition
        .resource_id(request.task.as_deref().unwrap_or_default(), "task")?
        .to_string();
    let reason = request
        .reason
        .clone()
        .unwrap_or_else(|| "Task stopped by user".into());
    let now = cp.clock.now();
    let task = transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        let mut task = task_records::read(txn, &cluster, &id)?
            .ok_or_else(|| invalid("The referenced task was not found."))?;
        if advance(&mut task, TaskEvent::StopRequested).is_some() {
            task.stop_code = Some("UserInitiated".into());
            task.stopped_reason = Some(reason.clone());
            task.stopping_at = Some(now);
            bump(&mut task);
            store(txn, &cluster, &task);
        }
        Ok::<_, ApiError>(task)
    })
    .await?;
    Ok(StopTaskResponse { task: Some(task) })
}

/// Stops a service's tasks on its scheduler's behalf (stop code ServiceSchedulerInitiated);
/// returns the ids of the tasks it asked to stop (those not already stopping).
pub async fn stop_for_service(
    cp: &ControlPlane,
    cluster: &str,
    stops: Vec<(String, String)>,
    now: f64,
) -> Result<Vec<String>, ApiError> {
    let cluster = cluster.to_string();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut stopped = Vec::new();
        for (id, reason) in &stops {
            let Some(mut task) = task_records::read(txn, &cluster, id)? else {
                continue;
            };
            let drained = task_records::status(&task) == TaskStatus::Deactivating;
            if advance(&mut task, TaskEvent::StopRequested).is_none() {
                continue;
            }
            task.stop_code = Some("ServiceSchedulerInitiated".into());
            // A task that drained while DEACTIVATING keeps the reason and time it began stopping.
            if !drained {
                task.stopped_reason = Some(reason.clone());
                task.stopping_at = Some(now);
            }
            bump(&mut task);
            store(txn, &cluster, &task);
            stopped.push(id.clone());
        }
        Ok::<_, ApiError>(stopped)
    })
    .await
}

/// Begins stopping a service's RUNNING tasks that its scheduler has just deregistered from
/// their target groups: they stay DEACTIVATING, still running and wanted so, while the load
/// balancer drains them; `stop_for_service` asks them to stop when draining ends. Returns the
/// ids of the tasks it deactivated.
pub async fn deactivate_for_service(
    cp: &ControlPlane,
    cluster: &str,
    stops: Vec<(String, String)>,
    now: f64,
) -> Result<Vec<String>, ApiError> {
    let cluster = cluster.to_string();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut deactivated = Vec::new();
        for (id, reason) in &stops {
            let Some(mut task) = task_records::read(txn, &cluster, id)? else {
                continue;
            };
            if advance(&mut task, TaskEvent::Deactivated).is_none() {
                continue;
            }
            task.stopped_reason = Some(reason.clone());
            task.stopping_at = Some(now);
            bump(&mut task);
            store(txn, &cluster, &task);
            deactivated.push(id.clone());
        }
        Ok::<_, ApiError>(deactivated)
    })
    .await
}

/// Ends tasks whose instance's agent is lost (disconnected for too long): no agent will report
/// them, so the control plane records them STOPPED and gives back what they held.
pub async fn stop_lost(
    cp: &ControlPlane,
    cluster: &str,
    ids: Vec<String>,
    reason: String,
    now: f64,
) -> Result<(), ApiError> {
    let cluster = cluster.to_string();
    let partition = cp.partition.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        for id in &ids {
            let Some(mut task) = task_records::read(txn, &cluster, id)? else {
                continue;
            };
            if status(&task) == TaskStatus::Stopped {
                continue;
            }
            task.stop_code
                .get_or_insert_with(|| "ServiceSchedulerInitiated".into());
            mark_stopped(&mut task, now, &reason);
            store(txn, &cluster, &task);
            let instance_id = task_id(task.container_instance_arn.as_deref().unwrap_or_default());
            if let Some(mut instance) = instances::read(txn, &cluster, instance_id)? {
                instance.give_back(
                    &demand_of_task(txn, &partition, &task)?,
                    task.group.as_deref(),
                );
                instances::write(txn, &cluster, &instance);
            }
        }
        Ok::<_, ApiError>(())
    })
    .await
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeTasksRequest,
) -> Result<DescribeTasksResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let references = request.tasks.clone().unwrap_or_default();
    if references.is_empty() {
        return Err(invalid("Tasks cannot be empty.").into());
    }
    if references.len() > DESCRIBE_LIMIT {
        return Err(invalid(format!(
            "At most {DESCRIBE_LIMIT} tasks can be described in one call."
        ))
        .into());
    }
    let include_tags = request.include.iter().flatten().any(|f| f == "TAGS");
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        let id = cp.partition.task_id_in(reference, &cluster)?;
        match task_records::fetch(cp, &cluster, id).await? {
            Some(mut task) => {
                task.tags = if include_tags {
                    Some(tags::fetch(cp, task.task_arn.as_deref().unwrap_or_default()).await?)
                } else {
                    None
                };
                tasks.push(task);
            }
            None => failures.push(Failure {
                arn: Some(cp.partition.task_arn(&cluster, id)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeTasksResponse {
        tasks: Some(tasks),
        failures: Some(failures),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListTasksRequest,
) -> Result<ListTasksResponse, ApiError> {
    const SCOPE: &str = "ListTasks";
    berth_ecs::filters::check_list_tasks(&request)?;
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let desired = request
        .desired_status
        .clone()
        .unwrap_or_else(|| DesiredStatus::Running.as_str().into());
    let instance = request
        .container_instance
        .as_deref()
        .map(|i| task_id(i).to_string());
    let family_prefix = request
        .family
        .as_ref()
        .map(|family| format!("task-definition/{family}:"));
    let group = request
        .service_name
        .as_ref()
        .map(|service| format!("service:{}", task_id(service)));
    let (tasks, next) = task_records::page(cp, &cluster, after, page, |task| {
        task.desired_status.as_deref() == Some(desired.as_str())
            && instance
                .as_deref()
                .is_none_or(|id| task.container_instance_arn.as_deref().map(task_id) == Some(id))
            && family_prefix.as_deref().is_none_or(|prefix| {
                task.task_definition_arn
                    .as_deref()
                    .is_some_and(|arn| arn.contains(prefix))
            })
            && request
                .started_by
                .as_ref()
                .is_none_or(|by| task.started_by.as_ref() == Some(by))
            && group
                .as_ref()
                .is_none_or(|g| task.group.as_ref() == Some(g))
            && request
                .launch_type
                .as_ref()
                .is_none_or(|lt| task.launch_type.as_ref() == Some(lt))
    })
    .await?;
    Ok(ListTasksResponse {
        task_arns: Some(tasks.into_iter().filter_map(|t| t.task_arn).collect()),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}
