//! The service scheduler's decisions, free of I/O: ECS's rolling-deployment math, when a task
//! counts as healthy, the deployment circuit breaker, and one reconcile pass that turns the
//! service's desired state and its tasks as they are into tasks to start and tasks to stop.
//!
//! A pass keeps no memory of earlier passes: everything it needs (which deployment a task
//! belongs to, whether it ever ran, why it stopped) is on the task records, so a restarted
//! control plane carries on exactly where the last pass left off.

use std::collections::BTreeMap;

use crate::lifecycle::TaskStatus;

/// The longest the scheduler waits between launches of a deployment whose tasks keep failing
/// to start.
pub const MAX_LAUNCH_BACKOFF_SECS: f64 = 900.0;

/// How long to wait after the last of `failures` tasks in a row that failed to start before
/// launching again: 5 s, doubling per failure, at most 15 minutes. ECS publishes the cap, not the
/// steps.
pub fn launch_backoff(failures: u32) -> f64 {
    if failures == 0 {
        return 0.0;
    }
    (5.0 * 2f64.powi(failures.min(16) as i32 - 1)).min(MAX_LAUNCH_BACKOFF_SECS)
}

/// A task with neither health checks nor a load balancer counts as healthy this long after it
/// reached RUNNING.
pub const HEALTHY_AFTER_RUNNING_SECS: f64 = 40.0;

/// Why the scheduler stops a task that failed its container health checks.
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// What the stopped reason of a task that failed its load balancer's health checks starts with.
const ELB_UNHEALTHY_PREFIX: &str = "Task failed ELB health checks in ";

/// Why the scheduler stops a task whose target failed health checks in `target_group_arn`.
pub fn elb_unhealthy_reason(target_group_arn: &str) -> String {
    format!("{ELB_UNHEALTHY_PREFIX}(target-group {target_group_arn})")
}

/// At most this many tasks may be RUNNING or PENDING during a deployment.
pub fn max_tasks(desired: u32, maximum_percent: u32) -> u32 {
    u32::try_from(u64::from(desired) * u64::from(maximum_percent) / 100).unwrap_or(u32::MAX)
}

/// At least this many tasks must stay healthy during a deployment.
pub fn min_healthy_tasks(desired: u32, minimum_healthy_percent: u32) -> u32 {
    u32::try_from((u64::from(desired) * u64::from(minimum_healthy_percent)).div_ceil(100))
        .unwrap_or(u32::MAX)
}

/// How many failed tasks trip the deployment circuit breaker: half the desired count, rounded
/// up, at least 3 and at most 200 (ECS's API reference; its 2023 guide said at least 10).
pub fn circuit_breaker_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

/// A task of the service as a pass sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceTask {
    pub id: String,
    /// The deployment that started it (from `startedBy`).
    pub deployment: String,
    pub last_status: TaskStatus,
    /// `desiredStatus` is still RUNNING: nobody has asked it to stop.
    pub wanted: bool,
    /// The task's aggregated `healthStatus`: HEALTHY, UNHEALTHY or UNKNOWN.
    pub health: String,
    /// When it reached RUNNING, if it did.
    pub started_at: Option<f64>,
    pub zone: Option<String>,
    pub instance: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub created_at: f64,
    pub stopped_at: Option<f64>,
    /// Its instance is DRAINING (or deregistered): it is replaced elsewhere, within the
    /// deployment limits, like an older deployment's task.
    pub displaced: bool,
    /// Its task scale-in protection is on and has not expired: scale-in and deployments leave
    /// it running (health-check replacement still stops it).
    pub protected: bool,
}

impl ServiceTask {
    fn live(&self) -> bool {
        self.wanted && self.last_status != TaskStatus::Stopped
    }

    /// A task that counts against its deployment's circuit breaker: it stopped without ever
    /// reaching RUNNING (and nobody stopped it on purpose), or it failed its container's or its
    /// load balancer's health checks (ECS's second stage counts both).
    pub fn failed(&self) -> bool {
        if self.stopped_reason.as_deref().is_some_and(|reason| {
            reason == UNHEALTHY_REASON || reason.starts_with(ELB_UNHEALTHY_PREFIX)
        }) {
            return true;
        }
        let on_purpose = matches!(
            self.stop_code.as_deref(),
            Some("ServiceSchedulerInitiated" | "UserInitiated")
        );
        self.last_status == TaskStatus::Stopped && self.started_at.is_none() && !on_purpose
    }
}

/// A deployment of the service, newest (the PRIMARY) first.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDeployment {
    pub id: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: String,
    /// Its task definition has an essential container with a health check, so its tasks must
    /// be HEALTHY to count as healthy.
    pub health_checked: bool,
}

/// What a pass reads.
#[derive(Debug, Clone)]
pub struct PassInput<'a> {
    pub desired: u32,
    pub maximum_percent: u32,
    pub minimum_healthy_percent: u32,
    /// Seconds after a task starts during which failed health checks are ignored.
    pub health_check_grace_period: f64,
    pub circuit_breaker: bool,
    pub deployments: &'a [ServiceDeployment],
    /// Every task of the service the store still has, stopped ones included.
    pub tasks: &'a [ServiceTask],
    /// When the service was last updated: the launch backoff counts only failures since.
    pub backoff_since: f64,
    pub now: f64,
}

/// Why a pass stops a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopWhy {
    /// More tasks than wanted, or an older deployment's task being replaced.
    ScaleIn,
    Unhealthy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentCounts {
    pub running: u32,
    pub pending: u32,
    pub failed: u32,
}

