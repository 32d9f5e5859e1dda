//! The service scheduler: a reconciler. Each pass reads every service and its tasks as the
//! store has them, lets `berth_ecs::service::reconcile` decide what to start and stop, does it,
//! and records the outcome (deployment counts and rollout states, events) on the service. It
//! keeps no state between passes, so a restarted control plane carries on where it stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_ecs::lifecycle::{DesiredStatus, TaskStatus};
use berth_ecs::service::{
    PassInput, ServiceDeployment, ServiceTask, StopWhy, TaskSetTarget, TaskSetsInput,
    UNHEALTHY_REASON, elb_unhealthy_reason, reconcile, reconcile_daemon, reconcile_task_sets,
};
use berth_ecs::status::{DeploymentStatus, InstanceStatus, RolloutState, ServiceStatus};
use berth_ecs::task_set::{Controller, Stability, TaskSetStatus};
use berth_ecs_wire::{
    Failure, LoadBalancer, PlacementStrategy, RunTaskRequest, Service, StartTaskRequest, Tag, Task,
    TaskDefinition, TaskSet,
};
use berth_store::{Txn, transact};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use berth_ecs::load_balancers::{
    ElbHealth, GroupHealth, combined_health, elb_health, registrations,
};

use crate::ControlPlane;
use crate::ecs::tasks;
use crate::error::ApiError;
use crate::load_balancing::Target;
use crate::state::instances::{self, StoredInstance};
use crate::state::service_deployments::{self, Settled};
use crate::state::services::{self, deploy, new_deployment, record_event};
use crate::state::tasks as task_records;
use crate::state::{task_definitions, watch};

/// A pass runs at least this often (health becomes "40 s after RUNNING" with no event).
const PASS_EVERY: Duration = Duration::from_secs(1);
/// After a change wakes the scheduler, it waits this long so a burst becomes one pass.
const SETTLE: Duration = Duration::from_millis(20);
/// RunTask places at most 10 tasks per call.
const LAUNCH_BATCH: u32 = 10;

/// Runs passes until the store's change stream closes.
pub async fn run(cp: Arc<ControlPlane>) {
    let mut changes = cp.store.watch();
    let mut tick = tokio::time::interval(PASS_EVERY);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(set) if !set.changes.iter().any(|c| watch::concerns_services(&c.key)) => continue,
                Err(RecvError::Closed) => return,
                _ => {}
            },
            _ = tick.tick() => {}
        }
        tokio::time::sleep(SETTLE).await;
        loop {
            match changes.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        let started = Instant::now();
        let passed = pass(&cp).await;
        cp.scheduler_passes.observe(started.elapsed().as_secs_f64());
        if let Err(err) = passed {
            tracing::warn!(error = %err.message, "service scheduler pass failed");
        }
    }
}

/// One pass over every service that is not INACTIVE.
pub async fn pass(cp: &ControlPlane) -> Result<(), ApiError> {
    for record in services::everywhere(cp).await? {
        let (cluster, name, service) = record?;
        if service.status.as_deref() == Some(ServiceStatus::Inactive.as_str()) {
            continue;
        }
        if let Err(err) = reconcile_service(cp, &cluster, &name, &service).await {
            tracing::warn!(service = name, error = %err.message, "service pass failed");
        }
    }
    Ok(())
}

async fn definition(cp: &ControlPlane, arn: &str) -> Result<Option<TaskDefinition>, ApiError> {
    let reference = berth_ecs::arn::TaskDefinitionRef::parse(&cp.partition, arn)?;
    match reference {
        berth_ecs::arn::TaskDefinitionRef::Revision(family, revision) => {
            task_definitions::fetch(cp, &family, revision).await
        }
        berth_ecs::arn::TaskDefinitionRef::Family(_) => Ok(None),
    }
}

fn as_service_task(task: &Task, displaced: bool, protected: bool) -> ServiceTask {
    ServiceTask {
        id: task_records::task_id(task.task_arn.as_deref().unwrap_or_default()).to_string(),
        deployment: task.started_by.clone().unwrap_or_default(),
        last_status: task_records::status(task),
        // A DEACTIVATING task still runs while its targets drain, but the service is done with it.
        wanted: task.desired_status.as_deref() == Some(DesiredStatus::Running.as_str())
            && task_records::status(task) != TaskStatus::Deactivating,
        health: task
            .health_status
            .clone()
            .unwrap_or_else(|| "UNKNOWN".into()),
        started_at: task.started_at,
        zone: task.availability_zone.clone(),
        instance: task.container_instance_arn.clone(),
        stop_code: task.stop_code.clone(),
        stopped_reason: task.stopped_reason.clone(),
        created_at: task.created_at.unwrap_or(0.0),
        stopped_at: task.stopped_at,
        displaced,
        protected,
    }
}

/// What a pass did, to be recorded on the service.
#[derive(Default)]
struct Outcome {
    started: Vec<String>,
    stopped: Vec<String>,
    placement_problem: Option<String>,
    /// What changed in target groups, as the service's events say it.
    registrations: Vec<String>,
}

