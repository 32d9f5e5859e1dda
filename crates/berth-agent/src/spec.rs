//! Turns an ECS task — its task definition with the RunTask overrides applied — into one resolved,
//! engine-neutral [`ContainerSpec`] per container definition, in definition order.
//!
//! Pure: no I/O and no clock. What needs the outside world (metadata tokens, task scratch
//! directories, the contents of environment files) comes in through [`SpecContext`].
//!
//! Whatever ECS would do that Docker cannot, Berth refuses with a [`SpecError`] instead of
//! silently dropping it. The error's text is the ECS-style reason the task stops with:
//! - `ResourceInitializationError: …` for what ECS fetches or provisions before it creates any
//!   container (secrets, private-registry credentials, environment files, EFS/FSx/S3 Files/EBS
//!   volumes), as ECS words those failures;
//! - `CannotCreateContainerError: …` for a setting a container cannot be created with.
//!
//! Read elsewhere, not here: `essential`, `dependsOn`, `startTimeout` and `restartPolicy` (the
//! task engine orchestrates those). Deliberately ignored, because they mean nothing for a
//! container on a self-hosted Docker host or belong to other components: `versionConsistency`
//! (no registry to re-resolve a tag against), `ephemeralStorage` (Fargate only),
//! `runtimePlatform` and `placementConstraints` (placement), `portMappings[].name` and
//! `appProtocol` (Service Connect), `taskRoleArn` and `executionRoleArn` (credentials arrive
//! with IAM), `enableFaultInjection`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use berth_ecs_wire::{
    ContainerDefinition, ContainerOverride, HealthCheck, KeyValuePair, LinuxParameters,
    PortMapping, TaskDefinition, Volume,
};
use berth_protocol::DesiredTask;

use crate::runtime::{
    CLUSTER_LABEL, CONTAINER_NAME_LABEL, ContainerSpec, DeviceSpec, FAMILY_LABEL, HealthCheckSpec,
    INSTANCE_LABEL, LogSpec, MountSpec, PortSpec, REVISION_LABEL, TASK_ARN_LABEL, TmpfsSpec,
    UlimitSpec, VolumeCreateSpec,
};

/// ECS's default grace between SIGTERM and SIGKILL (the agent's `ECS_CONTAINER_STOP_TIMEOUT`).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The kernel's bounds for CPU shares. ECS passes an absent, 0 or 1 `cpu` as 2 rather than 0,
/// because Docker turns 0 into 1024 shares — a container that asked for nothing would outweigh
/// one that asked for 512.
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;

/// ECS's defaults for a health check's timings (seconds) and retries.
const HEALTH_INTERVAL: i32 = 30;
const HEALTH_TIMEOUT: i32 = 5;
const HEALTH_RETRIES: i32 = 3;

/// ECS's default `swappiness` once `maxSwap` is set.
const DEFAULT_SWAPPINESS: i64 = 60;

/// Everything about the host that a task's specs depend on.
pub struct SpecContext<'a> {
    /// The container instance id: the value of the [`INSTANCE_LABEL`] label.
    pub instance_id: &'a str,
    /// The cluster's name, for the `com.amazonaws.ecs.cluster` label (the ECS agent writes the
    /// name it was configured with, not the ARN).
    pub cluster: &'a str,
    /// First part of every engine name, `ecs` like the ECS agent's.
    pub name_prefix: &'a str,
    /// Base URL of the task metadata endpoint as containers reach it, e.g.
    /// `http://172.17.0.1:51679`; `None` leaves the metadata variables unset.
    pub metadata_endpoint: Option<&'a str>,
    /// The token that identifies a container (by name) in its metadata URIs.
    pub metadata_token: &'a dyn Fn(&str) -> String,
    /// The host directory backing a task-scoped scratch volume (a `host` volume without
    /// `sourcePath`, or a volume with no configuration), by volume name.
    pub scratch_path: &'a dyn Fn(&str) -> String,
    /// Contents of local environment files, by host path as [`environment_file_paths`] lists
    /// them: `Err` carries why reading failed.
    pub environment_files: &'a BTreeMap<String, Result<String, String>>,
    /// The agent's region: where awslogs ships when a container names no `awslogs-region`.
    pub region: &'a str,
}

/// Why a task cannot run on this host. `Display` gives the ECS-style stopped reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A feature ECS has and Berth cannot honour (yet).
    #[error("CannotCreateContainerError: {0}")]
    Unsupported(String),
    /// The task definition, with its overrides, does not describe a container that can be
    /// created.
    #[error("CannotCreateContainerError: {0}")]
    Invalid(String),
    /// Something ECS fetches or provisions before creating containers is unavailable.
    #[error("ResourceInitializationError: {0}")]
    ResourceInitialization(String),
    /// The awslogs options are refused, in Docker's words.
    #[error("{0}")]
    LogDriver(#[from] crate::awslogs::OptionError),
}