/// What a pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pass {
    /// Tasks to start for the PRIMARY deployment.
    pub start: u32,
    pub stop: Vec<(String, StopWhy)>,
    /// Per deployment, in input order, after the stops.
    pub counts: Vec<DeploymentCounts>,
    /// Older deployments with no task left: they leave `deployments[]`.
    pub drained: Vec<String>,
    /// The PRIMARY's rollout just completed.
    pub completed: bool,
    /// The circuit breaker just tripped on the PRIMARY.
    pub failed: bool,
    /// Nothing to do: one deployment, completed, with all its tasks running.
    pub steady: bool,
    /// The deployment needs tasks started or stopped but its configuration allows neither.
    pub stuck: bool,
    /// Launches are held back: the PRIMARY's recent tasks keep failing to start.
    pub throttled: bool,
}

pub fn healthy(task: &ServiceTask, deployment: Option<&ServiceDeployment>, now: f64) -> bool {
    if !task.live() || task.last_status != TaskStatus::Running {
        return false;
    }
    if deployment.is_some_and(|d| d.health_checked) {
        task.health == "HEALTHY"
    } else {
        task.started_at
            .is_some_and(|at| now - at >= HEALTHY_AFTER_RUNNING_SECS)
    }
}

fn pending(task: &ServiceTask) -> bool {
    task.live() && task.last_status != TaskStatus::Running
}

/// What every pass does first: stop tasks failing their health checks and check the circuit
/// breaker. Returns the live tasks left and the PRIMARY's rollout state after the check.
struct Triage<'a> {
    primary: &'a ServiceDeployment,
    live: Vec<&'a ServiceTask>,
    stop: Vec<(String, StopWhy)>,
    rollout: &'a str,
    failed: bool,
}

fn triage<'a>(input: &'a PassInput, desired: u32) -> Option<Triage<'a>> {
    let primary = input.deployments.first()?;
    let mut live: Vec<&ServiceTask> = input.tasks.iter().filter(|t| t.live()).collect();
    let mut stop = Vec::new();
    // Tasks failing their health checks are replaced, whatever the deployment limits say.
    live.retain(|task| {
        let checked = deployment_of(input, task).is_some_and(|d| d.health_checked);
        let past_grace = task
            .started_at
            .is_some_and(|at| input.now - at >= input.health_check_grace_period);
        let unhealthy = checked && task.health == "UNHEALTHY" && past_grace;
        if unhealthy {
            stop.push((task.id.clone(), StopWhy::Unhealthy));
        }
        !unhealthy
    });
    let primary_failed_tasks = input
        .tasks
        .iter()
        .filter(|t| t.deployment == primary.id && t.failed())
        .count() as u32;
    let mut failed = false;
    let mut rollout = primary.rollout_state.as_str();
    if input.circuit_breaker
        && rollout == "IN_PROGRESS"
        && primary_failed_tasks >= circuit_breaker_threshold(desired)
    {
        failed = true;
        rollout = "FAILED";
    }
    Some(Triage {
        primary,
        live,
        stop,
        rollout,
        failed,
    })
}

fn deployment_of<'a>(input: &'a PassInput, task: &ServiceTask) -> Option<&'a ServiceDeployment> {
    input.deployments.iter().find(|d| d.id == task.deployment)
}

/// Whether launches are held back: the PRIMARY's latest tasks failed to start, and the last
/// failure was too recent. A task that ran breaks the run.
fn held_back(input: &PassInput, primary: &ServiceDeployment) -> bool {
    let mut recent: Vec<&ServiceTask> = input
        .tasks
        .iter()
        .filter(|t| t.deployment == primary.id && t.created_at >= input.backoff_since)
        .collect();
    recent.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    let failures_in_a_row = recent
        .iter()
        .take_while(|t| t.failed() && t.started_at.is_none())
        .count() as u32;
    let last_failure = recent.first().and_then(|t| t.stopped_at).unwrap_or(0.0);
    failures_in_a_row > 0 && input.now < last_failure + launch_backoff(failures_in_a_row)
}