/// Asks the service's DEACTIVATING tasks to stop once their targets have drained: the longest
/// deregistration delay of their deployment's target groups since they began stopping.
async fn stop_drained(
    cp: &ControlPlane,
    cluster: &str,
    groups: &DeploymentGroups,
    tasks: &[Task],
    now: f64,
) -> Result<(), ApiError> {
    let deactivating: Vec<&Task> = tasks
        .iter()
        .filter(|t| {
            task_records::status(t) == TaskStatus::Deactivating
                && t.desired_status.as_deref() == Some(DesiredStatus::Running.as_str())
        })
        .collect();
    if deactivating.is_empty() {
        return Ok(());
    }
    let mut delays: HashMap<&str, u64> = HashMap::new();
    for task in &deactivating {
        for arn in groups
            .of(task)
            .iter()
            .filter_map(|l| l.target_group_arn.as_deref())
        {
            if delays.contains_key(arn) {
                continue;
            }
            // A group gone since has nothing left to drain.
            let delay = cp
                .load_balancing
                .target_group(&cp.partition.region, arn)
                .await?
                .map_or(0, |group| group.deregistration_delay_seconds);
            delays.insert(arn, delay);
        }
    }
    let drain_seconds = |task: &Task| {
        groups
            .of(task)
            .iter()
            .filter_map(|l| delays.get(l.target_group_arn.as_deref()?).copied())
            .max()
            .unwrap_or(0)
    };
    let drained: Vec<(String, String)> = deactivating
        .into_iter()
        .filter(|t| t.stopping_at.unwrap_or(0.0) + drain_seconds(t) as f64 <= now)
        .map(|t| {
            let id = task_records::task_id(t.task_arn.as_deref().unwrap_or_default());
            (id.to_string(), t.stopped_reason.clone().unwrap_or_default())
        })
        .collect();
    if !drained.is_empty() {
        tasks::stop_for_service(cp, cluster, drained, now).await?;
    }
    Ok(())
}

fn as_target((id, port): (String, i32)) -> Target {
    Target { id, port }
}

/// The target groups of each of a service's deployments: a deployment made by an UpdateService
/// that changed `loadBalancers` registers its tasks in other groups than the one it replaces.
struct DeploymentGroups {
    by_deployment: HashMap<String, Vec<LoadBalancer>>,
    /// Every group any deployment names, for tasks of deployments that have left
    /// `deployments[]` (stopped: they only ever leave groups).
    all: Vec<LoadBalancer>,
}

impl DeploymentGroups {
    /// The PRIMARY's are the service's own; the others' are in their service revisions.
    async fn read(
        cp: &ControlPlane,
        cluster: &str,
        name: &str,
        service: &Service,
    ) -> Result<Self, ApiError> {
        let own = service.load_balancers.clone().unwrap_or_default();
        let mut by_deployment = HashMap::new();
        let mut all = own.clone();
        for (index, deployment) in service.deployments.iter().flatten().enumerate() {
            let id = deployment.id.clone().unwrap_or_default();
            let groups = if index == 0 {
                own.clone()
            } else {
                service_deployments::load_balancers_of(cp, cluster, name, &id)
                    .await?
                    .unwrap_or_else(|| own.clone())
            };
            for entry in &groups {
                if !all.contains(entry) {
                    all.push(entry.clone());
                }
            }
            by_deployment.insert(id, groups);
        }
        Ok(DeploymentGroups { by_deployment, all })
    }

    /// The groups `task` registers in (by the deployment that started it).
    fn of(&self, task: &Task) -> &[LoadBalancer] {
        task.started_by
            .as_ref()
            .and_then(|id| self.by_deployment.get(id))
            .unwrap_or(&self.all)
    }

    fn of_deployment(&self, id: &str) -> &[LoadBalancer] {
        self.by_deployment.get(id).map_or(&[], Vec::as_slice)
    }

    fn any(&self) -> bool {
        !self.all.is_empty()
    }
}

