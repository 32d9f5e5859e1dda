//! The messages between the control plane and its agents, carried as JSON text frames over one
//! WebSocket per agent (`GET /agent/v1/connect`).
//!
//! Desired state is level-based: after registering, the agent receives the *whole* set of tasks
//! it should be running or stopping and reconciles towards it; afterwards, on the same
//! connection, each message carries what changed in that set (tasks added or whose desired state
//! changed, tasks gone from it), which the agent applies to the set it holds. A connection is
//! ordered and lossless, and every new one starts with a whole set, so the agent's set cannot
//! drift; sending only changes keeps an instance with hundreds of tasks from being sent all of
//! them again whenever one changes. State changes flow
//! the other way with sequence numbers: the agent keeps each one until the control plane acks
//! its sequence number (after the change is durable) and resends the unacked ones on reconnect;
//! the control plane ignores a sequence number it has already applied.

pub mod sigv4;

use std::collections::BTreeSet;

use berth_ecs_wire::{
    Attribute, NetworkBinding, Resource, TaskDefinition, TaskOverride, VersionInfo,
};
use serde::{Deserialize, Serialize};

/// The path agents connect to.
pub const CONNECT_PATH: &str = "/agent/v1/connect";

/// Agent → control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AgentMessage {
    /// The first message on every connection: RegisterContainerInstance's semantics.
    #[serde(rename_all = "camelCase")]
    Register {
        cluster: String,
        /// The instance this agent registered as before (from its state file), so that its
        /// identity survives restarts.
        container_instance_arn: Option<String>,
        /// A stable id of the host, shown as `ec2InstanceId`.
        host_id: String,
        total_resources: Vec<Resource>,
        attributes: Vec<Attribute>,
        version_info: VersionInfo,
    },
    /// Changes to tasks and their containers, in the order they happened.
    #[serde(rename_all = "camelCase")]
    StateChanges { changes: Vec<SequencedChange> },
    /// What the instance's running containers used, sampled every metric period. Sent only to
    /// a control plane that asked for it (`Registered::metric_period_seconds`); never answered.
    #[serde(rename_all = "camelCase")]
    Stats { containers: Vec<ContainerStats> },
}

/// One running container's usage over the last metric period (see `berth-container-metrics`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub task_arn: String,
    pub container_name: String,
    /// CPU units (1024 per core) used on average since the previous sample; none for a
    /// container's first sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_units: Option<f64>,
    /// Memory in use, without reclaimable page cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rx_bytes_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_tx_bytes_per_second: Option<f64>,
    /// Bytes read and written since the previous sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_read_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_write_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequencedChange {
    pub sequence: u64,
    pub change: TaskStateChange,
}

/// Control plane → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    #[serde(rename_all = "camelCase")]
    Registered {
        container_instance_arn: String,
        /// The highest state-change sequence number already applied for this instance.
        acked_sequence: u64,
        /// How often the agent samples its containers' stats and sends them
        /// ([`AgentMessage::Stats`]); absent from control planes that take no stats, to which
        /// the agent sends none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric_period_seconds: Option<u64>,
    },
    /// Every task this instance should run or stop: replaces the previous set. The first
    /// desired-state message on every connection.
    #[serde(rename_all = "camelCase")]
    DesiredTasks { tasks: Vec<DesiredTask> },
    /// Changes to the set since the previous desired-state message on this connection: tasks
    /// new to it or whose desired state changed (whole), and the ARNs of tasks no longer in it.
    #[serde(rename_all = "camelCase")]
    DesiredTasksChanged {
        tasks: Vec<DesiredTask>,
        removed: Vec<String>,
    },
    /// State changes up to and including this sequence number are durable.
    #[serde(rename_all = "camelCase")]
    Ack { sequence: u64 },
    /// The control plane refused the connection or a message; the agent logs it and retries.
    #[serde(rename_all = "camelCase")]
    Error { message: String },
}

/// One task as the agent needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTask {
    pub task_arn: String,
    pub cluster_arn: String,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: String,
    pub task_definition: TaskDefinition,
    pub overrides: TaskOverride,
    /// Why the task is being stopped, when it is.
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Each container's ARN, by container name (the metadata endpoint shows them).
    #[serde(default)]
    pub container_arns: std::collections::BTreeMap<String, String>,
    pub availability_zone: Option<String>,
}

