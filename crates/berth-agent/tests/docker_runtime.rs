//! `DockerRuntime` against the real Docker engine, with the `berth-demo:latest` image (build it
//! with `cargo run -p berth -- demo image`). Every container and volume a test makes carries
//! `berth-test=1` and a label unique to the test, by which a guard removes them even when the
//! test fails.
//!
//! Not covered: OOM kills. berth-demo cannot be made to allocate memory, and the image has no
//! shell to do it with.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_agent::docker::DockerRuntime;
use berth_agent::runtime::{
    ContainerEvent, ContainerEventKind, ContainerRuntime, ContainerSpec, ContainerState, Health,
    HealthCheckSpec, INSTANCE_LABEL, LogFrame, LogResume, LogSpec, MountSpec, PortSpec, ReadFrame,
    RuntimeError, TmpfsSpec, UlimitSpec, VolumeCreateSpec,
};
use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEMO: &str = "berth-demo:latest";
/// Set (to anything but `0`) where an engine must be there, as in CI: a missing engine then fails
/// the tests instead of skipping them.
const REQUIRE_DOCKER: &str = "BERTH_REQUIRE_DOCKER";
const RUN_LABEL: &str = "berth-test-run";

/// One test's view of the engine: its unique run id, and the guard that cleans up after it.
struct Fixture {
    runtime: DockerRuntime,
    run: String,
    _cleanup: Cleanup,
}

impl Fixture {
    /// `None` only when no Docker engine answers where the agent would look for one
    /// (`DOCKER_HOST`, else the local socket): the test is then skipped, and says so on the
    /// terminal even though it counts as passed. With `BERTH_REQUIRE_DOCKER` set (as `.ci/run`
    /// sets it) a missing engine fails the test instead.
    async fn new(test: &str) -> Option<Self> {
        if let Err(why) = engine_answers().await {
            if std::env::var_os(REQUIRE_DOCKER).is_some_and(|v| !v.is_empty() && v != "0") {
                panic!("no Docker engine ({why}), and {REQUIRE_DOCKER} is set");
            }
            // Straight to the process's stderr: the test harness captures `eprintln!` of a
            // passing test, and a skip must not look like a pass.
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED docker_runtime::{test}: no Docker engine ({why})"
            );
            return None;
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let run = format!(
            "{test}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let fixture = Self {
            runtime: DockerRuntime::connect().expect("docker client"),
            _cleanup: Cleanup { run: run.clone() },
            run,
        };
        if let Err(e) = fixture.runtime.ensure_image(DEMO).await {
            panic!("{DEMO} is missing ({e}): build it with `cargo run -p berth -- demo image`");
        }
        Some(fixture)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("berth-test".into(), "1".into()),
            (RUN_LABEL.into(), self.run.clone()),
            (INSTANCE_LABEL.into(), self.run.clone()),
        ])
    }

    fn spec(&self, suffix: &str, command: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: format!("berth-test-{}-{suffix}", self.run),
            image: DEMO.into(),
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            labels: self.labels(),
            network_mode: "bridge".into(),
            stop_timeout: Some(Duration::from_secs(10)),
            ..ContainerSpec::default()
        }
    }

    fn events(&self) -> BoxStream<'static, ContainerEvent> {
        self.runtime.events(RUN_LABEL, &self.run)
    }

    async fn run(&self, spec: &ContainerSpec) -> String {
        let id = self.runtime.create(spec).await.expect("create");
        self.runtime.start(&id).await.expect("start");
        id
    }
}

/// Whether the engine the agent would use answers a ping: found as the agent finds it
/// (`DOCKER_HOST`, else `/var/run/docker.sock`), within a few seconds.
async fn engine_answers() -> Result<(), String> {
    let runtime = DockerRuntime::connect().map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), runtime.client().ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the engine did not answer a ping within 5 s".into()),
    }
}

/// Removes whatever the test labelled, when the test ends however it ends. `Drop` cannot await
/// and runs inside the test's runtime, so the cleanup gets a thread, a runtime and a client of
/// its own.
struct Cleanup {
    run: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = self.run.clone();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(remove_labelled(&run))
        })
        .join();
        if let Ok(Err(e)) | Err(e) = cleaned.map_err(|_| "cleanup panicked".to_string()) {
            eprintln!("cleanup of {}: {e}", self.run);
        }
    }
}