async fn reconcile_service(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
) -> Result<(), ApiError> {
    let deployments = service.deployments.clone().unwrap_or_default();
    let task_sets = service.task_sets.clone().unwrap_or_default();
    let by_task_sets = Controller::of(
        service
            .deployment_controller
            .as_ref()
            .and_then(|c| c.r#type.as_deref()),
    )
    .uses_task_sets();
    // What the service's tasks are started for: its deployments, or its task sets (each of
    // which the pure pass treats as a one-deployment service).
    let units: Vec<(Option<&String>, Option<&String>, Option<&String>)> = if by_task_sets {
        task_sets
            .iter()
            .map(|s| (s.id.as_ref(), s.task_definition.as_ref(), None))
            .collect()
    } else {
        deployments
            .iter()
            .map(|d| {
                (
                    d.id.as_ref(),
                    d.task_definition.as_ref(),
                    d.rollout_state.as_ref(),
                )
            })
            .collect()
    };
    if units.is_empty() && !by_task_sets {
        return Ok(());
    }
    let mut views = Vec::with_capacity(units.len());
    for (id, definition_arn, rollout_state) in units {
        let checked = definition(cp, definition_arn.map_or("", String::as_str))
            .await?
            .is_some_and(|d| services::health_checked(&d));
        views.push(ServiceDeployment {
            id: id.cloned().unwrap_or_default(),
            rollout_state: rollout_state.cloned().unwrap_or_default(),
            health_checked: checked,
        });
    }
    let now = cp.clock.now();
    let mut tasks = task_records::of_service(cp, cluster, name).await?;
    // Where the live tasks run: a draining instance's tasks are replaced; a lost one's (its
    // agent gone longer than `agent_lost_after`) are recorded stopped first.
    let groups = DeploymentGroups::read(cp, cluster, name, service).await?;
    let mut instances: HashMap<String, Option<StoredInstance>> = HashMap::new();
    // With load balancers, stopped tasks' instances too: their targets are deregistered.
    for task in tasks
        .iter()
        .filter(|t| groups.any() || task_records::status(t) != TaskStatus::Stopped)
    {
        let id = task_records::task_id(task.container_instance_arn.as_deref().unwrap_or_default());
        if !instances.contains_key(id) {
            let stored = instances::fetch(cp, cluster, id).await?;
            instances.insert(id.to_string(), stored);
        }
    }
    let lost_after = cp.agent_lost_after.as_secs_f64();
    let is_lost = |stored: &StoredInstance| {
        !stored.connected()
            && stored
                .disconnected_at
                .is_some_and(|at| now - at >= lost_after)
    };
    let instance_of = |task: &Task| {
        instances
            .get(task_records::task_id(
                task.container_instance_arn.as_deref().unwrap_or_default(),
            ))
            .and_then(Option::as_ref)
    };
    let lost: Vec<String> = tasks
        .iter()
        .filter(|t| {
            task_records::status(t) != TaskStatus::Stopped && instance_of(t).is_some_and(is_lost)
        })
        .map(|t| task_records::task_id(t.task_arn.as_deref().unwrap_or_default()).to_string())
        .collect();
    if !lost.is_empty() {
        let reason = format!(
            "Task stopped because its container instance's agent was disconnected for more than {} seconds.",
            cp.agent_lost_after.as_secs()
        );
        tasks::stop_lost(cp, cluster, lost, reason, now).await?;
        tasks = task_records::of_service(cp, cluster, name).await?;
    }
    let ec2_instance_of = |instance_arn: &str| {
        instances
            .get(task_records::task_id(instance_arn))?
            .as_ref()?
            .instance
            .ec2_instance_id
            .clone()
    };
    // Behind load balancers a task is healthy only when its target is healthy in every group.
    let mut group_health = BTreeMap::new();
    if groups.any()
        && tasks
            .iter()
            .any(|t| task_records::status(t) == TaskStatus::Running)
    {
        let arns: BTreeSet<String> = groups
            .all
            .iter()
            .filter_map(|l| l.target_group_arn.clone())
            .collect();
        for arn in arns {
            let health = cp
                .load_balancing
                .health(&cp.partition.region, &arn, now)
                .await?;
            let by_target: GroupHealth = health
                .into_iter()
                .map(|h| ((h.target.id, h.target.port), (h.state, h.description)))
                .collect();
            group_health.insert(arn, by_target);
        }
    }
    let container_checked: HashMap<String, bool> = views
        .iter()
        .map(|v| (v.id.clone(), v.health_checked))
        .collect();
    // Behind load balancers a deployment's tasks must be healthy in its target groups.
    for view in &mut views {
        if !groups.of_deployment(&view.id).is_empty() {
            view.health_checked = true;
        }
    }
    let protections = task_records::protections_of_service(cp, cluster, name).await?;
    let mut elb_failures: HashMap<String, ElbHealth> = HashMap::new();
    let task_views: Vec<ServiceTask> = tasks
        .iter()
        .map(|task| {
            let displaced = task_records::status(task) != TaskStatus::Stopped
                && instance_of(task).is_none_or(|i| i.status() != InstanceStatus::Active.as_str());
            let id = task_records::task_id(task.task_arn.as_deref().unwrap_or_default());
            let protected = protections.get(id).is_some_and(|p| p.active_at(now));
            let mut view = as_service_task(task, displaced, protected);
            let load_balancers = groups.of(task);
            if !load_balancers.is_empty() {
                let elb = elb_health(task, load_balancers, &group_health, ec2_instance_of);
                let checked = container_checked.get(&view.deployment) == Some(&true);
                view.health = combined_health(&view.health, checked, &elb).to_string();
                if matches!(elb, ElbHealth::Unhealthy { .. }) {
                    elb_failures.insert(view.id.clone(), elb);
                }
            }
            view
        })
        .collect();
    if by_task_sets {
        let observed = Observed {
            views: &views,
            task_views: &task_views,
            now,
        };
        return task_set_pass(cp, cluster, name, service, &task_sets, observed).await;
    }
    let primary = &deployments[0];
    let primary_id = primary.id.clone().unwrap_or_default();
    let configuration = service.deployment_configuration.clone().unwrap_or_default();
    let breaker = configuration
        .deployment_circuit_breaker
        .clone()
        .unwrap_or_default();
    let input = PassInput {
        desired: service.desired_count.unwrap_or(0).max(0) as u32,
        maximum_percent: configuration.maximum_percent.unwrap_or(200).max(0) as u32,
        minimum_healthy_percent: configuration.minimum_healthy_percent.unwrap_or(100).max(0) as u32,
        health_check_grace_period: f64::from(
            service.health_check_grace_period_seconds.unwrap_or(0),
        ),
        circuit_breaker: breaker.enable == Some(true),
        deployments: &views,
        tasks: &task_views,
        backoff_since: services::fetch_updated_at(cp, cluster, name)
            .await?
            .unwrap_or(0.0),
        now,
    };
    let daemon = service.scheduling_strategy.as_deref() == Some("DAEMON");
    let (decided, daemon_targets) = if daemon {
        let eligible = daemon_instances(cp, cluster, name, service, primary).await?;
        let (decided, start_on) = reconcile_daemon(&input, &eligible);
        (decided, Some((eligible.len() as i32, start_on)))
    } else {
        (reconcile(&input), None)
    };

    let mut outcome = Outcome::default();
    let stopping: HashSet<String> = decided.stop.iter().map(|(id, _)| id.clone()).collect();
    let plan = registrations(
        tasks.iter().map(|task| (task, groups.of(task))),
        &stopping,
        ec2_instance_of,
    );
    // Deregistered before they are stopped, so the load balancer stops sending them requests.
    for (arn, targets) in plan.deregister {
        let targets = targets.into_iter().map(as_target).collect();
        match cp
            .load_balancing
            .deregister(&cp.partition.region, &arn, targets, now)
            .await
        {
            Ok(0) => {}
            Ok(count) => outcome.registrations.push(format!(
                "deregistered {count} targets in (target-group {arn})"
            )),
            Err(err) => {
                tracing::warn!(service = name, target_group = arn, error = %err.message, "deregistering targets failed");
            }
        }
    }
    if !decided.stop.is_empty() {
        let scale_in = format!("Scaling activity initiated by (deployment {primary_id})");
        let stops: Vec<(String, String)> = decided
            .stop
            .iter()
            .map(|(id, why)| {
                let reason = match why {
                    StopWhy::ScaleIn => scale_in.clone(),
                    StopWhy::Unhealthy => match elb_failures.get(id) {
                        Some(ElbHealth::Unhealthy {
                            target_group_arn, ..
                        }) => elb_unhealthy_reason(target_group_arn),
                        _ => UNHEALTHY_REASON.to_string(),
                    },
                };
                (id.clone(), reason)
            })
            .collect();
        // Behind load balancers a RUNNING task drains first (deregistered above).
        let (drain, stop_now): (Vec<_>, Vec<_>) = stops.into_iter().partition(|(id, _)| {
            tasks.iter().any(|t| {
                task_records::task_id(t.task_arn.as_deref().unwrap_or_default()) == id
                    && task_records::status(t) == TaskStatus::Running
                    && !groups.of(t).is_empty()
            })
        });
        outcome.stopped = tasks::stop_for_service(cp, cluster, stop_now, now).await?;
        outcome
            .stopped
            .extend(tasks::deactivate_for_service(cp, cluster, drain, now).await?);
    }
    stop_drained(cp, cluster, &groups, &tasks, now).await?;
    if let Some((_, start_on)) = &daemon_targets {
        if !start_on.is_empty() {
            launch_on(cp, cluster, name, service, primary, start_on, &mut outcome).await?;
        }
    } else if decided.start > 0 {
        launch(
            cp,
            cluster,
            name,
            service,
            Unit::of(primary),
            decided.start,
            &mut outcome,
        )
        .await?;
    }
    for (arn, targets) in plan.register {
        let targets = targets.into_iter().map(as_target).collect();
        match cp
            .load_balancing
            .register(&cp.partition.region, &arn, targets)
            .await
        {
            Ok(0) => {}
            Ok(count) => outcome.registrations.push(format!(
                "registered {count} targets in (target-group {arn})"
            )),
            Err(err) => {
                tracing::warn!(service = name, target_group = arn, error = %err.message, "registering targets failed");
            }
        }
    }
    let started = outcome.started.len() as i32;
    let rollback_to = (decided.failed && breaker.rollback == Some(true))
        .then(|| {
            deployments[1..]
                .iter()
                .find(|d| d.rollout_state.as_deref() == Some(RolloutState::Completed.as_str()))
                .and_then(|d| Some((d.task_definition.clone()?, d.id.clone()?)))
        })
        .flatten();
    let name = name.to_string();
    let cluster = cluster.to_string();
    let partition = cp.partition.clone();
    let rollback_id = services::deployment_id();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let Some(mut current) = services::read(txn, &cluster, &name)? else {
            return Ok(());
        };
        let before = current.clone();
        let still_primary = current
            .deployments
            .iter()
            .flatten()
            .next()
            .and_then(|d| d.id.as_deref())
            == Some(primary_id.as_str());
        if let Some((desired, _)) = &daemon_targets
            && current.desired_count != Some(*desired)
            && current.status.as_deref() == Some(ServiceStatus::Active.as_str())
        {
            current.desired_count = Some(*desired);
            if let Some(primary) = current.deployments.iter_mut().flatten().next() {
                primary.desired_count = Some(*desired);
            }
        }
        let list = current.deployments.get_or_insert_with(Vec::new);
        for (view, counts) in views.iter().zip(&decided.counts) {
            let Some(deployment) = list.iter_mut().find(|d| d.id.as_deref() == Some(view.id.as_str())) else {
                continue;
            };
            let pending = counts.pending as i32 + if view.id == primary_id { started } else { 0 };
            let fresh = (Some(counts.running as i32), Some(pending), Some(counts.failed as i32));
            if (deployment.running_count, deployment.pending_count, deployment.failed_tasks) != fresh {
                (deployment.running_count, deployment.pending_count, deployment.failed_tasks) = fresh;
                deployment.updated_at = Some(now);
            }
        }
        list.retain(|d| {
            d.status.as_deref() == Some(DeploymentStatus::Primary.as_str())
                || !decided.drained.iter().any(|id| d.id.as_deref() == Some(id.as_str()))
        });
        let service_label = format!("(service {name})");
        for (id, why) in &decided.stop {
            if *why == StopWhy::Unhealthy && outcome.stopped.contains(id) {
                let message = match elb_failures.get(id) {
                    Some(ElbHealth::Unhealthy {
                        target_group_arn,
                        target: (instance, port),
                        description,
                    }) => {
                        let group = target_group_arn.split('/').nth(1).unwrap_or_default();
                        let reason = description.as_deref().unwrap_or("Health checks failed");
                        format!("{service_label} (task {id}) (instance {instance}) (port {port}) is unhealthy in (target-group {group}) due to (reason {reason})")
                    }
                    _ => format!("{service_label} (task {id}) failed container health checks."),
                };
                record_event(&mut current, message, now);
            }
        }
        record_outcome(&mut current, &service_label, &outcome, now);
        let failed_tasks = decided.counts.first().map_or(0, |c| c.failed as i32);
        if still_primary {
            if decided.completed {
                let primary = &mut current.deployments.get_or_insert_with(Vec::new)[0];
                primary.rollout_state = Some(RolloutState::Completed.as_str().into());
                primary.rollout_state_reason = Some(format!("ECS deployment {primary_id} completed."));
                service_deployments::settle(
                    txn,
                    &partition,
                    &cluster,
                    &name,
                    &primary_id,
                    Settled::Completed { failed_tasks },
                    now,
                )?;
                record_event(
                    &mut current,
                    format!("{service_label} (deployment {primary_id}) deployment completed."),
                    now,
                );
            }
            if decided.failed {
                let primary = &mut current.deployments.get_or_insert_with(Vec::new)[0];
                primary.rollout_state = Some(RolloutState::Failed.as_str().into());
                primary.rollout_state_reason =
                    Some("ECS deployment circuit breaker: tasks failed to start.".into());
                record_event(
                    &mut current,
                    format!("{service_label} (deployment {primary_id}) deployment failed: tasks failed to start."),
                    now,
                );
                let rollback = rollback_to.as_ref().map(|(definition, source)| {
                    let deployment = new_deployment(&current, definition, rollback_id.clone(), now);
                    (deployment, definition, source.as_str())
                });
                service_deployments::settle(
                    txn,
                    &partition,
                    &cluster,
                    &name,
                    &primary_id,
                    Settled::Failed {
                        failed_tasks,
                        rollback: rollback.as_ref().map(|(d, _, source)| (d, *source)),
                    },
                    now,
                )?;
                if let Some((deployment, definition, source)) = rollback {
                    current.deployments.get_or_insert_with(Vec::new)[0].rollout_state_reason =
                        Some(format!(
                            "ECS deployment circuit breaker: rolling back to deploymentId {rollback_id}."
                        ));
                    current.task_definition = Some(definition.clone());
                    // The restored revision's target groups come back with it.
                    if let Some(restored) =
                        service_deployments::revision_load_balancers(txn, &cluster, &name, source)?
                    {
                        current.load_balancers = Some(restored);
                    }
                    deploy(&mut current, deployment);
                }
            }
            if decided.throttled {
                record_event(
                    &mut current,
                    format!("{service_label} is unable to consistently start tasks successfully."),
                    now,
                );
            }
            if decided.stuck {
                record_event(
                    &mut current,
                    format!("{service_label} was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."),
                    now,
                );
            }
            if decided.steady && outcome.started.is_empty() {
                record_event(&mut current, format!("{service_label} has reached a steady state."), now);
            }
        }
        let deployments = current.deployments.clone().unwrap_or_default();
        current.running_count = Some(deployments.iter().map(|d| d.running_count.unwrap_or(0)).sum());
        current.pending_count = Some(deployments.iter().map(|d| d.pending_count.unwrap_or(0)).sum());
        // A deleted service becomes INACTIVE once its last task has stopped.
        if current.status.as_deref() == Some(ServiceStatus::Draining.as_str())
            && task_views.iter().all(|t| t.last_status == TaskStatus::Stopped)
        {
            current.status = Some(ServiceStatus::Inactive.as_str().into());
            // ECS deletes a deleted service's service deployments.
            service_deployments::forget(txn, &cluster, &name)?;
        }
        if current != before {
            services::write(txn, &cluster, &name, &current);
        }
        Ok::<_, ApiError>(())
    })
    .await
}

