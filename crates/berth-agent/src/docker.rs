//! [`ContainerRuntime`] on the Docker Engine API through bollard, using only what API 1.41
//! (Docker 20.10) understands, since that is the oldest engine Berth runs on.
//!
//! Errors keep the daemon's wording (`Error response from daemon: …`, as the Docker CLI prints
//! it) and carry no ECS prefix: the task engine knows which step failed and adds
//! `CannotPullContainerError: ` / `CannotCreateContainerError: ` / `CannotStartContainerError: `.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, DeviceMapping,
    EventMessage, HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig, ImageInspect,
    PortBinding, ResourcesUlimits, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions, StartContainerOptions, StatsOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::future::ready;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::runtime::{
    ContainerEvent, ContainerEventKind, ContainerRuntime, ContainerSpec, ContainerState,
    ContainerStatus, FollowedLog, Health, LogFrame, LogResume, MountSpec, PublishedPort,
    RuntimeError, TASK_ARN_LABEL,
};

mod log_file;
#[cfg(test)]
mod shipping_cost;

const MIB: i64 = 1024 * 1024;

/// The Docker engine on this host.
pub struct DockerRuntime {
    docker: Docker,
    /// Image id → digest: an image id names immutable content, so its digest never changes, and
    /// inspecting a container should not cost a second round trip every time.
    digests: Mutex<HashMap<String, String>>,
    /// The engine's data root, where `local` logs live: asked (`docker info`) once, not for
    /// every container whose log is followed.
    data_root: tokio::sync::OnceCell<String>,
}

impl DockerRuntime {
    /// Connects to the local engine: `DOCKER_HOST` when set, else `/var/run/docker.sock`.
    /// Nothing is sent until the first call.
    pub fn connect() -> Result<Self, RuntimeError> {
        Docker::connect_with_local_defaults()
            .map(Self::new)
            .map_err(|e| RuntimeError::Engine(e.to_string()))
    }

    pub fn new(docker: Docker) -> Self {
        Self {
            docker,
            digests: Mutex::new(HashMap::new()),
            data_root: tokio::sync::OnceCell::new(),
        }
    }

    async fn data_root(&self) -> Option<&str> {
        self.data_root
            .get_or_try_init(|| async {
                let info = self.docker.info().await.map_err(|_| ())?;
                info.docker_root_dir.ok_or(())
            })
            .await
            .ok()
            .map(String::as_str)
    }

    /// The log's file and its format when the container logs to json-file or local and this
    /// process may read it (it runs on the engine's host, with the right to read its data root).
    async fn readable_log_file(&self, id: &str) -> Option<(std::path::PathBuf, log_file::Format)> {
        let inspected = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .ok()?;
        let driver = inspected
            .host_config
            .as_ref()?
            .log_config
            .as_ref()?
            .typ
            .as_deref();
        match driver {
            Some("json-file") => {
                let path = inspected.log_path.filter(|p| !p.is_empty())?;
                Some((path.into(), log_file::Format::JsonFile))
            }
            // The engine does not say where a local log lives; it is under the container's
            // directory in the engine's data root.
            Some("local") => {
                let path = std::path::Path::new(self.data_root().await?)
                    .join("containers")
                    .join(inspected.id?)
                    .join("local-logs/container.log");
                Some((path, log_file::Format::Local))
            }
            _ => None,
        }
    }

