//! The actions a container agent calls: DiscoverPollEndpoint, SubmitTaskStateChange,
//! SubmitContainerStateChange and SubmitAttachmentStateChanges (RegisterContainerInstance is
//! with the other container instance actions). A third-party agent or tool reports through
//! them on the same records the agent channel writes, with the same rule: a report only ever
//! moves a task, container or attachment forward, so a late or repeated one changes nothing.

use berth_ecs::EcsError;
use berth_ecs::error::invalid;
use berth_ecs::lifecycle::{ContainerStatus, TaskStatus};
use berth_ecs::status::AttachmentStatus;
use berth_ecs_wire::{
    AttachmentStateChange, DiscoverPollEndpointRequest, DiscoverPollEndpointResponse,
    ManagedAgentStateChange, SubmitAttachmentStateChangesRequest,
    SubmitAttachmentStateChangesResponse, SubmitContainerStateChangeRequest,
    SubmitContainerStateChangeResponse, SubmitTaskStateChangeRequest,
    SubmitTaskStateChangeResponse, Task,
};
use berth_protocol::{ContainerStateChange, TaskStateChange};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::instances::{self, StoredInstance};
use crate::state::{clusters, tasks};

/// What every Submit* action answers once the report is durable.
const ACKNOWLEDGMENT: &str = "ACK";

/// DiscoverPollEndpoint: where the agent holds its channel (`endpoint`, the agent channel at
/// `CONNECT_PATH` under it) and sends its telemetry (`telemetryEndpoint`, the same channel's
/// stats): both this server.
pub async fn discover_poll_endpoint(
    cp: &ControlPlane,
    request: DiscoverPollEndpointRequest,
) -> Result<DiscoverPollEndpointResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let endpoint = format!("{}/", cp.endpoint.trim_end_matches('/'));
    Ok(DiscoverPollEndpointResponse {
        endpoint: Some(endpoint.clone()),
        telemetry_endpoint: Some(endpoint),
        service_connect_endpoint: None,
    })
}

/// The task a Submit* action names (an id or an ARN).
fn named_task(task: Option<&str>) -> Result<String, ApiError> {
    match task {
        Some(task) if !task.is_empty() => Ok(tasks::task_id(task).to_string()),
        _ => Err(invalid("Task cannot be empty.").into()),
    }
}

fn task_not_found() -> ApiError {
    invalid("The referenced task was not found.").into()
}

/// A reported task status, which must be one of ECS's.
fn task_status(status: Option<&str>) -> Result<Option<String>, ApiError> {
    match status {
        None => Ok(None),
        Some(status) => match TaskStatus::parse(status) {
            Some(parsed) => Ok(Some(parsed.as_str().to_string())),
            None => Err(invalid(format!("Invalid task status: {status}")).into()),
        },
    }
}

/// A reported container status, which must be one of ECS's.
fn container_status(status: Option<&str>) -> Result<Option<String>, ApiError> {
    match status {
        None => Ok(None),
        Some(status) => match ContainerStatus::parse(status) {
            Some(parsed) => Ok(Some(parsed.as_str().to_string())),
            None => Err(invalid(format!("Invalid container status: {status}")).into()),
        },
    }
}

/// Reports on a task of `cluster` in one transaction: `change` through the lifecycle (releasing
/// the task's resources when it stops), then whatever `also` moves on the task record.
async fn report(
    cp: &ControlPlane,
    cluster: String,
    id: String,
    change: TaskStateChange,
    also: impl Fn(&mut Task) -> Result<bool, ApiError> + Send + 'static,
) -> Result<(), ApiError> {
    let partition = cp.partition.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        let mut task = tasks::read(txn, &cluster, &id)?.ok_or_else(task_not_found)?;
        let mut change = change.clone();
        change.task_arn = task.task_arn.clone().unwrap_or_default();
        let mut released: Option<StoredInstance> = None;
        tasks::apply_report(txn, &partition, &cluster, &mut task, &change, &mut released)?;
        if also(&mut task)? {
            tasks::bump(&mut task);
            tasks::store(txn, &cluster, &task);
        }
        if let Some(stored) = released {
            instances::write(txn, &cluster, &stored);
        }
        Ok::<_, ApiError>(())
    })
    .await
}

