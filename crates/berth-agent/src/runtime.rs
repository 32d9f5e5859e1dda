//! What the agent needs from a container engine, in Berth's own terms. The task engine is
//! written against [`ContainerRuntime`]; `docker.rs` implements it with the Docker Engine API.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Every container the agent creates carries this label (the value is the instance id), so a
/// restarted agent finds its own containers and never touches anyone else's.
pub const INSTANCE_LABEL: &str = "berth.container-instance";
/// The ECS agent's labels, which monitoring tools read.
pub const CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";
pub const TASK_ARN_LABEL: &str = "com.amazonaws.ecs.task-arn";
pub const CONTAINER_NAME_LABEL: &str = "com.amazonaws.ecs.container-name";
pub const FAMILY_LABEL: &str = "com.amazonaws.ecs.task-definition-family";
pub const REVISION_LABEL: &str = "com.amazonaws.ecs.task-definition-version";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image is not present and could not be pulled.
    #[error("{0}")]
    ImagePull(String),
    /// The container does not exist (any more).
    #[error("no such container: {0}")]
    NotFound(String),
    /// The engine refused the container's configuration.
    #[error("{0}")]
    InvalidSpec(String),
    #[error("container engine: {0}")]
    Engine(String),
}

/// A port to publish: `host_port` `None` asks the engine for a dynamic host port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    pub host_port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// A host path (bind mount) or a Docker volume name.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// `true` for a named Docker volume, `false` for a host bind mount.
    pub volume: bool,
    /// For a named volume: how to create it when it is missing. `None` means it must already
    /// exist (an ECS `shared` volume without `autoprovision`). Ignored for bind mounts.
    pub create: Option<VolumeCreateSpec>,
}

/// How to create a named volume (ECS `dockerVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCreateSpec {
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A host device exposed to the container (ECS `linuxParameters.devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub host_path: String,
    pub container_path: String,
    /// cgroup permissions, a subset of `rwm`.
    pub permissions: String,
}

/// A tmpfs mount (ECS `linuxParameters.tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsSpec {
    pub container_path: String,
    pub size_mib: i64,
    /// Mount options as ECS lists them (`noexec`, `mode=1777`, …).
    pub options: Vec<String>,
}

/// The engine log driver and its options (ECS `logConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UlimitSpec {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    /// As in the task definition: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

/// One container to create, with everything resolved: overrides applied, variables set,
/// volumes resolved to sources, ports decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerSpec {
    /// The engine-level name (unique on the host).
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// CPU shares (ECS `cpu`; values below 2 become 2, as ECS documents).
    pub cpu_shares: Option<i64>,
    /// Hard limit in MiB (ECS `memory`).
    pub memory_mib: Option<i64>,
    /// Soft limit in MiB (ECS `memoryReservation`).
    pub memory_reservation_mib: Option<i64>,
    /// Task-level limits, also enforced on each container alone (CPU in units of 1/1024 core,
    /// memory in MiB); the task as a whole is held to them by `cgroup_parent`.
    pub task_cpu_units: Option<i64>,
    pub task_memory_mib: Option<i64>,
    /// The task's cgroup (see `cgroup.rs`), which all its containers share.
    pub cgroup_parent: Option<String>,
    /// `bridge`, `host` or `none`.
    pub network_mode: String,
    pub ports: Vec<PortSpec>,
    pub mounts: Vec<MountSpec>,
    /// Engine names of containers whose volumes to mount, with read-only flags.
    pub volumes_from: Vec<(String, bool)>,
    /// `engine_name:alias` links (bridge mode).
    pub links: Vec<String>,
    pub extra_hosts: Vec<(String, String)>,
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub ulimits: Vec<UlimitSpec>,
    pub privileged: bool,
    pub read_only_root: bool,
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub health_check: Option<HealthCheckSpec>,
    /// Grace between SIGTERM and SIGKILL when the container is stopped.
    pub stop_timeout: Option<Duration>,
    pub devices: Vec<DeviceSpec>,
    /// Kernel parameters (ECS `systemControls`).
    pub sysctls: BTreeMap<String, String>,
    pub tmpfs: Vec<TmpfsSpec>,
    /// Size of `/dev/shm` in MiB (ECS `linuxParameters.sharedMemorySize`).
    pub shm_size_mib: Option<i64>,
    /// Swap the container may use on top of its memory limit, in MiB (ECS `maxSwap`; 0 = none).
    pub max_swap_mib: Option<i64>,
    /// 0–100 (ECS `swappiness`); only meaningful with `max_swap_mib`.
    pub swappiness: Option<i64>,
    /// Engine security options (ECS `dockerSecurityOptions`: `no-new-privileges`, `apparmor:…`,
    /// `label:…`).
    pub security_opts: Vec<String>,
    /// `host` to share the host's PID namespace (ECS `pidMode`).
    pub pid_mode: Option<String>,
    /// `host` or `none` (ECS `ipcMode`).
    pub ipc_mode: Option<String>,
    /// Keep stdin open (ECS `interactive`).
    pub interactive: bool,
    /// Allocate a TTY (ECS `pseudoTerminal`).
    pub pseudo_terminal: bool,
    /// `None` uses the engine's default log driver.
    pub log: Option<LogSpec>,
    /// Where the agent ships the container's output (ECS's `awslogs` driver); the container
    /// itself then logs to json-file.
    pub awslogs: Option<crate::awslogs::AwslogsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    /// Exited (or dead) with its code; `oom_killed` when the kernel killed it for memory.
    Exited {
        exit_code: i64,
        oom_killed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No health check, or no result yet.
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
    pub protocol: String,
}

/// What inspecting a container tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub state: ContainerState,
    pub health: Health,
    pub ports: Vec<PublishedPort>,
    /// The image's content digest (`sha256:…`) when the engine knows it.
    pub image_digest: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A change the engine reports for a managed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    /// The task the container belongs to (its [`TASK_ARN_LABEL`]), when the engine says.
    pub task_arn: Option<String>,
    pub kind: ContainerEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEventKind {
    Started,
    /// The container's process ended.
    Died,
    HealthChanged(Health),
    /// Killed by the kernel's OOM killer (Docker reports this before `Died`).
    OutOfMemory,
}

/// One entry of a container's log (stdout and stderr together), as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    /// When the engine read it, in nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// As written, ending with its line break when it ends a line (the engine cuts long lines
    /// into several entries).
    pub bytes: Vec<u8>,
}