    /// The underlying client, for what the trait does not cover.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    async fn image_digest(&self, image_id: &str, reference: Option<&str>) -> Option<String> {
        if let Some(digest) = self.digests.lock().expect("digest cache").get(image_id) {
            return Some(digest.clone());
        }
        let image = self.docker.inspect_image(image_id).await.ok()?;
        let digest = digest_of(&image, reference)?;
        self.digests
            .lock()
            .expect("digest cache")
            .insert(image_id.to_string(), digest.clone());
        Some(digest)
    }

    async fn ensure_volume(&self, mount: &MountSpec) -> Result<(), RuntimeError> {
        match self.docker.inspect_volume(&mount.source).await {
            Ok(_) => return Ok(()),
            Err(e) if status(&e) != Some(404) => return Err(engine(&e)),
            Err(_) => {}
        }
        let Some(create) = &mount.create else {
            return Err(RuntimeError::InvalidSpec(format!(
                "volume {} does not exist and is not autoprovisioned",
                mount.source
            )));
        };
        let request = VolumeCreateRequest {
            name: Some(mount.source.clone()),
            driver: Some(create.driver.clone()),
            driver_opts: Some(create.driver_opts.clone().into_iter().collect()),
            labels: Some(create.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        // Creating a volume that another container of the task just created is not an error:
        // Docker returns the existing one.
        self.docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|e| refused(&e))
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn ensure_image(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        let inspected = match self.docker.inspect_image(image).await {
            Ok(inspected) => inspected,
            Err(e) if status(&e) == Some(404) => {
                let (from_image, tag) = pull_reference(image);
                let mut options = CreateImageOptionsBuilder::new().from_image(from_image);
                if let Some(tag) = tag {
                    options = options.tag(tag);
                }
                self.docker
                    .create_image(Some(options.build()), None, None)
                    .try_for_each(|_| ready(Ok(())))
                    .await
                    .map_err(|e| RuntimeError::ImagePull(daemon_message(&e)))?;
                self.docker
                    .inspect_image(image)
                    .await
                    .map_err(|e| RuntimeError::ImagePull(daemon_message(&e)))?
            }
            Err(e) => return Err(engine(&e)),
        };
        let digest = digest_of(&inspected, Some(image));
        if let (Some(id), Some(digest)) = (&inspected.id, &digest) {
            self.digests
                .lock()
                .expect("digest cache")
                .insert(id.clone(), digest.clone());
        }
        Ok(digest)
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        for mount in spec.mounts.iter().filter(|m| m.volume) {
            self.ensure_volume(mount).await?;
        }
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(options), container_config(spec))
            .await
            .map_err(|e| match status(&e) {
                Some(404) if daemon_message(&e).contains("No such image") => {
                    RuntimeError::ImagePull(daemon_message(&e))
                }
                _ => refused(&e),
            })?;
        for warning in created.warnings {
            tracing::warn!(container = %spec.name, "docker: {warning}");
        }
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| not_found_or(id, &e, refused))
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let seconds = i32::try_from(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0))
            .unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        // The daemon answers only once the container is down, which can take the whole grace
        // period: the request must be allowed to outlive it.
        let client = self
            .docker
            .clone()
            .with_timeout(timeout + Duration::from_secs(60));
        client
            .stop_container(id, Some(options))
            .await
            .map_err(|e| not_found_or(id, &e, engine))
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let inspected = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| not_found_or(id, &e, engine))?;
        let mut status = status_of(&inspected);
        if let Some(image_id) = &inspected.image {
            let reference = inspected.config.as_ref().and_then(|c| c.image.as_deref());
            status.image_digest = Some(
                self.image_digest(image_id, reference)
                    .await
                    .unwrap_or_else(|| image_id.clone()),
            );
        }
        Ok(status)
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            // Someone else is already removing it, which is what we want.
            Err(e)
                if status(&e) == Some(409)
                    && daemon_message(&e).contains("already in progress") =>
            {
                Ok(())
            }
            Err(e) => Err(engine(&e)),
        }
    }

    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let sample = self
            .docker
            .stats(id, Some(options))
            .next()
            .await
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?
            .map_err(|e| not_found_or(id, &e, engine))?;
        serde_json::to_value(sample).map_err(|e| RuntimeError::Engine(e.to_string()))
    }

    async fn supports_task_cgroups(&self) -> bool {
        let info = self.docker.info().await.ok();
        info.and_then(|i| i.cgroup_driver).is_some_and(|driver| {
            matches!(
                driver,
                bollard::models::SystemInfoCgroupDriverEnum::CGROUPFS
            )
        })
    }

    fn containers_outlive_agent(&self) -> bool {
        true
    }

    async fn bridge_gateway(&self) -> Option<String> {
        let network = self
            .docker
            .inspect_network("bridge", None::<InspectNetworkOptions>)
            .await
            .ok()?;
        let configs = network.ipam?.config?;
        // The default bridge often lists only its subnet; its gateway is the subnet's first address.
        configs.iter().find_map(|c| c.gateway.clone()).or_else(|| {
            configs
                .iter()
                .find_map(|c| c.subnet.as_deref().and_then(first_address))
        })
    }

    async fn remove_volumes_labelled(&self, label: &str, value: &str) -> Result<(), RuntimeError> {
        let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let listed = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| engine(&e))?;
        for volume in listed.volumes.into_iter().flatten() {
            if let Err(e) = self
                .docker
                .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                .await
            {
                tracing::warn!(volume = %volume.name, error = %e, "cannot remove a task volume");
            }
        }
        Ok(())
    }

    async fn list_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine(&e))?;
        let mut statuses = Vec::with_capacity(listed.len());
        for id in listed.into_iter().filter_map(|c| c.id) {
            match self.inspect(&id).await {
                Ok(status) => statuses.push(status),
                // Removed between listing and inspecting.
                Err(RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(statuses)
    }

    /// The stream ends when the connection to the engine breaks; the caller resubscribes and
    /// re-inspects what it manages, since events in between are lost.
    fn events(&self, label: &str, value: &str) -> BoxStream<'static, ContainerEvent> {
        // `since` = now makes the daemon replay what happens between this call and the moment
        // the lazy stream is first polled, so no event is lost to the laziness.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let since = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("label", vec![format!("{label}={value}")]),
            (
                "event",
                ["start", "die", "oom", "health_status"]
                    .map(String::from)
                    .to_vec(),
            ),
        ]);
        let options = EventsOptionsBuilder::new()
            .since(&since)
            .filters(&filters)
            .build();
        self.docker
            .events(Some(options))
            .take_while(|item| {
                if let Err(e) = item {
                    tracing::warn!("docker event stream ended: {e}");
                }
                ready(item.is_ok())
            })
            .filter_map(|item| ready(item.ok().as_ref().and_then(event_of)))
            .boxed()
    }

    /// Needs a log driver the Engine API reads back (json-file, or local, which awslogs
    /// containers use).
    fn follow_logs(
        &self,
        id: &str,
        since_seconds: i64,
    ) -> BoxStream<'static, Result<LogFrame, RuntimeError>> {
        let options = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(i32::try_from(since_seconds.max(0)).unwrap_or(i32::MAX))
            .build();
        self.docker
            .logs(id, Some(options))
            .map(|item| match item {
                Ok(output) => log_frame(&output.into_bytes()),
                Err(e) if status(&e) == Some(404) => {
                    Err(RuntimeError::NotFound(daemon_message(&e)))
                }
                Err(e) => Err(engine(&e)),
            })
            .boxed()
    }

    /// Reads the container's log from the engine's disk when it can (see `log_file`), resuming
    /// at the file offset when the file is still there; else follows the Engine API.
    async fn tail_log(&self, id: &str, resume: LogResume) -> FollowedLog {
        if let Some((path, format)) = self.readable_log_file(id).await {
            let followed = log_file::Reader::resume(&path, format, resume)
                .and_then(|(reader, exact)| follow_file(&self.docker, id, reader, exact));
            match followed {
                Ok(followed) => return followed,
                Err(err) => {
                    tracing::debug!(error = %err, path = %path.display(), "cannot read the container's log file; following it through the Engine API")
                }
            }
        }
        FollowedLog::of_frames(self.follow_logs(id, resume.timestamp_ns.div_euclid(1_000_000_000)))
    }
}