/// One REPLICA pass: `desired` tasks of the PRIMARY, within the deployment limits.
pub fn reconcile(input: &PassInput) -> Pass {
    let Some(Triage {
        primary,
        mut live,
        mut stop,
        rollout,
        failed,
    }) = triage(input, input.desired)
    else {
        return Pass::default();
    };
    let is_healthy = |task: &ServiceTask| healthy(task, deployment_of(input, task), input.now);
    let max_total = max_tasks(input.desired, input.maximum_percent) as usize;
    let min_healthy = min_healthy_tasks(input.desired, input.minimum_healthy_percent) as usize;

    // Tasks of older deployments, and tasks on draining instances, are to be replaced.
    let current = |t: &ServiceTask| t.deployment == primary.id && !t.displaced;
    // The PRIMARY's own surplus when the desired count went down.
    let primary_live: Vec<&ServiceTask> = live.iter().copied().filter(|t| current(t)).collect();
    let surplus = primary_live.len().saturating_sub(input.desired as usize);
    // Protected tasks are never picked: the others cover what they can of the surplus, and the
    // rest waits until protection ends.
    let unprotected: Vec<&ServiceTask> = primary_live
        .iter()
        .copied()
        .filter(|t| !t.protected)
        .collect();
    let mut stopping: Vec<&ServiceTask> = choose_to_stop(&unprotected, &live, surplus, &is_healthy);

    // Older deployments' healthy tasks go as far as the minimum healthy count allows. Their
    // tasks that are not healthy yet (still starting, or younger than the 40 s rule) only go
    // once the PRIMARY is healthy at full strength, or when they hold the room it needs. A failed
    // deployment without rollback leaves them all be.
    if rollout != "FAILED" {
        let old: Vec<&ServiceTask> = live.iter().copied().filter(|t| !current(t)).collect();
        let mut healthy_count = live
            .iter()
            .filter(|t| is_healthy(t) && !stopping.iter().any(|s| s.id == t.id))
            .count();
        let primary_healthy = live.iter().filter(|t| current(t) && is_healthy(t)).count();
        let primary_short = (input.desired as usize).saturating_sub(primary_live.len() - surplus);
        let mut room = max_total.saturating_sub(live.len() - stopping.len());
        for task in order_for_stopping(&old, &live, &is_healthy) {
            // A deployment waits for a protected task of an older one.
            if task.protected {
                continue;
            }
            if is_healthy(task) {
                if healthy_count <= min_healthy {
                    continue;
                }
                healthy_count -= 1;
            } else if primary_healthy < input.desired as usize && room >= primary_short {
                continue;
            }
            room += 1;
            stopping.push(task);
        }
    }
    for task in &stopping {
        stop.push((task.id.clone(), StopWhy::ScaleIn));
    }
    live.retain(|t| !stopping.iter().any(|s| s.id == t.id));

    let primary_live = live.iter().filter(|t| current(t)).count();
    let mut start = if rollout == "FAILED" {
        0
    } else {
        (input.desired as usize)
            .saturating_sub(primary_live)
            .min(max_total.saturating_sub(live.len()))
    };
    let throttled = start > 0 && held_back(input, primary);
    if throttled {
        start = 0;
    }
    conclude(
        input,
        Triage {
            primary,
            live,
            stop,
            rollout,
            failed,
        },
        input.desired,
        start as u32,
        throttled,
    )
}

/// One DAEMON pass: one task of the PRIMARY on each of the `eligible` instances and none
/// elsewhere. A new revision replaces an instance's task in place: the old one stops (as far as
/// the minimum healthy count allows), then the new one starts.
pub fn reconcile_daemon(input: &PassInput, eligible: &[String]) -> (Pass, Vec<String>) {
    let desired = eligible.len() as u32;
    let Some(Triage {
        primary,
        mut live,
        mut stop,
        rollout,
        failed,
    }) = triage(input, desired)
    else {
        return (Pass::default(), Vec::new());
    };
    let is_healthy = |task: &ServiceTask| healthy(task, deployment_of(input, task), input.now);
    live.retain(|task| {
        let keep = task.instance.as_ref().is_some_and(|i| eligible.contains(i));
        if !keep {
            stop.push((task.id.clone(), StopWhy::ScaleIn));
        }
        keep
    });
    let min_healthy = min_healthy_tasks(desired, input.minimum_healthy_percent) as usize;
    let mut healthy_count = live.iter().filter(|t| is_healthy(t)).count();
    let mut start_on = Vec::new();
    for instance in eligible {
        let here: Vec<&ServiceTask> = live
            .iter()
            .copied()
            .filter(|t| t.instance.as_ref() == Some(instance))
            .collect();
        let (current, old): (Vec<&ServiceTask>, Vec<&ServiceTask>) =
            here.iter().partition(|t| t.deployment == primary.id);
        for extra in current.iter().skip(1) {
            stop.push((extra.id.clone(), StopWhy::ScaleIn));
        }
        if rollout == "FAILED" {
            continue;
        }
        if !current.is_empty() {
            for task in &old {
                stop.push((task.id.clone(), StopWhy::ScaleIn));
            }
            continue;
        }
        if old.is_empty() {
            start_on.push(instance.clone());
            continue;
        }
        for task in old {
            if is_healthy(task) {
                if healthy_count <= min_healthy {
                    continue;
                }
                healthy_count -= 1;
            }
            stop.push((task.id.clone(), StopWhy::ScaleIn));
        }
    }
    live.retain(|t| !stop.iter().any(|(id, _)| *id == t.id));
    let throttled = !start_on.is_empty() && held_back(input, primary);
    if throttled {
        start_on.clear();
    }
    let pass = conclude(
        input,
        Triage {
            primary,
            live,
            stop,
            rollout,
            failed,
        },
        desired,
        start_on.len() as u32,
        throttled,
    );
    (pass, start_on)
}

/// A task set as a pass sees it: its tasks are those it started (`startedBy` its id).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSetTarget {
    pub id: String,
    /// Its `computedDesiredCount`; 0 once it is DRAINING.
    pub desired: u32,
    pub health_checked: bool,
}

/// What a task-set pass reads: the service's task sets and every task of the service.
#[derive(Debug, Clone)]
pub struct TaskSetsInput<'a> {
    pub sets: &'a [TaskSetTarget],
    pub maximum_percent: u32,
    pub minimum_healthy_percent: u32,
    pub health_check_grace_period: f64,
    pub tasks: &'a [ServiceTask],
    pub backoff_since: f64,
    pub now: f64,
}

/// What a task-set pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSetsPass {
    /// Tasks to start, per task set in input order.
    pub start: Vec<u32>,
    pub stop: Vec<(String, StopWhy)>,
    /// Per task set, in input order, after the stops.
    pub counts: Vec<DeploymentCounts>,
    /// Per task set: its computed count runs, nothing pending, nothing to start or stop.
    pub steady: Vec<bool>,
    /// Per task set: none of its tasks is left (STOPPED ones aside).
    pub empty: Vec<bool>,
    /// Launches are held back for some task set whose recent tasks keep failing to start.
    pub throttled: bool,
}

