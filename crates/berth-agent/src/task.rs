//! One task's life on this instance, as an actor: adopt or create its containers (pulling images,
//! honouring `dependsOn`), watch them, stop the task when an essential container exits or the
//! control plane asks, and report every step in ECS's terms through the journal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_ecs::lifecycle::{self, DesiredStatus, TaskStatus};
use berth_ecs_wire::{ContainerDefinition, NetworkBinding};
use berth_protocol::{ContainerStateChange, DesiredTask, TaskStateChange};
use tokio::sync::{mpsc, watch};

use crate::awslogs::{AwslogsConfig, ContainerRun};
use crate::runtime::{
    CONTAINER_NAME_LABEL, ContainerRuntime, ContainerSpec, ContainerState, ContainerStatus, Health,
    TASK_ARN_LABEL,
};
use crate::spec::{self, SpecContext};
use crate::state::Journal;

/// How long a dependency may take to reach its condition when the container sets no
/// `startTimeout` (the ECS agent's `ECS_CONTAINER_START_TIMEOUT` default).
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(180);
/// How often containers are re-inspected even without an engine event, in case one was missed.
const RESYNC_EVERY: Duration = Duration::from_secs(5);

/// What every task actor on this instance shares.
pub struct TaskEnvironment {
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Whether each task gets its own cgroup for its task-level limits.
    pub task_cgroups: bool,
    pub journal: Journal,
    pub instance_id: String,
    pub cluster: String,
    /// What the task metadata endpoint serves.
    pub metadata: Arc<crate::metadata::Registry>,
    pub metadata_endpoint: Option<String>,
    /// Where task-scoped scratch volumes live on the host.
    pub scratch_root: PathBuf,
    /// How long a stopped task's containers are kept before they are removed.
    pub cleanup_wait: Duration,
    /// The agent's region (awslogs' default).
    pub region: String,
    /// Shipping of awslogs containers' output.
    pub awslogs: Arc<crate::awslogs::Shipping>,
}

pub fn now() -> f64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    elapsed.as_millis() as f64 / 1000.0
}

/// One container of the task, as the actor tracks it.
struct Tracked {
    definition: ContainerDefinition,
    spec: Option<ContainerSpec>,
    id: Option<String>,
    status: lifecycle::ContainerStatus,
    exit_code: Option<i32>,
    reason: Option<String>,
    health: Health,
    bindings: Vec<NetworkBinding>,
    image_digest: Option<String>,
    /// When this container started waiting for its dependencies.
    waiting_since: Option<tokio::time::Instant>,
    /// When the agent last started (or adopted) it, for the restart policy.
    started: Option<tokio::time::Instant>,
}

impl Tracked {
    fn name(&self) -> &str {
        self.definition.name.as_deref().unwrap_or_default()
    }

    fn essential(&self) -> bool {
        self.definition.essential != Some(false)
    }

    fn report(&self) -> ContainerStateChange {
        ContainerStateChange {
            name: self.name().to_string(),
            last_status: Some(self.status.as_str().to_string()),
            runtime_id: self.id.clone(),
            image_digest: self.image_digest.clone(),
            exit_code: self.exit_code,
            reason: self.reason.clone(),
            network_bindings: Some(self.bindings.clone()),
            health_status: Some(health_name(&self.health).to_string()),
        }
    }

    /// Takes in what the engine says about the container now.
    fn observe(&mut self, status: &ContainerStatus) {
        self.id = Some(status.id.clone());
        self.health = status.health.clone();
        if status.image_digest.is_some() {
            self.image_digest = status.image_digest.clone();
        }
        match &status.state {
            ContainerState::Created => {}
            ContainerState::Running => {
                self.status = lifecycle::ContainerStatus::Running;
                self.bindings = status
                    .ports
                    .iter()
                    .filter(|p| !p.host_ip.contains(':'))
                    .map(|p| NetworkBinding {
                        bind_ip: Some(p.host_ip.clone()),
                        container_port: Some(i32::from(p.container_port)),
                        host_port: Some(i32::from(p.host_port)),
                        protocol: Some(p.protocol.clone()),
                        ..NetworkBinding::default()
                    })
                    .collect();
            }
            ContainerState::Exited {
                exit_code,
                oom_killed,
            } => {
                self.status = lifecycle::ContainerStatus::Stopped;
                self.exit_code = Some(*exit_code as i32);
                if *oom_killed {
                    self.reason =
                        Some("OutOfMemoryError: Container killed due to memory usage".into());
                }
            }
        }
    }
}