/// Follows the log file `reader` opened, on a thread of its own (a blocking read loop, kept off
/// the async runtime and its bounded blocking pool), until the engine's wait says the
/// container's run ended.
fn follow_file(
    docker: &Docker,
    id: &str,
    reader: log_file::Reader,
    exact: bool,
) -> std::io::Result<FollowedLog> {
    let (end, ended) = std::sync::mpsc::channel();
    let (chunks, received) = tokio::sync::mpsc::channel(4);
    std::thread::Builder::new()
        .name("container-log".into())
        .spawn(move || log_file::follow(reader, ended, chunks))?;
    let (docker, id) = (docker.clone(), id.to_string());
    let waiting = tokio::spawn(async move {
        let _ = end.send(run_ending(docker, id).await);
    });
    // The wait goes when the log is dropped, and with it the reading thread.
    let guard = AbortOnDrop(waiting.abort_handle());
    let frames =
        futures_util::stream::unfold((received, guard), |(mut received, guard)| async move {
            let chunk = received.recv().await?;
            Some((chunk, (received, guard)))
        });
    Ok(FollowedLog {
        exact,
        frames: frames.boxed(),
    })
}

/// Answers once the container is not running (exited, or never started), removed, or the
/// engine cannot be asked.
async fn run_ending(docker: Docker, id: String) -> log_file::Ending {
    let options = WaitContainerOptionsBuilder::new()
        .condition("not-running")
        .build();
    match docker.wait_container(&id, Some(options)).next().await {
        Some(Ok(_)) | Some(Err(DockerError::DockerContainerWaitError { .. })) => {
            log_file::Ending::Exited
        }
        Some(Err(e)) if status(&e) == Some(404) => log_file::Ending::Removed(daemon_message(&e)),
        Some(Err(e)) => log_file::Ending::Failed(daemon_message(&e)),
        None => log_file::Ending::Failed("the engine's wait ended without an answer".into()),
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A log entry as the Engine API sends it with `timestamps`: its RFC 3339 time, a space, the
/// bytes written.
fn log_frame(entry: &[u8]) -> Result<LogFrame, RuntimeError> {
    let unreadable = || {
        RuntimeError::Engine(format!(
            "log entry without a timestamp: {}",
            String::from_utf8_lossy(&entry[..entry.len().min(64)])
        ))
    };
    let space = entry
        .iter()
        .position(|b| *b == b' ')
        .ok_or_else(unreadable)?;
    let timestamp = std::str::from_utf8(&entry[..space]).map_err(|_| unreadable())?;
    let timestamp_ns =
        crate::awslogs::cursor::parse_docker_timestamp(timestamp).ok_or_else(unreadable)?;
    Ok(LogFrame {
        timestamp_ns,
        bytes: entry[space + 1..].to_vec(),
    })
}

/// The first host address of an IPv4 subnet in CIDR form (`172.17.0.0/16` → `172.17.0.1`).
fn first_address(subnet: &str) -> Option<String> {
    let (network, _) = subnet.split_once('/')?;
    let address: std::net::Ipv4Addr = network.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(address) + 1).to_string())
}