/// One pass of a service deployed through task sets: each task set is kept at its computed
/// count as a one-deployment service would be (replacing unhealthy tasks and tasks on draining
/// instances within the service's percentages), and tasks of no task set (a deleted one's) stop.
pub fn reconcile_task_sets(input: &TaskSetsInput) -> TaskSetsPass {
    let mut pass = TaskSetsPass::default();
    for set in input.sets {
        let deployments = [ServiceDeployment {
            id: set.id.clone(),
            rollout_state: "COMPLETED".into(),
            health_checked: set.health_checked,
        }];
        let tasks: Vec<ServiceTask> = input
            .tasks
            .iter()
            .filter(|t| t.deployment == set.id)
            .cloned()
            .collect();
        let decided = reconcile(&PassInput {
            desired: set.desired,
            maximum_percent: input.maximum_percent.max(100),
            minimum_healthy_percent: input.minimum_healthy_percent,
            health_check_grace_period: input.health_check_grace_period,
            circuit_breaker: false,
            deployments: &deployments,
            tasks: &tasks,
            backoff_since: input.backoff_since,
            now: input.now,
        });
        pass.start.push(decided.start);
        pass.stop.extend(decided.stop);
        pass.counts
            .push(decided.counts.into_iter().next().unwrap_or_default());
        pass.steady.push(decided.steady);
        pass.empty
            .push(tasks.iter().all(|t| t.last_status == TaskStatus::Stopped));
        pass.throttled |= decided.throttled;
    }
    for task in input.tasks {
        if task.live() && !input.sets.iter().any(|s| s.id == task.deployment) {
            pass.stop.push((task.id.clone(), StopWhy::ScaleIn));
        }
    }
    pass
}

/// What every pass works out last: counts per deployment, drained deployments, and whether the
/// rollout completed, is steady or is stuck.
fn conclude(input: &PassInput, triage: Triage, desired: u32, start: u32, throttled: bool) -> Pass {
    let Triage {
        primary,
        live,
        stop,
        rollout,
        failed,
    } = triage;
    let is_healthy = |task: &ServiceTask| healthy(task, deployment_of(input, task), input.now);
    // Counts and drained deployments see tasks until they have actually stopped.
    let stopping_ids: Vec<&str> = stop.iter().map(|(id, _)| id.as_str()).collect();
    let present = |t: &&ServiceTask| t.last_status != TaskStatus::Stopped;
    let counts: Vec<DeploymentCounts> = input
        .deployments
        .iter()
        .map(|d| {
            let of = || input.tasks.iter().filter(move |t| t.deployment == d.id);
            DeploymentCounts {
                running: of()
                    .filter(present)
                    .filter(|t| t.last_status == TaskStatus::Running)
                    .count() as u32,
                pending: of()
                    .filter(|t| pending(t) && !stopping_ids.contains(&t.id.as_str()))
                    .count() as u32,
                failed: of().filter(|t| t.failed()).count() as u32,
            }
        })
        .collect();
    let drained: Vec<String> = input.deployments[1..]
        .iter()
        .filter(|d| {
            !input
                .tasks
                .iter()
                .any(|t| t.deployment == d.id && present(&t))
        })
        .map(|d| d.id.clone())
        .collect();
    let others_left = input.deployments.len() - 1 - drained.len();
    let current = |t: &&&ServiceTask| t.deployment == primary.id && !t.displaced;
    let primary_live = live.iter().filter(current).count();
    let primary_healthy = live
        .iter()
        .filter(current)
        .filter(|t| is_healthy(t))
        .count();
    let primary_running = live
        .iter()
        .filter(current)
        .filter(|t| t.last_status == TaskStatus::Running)
        .count();
    let desired = desired as usize;
    let all_running = primary_running == desired && counts[0].pending == 0;
    let completed = rollout == "IN_PROGRESS"
        && others_left == 0
        && all_running
        && primary_healthy == desired
        && start == 0
        && stop.is_empty();
    let steady = (completed || rollout == "COMPLETED")
        && others_left == 0
        && all_running
        && start == 0
        && stop.is_empty();
    // Needs tasks it may not start, and nothing in flight that could change that.
    let stuck = rollout == "IN_PROGRESS"
        && start == 0
        && !throttled
        && stop.is_empty()
        && primary_live < desired
        && live.iter().all(|t| is_healthy(t));
    Pass {
        start,
        stop,
        counts,
        drained,
        completed,
        failed,
        steady,
        stuck,
        throttled,
    }
}

/// The tasks to stop first: those not healthy (they hold up nothing), then from the
/// Availability Zone with the most of the service's tasks, then the instance with the most.
fn order_for_stopping<'a>(
    candidates: &[&'a ServiceTask],
    live: &[&ServiceTask],
    is_healthy: &dyn Fn(&ServiceTask) -> bool,
) -> Vec<&'a ServiceTask> {
    let mut per_zone: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    let mut per_instance: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for task in live {
        *per_zone.entry(task.zone.as_deref()).or_default() += 1;
        *per_instance.entry(task.instance.as_deref()).or_default() += 1;
    }
    let mut left: Vec<&ServiceTask> = candidates.to_vec();
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let best = (0..left.len())
            .max_by_key(|&i| {
                let task = left[i];
                (
                    !is_healthy(task),
                    per_zone[&task.zone.as_deref()],
                    per_instance[&task.instance.as_deref()],
                    // Ties: the newest task (ids are random, so this is only for determinism).
                    std::cmp::Reverse(task.id.as_str()),
                )
            })
            .unwrap_or(0);
        let task = left.swap_remove(best);
        *per_zone.entry(task.zone.as_deref()).or_default() -= 1;
        *per_instance.entry(task.instance.as_deref()).or_default() -= 1;
        ordered.push(task);
    }
    ordered
}