impl SpecError {
    /// The task's `stoppedReason` (and the container's `reason`).
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

fn unsupported(container: &str, what: impl std::fmt::Display) -> SpecError {
    SpecError::Unsupported(format!("container '{container}': {what}"))
}

fn invalid(container: &str, what: impl std::fmt::Display) -> SpecError {
    SpecError::Invalid(format!("container '{container}': {what}"))
}

fn resource(container: &str, what: impl std::fmt::Display) -> SpecError {
    SpecError::ResourceInitialization(format!("container '{container}': {what}"))
}

/// The task id: the last segment of the task ARN.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// The host paths of the environment files the task's containers use (overrides applied), in
/// order and without repeats, so the caller can read them into
/// [`SpecContext::environment_files`]. S3 references are refused here already.
pub fn environment_file_paths(task: &DesiredTask) -> Result<Vec<String>, SpecError> {
    let containers = task
        .task_definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    let overrides = overrides_by_name(task, containers)?;
    let mut paths = Vec::new();
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        let files = overrides
            .get(name)
            .and_then(|o| o.environment_files.as_ref())
            .or(container.environment_files.as_ref());
        for file in files.into_iter().flatten() {
            let path = environment_file_path(name, file.value.as_deref().unwrap_or_default())?;
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    Ok(paths)
}

/// Berth reads environment files from the host: `value` is an absolute path or a `file://` URL.
/// ECS only knows S3 object ARNs, which need S3.
fn environment_file_path(container: &str, value: &str) -> Result<String, SpecError> {
    if value.starts_with("arn:") || value.starts_with("s3://") {
        return Err(resource(
            container,
            format!(
                "environmentFiles from S3 are not supported ({value}); use an absolute host path or a file:// URL"
            ),
        ));
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    if !path.starts_with('/') {
        return Err(resource(
            container,
            format!(
                "environment file '{value}' is neither an absolute host path nor a file:// URL"
            ),
        ));
    }
    Ok(path.to_string())
}

/// Resolves every container of `task` into the spec to create it with, in definition order.
pub fn container_specs(
    task: &DesiredTask,
    ctx: &SpecContext,
) -> Result<Vec<ContainerSpec>, SpecError> {
    let definition = &task.task_definition;
    let family = definition
        .family
        .as_deref()
        .ok_or_else(|| SpecError::Invalid("the task definition has no family".into()))?;
    let revision = definition
        .revision
        .ok_or_else(|| SpecError::Invalid("the task definition has no revision".into()))?;
    let network_mode = network_mode(definition)?;
    check_task_features(definition)?;
    let containers = definition
        .container_definitions
        .as_deref()
        .unwrap_or_default();
    let overrides = overrides_by_name(task, containers)?;

    let naming = Naming {
        prefix: ctx.name_prefix,
        family,
        revision,
        task_id: task_id(&task.task_arn),
    };
    let mut engine_names = BTreeMap::new();
    for container in containers {
        let name = container
            .name
            .as_deref()
            .ok_or_else(|| SpecError::Invalid("a container definition has no name".into()))?;
        engine_names.insert(name, naming.engine_name(name));
    }
    let task_cpu = task
        .overrides
        .cpu
        .as_deref()
        .or(definition.cpu.as_deref())
        .map(|cpu| {
            berth_ecs::task_definition::parse_task_cpu(cpu)
                .map_err(|e| SpecError::Invalid(e.to_string()))
        })
        .transpose()?;
    let task_memory = task
        .overrides
        .memory
        .as_deref()
        .or(definition.memory.as_deref())
        .map(|memory| {
            berth_ecs::task_definition::parse_task_memory(memory)
                .map_err(|e| SpecError::Invalid(e.to_string()))
        })
        .transpose()?;

    let shared = TaskScope {
        task,
        ctx,
        naming,
        network_mode,
        task_cpu,
        task_memory,
        engine_names,
    };
    containers
        .iter()
        .map(|container| {
            let name = container.name.as_deref().unwrap_or_default();
            shared.container_spec(container, overrides.get(name).copied())
        })
        .collect()
}

fn network_mode(definition: &TaskDefinition) -> Result<&str, SpecError> {
    match definition.network_mode.as_deref().unwrap_or("bridge") {
        mode @ ("bridge" | "host" | "none") => Ok(mode),
        "awsvpc" => Err(SpecError::Unsupported(
            "networkMode awsvpc is not supported by Berth yet; use bridge or host".into(),
        )),
        other => Err(SpecError::Invalid(format!(
            "networkMode '{other}' is not one of bridge, host, awsvpc or none"
        ))),
    }
}

/// Task-level features Docker cannot give a task.
fn check_task_features(definition: &TaskDefinition) -> Result<(), SpecError> {
    if definition.proxy_configuration.is_some() {
        return Err(SpecError::Unsupported(
            "proxyConfiguration (App Mesh) is not supported by Berth".into(),
        ));
    }
    if definition
        .inference_accelerators
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(SpecError::Unsupported(
            "inferenceAccelerators are not supported by Berth".into(),
        ));
    }
    // A namespace shared by the task's containers needs a pause container to own it.
    for (field, value) in [
        ("pidMode", definition.pid_mode.as_deref()),
        ("ipcMode", definition.ipc_mode.as_deref()),
    ] {
        match value {
            None | Some("host") => {}
            Some("none") if field == "ipcMode" => {}
            Some("task") => {
                return Err(SpecError::Unsupported(format!(
                    "{field} task is not supported by Berth yet; use host or leave it out"
                )));
            }
            Some(other) => {
                return Err(SpecError::Invalid(format!(
                    "{field} '{other}' is not supported"
                )));
            }
        }
    }
    for volume in definition.volumes.iter().flatten() {
        let name = volume.name.as_deref().unwrap_or_default();
        let kind = if volume.efs_volume_configuration.is_some() {
            Some("EFS volumes")
        } else if volume
            .fsx_windows_file_server_volume_configuration
            .is_some()
        {
            Some("FSx for Windows File Server volumes")
        } else if volume.s3files_volume_configuration.is_some() {
            Some("S3 Files volumes")
        } else if volume.configured_at_launch == Some(true) {
            Some("volumes configured at launch (Amazon EBS)")
        } else {
            None
        };
        if let Some(kind) = kind {
            return Err(SpecError::ResourceInitialization(format!(
                "volume '{name}': {kind} are not supported by Berth"
            )));
        }
        if let Some(scope) = volume
            .docker_volume_configuration
            .as_ref()
            .and_then(|c| c.scope.as_deref())
            .filter(|s| !matches!(*s, "task" | "shared"))
        {
            return Err(SpecError::Invalid(format!(
                "volume '{name}': scope '{scope}' is neither task nor shared"
            )));
        }
    }
    Ok(())
}

fn overrides_by_name<'t>(
    task: &'t DesiredTask,
    containers: &[ContainerDefinition],
) -> Result<BTreeMap<&'t str, &'t ContainerOverride>, SpecError> {
    let mut by_name = BTreeMap::new();
    for ov in task.overrides.container_overrides.iter().flatten() {
        let name = ov.name.as_deref().unwrap_or_default();
        if !containers.iter().any(|c| c.name.as_deref() == Some(name)) {
            return Err(SpecError::Invalid(format!(
                "the override for container '{name}' names no container of the task definition"
            )));
        }
        if by_name.insert(name, ov).is_some() {
            return Err(SpecError::Invalid(format!(
                "container '{name}' has more than one override"
            )));
        }
    }
    Ok(by_name)
}

/// Engine names: `<prefix>-<family>-<revision>-<name>-<task id>`, like the ECS agent's but with
/// the task id instead of a random suffix, so that a restarted agent recreating a container
/// collides with (and so finds) the one it already made.
struct Naming<'a> {
    prefix: &'a str,
    family: &'a str,
    revision: i32,
    task_id: &'a str,
}

impl Naming<'_> {
    fn engine_name(&self, part: &str) -> String {
        let revision = self.revision.to_string();
        let joined = [self.prefix, self.family, &revision, part, self.task_id]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        sanitise_name(&joined)
    }
}

/// Docker names match `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn sanitise_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name
    } else {
        format!("ecs{name}")
    }
}

/// What every container of one task shares.
struct TaskScope<'a> {
    task: &'a DesiredTask,
    ctx: &'a SpecContext<'a>,
    naming: Naming<'a>,
    network_mode: &'a str,
    task_cpu: Option<i64>,
    task_memory: Option<i64>,
    engine_names: BTreeMap<&'a str, String>,
}

