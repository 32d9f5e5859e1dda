//! Task records: their keys (the task itself, and the instance and service indexes kept in step
//! with it), where each stands in ECS's lifecycle, and the typed reads and writes handlers and
//! the agent channel make of them.

use std::collections::HashMap;

use berth_ecs::EcsError;
use berth_ecs::arn::{Partition, TaskDefinitionRef};
use berth_ecs::lifecycle::{ContainerStatus, DesiredStatus, TaskEvent, TaskState, TaskStatus};
use berth_ecs::placement::demand_of;
use berth_ecs_wire::{Failure, Task, TaskDefinition};
use berth_protocol::{DesiredTask, TaskStateChange};
use berth_scheduler::Resources;
use berth_store::{KeyValue, Txn};
use serde::{Deserialize, Serialize};

use super::instances::StoredInstance;
use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// A task's `lastStatus`. A record without one (never written by Berth) counts as the
/// lifecycle's first status, so any report moves it forward.
pub fn status(task: &Task) -> TaskStatus {
    task.last_status
        .as_deref()
        .and_then(TaskStatus::parse)
        .unwrap_or(TaskStatus::Provisioning)
}

/// Whether the task has been asked to stop (its `desiredStatus` is STOPPED).
pub fn stop_requested(task: &Task) -> bool {
    task.desired_status.as_deref() == Some(DesiredStatus::Stopped.as_str())
}

/// Where a task is in ECS's lifecycle.
fn lifecycle_state(task: &Task) -> TaskState {
    TaskState {
        last: status(task),
        desired: if stop_requested(task) {
            DesiredStatus::Stopped
        } else {
            DesiredStatus::Running
        },
    }
}

/// Records a lifecycle state on the task record, writing only the fields that changed.
fn set_lifecycle_state(task: &mut Task, from: TaskState, to: TaskState) {
    if to.last != from.last {
        task.last_status = Some(to.last.as_str().into());
    }
    if to.desired != from.desired {
        task.desired_status = Some(to.desired.as_str().into());
    }
}

/// Moves a task through `event`, if the lifecycle lets it; returns the new state.
pub fn advance(task: &mut Task, event: TaskEvent) -> Option<TaskState> {
    let from = lifecycle_state(task);
    let to = from.next(event)?;
    set_lifecycle_state(task, from, to);
    Some(to)
}

pub fn task_id(arn_or_id: &str) -> &str {
    arn_or_id.rsplit('/').next().unwrap_or(arn_or_id)
}

/// The service that started a task, from its group (`service:NAME`).
pub fn service_of(task: &Task) -> Option<&str> {
    task.group.as_deref()?.strip_prefix("service:")
}

/// One task of `cluster`, read inside a transaction.
pub fn read(txn: &mut dyn Txn, cluster: &str, id: &str) -> Result<Option<Task>, ApiError> {
    super::read(txn, &keys::task(cluster, id))
}

/// One task of `cluster`, from the latest committed state.
pub async fn fetch(cp: &ControlPlane, cluster: &str, id: &str) -> Result<Option<Task>, ApiError> {
    super::fetch(cp, &keys::task(cluster, id)).await
}

/// One task of `cluster` as stored, undecoded (with its revision), from the latest committed
/// state: an agent session decodes only the records that moved since it last looked.
pub async fn fetch_undecoded(
    cp: &ControlPlane,
    cluster: &str,
    id: &str,
) -> Result<Option<KeyValue>, ApiError> {
    Ok(cp.store.get(&keys::task(cluster, id)).await?)
}

/// Every task of `cluster`, STOPPED ones included, read inside a transaction.
pub fn in_cluster(txn: &mut dyn Txn, cluster: &str) -> Result<Vec<Task>, ApiError> {
    txn.range(&keys::tasks_of(cluster), None, usize::MAX)?
        .iter()
        .map(super::decode)
        .collect()
}

/// One page of the tasks of `cluster` that `keep` accepts, in id (launch) order, starting after
/// the pagination key `after`; also returns the key to resume from when more may follow.
pub async fn page(
    cp: &ControlPlane,
    cluster: &str,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&Task) -> bool,
) -> Result<(Vec<Task>, Option<String>), ApiError> {
    super::scan(cp, &keys::tasks_of(cluster), after, page, keep).await
}