/// What happened to a task (and its containers) on the instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    pub task_arn: String,
    /// The task's new `lastStatus`, when it changed.
    pub last_status: Option<String>,
    pub containers: Vec<ContainerStateChange>,
    /// When this was observed, in epoch seconds.
    pub at: f64,
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub started_at: Option<f64>,
    pub execution_stopped_at: Option<f64>,
    /// The task's health as ECS aggregates it over its essential containers' health checks.
    pub health_status: Option<String>,
    /// Set when the agent itself decided the task must stop (a container failed to start, an
    /// essential container exited).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateChange {
    pub name: String,
    pub last_status: Option<String>,
    pub runtime_id: Option<String>,
    pub image_digest: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Option<Vec<NetworkBinding>>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health_status: Option<String>,
}

/// ECS's resource list: CPU and MEMORY as integers, PORTS and PORTS_UDP as string sets.
pub fn resources(cpu: i64, memory: i64, tcp: &BTreeSet<u16>, udp: &BTreeSet<u16>) -> Vec<Resource> {
    let integer = |name: &str, value: i64| Resource {
        name: Some(name.into()),
        r#type: Some("INTEGER".into()),
        integer_value: Some(value.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
        double_value: Some(0.0),
        long_value: Some(0),
        ..Resource::default()
    };
    let set = |name: &str, ports: &BTreeSet<u16>| Resource {
        name: Some(name.into()),
        r#type: Some("STRINGSET".into()),
        string_set_value: Some(ports.iter().map(u16::to_string).collect()),
        double_value: Some(0.0),
        long_value: Some(0),
        integer_value: Some(0),
    };
    vec![
        integer("CPU", cpu),
        integer("MEMORY", memory),
        set("PORTS", tcp),
        set("PORTS_UDP", udp),
    ]
}

impl AgentMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol messages always encode")
    }
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol messages always encode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let ack = ServerMessage::Ack { sequence: 7 };
        assert_eq!(ack.to_json(), r#"{"type":"ack","sequence":7}"#);
        let parsed: ServerMessage = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(parsed, ack);
        let change = AgentMessage::StateChanges {
            changes: vec![SequencedChange {
                sequence: 1,
                change: TaskStateChange {
                    task_arn: "t".into(),
                    last_status: Some("RUNNING".into()),
                    ..Default::default()
                },
            }],
        };
        let parsed: AgentMessage = serde_json::from_str(&change.to_json()).unwrap();
        assert_eq!(parsed, change);
    }

    /// Agents and control planes of either age understand each other's registration answer,
    /// and stats carry only the figures measured.
    #[test]
    fn metric_periods_and_stats_are_optional_on_the_wire() {
        let old: ServerMessage = serde_json::from_str(
            r#"{"type":"registered","containerInstanceArn":"arn","ackedSequence":3}"#,
        )
        .unwrap();
        assert_eq!(
            old,
            ServerMessage::Registered {
                container_instance_arn: "arn".into(),
                acked_sequence: 3,
                metric_period_seconds: None
            }
        );
        let new = ServerMessage::Registered {
            container_instance_arn: "arn".into(),
            acked_sequence: 3,
            metric_period_seconds: Some(60),
        };
        assert_eq!(
            new.to_json(),
            r#"{"type":"registered","containerInstanceArn":"arn","ackedSequence":3,"metricPeriodSeconds":60}"#
        );
        let stats = AgentMessage::Stats {
            containers: vec![ContainerStats {
                task_arn: "t".into(),
                container_name: "web".into(),
                memory_bytes: Some(1024),
                ..Default::default()
            }],
        };
        assert_eq!(
            stats.to_json(),
            r#"{"type":"stats","containers":[{"taskArn":"t","containerName":"web","memoryBytes":1024}]}"#
        );
        let parsed: AgentMessage = serde_json::from_str(&stats.to_json()).unwrap();
        assert_eq!(parsed, stats);
    }
}