/// What the metadata endpoint shows as a container's `LogDriver` and `LogOptions`: the task
/// definition's driver and options (Docker's default, json-file, when it names none); for
/// awslogs, the stream the container writes to in place of its prefix, and the region it ships
/// to, as ECS shows them (the engine's own driver underneath is the agent's business).
fn shown_log_configuration(
    definition: &ContainerDefinition,
    awslogs: Option<&AwslogsConfig>,
    task_id: &str,
    docker_id: &str,
) -> (String, BTreeMap<String, String>) {
    let configuration = definition.log_configuration.as_ref();
    let driver = configuration
        .and_then(|c| c.log_driver.clone())
        .unwrap_or_else(|| "json-file".into());
    let mut options = configuration
        .and_then(|c| c.options.clone())
        .unwrap_or_default();
    if let Some(awslogs) = awslogs {
        let name = definition.name.as_deref().unwrap_or_default();
        options.remove("awslogs-stream-prefix");
        options.insert(
            "awslogs-stream".into(),
            awslogs.stream_name(name, task_id, docker_id),
        );
        options.insert("awslogs-region".into(), awslogs.region.clone());
    }
    (driver, options)
}

fn health_name(health: &Health) -> &'static str {
    match health {
        Health::Unknown => "UNKNOWN",
        Health::Healthy => "HEALTHY",
        Health::Unhealthy => "UNHEALTHY",
    }
}

/// A container's awslogs shipper, and what tells it about the container's life.
struct LogShipper {
    /// The container's place in the task.
    index: usize,
    run: watch::Sender<ContainerRun>,
    task: tokio::task::JoinHandle<()>,
}

/// Why the agent itself ends a task.
struct Failure {
    code: &'static str,
    reason: String,
}

/// Whether the control plane wants the task stopped.
fn stop_wanted(task: &DesiredTask) -> bool {
    task.desired_status == DesiredStatus::Stopped.as_str()
}

pub struct TaskActor {
    env: Arc<TaskEnvironment>,
    task: DesiredTask,
    containers: Vec<Tracked>,
    last_status: TaskStatus,
    /// Set once the agent decided to stop the task, so the reason is reported once.
    stopping: Option<Failure>,
    /// Whether containers of this task may exist already (it was known before the agent
    /// started); a task that arrives later skips the engine lookup on its launch path.
    may_adopt: bool,
    /// The awslogs shippers of its containers, which end once a container is finished and its
    /// log shipped.
    shippers: Vec<LogShipper>,
    /// Set when the agent stops (shippers stop with it, and the next agent resumes them).
    agent_stopping: Option<watch::Receiver<bool>>,
}

