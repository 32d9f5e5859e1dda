//! RegisterTaskDefinition as ECS does it: the checks ECS applies beyond the model (with ECS's
//! exception names), the defaults it fills in, the normalised task size, and the computed
//! `compatibilities` and `requiresAttributes`.

use std::collections::BTreeSet;

use berth_ecs_wire::{
    Attribute, ContainerDefinition, HealthCheck, PortMapping, RegisterTaskDefinitionRequest, Tag,
    TaskDefinition, Volume,
};

use crate::arn::{Partition, is_resource_name};
use crate::error::{EcsError, client, invalid};
use crate::status::TaskDefinitionStatus;
use crate::tags::check_user_tags;

/// A registration that passed every check, waiting for its revision number.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub definition: TaskDefinition,
    pub tags: Vec<Tag>,
}

impl Prepared {
    pub fn family(&self) -> &str {
        self.definition.family.as_deref().unwrap_or_default()
    }

    /// The stored task definition for `revision`, registered at `now` (epoch seconds) by
    /// `registered_by`.
    pub fn finish(
        &self,
        partition: &Partition,
        revision: i32,
        now: f64,
        registered_by: &str,
    ) -> TaskDefinition {
        let mut definition = self.definition.clone();
        definition.task_definition_arn =
            Some(partition.task_definition_arn(self.family(), revision));
        definition.revision = Some(revision);
        definition.status = Some(TaskDefinitionStatus::Active.as_str().into());
        definition.registered_at = Some(now);
        definition.registered_by = Some(registered_by.to_string());
        definition
    }
}

/// Validates a RegisterTaskDefinition request (already checked against the model) and returns
/// the task definition ECS would store, minus revision-specific fields.
pub fn prepare(request: RegisterTaskDefinitionRequest) -> Result<Prepared, EcsError> {
    let family = request.family.clone().unwrap_or_default();
    if !is_resource_name(&family) {
        return Err(client(
            "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
        ));
    }
    let tags = request.tags.clone().unwrap_or_default();
    check_user_tags(&tags)?;

    let network_mode = request.network_mode.as_deref().unwrap_or("bridge");
    let compat_required: Vec<String> = request.requires_compatibilities.clone().unwrap_or_default();
    let fargate = compat_required.iter().any(|c| c == "FARGATE");
    let cpu = request.cpu.as_deref().map(parse_task_cpu).transpose()?;
    let memory = request
        .memory
        .as_deref()
        .map(parse_task_memory)
        .transpose()?;

    let mut containers = request.container_definitions.clone().unwrap_or_default();
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    let names = check_container_names(&containers)?;
    let volume_names: BTreeSet<String> = request
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.name.clone())
        .collect();
    if volume_names.len() != request.volumes.as_ref().map_or(0, Vec::len) {
        return Err(client("Volume names must be unique and non-empty."));
    }
    for container in &mut containers {
        check_container(container, network_mode, memory, &names, &volume_names)?;
    }
    check_dependencies(&containers)?;
    if !containers.iter().any(|c| c.essential != Some(false)) {
        return Err(client(
            "Task definition must contain at least one essential container.",
        ));
    }
    for container in &mut containers {
        fill_container_defaults(container, network_mode);
    }

    if let Some(cpu) = cpu
        && !fargate
        && !(128..=196_608).contains(&cpu)
    {
        return Err(client(format!(
            "Invalid 'cpu' setting for task. The 'cpu' value must be between 128 and 196608 CPU units, but was {cpu}."
        )));
    }
    if let Some(memory) = memory {
        for container in &containers {
            if container.memory.is_some_and(|m| i64::from(m) > memory) {
                return Err(client(format!(
                    "Invalid 'memory' setting for container '{}'. The container memory must be less than or equal to the task memory ({memory} MiB).",
                    container.name.as_deref().unwrap_or_default()
                )));
            }
        }
    }
    let fargate_compatible =
        fargate_incompatibility(&request, network_mode, cpu, memory, &containers);
    if let (true, Err(reason)) = (fargate, &fargate_compatible) {
        return Err(client(reason.clone()));
    }
    if compat_required.iter().any(|c| c == "EXTERNAL") && network_mode == "awsvpc" {
        return Err(client(
            "External launch type does not support network mode 'awsvpc'.",
        ));
    }

    let mut compatibilities = Vec::new();
    if network_mode != "awsvpc" {
        compatibilities.push("EXTERNAL".to_string());
    }
    compatibilities.push("EC2".to_string());
    if fargate_compatible.is_ok() {
        compatibilities.push("FARGATE".to_string());
    }
    if !compatibilities.iter().any(|c| compat_required.contains(c)) && !compat_required.is_empty() {
        return Err(client(
            "Task definition does not support the requested compatibilities.",
        ));
    }

    let definition = TaskDefinition {
        family: Some(family),
        task_role_arn: request.task_role_arn.clone(),
        execution_role_arn: request.execution_role_arn.clone(),
        network_mode: request.network_mode.clone(),
        requires_attributes: Some(required_attributes(&request, network_mode, &containers)),
        container_definitions: Some(containers),
        volumes: Some(volumes_with_defaults(
            request.volumes.clone().unwrap_or_default(),
        )),
        placement_constraints: Some(request.placement_constraints.clone().unwrap_or_default()),
        compatibilities: Some(compatibilities),
        runtime_platform: request.runtime_platform.clone(),
        requires_compatibilities: request.requires_compatibilities.clone(),
        cpu: cpu.map(|c| c.to_string()),
        memory: memory.map(|m| m.to_string()),
        inference_accelerators: request.inference_accelerators.clone(),
        pid_mode: request.pid_mode.clone(),
        ipc_mode: request.ipc_mode.clone(),
        proxy_configuration: request.proxy_configuration.clone(),
        ephemeral_storage: request.ephemeral_storage.clone(),
        enable_fault_injection: request.enable_fault_injection,
        ..TaskDefinition::default()
    };
    Ok(Prepared { definition, tags })
}

