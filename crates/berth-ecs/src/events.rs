//! ECS's events as it sends them to EventBridge (`source: aws.ecs`): "ECS Task State Change",
//! "ECS Container Instance State Change", "ECS Service Action" and "ECS Deployment State
//! Change", derived from records as they change.
//!
//! [`Knowledge`] is what the deriver remembers of each record it has seen (a task's or an
//! instance's `version`, a service's event ids, rollout states and computed desired count);
//! each `*_changed` function takes a record's new state and returns the events that change
//! makes, and remembers it. A record seen again unchanged makes no event, so replaying changes
//! is harmless. No I/O and no clock: the time of the change is an argument.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use berth_ecs_wire::{ContainerInstance, Deployment, Service, Task};
use berth_wire::codec::time;
use berth_wire::model::{ShapeKind, TimestampFormat};
use serde::Serialize;
use serde_json::{Value, json};

use crate::arn::Partition;
use crate::status::{RolloutState, ServiceStatus};

/// The four kinds of event ECS sends, by their `detail-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailType {
    TaskStateChange,
    ContainerInstanceStateChange,
    ServiceAction,
    DeploymentStateChange,
}

impl DetailType {
    pub const fn as_str(self) -> &'static str {
        match self {
            DetailType::TaskStateChange => "ECS Task State Change",
            DetailType::ContainerInstanceStateChange => "ECS Container Instance State Change",
            DetailType::ServiceAction => "ECS Service Action",
            DetailType::DeploymentStateChange => "ECS Deployment State Change",
        }
    }
}

/// A service or deployment event's `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Info,
    Warn,
    Error,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Info => "INFO",
            EventType::Warn => "WARN",
            EventType::Error => "ERROR",
        }
    }
}

/// Where an event stands in a region's stream: the store revision of the change that made it
/// and its place among that change's events. Ids order events; their text is `REVISION-INDEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub revision: i64,
    pub index: u32,
}

impl EventId {
    /// The position just after every event of changes up to `revision`.
    pub const fn after_revision(revision: i64) -> EventId {
        EventId {
            revision,
            index: u32::MAX,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.revision, self.index)
    }
}

