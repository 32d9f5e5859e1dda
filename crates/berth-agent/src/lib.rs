//! The container agent: one container instance. It registers with the control plane, keeps a
//! persistent channel open to it, runs the tasks it is given on a [`runtime::ContainerRuntime`]
//! (Docker in production), and reports every state change back.
//!
//! The agent owns only containers labelled with its own id ([`runtime::INSTANCE_LABEL`]); its
//! identity and unacknowledged reports live in [`state::Journal`] under its data directory, so
//! a restarted agent re-adopts its containers instead of duplicating or orphaning them.

pub mod aws_client;
pub mod awslogs;
mod cgroup;
pub mod connection;
pub mod docker;
mod engine;
pub mod metadata;
pub mod runtime;
pub mod simulated;
pub mod spec;
pub mod state;
pub mod stats;
mod task;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_ecs_wire::{Attribute, VersionInfo};
use tokio::sync::{mpsc, watch};

use crate::connection::Identity;
use crate::runtime::ContainerRuntime;
use crate::state::Journal;
use crate::task::TaskEnvironment;

/// Ports the ECS agent reserves on every Linux instance (SSH, the Docker API, its own).
pub const RESERVED_PORTS: &[u16] = &[22, 2375, 2376, 51678, 51679];

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The control plane, e.g. `http://127.0.0.1:9600`.
    pub server: String,
    /// What the agent signs its channel with (the account's credentials), and the region the
    /// control plane serves.
    pub credentials: berth_protocol::sigv4::Credentials,
    pub region: String,
    pub cluster: String,
    /// Where the agent keeps its identity and unacknowledged reports.
    pub data_dir: PathBuf,
    /// The availability zone to report as `ecs.availability-zone`.
    pub availability_zone: Option<String>,
    /// Custom attributes (`--attribute KEY=VALUE`).
    pub attributes: Vec<(String, String)>,
    /// CPU units to register instead of cores × 1024.
    pub cpu: Option<i64>,
    /// MiB to register instead of the host's memory.
    pub memory: Option<i64>,
    /// MiB of the host's memory kept back from tasks (ECS_RESERVED_MEMORY).
    pub reserved_memory: i64,
    /// How long a stopped task's containers stay before they are removed.
    pub cleanup_wait: Duration,
}

/// The capability attributes this agent really supports, as the ECS agent names them.
const CAPABILITIES: &[&str] = &[
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.20",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.22",
    "com.amazonaws.ecs.capability.docker-remote-api.1.23",
    "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "com.amazonaws.ecs.capability.docker-remote-api.1.25",
    "com.amazonaws.ecs.capability.logging-driver.awslogs",
    "com.amazonaws.ecs.capability.logging-driver.json-file",
    "com.amazonaws.ecs.capability.logging-driver.none",
    "com.amazonaws.ecs.capability.privileged-container",
    "ecs.capability.container-health-check",
    "ecs.capability.container-ordering",
    "ecs.capability.docker-plugin.local",
    "ecs.capability.execution-role-awslogs",
];

fn attribute(name: &str, value: Option<&str>) -> Attribute {
    Attribute {
        name: Some(name.to_string()),
        value: value.map(str::to_string),
        ..Attribute::default()
    }
}

/// What the agent registers: resources of this host (or the overrides), built-in and custom
/// attributes.
pub fn identity(config: &AgentConfig) -> Identity {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
    let cpu = config.cpu.unwrap_or(cores * 1024);
    let memory = config
        .memory
        .unwrap_or_else(|| host_memory_mib() - config.reserved_memory);
    let reserved: BTreeSet<u16> = RESERVED_PORTS.iter().copied().collect();
    let architecture = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    let mut attributes = vec![
        attribute("ecs.os-type", Some("linux")),
        attribute("ecs.os-family", Some("LINUX")),
        attribute("ecs.cpu-architecture", Some(architecture)),
    ];
    if let Some(zone) = &config.availability_zone {
        attributes.push(attribute("ecs.availability-zone", Some(zone)));
    }
    attributes.extend(CAPABILITIES.iter().map(|name| attribute(name, None)));
    attributes.extend(config.attributes.iter().map(|(k, v)| attribute(k, Some(v))));
    Identity {
        cluster: config.cluster.clone(),
        total_resources: berth_protocol::resources(cpu, memory, &reserved, &BTreeSet::new()),
        attributes,
        version_info: VersionInfo {
            agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            agent_hash: Some("berth".into()),
            docker_version: None,
        },
    }
}