/// Task cpu: CPU units (`"1024"`) or vCPUs (`"1 vCPU"`, `"0.5 vcpu"`), normalised to units.
pub fn parse_task_cpu(value: &str) -> Result<i64, EcsError> {
    parse_size(value, &["vcpu"], 1024).ok_or_else(|| {
        client(format!(
            "Invalid 'cpu' setting for task. The value '{value}' is not a number of CPU units or vCPUs."
        ))
    })
}

/// Task memory: MiB (`"2048"`) or GB (`"2GB"`, `"0.5 gb"`), normalised to MiB.
pub fn parse_task_memory(value: &str) -> Result<i64, EcsError> {
    parse_size(value, &["gb"], 1024).ok_or_else(|| {
        client(format!(
            "Invalid 'memory' setting for task. The value '{value}' is not a number of MiB or GB."
        ))
    })
}

fn parse_size(value: &str, units: &[&str], unit_size: i64) -> Option<i64> {
    let lowered = value.trim().to_ascii_lowercase();
    for unit in units {
        if let Some(number) = lowered.strip_suffix(unit) {
            let amount: f64 = number.trim().parse().ok()?;
            let scaled = amount * unit_size as f64;
            return (amount > 0.0 && scaled.fract() == 0.0).then_some(scaled as i64);
        }
    }
    lowered.parse::<i64>().ok().filter(|n| *n > 0)
}

/// Fargate's valid task sizes: for each cpu, the memory values it accepts, in MiB.
pub fn fargate_memory_options(cpu: i64) -> Vec<i64> {
    let gib = |range: std::ops::RangeInclusive<i64>, step: usize| -> Vec<i64> {
        range.step_by(step).map(|g| g * 1024).collect()
    };
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1..=4, 1),
        1024 => gib(2..=8, 1),
        2048 => gib(4..=16, 1),
        4096 => gib(8..=30, 1),
        8192 => gib(16..=60, 4),
        16384 => gib(32..=120, 8),
        _ => Vec::new(),
    }
}