/// An event id that is not `REVISION-INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event id (REVISION-INDEX)")]
pub struct BadEventId(pub String);

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(text: &str) -> Result<EventId, BadEventId> {
        let bad = || BadEventId(text.to_string());
        let (revision, index) = text.split_once('-').ok_or_else(bad)?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(revision) || !digits(index) {
            return Err(bad());
        }
        Ok(EventId {
            revision: revision.parse().map_err(|_| bad())?,
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

/// One event before it has its id: what it is about, for filtering, and its EventBridge parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub detail_type: DetailType,
    /// When it happened (epoch seconds): the envelope's `time`.
    pub time: f64,
    pub resources: Vec<String>,
    /// The name of the cluster it concerns.
    pub cluster: String,
    /// The service it concerns: a service's own events, and the tasks it started.
    pub service: Option<String>,
    pub detail: Value,
}

impl Event {
    /// The event as EventBridge delivers it: `version` 0, `id`, `detail-type`, `source`,
    /// `account`, `time` (to the second), `region`, `resources` and `detail`.
    pub fn to_eventbridge(&self, id: EventId, partition: &Partition) -> Value {
        json!({
            "version": "0",
            "id": id.to_string(),
            "detail-type": self.detail_type.as_str(),
            "source": "aws.ecs",
            "account": partition.account_id,
            "time": envelope_time(self.time),
            "region": partition.region,
            "resources": self.resources,
            "detail": self.detail,
        })
    }
}

/// ISO 8601 with milliseconds, as event details write timestamps (`2026-12-06T02:50:01.123Z`).
pub fn detail_time(seconds: f64) -> String {
    time::format(seconds, TimestampFormat::Iso8601)
}

/// ISO 8601 to the second, as the envelope's `time` is written (`2026-12-06T02:50:01Z`).
fn envelope_time(seconds: f64) -> String {
    let with_millis = time::format(seconds.floor(), TimestampFormat::Iso8601);
    with_millis.replacen(".000Z", "Z", 1)
}

/// What the deriver remembers of the records it has seen.
#[derive(Debug, Default)]
pub struct Knowledge {
    /// Task ARN → the `version` last seen.
    tasks: HashMap<String, i64>,
    /// Container instance ARN → the `version` last seen.
    instances: HashMap<String, i64>,
    /// Service ARN → what its record said.
    services: HashMap<String, ServiceSeen>,
}

#[derive(Debug, Default)]
struct ServiceSeen {
    /// The ids of its `events[]` entries.
    events: HashSet<String>,
    /// Each `deployments[]` entry's rollout state, by deployment id.
    rollouts: HashMap<String, String>,
    desired_count: Option<i32>,
}

impl Knowledge {
    /// An "ECS Task State Change" when the task is new to the deriver or its `version` moved
    /// (every state change of a task counts one more version).
    pub fn task_changed(&mut self, task: &Task, now: f64) -> Option<Event> {
        let arn = task.task_arn.clone()?;
        let version = task.version.unwrap_or(0);
        if self.tasks.get(&arn).is_some_and(|seen| *seen >= version) {
            return None;
        }
        self.tasks.insert(arn.clone(), version);
        let mut detail = wire_json(task, "Task");
        // As DescribeTasks shows a task unless asked for its tags (they are kept apart, and
        // TagResource changes them without a state change).
        if let Some(fields) = detail.as_object_mut() {
            fields.remove("tags");
        }
        detail["updatedAt"] = Value::String(detail_time(now));
        Some(Event {
            detail_type: DetailType::TaskStateChange,
            time: now,
            resources: vec![arn],
            cluster: cluster_name(task.cluster_arn.as_deref()),
            service: task
                .group
                .as_deref()
                .and_then(|g| g.strip_prefix("service:"))
                .map(str::to_string),
            detail,
        })
    }

    /// Remembers a task as it is without making an event: what the deriver starts from.
    pub fn learn_task(&mut self, task: &Task) {
        if let Some(arn) = &task.task_arn {
            self.tasks.insert(arn.clone(), task.version.unwrap_or(0));
        }
    }

    /// Forgets a task whose record is gone (housekeeping forgets stopped tasks).
    pub fn task_gone(&mut self, arn: &str) {
        self.tasks.remove(arn);
    }

    /// An "ECS Container Instance State Change" when the instance is new to the deriver or its
    /// `version` moved: its status, agent connection, or remaining resources changed.
    pub fn instance_changed(&mut self, instance: &ContainerInstance, now: f64) -> Option<Event> {
        let arn = instance.container_instance_arn.clone()?;
        let version = instance.version.unwrap_or(0);
        if self
            .instances
            .get(&arn)
            .is_some_and(|seen| *seen >= version)
        {
            return None;
        }
        self.instances.insert(arn.clone(), version);
        let mut detail = wire_json(instance, "ContainerInstance");
        let cluster = arn
            .split(":container-instance/")
            .nth(1)
            .and_then(|rest| rest.split_once('/'))
            .map(|(cluster, _)| cluster.to_string())
            .unwrap_or_default();
        detail["clusterArn"] = Value::String(cluster_arn_of(&arn, &cluster));
        detail["updatedAt"] = Value::String(detail_time(now));
        Some(Event {
            detail_type: DetailType::ContainerInstanceStateChange,
            time: now,
            resources: vec![arn],
            cluster,
            service: None,
            detail,
        })
    }

    /// Remembers an instance as it is without making an event: what the deriver starts from.
    pub fn learn_instance(&mut self, instance: &ContainerInstance) {
        if let Some(arn) = &instance.container_instance_arn {
            self.instances
                .insert(arn.clone(), instance.version.unwrap_or(0));
        }
    }

    pub fn instance_gone(&mut self, arn: &str) {
        self.instances.remove(arn);
    }

    /// Remembers a service as it is without making events: what the deriver starts from, so
    /// that a service's older `events[]` are not announced again.
    pub fn learn_service(&mut self, service: &Service) {
        if let Some(arn) = &service.service_arn {
            self.services.insert(arn.clone(), seen(service));
        }
    }

    /// The events a change of a service record makes: "ECS Deployment State Change" for each
    /// deployment whose rollout state is new or moved, then an "ECS Service Action" for each
    /// new `events[]` entry that is one of ECS's service actions (oldest first), and
    /// SERVICE_DESIRED_COUNT_UPDATED when the scheduler changed a DAEMON service's computed
    /// desired count. A service never seen before counts every entry as new.
    pub fn service_changed(&mut self, service: &Service, now: f64) -> Vec<Event> {
        let Some(arn) = service.service_arn.clone() else {
            return Vec::new();
        };
        let now_seen = seen(service);
        let before = self.services.insert(arn.clone(), now_seen);
        let before = before.unwrap_or_default();
        let cluster = cluster_name(service.cluster_arn.as_deref());
        let cluster_arn = service.cluster_arn.clone().unwrap_or_default();
        let event = |detail_type, time, detail| Event {
            detail_type,
            time,
            resources: vec![arn.clone()],
            cluster: cluster.clone(),
            service: service.service_name.clone(),
            detail,
        };
        let mut events = Vec::new();
        for deployment in service.deployments.iter().flatten().rev() {
            let (Some(id), Some(state)) = (&deployment.id, &deployment.rollout_state) else {
                continue;
            };
            if before.rollouts.get(id) == Some(state) {
                continue;
            }
            if let Some(detail) = deployment_detail(deployment, id, state) {
                events.push(event(DetailType::DeploymentStateChange, now, detail));
            }
        }
        for entry in service.events.iter().flatten().rev() {
            let (Some(id), Some(message)) = (&entry.id, &entry.message) else {
                continue;
            };
            if before.events.contains(id) {
                continue;
            }
            let Some(action) = ServiceAction::of_message(message) else {
                continue;
            };
            let created_at = entry.created_at.unwrap_or(now);
            let mut detail = json!({
                "eventType": action.event_type().as_str(),
                "eventName": action.name(),
                "clusterArn": cluster_arn,
                "createdAt": detail_time(created_at),
            });
            if let ServiceAction::TaskPlacementFailure {
                reason: Some(reason),
            } = action
            {
                detail["reason"] = Value::String(reason.into());
            }
            events.push(event(DetailType::ServiceAction, created_at, detail));
        }
        let daemon = service.scheduling_strategy.as_deref() == Some("DAEMON");
        let active = service.status.as_deref() == Some(ServiceStatus::Active.as_str());
        if daemon
            && active
            && before.desired_count.is_some()
            && before.desired_count != service.desired_count
        {
            let action = ServiceAction::DesiredCountUpdated;
            let detail = json!({
                "eventType": action.event_type().as_str(),
                "eventName": action.name(),
                "clusterArn": cluster_arn,
                "createdAt": detail_time(now),
            });
            events.push(event(DetailType::ServiceAction, now, detail));
        }
        events
    }

    pub fn service_gone(&mut self, arn: &str) {
        self.services.remove(arn);
    }
}

fn seen(service: &Service) -> ServiceSeen {
    ServiceSeen {
        events: service
            .events
            .iter()
            .flatten()
            .filter_map(|e| e.id.clone())
            .collect(),
        rollouts: service
            .deployments
            .iter()
            .flatten()
            .filter_map(|d| Some((d.id.clone()?, d.rollout_state.clone()?)))
            .collect(),
        desired_count: service.desired_count,
    }
}

/// An "ECS Deployment State Change" detail for a deployment now in `state`.
fn deployment_detail(deployment: &Deployment, id: &str, state: &str) -> Option<Value> {
    let (name, event_type) = match state {
        s if s == RolloutState::InProgress.as_str() => {
            ("SERVICE_DEPLOYMENT_IN_PROGRESS", EventType::Info)
        }
        s if s == RolloutState::Completed.as_str() => {
            ("SERVICE_DEPLOYMENT_COMPLETED", EventType::Info)
        }
        s if s == RolloutState::Failed.as_str() => ("SERVICE_DEPLOYMENT_FAILED", EventType::Error),
        _ => return None,
    };
    let mut detail = json!({
        "eventType": event_type.as_str(),
        "eventName": name,
        "deploymentId": id,
    });
    if let Some(updated_at) = deployment.updated_at {
        detail["updatedAt"] = Value::String(detail_time(updated_at));
    }
    if let Some(reason) = &deployment.rollout_state_reason {
        detail["reason"] = Value::String(reason.clone());
    }
    Some(detail)
}

/// The service actions ECS sends whose cause Berth's service scheduler records in a service's
/// `events[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    SteadyState,
    TasksStopped,
    DesiredCountUpdated,
    TaskStartImpaired,
    /// `reason` is placement's (`RESOURCE:MEMORY`, …) when a resource stopped the closest
    /// instance.
    TaskPlacementFailure {
        reason: Option<&'static str>,
    },
}

impl ServiceAction {
    pub const fn name(self) -> &'static str {
        match self {
            ServiceAction::SteadyState => "SERVICE_STEADY_STATE",
            ServiceAction::TasksStopped => "TASKS_STOPPED",
            ServiceAction::DesiredCountUpdated => "SERVICE_DESIRED_COUNT_UPDATED",
            ServiceAction::TaskStartImpaired => "SERVICE_TASK_START_IMPAIRED",
            ServiceAction::TaskPlacementFailure { .. } => "SERVICE_TASK_PLACEMENT_FAILURE",
        }
    }

    pub const fn event_type(self) -> EventType {
        match self {
            ServiceAction::SteadyState
            | ServiceAction::TasksStopped
            | ServiceAction::DesiredCountUpdated => EventType::Info,
            ServiceAction::TaskStartImpaired => EventType::Warn,
            ServiceAction::TaskPlacementFailure { .. } => EventType::Error,
        }
    }

    /// The action a service event's message reports, as the service scheduler words them
    /// (`(service web) has reached a steady state.`); `None` for messages ECS sends no action
    /// for (tasks started, targets registered, unhealthy tasks, deployments, which have their
    /// own state change events).
    pub fn of_message(message: &str) -> Option<ServiceAction> {
        if message.ends_with(" has reached a steady state.") {
            return Some(ServiceAction::SteadyState);
        }
        if message.ends_with(" is unable to consistently start tasks successfully.") {
            return Some(ServiceAction::TaskStartImpaired);
        }
        if message.contains(") has stopped ") && message.contains(" running tasks: ") {
            return Some(ServiceAction::TasksStopped);
        }
        if message.contains(" was unable to place a task because no container instance met") {
            let reason = [
                ("has insufficient CPU units available", "RESOURCE:CPU"),
                ("has insufficient memory available", "RESOURCE:MEMORY"),
                (
                    "is already using a port required by your task",
                    "RESOURCE:PORTS",
                ),
                ("has insufficient GPU units available", "RESOURCE:GPU"),
            ]
            .into_iter()
            .find(|(phrase, _)| message.contains(phrase))
            .map(|(_, reason)| reason);
            return Some(ServiceAction::TaskPlacementFailure { reason });
        }
        None
    }
}