pub async fn submit_task_state_change(
    cp: &ControlPlane,
    request: SubmitTaskStateChangeRequest,
) -> Result<SubmitTaskStateChangeResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let id = named_task(request.task.as_deref())?;
    let last_status = task_status(request.status.as_deref())?;
    let mut containers = Vec::new();
    for container in request.containers.iter().flatten() {
        containers.push(ContainerStateChange {
            name: container.container_name.clone().unwrap_or_default(),
            last_status: container_status(container.status.as_deref())?,
            runtime_id: container.runtime_id.clone(),
            image_digest: container.image_digest.clone(),
            exit_code: container.exit_code,
            reason: container.reason.clone(),
            network_bindings: container.network_bindings.clone(),
            health_status: None,
        });
    }
    let attachments = request.attachments.clone().unwrap_or_default();
    check_attachment_statuses(&attachments)?;
    let managed_agents = request.managed_agents.clone().unwrap_or_default();
    let now = cp.clock.now();
    let reason = request.reason.clone();
    let change = TaskStateChange {
        task_arn: String::new(),
        last_status,
        containers,
        at: now,
        pull_started_at: request.pull_started_at,
        pull_stopped_at: request.pull_stopped_at,
        started_at: None,
        execution_stopped_at: request.execution_stopped_at,
        health_status: None,
        stop_code: None,
        stopped_reason: None,
    };
    report(cp, cluster, id, change, move |task| {
        let mut changed = false;
        // ECS stamps when a task began running from the report that says so.
        if tasks::status(task) == TaskStatus::Running && task.started_at.is_none() {
            task.started_at = Some(now);
            changed = true;
        }
        if tasks::status(task) == TaskStatus::Stopped {
            changed |= record_own_stop(task, reason.as_deref());
        }
        for attachment in &attachments {
            changed |= move_attachment(task, attachment).ok_or_else(|| {
                attachment_not_found(attachment.attachment_arn.as_deref().unwrap_or_default())
            })?;
        }
        for agent in &managed_agents {
            changed |= move_managed_agent(task, agent);
        }
        Ok(changed)
    })
    .await?;
    Ok(SubmitTaskStateChangeResponse {
        acknowledgment: Some(ACKNOWLEDGMENT.into()),
    })
}

/// Names why a task stopped that its agent reported STOPPED before anyone asked it to stop:
/// before it ran, it failed to start; after, an essential container exited (ECS's stop codes),
/// with the agent's reason when it gave one.
fn record_own_stop(task: &mut Task, reason: Option<&str>) -> bool {
    if task.stop_code.is_some() {
        return false;
    }
    let ran = task.started_at.is_some();
    let (code, default_reason) = match ran {
        true => (
            "EssentialContainerExited",
            Some("Essential container in task exited"),
        ),
        false => ("TaskFailedToStart", None),
    };
    task.stop_code = Some(code.into());
    task.stopped_reason = reason.or(default_reason).map(str::to_owned);
    true
}

pub async fn submit_container_state_change(
    cp: &ControlPlane,
    request: SubmitContainerStateChangeRequest,
) -> Result<SubmitContainerStateChangeResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let id = named_task(request.task.as_deref())?;
    let Some(name) = request.container_name.clone().filter(|n| !n.is_empty()) else {
        return Err(invalid("Container name cannot be empty.").into());
    };
    let change = TaskStateChange {
        containers: vec![ContainerStateChange {
            name: name.clone(),
            last_status: container_status(request.status.as_deref())?,
            runtime_id: request.runtime_id.clone(),
            image_digest: None,
            exit_code: request.exit_code,
            reason: request.reason.clone(),
            network_bindings: request.network_bindings.clone(),
            health_status: None,
        }],
        at: cp.clock.now(),
        ..TaskStateChange::default()
    };
    report(cp, cluster, id, change, move |task| {
        let known = task
            .containers
            .iter()
            .flatten()
            .any(|c| c.name.as_deref() == Some(name.as_str()));
        match known {
            true => Ok(false),
            false => Err(invalid(format!(
                "The container {name} is not part of the referenced task."
            ))
            .into()),
        }
    })
    .await?;
    Ok(SubmitContainerStateChangeResponse {
        acknowledgment: Some(ACKNOWLEDGMENT.into()),
    })
}

pub async fn submit_attachment_state_changes(
    cp: &ControlPlane,
    request: SubmitAttachmentStateChangesRequest,
) -> Result<SubmitAttachmentStateChangesResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let attachments = request.attachments.clone().unwrap_or_default();
    check_attachment_statuses(&attachments)?;
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        let mut touched: Vec<Task> = Vec::new();
        for attachment in &attachments {
            let arn = attachment.attachment_arn.as_deref().unwrap_or_default();
            // An attachment belongs to one task of the cluster; a task moved by an earlier
            // item of this call is moved on from where that item left it.
            let held = touched.iter().position(|t| has_attachment(t, arn));
            let index = match held {
                Some(index) => index,
                None => {
                    let task = tasks::in_cluster(txn, &cluster)?
                        .into_iter()
                        .find(|t| has_attachment(t, arn))
                        .ok_or_else(|| attachment_not_found(arn))?;
                    touched.push(task);
                    touched.len() - 1
                }
            };
            if move_attachment(&mut touched[index], attachment) == Some(true) {
                tasks::bump(&mut touched[index]);
                tasks::store(txn, &cluster, &touched[index]);
            }
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(SubmitAttachmentStateChangesResponse {
        acknowledgment: Some(ACKNOWLEDGMENT.into()),
    })
}