impl TaskActor {
    pub fn new(env: Arc<TaskEnvironment>, task: DesiredTask, may_adopt: bool) -> TaskActor {
        let containers = task
            .task_definition
            .container_definitions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|definition| Tracked {
                definition,
                spec: None,
                id: None,
                status: lifecycle::ContainerStatus::Pending,
                exit_code: None,
                reason: None,
                health: Health::Unknown,
                bindings: Vec::new(),
                image_digest: None,
                waiting_since: None,
                started: None,
            })
            .collect();
        TaskActor {
            env,
            task,
            containers,
            last_status: TaskStatus::Provisioning,
            stopping: None,
            may_adopt,
            shippers: Vec::new(),
            agent_stopping: None,
        }
    }

    fn arn(&self) -> &str {
        &self.task.task_arn
    }

    /// The task's health as ECS aggregates it: over essential containers with a health check.
    fn task_health(&self) -> &'static str {
        let checked: Vec<&Tracked> = self
            .containers
            .iter()
            .filter(|c| c.essential() && c.definition.health_check.is_some())
            .collect();
        if checked.iter().any(|c| c.health == Health::Unhealthy) {
            "UNHEALTHY"
        } else if !checked.is_empty() && checked.iter().all(|c| c.health == Health::Healthy) {
            "HEALTHY"
        } else {
            "UNKNOWN"
        }
    }

    fn report(&mut self, status: TaskStatus, extra: impl FnOnce(&mut TaskStateChange)) {
        self.last_status = status;
        let mut change = TaskStateChange {
            task_arn: self.arn().to_string(),
            last_status: Some(status.as_str().to_string()),
            containers: self.containers.iter().map(Tracked::report).collect(),
            at: now(),
            health_status: Some(self.task_health().to_string()),
            ..TaskStateChange::default()
        };
        if let Some(failure) = &self.stopping {
            change.stop_code = Some(failure.code.to_string());
            change.stopped_reason = Some(failure.reason.clone());
        }
        extra(&mut change);
        self.publish_metadata();
        self.env.journal.report(change);
    }

    /// Updates what the task metadata endpoint shows for this task (nothing to do without one).
    fn publish_metadata(&self) {
        if self.env.metadata_endpoint.is_none() {
            return;
        }
        let definition = &self.task.task_definition;
        let network_mode = definition
            .network_mode
            .clone()
            .unwrap_or_else(|| "bridge".into());
        let task = serde_json::json!({
            "Cluster": self.env.cluster,
            "TaskARN": self.task.task_arn,
            "Family": definition.family,
            "Revision": definition.revision.map(|r| r.to_string()),
            "DesiredStatus": self.task.desired_status,
            "KnownStatus": self.last_status.as_str(),
            "Limits": {
                "CPU": definition.cpu.as_deref().and_then(|c| c.parse::<f64>().ok()).map(|units| units / 1024.0),
                "Memory": definition.memory.as_deref().and_then(|m| m.parse::<i64>().ok()),
            },
            "AvailabilityZone": self.task.availability_zone,
            "LaunchType": "EC2",
        });
        let containers = self
            .containers
            .iter()
            .map(|c| {
                let spec = c.spec.clone().unwrap_or_default();
                let ports: Vec<serde_json::Value> = c
                    .bindings
                    .iter()
                    .map(|b| {
                        serde_json::json!({
                            "ContainerPort": b.container_port,
                            "Protocol": b.protocol,
                            "HostPort": b.host_port,
                            "HostIp": b.bind_ip,
                        })
                    })
                    .collect();
                let (log_driver, log_options) = shown_log_configuration(
                    &c.definition,
                    spec.awslogs.as_ref(),
                    spec::task_id(&self.task.task_arn),
                    c.id.as_deref().unwrap_or_default(),
                );
                let json = crate::metadata::container_json(
                    c.name(),
                    self.task.container_arns.get(c.name()).map(String::as_str),
                    c.id.as_deref(),
                    &spec.name,
                    c.definition.image.as_deref().unwrap_or_default(),
                    c.image_digest.as_deref(),
                    &spec.labels,
                    &self.task.desired_status,
                    c.status.as_str(),
                    spec.cpu_shares,
                    spec.memory_mib,
                    &network_mode,
                    serde_json::Value::Array(ports),
                    c.exit_code,
                    health_name(&c.health),
                    &log_driver,
                    &log_options,
                );
                (c.name().to_string(), (json, c.id.clone()))
            })
            .collect();
        let metadata = crate::metadata::TaskMetadata { task, containers };
        self.env
            .metadata
            .publish(spec::task_id(&self.task.task_arn), metadata);
    }

    /// Runs the task to its end. `desired` carries the control plane's latest view of the task;
    /// `events` the engine events for its containers.
    pub async fn run(
        mut self,
        mut desired: watch::Receiver<DesiredTask>,
        mut events: mpsc::Receiver<String>,
        agent_stopping: watch::Receiver<bool>,
    ) {
        self.agent_stopping = Some(agent_stopping.clone());
        let adopted = self.may_adopt && self.adopt().await;
        if !adopted {
            if stop_wanted(&self.task) {
                self.stopping = None;
                self.report(TaskStatus::Stopped, |c| {
                    c.execution_stopped_at = Some(now())
                });
                return;
            }
            self.report(TaskStatus::Pending, |_| {});
            if let Err(failure) = self.launch(&mut desired).await {
                self.fail(failure).await;
                return;
            }
        }
        self.supervise(&mut desired, &mut events).await;
        // The engine lets go of every task when the agent itself stops; the task goes on
        // running, and the next agent adopts it.
        if *agent_stopping.borrow() {
            return;
        }
        self.stop_all().await;
        self.cleanup().await;
    }

    /// Finds containers a previous run of the agent created for this task.
    async fn adopt(&mut self) -> bool {
        let existing = match self
            .env
            .runtime
            .list_labelled(TASK_ARN_LABEL, &self.task.task_arn)
            .await
        {
            Ok(existing) => existing,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list containers to adopt");
                return false;
            }
        };
        if existing.is_empty() {
            return false;
        }
        // A launch cut short (the agent died between creating and starting, or before creating
        // every container) is not a running task: start it over. Its containers go first, since
        // the relaunch creates them under the same names.
        let launched = self.containers.iter().all(|tracked| {
            existing.iter().any(|status| {
                status.labels.get(CONTAINER_NAME_LABEL).map(String::as_str) == Some(tracked.name())
                    && status.state != ContainerState::Created
            })
        });
        if !launched {
            tracing::info!(task = %self.task.task_arn, "relaunching a task whose launch was interrupted");
            for status in &existing {
                if let Err(err) = self.env.runtime.remove(&status.id).await {
                    tracing::warn!(error = %err, container = %status.id, "cannot remove a half-launched container");
                }
            }
            return false;
        }
        for status in &existing {
            let name = status
                .labels
                .get(CONTAINER_NAME_LABEL)
                .cloned()
                .unwrap_or_default();
            if let Some(tracked) = self.containers.iter_mut().find(|c| c.name() == name) {
                tracked.observe(status);
            }
        }
        self.last_status = TaskStatus::Running;
        tracing::info!(task = %self.task.task_arn, containers = existing.len(), "adopted a running task");
        // Shipping resumes where the previous agent left it.
        match self.specs() {
            Ok(specs) => {
                for (index, spec) in specs.into_iter().enumerate() {
                    self.containers[index].spec = Some(spec);
                    self.start_shipping(index);
                }
            }
            Err(reason) => {
                tracing::warn!(task = %self.task.task_arn, %reason, "cannot resume shipping the adopted task's logs")
            }
        }
        true
    }

    /// The container's awslogs stream name and config, when it ships its output.
    fn awslogs_stream(&self, index: usize, container_id: &str) -> Option<(AwslogsConfig, String)> {
        let tracked = &self.containers[index];
        let config = tracked.spec.as_ref()?.awslogs.clone()?;
        let stream = config.stream_name(
            tracked.name(),
            spec::task_id(&self.task.task_arn),
            container_id,
        );
        Some((config, stream))
    }

    /// Starts following the container's log, when it ships it; tells its shipper when it was
    /// started again.
    fn start_shipping(&mut self, index: usize) {
        if let Some(shipper) = self.shippers.iter().find(|s| s.index == index) {
            shipper.run.send_modify(|run| run.starts += 1);
            return;
        }
        let Some(id) = self.containers[index].id.clone() else {
            return;
        };
        let (Some((config, stream)), Some(stopping)) =
            (self.awslogs_stream(index, &id), self.agent_stopping.clone())
        else {
            return;
        };
        let (run, running) = watch::channel(ContainerRun {
            starts: 1,
            finished: false,
        });
        let task = tokio::spawn(crate::awslogs::ship(
            self.env.awslogs.clone(),
            self.env.runtime.clone(),
            config,
            id,
            stream,
            running,
            stopping,
        ));
        self.shippers.push(LogShipper { index, run, task });
    }

    async fn launch(&mut self, desired: &mut watch::Receiver<DesiredTask>) -> Result<(), Failure> {
        let mut specs = self.specs().map_err(|reason| Failure {
            code: "TaskFailedToStart",
            reason,
        })?;
        self.place_in_task_cgroup(&mut specs)?;
        for (tracked, spec) in self.containers.iter_mut().zip(specs) {
            tracked.spec = Some(spec);
        }
        let pull_started = now();
        let mut digests = BTreeMap::new();
        for tracked in &self.containers {
            let image = tracked
                .spec
                .as_ref()
                .map(|s| s.image.clone())
                .unwrap_or_default();
            match self.env.runtime.ensure_image(&image).await {
                Ok(digest) => {
                    digests.insert(tracked.name().to_string(), digest);
                }
                Err(err) => {
                    let reason = format!("CannotPullContainerError: {err}");
                    return Err(Failure {
                        code: "TaskFailedToStart",
                        reason,
                    });
                }
            }
        }
        for tracked in &mut self.containers {
            tracked.image_digest = digests.remove(tracked.name()).flatten();
        }
        let pull_stopped = now();
        self.report(TaskStatus::Activating, |c| {
            c.pull_started_at = Some(pull_started);
            c.pull_stopped_at = Some(pull_stopped);
        });
        self.start_in_order(desired).await?;
        self.report(TaskStatus::Running, |c| c.started_at = Some(now()));
        Ok(())
    }

    /// Puts the task's containers in a cgroup holding its task-level cpu and memory.
    fn place_in_task_cgroup(&self, specs: &mut [ContainerSpec]) -> Result<(), Failure> {
        let Some(first) = specs.first() else {
            return Ok(());
        };
        let (cpu, memory) = (first.task_cpu_units, first.task_memory_mib);
        if !self.env.task_cgroups || (cpu.is_none() && memory.is_none()) {
            return Ok(());
        }
        let task_id = spec::task_id(&self.task.task_arn);
        let root = std::path::Path::new(crate::cgroup::CGROUP_ROOT);
        let parent = crate::cgroup::create(root, task_id, cpu, memory).map_err(|err| Failure {
            code: "TaskFailedToStart",
            reason: format!("ResourceInitializationError: cannot create the task's cgroup: {err}"),
        })?;
        for spec in specs {
            spec.cgroup_parent = Some(parent.clone());
        }
        Ok(())
    }

    fn specs(&self) -> Result<Vec<ContainerSpec>, String> {
        let paths = spec::environment_file_paths(&self.task).map_err(|e| e.reason())?;
        let files: BTreeMap<String, Result<String, String>> = paths
            .into_iter()
            .map(|path| {
                let contents = std::fs::read_to_string(&path).map_err(|e| e.to_string());
                (path, contents)
            })
            .collect();
        let task_id = spec::task_id(&self.task.task_arn).to_string();
        let scratch_root = self.env.scratch_root.join(&task_id);
        let metadata_token = |container: &str| format!("{task_id}-{container}");
        let scratch_path = |volume: &str| scratch_root.join(volume).to_string_lossy().into_owned();
        let ctx = SpecContext {
            instance_id: &self.env.instance_id,
            cluster: &self.env.cluster,
            name_prefix: "ecs",
            metadata_endpoint: self.env.metadata_endpoint.as_deref(),
            metadata_token: &metadata_token,
            scratch_path: &scratch_path,
            environment_files: &files,
            region: &self.env.region,
        };
        spec::container_specs(&self.task, &ctx).map_err(|e| e.reason())
    }

    /// Creates and starts containers as their dependencies allow, in definition order.
    async fn start_in_order(
        &mut self,
        desired: &mut watch::Receiver<DesiredTask>,
    ) -> Result<(), Failure> {
        loop {
            if stop_wanted(&desired.borrow()) {
                return Err(Failure {
                    code: "UserInitiated",
                    reason: desired
                        .borrow()
                        .stopped_reason
                        .clone()
                        .unwrap_or_else(|| "Task stopped by user".into()),
                });
            }
            self.refresh().await;
            let mut progressed = false;
            let mut waiting = false;
            for index in 0..self.containers.len() {
                if self.containers[index].id.is_some() {
                    continue;
                }
                match self.dependencies_met(index) {
                    Dependency::Met => {
                        self.create_and_start(index).await?;
                        progressed = true;
                    }
                    Dependency::Waiting => waiting = true,
                    Dependency::Failed(reason) => {
                        return Err(Failure {
                            code: "TaskFailedToStart",
                            reason,
                        });
                    }
                }
            }
            if !waiting {
                return Ok(());
            }
            if !progressed {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn create_and_start(&mut self, index: usize) -> Result<(), Failure> {
        let spec = self.containers[index].spec.clone().unwrap_or_default();
        let runtime = self.env.runtime.clone();
        let id = runtime.create(&spec).await.map_err(|err| Failure {
            code: "TaskFailedToStart",
            reason: format!("CannotCreateContainerError: {err}"),
        })?;
        self.containers[index].id = Some(id.clone());
        self.containers[index].started = Some(tokio::time::Instant::now());
        // As Docker's awslogs driver does when the container starts: its stream must exist.
        if let Some((config, stream)) = self.awslogs_stream(index, &id)
            && let Err(err) =
                crate::awslogs::prepare_stream(&self.env.awslogs, &config, &stream).await
        {
            let reason = err.to_string();
            self.containers[index].reason = Some(reason.clone());
            return Err(Failure {
                code: "TaskFailedToStart",
                reason,
            });
        }
        runtime.start(&id).await.map_err(|err| Failure {
            code: "TaskFailedToStart",
            reason: format!("CannotStartContainerError: {err}"),
        })?;
        self.start_shipping(index);
        if let Ok(status) = runtime.inspect(&id).await {
            self.containers[index].observe(&status);
        }
        self.containers[index].status = match self.containers[index].status {
            lifecycle::ContainerStatus::Stopped => lifecycle::ContainerStatus::Stopped,
            _ => lifecycle::ContainerStatus::Running,
        };
        Ok(())
    }

    fn dependencies_met(&mut self, index: usize) -> Dependency {
        let verdict = self.dependency_verdict(index);
        let container = &mut self.containers[index];
        if !matches!(verdict, Dependency::Waiting) {
            return verdict;
        }
        let timeout = container
            .definition
            .start_timeout
            .map_or(DEFAULT_START_TIMEOUT, |s| {
                Duration::from_secs(s.max(0) as u64)
            });
        let since = *container
            .waiting_since
            .get_or_insert_with(tokio::time::Instant::now);
        if since.elapsed() > timeout {
            return Dependency::Failed(format!(
                "DependencyConditionNotMet: container '{}' timed out after {}s waiting for its dependencies",
                container.name(),
                timeout.as_secs()
            ));
        }
        Dependency::Waiting
    }

    fn dependency_verdict(&self, index: usize) -> Dependency {
        let container = &self.containers[index];
        for dependency in container.definition.depends_on.iter().flatten() {
            let name = dependency.container_name.as_deref().unwrap_or_default();
            let Some(target) = self.containers.iter().find(|c| c.name() == name) else {
                return Dependency::Failed(format!("container '{name}' is not part of the task"));
            };
            let condition = dependency.condition.as_deref().unwrap_or("START");
            let met = match condition {
                "START" => {
                    target.id.is_some() && target.status != lifecycle::ContainerStatus::Pending
                }
                "COMPLETE" => target.status == lifecycle::ContainerStatus::Stopped,
                "SUCCESS" => match (target.status, target.exit_code) {
                    (lifecycle::ContainerStatus::Stopped, Some(0)) => true,
                    (lifecycle::ContainerStatus::Stopped, _) => {
                        return Dependency::Failed(format!(
                            "DependencyConditionNotMet: container '{name}' exited with a non-zero code, so '{}' cannot start",
                            container.name()
                        ));
                    }
                    _ => false,
                },
                "HEALTHY" => match target.health {
                    Health::Healthy => true,
                    Health::Unhealthy => {
                        return Dependency::Failed(format!(
                            "DependencyConditionNotMet: container '{name}' is unhealthy, so '{}' cannot start",
                            container.name()
                        ));
                    }
                    Health::Unknown => false,
                },
                _ => true,
            };
            if !met {
                return Dependency::Waiting;
            }
        }
        Dependency::Met
    }

    /// Re-inspects every created container.
    async fn refresh(&mut self) {
        for tracked in &mut self.containers {
            if let Some(id) = tracked.id.clone() {
                match self.env.runtime.inspect(&id).await {
                    Ok(status) => tracked.observe(&status),
                    Err(crate::runtime::RuntimeError::NotFound(_)) => {
                        tracked.status = lifecycle::ContainerStatus::Stopped;
                        tracked
                            .reason
                            .get_or_insert_with(|| "Container removed outside the agent".into());
                    }
                    Err(err) => tracing::warn!(error = %err, container = %id, "inspect failed"),
                }
            }
        }
    }

    /// Watches the running task until it must stop.
    async fn supervise(
        &mut self,
        desired: &mut watch::Receiver<DesiredTask>,
        events: &mut mpsc::Receiver<String>,
    ) {
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        let mut reported = self.snapshot();
        loop {
            if stop_wanted(&desired.borrow()) {
                return;
            }
            self.refresh().await;
            self.restart_exited().await;
            if self
                .containers
                .iter()
                .any(|c| c.essential() && c.status == lifecycle::ContainerStatus::Stopped)
            {
                self.stopping = Some(Failure {
                    code: "EssentialContainerExited",
                    reason: "Essential container in task exited".into(),
                });
                return;
            }
            let snapshot = self.snapshot();
            if snapshot != reported {
                let status = self.last_status;
                self.report(status, |_| {});
                reported = snapshot;
            }
            // Wait for something about this task: the engine hands every actor every event.
            loop {
                tokio::select! {
                    changed = desired.changed() => {
                        if changed.is_err() {
                            // The engine forgot this task: the control plane no longer tracks it.
                            return;
                        }
                        break;
                    }
                    event = events.recv() => match event {
                        // The engine dropped this task's handle: it no longer tracks it.
                        None => return,
                        Some(id) if self.containers.iter().any(|c| c.id.as_deref() == Some(id.as_str())) => break,
                        Some(_) => {}
                    },
                    _ = resync.tick() => break,
                }
            }
        }
    }

    /// Restarts exited containers whose restart policy asks for it, before their exit counts.
    async fn restart_exited(&mut self) {
        let mut restarted = Vec::new();
        for (index, tracked) in self.containers.iter_mut().enumerate() {
            let (Some(id), Some(policy)) = (
                tracked.id.clone(),
                tracked.definition.restart_policy.as_ref(),
            ) else {
                continue;
            };
            let ran_for = tracked.started.map_or(Duration::ZERO, |s| s.elapsed());
            if tracked.status != lifecycle::ContainerStatus::Stopped
                || !should_restart(policy, tracked.exit_code.unwrap_or_default(), ran_for)
            {
                continue;
            }
            match self.env.runtime.start(&id).await {
                Ok(()) => {
                    tracing::info!(container = %id, exit_code = ?tracked.exit_code, "restarted by its restart policy");
                    tracked.status = lifecycle::ContainerStatus::Running;
                    tracked.exit_code = None;
                    tracked.reason = None;
                    tracked.started = Some(tokio::time::Instant::now());
                    restarted.push(index);
                }
                Err(err) => tracing::warn!(error = %err, container = %id, "restart failed"),
            }
        }
        for index in restarted {
            self.start_shipping(index);
        }
    }

    /// A compact view of what would be reported, to report only changes.
    fn snapshot(&self) -> Vec<ContainerStateChange> {
        self.containers.iter().map(Tracked::report).collect()
    }

    async fn fail(&mut self, failure: Failure) {
        tracing::info!(task = %self.task.task_arn, reason = %failure.reason, "task failed to start");
        for tracked in &mut self.containers {
            if tracked.id.is_none() {
                tracked.reason.get_or_insert_with(|| failure.reason.clone());
            }
        }
        self.stopping = Some(failure);
        self.stop_all().await;
        self.cleanup().await;
    }

    /// Stops every container (dependents first), then reports the task STOPPED.
    async fn stop_all(&mut self) {
        self.report(TaskStatus::Deactivating, |_| {});
        self.report(TaskStatus::Stopping, |_| {});
        let runtime = self.env.runtime.clone();
        for index in (0..self.containers.len()).rev() {
            let Some(id) = self.containers[index].id.clone() else {
                continue;
            };
            let timeout = self.containers[index]
                .spec
                .as_ref()
                .and_then(|s| s.stop_timeout)
                .or_else(|| {
                    self.containers[index]
                        .definition
                        .stop_timeout
                        .map(|s| Duration::from_secs(s.max(0) as u64))
                })
                .unwrap_or(spec::DEFAULT_STOP_TIMEOUT);
            if let Err(err) = runtime.stop(&id, timeout).await {
                tracing::warn!(error = %err, container = %id, "stop failed");
            }
        }
        self.refresh().await;
        for tracked in &mut self.containers {
            tracked.status = lifecycle::ContainerStatus::Stopped;
        }
        self.report(TaskStatus::Deprovisioning, |_| {});
        self.report(TaskStatus::Stopped, |c| {
            c.execution_stopped_at = Some(now())
        });
    }

    async fn cleanup(&mut self) {
        // Every line a container wrote is shipped before it goes.
        for shipper in self.shippers.drain(..) {
            shipper.run.send_modify(|run| run.finished = true);
            let _ = shipper.task.await;
        }
        tokio::time::sleep(self.env.cleanup_wait).await;
        for tracked in &self.containers {
            let Some(id) = &tracked.id else {
                continue;
            };
            match self.env.runtime.remove(id).await {
                Ok(()) => {
                    let cursor =
                        crate::awslogs::cursor::state_path(&self.env.awslogs.state_dir, id);
                    let _ = std::fs::remove_file(cursor);
                }
                Err(err) => {
                    tracing::warn!(error = %err, container = %id, "cannot remove a stopped task's container")
                }
            }
        }
        let volumes = self
            .env
            .runtime
            .remove_volumes_labelled(TASK_ARN_LABEL, &self.task.task_arn)
            .await;
        if let Err(err) = volumes {
            tracing::warn!(error = %err, task = %self.task.task_arn, "cannot remove the task's volumes");
        }
        let task_id = spec::task_id(&self.task.task_arn);
        self.env.metadata.forget(task_id);
        if self.env.task_cgroups {
            crate::cgroup::remove(std::path::Path::new(crate::cgroup::CGROUP_ROOT), task_id);
        }
        let _ = std::fs::remove_dir_all(self.env.scratch_root.join(task_id));
    }
}

/// ECS's restart policy: an exited container is restarted unless its exit code is ignored or
/// it ran for less than `restartAttemptPeriod` (default 300 s) since its last start.
fn should_restart(
    policy: &berth_ecs_wire::ContainerRestartPolicy,
    exit_code: i32,
    ran_for: Duration,
) -> bool {
    const DEFAULT_ATTEMPT_PERIOD: i32 = 300;
    let period = Duration::from_secs(
        policy
            .restart_attempt_period
            .unwrap_or(DEFAULT_ATTEMPT_PERIOD)
            .max(0) as u64,
    );
    policy.enabled == Some(true)
        && !policy
            .ignored_exit_codes
            .iter()
            .flatten()
            .any(|code| *code == exit_code)
        && ran_for >= period
}

enum Dependency {
    Met,
    Waiting,
    Failed(String),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use berth_ecs_wire::ContainerRestartPolicy;

    use crate::runtime::INSTANCE_LABEL;
    use crate::simulated::SimulatedRuntime;

    /// The metadata endpoint shows the task definition's log driver and options, and for
    /// awslogs the stream in place of its prefix, as ECS's example response does.
    #[test]
    fn the_log_configuration_shown_is_the_definitions() {
        let definition: ContainerDefinition = serde_json::from_value(serde_json::json!({
            "name": "curl",
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/metadata", "awslogs-region": "us-west-2",
                "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}
        }))
        .unwrap();
        let options = definition
            .log_configuration
            .as_ref()
            .unwrap()
            .options
            .clone();
        let awslogs = crate::awslogs::options::parse(&options.unwrap(), "us-east-1").unwrap();
        let (driver, shown) = shown_log_configuration(&definition, Some(&awslogs), "8f03", "ea32");
        assert_eq!(driver, "awslogs");
        assert_eq!(
            shown,
            BTreeMap::from([
                ("awslogs-create-group".to_string(), "true".to_string()),
                ("awslogs-group".into(), "/ecs/metadata".into()),
                ("awslogs-region".into(), "us-west-2".into()),
                ("awslogs-stream".into(), "ecs/curl/8f03".into()),
            ])
        );
        let plain: ContainerDefinition =
            serde_json::from_value(serde_json::json!({"name": "web"})).unwrap();
        assert_eq!(
            shown_log_configuration(&plain, None, "8f03", "ea32"),
            ("json-file".to_string(), BTreeMap::new())
        );
    }

    /// An environment on the simulated runtime, with its journal in `dir`.
    pub(crate) fn environment(
        dir: &std::path::Path,
        runtime: Arc<SimulatedRuntime>,
    ) -> Arc<TaskEnvironment> {
        Arc::new(TaskEnvironment {
            runtime,
            task_cgroups: false,
            journal: Journal::open(dir, crate::state::Outbox::Durable, || "i-test".into()).unwrap(),
            instance_id: "i-test".into(),
            cluster: "default".into(),
            metadata: Arc::new(crate::metadata::Registry::default()),
            metadata_endpoint: None,
            scratch_root: dir.join("volumes"),
            cleanup_wait: Duration::ZERO,
            region: "us-east-1".into(),
            awslogs: Arc::new(crate::awslogs::Shipping {
                client: crate::awslogs::client::LogsClient::new(
                    "http://127.0.0.1:9",
                    berth_protocol::sigv4::Credentials {
                        access_key_id: "AKID".into(),
                        secret_access_key: "secret".into(),
                    },
                ),
                state_dir: dir.join("awslogs"),
            }),
        })
    }

    fn desired() -> DesiredTask {
        serde_json::from_value(serde_json::json!({
            "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef",
            "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "desiredStatus": DesiredStatus::Running.as_str(),
            "taskDefinition": {"family": "web", "revision": 1,
                               "containerDefinitions": [{"name": "web", "image": "berth-demo:latest", "memory": 32}]},
            "overrides": {}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_launch_cut_short_is_started_over_not_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(SimulatedRuntime::new(Duration::ZERO));
        let task = desired();
        // What a previous run of the agent left: created, never started.
        let labels = [
            (TASK_ARN_LABEL, task.task_arn.as_str()),
            (CONTAINER_NAME_LABEL, "web"),
            (INSTANCE_LABEL, "i-test"),
        ];
        let leftover = ContainerSpec {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ContainerSpec::default()
        };
        runtime.create(&leftover).await.unwrap();

        let actor = TaskActor::new(environment(dir.path(), runtime.clone()), task.clone(), true);
        let (desired_sender, desired_receiver) = watch::channel(task.clone());
        let (_events, event_receiver) = mpsc::channel(8);
        let (_agent, agent_stopping) = watch::channel(false);
        let running = tokio::spawn(actor.run(desired_receiver, event_receiver, agent_stopping));
        let mut containers = Vec::new();
        for _ in 0..200 {
            containers = runtime
                .list_labelled(TASK_ARN_LABEL, &task.task_arn)
                .await
                .unwrap();
            if containers
                .iter()
                .any(|c| c.state == ContainerState::Running)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            containers.len(),
            1,
            "the leftover is replaced, not kept beside a new one"
        );
        assert_eq!(containers[0].state, ContainerState::Running);
        drop(desired_sender);
        running.await.unwrap();
    }

    #[test]
    fn restart_policy_follows_ecs() {
        let policy = ContainerRestartPolicy {
            enabled: Some(true),
            ignored_exit_codes: Some(vec![0]),
            restart_attempt_period: Some(60),
        };
        let long = Duration::from_secs(61);
        assert!(should_restart(&policy, 1, long));
        assert!(!should_restart(&policy, 0, long), "ignored exit code");
        assert!(
            !should_restart(&policy, 1, Duration::from_secs(10)),
            "exited before the attempt period"
        );
        let disabled = ContainerRestartPolicy {
            enabled: Some(false),
            ..policy.clone()
        };
        assert!(!should_restart(&disabled, 1, long));
        let default_period = ContainerRestartPolicy {
            restart_attempt_period: None,
            ..policy
        };
        assert!(!should_restart(&default_period, 1, long));
        assert!(should_restart(&default_period, 1, Duration::from_secs(300)));
    }
}