/// Records a pass's starts, stops, target registrations and placement problem as the
/// service's events.
fn record_outcome(current: &mut Service, service_label: &str, outcome: &Outcome, now: f64) {
    for (ids, did) in [
        (&outcome.stopped, "has stopped {} running tasks"),
        (&outcome.started, "has started {} tasks"),
    ] {
        if !ids.is_empty() {
            let listed: Vec<String> = ids.iter().map(|id| format!("(task {id})")).collect();
            let did = did.replace("{}", &ids.len().to_string());
            record_event(
                current,
                format!("{service_label} {did}: {}.", listed.join(" ")),
                now,
            );
        }
    }
    for registration in &outcome.registrations {
        record_event(current, format!("{service_label} {registration}"), now);
    }
    if let Some(problem) = &outcome.placement_problem {
        record_event(current, format!("{service_label} {problem}"), now);
    }
}

/// What a pass read of a service's tasks.
struct Observed<'a> {
    /// The task sets as the pure pass sees them (their health checks), in `taskSets[]` order.
    views: &'a [ServiceDeployment],
    task_views: &'a [ServiceTask],
    now: f64,
}

/// A pass over a service deployed through task sets (EXTERNAL, CODE_DEPLOY): each task set's
/// computed count runs, tasks of deleted task sets stop, and each task set's counts and
/// stability are recorded; a DRAINING task set whose tasks have all stopped leaves `taskSets[]`.
async fn task_set_pass(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
    task_sets: &[TaskSet],
    observed: Observed<'_>,
) -> Result<(), ApiError> {
    let Observed {
        views,
        task_views,
        now,
    } = observed;
    let active = service.status.as_deref() == Some(ServiceStatus::Active.as_str());
    let targets: Vec<TaskSetTarget> = task_sets
        .iter()
        .zip(views)
        .map(|(set, view)| TaskSetTarget {
            id: view.id.clone(),
            desired: if active {
                set.computed_desired_count.unwrap_or(0).max(0) as u32
            } else {
                0
            },
            health_checked: view.health_checked,
        })
        .collect();
    let configuration = service.deployment_configuration.clone().unwrap_or_default();
    let decided = reconcile_task_sets(&TaskSetsInput {
        sets: &targets,
        maximum_percent: configuration.maximum_percent.unwrap_or(200).max(0) as u32,
        minimum_healthy_percent: configuration.minimum_healthy_percent.unwrap_or(100).max(0) as u32,
        health_check_grace_period: f64::from(
            service.health_check_grace_period_seconds.unwrap_or(0),
        ),
        tasks: task_views,
        backoff_since: services::fetch_updated_at(cp, cluster, name)
            .await?
            .unwrap_or(0.0),
        now,
    });
    let mut outcome = Outcome::default();
    if !decided.stop.is_empty() {
        let of_task = |id: &str| {
            task_views
                .iter()
                .find(|t| t.id == id)
                .map_or("", |t| t.deployment.as_str())
        };
        let stops = decided
            .stop
            .iter()
            .map(|(id, why)| {
                let reason = match why {
                    StopWhy::ScaleIn => {
                        format!("Scaling activity initiated by (deployment {})", of_task(id))
                    }
                    StopWhy::Unhealthy => UNHEALTHY_REASON.to_string(),
                };
                (id.clone(), reason)
            })
            .collect();
        outcome.stopped = tasks::stop_for_service(cp, cluster, stops, now).await?;
    }
    let mut started = Vec::with_capacity(targets.len());
    for (set, count) in task_sets.iter().zip(&decided.start) {
        let before = outcome.started.len();
        if *count > 0 {
            let unit = Unit {
                id: set.id.as_deref().unwrap_or_default(),
                task_definition: set.task_definition.as_deref().unwrap_or_default(),
            };
            launch(cp, cluster, name, service, unit, *count, &mut outcome).await?;
        }
        started.push((outcome.started.len() - before) as i32);
    }
    let unsettled = decided.stop.len() + outcome.started.len();
    let (name, cluster) = (name.to_string(), cluster.to_string());
    let all_stopped = task_views
        .iter()
        .all(|t| t.last_status == TaskStatus::Stopped);
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let Some(mut current) = services::read(txn, &cluster, &name)? else {
            return Ok(());
        };
        let before = current.clone();
        let list = current.task_sets.get_or_insert_with(Vec::new);
        for (index, target) in targets.iter().enumerate() {
            let Some(set) = list
                .iter_mut()
                .find(|s| s.id.as_deref() == Some(target.id.as_str()))
            else {
                continue;
            };
            let counts = &decided.counts[index];
            let running = counts.running as i32;
            let pending = counts.pending as i32 + started[index];
            set.running_count = Some(running);
            set.pending_count = Some(pending);
            // Steady only if what the pass aimed at is still the task set's count.
            let steady = decided.steady[index]
                && started[index] == 0
                && set.computed_desired_count == Some(target.desired as i32);
            let stability = if steady {
                Stability::SteadyState
            } else {
                Stability::Stabilizing
            };
            if set.stability_status.as_deref() != Some(stability.as_str()) {
                set.stability_status = Some(stability.as_str().into());
                set.stability_status_at = Some(now);
            }
        }
        // A deleted task set is gone, its tags with it, once its last task has stopped.
        let (gone, kept): (Vec<TaskSet>, Vec<TaskSet>) =
            std::mem::take(list).into_iter().partition(|s| {
                s.status.as_deref() == Some(TaskSetStatus::Draining.as_str())
                    && targets.iter().enumerate().any(|(index, target)| {
                        s.id.as_deref() == Some(target.id.as_str())
                            && decided.empty[index]
                            && started[index] == 0
                    })
            });
        *list = kept;
        for set in gone {
            crate::state::tags::write(txn, set.task_set_arn.as_deref().unwrap_or_default(), &[]);
        }
        let sets = current.task_sets.clone().unwrap_or_default();
        current.running_count = Some(sets.iter().map(|s| s.running_count.unwrap_or(0)).sum());
        current.pending_count = Some(sets.iter().map(|s| s.pending_count.unwrap_or(0)).sum());
        let service_label = format!("(service {name})");
        record_outcome(&mut current, &service_label, &outcome, now);
        let steady = sets
            .iter()
            .all(|s| s.stability_status.as_deref() == Some(Stability::SteadyState.as_str()));
        if steady
            && unsettled == 0
            && current.status.as_deref() == Some(ServiceStatus::Active.as_str())
        {
            record_event(
                &mut current,
                format!("{service_label} has reached a steady state."),
                now,
            );
        }
        if current.status.as_deref() == Some(ServiceStatus::Draining.as_str()) && all_stopped {
            current.status = Some(ServiceStatus::Inactive.as_str().into());
        }
        if current != before {
            services::write(txn, &cluster, &name, &current);
        }
        Ok::<_, ApiError>(())
    })
    .await
}