/// The container to create for `spec`.
fn container_config(spec: &ContainerSpec) -> ContainerCreateBody {
    let limit = match (spec.memory_mib, spec.task_memory_mib) {
        (Some(container), Some(task)) => Some(container.min(task)),
        (container, task) => container.or(task),
    };
    // Docker refuses a reservation above the limit; the task's limit may be the lower one.
    let reservation = spec
        .memory_reservation_mib
        .map(|soft| limit.map_or(soft, |hard| soft.min(hard)));
    let publish = spec.network_mode == "bridge";
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &spec.ports {
        let key = format!("{}/{}", port.container_port, port.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        // Docker discards bindings in host mode (with a warning): the ports are the host's.
        if publish {
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: None,
                    // No host port: the daemon picks one.
                    host_port: port.host_port.map(|p| p.to_string()),
                });
        }
    }
    let binds: Vec<String> = spec
        .mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { ":ro" } else { "" };
            format!("{}:{}{mode}", m.source, m.target)
        })
        .collect();
    let host_config = HostConfig {
        cpu_shares: spec.cpu_shares,
        nano_cpus: spec
            .task_cpu_units
            .map(|units| units * 1_000_000_000 / 1024),
        memory: limit.map(|m| m * MIB),
        memory_reservation: reservation.map(|m| m * MIB),
        memory_swap: spec
            .max_swap_mib
            .zip(limit)
            .map(|(swap, memory)| (memory + swap) * MIB),
        memory_swappiness: spec.swappiness,
        cgroup_parent: spec.cgroup_parent.clone(),
        network_mode: Some(spec.network_mode.clone()).filter(|m| !m.is_empty()),
        port_bindings: Some(bindings).filter(|b| !b.is_empty()),
        binds: Some(binds).filter(|b| !b.is_empty()),
        volumes_from: non_empty(
            spec.volumes_from
                .iter()
                .map(|(name, ro)| {
                    if *ro {
                        format!("{name}:ro")
                    } else {
                        name.clone()
                    }
                })
                .collect(),
        ),
        links: non_empty(spec.links.clone()),
        extra_hosts: non_empty(
            spec.extra_hosts
                .iter()
                .map(|(host, ip)| format!("{host}:{ip}"))
                .collect(),
        ),
        dns: non_empty(spec.dns_servers.clone()),
        dns_search: non_empty(spec.dns_search.clone()),
        ulimits: non_empty(
            spec.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        privileged: Some(spec.privileged),
        readonly_rootfs: Some(spec.read_only_root),
        // Unset rather than false, so the daemon's own default (`--init` in daemon.json) holds.
        init: spec.init.then_some(true),
        cap_add: non_empty(spec.cap_add.clone()),
        cap_drop: non_empty(spec.cap_drop.clone()),
        devices: non_empty(
            spec.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.host_path.clone()),
                    path_in_container: Some(d.container_path.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect(),
        ),
        sysctls: Some(spec.sysctls.clone().into_iter().collect::<HashMap<_, _>>())
            .filter(|s| !s.is_empty()),
        tmpfs: Some(
            spec.tmpfs
                .iter()
                .map(|t| {
                    let options = std::iter::once(format!("size={}m", t.size_mib))
                        .chain(t.options.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(",");
                    (t.container_path.clone(), options)
                })
                .collect::<HashMap<_, _>>(),
        )
        .filter(|t| !t.is_empty()),
        shm_size: spec.shm_size_mib.map(|m| m * MIB),
        security_opt: non_empty(spec.security_opts.clone()),
        pid_mode: spec.pid_mode.clone(),
        ipc_mode: spec.ipc_mode.clone(),
        log_config: spec.log.as_ref().map(|log| HostConfigLogConfig {
            typ: Some(log.driver.clone()),
            config: Some(log.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    };
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.command.clone(),
        env: non_empty(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        healthcheck: spec.health_check.as_ref().map(|check| HealthConfig {
            test: Some(check.test.clone()),
            interval: Some(nanos(check.interval)),
            timeout: Some(nanos(check.timeout)),
            retries: Some(i64::from(check.retries)),
            start_period: Some(nanos(check.start_period)),
            ..Default::default()
        }),
        stop_timeout: spec
            .stop_timeout
            .map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
        exposed_ports: non_empty(exposed),
        open_stdin: Some(spec.interactive),
        tty: Some(spec.pseudo_terminal),
        host_config: Some(host_config),
        ..Default::default()
    }
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    Some(list).filter(|l| !l.is_empty())
}

/// Docker pulls every tag of a repository when given none, so an untagged reference gets
/// `latest` as `docker pull` gives it.
fn pull_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, Some("latest")),
    }
}

/// The content digest of an image: from its repo digests (preferring the repository it was
/// referenced by), else — for an image built locally and never pushed — its id.
fn digest_of(image: &ImageInspect, reference: Option<&str>) -> Option<String> {
    let digests = image.repo_digests.as_deref().unwrap_or_default();
    let repository = reference.map(|r| pull_reference(r).0);
    digests
        .iter()
        .find(|d| repository.is_some_and(|r| d.split('@').next() == Some(r)))
        .or_else(|| digests.first())
        .and_then(|d| d.split_once('@').map(|(_, digest)| digest.to_string()))
        .or_else(|| image.id.clone())
}

fn status_of(inspected: &ContainerInspectResponse) -> ContainerStatus {
    let state = inspected.state.as_ref();
    let exited = || ContainerState::Exited {
        exit_code: state.and_then(|s| s.exit_code).unwrap_or_default(),
        oom_killed: state.and_then(|s| s.oom_killed).unwrap_or_default(),
    };
    use ContainerStateStatusEnum as S;
    let container_state = match state.and_then(|s| s.status) {
        Some(S::CREATED) => ContainerState::Created,
        Some(S::RUNNING | S::PAUSED | S::RESTARTING | S::STOPPING) => ContainerState::Running,
        Some(S::EXITED | S::DEAD | S::REMOVING) => exited(),
        Some(S::EMPTY) | None if state.and_then(|s| s.running) == Some(true) => {
            ContainerState::Running
        }
        Some(S::EMPTY) | None => exited(),
    };
    let health = match state.and_then(|s| s.health.as_ref()).and_then(|h| h.status) {
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        _ => Health::Unknown,
    };
    let mut ports = Vec::new();
    let published = inspected
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref());
    for (key, bindings) in published.into_iter().flatten() {
        let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(container_port) = port.parse() else {
            continue;
        };
        for binding in bindings.iter().flatten() {
            let Some(host_port) = binding.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            ports.push(PublishedPort {
                container_port,
                host_port,
                host_ip: binding
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                protocol: protocol.to_string(),
            });
        }
    }
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.host_ip, a.host_port).cmp(&(
            b.container_port,
            &b.protocol,
            &b.host_ip,
            b.host_port,
        ))
    });
    ContainerStatus {
        id: inspected.id.clone().unwrap_or_default(),
        state: container_state,
        health,
        ports,
        image_digest: None,
        labels: inspected
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .map(|labels| labels.into_iter().collect::<BTreeMap<_, _>>())
            .unwrap_or_default(),
    }
}