fn choose_to_stop<'a>(
    candidates: &[&'a ServiceTask],
    live: &[&ServiceTask],
    count: usize,
    is_healthy: &dyn Fn(&ServiceTask) -> bool,
) -> Vec<&'a ServiceTask> {
    let mut ordered = order_for_stopping(candidates, live, is_healthy);
    ordered.truncate(count);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_000.0;

    fn task(id: &str, deployment: &str, status: TaskStatus) -> ServiceTask {
        ServiceTask {
            id: id.into(),
            deployment: deployment.into(),
            last_status: status,
            wanted: true,
            health: "UNKNOWN".into(),
            started_at: (status == TaskStatus::Running).then_some(NOW - 100.0),
            zone: Some("a".into()),
            instance: Some(format!("i-{id}")),
            stop_code: None,
            stopped_reason: None,
            created_at: 0.0,
            stopped_at: None,
            displaced: false,
            protected: false,
        }
    }

    fn deployment(id: &str, rollout: &str) -> ServiceDeployment {
        ServiceDeployment {
            id: id.into(),
            rollout_state: rollout.into(),
            health_checked: false,
        }
    }

    fn pass(
        desired: u32,
        percents: (u32, u32),
        deployments: &[ServiceDeployment],
        tasks: &[ServiceTask],
    ) -> Pass {
        reconcile(&PassInput {
            desired,
            maximum_percent: percents.0,
            minimum_healthy_percent: percents.1,
            health_check_grace_period: 0.0,
            circuit_breaker: true,
            deployments,
            tasks,
            backoff_since: 0.0,
            now: NOW,
        })
    }

    fn stopped_ids(pass: &Pass) -> Vec<&str> {
        let mut ids: Vec<&str> = pass.stop.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn deployment_math_rounds_as_ecs_does() {
        assert_eq!(max_tasks(4, 200), 8);
        assert_eq!(max_tasks(3, 125), 3);
        assert_eq!(min_healthy_tasks(4, 50), 2);
        assert_eq!(min_healthy_tasks(2, 75), 2);
        assert_eq!(min_healthy_tasks(0, 100), 0);
        assert_eq!(circuit_breaker_threshold(1), 3);
        assert_eq!(circuit_breaker_threshold(11), 6);
        assert_eq!(circuit_breaker_threshold(1_000), 200);
    }

    #[test]
    fn a_new_service_starts_its_tasks_then_is_steady() {
        let deployments = [deployment("d1", "IN_PROGRESS")];
        assert_eq!(pass(3, (200, 100), &deployments, &[]).start, 3);
        let tasks: Vec<ServiceTask> = ["t1", "t2", "t3"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        let done = pass(3, (200, 100), &deployments, &tasks);
        assert!(done.completed && done.steady);
        assert_eq!((done.start, done.stop.len()), (0, 0));
        assert_eq!(
            done.counts[0],
            DeploymentCounts {
                running: 3,
                pending: 0,
                failed: 0
            }
        );
    }

    #[test]
    fn a_stopped_task_is_replaced() {
        let deployments = [deployment("d1", "COMPLETED")];
        let mut tasks: Vec<ServiceTask> = ["t1", "t2"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        tasks[1].last_status = TaskStatus::Stopped;
        tasks[1].wanted = false;
        let replaced = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(replaced.start, 1);
        assert!(!replaced.steady);
    }

    #[test]
    fn rolling_update_at_100_200_waits_for_healthy_replacements() {
        let deployments = [
            deployment("new", "IN_PROGRESS"),
            deployment("old", "COMPLETED"),
        ];
        let mut tasks: Vec<ServiceTask> = ["o1", "o2", "o3", "o4"]
            .map(|id| task(id, "old", TaskStatus::Running))
            .into();
        let first = pass(4, (200, 100), &deployments, &tasks);
        assert_eq!((first.start, first.stop.len()), (4, 0));
        // New tasks running but not yet healthy (no health check: 40 s after RUNNING).
        for id in ["n1", "n2", "n3", "n4"] {
            let mut new = task(id, "new", TaskStatus::Running);
            new.started_at = Some(NOW - 5.0);
            tasks.push(new);
        }
        let waiting = pass(4, (200, 100), &deployments, &tasks);
        assert_eq!((waiting.start, waiting.stop.len()), (0, 0));
        for new in tasks.iter_mut().filter(|t| t.deployment == "new") {
            new.started_at = Some(NOW - 41.0);
        }
        let swap = pass(4, (200, 100), &deployments, &tasks);
        assert_eq!(stopped_ids(&swap), ["o1", "o2", "o3", "o4"]);
        assert!(swap.stop.iter().all(|(_, why)| *why == StopWhy::ScaleIn));
        assert!(
            swap.drained.is_empty() && !swap.completed,
            "until the old tasks have stopped"
        );
        for old in tasks.iter_mut().filter(|t| t.deployment == "old") {
            old.wanted = false;
            old.last_status = TaskStatus::Stopped;
        }
        let done = pass(4, (200, 100), &deployments, &tasks);
        assert_eq!(done.drained, ["old"]);
        assert!(done.completed && done.steady);
    }

    #[test]
    fn rolling_update_at_50_100_stops_half_first() {
        let deployments = [
            deployment("new", "IN_PROGRESS"),
            deployment("old", "COMPLETED"),
        ];
        let tasks: Vec<ServiceTask> = ["o1", "o2", "o3", "o4"]
            .map(|id| task(id, "old", TaskStatus::Running))
            .into();
        let first = pass(4, (100, 50), &deployments, &tasks);
        assert_eq!(first.stop.len(), 2);
        assert_eq!(first.start, 2);
    }

    #[test]
    fn old_tasks_not_yet_healthy_stay_until_they_are_in_the_way() {
        let deployments = [
            deployment("new", "IN_PROGRESS"),
            deployment("old", "IN_PROGRESS"),
        ];
        let mut young = task("o1", "old", TaskStatus::Running);
        young.started_at = Some(NOW - 5.0);
        let keep = pass(1, (200, 100), &deployments, std::slice::from_ref(&young));
        assert!(
            keep.stop.is_empty(),
            "the only serving task is not stopped for being young"
        );
        assert_eq!(keep.start, 1);
        // With no room for the new task (maximumPercent 100), it makes way.
        let make_way = pass(1, (100, 0), &deployments, std::slice::from_ref(&young));
        assert_eq!(stopped_ids(&make_way), ["o1"]);
        assert_eq!(make_way.start, 1);
    }

    #[test]
    fn tasks_on_a_draining_instance_are_replaced_before_they_stop() {
        let deployments = [deployment("d1", "COMPLETED")];
        let mut tasks: Vec<ServiceTask> = ["t1", "t2"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        tasks[1].displaced = true;
        let replace = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(
            (replace.start, replace.stop.len()),
            (1, 0),
            "a replacement first"
        );
        tasks.push(task("t3", "d1", TaskStatus::Running));
        let retire = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(stopped_ids(&retire), ["t2"]);
        assert_eq!(retire.start, 0);
    }

    #[test]
    fn tasks_that_keep_failing_to_start_hold_launches_back() {
        assert_eq!(launch_backoff(0), 0.0);
        assert_eq!(launch_backoff(1), 5.0);
        assert_eq!(launch_backoff(3), 20.0);
        assert_eq!(launch_backoff(40), MAX_LAUNCH_BACKOFF_SECS);
        let deployments = [deployment("d1", "IN_PROGRESS")];
        let failed = |id: &str, at: f64| ServiceTask {
            wanted: false,
            stop_code: Some("TaskFailedToStart".into()),
            created_at: at,
            stopped_at: Some(at + 1.0),
            ..task(id, "d1", TaskStatus::Stopped)
        };
        let with_backoff_since = |tasks: &[ServiceTask], backoff_since: f64, now: f64| {
            reconcile(&PassInput {
                desired: 1,
                maximum_percent: 200,
                minimum_healthy_percent: 100,
                health_check_grace_period: 0.0,
                circuit_breaker: false,
                deployments: &deployments,
                tasks,
                backoff_since,
                now,
            })
        };
        let no_breaker = |tasks: &[ServiceTask], now: f64| with_backoff_since(tasks, 0.0, now);
        let two = [failed("f1", NOW - 30.0), failed("f2", NOW - 5.0)];
        let held = no_breaker(&two, NOW);
        assert!(
            held.throttled && held.start == 0,
            "10 s after the second failure"
        );
        let later = no_breaker(&two, NOW + 7.0);
        assert!(!later.throttled && later.start == 1);
        // A task that reached RUNNING since breaks the run.
        let mut ran = task("r1", "d1", TaskStatus::Stopped);
        ran.wanted = false;
        ran.created_at = NOW - 2.0;
        ran.started_at = Some(NOW - 1.5);
        ran.stopped_at = Some(NOW - 1.0);
        let broken = no_breaker(&[two[0].clone(), two[1].clone(), ran], NOW);
        assert!(!broken.throttled && broken.start == 1);
        // Updating the service starts the count afresh.
        let updated = with_backoff_since(&two, NOW - 1.0, NOW);
        assert!(!updated.throttled && updated.start == 1);
    }

    #[test]
    fn a_daemon_runs_one_task_on_each_eligible_instance() {
        let deployments = [deployment("d1", "IN_PROGRESS")];
        let eligible = ["i-a1".to_string(), "i-b1".to_string()];
        let daemon = |deployments: &[ServiceDeployment], tasks: &[ServiceTask]| {
            reconcile_daemon(
                &PassInput {
                    desired: 0,
                    maximum_percent: 100,
                    minimum_healthy_percent: 0,
                    health_check_grace_period: 0.0,
                    circuit_breaker: false,
                    deployments,
                    tasks,
                    backoff_since: 0.0,
                    now: NOW,
                },
                &eligible,
            )
        };
        // a1 runs one; c1 is no longer eligible (drained, or its constraints no longer hold).
        let tasks = [
            task("a1", "d1", TaskStatus::Running),
            task("c1", "d1", TaskStatus::Running),
        ];
        let (pass, start_on) = daemon(&deployments, &tasks);
        assert_eq!(start_on, ["i-b1"]);
        assert_eq!(stopped_ids(&pass), ["c1"]);
        let tasks = [
            task("a1", "d1", TaskStatus::Running),
            task("b1", "d1", TaskStatus::Running),
        ];
        let (pass, start_on) = daemon(&deployments, &tasks);
        assert!(start_on.is_empty() && pass.completed && pass.steady);
        // A new revision: each instance's old task stops first (minimum 0%), then is replaced.
        let rolled = [
            deployment("d2", "IN_PROGRESS"),
            deployment("d1", "COMPLETED"),
        ];
        let (pass, start_on) = daemon(&rolled, &tasks);
        assert_eq!(stopped_ids(&pass), ["a1", "b1"]);
        assert!(start_on.is_empty());
        let stopped: Vec<ServiceTask> = tasks
            .iter()
            .map(|t| ServiceTask {
                wanted: false,
                last_status: TaskStatus::Stopped,
                stop_code: Some("ServiceSchedulerInitiated".into()),
                ..t.clone()
            })
            .collect();
        let (pass, start_on) = daemon(&rolled, &stopped);
        assert_eq!(start_on, ["i-a1", "i-b1"]);
        assert_eq!(pass.drained, ["d1"]);
    }

    #[test]
    fn a_configuration_that_allows_nothing_is_stuck() {
        let deployments = [
            deployment("new", "IN_PROGRESS"),
            deployment("old", "COMPLETED"),
        ];
        let tasks: Vec<ServiceTask> = ["o1", "o2"]
            .map(|id| task(id, "old", TaskStatus::Running))
            .into();
        let stuck = pass(2, (100, 100), &deployments, &tasks);
        assert!(stuck.stuck);
        assert_eq!((stuck.start, stuck.stop.len()), (0, 0));
    }

    #[test]
    fn the_circuit_breaker_trips_on_tasks_that_never_ran() {
        let deployments = [
            deployment("new", "IN_PROGRESS"),
            deployment("old", "COMPLETED"),
        ];
        let mut tasks: Vec<ServiceTask> = ["o1", "o2"]
            .map(|id| task(id, "old", TaskStatus::Running))
            .into();
        for id in ["f1", "f2"] {
            let mut failed = task(id, "new", TaskStatus::Stopped);
            failed.wanted = false;
            failed.stop_code = Some("TaskFailedToStart".into());
            tasks.push(failed);
        }
        let before = pass(2, (200, 100), &deployments, &tasks);
        assert!(!before.failed);
        assert_eq!(before.start, 2);
        let mut third = tasks[2].clone();
        third.id = "f3".into();
        tasks.push(third);
        let tripped = pass(2, (200, 100), &deployments, &tasks);
        assert!(tripped.failed);
        assert_eq!(
            tripped.start, 0,
            "a failed deployment launches nothing more"
        );
        assert!(tripped.stop.is_empty(), "the old tasks keep serving");
        assert_eq!(tripped.counts[0].failed, 3);
    }

    #[test]
    fn tasks_replaced_for_failing_elb_health_checks_trip_the_circuit_breaker() {
        const GROUP: &str =
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";
        assert_eq!(
            elb_unhealthy_reason(GROUP),
            format!("Task failed ELB health checks in (target-group {GROUP})")
        );
        let deployments = [
            ServiceDeployment {
                health_checked: true,
                ..deployment("new", "IN_PROGRESS")
            },
            deployment("old", "COMPLETED"),
        ];
        let mut tasks: Vec<ServiceTask> = ["o1", "o2"]
            .map(|id| task(id, "old", TaskStatus::Running))
            .into();
        // They ran, so only their stopped reason says they failed; one still drains.
        for (id, status) in [
            ("e1", TaskStatus::Stopped),
            ("e2", TaskStatus::Stopped),
            ("e3", TaskStatus::Deactivating),
        ] {
            let mut failed = task(id, "new", status);
            failed.started_at = Some(NOW - 60.0);
            failed.wanted = false;
            failed.stop_code = Some("ServiceSchedulerInitiated".into());
            failed.stopped_reason = Some(elb_unhealthy_reason(GROUP));
            tasks.push(failed);
        }
        assert!(
            tasks[2].failed(),
            "an ELB failure counts though the task ran"
        );
        let tripped = pass(2, (200, 100), &deployments, &tasks);
        assert!(tripped.failed);
        assert_eq!(tripped.counts[0].failed, 3);
        let mut scaled_in = tasks[2].clone();
        scaled_in.stopped_reason = Some("Scaling activity initiated by (deployment new)".into());
        assert!(
            !scaled_in.failed(),
            "a task stopped on purpose after running did not fail"
        );
        tasks.truncate(4);
        assert!(!pass(2, (200, 100), &deployments, &tasks).failed);
    }

    #[test]
    fn unhealthy_tasks_are_stopped_after_the_grace_period() {
        let deployments = [ServiceDeployment {
            health_checked: true,
            ..deployment("d1", "COMPLETED")
        }];
        let mut tasks: Vec<ServiceTask> = ["t1", "t2"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        tasks[0].health = "HEALTHY".into();
        tasks[1].health = "UNHEALTHY".into();
        let result = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(result.stop, [("t2".to_string(), StopWhy::Unhealthy)]);
        assert_eq!(result.start, 1);
        let in_grace = reconcile(&PassInput {
            desired: 2,
            maximum_percent: 200,
            minimum_healthy_percent: 100,
            health_check_grace_period: 300.0,
            circuit_breaker: true,
            deployments: &deployments,
            tasks: &tasks,
            backoff_since: 0.0,
            now: NOW,
        });
        assert!(in_grace.stop.is_empty());
    }

    #[test]
    fn scaling_in_stops_tasks_from_the_fullest_zone_first() {
        let deployments = [deployment("d1", "COMPLETED")];
        let mut tasks: Vec<ServiceTask> = ["a1", "a2", "b1"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        tasks[2].zone = Some("b".into());
        let result = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(result.stop.len(), 1);
        assert!(result.stop[0].0.starts_with('a'));
    }

    #[test]
    fn scaling_in_passes_over_protected_tasks_and_waits_when_only_they_are_left() {
        let deployments = [deployment("d1", "COMPLETED")];
        let mut tasks: Vec<ServiceTask> = ["a1", "a2", "b1"]
            .map(|id| task(id, "d1", TaskStatus::Running))
            .into();
        tasks[2].zone = Some("b".into());
        // The fullest zone's tasks would go first; protected, they stay and b1 goes.
        tasks[0].protected = true;
        tasks[1].protected = true;
        let one_less = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(stopped_ids(&one_less), ["b1"]);
        // Down to one task: only b1 may go, the rest of the surplus waits.
        let to_one = pass(1, (200, 100), &deployments, &tasks);
        assert_eq!(stopped_ids(&to_one), ["b1"]);
        assert!(!to_one.steady);
        tasks[2].protected = true;
        let waiting = pass(1, (200, 100), &deployments, &tasks);
        assert!(waiting.stop.is_empty() && waiting.start == 0 && !waiting.steady);
    }

    #[test]
    fn a_deployment_waits_for_an_older_deployments_protected_task() {
        let deployments = [
            deployment("d2", "IN_PROGRESS"),
            deployment("d1", "COMPLETED"),
        ];
        let mut tasks = vec![
            task("old1", "d1", TaskStatus::Running),
            task("old2", "d1", TaskStatus::Running),
            task("new1", "d2", TaskStatus::Running),
            task("new2", "d2", TaskStatus::Running),
        ];
        tasks[0].protected = true;
        let result = pass(2, (200, 100), &deployments, &tasks);
        assert_eq!(stopped_ids(&result), ["old2"]);
        assert!(result.drained.is_empty() && !result.completed);
        // Unhealthy is not a scale-in: a protected task failing its health checks is replaced.
        let checked = [
            ServiceDeployment {
                health_checked: true,
                ..deployment("d2", "IN_PROGRESS")
            },
            deployment("d1", "COMPLETED"),
        ];
        tasks[2].protected = true;
        tasks[2].health = "UNHEALTHY".into();
        let replaced = pass(2, (200, 100), &checked, &tasks);
        assert!(stopped_ids(&replaced).contains(&"new1"));
    }

    fn task_sets(sets: &[(&str, u32)], tasks: &[ServiceTask]) -> TaskSetsPass {
        let sets: Vec<TaskSetTarget> = sets
            .iter()
            .map(|(id, desired)| TaskSetTarget {
                id: (*id).into(),
                desired: *desired,
                health_checked: false,
            })
            .collect();
        reconcile_task_sets(&TaskSetsInput {
            sets: &sets,
            maximum_percent: 200,
            minimum_healthy_percent: 100,
            health_check_grace_period: 0.0,
            tasks,
            backoff_since: 0.0,
            now: NOW,
        })
    }

    #[test]
    fn each_task_set_runs_its_computed_count() {
        let tasks = [
            task("a1", "ecs-svc/1", TaskStatus::Running),
            task("b1", "ecs-svc/2", TaskStatus::Running),
            task("b2", "ecs-svc/2", TaskStatus::Running),
            task("b3", "ecs-svc/2", TaskStatus::Pending),
        ];
        let pass = task_sets(&[("ecs-svc/1", 3), ("ecs-svc/2", 1)], &tasks);
        assert_eq!(pass.start, vec![2, 0]);
        // Scaling in a task set stops its own tasks, the one not yet running first.
        let stopped: Vec<&str> = pass.stop.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(stopped.len(), 2);
        assert!(stopped.contains(&"b3"), "{stopped:?}");
        assert!(!stopped.contains(&"a1"), "{stopped:?}");
        assert!(pass.stop.iter().all(|(_, why)| *why == StopWhy::ScaleIn));
        assert_eq!(pass.counts[0].running, 1);
        assert_eq!(pass.steady, vec![false, false]);
        assert_eq!(pass.empty, vec![false, false]);
    }

    #[test]
    fn a_task_set_at_its_count_is_steady_and_one_at_zero_without_tasks_is_empty() {
        let tasks = [
            task("a1", "ecs-svc/1", TaskStatus::Running),
            task("a2", "ecs-svc/1", TaskStatus::Running),
            task("z1", "ecs-svc/2", TaskStatus::Stopped),
        ];
        let pass = task_sets(&[("ecs-svc/1", 2), ("ecs-svc/2", 0)], &tasks);
        assert_eq!(pass.start, vec![0, 0]);
        assert!(pass.stop.is_empty());
        assert_eq!(pass.steady, vec![true, true]);
        assert_eq!(pass.empty, vec![false, true]);
        assert_eq!(pass.counts[0].running, 2);
    }

    #[test]
    fn tasks_of_a_deleted_task_set_stop() {
        let mut asked = task("o2", "ecs-svc/9", TaskStatus::Running);
        asked.wanted = false;
        let tasks = [
            task("a1", "ecs-svc/1", TaskStatus::Running),
            task("o1", "ecs-svc/9", TaskStatus::Running),
            asked,
        ];
        let pass = task_sets(&[("ecs-svc/1", 1)], &tasks);
        assert_eq!(pass.stop, vec![("o1".to_string(), StopWhy::ScaleIn)]);
        assert_eq!(pass.start, vec![0]);
    }

    #[test]
    fn a_task_set_replaces_a_task_on_a_draining_instance_before_stopping_it() {
        let mut displaced = task("a1", "ecs-svc/1", TaskStatus::Running);
        displaced.displaced = true;
        let pass = task_sets(&[("ecs-svc/1", 1)], &[displaced]);
        assert_eq!(pass.start, vec![1]);
        assert!(pass.stop.is_empty());
        assert_eq!(pass.steady, vec![false]);
    }
}