/// What the scheduler starts tasks for: a deployment or a task set (`startedBy` its id).
#[derive(Clone, Copy)]
struct Unit<'a> {
    id: &'a str,
    task_definition: &'a str,
}

impl<'a> Unit<'a> {
    fn of(deployment: &'a berth_ecs_wire::Deployment) -> Self {
        Unit {
            id: deployment.id.as_deref().unwrap_or_default(),
            task_definition: deployment.task_definition.as_deref().unwrap_or_default(),
        }
    }
}

/// Starts `count` tasks of the PRIMARY deployment (or of a task set) through RunTask, in
/// batches of 10.
async fn launch(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
    unit: Unit<'_>,
    count: u32,
    outcome: &mut Outcome,
) -> Result<(), ApiError> {
    let strategies = match service.placement_strategy.as_deref() {
        Some(given) if !given.is_empty() => given.to_vec(),
        // ECS's default for a REPLICA service: even across zones, then across instances.
        _ => vec![
            PlacementStrategy {
                r#type: Some("spread".into()),
                field: Some("attribute:ecs.availability-zone".into()),
            },
            PlacementStrategy {
                r#type: Some("spread".into()),
                field: Some("instanceId".into()),
            },
        ],
    };
    let tags = task_tags(cp, cluster, name, service, unit).await?;
    let mut left = count;
    while left > 0 {
        let batch = left.min(LAUNCH_BATCH);
        left -= batch;
        let request = RunTaskRequest {
            cluster: Some(cluster.to_string()),
            task_definition: Some(unit.task_definition.to_string()),
            count: Some(batch as i32),
            group: Some(format!("service:{name}")),
            started_by: Some(unit.id.to_string()),
            placement_constraints: service.placement_constraints.clone(),
            placement_strategy: Some(strategies.clone()),
            launch_type: Some("EC2".into()),
            tags: Some(tags.clone()),
            ..RunTaskRequest::default()
        };
        match tasks::run_for_service(cp, request).await {
            Ok(response) => {
                let placed = response.tasks.unwrap_or_default();
                outcome.started.extend(placed.iter().map(|t| {
                    task_records::task_id(t.task_arn.as_deref().unwrap_or_default()).to_string()
                }));
                let failures = response.failures.unwrap_or_default();
                if (placed.len() as u32) < batch {
                    outcome.placement_problem = Some(unplaceable(&failures));
                    break;
                }
            }
            Err(err) => {
                outcome.placement_problem = Some(format!(
                    "was unable to place a task. Reason: {} For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                    err.message
                ));
                break;
            }
        }
    }
    Ok(())
}

