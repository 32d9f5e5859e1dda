//! Container instance records: the API shape plus the agent channel's and placement's
//! bookkeeping, one record per instance under its cluster.

use std::collections::{BTreeMap, BTreeSet};

use berth_ecs_wire::{Attribute, ContainerInstance, PlatformDevice, Resource};
use berth_scheduler::Resources;
use berth_store::{KeyValue, Store, Txn};
use serde::{Deserialize, Serialize};

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// A container instance as stored: the API shape plus the agent channel's bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredInstance {
    pub cluster: String,
    pub id: String,
    pub instance: ContainerInstance,
    /// Attributes set with PutAttributes, kept when the agent re-registers.
    #[serde(default)]
    pub custom_attributes: Vec<Attribute>,
    /// How many of its tasks that are not STOPPED belong to each task group: what spread,
    /// distinctInstance and `task:group` read, kept here so placement never scans the tasks.
    #[serde(default)]
    pub task_groups: BTreeMap<String, u32>,
    /// When its agent's connection ended, while it is disconnected: after
    /// `ControlPlane::agent_lost_after` the service scheduler replaces its tasks elsewhere.
    #[serde(default)]
    pub disconnected_at: Option<f64>,
    /// The devices RegisterContainerInstance named (`platformDevices`), kept across
    /// re-registrations that name none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform_devices: Vec<PlatformDevice>,
}

impl StoredInstance {
    pub fn arn(&self) -> &str {
        self.instance
            .container_instance_arn
            .as_deref()
            .unwrap_or_default()
    }

    pub fn status(&self) -> &str {
        self.instance.status.as_deref().unwrap_or_default()
    }

    pub fn connected(&self) -> bool {
        self.instance.agent_connected == Some(true)
    }

    /// Counts one more change of the instance (its `version`).
    pub fn bump(&mut self) {
        self.instance.version = Some(self.instance.version.unwrap_or(0) + 1);
    }

    /// What is left on the instance: CPU, memory, and the host ports in use.
    pub fn remaining(&self) -> Resources {
        let remaining = self
            .instance
            .remaining_resources
            .as_deref()
            .unwrap_or_default();
        Resources {
            cpu: integer(remaining, "CPU"),
            memory: integer(remaining, "MEMORY"),
            gpus: 0,
            tcp_ports: ports(remaining, "PORTS"),
            udp_ports: ports(remaining, "PORTS_UDP"),
        }
    }

    /// Gives back what a stopped task of `group` held: its resources and its place in the
    /// task-group counts.
    pub fn give_back(&mut self, demand: &Resources, group: Option<&str>) {
        let mut remaining = self.remaining();
        remaining.cpu += demand.cpu;
        remaining.memory += demand.memory;
        for port in &demand.tcp_ports {
            remaining.tcp_ports.remove(port);
        }
        for port in &demand.udp_ports {
            remaining.udp_ports.remove(port);
        }
        self.set_remaining(&remaining);
        if let Some(group) = group
            && let Some(count) = self.task_groups.get_mut(group)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.task_groups.remove(group);
            }
        }
    }

    /// Stores what placement reserved or released back into `remainingResources`.
    pub fn set_remaining(&mut self, remaining: &Resources) {
        self.instance.remaining_resources = Some(berth_protocol::resources(
            remaining.cpu,
            remaining.memory,
            &remaining.tcp_ports,
            &remaining.udp_ports,
        ));
        self.bump();
    }

    /// This instance as placement sees it.
    pub fn for_placement(&self) -> berth_scheduler::Instance {
        let task_groups = self.task_groups.clone();
        berth_scheduler::Instance {
            id: self.arn().to_string(),
            ec2_instance_id: self.instance.ec2_instance_id.clone(),
            status: self.status().to_string(),
            agent_connected: self.connected(),
            agent_version: self
                .instance
                .version_info
                .as_ref()
                .and_then(|v| v.agent_version.clone()),
            registered_at: self.instance.registered_at.unwrap_or_default() as i64,
            attributes: self
                .instance
                .attributes
                .iter()
                .flatten()
                .filter_map(|a| Some((a.name.clone()?, a.value.clone())))
                .collect(),
            running_tasks_count: task_groups.values().sum(),
            task_groups,
            remaining: self.remaining(),
        }
    }
}

/// The integer resource `name` of a resource list (0 when absent).
pub fn integer(resources: &[Resource], name: &str) -> i64 {
    resources
        .iter()
        .find(|r| r.name.as_deref() == Some(name))
        .and_then(|r| r.integer_value)
        .map_or(0, i64::from)
}

/// The ports of the string-set resource `name` of a resource list.
pub fn ports(resources: &[Resource], name: &str) -> BTreeSet<u16> {
    resources
        .iter()
        .find(|r| r.name.as_deref() == Some(name))
        .and_then(|r| r.string_set_value.as_ref())
        .map(|set| set.iter().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// Every instance of a cluster (any status), inside a transaction.
pub fn all_in(txn: &mut dyn Txn, cluster: &str) -> Result<Vec<StoredInstance>, ApiError> {
    txn.range(&keys::instances_of(cluster), None, usize::MAX)?
        .iter()
        .map(super::decode)
        .collect()
}

/// One instance of `cluster`, read inside a transaction.
pub fn read(
    txn: &mut dyn Txn,
    cluster: &str,
    id: &str,
) -> Result<Option<StoredInstance>, ApiError> {
    super::read(txn, &keys::instance(cluster, id))
}

/// One instance of `cluster`, from the latest committed state.
pub async fn fetch(
    cp: &ControlPlane,
    cluster: &str,
    id: &str,
) -> Result<Option<StoredInstance>, ApiError> {
    super::fetch(cp, &keys::instance(cluster, id)).await
}

/// Writes an instance of `cluster` under its id.
pub fn write(txn: &mut dyn Txn, cluster: &str, stored: &StoredInstance) {
    super::write(txn, &keys::instance(cluster, &stored.id), stored);
}

/// One page of the instances of `cluster` that `keep` accepts, in id order, starting after the
/// pagination key `after`; also returns the key to resume from when more may follow.
pub async fn page(
    cp: &ControlPlane,
    cluster: &str,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&StoredInstance) -> bool,
) -> Result<(Vec<StoredInstance>, Option<String>), ApiError> {
    super::scan(cp, &keys::instances_of(cluster), after, page, keep).await
}

/// One instance of `cluster` as stored, undecoded (with its revision), read inside a
/// transaction: for a caller that decodes it only if it needs to.
pub fn read_undecoded(
    txn: &mut dyn Txn,
    cluster: &str,
    id: &str,
) -> Result<Option<KeyValue>, ApiError> {
    Ok(txn.get(&keys::instance(cluster, id))?)
}

/// One instance of `cluster` as stored, undecoded (with its revision), from `store`.
pub async fn fetch_undecoded(
    store: &dyn Store,
    cluster: &str,
    id: &str,
) -> Result<Option<KeyValue>, ApiError> {
    Ok(store.get(&keys::instance(cluster, id)).await?)
}

/// The highest state-change sequence number applied for the instance's agent, read inside a
/// transaction.
pub fn applied_sequence(
    txn: &mut dyn Txn,
    cluster: &str,
    id: &str,
) -> Result<Option<u64>, ApiError> {
    super::read(txn, &keys::applied_sequence(cluster, id))
}

/// Records the highest state-change sequence number applied for the instance's agent.
pub fn write_applied_sequence(txn: &mut dyn Txn, cluster: &str, id: &str, sequence: u64) {
    super::write(txn, &keys::applied_sequence(cluster, id), &sequence);
}