/// Why the definition cannot run on Fargate, with ECS's message, or `Ok` when it can.
fn fargate_incompatibility(
    request: &RegisterTaskDefinitionRequest,
    network_mode: &str,
    cpu: Option<i64>,
    memory: Option<i64>,
    containers: &[ContainerDefinition],
) -> Result<(), String> {
    if network_mode != "awsvpc" {
        // ECS quotes the mode with typographic quotes.
        return Err("Fargate only supports network mode \u{2018}awsvpc\u{2019}.".into());
    }
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err("Fargate requires task definition to have 'cpu' and 'memory' defined at the task level.".into());
    };
    if fargate_memory_options(cpu).is_empty() {
        return Err(
            "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
                .into(),
        );
    }
    if !fargate_memory_options(cpu).contains(&memory) {
        return Err(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        ));
    }
    if request
        .placement_constraints
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return Err("Fargate does not support placement constraints.".into());
    }
    if request.ipc_mode.is_some() {
        return Err("Tasks using the Fargate launch type do not support ipcMode.".into());
    }
    if let Some(mode) = request.pid_mode.as_deref().filter(|mode| *mode != "task") {
        return Err(format!(
            "Tasks using the Fargate launch type do not support pidMode '{mode}'. The supported value for pidMode is 'task'."
        ));
    }
    if request.volumes.iter().flatten().any(|v| {
        v.host.as_ref().is_some_and(|h| h.source_path.is_some())
            || v.docker_volume_configuration.is_some()
    }) {
        return Err(
            "Fargate does not support host volumes with a 'sourcePath' or Docker volumes.".into(),
        );
    }
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        let unsupported = [
            (container.privileged == Some(true), "privileged"),
            (
                container.links.as_ref().is_some_and(|l| !l.is_empty()),
                "links",
            ),
            (container.hostname.is_some(), "hostname"),
            (
                container
                    .docker_security_options
                    .as_ref()
                    .is_some_and(|o| !o.is_empty()),
                "dockerSecurityOptions",
            ),
            (
                container
                    .linux_parameters
                    .as_ref()
                    .is_some_and(|p| p.devices.as_ref().is_some_and(|d| !d.is_empty())),
                "linuxParameters.devices",
            ),
        ];
        if let Some((_, parameter)) = unsupported.iter().find(|(used, _)| *used) {
            return Err(format!(
                "Invalid setting for container '{name}'. Fargate does not support the '{parameter}' parameter."
            ));
        }
    }
    Ok(())
}

fn check_container_names(containers: &[ContainerDefinition]) -> Result<BTreeSet<String>, EcsError> {
    let mut names = BTreeSet::new();
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Container.name should not be null or empty."));
        }
        if !is_resource_name(name) {
            return Err(client(format!(
                "Container name '{name}' is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
            )));
        }
        if !names.insert(name.to_string()) {
            return Err(client(format!("Duplicate container name found: {name}.")));
        }
    }
    Ok(names)
}

fn check_container(
    container: &ContainerDefinition,
    network_mode: &str,
    task_memory: Option<i64>,
    names: &BTreeSet<String>,
    volumes: &BTreeSet<String>,
) -> Result<(), EcsError> {
    let name = container.name.as_deref().unwrap_or_default();
    if container
        .image
        .as_deref()
        .is_none_or(|image| image.trim().is_empty())
    {
        return Err(client("Container.image should not be null or empty."));
    }
    let setting =
        |message: String| client(format!("Invalid setting for container '{name}'. {message}"));
    if task_memory.is_none() && container.memory.is_none() && container.memory_reservation.is_none()
    {
        return Err(setting(
            "At least one of 'memory' or 'memoryReservation' must be specified.".into(),
        ));
    }
    for (field, value) in [
        ("memory", container.memory),
        ("memoryReservation", container.memory_reservation),
    ] {
        if value.is_some_and(|v| v < 6) {
            return Err(client(format!(
                "Invalid '{field}' setting for container '{name}'. The value must be at least 6 MiB."
            )));
        }
    }
    if let (Some(hard), Some(soft)) = (container.memory, container.memory_reservation)
        && soft > hard
    {
        return Err(setting(
            "'memoryReservation' must be less than or equal to 'memory'.".into(),
        ));
    }
    if container.cpu.is_some_and(|cpu| cpu < 0) {
        return Err(setting("'cpu' must not be negative.".into()));
    }
    for mapping in container.port_mappings.iter().flatten() {
        check_port_mapping(mapping, network_mode, name)?;
    }
    if network_mode != "bridge" && container.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(setting(format!(
            "'links' are not supported when networkMode={network_mode}."
        )));
    }
    for link in container.links.iter().flatten() {
        let target = link.split(':').next().unwrap_or_default();
        if !names.contains(target) || target == name {
            return Err(setting(format!(
                "Link '{link}' does not name another container in the task definition."
            )));
        }
    }
    for mount in container.mount_points.iter().flatten() {
        let source = mount.source_volume.as_deref().unwrap_or_default();
        if !volumes.contains(source) {
            return Err(setting(format!(
                "Unknown volume '{source}' in 'mountPoints'."
            )));
        }
        if mount.container_path.as_deref().is_none_or(str::is_empty) {
            return Err(setting(
                "'containerPath' is required in 'mountPoints'.".into(),
            ));
        }
    }
    for from in container.volumes_from.iter().flatten() {
        let source = from.source_container.as_deref().unwrap_or_default();
        if !names.contains(source) || source == name {
            return Err(setting(format!(
                "'volumesFrom' source container '{source}' is not another container in the task definition."
            )));
        }
    }
    if let Some(check) = &container.health_check {
        check_health_check(check, name)?;
    }
    if let Some(policy) = &container.restart_policy {
        if policy
            .restart_attempt_period
            .is_some_and(|p| !(60..=1800).contains(&p))
        {
            return Err(setting(
                "'restartPolicy.restartAttemptPeriod' must be between 60 and 1800 seconds.".into(),
            ));
        }
        if policy
            .ignored_exit_codes
            .as_ref()
            .is_some_and(|codes| codes.len() > 50)
        {
            return Err(setting(
                "'restartPolicy.ignoredExitCodes' can list at most 50 exit codes.".into(),
            ));
        }
    }
    Ok(())
}