/// The tasks a service started (STOPPED ones included until housekeeping forgets them), through
/// the service's task index, from the latest committed state.
pub async fn of_service(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
) -> Result<Vec<Task>, ApiError> {
    let mut found = Vec::new();
    for marker in cp
        .store
        .range(&keys::service_tasks_of(cluster, service), None, usize::MAX)
        .await?
    {
        let id = marker.key.rsplit('/').next().unwrap_or_default();
        found.extend(fetch(cp, cluster, id).await?);
    }
    Ok(found)
}

/// Task scale-in protection is kept in the task's service index entry (`stask/…`), which only
/// service tasks have and which housekeeping forgets with the task: its value is the epoch
/// second the protection ends, empty when the task is not protected. Expired protection needs
/// no writer: a time in the past is no protection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    #[serde(rename = "expiresAt")]
    pub expires_at: f64,
}

impl Protection {
    pub fn active_at(&self, now: f64) -> bool {
        now < self.expires_at
    }
}

/// Turns a service task's protection on until `protection`'s end, or off with `None`.
pub fn write_protection(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
    protection: Option<Protection>,
) {
    let value = protection.as_ref().map(super::encode).unwrap_or_default();
    txn.put(&keys::service_task(cluster, service, id), value);
}

/// A service task's protection as stored (possibly expired), read inside a transaction.
pub fn read_protection(
    txn: &mut dyn Txn,
    cluster: &str,
    service: &str,
    id: &str,
) -> Result<Option<Protection>, ApiError> {
    match txn.get(&keys::service_task(cluster, service, id))? {
        Some(kv) if !kv.value.is_empty() => Ok(Some(super::decode(&kv)?)),
        _ => Ok(None),
    }
}

/// The stored protections of a service's tasks, by task id, from the latest committed state.
pub async fn protections_of_service(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
) -> Result<HashMap<String, Protection>, ApiError> {
    let mut found = HashMap::new();
    for marker in cp
        .store
        .range(&keys::service_tasks_of(cluster, service), None, usize::MAX)
        .await?
    {
        if marker.value.is_empty() {
            continue;
        }
        let id = marker.key.rsplit('/').next().unwrap_or_default();
        found.insert(id.to_string(), super::decode(&marker)?);
    }
    Ok(found)
}

/// The ids of the tasks placed on an instance that are not STOPPED yet, through the instance's
/// task index, from the latest committed state.
pub async fn ids_on_instance(
    cp: &ControlPlane,
    cluster: &str,
    instance_id: &str,
) -> Result<Vec<String>, ApiError> {
    Ok(cp
        .store
        .range(
            &keys::instance_tasks_of(cluster, instance_id),
            None,
            usize::MAX,
        )
        .await?
        .iter()
        .map(|marker| {
            marker
                .key
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect())
}

/// Whether the instance's task index holds the task (placed there and not STOPPED yet), in the
/// latest committed state.
pub async fn is_on_instance(
    cp: &ControlPlane,
    cluster: &str,
    instance_id: &str,
    id: &str,
) -> Result<bool, ApiError> {
    Ok(cp
        .store
        .get(&keys::instance_task(cluster, instance_id, id))
        .await?
        .is_some())
}

/// A RunTask request as remembered for its clientToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTokenRecord {
    pub request: serde_json::Value,
    pub task_arns: Vec<String>,
    pub failures: Vec<Failure>,
    /// When the token was first used: housekeeping forgets it with its tasks.
    #[serde(default)]
    pub created_at: f64,
}

/// The RunTask call a clientToken was first used with in `cluster`, read inside a transaction.
pub fn read_client_token(
    txn: &mut dyn Txn,
    cluster: &str,
    token: &str,
) -> Result<Option<ClientTokenRecord>, ApiError> {
    super::read(txn, &keys::client_token(cluster, token))
}

/// Remembers the RunTask call a clientToken was first used with.
pub fn write_client_token(
    txn: &mut dyn Txn,
    cluster: &str,
    token: &str,
    record: &ClientTokenRecord,
) {
    super::write(txn, &keys::client_token(cluster, token), record);
}

/// The client tokens of `cluster` first used before `cutoff`, from the latest committed state
/// (an unreadable record is left alone).
pub async fn client_tokens_used_before(
    cp: &ControlPlane,
    cluster: &str,
    cutoff: f64,
) -> Result<Vec<String>, ApiError> {
    let prefix = keys::client_tokens_of(cluster);
    Ok(cp
        .store
        .range(&prefix, None, usize::MAX)
        .await?
        .iter()
        .filter(|kv| super::decode::<ClientTokenRecord>(kv).is_ok_and(|r| r.created_at < cutoff))
        .filter_map(|kv| kv.key.strip_prefix(&prefix).map(str::to_string))
        .collect())
}

/// Forgets a client token.
pub fn delete_client_token(txn: &mut dyn Txn, cluster: &str, token: &str) {
    txn.delete(&keys::client_token(cluster, token));
}

/// Just what housekeeping reads of a task record: decoding 100,000 whole tasks would cost a
/// quarter of a gigabyte for a moment.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEnd {
    pub task_arn: Option<String>,
    pub last_status: Option<String>,
    pub stopped_at: Option<f64>,
    pub group: Option<String>,
}