async fn remove_labelled(run: &str) -> Result<(), String> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let filters = HashMap::from([("label", vec![format!("{RUN_LABEL}={run}")])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    for id in containers.into_iter().filter_map(|c| c.id) {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        if let Err(e) = docker.remove_container(&id, Some(options)).await {
            eprintln!("cleanup: removing container {id}: {e}");
        }
    }
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    for volume in volumes.volumes.into_iter().flatten() {
        if let Err(e) = docker
            .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
            .await
        {
            eprintln!("cleanup: removing volume {}: {e}", volume.name);
        }
    }
    Ok(())
}

/// The next event for `id` that `wanted` accepts, within `within`.
async fn wait_for(
    events: &mut BoxStream<'static, ContainerEvent>,
    id: &str,
    within: Duration,
    wanted: impl Fn(&ContainerEventKind) -> bool,
) -> Vec<ContainerEventKind> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.next()).await {
            Ok(Some(event)) if event.id == id => {
                let done = wanted(&event.kind);
                seen.push(event.kind);
                if done {
                    return seen;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the event stream ended; saw {seen:?}"),
            Err(_) => panic!("no such event within {within:?}; saw {seen:?}"),
        }
    }
}

/// The status code of `METHOD path` on 127.0.0.1:`port`.
async fn http(port: u16, method: &str, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .map_err(|_| "response timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))
}

/// Like [`http`], retried while the server is still coming up (docker-proxy accepts before the
/// container listens).
async fn http_eventually(port: u16, method: &str, path: &str) -> u16 {
    let mut last = String::new();
    for _ in 0..50 {
        match http(port, method, path).await {
            Ok(code) => return code,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{method} {path} on port {port} never answered: {last}");
}

fn published_port(status: &berth_agent::runtime::ContainerStatus, container_port: u16) -> u16 {
    status
        .ports
        .iter()
        .find(|p| p.container_port == container_port && p.host_ip == "0.0.0.0")
        .unwrap_or_else(|| panic!("{container_port} is not published: {:?}", status.ports))
        .host_port
}

#[tokio::test]
async fn serves_http_on_a_dynamic_port_and_stops_on_sigterm() {
    let Some(f) = Fixture::new("serve").await else {
        return;
    };
    let mut spec = f.spec("web", &["serve"]);
    spec.ports = vec![PortSpec {
        container_port: 8080,
        host_port: None,
        protocol: "tcp".into(),
    }];
    let id = f.run(&spec).await;

    let status = f.runtime.inspect(&id).await.unwrap();
    assert_eq!(status.state, ContainerState::Running);
    assert_eq!(status.health, Health::Unknown);
    assert!(
        status
            .image_digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(status.labels[RUN_LABEL], f.run);
    let port = published_port(&status, 8080);
    assert_ne!(port, 0);
    assert_eq!(http_eventually(port, "GET", "/").await, 200);

    let listed = f.runtime.list_labelled(RUN_LABEL, &f.run).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    assert!(
        f.runtime
            .list_labelled(RUN_LABEL, "nobody")
            .await
            .unwrap()
            .is_empty()
    );

    // berth-demo exits 0 on SIGTERM, well before the SIGKILL that would follow the timeout.
    let stopping = Instant::now();
    f.runtime.stop(&id, Duration::from_secs(20)).await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopping.elapsed()
    );
    assert_eq!(
        f.runtime.inspect(&id).await.unwrap().state,
        ContainerState::Exited {
            exit_code: 0,
            oom_killed: false
        }
    );
    f.runtime
        .stop(&id, Duration::from_secs(1))
        .await
        .expect("stopping a stopped container");

    f.runtime.remove(&id).await.unwrap();
    f.runtime
        .remove(&id)
        .await
        .expect("removing a removed container");
    assert!(matches!(
        f.runtime.inspect(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        f.runtime.start(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(
        f.runtime
            .list_labelled(RUN_LABEL, &f.run)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn events_report_start_and_death_with_the_exit_code() {
    let Some(f) = Fixture::new("exit").await else {
        return;
    };
    // Subscribed before acting; the stream is lazy but replays from the moment it was made.
    let mut events = f.events();
    let id = f.run(&f.spec("exit", &["exit", "3"])).await;
    let seen = wait_for(&mut events, &id, Duration::from_secs(30), |k| {
        *k == ContainerEventKind::Died
    })
    .await;
    assert_eq!(
        seen,
        [ContainerEventKind::Started, ContainerEventKind::Died]
    );
    assert_eq!(
        f.runtime.inspect(&id).await.unwrap().state,
        ContainerState::Exited {
            exit_code: 3,
            oom_killed: false
        }
    );
}

#[tokio::test]
async fn health_checks_go_healthy_then_unhealthy() {
    let Some(f) = Fixture::new("health").await else {
        return;
    };
    let mut spec = f.spec("health", &["serve"]);
    spec.ports = vec![PortSpec {
        container_port: 8080,
        host_port: None,
        protocol: "tcp".into(),
    }];
    spec.health_check = Some(HealthCheckSpec {
        test: [
            "CMD",
            "/berth-demo",
            "check",
            "http://127.0.0.1:8080/health",
        ]
        .map(String::from)
        .to_vec(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let mut events = f.events();
    let id = f.run(&spec).await;

    wait_for(&mut events, &id, Duration::from_secs(30), |k| {
        *k == ContainerEventKind::HealthChanged(Health::Healthy)
    })
    .await;
    let status = f.runtime.inspect(&id).await.unwrap();
    assert_eq!(status.health, Health::Healthy);

    let port = published_port(&status, 8080);
    assert_eq!(http_eventually(port, "POST", "/health/fail").await, 200);
    wait_for(&mut events, &id, Duration::from_secs(30), |k| {
        *k == ContainerEventKind::HealthChanged(Health::Unhealthy)
    })
    .await;
    assert_eq!(
        f.runtime.inspect(&id).await.unwrap().health,
        Health::Unhealthy
    );
}

#[tokio::test]
async fn create_applies_every_setting_of_the_spec() {
    let Some(f) = Fixture::new("settings").await else {
        return;
    };
    let host_dir = tempfile::tempdir().unwrap();
    let volume = format!("berth-test-{}-vol", f.run);
    let mut volume_labels = f.labels();
    volume_labels.insert("team".into(), "a".into());
    let mut spec = f.spec("settings", &["serve"]);
    spec.env = vec![("GREETING".into(), "hello world".into())];
    spec.working_dir = Some("/tmp".into());
    spec.user = Some("1000:1000".into());
    spec.hostname = Some("web-1".into());
    spec.cpu_shares = Some(256);
    spec.memory_mib = Some(64);
    spec.memory_reservation_mib = Some(32);
    spec.task_cpu_units = Some(512);
    spec.task_memory_mib = Some(128);
    spec.mounts = vec![
        MountSpec {
            source: host_dir.path().display().to_string(),
            target: "/data".into(),
            read_only: true,
            volume: false,
            create: None,
        },
        MountSpec {
            source: volume.clone(),
            target: "/cache".into(),
            read_only: false,
            volume: true,
            create: Some(VolumeCreateSpec {
                driver: "local".into(),
                driver_opts: BTreeMap::new(),
                labels: volume_labels,
            }),
        },
    ];
    spec.extra_hosts = vec![("db.local".into(), "10.0.0.5".into())];
    spec.dns_servers = vec!["1.1.1.1".into()];
    spec.dns_search = vec!["corp.local".into()];
    spec.ulimits = vec![UlimitSpec {
        name: "nofile".into(),
        soft: 1024,
        hard: 2048,
    }];
    spec.read_only_root = true;
    spec.init = true;
    spec.cap_add = vec!["NET_ADMIN".into()];
    spec.cap_drop = vec!["MKNOD".into()];
    spec.tmpfs = vec![TmpfsSpec {
        container_path: "/run".into(),
        size_mib: 8,
        options: vec!["noexec".into()],
    }];
    spec.shm_size_mib = Some(16);
    spec.sysctls = BTreeMap::from([("net.core.somaxconn".into(), "512".into())]);
    spec.security_opts = vec!["no-new-privileges".into()];
    spec.stop_timeout = Some(Duration::from_secs(7));
    let id = f.run(&spec).await;
    assert_eq!(
        f.runtime.inspect(&id).await.unwrap().state,
        ContainerState::Running
    );

    let inspected = f
        .runtime
        .client()
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let config = inspected.config.unwrap();
    let host = inspected.host_config.unwrap();
    assert!(
        config
            .env
            .unwrap()
            .contains(&"GREETING=hello world".to_string())
    );
    assert_eq!(config.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert_eq!(config.hostname.as_deref(), Some("web-1"));
    assert_eq!(config.stop_timeout, Some(7));
    assert_eq!(config.labels.unwrap()["berth-test"], "1");
    assert_eq!(host.cpu_shares, Some(256));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.memory_reservation, Some(32 << 20));
    assert_eq!(
        host.binds,
        Some(vec![
            format!("{}:/data:ro", host_dir.path().display()),
            format!("{volume}:/cache"),
        ])
    );
    assert_eq!(
        host.extra_hosts,
        Some(vec!["db.local:10.0.0.5".to_string()])
    );
    assert_eq!(host.dns, Some(vec!["1.1.1.1".to_string()]));
    assert_eq!(host.dns_search, Some(vec!["corp.local".to_string()]));
    let ulimit = &host.ulimits.unwrap()[0];
    assert_eq!((ulimit.soft, ulimit.hard), (Some(1024), Some(2048)));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.init, Some(true));
    assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(host.cap_drop, Some(vec!["MKNOD".to_string()]));
    assert_eq!(host.tmpfs.unwrap()["/run"], "size=8m,noexec");
    assert_eq!(host.shm_size, Some(16 << 20));
    assert_eq!(host.sysctls.unwrap()["net.core.somaxconn"], "512");
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges".to_string()])
    );

    let created = f.runtime.client().inspect_volume(&volume).await.unwrap();
    assert_eq!(created.labels["team"], "a");
}

#[tokio::test]
async fn missing_volumes_and_images_are_refused() {
    let Some(f) = Fixture::new("missing").await else {
        return;
    };
    let mut spec = f.spec("novolume", &["serve"]);
    spec.mounts = vec![MountSpec {
        source: format!("berth-test-{}-absent", f.run),
        target: "/shared".into(),
        read_only: false,
        volume: true,
        create: None,
    }];
    match f.runtime.create(&spec).await {
        Err(RuntimeError::InvalidSpec(message)) => {
            assert!(message.contains("does not exist"), "{message}")
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }

    // No registry is reachable: a missing image is a pull failure, worded as Docker words it.
    let missing = format!("berth-test-no-such-image:{}", f.run.len());
    match f.runtime.ensure_image(&missing).await {
        Err(RuntimeError::ImagePull(message)) => {
            assert!(
                message.starts_with("Error response from daemon: "),
                "{message}"
            )
        }
        other => panic!("expected ImagePull, got {other:?}"),
    }
    let mut spec = f.spec("noimage", &["serve"]);
    spec.image = missing;
    assert!(matches!(
        f.runtime.create(&spec).await,
        Err(RuntimeError::ImagePull(_))
    ));
}

#[tokio::test]
async fn a_missing_entry_point_fails_to_start() {
    let Some(f) = Fixture::new("entrypoint").await else {
        return;
    };
    let mut spec = f.spec("badentry", &[]);
    spec.entrypoint = Some(vec!["/no-such-binary".into()]);
    let id = f.runtime.create(&spec).await.unwrap();
    match f.runtime.start(&id).await {
        Err(RuntimeError::InvalidSpec(message)) => {
            assert!(message.contains("no-such-binary"), "{message}")
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

#[tokio::test]
async fn follows_a_log_with_timestamps_until_the_container_exits() {
    let Some(fixture) = Fixture::new("logs").await else {
        return;
    };
    let mut spec = fixture.spec("log", &["log", "--lines", "3"]);
    spec.log = Some(LogSpec {
        driver: "json-file".into(),
        options: BTreeMap::new(),
    });
    let started_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let id = fixture.run(&spec).await;
    let mut log = fixture.runtime.follow_logs(&id, 0);
    let mut frames: Vec<LogFrame> = Vec::new();
    while frames.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(10), log.next())
            .await
            .expect("a line within 10 s")
            .expect("the log goes on while the container runs");
        frames.push(next.expect("a readable frame"));
    }
    let lines: Vec<&[u8]> = frames.iter().map(|f| f.bytes.as_slice()).collect();
    assert_eq!(lines, [b"line 1\n", b"line 2\n", b"line 3\n"]);
    assert!(
        frames
            .windows(2)
            .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns)
    );
    assert!(frames[0].timestamp_ns >= started_ns - 1_000_000_000);

    fixture
        .runtime
        .stop(&id, Duration::from_secs(10))
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), log.next())
        .await
        .expect("the log ends once the container exited");
    assert!(end.is_none(), "nothing after the last line: {end:?}");

    // Followed again from the first line's second, an exited container's log is read whole.
    let since = frames[0].timestamp_ns / 1_000_000_000;
    let again: Vec<LogFrame> = fixture
        .runtime
        .follow_logs(&id, since)
        .map(|frame| frame.expect("a readable frame"))
        .collect()
        .await;
    assert_eq!(again, frames);
    let later: Vec<_> = fixture
        .runtime
        .follow_logs(&id, since + 3600)
        .collect()
        .await;
    assert!(later.is_empty());
    let missing: Vec<_> = fixture
        .runtime
        .follow_logs("berth-no-such-container", 0)
        .collect()
        .await;
    assert!(
        matches!(missing.as_slice(), [Err(RuntimeError::NotFound(_))]),
        "{missing:?}"
    );
}

/// The frames of a tailed log, as it goes on, until it ends or `until` of them were read.
async fn tailed(
    log: &mut BoxStream<'static, Result<Vec<ReadFrame>, RuntimeError>>,
    until: usize,
) -> Vec<ReadFrame> {
    let mut frames = Vec::new();
    while frames.len() < until {
        let next = tokio::time::timeout(Duration::from_secs(10), log.next())
            .await
            .expect("frames, or the log's end, within 10 s");
        match next {
            Some(chunk) => frames.extend(chunk.expect("readable frames")),
            None => break,
        }
    }
    frames
}

#[tokio::test]
async fn tails_a_json_file_log_from_disk_and_resumes_right_after_a_line() {
    let Some(fixture) = Fixture::new("tail").await else {
        return;
    };
    let mut spec = fixture.spec("log", &["log", "--lines", "3"]);
    spec.log = Some(LogSpec {
        driver: "json-file".into(),
        options: BTreeMap::new(),
    });
    let id = fixture.run(&spec).await;
    let start = LogResume {
        timestamp_ns: 0,
        file: None,
    };
    let followed = fixture.runtime.tail_log(&id, start).await;
    assert!(!followed.exact);
    let mut log = followed.frames;
    let frames = tailed(&mut log, 3).await;
    let lines: Vec<&[u8]> = frames.iter().map(|f| f.frame.bytes.as_slice()).collect();
    assert_eq!(lines, [b"line 1\n", b"line 2\n", b"line 3\n"]);
    // The agent runs as root on the engine's host here: the file itself was read.
    assert!(frames.iter().all(|f| f.file.is_some()), "{frames:?}");
    fixture
        .runtime
        .stop(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        tailed(&mut log, usize::MAX).await,
        [],
        "ended, with nothing more"
    );
    let engine: Vec<LogFrame> = fixture
        .runtime
        .follow_logs(&id, 0)
        .map(|f| f.unwrap())
        .collect()
        .await;
    assert_eq!(
        frames.iter().map(|f| f.frame.clone()).collect::<Vec<_>>(),
        engine,
        "the same frames as the Engine API's"
    );

    let after_second = LogResume {
        timestamp_ns: frames[1].frame.timestamp_ns,
        file: frames[1].file,
    };
    let resumed = fixture.runtime.tail_log(&id, after_second).await;
    assert!(resumed.exact);
    let mut rest = resumed.frames;
    assert_eq!(tailed(&mut rest, usize::MAX).await, frames[2..]);
}