fn event_of(message: &EventMessage) -> Option<ContainerEvent> {
    let actor = message.actor.as_ref()?;
    let id = actor.id.clone()?;
    // Docker's container events carry the container's labels among the actor's attributes.
    let task_arn = actor
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.get(TASK_ARN_LABEL).cloned());
    let kind = match message.action.as_deref()? {
        "start" => ContainerEventKind::Started,
        "die" => ContainerEventKind::Died,
        "oom" => ContainerEventKind::OutOfMemory,
        action => match action.strip_prefix("health_status:")?.trim() {
            "healthy" => ContainerEventKind::HealthChanged(Health::Healthy),
            "unhealthy" => ContainerEventKind::HealthChanged(Health::Unhealthy),
            _ => ContainerEventKind::HealthChanged(Health::Unknown),
        },
    };
    Some(ContainerEvent { id, task_arn, kind })
}

fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// What the Docker CLI would print for the error.
fn daemon_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => {
            format!("Error response from daemon: {message}")
        }
        DockerError::DockerStreamError { error } => format!("Error response from daemon: {error}"),
        other => other.to_string(),
    }
}

fn engine(e: &DockerError) -> RuntimeError {
    RuntimeError::Engine(daemon_message(e))
}

/// The daemon answered and said no (a 4xx/5xx about this container's configuration, such as an
/// entry point that does not exist or a host port already taken); anything else is the engine.
fn refused(e: &DockerError) -> RuntimeError {
    match status(e) {
        Some(_) => RuntimeError::InvalidSpec(daemon_message(e)),
        None => engine(e),
    }
}