fn check_port_mapping(
    mapping: &PortMapping,
    network_mode: &str,
    container: &str,
) -> Result<(), EcsError> {
    if network_mode == "none" {
        return Err(client(format!(
            "Invalid setting for container '{container}'. Port mappings are not supported when networkMode=none."
        )));
    }
    let Some(container_port) = mapping.container_port else {
        if mapping.container_port_range.is_some() {
            return Ok(());
        }
        return Err(client(format!(
            "Invalid setting for container '{container}'. A port mapping needs a 'containerPort' or a 'containerPortRange'."
        )));
    };
    if !(1..=65535).contains(&container_port) {
        return Err(client(format!(
            "Invalid 'containerPort' setting for container '{container}'. Ports must be between 1 and 65535."
        )));
    }
    if (network_mode == "host" || network_mode == "awsvpc")
        && mapping.host_port.is_some_and(|host| host != container_port)
    {
        return Err(invalid(format!(
            "When networkMode={network_mode}, the host ports and container ports in port mappings must match."
        )));
    }
    Ok(())
}

fn check_health_check(check: &HealthCheck, container: &str) -> Result<(), EcsError> {
    let command = check.command.as_deref().unwrap_or_default();
    if !matches!(
        command.first().map(String::as_str),
        Some("CMD" | "CMD-SHELL" | "NONE")
    ) {
        return Err(client(format!(
            "Invalid 'healthCheck' setting for container '{container}'. The command must start with CMD, CMD-SHELL or NONE."
        )));
    }
    let bounds = [
        ("interval", check.interval, 5, 300),
        ("timeout", check.timeout, 2, 60),
        ("retries", check.retries, 1, 10),
        ("startPeriod", check.start_period, 0, 300),
    ];
    for (field, value, min, max) in bounds {
        if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
            return Err(client(format!(
                "Invalid 'healthCheck' setting for container '{container}'. '{field}' must be between {min} and {max}, but was {value}."
            )));
        }
    }
    Ok(())
}