/// Total memory of this host in MiB, from /proc/meminfo.
fn host_memory_mib() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<i64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib / 1024)
}

/// Runs the agent until `shutdown` resolves. Tasks keep running after it returns: stopping the
/// agent does not stop its containers.
pub async fn run(
    config: AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), state::StateError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| state::StateError::Write {
        path: config.data_dir.clone(),
        source,
    })?;
    let outbox = if runtime.containers_outlive_agent() {
        state::Outbox::Durable
    } else {
        state::Outbox::Volatile
    };
    let journal = Journal::open(&config.data_dir, outbox, || {
        format!("i-{}", &uuid::Uuid::new_v4().simple().to_string()[..17])
    })?;
    let host_id = journal.snapshot().host_id;
    let metadata = Arc::new(metadata::Registry::default());
    // Containers reach the agent on the bridge gateway; a runtime without one (simulated
    // instances) has no containers to serve.
    let metadata_endpoint = match runtime.bridge_gateway().await {
        Some(gateway) => match metadata::start(
            &gateway,
            metadata.clone(),
            runtime.clone(),
            aws_client::SignedClient::new(&config.server, config.credentials.clone())
                .ok()
                .map(|client| metadata::ProtectionApi {
                    client,
                    region: config.region.clone(),
                }),
        )
        .await
        {
            Ok(base) => Some(base),
            Err(err) => {
                tracing::warn!(error = %err, %gateway, "task metadata endpoint unavailable");
                None
            }
        },
        None => None,
    };
    let task_cgroups = runtime.supports_task_cgroups().await;
    if !task_cgroups {
        tracing::warn!(
            "Docker does not use the cgroupfs driver: task-level limits apply per container only"
        );
    }
    // Container stats: sampled on their own task every metric period the control plane names.
    let (period_sender, period) = watch::channel(None);
    let (batch_sender, batches) = watch::channel(Arc::new(Vec::new()));
    let (stop, stopping) = watch::channel(false);
    let sampler = runtime.has_stats().then(|| {
        tokio::spawn(stats::run(
            runtime.clone(),
            host_id.clone(),
            period,
            batch_sender,
            stopping.clone(),
        ))
    });
    let env = Arc::new(TaskEnvironment {
        task_cgroups,
        runtime,
        journal: journal.clone(),
        instance_id: host_id,
        cluster: config.cluster.clone(),
        metadata,
        metadata_endpoint,
        scratch_root: config.data_dir.join("volumes"),
        cleanup_wait: config.cleanup_wait,
        region: config.region.clone(),
        awslogs: Arc::new(awslogs::Shipping {
            client: awslogs::client::LogsClient::new(&config.server, config.credentials.clone()),
            state_dir: config.data_dir.join("awslogs"),
        }),
    });
    let (desired_sender, desired_receiver) = mpsc::channel(16);
    let connection = tokio::spawn(connection::maintain(
        config.server.clone(),
        config.credentials.clone(),
        config.region.clone(),
        identity(&config),
        journal,
        desired_sender,
        connection::Stats {
            period: period_sender,
            batches,
        },
        stopping.clone(),
    ));
    let engine = tokio::spawn(engine::run(env, desired_receiver, stopping));
    shutdown.await;
    let _ = stop.send(true);
    let _ = connection.await;
    let _ = engine.await;
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    Ok(())
}