fn check_attachment_statuses(attachments: &[AttachmentStateChange]) -> Result<(), ApiError> {
    for attachment in attachments {
        let status = attachment.status.as_deref().unwrap_or_default();
        if AttachmentStatus::parse(status).is_none() {
            return Err(invalid(format!("Invalid attachment status: {status}")).into());
        }
    }
    Ok(())
}

fn attachment_not_found(arn: &str) -> ApiError {
    invalid(format!("The referenced attachment {arn} was not found.")).into()
}

/// The id an attachment ARN ends with (`…:attachment/ID`), or the reference itself.
fn attachment_id(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

fn has_attachment(task: &Task, arn: &str) -> bool {
    let id = attachment_id(arn);
    task.attachments
        .iter()
        .flatten()
        .any(|a| a.id.as_deref() == Some(id))
}

/// Moves the task's attachment the report names forward: `None` when the task has no such
/// attachment, else whether it moved.
fn move_attachment(task: &mut Task, report: &AttachmentStateChange) -> Option<bool> {
    let id = attachment_id(report.attachment_arn.as_deref().unwrap_or_default());
    let attachment = task
        .attachments
        .iter_mut()
        .flatten()
        .find(|a| a.id.as_deref() == Some(id))?;
    let reported = AttachmentStatus::parse(report.status.as_deref().unwrap_or_default())?;
    let current = attachment
        .status
        .as_deref()
        .and_then(AttachmentStatus::parse)
        .unwrap_or(AttachmentStatus::Precreated);
    let moved = current.next(reported).is_some() || attachment.status.is_none();
    if moved {
        attachment.status = Some(reported.as_str().into());
    }
    Some(moved)
}

/// Records a managed agent's reported status on the task's container that runs it.
fn move_managed_agent(task: &mut Task, report: &ManagedAgentStateChange) -> bool {
    let Some(agent) = task
        .containers
        .iter_mut()
        .flatten()
        .filter(|c| c.name == report.container_name)
        .flat_map(|c| c.managed_agents.iter_mut().flatten())
        .find(|a| a.name == report.managed_agent_name)
    else {
        return false;
    };
    let before = (agent.last_status.clone(), agent.reason.clone());
    agent.last_status = report.status.clone();
    if report.reason.is_some() {
        agent.reason = report.reason.clone();
    }
    before != (agent.last_status.clone(), agent.reason.clone())
}

#[cfg(test)]
mod tests {
    use berth_ecs_wire::Attachment;

    use super::*;

    fn task_with(status: &str) -> Task {
        Task {
            attachments: Some(vec![Attachment {
                id: Some("a1".into()),
                status: Some(status.into()),
                ..Attachment::default()
            }]),
            ..Task::default()
        }
    }

    fn reported(status: &str) -> AttachmentStateChange {
        AttachmentStateChange {
            attachment_arn: Some("arn:aws:ecs:us-east-1:000000000000:attachment/a1".into()),
            status: Some(status.into()),
        }
    }

    #[test]
    fn attachment_reports_move_only_forward() {
        let mut task = task_with("ATTACHING");
        assert_eq!(
            move_attachment(&mut task, &reported("ATTACHED")),
            Some(true)
        );
        assert_eq!(
            move_attachment(&mut task, &reported("ATTACHING")),
            Some(false)
        );
        assert_eq!(
            task.attachments.unwrap()[0].status.as_deref(),
            Some("ATTACHED")
        );
        let mut other = task_with("ATTACHED");
        let elsewhere = AttachmentStateChange {
            attachment_arn: Some("arn:aws:ecs:us-east-1:000000000000:attachment/zz".into()),
            status: Some("DELETED".into()),
        };
        assert_eq!(move_attachment(&mut other, &elsewhere), None);
    }

    #[test]
    fn a_task_stopped_by_its_agent_gets_ecs_stop_code() {
        let mut failed = Task::default();
        assert!(record_own_stop(
            &mut failed,
            Some("CannotPullContainerError: no image")
        ));
        assert_eq!(failed.stop_code.as_deref(), Some("TaskFailedToStart"));
        assert_eq!(
            failed.stopped_reason.as_deref(),
            Some("CannotPullContainerError: no image")
        );
        let mut exited = Task {
            started_at: Some(1.0),
            ..Task::default()
        };
        assert!(record_own_stop(&mut exited, None));
        assert_eq!(
            exited.stop_code.as_deref(),
            Some("EssentialContainerExited")
        );
        assert_eq!(
            exited.stopped_reason.as_deref(),
            Some("Essential container in task exited")
        );
        let mut asked = Task {
            stop_code: Some("UserInitiated".into()),
            ..Task::default()
        };
        assert!(
            !record_own_stop(&mut asked, Some("late")),
            "a requested stop keeps its code"
        );
    }
}