/// The instances a DAEMON service runs on: ACTIVE ones whose agent is not lost and that meet
/// the task definition's and the service's constraints and required attributes. A deleted
/// (DRAINING) service runs on none.
async fn daemon_instances(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
    primary: &berth_ecs_wire::Deployment,
) -> Result<Vec<String>, ApiError> {
    if service.status.as_deref() != Some(ServiceStatus::Active.as_str()) {
        return Ok(Vec::new());
    }
    let Some(definition) =
        definition(cp, primary.task_definition.as_deref().unwrap_or_default()).await?
    else {
        return Ok(Vec::new());
    };
    let now = cp.clock.now();
    let lost_after = cp.agent_lost_after.as_secs_f64();
    let (stored, _) = instances::page(cp, cluster, None, usize::MAX, |s| {
        s.status() == InstanceStatus::Active.as_str()
    })
    .await?;
    // An agent that is only briefly away keeps its instance's task; placement's own check of
    // the connection is for new tasks.
    let candidates: Vec<(String, berth_scheduler::Instance)> = stored
        .iter()
        .filter(|s| s.connected() || s.disconnected_at.is_some_and(|at| now - at < lost_after))
        .map(|s| {
            let mut instance = s.for_placement();
            instance.agent_connected = true;
            (s.arn().to_string(), instance)
        })
        .collect();
    // One task per instance is what a daemon is; its own tasks must not exclude it.
    let constraints = berth_ecs::placement::parse_constraints(
        Some(&definition),
        service.placement_constraints.as_deref().unwrap_or_default(),
    )?
    .into_iter()
    .filter(|c| *c != berth_scheduler::Constraint::DistinctInstance)
    .collect();
    let request = berth_scheduler::PlacementRequest {
        count: 1,
        group: format!("service:{name}"),
        demand: berth_scheduler::Resources::default(),
        launch_type: Some(berth_scheduler::LaunchType::Ec2),
        required_attributes: berth_ecs::placement::required_attributes(&definition),
        subnet_zones: None,
        constraints,
        strategies: Vec::new(),
    };
    let (arns, instances): (Vec<String>, Vec<berth_scheduler::Instance>) =
        candidates.into_iter().unzip();
    let verdicts = berth_scheduler::Cluster::new(instances).explain(&request);
    Ok(arns
        .into_iter()
        .zip(verdicts)
        .filter(|(_, rejection)| rejection.is_none())
        .map(|(arn, _)| arn)
        .collect())
}