fn check_dependencies(containers: &[ContainerDefinition]) -> Result<(), EcsError> {
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        for dependency in container.depends_on.iter().flatten() {
            let target_name = dependency.container_name.as_deref().unwrap_or_default();
            let condition = dependency.condition.as_deref().unwrap_or_default();
            let Some(target) = containers
                .iter()
                .find(|c| c.name.as_deref() == Some(target_name))
            else {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. Container '{target_name}' does not exist in the task definition."
                )));
            };
            if target_name == name {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. A container cannot depend on itself."
                )));
            }
            if matches!(condition, "COMPLETE" | "SUCCESS") && target.essential != Some(false) {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. The {condition} condition cannot be set on an essential container ('{target_name}')."
                )));
            }
            if condition == "HEALTHY" && target.health_check.is_none() {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. The HEALTHY condition needs a health check on container '{target_name}'."
                )));
            }
        }
    }
    // A cycle would leave every container in it waiting for ever.
    let mut state = std::collections::BTreeMap::<&str, u8>::new();
    fn visit<'a>(
        name: &'a str,
        containers: &'a [ContainerDefinition],
        state: &mut std::collections::BTreeMap<&'a str, u8>,
    ) -> bool {
        match state.get(name) {
            Some(1) => return false,
            Some(2) => return true,
            _ => {}
        }
        state.insert(name, 1);
        let deps = containers
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
            .and_then(|c| c.depends_on.as_ref());
        for dependency in deps.into_iter().flatten() {
            if !visit(
                dependency.container_name.as_deref().unwrap_or_default(),
                containers,
                state,
            ) {
                return false;
            }
        }
        state.insert(name, 2);
        true
    }
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        if !visit(name, containers, &mut state) {
            return Err(client(format!(
                "Invalid 'dependsOn' setting for container '{name}'. Container dependencies must not form a cycle."
            )));
        }
    }
    Ok(())
}

/// The defaults ECS shows in a described container definition.
fn fill_container_defaults(container: &mut ContainerDefinition, network_mode: &str) {
    container.cpu.get_or_insert(0);
    container.essential.get_or_insert(true);
    container.environment.get_or_insert_with(Vec::new);
    container.mount_points.get_or_insert_with(Vec::new);
    container.volumes_from.get_or_insert_with(Vec::new);
    container.system_controls.get_or_insert_with(Vec::new);
    for mapping in container.port_mappings.get_or_insert_with(Vec::new) {
        mapping.protocol.get_or_insert_with(|| "tcp".into());
        if let Some(port) = mapping.container_port
            && (network_mode == "host" || network_mode == "awsvpc")
        {
            mapping.host_port.get_or_insert(port);
        }
    }
    if let Some(check) = &mut container.health_check {
        check.interval.get_or_insert(30);
        check.timeout.get_or_insert(5);
        check.retries.get_or_insert(3);
    }
}

/// The volumes with what ECS fills in: an EFS volume's `rootDirectory` is `/` and its
/// `transitEncryption` `DISABLED` unless given (the API reference's EFSVolumeConfiguration).
fn volumes_with_defaults(mut volumes: Vec<Volume>) -> Vec<Volume> {
    for efs in volumes
        .iter_mut()
        .filter_map(|v| v.efs_volume_configuration.as_mut())
    {
        efs.root_directory.get_or_insert_with(|| "/".into());
        efs.transit_encryption
            .get_or_insert_with(|| "DISABLED".into());
    }
    volumes
}