impl TaskScope<'_> {
    fn container_spec(
        &self,
        def: &ContainerDefinition,
        ov: Option<&ContainerOverride>,
    ) -> Result<ContainerSpec, SpecError> {
        let name = def.name.as_deref().unwrap_or_default();
        check_container_features(name, def, ov)?;
        let image = def
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| invalid(name, "no image"))?;

        let network_disabled = def.disable_networking == Some(true);
        let network_mode = if network_disabled {
            "none"
        } else {
            self.network_mode
        };
        let mappings = def.port_mappings.as_deref().unwrap_or_default();
        let links = def.links.as_deref().unwrap_or_default();
        if network_disabled && (!mappings.is_empty() || !links.is_empty()) {
            return Err(invalid(
                name,
                "disableNetworking cannot be combined with portMappings or links",
            ));
        }

        let cpu = ov.and_then(|o| o.cpu).or(def.cpu).unwrap_or(0);
        let memory = ov
            .and_then(|o| o.memory)
            .or(def.memory)
            .filter(|m| *m > 0)
            .map(i64::from);
        let memory_reservation = ov
            .and_then(|o| o.memory_reservation)
            .or(def.memory_reservation)
            .filter(|m| *m > 0)
            .map(i64::from);
        if let (Some(hard), Some(soft)) = (memory, memory_reservation)
            && soft > hard
        {
            return Err(invalid(
                name,
                format!("memoryReservation ({soft} MiB) must not exceed memory ({hard} MiB)"),
            ));
        }

        let mut spec = ContainerSpec {
            name: self.engine_names[name].clone(),
            image,
            entrypoint: def.entry_point.clone(),
            command: ov
                .and_then(|o| o.command.clone())
                .or_else(|| def.command.clone()),
            env: self.environment(name, def, ov)?,
            labels: self.labels(name, def),
            working_dir: def.working_directory.clone(),
            user: def.user.clone(),
            hostname: def.hostname.clone(),
            cpu_shares: Some(i64::from(cpu).clamp(MIN_CPU_SHARES, MAX_CPU_SHARES)),
            memory_mib: memory,
            memory_reservation_mib: memory_reservation,
            task_cpu_units: self.task_cpu,
            task_memory_mib: self.task_memory,
            network_mode: network_mode.to_string(),
            ports: ports(name, mappings, network_mode)?,
            mounts: self.mounts(name, def)?,
            volumes_from: self.volumes_from(name, def)?,
            links: self.links(name, links, network_mode)?,
            extra_hosts: extra_hosts(name, def)?,
            dns_servers: def.dns_servers.clone().unwrap_or_default(),
            dns_search: def.dns_search_domains.clone().unwrap_or_default(),
            ulimits: ulimits(name, def)?,
            privileged: def.privileged == Some(true),
            read_only_root: def.readonly_root_filesystem == Some(true),
            health_check: def
                .health_check
                .as_ref()
                .map(|check| health_check(name, check))
                .transpose()?,
            stop_timeout: Some(stop_timeout(name, def.stop_timeout)?),
            sysctls: sysctls(name, def)?,
            security_opts: security_opts(name, def)?,
            pid_mode: self.task.task_definition.pid_mode.clone(),
            ipc_mode: self.task.task_definition.ipc_mode.clone(),
            interactive: def.interactive == Some(true),
            pseudo_terminal: def.pseudo_terminal == Some(true),
            ..ContainerSpec::default()
        };
        if let Some(log) = &def.log_configuration {
            let driver = log.log_driver.clone().unwrap_or_default();
            let options = log.options.clone().unwrap_or_default();
            if driver == "awslogs" {
                spec.awslogs = Some(crate::awslogs::options::parse(&options, self.ctx.region)?);
                spec.log = Some(awslogs_capture());
            } else {
                spec.log = Some(LogSpec { driver, options });
            }
        }
        if let Some(linux) = &def.linux_parameters {
            apply_linux_parameters(name, linux, &mut spec, self.task_memory)?;
        }
        Ok(spec)
    }

    /// The definition's variables, overridden or extended by the override's, then those of the
    /// environment files that are not set yet (ECS gives the first file precedence), then the
    /// variables the ECS agent itself sets, which win.
    fn environment(
        &self,
        name: &str,
        def: &ContainerDefinition,
        ov: Option<&ContainerOverride>,
    ) -> Result<Vec<(String, String)>, SpecError> {
        let mut env: Vec<(String, String)> = Vec::new();
        let put =
            |env: &mut Vec<(String, String)>, key: String, value: String, replace: bool| match env
                .iter_mut()
                .find(|(k, _)| *k == key)
            {
                Some(slot) if replace => slot.1 = value,
                Some(_) => {}
                None => env.push((key, value)),
            };
        let pairs = |list: Option<&Vec<KeyValuePair>>| -> Result<Vec<(String, String)>, SpecError> {
            list.into_iter()
                .flatten()
                .map(|kv| {
                    let key = kv
                        .name
                        .clone()
                        .filter(|k| !k.is_empty())
                        .ok_or_else(|| invalid(name, "an environment variable has no name"))?;
                    Ok((key, kv.value.clone().unwrap_or_default()))
                })
                .collect()
        };
        for (key, value) in pairs(def.environment.as_ref())? {
            put(&mut env, key, value, true);
        }
        for (key, value) in pairs(ov.and_then(|o| o.environment.as_ref()))? {
            put(&mut env, key, value, true);
        }
        let files = ov
            .and_then(|o| o.environment_files.as_ref())
            .or(def.environment_files.as_ref());
        for file in files.into_iter().flatten() {
            let path = environment_file_path(name, file.value.as_deref().unwrap_or_default())?;
            let contents = match self.ctx.environment_files.get(&path) {
                Some(Ok(contents)) => contents,
                Some(Err(why)) => {
                    return Err(resource(
                        name,
                        format!("failed to read environment file {path}: {why}"),
                    ));
                }
                None => {
                    return Err(resource(
                        name,
                        format!("environment file {path} was not read"),
                    ));
                }
            };
            for (key, value) in parse_environment_file(contents) {
                put(&mut env, key, value, false);
            }
        }
        if let Some(base) = self.ctx.metadata_endpoint {
            let base = base.trim_end_matches('/');
            let token = (self.ctx.metadata_token)(name);
            put(
                &mut env,
                "ECS_CONTAINER_METADATA_URI_V4".into(),
                format!("{base}/v4/{token}"),
                true,
            );
            put(
                &mut env,
                "ECS_CONTAINER_METADATA_URI".into(),
                format!("{base}/v3/{token}"),
                true,
            );
            // The agent API (task scale-in protection), as the ECS agent sets it.
            put(
                &mut env,
                "ECS_AGENT_URI".into(),
                format!("{base}/api/{token}"),
                true,
            );
        }
        // SDKs read it to report the platform, as on an EC2 container instance.
        put(
            &mut env,
            "AWS_EXECUTION_ENV".into(),
            "AWS_ECS_EC2".into(),
            true,
        );
        Ok(env)
    }

    /// The definition's `dockerLabels`, then the labels the ECS agent sets (which win, so a
    /// definition cannot pose as another task) and the instance label Berth finds its own
    /// containers by.
    fn labels(&self, name: &str, def: &ContainerDefinition) -> BTreeMap<String, String> {
        let mut labels = def.docker_labels.clone().unwrap_or_default();
        labels.extend(self.task_labels());
        labels.insert(CONTAINER_NAME_LABEL.into(), name.into());
        labels
    }

    fn task_labels(&self) -> [(String, String); 5] {
        [
            (CLUSTER_LABEL.into(), self.ctx.cluster.into()),
            (TASK_ARN_LABEL.into(), self.task.task_arn.clone()),
            (FAMILY_LABEL.into(), self.naming.family.into()),
            (REVISION_LABEL.into(), self.naming.revision.to_string()),
            (INSTANCE_LABEL.into(), self.ctx.instance_id.into()),
        ]
    }

    fn mounts(&self, name: &str, def: &ContainerDefinition) -> Result<Vec<MountSpec>, SpecError> {
        let volumes = self
            .task
            .task_definition
            .volumes
            .as_deref()
            .unwrap_or_default();
        def.mount_points
            .iter()
            .flatten()
            .map(|point| {
                let source = point.source_volume.as_deref().unwrap_or_default();
                let target = point
                    .container_path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        invalid(name, format!("the mount point of volume '{source}' has no containerPath"))
                    })?;
                let volume = volumes
                    .iter()
                    .find(|v| v.name.as_deref() == Some(source))
                    .ok_or_else(|| {
                        invalid(name, format!("mount point source volume '{source}' is not a volume of the task definition"))
                    })?;
                let mut mount = self.volume_source(volume);
                mount.target = target;
                mount.read_only = point.read_only == Some(true);
                Ok(mount)
            })
            .collect()
    }

    /// Where a task volume comes from (unsupported volume types were refused up front).
    fn volume_source(&self, volume: &Volume) -> MountSpec {
        let name = volume.name.as_deref().unwrap_or_default();
        let mount = |source: String, volume: bool, create: Option<VolumeCreateSpec>| MountSpec {
            source,
            target: String::new(),
            read_only: false,
            volume,
            create,
        };
        if let Some(config) = &volume.docker_volume_configuration {
            let mut create = VolumeCreateSpec {
                driver: config.driver.clone().unwrap_or_else(|| "local".into()),
                driver_opts: config.driver_opts.clone().unwrap_or_default(),
                labels: config.labels.clone().unwrap_or_default(),
            };
            return if config.scope.as_deref() == Some("shared") {
                // A shared volume outlives tasks and is named as written, so that tasks share it;
                // without autoprovision ECS expects it to exist already.
                let create = (config.autoprovision == Some(true)).then_some(create);
                mount(name.to_string(), true, create)
            } else {
                // Task scope (the default): one volume per task, labelled so that whoever
                // cleans up after the task can find it.
                create.labels.extend(self.task_labels());
                mount(self.naming.engine_name(name), true, Some(create))
            };
        }
        match volume.host.as_ref().and_then(|h| h.source_path.as_deref()) {
            Some(path) if !path.is_empty() => mount(path.to_string(), false, None),
            // ECS: an empty host volume gets a directory the task owns while it runs.
            _ => mount((self.ctx.scratch_path)(name), false, None),
        }
    }

    fn volumes_from(
        &self,
        name: &str,
        def: &ContainerDefinition,
    ) -> Result<Vec<(String, bool)>, SpecError> {
        def.volumes_from
            .iter()
            .flatten()
            .map(|from| {
                let source = from.source_container.as_deref().unwrap_or_default();
                let engine = self
                    .engine_names
                    .get(source)
                    .filter(|_| source != name)
                    .ok_or_else(|| {
                        invalid(name, format!("volumesFrom source container '{source}' is not another container of the task"))
                    })?;
                Ok((engine.clone(), from.read_only == Some(true)))
            })
            .collect()
    }

    fn links(
        &self,
        name: &str,
        links: &[String],
        network_mode: &str,
    ) -> Result<Vec<String>, SpecError> {
        if links.is_empty() {
            return Ok(Vec::new());
        }
        if network_mode != "bridge" {
            return Err(invalid(
                name,
                format!("links are not supported when networkMode={network_mode}"),
            ));
        }
        links
            .iter()
            .map(|link| {
                let (target, alias) = link.split_once(':').unwrap_or((link, link));
                let engine = self
                    .engine_names
                    .get(target)
                    .filter(|_| target != name)
                    .ok_or_else(|| {
                        invalid(
                            name,
                            format!("link '{link}' does not name another container of the task"),
                        )
                    })?;
                Ok(format!("{engine}:{alias}"))
            })
            .collect()
    }
}

/// Container features Docker cannot give a container, refused before anything else so the
/// reason names the feature rather than a side effect.
fn check_container_features(
    name: &str,
    def: &ContainerDefinition,
    ov: Option<&ContainerOverride>,
) -> Result<(), SpecError> {
    if def.secrets.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(resource(name, "secrets are not supported by Berth yet"));
    }
    if def.repository_credentials.is_some() {
        return Err(resource(
            name,
            "repositoryCredentials (private registry authentication) are not supported by Berth yet",
        ));
    }
    if def.firelens_configuration.is_some() {
        return Err(unsupported(
            name,
            "firelensConfiguration is not supported by Berth",
        ));
    }
    if def.credential_specs.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(unsupported(
            name,
            "credentialSpecs (Active Directory gMSA) are not supported by Berth",
        ));
    }
    let requirements = ov
        .and_then(|o| o.resource_requirements.as_ref())
        .or(def.resource_requirements.as_ref());
    if let Some(requirement) = requirements.and_then(|r| r.first()) {
        let kind = requirement.r#type.as_deref().unwrap_or_default();
        return Err(unsupported(
            name,
            format!("resourceRequirements of type {kind} are not supported by Berth"),
        ));
    }
    if let Some(log) = &def.log_configuration {
        let driver = log.log_driver.as_deref().unwrap_or_default();
        if driver != "json-file" && driver != "awslogs" {
            return Err(unsupported(
                name,
                format!(
                    "log driver '{driver}' is not supported by Berth yet; use json-file or awslogs, or leave logConfiguration out"
                ),
            ));
        }
        if log.secret_options.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(resource(
                name,
                "logConfiguration.secretOptions are not supported by Berth yet",
            ));
        }
    }
    Ok(())
}