/// How every task of `cluster` ended so far, from the latest committed state.
pub async fn ends_in(cp: &ControlPlane, cluster: &str) -> Result<Vec<TaskEnd>, ApiError> {
    cp.store
        .range(&keys::tasks_of(cluster), None, usize::MAX)
        .await?
        .iter()
        .map(super::decode::<TaskEnd>)
        .collect()
}

/// Forgets a task: its record, its tags and its service index entry (a STOPPED task is no
/// longer in its instance's index).
pub fn forget(txn: &mut dyn Txn, cluster: &str, task: &TaskEnd) {
    let arn = task.task_arn.as_deref().unwrap_or_default();
    let id = task_id(arn);
    txn.delete(&keys::task(cluster, id));
    txn.delete(&keys::tags(arn));
    if let Some(service) = task
        .group
        .as_deref()
        .and_then(|g| g.strip_prefix("service:"))
    {
        txn.delete(&keys::service_task(cluster, service, id));
    }
}

/// Writes a task, keeping the instance → live tasks index in step with it.
pub fn store(txn: &mut dyn Txn, cluster: &str, task: &Task) {
    let id = task_id(task.task_arn.as_deref().unwrap_or_default());
    super::write(txn, &keys::task(cluster, id), task);
    if let Some(service) = service_of(task)
        && task.version == Some(1)
    {
        txn.put(&keys::service_task(cluster, service, id), Vec::new());
    }
    if let Some(instance) = task.container_instance_arn.as_deref() {
        let index = keys::instance_task(cluster, task_id(instance), id);
        if status(task) == TaskStatus::Stopped {
            txn.delete(&index);
        } else {
            txn.put(&index, Vec::new());
        }
    }
}

/// The tasks placed on one instance that are not STOPPED yet.
pub fn live_on_instance(
    txn: &mut dyn Txn,
    cluster: &str,
    instance_arn: &str,
) -> Result<Vec<Task>, ApiError> {
    let mut found = Vec::new();
    for marker in txn.range(
        &keys::instance_tasks_of(cluster, task_id(instance_arn)),
        None,
        usize::MAX,
    )? {
        let id = marker
            .key
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        found.extend(read(txn, cluster, &id)?);
    }
    Ok(found)
}

/// Counts one more state change of the task (its `version`).
pub fn bump(task: &mut Task) {
    task.version = Some(task.version.unwrap_or(0) + 1);
}

/// Ends a task from the control plane's side, when no agent will report it (its instance is
/// gone). Returns false, changing nothing, when the task had already stopped.
pub fn mark_stopped(task: &mut Task, now: f64, reason: &str) -> bool {
    if advance(task, TaskEvent::InstanceLost).is_none() {
        return false;
    }
    task.stopping_at.get_or_insert(now);
    task.execution_stopped_at.get_or_insert(now);
    task.stopped_at = Some(now);
    task.stop_code
        .get_or_insert_with(|| "TaskFailedToStart".into());
    task.stopped_reason
        .get_or_insert_with(|| reason.to_string());
    for container in task.containers.iter_mut().flatten() {
        container.last_status = Some(ContainerStatus::Stopped.as_str().into());
    }
    bump(task);
    true
}