/// The container instance attributes a task definition needs, as ECS derives them from the
/// features it uses (placement filters instances that lack any of them).
fn required_attributes(
    request: &RegisterTaskDefinitionRequest,
    network_mode: &str,
    containers: &[ContainerDefinition],
) -> Vec<Attribute> {
    let mut names: Vec<String> = Vec::new();
    let mut need = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    };
    let execution_role = request.execution_role_arn.is_some();
    for container in containers {
        if let Some(driver) = container
            .log_configuration
            .as_ref()
            .and_then(|l| l.log_driver.as_deref())
        {
            need(&format!(
                "com.amazonaws.ecs.capability.logging-driver.{driver}"
            ));
            if driver == "awslogs" {
                need("com.amazonaws.ecs.capability.docker-remote-api.1.19");
                if execution_role {
                    need("ecs.capability.execution-role-awslogs");
                }
            }
        }
        // Secrets handed to the log driver are fetched by the agent at bootstrap.
        for secret in container
            .log_configuration
            .iter()
            .flat_map(|l| l.secret_options.iter().flatten())
        {
            let source = secret.value_from.as_deref().unwrap_or_default();
            if source.contains(":secretsmanager:") {
                need("ecs.capability.secrets.asm.bootstrap.log-driver");
            } else {
                need("ecs.capability.secrets.ssm.bootstrap.log-driver");
            }
        }
        if let Some(firelens) = &container.firelens_configuration {
            if let Some(router) = firelens.r#type.as_deref() {
                need(&format!("ecs.capability.firelens.{router}"));
            }
            match firelens
                .options
                .as_ref()
                .and_then(|o| o.get("config-file-type"))
                .map(String::as_str)
            {
                Some("s3") => need("ecs.capability.firelens.options.config.s3"),
                Some("file") => need("ecs.capability.firelens.options.config.file"),
                _ => {}
            }
        }
        if container
            .resource_requirements
            .iter()
            .flatten()
            .any(|r| r.r#type.as_deref() == Some("InferenceAccelerator"))
        {
            need("ecs.capability.task-eia");
        }
        if container
            .docker_labels
            .as_ref()
            .is_some_and(|l| !l.is_empty())
        {
            need("com.amazonaws.ecs.capability.docker-remote-api.1.18");
        }
        if container.memory_reservation.is_some() {
            need("com.amazonaws.ecs.capability.docker-remote-api.1.21");
        }
        if container.health_check.is_some() {
            need("ecs.capability.container-health-check");
        }
        if container.depends_on.as_ref().is_some_and(|d| !d.is_empty()) {
            need("ecs.capability.container-ordering");
        }
        if container
            .linux_parameters
            .as_ref()
            .is_some_and(|p| p.init_process_enabled.is_some())
        {
            need("com.amazonaws.ecs.capability.docker-remote-api.1.25");
        }
        if container
            .image
            .as_deref()
            .is_some_and(|image| image.contains(".dkr.ecr."))
        {
            need("com.amazonaws.ecs.capability.ecr-auth");
            if execution_role {
                need("ecs.capability.execution-role-ecr-pull");
            }
        }
        if container.repository_credentials.is_some() {
            need("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager");
        }
        for secret in container.secrets.iter().flatten() {
            let source = secret.value_from.as_deref().unwrap_or_default();
            if source.contains(":secretsmanager:") {
                need("ecs.capability.secrets.asm.environment-variables");
            } else {
                need("ecs.capability.secrets.ssm.environment-variables");
            }
        }
        if container
            .environment_files
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            need("ecs.capability.env-files.s3");
        }
    }
    if request.task_role_arn.is_some() {
        need("com.amazonaws.ecs.capability.task-iam-role");
        if network_mode == "host" {
            need("com.amazonaws.ecs.capability.task-iam-role-network-host");
        }
    }
    if network_mode == "awsvpc" {
        need("ecs.capability.task-eni");
    }
    if request
        .inference_accelerators
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        need("ecs.capability.task-eia");
    }
    for volume in request.volumes.iter().flatten() {
        if let Some(efs) = &volume.efs_volume_configuration {
            need("ecs.capability.efs");
            if efs
                .authorization_config
                .as_ref()
                .and_then(|a| a.iam.as_deref())
                == Some("ENABLED")
            {
                need("ecs.capability.efsAuth");
            }
        }
    }
    names
        .into_iter()
        .map(|name| Attribute {
            name: Some(name),
            ..Attribute::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> RegisterTaskDefinitionRequest {
        serde_json::from_str(json).unwrap()
    }

    fn error_of(json: &str) -> String {
        let err = prepare(request(json)).unwrap_err();
        format!("{}: {}", err.exception_name(), err)
    }

    const WEB: &str = r#"{"name":"web","image":"berth-demo","memory":64}"#;

    #[test]
    fn fills_in_the_defaults_ecs_shows() {
        let prepared = prepare(request(r#"{"family":"web","containerDefinitions":[{"name":"web","image":"berth-demo","memory":64,"portMappings":[{"containerPort":8080}]}]}"#))
        .unwrap();
        let container = &prepared.definition.container_definitions.as_ref().unwrap()[0];
        assert_eq!(container.cpu, Some(0));
        assert_eq!(container.essential, Some(true));
        assert_eq!(
            container.port_mappings.as_ref().unwrap()[0]
                .protocol
                .as_deref(),
            Some("tcp")
        );
        assert_eq!(container.port_mappings.as_ref().unwrap()[0].host_port, None);
        assert_eq!(
            prepared.definition.compatibilities,
            Some(vec!["EXTERNAL".into(), "EC2".into()])
        );
        let finished = prepared.finish(&Partition::new("us-east-1", "000000000000"), 4, 1.5, "me");
        assert_eq!(
            finished.task_definition_arn.as_deref(),
            Some("arn:aws:ecs:us-east-1:000000000000:task-definition/web:4")
        );
    }

    #[test]
    fn fargate_definitions_need_awsvpc_and_a_valid_size() {
        let base = |cpu: &str, memory: &str, mode: &str| {
            format!(
                r#"{{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"{mode}","cpu":"{cpu}","memory":"{memory}","containerDefinitions":[{WEB}]}}"#
            )
        };
        let ok = prepare(request(&base("1 vCPU", "2GB", "awsvpc"))).unwrap();
        assert_eq!(ok.definition.cpu.as_deref(), Some("1024"));
        assert_eq!(ok.definition.memory.as_deref(), Some("2048"));
        assert_eq!(
            ok.definition.compatibilities,
            Some(vec!["EC2".into(), "FARGATE".into()])
        );
        assert_eq!(
            error_of(&base("512", "8192", "awsvpc")),
            "ClientException: No Fargate configuration exists for given values: 512 CPU, 8192 memory. See the Amazon ECS documentation for the valid values."
        );
        assert_eq!(
            error_of(&base("256", "512", "bridge")),
            "ClientException: Fargate only supports network mode \u{2018}awsvpc\u{2019}."
        );
        assert!(
            error_of(&base("300", "512", "awsvpc"))
                .starts_with("ClientException: Invalid 'cpu' setting for task.")
        );
    }

    #[test]
    fn container_rules() {
        let cases = [
            (
                r#"[{"name":"a","image":"i"}]"#,
                "ClientException: Invalid setting for container 'a'. At least one of 'memory' or 'memoryReservation' must be specified.",
            ),
            (
                r#"[{"name":"a","image":"i","memory":64},{"name":"a","image":"i","memory":64}]"#,
                "ClientException: Duplicate container name found: a.",
            ),
            (
                r#"[{"name":"a","image":"i","memory":64,"essential":false}]"#,
                "ClientException: Task definition must contain at least one essential container.",
            ),
            (
                r#"[{"name":"a","image":"","memory":64}]"#,
                "ClientException: Container.image should not be null or empty.",
            ),
            (
                r#"[{"name":"a","image":"i","memory":64,"memoryReservation":128}]"#,
                "ClientException: Invalid setting for container 'a'. 'memoryReservation' must be less than or equal to 'memory'.",
            ),
            (
                r#"[{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"b","condition":"START"}]}]"#,
                "ClientException: Invalid 'dependsOn' setting for container 'a'. Container 'b' does not exist in the task definition.",
            ),
            (
                r#"[{"name":"a","image":"i","memory":64,"healthCheck":{"command":["CMD","true"],"interval":1}}]"#,
                "ClientException: Invalid 'healthCheck' setting for container 'a'. 'interval' must be between 5 and 300, but was 1.",
            ),
        ];
        for (containers, expected) in cases {
            assert_eq!(
                error_of(&format!(
                    r#"{{"family":"x","containerDefinitions":{containers}}}"#
                )),
                expected,
                "{containers}"
            );
        }
    }

    #[test]
    fn host_and_awsvpc_ports_must_match() {
        let json = r#"{"family":"x","networkMode":"host","containerDefinitions":[{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"hostPort":8080}]}]}"#;
        assert_eq!(
            error_of(json),
            "InvalidParameterException: When networkMode=host, the host ports and container ports in port mappings must match."
        );
        let filled = prepare(request(&json.replace(r#","hostPort":8080"#, ""))).unwrap();
        let mapping = &filled.definition.container_definitions.unwrap()[0]
            .port_mappings
            .clone()
            .unwrap()[0];
        assert_eq!(mapping.host_port, Some(80));
    }

    #[test]
    fn required_attributes_follow_the_features_used() {
        let prepared = prepare(request(
            r#"{"family":"x","networkMode":"awsvpc","taskRoleArn":"r","containerDefinitions":[{"name":"a","image":"i","memoryReservation":64,
                "healthCheck":{"command":["CMD","true"]},"logConfiguration":{"logDriver":"awslogs"}}]}"#,
        ))
        .unwrap();
        let names: Vec<String> = prepared
            .definition
            .requires_attributes
            .unwrap()
            .into_iter()
            .filter_map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "com.amazonaws.ecs.capability.logging-driver.awslogs",
                "com.amazonaws.ecs.capability.docker-remote-api.1.19",
                "com.amazonaws.ecs.capability.docker-remote-api.1.21",
                "ecs.capability.container-health-check",
                "com.amazonaws.ecs.capability.task-iam-role",
                "ecs.capability.task-eni",
            ]
        );
    }

    /// What the agent would need to run them, as the ECS agent names its capabilities: log
    /// driver secrets, FireLens routers and their config files, Elastic Inference.
    #[test]
    fn required_attributes_name_log_secrets_firelens_and_inference() {
        let prepared = prepare(request(
            r#"{"family":"x","inferenceAccelerators":[{"deviceName":"d","deviceType":"eia2.medium"}],"containerDefinitions":[
                {"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"splunk","secretOptions":[
                    {"name":"t","valueFrom":"arn:aws:ssm:us-east-1:000000000000:parameter/t"},
                    {"name":"u","valueFrom":"arn:aws:secretsmanager:us-east-1:000000000000:secret:u"}]}},
                {"name":"router","image":"i","memory":64,"firelensConfiguration":{"type":"fluentbit",
                    "options":{"config-file-type":"s3","config-file-value":"arn:aws:s3:::b/f.conf"}}}]}"#,
        ))
        .unwrap();
        let names: Vec<String> = prepared
            .definition
            .requires_attributes
            .unwrap()
            .into_iter()
            .filter_map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "com.amazonaws.ecs.capability.logging-driver.splunk",
                "ecs.capability.secrets.ssm.bootstrap.log-driver",
                "ecs.capability.secrets.asm.bootstrap.log-driver",
                "ecs.capability.firelens.fluentbit",
                "ecs.capability.firelens.options.config.s3",
                "ecs.capability.task-eia",
            ]
        );
    }

    #[test]
    fn efs_volumes_get_the_root_directory_and_transit_encryption_ecs_fills_in() {
        let prepared = prepare(request(&format!(
            r#"{{"family":"x","containerDefinitions":[{WEB}],"volumes":[
                {{"name":"plain","efsVolumeConfiguration":{{"fileSystemId":"fs-1"}}}},
                {{"name":"given","efsVolumeConfiguration":{{"fileSystemId":"fs-1","rootDirectory":"/data","transitEncryption":"ENABLED"}}}},
                {{"name":"scratch"}}]}}"#
        )))
        .unwrap();
        let volumes = prepared.definition.volumes.unwrap();
        let efs = |i: usize| volumes[i].efs_volume_configuration.clone().unwrap();
        assert_eq!(efs(0).root_directory.as_deref(), Some("/"));
        assert_eq!(efs(0).transit_encryption.as_deref(), Some("DISABLED"));
        assert_eq!(efs(1).root_directory.as_deref(), Some("/data"));
        assert_eq!(efs(1).transit_encryption.as_deref(), Some("ENABLED"));
        assert_eq!(volumes[2].efs_volume_configuration, None);
    }

    #[test]
    fn fargate_refusals_use_ecs_words() {
        let base = |extra: &str| {
            format!(
                r#"{{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"512","containerDefinitions":[{WEB}]{extra}}}"#
            )
        };
        assert_eq!(
            error_of(&base(r#","pidMode":"host""#)),
            "ClientException: Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."
        );
        assert_eq!(
            error_of(&base(r#","ipcMode":"none""#)),
            "ClientException: Tasks using the Fargate launch type do not support ipcMode."
        );
        assert!(prepare(request(&base(r#","pidMode":"task""#))).is_ok());
    }

    #[test]
    fn dependency_cycles_are_rejected() {
        let json = r#"{"family":"x","containerDefinitions":[
            {"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"b","condition":"START"}]},
            {"name":"b","image":"i","memory":64,"dependsOn":[{"containerName":"a","condition":"START"}]}]}"#;
        assert!(error_of(json).contains("must not form a cycle"));
    }
}