/// A place in a log file the engine writes: the file (its device and inode, which stay the same
/// when the engine rotates it by renaming) and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFileOffset {
    pub device: u64,
    pub inode: u64,
    pub offset: u64,
}

/// Where following a container's log picks up: right after the line with this timestamp, which
/// ended at `file` when it was read from the engine's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogResume {
    /// The engine's timestamp of the line (nanoseconds since the epoch; 0 before any line).
    pub timestamp_ns: i64,
    pub file: Option<LogFileOffset>,
}

/// A frame of a followed log and, when it was read from the engine's log file, where it ends
/// there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFrame {
    pub frame: LogFrame,
    pub file: Option<LogFileOffset>,
}

/// A container's log, followed from a [`LogResume`].
pub struct FollowedLog {
    /// Whether the first frame is the one right after the resume point (its log file was found
    /// again at its offset). Otherwise the frames start at the start of the resume point's
    /// second, or earlier, and the follower skips the lines it already had.
    pub exact: bool,
    /// Frames in the order written, several at a time; ends and fails as
    /// [`ContainerRuntime::follow_logs`] does.
    pub frames: BoxStream<'static, Result<Vec<ReadFrame>, RuntimeError>>,
}

impl FollowedLog {
    /// A log followed through the engine's API, a frame at a time, from the start of a second.
    pub fn of_frames(frames: BoxStream<'static, Result<LogFrame, RuntimeError>>) -> FollowedLog {
        FollowedLog {
            exact: false,
            frames: frames
                .map(|frame| frame.map(|frame| vec![ReadFrame { frame, file: None }]))
                .boxed(),
        }
    }
}

#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Makes sure `image` is present, pulling it when missing; returns its digest if known.
    async fn ensure_image(&self, image: &str) -> Result<Option<String>, RuntimeError>;
    /// Creates (does not start) a container; returns its id.
    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    async fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// SIGTERM, then SIGKILL after `timeout`. Stopping a stopped container is not an error.
    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError>;
    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError>;
    /// Removes a container (and its anonymous volumes). Removing a missing one is not an error.
    async fn remove(&self, id: &str) -> Result<(), RuntimeError>;
    /// Removes the volumes labelled `label=value` (a task's task-scoped Docker volumes, once its
    /// containers are gone). A volume still in use stays.
    async fn remove_volumes_labelled(&self, label: &str, value: &str) -> Result<(), RuntimeError>;
    /// Every container (running or not) whose labels include `label=value`.
    async fn list_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ContainerStatus>, RuntimeError>;
    /// One sample of the container's resource usage, in the engine's own stats format (what
    /// the task metadata endpoint's `/stats` serves).
    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError>;
    /// Whether containers can be placed in a cgroup the agent creates (Docker's `cgroupfs`
    /// driver), so task-level limits hold for the task as a whole.
    async fn supports_task_cgroups(&self) -> bool;
    /// The host's address on the default bridge network, where containers reach the agent.
    async fn bridge_gateway(&self) -> Option<String>;
    /// Whether [`ContainerRuntime::stats`] measures anything (the simulated runtime's stats are
    /// empty, so its instances sample nothing).
    fn has_stats(&self) -> bool {
        true
    }
    /// Whether containers keep running when the agent process ends (so a restarted agent must
    /// still report what it had not reported).
    fn containers_outlive_agent(&self) -> bool;
    /// Engine events for containers labelled `label=value`, from now on. Start consuming it
    /// before acting: it may be lazy.
    fn events(&self, label: &str, value: &str) -> BoxStream<'static, ContainerEvent>;
    /// The container's log from the start of second `since_seconds` (of the epoch) on, followed
    /// while it runs: the stream ends once the container has exited and everything it wrote
    /// was read, or with an error when the engine connection breaks.
    fn follow_logs(
        &self,
        id: &str,
        since_seconds: i64,
    ) -> BoxStream<'static, Result<LogFrame, RuntimeError>>;
    /// The container's log from `resume` on, followed while it runs, by the quickest way the
    /// engine offers. By default, [`ContainerRuntime::follow_logs`] from the resume point's
    /// second.
    async fn tail_log(&self, id: &str, resume: LogResume) -> FollowedLog {
        FollowedLog::of_frames(self.follow_logs(id, resume.timestamp_ns.div_euclid(1_000_000_000)))
    }
}