/// Applies what an agent observed. Statuses only move forward, so a repeated or late change
/// cannot undo a newer one. Returns whether the task changed and whether it just stopped.
pub fn apply_state_change(task: &mut Task, change: &TaskStateChange) -> (bool, bool) {
    let before = task.clone();
    let was_stopped = status(task) == TaskStatus::Stopped;
    if let Some(code) = &change.stop_code
        && advance(task, TaskEvent::StopRequested).is_some()
    {
        task.stop_code = Some(code.clone());
        task.stopped_reason = change.stopped_reason.clone();
        task.stopping_at = Some(change.at);
    }
    if let Some(reported) = change.last_status.as_deref().and_then(TaskStatus::parse)
        && let Some(now) = advance(task, TaskEvent::Reported(reported))
    {
        if now.last.is_stopping() {
            task.stopping_at.get_or_insert(change.at);
        }
        if now.last == TaskStatus::Stopped {
            task.stopped_at = Some(change.at);
            task.execution_stopped_at.get_or_insert(change.at);
        }
    }
    for (field, value) in [
        (&mut task.pull_started_at, change.pull_started_at),
        (&mut task.pull_stopped_at, change.pull_stopped_at),
        (&mut task.started_at, change.started_at),
        (&mut task.execution_stopped_at, change.execution_stopped_at),
    ] {
        if field.is_none() {
            *field = value;
        }
    }
    if let Some(health) = &change.health_status {
        task.health_status = Some(health.clone());
    }
    for update in &change.containers {
        let Some(container) = task
            .containers
            .iter_mut()
            .flatten()
            .find(|c| c.name.as_deref() == Some(update.name.as_str()))
        else {
            continue;
        };
        if let Some(reported) = update
            .last_status
            .as_deref()
            .and_then(ContainerStatus::parse)
        {
            let current = container
                .last_status
                .as_deref()
                .and_then(ContainerStatus::parse)
                .unwrap_or(ContainerStatus::Pending);
            if current.next(reported).is_some() {
                container.last_status = Some(reported.as_str().into());
            }
        }
        let fields = [
            (&mut container.runtime_id, &update.runtime_id),
            (&mut container.image_digest, &update.image_digest),
            (&mut container.reason, &update.reason),
            (&mut container.health_status, &update.health_status),
        ];
        for (field, value) in fields {
            if value.is_some() {
                *field = value.clone();
            }
        }
        if update.exit_code.is_some() {
            container.exit_code = update.exit_code;
        }
        if update.network_bindings.is_some() {
            container.network_bindings = update.network_bindings.clone();
        }
    }
    let changed = *task != before;
    if changed {
        bump(task);
    }
    (
        changed,
        changed && !was_stopped && status(task) == TaskStatus::Stopped,
    )
}

/// Applies one reported state change to `task` inside a transaction, for the agent channel and
/// the Submit*StateChange actions alike: the task only moves forward and is stored when it
/// changed; when the report stops it, what it held goes back to its instance. `released` is
/// that instance, read on the first stop of a batch; the caller writes it once at the end.
/// Returns whether the task changed.
pub fn apply_report(
    txn: &mut dyn Txn,
    partition: &Partition,
    cluster: &str,
    task: &mut Task,
    change: &TaskStateChange,
    released: &mut Option<StoredInstance>,
) -> Result<bool, ApiError> {
    let (changed, stopped) = apply_state_change(task, change);
    if changed {
        store(txn, cluster, task);
    }
    if stopped {
        let stored = match released {
            Some(stored) => stored,
            None => {
                let id = task_id(task.container_instance_arn.as_deref().unwrap_or_default());
                match super::instances::read(txn, cluster, id)? {
                    Some(stored) => released.insert(stored),
                    None => return Ok(changed),
                }
            }
        };
        stored.give_back(
            &demand_of_task(txn, partition, task)?,
            task.group.as_deref(),
        );
    }
    Ok(changed)
}

/// The resources a task holds on its instance.
pub fn demand_of_task(
    txn: &mut dyn Txn,
    partition: &Partition,
    task: &Task,
) -> Result<Resources, ApiError> {
    let definition = definition_of(txn, partition, task)?;
    Ok(demand_of(
        &definition,
        &task.overrides.clone().unwrap_or_default(),
    ))
}