/// The name in a cluster ARN (`arn:aws:ecs:…:cluster/NAME`).
fn cluster_name(cluster_arn: Option<&str>) -> String {
    cluster_arn
        .and_then(|arn| arn.split_once(":cluster/"))
        .map(|(_, name)| name.to_string())
        .unwrap_or_default()
}

/// The ARN of `cluster` in the partition and account of a container instance ARN.
fn cluster_arn_of(instance_arn: &str, cluster: &str) -> String {
    match instance_arn.split_once(":container-instance/") {
        Some((prefix, _)) => format!("{prefix}:cluster/{cluster}"),
        None => String::new(),
    }
}

/// A wire shape as an event's detail writes it: the API's JSON with every timestamp member in
/// ISO 8601 (the API sends epoch seconds), found through the ECS model.
fn wire_json<T: Serialize>(value: &T, shape: &str) -> Value {
    // Wire shapes are plain data: encoding cannot fail.
    let mut json = serde_json::to_value(value).expect("wire shapes always encode");
    if let Some(shape) = berth_ecs_wire::MODEL.shape_named(shape) {
        timestamps_as_iso(&mut json, &shape.kind);
    }
    json
}

fn timestamps_as_iso(value: &mut Value, kind: &ShapeKind) {
    let model = &berth_ecs_wire::MODEL;
    match (kind, value) {
        (ShapeKind::Timestamp, value) => {
            if let Some(seconds) = value.as_f64() {
                *value = Value::String(detail_time(seconds));
            }
        }
        (ShapeKind::Structure { members, .. }, Value::Object(fields)) => {
            for member in *members {
                if let Some(field) = fields.get_mut(member.name) {
                    timestamps_as_iso(field, &model.shape(member.shape).kind);
                }
            }
        }
        (ShapeKind::List(member), Value::Array(items)) => {
            let kind = &model.shape(member.shape).kind;
            for item in items {
                timestamps_as_iso(item, kind);
            }
        }
        (ShapeKind::Map { value: member, .. }, Value::Object(entries)) => {
            let kind = &model.shape(member.shape).kind;
            for entry in entries.values_mut() {
                timestamps_as_iso(entry, kind);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use berth_ecs_wire::{Container, ServiceEvent};

    use super::*;

    const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/web";
    const TASK_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/web/0123abcd";
    const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/web/api";
    const INSTANCE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/web/77aa";
    // 2026-12-06T02:50:01.250Z
    const NOW: f64 = 1_796_525_401.25;

    fn task(last_status: &str, version: i64) -> Task {
        Task {
            task_arn: Some(TASK_ARN.into()),
            cluster_arn: Some(CLUSTER_ARN.into()),
            last_status: Some(last_status.into()),
            desired_status: Some("RUNNING".into()),
            group: Some("service:api".into()),
            started_by: Some("ecs-svc/1".into()),
            version: Some(version),
            created_at: Some(1_796_525_400.5),
            tags: Some(vec![berth_ecs_wire::Tag {
                key: Some("team".into()),
                value: Some("web".into()),
            }]),
            containers: Some(vec![Container {
                name: Some("app".into()),
                last_status: Some(last_status.into()),
                ..Container::default()
            }]),
            ..Task::default()
        }
    }

    #[test]
    fn a_task_change_is_the_task_with_iso_timestamps_once_per_version() {
        let mut knowledge = Knowledge::default();
        let event = knowledge.task_changed(&task("PENDING", 1), NOW).unwrap();
        assert_eq!(event.detail_type, DetailType::TaskStateChange);
        assert_eq!(event.resources, [TASK_ARN]);
        assert_eq!(
            (event.cluster.as_str(), event.service.as_deref()),
            ("web", Some("api"))
        );
        assert_eq!(
            event.detail,
            json!({
                "taskArn": TASK_ARN,
                "clusterArn": CLUSTER_ARN,
                "lastStatus": "PENDING",
                "desiredStatus": "RUNNING",
                "group": "service:api",
                "startedBy": "ecs-svc/1",
                "version": 1,
                "createdAt": "2026-12-06T02:50:00.500Z",
                "containers": [{"name": "app", "lastStatus": "PENDING"}],
                "updatedAt": "2026-12-06T02:50:01.250Z",
            })
        );
        // The same version again (a replay) makes nothing; the next version makes an event.
        assert_eq!(knowledge.task_changed(&task("PENDING", 1), NOW + 1.0), None);
        let running = knowledge
            .task_changed(&task("RUNNING", 2), NOW + 2.0)
            .unwrap();
        assert_eq!(running.detail["lastStatus"], "RUNNING");
        assert_eq!(running.detail["version"], 2);
        // An older version arriving late makes nothing either.
        assert_eq!(knowledge.task_changed(&task("PENDING", 1), NOW + 3.0), None);
        // A forgotten task that comes back is announced again.
        knowledge.task_gone(TASK_ARN);
        assert!(knowledge.task_changed(&task("RUNNING", 2), NOW).is_some());
    }

    #[test]
    fn what_the_deriver_starts_from_is_not_news() {
        let mut knowledge = Knowledge::default();
        knowledge.learn_task(&task("RUNNING", 2));
        assert_eq!(knowledge.task_changed(&task("RUNNING", 2), NOW), None);
        assert!(knowledge.task_changed(&task("STOPPED", 3), NOW).is_some());
        let instance = ContainerInstance {
            container_instance_arn: Some(INSTANCE_ARN.into()),
            version: Some(5),
            ..ContainerInstance::default()
        };
        knowledge.learn_instance(&instance);
        assert_eq!(knowledge.instance_changed(&instance, NOW), None);
    }

    #[test]
    fn a_standalone_task_belongs_to_no_service() {
        let mut standalone = task("PENDING", 1);
        standalone.group = Some("family:web".into());
        let event = Knowledge::default().task_changed(&standalone, NOW).unwrap();
        assert_eq!(event.service, None);
    }

    #[test]
    fn an_instance_change_carries_its_cluster_and_registration_time() {
        let instance = ContainerInstance {
            container_instance_arn: Some(INSTANCE_ARN.into()),
            ec2_instance_id: Some("i-0abc".into()),
            status: Some("ACTIVE".into()),
            agent_connected: Some(true),
            registered_at: Some(1_796_525_000.0),
            version: Some(3),
            ..ContainerInstance::default()
        };
        let mut knowledge = Knowledge::default();
        let event = knowledge.instance_changed(&instance, NOW).unwrap();
        assert_eq!(event.detail_type, DetailType::ContainerInstanceStateChange);
        assert_eq!((event.cluster.as_str(), event.service), ("web", None));
        assert_eq!(
            event.detail,
            json!({
                "containerInstanceArn": INSTANCE_ARN,
                "ec2InstanceId": "i-0abc",
                "status": "ACTIVE",
                "agentConnected": true,
                "registeredAt": "2026-12-06T02:43:20.000Z",
                "version": 3,
                "clusterArn": CLUSTER_ARN,
                "updatedAt": "2026-12-06T02:50:01.250Z",
            })
        );
        assert_eq!(knowledge.instance_changed(&instance, NOW), None);
        let disconnected = ContainerInstance {
            agent_connected: Some(false),
            version: Some(4),
            ..instance
        };
        let event = knowledge.instance_changed(&disconnected, NOW).unwrap();
        assert_eq!(event.detail["agentConnected"], false);
    }

    fn deployment(id: &str, rollout: &str, reason: &str) -> Deployment {
        Deployment {
            id: Some(id.into()),
            rollout_state: Some(rollout.into()),
            rollout_state_reason: Some(reason.into()),
            updated_at: Some(NOW),
            ..Deployment::default()
        }
    }

    fn service_event(id: &str, message: &str, at: f64) -> ServiceEvent {
        ServiceEvent {
            id: Some(id.into()),
            message: Some(message.into()),
            created_at: Some(at),
        }
    }

    fn service(deployments: Vec<Deployment>, events: Vec<ServiceEvent>) -> Service {
        Service {
            service_arn: Some(SERVICE_ARN.into()),
            service_name: Some("api".into()),
            cluster_arn: Some(CLUSTER_ARN.into()),
            status: Some("ACTIVE".into()),
            scheduling_strategy: Some("REPLICA".into()),
            desired_count: Some(2),
            deployments: Some(deployments),
            events: Some(events),
            ..Service::default()
        }
    }

    #[test]
    fn deployments_announce_each_rollout_state_once() {
        let mut knowledge = Knowledge::default();
        let created = service(
            vec![deployment(
                "ecs-svc/1",
                "IN_PROGRESS",
                "ECS deployment ecs-svc/1 in progress.",
            )],
            vec![],
        );
        let events = knowledge.service_changed(&created, NOW);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail_type, DetailType::DeploymentStateChange);
        assert_eq!(events[0].resources, [SERVICE_ARN]);
        assert_eq!(events[0].service.as_deref(), Some("api"));
        assert_eq!(
            events[0].detail,
            json!({
                "eventType": "INFO",
                "eventName": "SERVICE_DEPLOYMENT_IN_PROGRESS",
                "deploymentId": "ecs-svc/1",
                "updatedAt": "2026-12-06T02:50:01.250Z",
                "reason": "ECS deployment ecs-svc/1 in progress.",
            })
        );
        assert!(knowledge.service_changed(&created, NOW).is_empty());

        // The circuit breaker fails ecs-svc/2 and rolls back with ecs-svc/3 in one change.
        let rolled_back = service(
            vec![
                deployment(
                    "ecs-svc/3",
                    "IN_PROGRESS",
                    "ECS deployment ecs-svc/3 in progress.",
                ),
                deployment(
                    "ecs-svc/2",
                    "FAILED",
                    "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/3.",
                ),
                deployment(
                    "ecs-svc/1",
                    "IN_PROGRESS",
                    "ECS deployment ecs-svc/1 in progress.",
                ),
            ],
            vec![],
        );
        let names: Vec<_> = knowledge
            .service_changed(&rolled_back, NOW)
            .iter()
            .map(|e| {
                (
                    e.detail["deploymentId"].as_str().unwrap().to_string(),
                    e.detail["eventName"].as_str().unwrap().to_string(),
                    e.detail["eventType"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "ecs-svc/2".to_string(),
                    "SERVICE_DEPLOYMENT_FAILED".to_string(),
                    "ERROR".to_string()
                ),
                (
                    "ecs-svc/3".to_string(),
                    "SERVICE_DEPLOYMENT_IN_PROGRESS".to_string(),
                    "INFO".to_string()
                ),
            ]
        );
    }

    #[test]
    fn new_service_events_become_ecs_service_actions_oldest_first() {
        let mut knowledge = Knowledge::default();
        let old = service(
            vec![],
            vec![service_event(
                "e1",
                "(service api) has reached a steady state.",
                NOW - 60.0,
            )],
        );
        knowledge.learn_service(&old);
        assert!(knowledge.service_changed(&old, NOW).is_empty());
        let placement = "(service api) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 77aa) has insufficient memory available. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";
        let newer = service(
            vec![],
            vec![
                service_event(
                    "e4",
                    "(service api) is unable to consistently start tasks successfully.",
                    NOW + 2.0,
                ),
                service_event("e3", placement, NOW + 1.0),
                service_event(
                    "e2",
                    "(service api) has started 1 tasks: (task 0123abcd).",
                    NOW,
                ),
                service_event(
                    "e1",
                    "(service api) has reached a steady state.",
                    NOW - 60.0,
                ),
            ],
        );
        let events = knowledge.service_changed(&newer, NOW + 3.0);
        let details: Vec<_> = events.iter().map(|e| e.detail.clone()).collect();
        assert_eq!(
            details,
            [
                json!({
                    "eventType": "ERROR",
                    "eventName": "SERVICE_TASK_PLACEMENT_FAILURE",
                    "clusterArn": CLUSTER_ARN,
                    "createdAt": "2026-12-06T02:50:02.250Z",
                    "reason": "RESOURCE:MEMORY",
                }),
                json!({
                    "eventType": "WARN",
                    "eventName": "SERVICE_TASK_START_IMPAIRED",
                    "clusterArn": CLUSTER_ARN,
                    "createdAt": "2026-12-06T02:50:03.250Z",
                }),
            ]
        );
        assert!(
            events
                .iter()
                .all(|e| e.detail_type == DetailType::ServiceAction)
        );
        assert_eq!(events[0].time, NOW + 1.0);
    }

    #[test]
    fn service_messages_map_to_ecs_action_names() {
        let cases = [
            (
                "(service a) has reached a steady state.",
                Some("SERVICE_STEADY_STATE"),
            ),
            (
                "(service a) has stopped 2 running tasks: (task 1) (task 2).",
                Some("TASKS_STOPPED"),
            ),
            (
                "(service a) is unable to consistently start tasks successfully.",
                Some("SERVICE_TASK_START_IMPAIRED"),
            ),
            (
                "(service a) was unable to place a task because no container instance met all of its requirements. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                Some("SERVICE_TASK_PLACEMENT_FAILURE"),
            ),
            ("(service a) has started 1 tasks: (task 1).", None),
            (
                "(service a) (deployment ecs-svc/1) deployment completed.",
                None,
            ),
            ("(service a) (task 1) failed container health checks.", None),
        ];
        for (message, expected) in cases {
            assert_eq!(
                ServiceAction::of_message(message).map(ServiceAction::name),
                expected,
                "{message}"
            );
        }
    }

    #[test]
    fn a_daemon_services_computed_desired_count_is_announced() {
        let mut knowledge = Knowledge::default();
        let mut daemon = service(vec![], vec![]);
        daemon.scheduling_strategy = Some("DAEMON".into());
        daemon.desired_count = Some(0);
        assert!(knowledge.service_changed(&daemon, NOW).is_empty());
        daemon.desired_count = Some(3);
        let events = knowledge.service_changed(&daemon, NOW);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].detail["eventName"],
            "SERVICE_DESIRED_COUNT_UPDATED"
        );
        // A REPLICA service's desired count is the user's: ECS announces no change of it.
        let mut replica = service(vec![], vec![]);
        knowledge.service_changed(&replica, NOW);
        replica.desired_count = Some(5);
        assert!(knowledge.service_changed(&replica, NOW).is_empty());
    }

    #[test]
    fn the_envelope_is_eventbridges() {
        let mut knowledge = Knowledge::default();
        let event = knowledge.task_changed(&task("RUNNING", 2), NOW).unwrap();
        let partition = Partition::new("us-east-1", "123456789012");
        let id = EventId {
            revision: 42,
            index: 1,
        };
        let envelope = event.to_eventbridge(id, &partition);
        assert_eq!(envelope["version"], "0");
        assert_eq!(envelope["id"], "42-1");
        assert_eq!(envelope["detail-type"], "ECS Task State Change");
        assert_eq!(envelope["source"], "aws.ecs");
        assert_eq!(envelope["account"], "123456789012");
        assert_eq!(envelope["time"], "2026-12-06T02:50:01Z");
        assert_eq!(envelope["region"], "us-east-1");
        assert_eq!(envelope["resources"], json!([TASK_ARN]));
        assert_eq!(envelope["detail"], event.detail);
    }

    #[test]
    fn event_ids_order_by_revision_then_index_and_read_back() {
        let a: EventId = "9-3".parse().unwrap();
        let b: EventId = "10-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "9-3");
        assert!(EventId::after_revision(9) > a && EventId::after_revision(9) < b);
        for bad in ["", "9", "9-", "-1", "a-1", "9-1-2", "9--1"] {
            assert_eq!(bad.parse::<EventId>(), Err(BadEventId(bad.into())), "{bad}");
        }
    }
}