/// Starts one task of the PRIMARY deployment on each of `instances` through StartTask.
async fn launch_on(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
    primary: &berth_ecs_wire::Deployment,
    instances: &[String],
    outcome: &mut Outcome,
) -> Result<(), ApiError> {
    let tags = task_tags(cp, cluster, name, service, Unit::of(primary)).await?;
    for batch in instances.chunks(LAUNCH_BATCH as usize) {
        let request = StartTaskRequest {
            cluster: Some(cluster.to_string()),
            task_definition: primary.task_definition.clone(),
            container_instances: Some(batch.to_vec()),
            group: Some(format!("service:{name}")),
            started_by: primary.id.clone(),
            tags: Some(tags.clone()),
            ..StartTaskRequest::default()
        };
        let response = tasks::start_for_service(cp, request).await?;
        let placed = response.tasks.unwrap_or_default();
        outcome.started.extend(
            placed.iter().map(|t| {
                task_records::task_id(t.task_arn.as_deref().unwrap_or_default()).to_string()
            }),
        );
        let failures = response.failures.unwrap_or_default();
        if !failures.is_empty() {
            outcome.placement_problem = Some(unplaceable(&failures));
        }
    }
    Ok(())
}

/// The tags a service's tasks get: the service's or the task definition's (`propagateTags`),
/// and with `enableECSManagedTags` ECS's `aws:ecs:clusterName` and `aws:ecs:serviceName`.
async fn task_tags(
    cp: &ControlPlane,
    cluster: &str,
    name: &str,
    service: &Service,
    unit: Unit<'_>,
) -> Result<Vec<Tag>, ApiError> {
    let source = match service.propagate_tags.as_deref() {
        Some("SERVICE") => service.service_arn.clone(),
        Some("TASK_DEFINITION") => Some(unit.task_definition.to_string()),
        _ => None,
    };
    let mut tags = match source {
        Some(arn) => crate::state::tags::fetch(cp, &arn).await?,
        None => Vec::new(),
    };
    if service.enable_ecs_managed_tags == Some(true) {
        for (key, value) in [
            ("aws:ecs:clusterName", cluster),
            ("aws:ecs:serviceName", name),
        ] {
            tags.push(Tag {
                key: Some(key.into()),
                value: Some(value.into()),
            });
        }
    }
    Ok(tags)
}