/// Where an awslogs container's output goes for the agent to ship it from: Docker's `local`
/// log files, which the engine writes with about two thirds of the CPU time json-file costs it
/// (length-framed protobuf rather than escaped JSON: 100,000 lines took dockerd 150-180 ms
/// against 200-240 ms here) and the agent reads without unescaping. Docker's rotation (20 MB
/// files, 5 kept) bounds the disk a container the agent has fallen behind on can take; rotated
/// files stay uncompressed so the agent reads them as they are (`docker/log_file.rs`).
fn awslogs_capture() -> LogSpec {
    LogSpec {
        driver: "local".into(),
        options: BTreeMap::from([("compress".into(), "false".into())]),
    }
}

/// Each `VARIABLE=VALUE` line, as ECS reads environment files: `#` starts a comment line, blank
/// lines are skipped, the value is taken literally (no quotes or escapes), and a line without
/// `=` or with an empty name is skipped as the ECS agent does.
fn parse_environment_file(contents: &str) -> Vec<(String, String)> {
    contents
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// `bridge`: a missing or 0 `hostPort` asks for a dynamic port. `host`: the container port is
/// the host port. `none`: no ports at all. A `containerPortRange` publishes every port in it.
fn ports(
    name: &str,
    mappings: &[PortMapping],
    network_mode: &str,
) -> Result<Vec<PortSpec>, SpecError> {
    if network_mode == "none" && !mappings.is_empty() {
        return Err(invalid(
            name,
            "port mappings are not supported when networkMode=none",
        ));
    }
    let mut ports = Vec::new();
    for mapping in mappings {
        let protocol = mapping.protocol.as_deref().unwrap_or("tcp");
        if !matches!(protocol, "tcp" | "udp") {
            return Err(invalid(
                name,
                format!("port mapping protocol '{protocol}' is neither tcp nor udp"),
            ));
        }
        let host_port = match mapping.host_port {
            None | Some(0) => None,
            Some(port) => Some(port_number(name, port)?),
        };
        let container_ports = match (mapping.container_port, &mapping.container_port_range) {
            (Some(port), _) => vec![port_number(name, port)?],
            (None, Some(range)) => {
                if host_port.is_some() {
                    return Err(invalid(name, "a containerPortRange cannot have a hostPort"));
                }
                port_range(name, range)?
            }
            (None, None) => {
                return Err(invalid(
                    name,
                    "a port mapping needs a containerPort or a containerPortRange",
                ));
            }
        };
        for container_port in container_ports {
            let host_port = if network_mode == "host" {
                if host_port.is_some_and(|h| h != container_port) {
                    return Err(invalid(
                        name,
                        "when networkMode=host, the host ports and container ports in port mappings must match",
                    ));
                }
                Some(container_port)
            } else {
                host_port
            };
            ports.push(PortSpec {
                container_port,
                host_port,
                protocol: protocol.to_string(),
            });
        }
    }
    Ok(ports)
}

fn port_number(name: &str, port: i32) -> Result<u16, SpecError> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(name, format!("port {port} is not between 1 and 65535")))
}

fn port_range(name: &str, range: &str) -> Result<Vec<u16>, SpecError> {
    let bad = || {
        invalid(
            name,
            format!("containerPortRange '{range}' is not a range like 8000-8010"),
        )
    };
    let (low, high) = range.split_once('-').ok_or_else(bad)?;
    let low: i32 = low.trim().parse().map_err(|_| bad())?;
    let high: i32 = high.trim().parse().map_err(|_| bad())?;
    let (low, high) = (port_number(name, low)?, port_number(name, high)?);
    if low >= high {
        return Err(bad());
    }
    Ok((low..=high).collect())
}

fn extra_hosts(name: &str, def: &ContainerDefinition) -> Result<Vec<(String, String)>, SpecError> {
    def.extra_hosts
        .iter()
        .flatten()
        .map(|entry| match (&entry.hostname, &entry.ip_address) {
            (Some(host), Some(ip)) if !host.is_empty() && !ip.is_empty() => {
                Ok((host.clone(), ip.clone()))
            }
            _ => Err(invalid(
                name,
                "an extraHosts entry needs a hostname and an ipAddress",
            )),
        })
        .collect()
}

fn ulimits(name: &str, def: &ContainerDefinition) -> Result<Vec<UlimitSpec>, SpecError> {
    def.ulimits
        .iter()
        .flatten()
        .map(
            |limit| match (&limit.name, limit.soft_limit, limit.hard_limit) {
                (Some(ulimit), Some(soft), Some(hard)) => Ok(UlimitSpec {
                    name: ulimit.clone(),
                    soft: soft.into(),
                    hard: hard.into(),
                }),
                _ => Err(invalid(
                    name,
                    "a ulimit needs a name, a softLimit and a hardLimit",
                )),
            },
        )
        .collect()
}

fn health_check(name: &str, check: &HealthCheck) -> Result<HealthCheckSpec, SpecError> {
    let test = check.command.clone().unwrap_or_default();
    if !matches!(
        test.first().map(String::as_str),
        Some("CMD" | "CMD-SHELL" | "NONE")
    ) {
        return Err(invalid(
            name,
            "the healthCheck command must start with CMD, CMD-SHELL or NONE",
        ));
    }
    let seconds = |field: &str, value: Option<i32>, default: i32| {
        let value = value.unwrap_or(default);
        u64::try_from(value)
            .map(Duration::from_secs)
            .map_err(|_| invalid(name, format!("healthCheck {field} {value} is negative")))
    };
    let retries = check.retries.unwrap_or(HEALTH_RETRIES);
    Ok(HealthCheckSpec {
        test,
        interval: seconds("interval", check.interval, HEALTH_INTERVAL)?,
        timeout: seconds("timeout", check.timeout, HEALTH_TIMEOUT)?,
        retries: u32::try_from(retries)
            .map_err(|_| invalid(name, format!("healthCheck retries {retries} is negative")))?,
        start_period: seconds("startPeriod", check.start_period, 0)?,
    })
}

fn stop_timeout(name: &str, seconds: Option<i32>) -> Result<Duration, SpecError> {
    match seconds {
        None => Ok(DEFAULT_STOP_TIMEOUT),
        Some(s) => u64::try_from(s)
            .map(Duration::from_secs)
            .map_err(|_| invalid(name, format!("stopTimeout {s} is negative"))),
    }
}

fn sysctls(name: &str, def: &ContainerDefinition) -> Result<BTreeMap<String, String>, SpecError> {
    def.system_controls
        .iter()
        .flatten()
        .map(|control| match (&control.namespace, &control.value) {
            (Some(key), Some(value)) if !key.is_empty() => Ok((key.clone(), value.clone())),
            _ => Err(invalid(
                name,
                "a systemControls entry needs a namespace and a value",
            )),
        })
        .collect()
}

fn security_opts(name: &str, def: &ContainerDefinition) -> Result<Vec<String>, SpecError> {
    let options = def.docker_security_options.clone().unwrap_or_default();
    if let Some(option) = options.iter().find(|o| o.starts_with("credentialspec:")) {
        return Err(unsupported(
            name,
            format!(
                "dockerSecurityOptions '{option}' (Windows credential specs) are not supported by Berth"
            ),
        ));
    }
    Ok(options)
}