fn not_found_or(
    id: &str,
    e: &DockerError,
    other: fn(&DockerError) -> RuntimeError,
) -> RuntimeError {
    if status(e) == Some(404) {
        RuntimeError::NotFound(id.to_string())
    } else {
        other(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{DeviceSpec, HealthCheckSpec, LogSpec, PortSpec, TmpfsSpec, UlimitSpec};

    #[test]
    fn untagged_references_pull_latest() {
        assert_eq!(pull_reference("berth-demo"), ("berth-demo", Some("latest")));
        assert_eq!(pull_reference("berth-demo:1"), ("berth-demo", Some("1")));
        assert_eq!(
            pull_reference("registry:5000/team/app"),
            ("registry:5000/team/app", Some("latest"))
        );
        assert_eq!(
            pull_reference("registry:5000/team/app:v2"),
            ("registry:5000/team/app", Some("v2"))
        );
        assert_eq!(pull_reference("app@sha256:abc"), ("app@sha256:abc", None));
    }

    #[test]
    fn digests_prefer_the_referenced_repository_then_the_id() {
        let image = ImageInspect {
            id: Some("sha256:id".into()),
            repo_digests: Some(vec!["other@sha256:o".into(), "app@sha256:a".into()]),
            ..Default::default()
        };
        assert_eq!(digest_of(&image, Some("app:1")), Some("sha256:a".into()));
        assert_eq!(digest_of(&image, Some("x")), Some("sha256:o".into()));
        let local = ImageInspect {
            id: Some("sha256:id".into()),
            repo_digests: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(digest_of(&local, Some("app")), Some("sha256:id".into()));
    }

    #[test]
    fn the_spec_becomes_the_engine_config() {
        let spec = ContainerSpec {
            name: "c".into(),
            image: "berth-demo:latest".into(),
            command: Some(vec!["serve".into()]),
            env: vec![("A".into(), "1".into())],
            cpu_shares: Some(2),
            memory_mib: Some(512),
            memory_reservation_mib: Some(384),
            task_cpu_units: Some(512),
            task_memory_mib: Some(256),
            max_swap_mib: Some(100),
            swappiness: Some(60),
            network_mode: "bridge".into(),
            ports: vec![
                PortSpec {
                    container_port: 8080,
                    host_port: None,
                    protocol: "tcp".into(),
                },
                PortSpec {
                    container_port: 8080,
                    host_port: Some(9000),
                    protocol: "tcp".into(),
                },
                PortSpec {
                    container_port: 53,
                    host_port: Some(5353),
                    protocol: "udp".into(),
                },
            ],
            mounts: vec![
                MountSpec {
                    source: "/srv".into(),
                    target: "/data".into(),
                    read_only: true,
                    volume: false,
                    create: None,
                },
                MountSpec {
                    source: "vol".into(),
                    target: "/vol".into(),
                    read_only: false,
                    volume: true,
                    create: None,
                },
            ],
            volumes_from: vec![("a".into(), true), ("b".into(), false)],
            extra_hosts: vec![("db".into(), "10.0.0.1".into())],
            ulimits: vec![UlimitSpec {
                name: "nofile".into(),
                soft: 1,
                hard: 2,
            }],
            init: true,
            devices: vec![DeviceSpec {
                host_path: "/dev/null".into(),
                container_path: "/dev/n".into(),
                permissions: "rw".into(),
            }],
            tmpfs: vec![TmpfsSpec {
                container_path: "/run".into(),
                size_mib: 16,
                options: vec!["noexec".into()],
            }],
            shm_size_mib: Some(64),
            health_check: Some(HealthCheckSpec {
                test: vec!["CMD".into(), "true".into()],
                interval: Duration::from_secs(5),
                timeout: Duration::from_millis(1500),
                retries: 2,
                start_period: Duration::ZERO,
            }),
            stop_timeout: Some(Duration::from_secs(7)),
            log: Some(LogSpec {
                driver: "json-file".into(),
                options: BTreeMap::from([("max-size".into(), "1m".into())]),
            }),
            ..Default::default()
        };
        let config = container_config(&spec);
        let host = config.host_config.clone().unwrap();
        // The task's limit is lower than the container's, so it is the one enforced.
        assert_eq!(host.memory, Some(256 * MIB));
        assert_eq!(host.memory_reservation, Some(256 * MIB));
        assert_eq!(host.memory_swap, Some(356 * MIB));
        assert_eq!(host.memory_swappiness, Some(60));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.cpu_shares, Some(2));
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings["8080/tcp"],
            Some(vec![
                PortBinding {
                    host_ip: None,
                    host_port: None
                },
                PortBinding {
                    host_ip: None,
                    host_port: Some("9000".into())
                },
            ])
        );
        assert_eq!(
            bindings["53/udp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("5353")
        );
        assert_eq!(
            config.exposed_ports,
            Some(vec!["8080/tcp".into(), "53/udp".into()])
        );
        assert_eq!(
            host.binds,
            Some(vec!["/srv:/data:ro".into(), "vol:/vol".into()])
        );
        assert_eq!(host.volumes_from, Some(vec!["a:ro".into(), "b".into()]));
        assert_eq!(host.extra_hosts, Some(vec!["db:10.0.0.1".into()]));
        assert_eq!(host.init, Some(true));
        assert_eq!(host.tmpfs.unwrap()["/run"], "size=16m,noexec");
        assert_eq!(host.shm_size, Some(64 * MIB));
        assert_eq!(
            host.devices.unwrap()[0].cgroup_permissions.as_deref(),
            Some("rw")
        );
        assert_eq!(host.log_config.unwrap().typ.as_deref(), Some("json-file"));
        assert_eq!(config.env, Some(vec!["A=1".into()]));
        assert_eq!(config.stop_timeout, Some(7));
        let health = config.healthcheck.unwrap();
        assert_eq!(health.interval, Some(5_000_000_000));
        assert_eq!(health.timeout, Some(1_500_000_000));
        assert_eq!(health.retries, Some(2));
    }

    #[test]
    fn log_entries_split_into_time_and_bytes() {
        assert_eq!(
            log_frame(b"1970-01-01T00:00:02.000000001Z hello world\n").unwrap(),
            LogFrame {
                timestamp_ns: 2_000_000_001,
                bytes: b"hello world\n".to_vec()
            }
        );
        assert!(log_frame(b"hello\n").is_err());
    }

    #[test]
    fn host_mode_exposes_but_does_not_publish() {
        let spec = ContainerSpec {
            network_mode: "host".into(),
            ports: vec![PortSpec {
                container_port: 80,
                host_port: Some(80),
                protocol: "tcp".into(),
            }],
            ..Default::default()
        };
        let config = container_config(&spec);
        assert_eq!(config.exposed_ports, Some(vec!["80/tcp".into()]));
        assert_eq!(config.host_config.unwrap().port_bindings, None);
    }

    #[test]
    fn the_bridge_gateway_is_the_first_address_of_its_subnet() {
        assert_eq!(
            first_address("172.17.0.0/16").as_deref(),
            Some("172.17.0.1")
        );
        assert_eq!(first_address("fd00::/64"), None);
    }

    #[test]
    fn events_map_to_container_events() {
        let event = |action: &str| EventMessage {
            action: Some(action.into()),
            actor: Some(bollard::models::EventActor {
                id: Some("abc".into()),
                attributes: None,
            }),
            ..Default::default()
        };
        let kind = |action: &str| event_of(&event(action)).map(|e| e.kind);
        assert_eq!(kind("start"), Some(ContainerEventKind::Started));
        assert_eq!(kind("die"), Some(ContainerEventKind::Died));
        assert_eq!(kind("oom"), Some(ContainerEventKind::OutOfMemory));
        assert_eq!(
            kind("health_status: healthy"),
            Some(ContainerEventKind::HealthChanged(Health::Healthy))
        );
        assert_eq!(
            kind("health_status: unhealthy"),
            Some(ContainerEventKind::HealthChanged(Health::Unhealthy))
        );
        assert_eq!(kind("attach"), None);
        assert_eq!(event_of(&event("start")).unwrap().task_arn, None);
        let labelled = EventMessage {
            action: Some("die".into()),
            actor: Some(bollard::models::EventActor {
                id: Some("abc".into()),
                attributes: Some(HashMap::from([
                    (TASK_ARN_LABEL.to_string(), "arn:task".to_string()),
                    ("image".to_string(), "berth-demo:latest".to_string()),
                ])),
            }),
            ..Default::default()
        };
        assert_eq!(
            event_of(&labelled).unwrap().task_arn.as_deref(),
            Some("arn:task"),
            "events name their task, so only its actor hears them"
        );
    }
}