/// ECS's service event for tasks no instance could take, naming the closest match.
fn unplaceable(failures: &[Failure]) -> String {
    // The instance that got furthest through the filters: resources are checked last.
    let closest = failures
        .iter()
        .find(|f| {
            f.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("RESOURCE:"))
        })
        .or_else(|| failures.first());
    let Some(closest) = closest else {
        return "was unable to place a task because no container instance met all of its requirements. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.".into();
    };
    let instance = task_records::task_id(closest.arn.as_deref().unwrap_or_default());
    let problem = match closest.reason.as_deref().unwrap_or_default() {
        "RESOURCE:CPU" => "has insufficient CPU units available".to_string(),
        "RESOURCE:MEMORY" => "has insufficient memory available".to_string(),
        "RESOURCE:PORTS" => "is already using a port required by your task".to_string(),
        "RESOURCE:GPU" => "has insufficient GPU units available".to_string(),
        "ATTRIBUTE" => "is missing an attribute required by your task".to_string(),
        other => format!("encountered error \"{other}\""),
    };
    format!(
        "was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance {instance}) {problem}. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
}

#[cfg(test)]
mod tests {
    use berth_ecs::events::ServiceAction;

    use super::*;

    /// The event stream reads the scheduler's placement problems back as ECS's
    /// SERVICE_TASK_PLACEMENT_FAILURE, with the reason placement gave.
    #[test]
    fn placement_problems_read_back_as_ecs_service_actions() {
        for reason in [
            "RESOURCE:CPU",
            "RESOURCE:MEMORY",
            "RESOURCE:PORTS",
            "RESOURCE:GPU",
        ] {
            let failures = [Failure {
                arn: Some("arn:aws:ecs:us-east-1:1:container-instance/c/77aa".into()),
                reason: Some(reason.into()),
                ..Failure::default()
            }];
            let message = format!("(service web) {}", unplaceable(&failures));
            assert_eq!(
                ServiceAction::of_message(&message),
                Some(ServiceAction::TaskPlacementFailure {
                    reason: Some(reason)
                }),
                "{message}"
            );
        }
        let message = format!("(service web) {}", unplaceable(&[]));
        assert_eq!(
            ServiceAction::of_message(&message),
            Some(ServiceAction::TaskPlacementFailure { reason: None })
        );
    }
}