fn apply_linux_parameters(
    name: &str,
    linux: &LinuxParameters,
    spec: &mut ContainerSpec,
    task_memory: Option<i64>,
) -> Result<(), SpecError> {
    if let Some(capabilities) = &linux.capabilities {
        spec.cap_add = capabilities.add.clone().unwrap_or_default();
        spec.cap_drop = capabilities.drop.clone().unwrap_or_default();
    }
    spec.init = linux.init_process_enabled == Some(true);
    for device in linux.devices.iter().flatten() {
        let host_path = device
            .host_path
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid(name, "a device needs a hostPath"))?;
        let permissions = match device.permissions.as_deref() {
            None | Some([]) => "rwm".to_string(),
            Some(list) => {
                let granted = list
                    .iter()
                    .map(|p| match p.as_str() {
                        "read" => Ok('r'),
                        "write" => Ok('w'),
                        "mknod" => Ok('m'),
                        other => Err(invalid(
                            name,
                            format!("device permission '{other}' is not read, write or mknod"),
                        )),
                    })
                    .collect::<Result<BTreeSet<char>, _>>()?;
                // cgroup device permissions are spelled in `rwm` order.
                "rwm".chars().filter(|c| granted.contains(c)).collect()
            }
        };
        spec.devices.push(DeviceSpec {
            container_path: device
                .container_path
                .clone()
                .unwrap_or_else(|| host_path.clone()),
            host_path,
            permissions,
        });
    }
    if let Some(size) = linux.shared_memory_size {
        spec.shm_size_mib = Some(size.into());
    }
    for tmpfs in linux.tmpfs.iter().flatten() {
        let container_path = tmpfs
            .container_path
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid(name, "a tmpfs mount needs a containerPath"))?;
        let size = tmpfs
            .size
            .filter(|s| *s > 0)
            .ok_or_else(|| invalid(name, format!("tmpfs mount {container_path} needs a size")))?;
        spec.tmpfs.push(TmpfsSpec {
            container_path,
            size_mib: size.into(),
            options: tmpfs.mount_options.clone().unwrap_or_default(),
        });
    }
    // ECS ignores swappiness unless maxSwap is set; swap needs a memory limit to add to.
    if let Some(max_swap) = linux.max_swap {
        if max_swap < 0 {
            return Err(invalid(name, format!("maxSwap {max_swap} is negative")));
        }
        if spec.memory_mib.is_none() && task_memory.is_none() {
            return Err(invalid(
                name,
                "maxSwap needs a memory limit (the container's memory or the task's)",
            ));
        }
        spec.max_swap_mib = Some(max_swap.into());
        spec.swappiness = Some(linux.swappiness.map_or(DEFAULT_SWAPPINESS, i64::from));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use berth_ecs::lifecycle::DesiredStatus;

    use super::*;
    use serde_json::{Value, json};

    const TASK_ARN: &str =
        "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef";
    const NAME: &str = "ecs-app-3-web-0123456789abcdef0123456789abcdef";

    /// A task of family `app` revision 3 whose first container is `web` with `container`
    /// merged in; `task` is merged into the definition, except that its `containerDefinitions`
    /// are added after `web`.
    fn task(container: Value, task: Value, overrides: Value) -> DesiredTask {
        let mut web = json!({"name": "web", "image": "berth-demo:latest", "memory": 128});
        merge(&mut web, container);
        let mut definition = json!({"family": "app", "revision": 3, "containerDefinitions": [web]});
        if let Value::Object(fields) = task {
            for (key, value) in fields {
                if key == "containerDefinitions" {
                    let list = definition["containerDefinitions"].as_array_mut().unwrap();
                    list.extend(value.as_array().unwrap().iter().cloned());
                } else {
                    definition[key] = value;
                }
            }
        }
        DesiredTask {
            task_arn: TASK_ARN.into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
            desired_status: DesiredStatus::Running.as_str().into(),
            task_definition: serde_json::from_value(definition).unwrap(),
            overrides: serde_json::from_value(overrides).unwrap(),
            stop_code: None,
            stopped_reason: None,
            container_arns: Default::default(),
            availability_zone: None,
        }
    }

    fn merge(base: &mut Value, patch: Value) {
        if let (Value::Object(base), Value::Object(patch)) = (base, patch) {
            base.extend(patch);
        }
    }

    fn env_files() -> BTreeMap<String, Result<String, String>> {
        BTreeMap::from([
            (
                "/etc/app.env".to_string(),
                Ok("# comment\n\nFROM_FILE=1\nSHARED=file\nnot a variable\n=noname\nQUOTED=\"q\"\r\n".to_string()),
            ),
            ("/etc/second.env".to_string(), Ok("FROM_FILE=2\nSECOND=yes\n".to_string())),
            ("/etc/unreadable.env".to_string(), Err("permission denied".to_string())),
        ])
    }

    fn specs(task: &DesiredTask) -> Result<Vec<ContainerSpec>, SpecError> {
        let files = env_files();
        let token = |container: &str| format!("tok-{container}");
        let scratch = |volume: &str| format!("/var/lib/berth/scratch/{volume}");
        let ctx = SpecContext {
            instance_id: "i-0abc",
            cluster: "default",
            name_prefix: "ecs",
            metadata_endpoint: Some("http://172.17.0.1:51679/"),
            metadata_token: &token,
            scratch_path: &scratch,
            environment_files: &files,
            region: "us-east-1",
        };
        container_specs(task, &ctx)
    }

    fn agent_env() -> Vec<(String, String)> {
        vec![
            (
                "ECS_CONTAINER_METADATA_URI_V4".into(),
                "http://172.17.0.1:51679/v4/tok-web".into(),
            ),
            (
                "ECS_CONTAINER_METADATA_URI".into(),
                "http://172.17.0.1:51679/v3/tok-web".into(),
            ),
            (
                "ECS_AGENT_URI".into(),
                "http://172.17.0.1:51679/api/tok-web".into(),
            ),
            ("AWS_EXECUTION_ENV".into(), "AWS_ECS_EC2".into()),
        ]
    }

    fn baseline() -> ContainerSpec {
        ContainerSpec {
            name: NAME.into(),
            image: "berth-demo:latest".into(),
            env: agent_env(),
            labels: BTreeMap::from([
                (CLUSTER_LABEL.into(), "default".into()),
                (TASK_ARN_LABEL.into(), TASK_ARN.into()),
                (CONTAINER_NAME_LABEL.into(), "web".into()),
                (FAMILY_LABEL.into(), "app".into()),
                (REVISION_LABEL.into(), "3".into()),
                (INSTANCE_LABEL.into(), "i-0abc".into()),
            ]),
            cpu_shares: Some(2),
            memory_mib: Some(128),
            network_mode: "bridge".into(),
            stop_timeout: Some(Duration::from_secs(30)),
            ..ContainerSpec::default()
        }
    }

    fn user_env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend(agent_env());
        env
    }

    fn port(container_port: u16, host_port: Option<u16>, protocol: &str) -> PortSpec {
        PortSpec {
            container_port,
            host_port,
            protocol: protocol.into(),
        }
    }

    fn bind(source: &str, target: &str, read_only: bool) -> MountSpec {
        MountSpec {
            source: source.into(),
            target: target.into(),
            read_only,
            volume: false,
            create: None,
        }
    }

    #[test]
    fn a_minimal_container_gets_the_ecs_defaults() {
        let specs = specs(&task(json!({}), json!({}), json!({}))).unwrap();
        assert_eq!(specs, vec![baseline()]);
    }

    /// Each case: what to merge into `web`, into the task definition, the overrides, and how
    /// the expected spec differs from the baseline.
    #[test]
    fn each_field_maps_as_ecs_does() {
        type Expect = fn(&mut ContainerSpec);
        let cases: Vec<(&str, Value, Value, Value, Expect)> = vec![
            (
                "entry point, command, working directory, user, hostname",
                json!({"entryPoint": ["/berth-demo"], "command": ["serve"], "workingDirectory": "/tmp",
                       "user": "1000:1000", "hostname": "web-1"}),
                json!({}),
                json!({}),
                |s| {
                    s.entrypoint = Some(vec!["/berth-demo".into()]);
                    s.command = Some(vec!["serve".into()]);
                    s.working_dir = Some("/tmp".into());
                    s.user = Some("1000:1000".into());
                    s.hostname = Some("web-1".into());
                },
            ),
            (
                "cpu 1 becomes 2 shares",
                json!({"cpu": 1}),
                json!({}),
                json!({}),
                |s| s.cpu_shares = Some(2),
            ),
            (
                "cpu 512 is 512 shares",
                json!({"cpu": 512}),
                json!({}),
                json!({}),
                |s| s.cpu_shares = Some(512),
            ),
            (
                "cpu above the kernel maximum is capped",
                json!({"cpu": 300_000}),
                json!({}),
                json!({}),
                |s| s.cpu_shares = Some(262_144),
            ),
            (
                "memory reservation alone is a soft limit",
                json!({"memory": null, "memoryReservation": 64}),
                json!({}),
                json!({}),
                |s| {
                    s.memory_mib = None;
                    s.memory_reservation_mib = Some(64);
                },
            ),
            (
                "task-level cpu and memory, in any unit ECS accepts",
                json!({}),
                json!({"cpu": "0.5 vCPU", "memory": "1GB"}),
                json!({}),
                |s| {
                    s.task_cpu_units = Some(512);
                    s.task_memory_mib = Some(1024);
                },
            ),
            (
                "task-level overrides replace the definition's size",
                json!({}),
                json!({"cpu": "256", "memory": "512"}),
                json!({"cpu": "1024", "memory": "2048"}),
                |s| {
                    s.task_cpu_units = Some(1024);
                    s.task_memory_mib = Some(2048);
                },
            ),
            (
                "container overrides replace command, cpu, memory, reservation",
                json!({"command": ["serve"], "cpu": 128, "memoryReservation": 32}),
                json!({}),
                json!({"containerOverrides": [{"name": "web", "command": ["exit", "3"], "cpu": 256,
                                               "memory": 256, "memoryReservation": 100}]}),
                |s| {
                    s.command = Some(vec!["exit".into(), "3".into()]);
                    s.cpu_shares = Some(256);
                    s.memory_mib = Some(256);
                    s.memory_reservation_mib = Some(100);
                },
            ),
            (
                "override environment overrides same names and appends new ones",
                json!({"environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}),
                json!({}),
                json!({"containerOverrides": [{"name": "web", "environment": [
                    {"name": "B", "value": "override"}, {"name": "C", "value": "3"}]}]}),
                |s| s.env = user_env(&[("A", "1"), ("B", "override"), ("C", "3")]),
            ),
            (
                "the agent's variables win over the definition's",
                json!({"environment": [{"name": "AWS_EXECUTION_ENV", "value": "mine"}, {"name": "X", "value": ""}]}),
                json!({}),
                json!({}),
                |s| {
                    s.env = vec![
                        ("AWS_EXECUTION_ENV".into(), "AWS_ECS_EC2".into()),
                        ("X".into(), "".into()),
                    ];
                    s.env.extend(agent_env().into_iter().take(3));
                },
            ),
            (
                "environment files fill in what the environment does not set, first file first",
                json!({"environment": [{"name": "SHARED", "value": "env"}],
                       "environmentFiles": [{"type": "s3", "value": "/etc/app.env"},
                                            {"type": "s3", "value": "file:///etc/second.env"}]}),
                json!({}),
                json!({}),
                |s| {
                    s.env = user_env(&[
                        ("SHARED", "env"),
                        ("FROM_FILE", "1"),
                        ("QUOTED", "\"q\""),
                        ("SECOND", "yes"),
                    ])
                },
            ),
            (
                "override environmentFiles replace the definition's",
                json!({"environmentFiles": [{"type": "s3", "value": "/etc/unreadable.env"}]}),
                json!({}),
                json!({"containerOverrides": [{"name": "web", "environmentFiles": [{"type": "s3", "value": "/etc/second.env"}]}]}),
                |s| s.env = user_env(&[("FROM_FILE", "2"), ("SECOND", "yes")]),
            ),
            (
                "bridge ports: missing or 0 host port is dynamic, udp kept",
                json!({"portMappings": [{"containerPort": 8080}, {"containerPort": 8081, "hostPort": 0},
                                        {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]}),
                json!({}),
                json!({}),
                |s| {
                    s.ports = vec![
                        port(8080, None, "tcp"),
                        port(8081, None, "tcp"),
                        port(53, Some(5353), "udp"),
                    ]
                },
            ),
            (
                "bridge port ranges expand to dynamic ports",
                json!({"portMappings": [{"containerPortRange": "9000-9002"}]}),
                json!({}),
                json!({}),
                |s| {
                    s.ports = vec![
                        port(9000, None, "tcp"),
                        port(9001, None, "tcp"),
                        port(9002, None, "tcp"),
                    ]
                },
            ),
            (
                "host mode: host port is the container port",
                json!({"portMappings": [{"containerPort": 8080}, {"containerPortRange": "7000-7001", "protocol": "udp"}]}),
                json!({"networkMode": "host"}),
                json!({}),
                |s| {
                    s.network_mode = "host".into();
                    s.ports = vec![
                        port(8080, Some(8080), "tcp"),
                        port(7000, Some(7000), "udp"),
                        port(7001, Some(7001), "udp"),
                    ];
                },
            ),
            (
                "none mode",
                json!({}),
                json!({"networkMode": "none"}),
                json!({}),
                |s| s.network_mode = "none".into(),
            ),
            (
                "disableNetworking puts the container in none",
                json!({"disableNetworking": true}),
                json!({}),
                json!({}),
                |s| s.network_mode = "none".into(),
            ),
            (
                "host volumes bind, empty host volumes get task scratch",
                json!({"mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": true},
                                       {"sourceVolume": "scratch", "containerPath": "/scratch"},
                                       {"sourceVolume": "bare", "containerPath": "/bare"}]}),
                json!({"volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}},
                                   {"name": "scratch", "host": {}}, {"name": "bare"}, {"name": "unused"}]}),
                json!({}),
                |s| {
                    s.mounts = vec![
                        bind("/srv/data", "/data", true),
                        bind("/var/lib/berth/scratch/scratch", "/scratch", false),
                        bind("/var/lib/berth/scratch/bare", "/bare", false),
                    ]
                },
            ),
            (
                "docker volumes: task scope is unique per task, shared keeps its name",
                json!({"mountPoints": [{"sourceVolume": "cache", "containerPath": "/cache"},
                                       {"sourceVolume": "pool", "containerPath": "/pool"},
                                       {"sourceVolume": "existing", "containerPath": "/existing"}]}),
                json!({"volumes": [
                    {"name": "cache", "dockerVolumeConfiguration": {"driverOpts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"team": "a"}}},
                    {"name": "pool", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local"}},
                    {"name": "existing", "dockerVolumeConfiguration": {"scope": "shared"}}]}),
                json!({}),
                |s| {
                    let mut labels: BTreeMap<String, String> = s.labels.clone();
                    labels.remove(CONTAINER_NAME_LABEL);
                    labels.insert("team".into(), "a".into());
                    s.mounts = vec![
                        MountSpec {
                            source: "ecs-app-3-cache-0123456789abcdef0123456789abcdef".into(),
                            target: "/cache".into(),
                            read_only: false,
                            volume: true,
                            create: Some(VolumeCreateSpec {
                                driver: "local".into(),
                                driver_opts: BTreeMap::from([
                                    ("type".into(), "tmpfs".into()),
                                    ("device".into(), "tmpfs".into()),
                                ]),
                                labels,
                            }),
                        },
                        MountSpec {
                            source: "pool".into(),
                            target: "/pool".into(),
                            read_only: false,
                            volume: true,
                            create: Some(VolumeCreateSpec {
                                driver: "local".into(),
                                driver_opts: BTreeMap::new(),
                                labels: BTreeMap::new(),
                            }),
                        },
                        MountSpec {
                            source: "existing".into(),
                            target: "/existing".into(),
                            read_only: false,
                            volume: true,
                            create: None,
                        },
                    ];
                },
            ),
            (
                "volumesFrom and links resolve to engine names",
                json!({"volumesFrom": [{"sourceContainer": "db", "readOnly": true}, {"sourceContainer": "cache"}],
                       "links": ["db", "cache:memcached"]}),
                json!({"containerDefinitions": [{"name": "db", "image": "berth-demo:latest", "memory": 64},
                                                {"name": "cache", "image": "berth-demo:latest", "memory": 64}]}),
                json!({}),
                |s| {
                    let db = "ecs-app-3-db-0123456789abcdef0123456789abcdef";
                    let cache = "ecs-app-3-cache-0123456789abcdef0123456789abcdef";
                    s.volumes_from = vec![(db.into(), true), (cache.into(), false)];
                    s.links = vec![format!("{db}:db"), format!("{cache}:memcached")];
                },
            ),
            (
                "extra hosts, dns, ulimits, privileged, read-only root",
                json!({"extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.5"}],
                       "dnsServers": ["1.1.1.1"], "dnsSearchDomains": ["corp.local"],
                       "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
                       "privileged": true, "readonlyRootFilesystem": true}),
                json!({}),
                json!({}),
                |s| {
                    s.extra_hosts = vec![("db.local".into(), "10.0.0.5".into())];
                    s.dns_servers = vec!["1.1.1.1".into()];
                    s.dns_search = vec!["corp.local".into()];
                    s.ulimits = vec![UlimitSpec {
                        name: "nofile".into(),
                        soft: 1024,
                        hard: 4096,
                    }];
                    s.privileged = true;
                    s.read_only_root = true;
                },
            ),
            (
                "linux parameters",
                json!({"linuxParameters": {
                    "initProcessEnabled": true,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                    "devices": [{"hostPath": "/dev/null"}, {"hostPath": "/dev/zero", "containerPath": "/dev/z", "permissions": ["write", "read"]}],
                    "sharedMemorySize": 64,
                    "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec"]}],
                    "maxSwap": 0, "swappiness": 10}}),
                json!({}),
                json!({}),
                |s| {
                    s.init = true;
                    s.cap_add = vec!["NET_ADMIN".into()];
                    s.cap_drop = vec!["MKNOD".into()];
                    s.devices = vec![
                        DeviceSpec {
                            host_path: "/dev/null".into(),
                            container_path: "/dev/null".into(),
                            permissions: "rwm".into(),
                        },
                        DeviceSpec {
                            host_path: "/dev/zero".into(),
                            container_path: "/dev/z".into(),
                            permissions: "rw".into(),
                        },
                    ];
                    s.shm_size_mib = Some(64);
                    s.tmpfs = vec![TmpfsSpec {
                        container_path: "/run".into(),
                        size_mib: 16,
                        options: vec!["noexec".into()],
                    }];
                    s.max_swap_mib = Some(0);
                    s.swappiness = Some(10);
                },
            ),
            (
                "maxSwap alone gets ECS's default swappiness; swappiness alone is ignored as in ECS",
                json!({"linuxParameters": {"maxSwap": 512}}),
                json!({}),
                json!({}),
                |s| {
                    s.max_swap_mib = Some(512);
                    s.swappiness = Some(60);
                },
            ),
            (
                "swappiness without maxSwap",
                json!({"linuxParameters": {"swappiness": 10}}),
                json!({}),
                json!({}),
                |_| {},
            ),
            (
                "docker labels, with the ECS labels winning",
                json!({"dockerLabels": {"team": "a", "com.amazonaws.ecs.cluster": "spoofed"}}),
                json!({}),
                json!({}),
                |s| {
                    s.labels.insert("team".into(), "a".into());
                },
            ),
            (
                "health check with ECS defaults",
                json!({"healthCheck": {"command": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"]}}),
                json!({}),
                json!({}),
                |s| {
                    s.health_check = Some(HealthCheckSpec {
                        test: vec![
                            "CMD".into(),
                            "/berth-demo".into(),
                            "check".into(),
                            "http://127.0.0.1:8080/health".into(),
                        ],
                        interval: Duration::from_secs(30),
                        timeout: Duration::from_secs(5),
                        retries: 3,
                        start_period: Duration::ZERO,
                    })
                },
            ),
            (
                "health check timings",
                json!({"healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1, "startPeriod": 10}}),
                json!({}),
                json!({}),
                |s| {
                    s.health_check = Some(HealthCheckSpec {
                        test: vec!["CMD-SHELL".into(), "true".into()],
                        interval: Duration::from_secs(5),
                        timeout: Duration::from_secs(2),
                        retries: 1,
                        start_period: Duration::from_secs(10),
                    })
                },
            ),
            (
                "stop timeout",
                json!({"stopTimeout": 5}),
                json!({}),
                json!({}),
                |s| s.stop_timeout = Some(Duration::from_secs(5)),
            ),
            (
                "json-file logging with options",
                json!({"logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}}}),
                json!({}),
                json!({}),
                |s| {
                    s.log = Some(LogSpec {
                        driver: "json-file".into(),
                        options: BTreeMap::from([("max-size".into(), "10m".into())]),
                    })
                },
            ),
            (
                "awslogs: the container logs to local files, the agent ships them",
                json!({"logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web", "awslogs-stream-prefix": "app", "mode": "blocking"}}}),
                json!({}),
                json!({}),
                |s| {
                    s.log = Some(LogSpec {
                        driver: "local".into(),
                        options: BTreeMap::from([("compress".into(), "false".into())]),
                    });
                    s.awslogs = Some(crate::awslogs::AwslogsConfig {
                        group: "/ecs/web".into(),
                        region: "us-east-1".into(),
                        stream_prefix: Some("app".into()),
                        create_group: false,
                        multiline: None,
                        mode: crate::awslogs::Mode::Blocking,
                        max_buffer_bytes: crate::awslogs::options::DEFAULT_MAX_BUFFER_BYTES,
                    });
                },
            ),
            (
                "system controls, security options, pid and ipc modes, interactive, tty",
                json!({"systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
                       "dockerSecurityOptions": ["no-new-privileges"], "interactive": true, "pseudoTerminal": true}),
                json!({"pidMode": "host", "ipcMode": "none"}),
                json!({}),
                |s| {
                    s.sysctls = BTreeMap::from([("net.core.somaxconn".into(), "1024".into())]);
                    s.security_opts = vec!["no-new-privileges".into()];
                    s.pid_mode = Some("host".into());
                    s.ipc_mode = Some("none".into());
                    s.interactive = true;
                    s.pseudo_terminal = true;
                },
            ),
            (
                "the defaults ECS fills in at registration change nothing",
                json!({"cpu": 0, "essential": true, "environment": [], "mountPoints": [], "volumesFrom": [],
                       "systemControls": [], "portMappings": [], "secrets": [], "resourceRequirements": []}),
                json!({"volumes": [], "inferenceAccelerators": [], "taskRoleArn": "arn:aws:iam::000000000000:role/app"}),
                json!({}),
                |_| {},
            ),
        ];
        for (description, container, task_patch, overrides, expect) in cases {
            let mut expected = baseline();
            expect(&mut expected);
            let specs = specs(&task(container, task_patch, overrides))
                .unwrap_or_else(|e| panic!("{description}: {e}"));
            assert_eq!(specs[0], expected, "{description}");
        }
    }

    #[test]
    fn specs_come_in_definition_order_with_unique_engine_names() {
        let task = task(
            json!({}),
            json!({"family": "my app", "containerDefinitions": [{"name": "side_car", "image": "x", "memory": 6}]}),
            json!({}),
        );
        let names: Vec<String> = specs(&task).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "ecs-my-app-3-web-0123456789abcdef0123456789abcdef",
                "ecs-my-app-3-side_car-0123456789abcdef0123456789abcdef",
            ]
        );
        assert_eq!(sanitise_name("-x/y"), "ecs-x-y");
    }

    #[test]
    fn refusals_read_like_ecs_reasons() {
        let cases: Vec<(Value, Value, Value, &str)> = vec![
            (
                json!({}),
                json!({"networkMode": "awsvpc"}),
                json!({}),
                "CannotCreateContainerError: networkMode awsvpc is not supported by Berth yet; use bridge or host",
            ),
            (
                json!({"secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}]}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': secrets are not supported by Berth yet",
            ),
            (
                json!({"repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:x"}}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': repositoryCredentials (private registry authentication) are not supported by Berth yet",
            ),
            (
                json!({"environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::bucket/app.env"}]}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': environmentFiles from S3 are not supported (arn:aws:s3:::bucket/app.env); use an absolute host path or a file:// URL",
            ),
            (
                json!({"environmentFiles": [{"type": "s3", "value": "app.env"}]}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': environment file 'app.env' is neither an absolute host path nor a file:// URL",
            ),
            (
                json!({"environmentFiles": [{"type": "s3", "value": "/etc/unreadable.env"}]}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': failed to read environment file /etc/unreadable.env: permission denied",
            ),
            (
                json!({"environmentFiles": [{"type": "s3", "value": "/etc/never-read.env"}]}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': environment file /etc/never-read.env was not read",
            ),
            (
                json!({"firelensConfiguration": {"type": "fluentbit"}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': firelensConfiguration is not supported by Berth",
            ),
            (
                json!({"resourceRequirements": [{"type": "GPU", "value": "1"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': resourceRequirements of type GPU are not supported by Berth",
            ),
            (
                json!({}),
                json!({}),
                json!({"containerOverrides": [{"name": "web", "resourceRequirements": [{"type": "GPU", "value": "1"}]}]}),
                "CannotCreateContainerError: container 'web': resourceRequirements of type GPU are not supported by Berth",
            ),
            (
                json!({"credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::b/c"]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': credentialSpecs (Active Directory gMSA) are not supported by Berth",
            ),
            (
                json!({"logConfiguration": {"logDriver": "splunk", "options": {"splunk-url": "u"}}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': log driver 'splunk' is not supported by Berth yet; use json-file or awslogs, or leave logConfiguration out",
            ),
            (
                json!({"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-stream-prefix": "p"}}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: Error response from daemon: must specify a value for log opt 'awslogs-group'",
            ),
            (
                json!({"logConfiguration": {"logDriver": "json-file", "secretOptions": [{"name": "k", "valueFrom": "v"}]}}),
                json!({}),
                json!({}),
                "ResourceInitializationError: container 'web': logConfiguration.secretOptions are not supported by Berth yet",
            ),
            (
                json!({"dockerSecurityOptions": ["credentialspec:file://x.json"]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': dockerSecurityOptions 'credentialspec:file://x.json' (Windows credential specs) are not supported by Berth",
            ),
            (
                json!({}),
                json!({"volumes": [{"name": "fs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}),
                json!({}),
                "ResourceInitializationError: volume 'fs': EFS volumes are not supported by Berth",
            ),
            (
                json!({}),
                json!({"volumes": [{"name": "win", "fsxWindowsFileServerVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/", "authorizationConfig": {"credentialsParameter": "p", "domain": "d"}}}]}),
                json!({}),
                "ResourceInitializationError: volume 'win': FSx for Windows File Server volumes are not supported by Berth",
            ),
            (
                json!({}),
                json!({"volumes": [{"name": "ebs", "configuredAtLaunch": true}]}),
                json!({}),
                "ResourceInitializationError: volume 'ebs': volumes configured at launch (Amazon EBS) are not supported by Berth",
            ),
            (
                json!({}),
                json!({"proxyConfiguration": {"containerName": "envoy"}}),
                json!({}),
                "CannotCreateContainerError: proxyConfiguration (App Mesh) is not supported by Berth",
            ),
            (
                json!({}),
                json!({"inferenceAccelerators": [{"deviceName": "d", "deviceType": "eia2.medium"}]}),
                json!({}),
                "CannotCreateContainerError: inferenceAccelerators are not supported by Berth",
            ),
            (
                json!({}),
                json!({"pidMode": "task"}),
                json!({}),
                "CannotCreateContainerError: pidMode task is not supported by Berth yet; use host or leave it out",
            ),
            (
                json!({}),
                json!({"ipcMode": "task"}),
                json!({}),
                "CannotCreateContainerError: ipcMode task is not supported by Berth yet; use host or leave it out",
            ),
            (
                json!({}),
                json!({"networkMode": "nat"}),
                json!({}),
                "CannotCreateContainerError: networkMode 'nat' is not one of bridge, host, awsvpc or none",
            ),
            (
                json!({}),
                json!({}),
                json!({"containerOverrides": [{"name": "ghost", "command": ["x"]}]}),
                "CannotCreateContainerError: the override for container 'ghost' names no container of the task definition",
            ),
            (
                json!({}),
                json!({}),
                json!({"cpu": "lots"}),
                "CannotCreateContainerError: Invalid 'cpu' setting for task. The value 'lots' is not a number of CPU units or vCPUs.",
            ),
            (
                json!({"memory": 64, "memoryReservation": 128}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': memoryReservation (128 MiB) must not exceed memory (64 MiB)",
            ),
            (
                json!({"image": null}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': no image",
            ),
            (
                json!({"portMappings": [{"containerPort": 80}]}),
                json!({"networkMode": "none"}),
                json!({}),
                "CannotCreateContainerError: container 'web': port mappings are not supported when networkMode=none",
            ),
            (
                json!({"portMappings": [{"containerPort": 80, "hostPort": 8080}]}),
                json!({"networkMode": "host"}),
                json!({}),
                "CannotCreateContainerError: container 'web': when networkMode=host, the host ports and container ports in port mappings must match",
            ),
            (
                json!({"portMappings": [{"containerPort": 80, "protocol": "sctp"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': port mapping protocol 'sctp' is neither tcp nor udp",
            ),
            (
                json!({"portMappings": [{"containerPort": 70000}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': port 70000 is not between 1 and 65535",
            ),
            (
                json!({"portMappings": [{"containerPortRange": "9010-9000"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': containerPortRange '9010-9000' is not a range like 8000-8010",
            ),
            (
                json!({"portMappings": [{}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': a port mapping needs a containerPort or a containerPortRange",
            ),
            (
                json!({"disableNetworking": true, "portMappings": [{"containerPort": 80}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': disableNetworking cannot be combined with portMappings or links",
            ),
            (
                json!({"mountPoints": [{"sourceVolume": "nope", "containerPath": "/x"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': mount point source volume 'nope' is not a volume of the task definition",
            ),
            (
                json!({"mountPoints": [{"sourceVolume": "v"}]}),
                json!({"volumes": [{"name": "v"}]}),
                json!({}),
                "CannotCreateContainerError: container 'web': the mount point of volume 'v' has no containerPath",
            ),
            (
                json!({}),
                json!({"volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "global"}}]}),
                json!({}),
                "CannotCreateContainerError: volume 'v': scope 'global' is neither task nor shared",
            ),
            (
                json!({"volumesFrom": [{"sourceContainer": "web"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': volumesFrom source container 'web' is not another container of the task",
            ),
            (
                json!({"links": ["db"]}),
                json!({"networkMode": "host", "containerDefinitions": [{"name": "db", "image": "x", "memory": 6}]}),
                json!({}),
                "CannotCreateContainerError: container 'web': links are not supported when networkMode=host",
            ),
            (
                json!({"links": ["ghost:g"]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': link 'ghost:g' does not name another container of the task",
            ),
            (
                json!({"healthCheck": {"command": ["true"]}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': the healthCheck command must start with CMD, CMD-SHELL or NONE",
            ),
            (
                json!({"stopTimeout": -1}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': stopTimeout -1 is negative",
            ),
            (
                json!({"memory": null, "memoryReservation": 64, "linuxParameters": {"maxSwap": 100}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': maxSwap needs a memory limit (the container's memory or the task's)",
            ),
            (
                json!({"linuxParameters": {"devices": [{"hostPath": "/dev/null", "permissions": ["exec"]}]}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': device permission 'exec' is not read, write or mknod",
            ),
            (
                json!({"linuxParameters": {"tmpfs": [{"containerPath": "/run", "size": 0}]}}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': tmpfs mount /run needs a size",
            ),
            (
                json!({"ulimits": [{"name": "nofile", "softLimit": 1}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': a ulimit needs a name, a softLimit and a hardLimit",
            ),
            (
                json!({"extraHosts": [{"hostname": "x"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': an extraHosts entry needs a hostname and an ipAddress",
            ),
            (
                json!({"environment": [{"value": "v"}]}),
                json!({}),
                json!({}),
                "CannotCreateContainerError: container 'web': an environment variable has no name",
            ),
        ];
        for (container, task_patch, overrides, expected) in cases {
            let error = specs(&task(container.clone(), task_patch.clone(), overrides))
                .expect_err(&format!("{container} {task_patch} should be refused"));
            assert_eq!(error.reason(), expected);
        }
    }

    #[test]
    fn environment_file_paths_lists_what_to_read() {
        let task = task(
            json!({"environmentFiles": [{"type": "s3", "value": "file:///etc/app.env"}, {"type": "s3", "value": "/etc/b.env"}]}),
            json!({"containerDefinitions": [{"name": "db", "image": "x", "memory": 6,
                                             "environmentFiles": [{"type": "s3", "value": "/etc/app.env"}]},
                                            {"name": "other", "image": "x", "memory": 6,
                                             "environmentFiles": [{"type": "s3", "value": "/etc/replaced.env"}]}]}),
            json!({"containerOverrides": [{"name": "other", "environmentFiles": [{"type": "s3", "value": "/etc/c.env"}]}]}),
        );
        assert_eq!(
            environment_file_paths(&task).unwrap(),
            ["/etc/app.env", "/etc/b.env", "/etc/c.env"]
        );
        let s3 = self::task(
            json!({"environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::bucket/app.env"}]}),
            json!({}),
            json!({}),
        );
        assert!(matches!(
            environment_file_paths(&s3),
            Err(SpecError::ResourceInitialization(_))
        ));
    }

    #[test]
    fn without_a_metadata_endpoint_only_the_execution_env_is_set() {
        let files = BTreeMap::new();
        let token = |_: &str| -> String { unreachable!("no endpoint, no token") };
        let scratch = |v: &str| v.to_string();
        let ctx = SpecContext {
            instance_id: "i-1",
            cluster: "c",
            name_prefix: "berth",
            metadata_endpoint: None,
            metadata_token: &token,
            scratch_path: &scratch,
            environment_files: &files,
            region: "us-east-1",
        };
        let specs = container_specs(&task(json!({}), json!({}), json!({})), &ctx).unwrap();
        assert_eq!(
            specs[0].env,
            [("AWS_EXECUTION_ENV".to_string(), "AWS_ECS_EC2".to_string())]
        );
        assert_eq!(
            specs[0].name,
            "berth-app-3-web-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(task_id(TASK_ARN), "0123456789abcdef0123456789abcdef");
    }
}