/// The store key of the task definition a task runs.
fn definition_key(partition: &Partition, task: &Task) -> Result<String, ApiError> {
    let arn = task.task_definition_arn.as_deref().unwrap_or_default();
    match TaskDefinitionRef::parse(partition, arn)? {
        TaskDefinitionRef::Revision(family, revision) => {
            Ok(keys::task_definition(&family, revision))
        }
        TaskDefinitionRef::Family(_) => {
            Err(EcsError::Server(format!("task {arn} names no revision")).into())
        }
    }
}

fn definition_of(
    txn: &mut dyn Txn,
    partition: &Partition,
    task: &Task,
) -> Result<TaskDefinition, ApiError> {
    let key = definition_key(partition, task)?;
    super::read::<TaskDefinition>(txn, &key)?
        .ok_or_else(|| EcsError::Server(format!("task definition {key} is missing")).into())
}

/// A task as its instance's agent needs it.
pub fn desired_task(task: &Task, definition: TaskDefinition) -> DesiredTask {
    DesiredTask {
        task_arn: task.task_arn.clone().unwrap_or_default(),
        cluster_arn: task.cluster_arn.clone().unwrap_or_default(),
        desired_status: task.desired_status.clone().unwrap_or_default(),
        task_definition: definition,
        overrides: task.overrides.clone().unwrap_or_default(),
        stop_code: task.stop_code.clone(),
        stopped_reason: task.stopped_reason.clone(),
        container_arns: task
            .containers
            .iter()
            .flatten()
            .filter_map(|c| Some((c.name.clone()?, c.container_arn.clone()?)))
            .collect(),
        availability_zone: task.availability_zone.clone(),
    }
}

/// The task definition a task runs, from the latest committed state.
pub async fn fetch_definition(cp: &ControlPlane, task: &Task) -> Result<TaskDefinition, ApiError> {
    let key = definition_key(&cp.partition, task)?;
    super::fetch::<TaskDefinition>(cp, &key)
        .await?
        .ok_or_else(|| EcsError::Server(format!("task definition {key} is missing")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::ContainerStateChange;

    fn task() -> Task {
        serde_json::from_value(serde_json::json!({
            "lastStatus": TaskStatus::Pending.as_str(),
            "desiredStatus": DesiredStatus::Running.as_str(),
            "version": 1,
            "containers": [{"name": "web", "lastStatus": ContainerStatus::Pending.as_str()}],
        }))
        .unwrap()
    }

    #[test]
    fn statuses_only_move_forward() {
        let mut t = task();
        let running = TaskStateChange {
            last_status: Some(TaskStatus::Running.as_str().into()),
            started_at: Some(5.0),
            containers: vec![ContainerStateChange {
                name: "web".into(),
                last_status: Some(ContainerStatus::Running.as_str().into()),
                runtime_id: Some("abc".into()),
                ..Default::default()
            }],
            at: 5.0,
            ..Default::default()
        };
        assert_eq!(apply_state_change(&mut t, &running), (true, false));
        assert_eq!(
            (status(&t), t.started_at, t.version),
            (TaskStatus::Running, Some(5.0), Some(2))
        );
        let late = TaskStateChange {
            last_status: Some(TaskStatus::Pending.as_str().into()),
            at: 6.0,
            ..Default::default()
        };
        assert_eq!(apply_state_change(&mut t, &late), (false, false));
        assert_eq!(status(&t), TaskStatus::Running);
        assert_eq!(
            apply_state_change(&mut t, &running),
            (false, false),
            "a repeated change is a no-op"
        );
    }

    #[test]
    fn an_agent_initiated_stop_records_why() {
        let mut t = task();
        let exited = TaskStateChange {
            last_status: Some(TaskStatus::Stopped.as_str().into()),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![ContainerStateChange {
                name: "web".into(),
                last_status: Some(ContainerStatus::Stopped.as_str().into()),
                exit_code: Some(137),
                ..Default::default()
            }],
            at: 9.0,
            ..Default::default()
        };
        assert_eq!(apply_state_change(&mut t, &exited), (true, true));
        assert!(stop_requested(&t));
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(
            (t.stopping_at, t.stopped_at, t.execution_stopped_at),
            (Some(9.0), Some(9.0), Some(9.0))
        );
        assert_eq!(t.containers.unwrap()[0].exit_code, Some(137));
    }
}
