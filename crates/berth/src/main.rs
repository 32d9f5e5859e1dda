//! `berth`: a self-hosted Amazon ECS in one binary.

mod client;
mod container_metrics;
mod credentials;
mod demo;
mod events;
mod logs;
mod metrics;
mod plan;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_control::ControlPlane;
use berth_ecs::load_balancers::TargetGroupFacts;
use berth_store_sqlite::SqliteStore;
use clap::{Args, Parser, Subcommand};
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// The control plane allocates and frees many small records per request; mimalloc does that
/// faster than glibc's allocator and returns memory instead of fragmenting it. Built without
/// transparent huge pages (the workspace's `no_thp`): with them, every first touch of a 2 MiB
/// region zeroes all of it, which made the first burst of log lines cost the agent three times
/// the CPU of later ones and doubled both processes' resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-hosted Amazon ECS: the ECS API, on your own machines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything on this host for local development: the control plane with its embedded store,
    /// and the cluster `default`. Prints `berth ready: http://ADDR` once it accepts requests.
    Up(ServerArgs),
    /// The control plane alone: the AWS-compatible APIs on one address, state in the embedded
    /// store under --data-dir. Prints `berth ready: http://ADDR` once it accepts requests.
    Server(ServerArgs),
    /// One container instance: registers with the control plane at --server, runs the tasks
    /// placed on it as Docker containers and reports their state. Its identity and unsent
    /// reports live in --data-dir, so a restarted agent re-adopts its containers.
    Agent(AgentArgs),
    /// The test/demo workload built into this binary.
    Demo(DemoArgs),
    /// Placement dry runs: where tasks would go and why instances would refuse them, without
    /// starting anything.
    Plan(PlanArgs),
    /// The lines a task's or a service's containers logged with the awslogs driver
    /// (`--follow` keeps printing new ones).
    Logs(logs::LogsArgs),
    /// The region's ECS events, as EventBridge gets them (`--follow` keeps printing new ones).
    Events(events::EventsArgs),
}

#[derive(Args)]
struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Plans a RunTask call (same parameters as `aws ecs run-task`).
    RunTask(plan::PlanRunTaskArgs),
}

#[derive(Args)]
struct AgentArgs {
    /// The control plane's URL.
    #[arg(long, default_value = "http://127.0.0.1:9600")]
    server: String,
    /// The region of the cluster to join (the agent signs its channel for it); by default the
    /// server's own --region. Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
    /// the shared credentials file, as for aws-cli (e.g.
    /// AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials of the server).
    #[arg(long)]
    region: Option<String>,
    /// The cluster to join.
    #[arg(long, default_value = "default")]
    cluster: String,
    /// Directory for the agent's identity and unsent state reports (one per agent).
    #[arg(long, default_value = "./.berth-agent")]
    data_dir: PathBuf,
    /// Availability zone, reported as the attribute ecs.availability-zone.
    #[arg(long)]
    az: Option<String>,
    /// A custom attribute KEY=VALUE (repeatable).
    #[arg(long = "attribute", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    /// CPU units to register (default: cores × 1024).
    #[arg(long)]
    cpu: Option<i64>,
    /// Memory in MiB to register (default: the host's, minus --reserved-memory).
    #[arg(long)]
    memory: Option<i64>,
    /// MiB of host memory kept back from tasks.
    #[arg(long, default_value_t = 0)]
    reserved_memory: i64,
    /// Seconds a stopped task's containers are kept before removal.
    #[arg(long, default_value_t = 3600)]
    task_cleanup_wait: u64,
    /// Registers N simulated instances that run no containers (tasks still move through their
    /// lifecycle), for scale tests. --az then takes a comma-separated list, assigned round-robin.
    #[arg(long, default_value_t = 0)]
    simulate: usize,
    /// How long a simulated container takes to start, in milliseconds.
    #[arg(long, default_value_t = 100)]
    simulated_start_ms: u64,
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

impl AgentArgs {
    async fn config(self) -> anyhow::Result<berth_agent::AgentConfig> {
        let region = match self.region {
            Some(region) => region,
            None => client::get(&self.server, berth_control::REGION_PATH)
                .await
                .context("asking the server for its region (or pass --region)")?,
        };
        Ok(berth_agent::AgentConfig {
            server: self.server,
            credentials: credentials::client_credentials()?,
            region,
            cluster: self.cluster,
            data_dir: self.data_dir,
            availability_zone: self.az,
            attributes: self.attributes,
            cpu: self.cpu,
            memory: self.memory,
            reserved_memory: self.reserved_memory,
            cleanup_wait: Duration::from_secs(self.task_cleanup_wait),
        })
    }
}

#[derive(Args)]
struct DemoArgs {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Builds and loads the local Docker image berth-demo:latest from the workload built into
    /// this binary; no registry involved.
    Image,
}

#[derive(Args)]
struct ServerArgs {
    /// Address to serve every AWS-compatible API on.
    #[arg(long, default_value = "127.0.0.1:9600")]
    listen: SocketAddr,
    /// Directory for durable state (the store) and the generated root credentials.
    #[arg(long, default_value = "./.berth")]
    data_dir: PathBuf,
    /// The region of `berth up`'s own agent, the default of agents that name none, and where a
    /// store from before regions is moved; one of AWS's commercial regions.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id that ARNs name.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
    /// Seconds an agent may stay disconnected before its instance's service tasks are
    /// considered lost and replaced on other instances.
    #[arg(long, default_value_t = 60)]
    agent_lost_after: u64,
    /// Accept any access key with a well-formed signature as the account's root, without
    /// checking the signature (the dummy `test`/`test` keys of local emulators). Off by default.
    #[arg(long)]
    accept_any_credentials: bool,
    /// Seconds a client may take to send a request's header (and a kept-alive connection may
    /// stay idle); slower connections are closed.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// The address load balancers' listeners bind (each listener's port on it). Loopback by
    /// default, as `--listen`; 0.0.0.0 makes them reachable from containers and other hosts.
    #[arg(long, default_value = "127.0.0.1")]
    lb_address: std::net::IpAddr,
    /// Seconds between container stats samples, and the period of the AWS/ECS metrics
    /// published from them and of the load balancers' AWS/ApplicationELB metrics (AWS's: 60;
    /// down to 1, stored as high-resolution datapoints).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    metric_period: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Up(args) => runtime.block_on(run(args, true)),
        Command::Server(args) => runtime.block_on(run(args, false)),
        Command::Agent(args) => runtime.block_on(run_agent(args)),
        Command::Plan(PlanArgs {
            command: PlanCommand::RunTask(args),
        }) => runtime.block_on(plan::run_task(args)),
        Command::Logs(args) => runtime.block_on(logs::run(args)),
        Command::Events(args) => runtime.block_on(events::run(args)),
        Command::Demo(DemoArgs {
            command: DemoCommand::Image,
        }) => {
            let id = runtime.block_on(demo::build_image())?;
            println!("built {} ({id})", demo::IMAGE);
            Ok(())
        }
    }
}

async fn run(args: ServerArgs, local_development: bool) -> anyhow::Result<()> {
    if !berth_ec2::is_known_region(&args.region) {
        anyhow::bail!("--region {} is not an AWS region", args.region);
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    credentials::ensure_root_credentials(&args.data_dir)?;
    let sqlite = open_store(&args.data_dir)?;
    let store: Arc<dyn berth_store::Store> = sqlite.clone();
    let root = credentials::root_credentials(&args.data_dir)?;
    // Bound first: the regions tell agents this address (DiscoverPollEndpoint).
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let mut settings = berth_control::RegionSettings::new(args.account_id.clone(), root.clone());
    settings.endpoint = format!("http://{address}");
    settings.agent_lost_after = Duration::from_secs(args.agent_lost_after);
    settings.metric_period = Duration::from_secs(args.metric_period);
    let container_metrics = container_metrics::CloudWatchSink::default();
    settings.metric_sink = Some(Arc::new(container_metrics.clone()));
    // Each region's ECS event history, kept across restarts in DATA_DIR/events.db.
    settings.event_store = Some(
        berth_control::SqliteEventStore::open(&args.data_dir.join("events.db"))
            .map_err(|err| anyhow::anyhow!("opening the event store: {err}"))?,
    );
    settings.load_balancing = Arc::new(TargetGroupsOfElbv2 {
        store: store.clone(),
        account_id: args.account_id.clone(),
    });
    let regions = Arc::new(
        berth_control::Regions::open(store.clone(), settings, &args.region)
            .await
            .map_err(|err| anyhow::anyhow!("opening the regions: {}", err.message))?,
    );
    let home = regions
        .region(&args.region)
        .await
        .map_err(|err| anyhow::anyhow!("starting region {}: {}", args.region, err.message))?;
    if local_development {
        berth_control::ecs::ensure_default_cluster(&home)
            .await
            .map_err(|err| anyhow::anyhow!("creating the default cluster: {}", err.message))?;
    }
    tracing::info!(%address, data_dir = %args.data_dir.display(), "control plane serving");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    if args.accept_any_credentials {
        tracing::warn!(
            "--accept-any-credentials: any access key with a well-formed signature acts as the account's root, unverified"
        );
    }
    let authentication = berth_gateway::Authentication {
        identities: vec![
            Arc::new(berth_gateway::RootKey {
                access_key_id: root.access_key_id.clone(),
                secret_access_key: root.secret_access_key.clone(),
                account_id: args.account_id.clone(),
            }),
            Arc::new(berth_sts::Sessions::new(store.clone())),
        ],
        accept_any_credentials: args.accept_any_credentials,
        account_id: args.account_id.clone(),
        is_region: berth_ec2::is_known_region,
    };
    let (data_plane, lb_counters) = berth_lb::DataPlane::new(berth_lb::Options {
        bind_ip: args.lb_address,
        ..Default::default()
    })
    .context("starting the load balancers' data plane")?;
    // Log events live in a store of their own, written on its own thread.
    let logs = berth_logs_service::Logs::open(
        &args.data_dir.join("logs.db"),
        berth_logs_service::LogsOptions::default(),
    )
    .map_err(|err| anyhow::anyhow!("opening the log store: {err}"))?;
    // Metrics, alarms and their history too, in DATA_DIR/metrics.db.
    let cloudwatch = berth_cloudwatch_service::Metrics::open(
        &args.data_dir.join("metrics.db"),
        args.account_id.clone(),
        berth_cloudwatch_service::MetricsOptions::default(),
    )
    .map_err(|err| anyhow::anyhow!("opening the metric store: {err}"))?;
    let _ = container_metrics.0.set(cloudwatch.clone());
    // Application Auto Scaling scales services through ECS's UpdateService path, on the
    // alarms above; its target tracking alarms have the metrics' period.
    let autoscaling = berth_autoscaling_service::AutoScaling::new(
        store.clone(),
        args.account_id.clone(),
        Arc::new(EcsServices(regions.clone())),
        cloudwatch.clone(),
        Arc::new(berth_aws::SystemClock),
        Duration::from_secs(args.metric_period),
    );
    let services: Vec<Arc<dyn berth_gateway::Service>> = vec![
        Arc::new(berth_control::EcsService {
            regions: regions.clone(),
        }),
        Arc::new(berth_sts::StsService::new(store.clone())),
        Arc::new(berth_ec2_service::Ec2Service::new(
            store.clone(),
            args.account_id.clone(),
        )),
        Arc::new(
            berth_elbv2_service::Elbv2Service::new(store.clone(), args.account_id.clone())
                .with_listener_ports(Arc::new(DataPlanePorts(data_plane.clone()))),
        ),
        Arc::new(berth_acm_service::AcmService::new(
            store.clone(),
            args.account_id.clone(),
            Arc::new(berth_elbv2_service::CertificateUsersOfListeners::new(
                args.account_id.clone(),
            )),
        )),
        Arc::new(berth_logs_service::LogsService::new(
            logs,
            args.account_id.clone(),
        )),
        Arc::new(berth_cloudwatch_service::CloudWatchService::new(
            cloudwatch.clone(),
        )),
        Arc::new(autoscaling.service()),
    ];
    let limits = berth_gateway::ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout),
        ..Default::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let api_metrics = berth_gateway::ApiMetrics::register(&mut registry);
    sqlite.register_metrics(&mut registry);
    autoscaling.register_metrics(&mut registry);
    registry.register_collector(Box::new(metrics::ControlPlanes(regions.clone())));
    let gateway = Arc::new(
        berth_gateway::Gateway::new(
            services,
            authentication,
            Arc::new(berth_aws::authorization::RootOnly),
            Arc::new(berth_aws::SystemClock),
            limits,
        )
        .with_metrics(api_metrics),
    );
    let router = gateway
        .clone()
        .router()
        .merge(berth_control::router(berth_control::Routes {
            regions: regions.clone(),
            gateway: gateway.clone(),
            home_region: args.region.clone(),
            stopping: stopping.clone(),
        }))
        .merge(metrics::router(registry));
    let server = tokio::spawn(berth_gateway::serve(
        listener,
        router,
        gateway.limits(),
        stopped(stopping.clone()),
    ));
    // The load balancers' counters become AWS/ApplicationELB metrics once a period.
    let lb_metrics = tokio::spawn(berth_elbv2_service::metrics::publish(
        data_plane.clone(),
        lb_counters,
        cloudwatch.clone(),
        Arc::new(berth_aws::SystemClock),
        Duration::from_secs(args.metric_period),
        stopped(stopping.clone()),
    ));
    let load_balancers = tokio::spawn(berth_elbv2_service::data_plane::run(
        store.clone(),
        args.account_id.clone(),
        data_plane,
        Arc::new(AgentAddresses(regions.clone())),
        stopped(stopping.clone()),
    ));
    // Alarms are evaluated (and the metric store swept) in the background.
    let alarm_evaluator =
        tokio::spawn(cloudwatch.run(Arc::new(berth_aws::SystemClock), stopped(stopping.clone())));
    let scaler = tokio::spawn(berth_autoscaling_service::reconciler::run(
        autoscaling,
        stopped(stopping.clone()),
    ));
    let agent = if local_development {
        let config = berth_agent::AgentConfig {
            server: format!("http://{address}"),
            credentials: root,
            region: args.region.clone(),
            cluster: "default".into(),
            data_dir: args.data_dir.join("agent"),
            availability_zone: None,
            attributes: Vec::new(),
            cpu: None,
            memory: None,
            reserved_memory: 0,
            cleanup_wait: Duration::from_secs(600),
        };
        let runtime = Arc::new(berth_agent::docker::DockerRuntime::connect()?);
        let agent = tokio::spawn(berth_agent::run(config, runtime, stopped(stopping.clone())));
        wait_for_agent(&home).await?;
        Some(agent)
    } else {
        None
    };
    println!("berth ready: http://{address}");
    shutdown_signal().await;
    let _ = stop.send(true);
    if let Some(agent) = agent {
        agent.await??;
    }
    server.await??;
    load_balancers.await?;
    lb_metrics.await?;
    alarm_evaluator.await?;
    scaler.await?;
    regions.shutdown().await;
    tracing::info!("shut down");
    Ok(())
}

/// Where `instance` targets are reached: the address each container instance's agent connected
/// from, whose host publishes its tasks' ports (the instance id is the agent's host id).
struct AgentAddresses(Arc<berth_control::Regions>);

/// Application Auto Scaling's view of ECS services: their desired count, and UpdateService's path
/// for a new desired count.
struct EcsServices(Arc<berth_control::Regions>);

impl berth_autoscaling_service::ScalableResources for EcsServices {
    fn desired_count<'a>(
        &'a self,
        region: &'a str,
        cluster: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Option<i32>, berth_aws::AwsError>> {
        Box::pin(async move {
            let control_plane = self.0.region(region).await?;
            Ok(berth_control::ecs::desired_count(&control_plane, cluster, service).await?)
        })
    }

    fn set_desired_count<'a>(
        &'a self,
        region: &'a str,
        cluster: &'a str,
        service: &'a str,
        count: i32,
    ) -> BoxFuture<'a, Result<(), berth_aws::AwsError>> {
        Box::pin(async move {
            let control_plane = self.0.region(region).await?;
            berth_control::ecs::set_desired_count(&control_plane, cluster, service, count).await?;
            Ok(())
        })
    }
}

/// Listeners are created only on ports the data plane can serve.
struct DataPlanePorts(berth_lb::DataPlane);

impl berth_elbv2_service::ListenerPorts for DataPlanePorts {
    fn check(&self, port: u16) -> Result<(), String> {
        self.0.can_listen(port).map_err(|err| err.to_string())
    }
}

impl berth_elbv2_service::data_plane::InstanceAddresses for AgentAddresses {
    fn address(&self, region: &str, instance_id: &str) -> Option<std::net::IpAddr> {
        self.0.instance_address(region, instance_id)
    }
}

/// Services' view of Elastic Load Balancing: the elbv2 service's target groups in the store.
struct TargetGroupsOfElbv2 {
    store: Arc<dyn berth_store::Store>,
    account_id: String,
}

fn as_pairs(targets: Vec<berth_control::Target>) -> Vec<(String, i32)> {
    targets.into_iter().map(|t| (t.id, t.port)).collect()
}

impl berth_control::LoadBalancing for TargetGroupsOfElbv2 {
    fn target_group<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<TargetGroupFacts>, berth_aws::AwsError>> {
        Box::pin(async move {
            let found = berth_elbv2_service::registrations::target_group(
                self.store.clone(),
                &self.account_id,
                region,
                arn,
            )
            .await?;
            Ok(found.map(|group| TargetGroupFacts {
                target_type: group.target_type,
                has_load_balancer: !group.load_balancer_arns.is_empty(),
                deregistration_delay_seconds: group.deregistration_delay,
            }))
        })
    }

    fn register<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        targets: Vec<berth_control::Target>,
    ) -> BoxFuture<'a, Result<usize, berth_aws::AwsError>> {
        Box::pin(berth_elbv2_service::registrations::register(
            self.store.clone(),
            &self.account_id,
            region,
            arn,
            as_pairs(targets),
        ))
    }

    fn deregister<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        targets: Vec<berth_control::Target>,
        now: f64,
    ) -> BoxFuture<'a, Result<usize, berth_aws::AwsError>> {
        Box::pin(berth_elbv2_service::registrations::deregister(
            self.store.clone(),
            &self.account_id,
            region,
            arn,
            as_pairs(targets),
            now,
        ))
    }

    fn health<'a>(
        &'a self,
        region: &'a str,
        arn: &'a str,
        now: f64,
    ) -> BoxFuture<'a, Result<Vec<berth_control::TargetHealth>, berth_aws::AwsError>> {
        Box::pin(async move {
            let health = berth_elbv2_service::registrations::health(
                self.store.clone(),
                &self.account_id,
                region,
                arn,
                now,
            )
            .await?;
            Ok(health
                .into_iter()
                .map(|target| berth_control::TargetHealth {
                    target: berth_control::Target {
                        id: target.id,
                        port: target.port,
                    },
                    state: target.state,
                    description: target.description,
                })
                .collect())
        })
    }
}

/// Waits (bounded) until the local agent has registered and is connected.
async fn wait_for_agent(control_plane: &ControlPlane) -> anyhow::Result<()> {
    for _ in 0..300 {
        let connected = berth_control::ecs::connected_agents(control_plane, "default")
            .await
            .map_err(|err| anyhow::anyhow!("checking the local agent: {}", err.message))?;
        if connected > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the local agent did not register within 30 s")
}

async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    if args.simulate > 0 {
        return run_simulated_agents(args).await;
    }
    let runtime = Arc::new(berth_agent::docker::DockerRuntime::connect()?);
    let config = args.config().await?;
    tracing::info!(server = %config.server, cluster = %config.cluster, "agent starting");
    berth_agent::run(config, runtime, shutdown_signal()).await?;
    Ok(())
}

/// `berth agent --simulate N`: N instances in this process on one simulated runtime, each with
/// its own identity under DATA_DIR/sim-NNNNN.
async fn run_simulated_agents(args: AgentArgs) -> anyhow::Result<()> {
    let count = args.simulate;
    let start_delay = Duration::from_millis(args.simulated_start_ms);
    let zones: Vec<String> = args
        .az
        .as_deref()
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let base = args.config().await?;
    let runtime = Arc::new(berth_agent::simulated::SimulatedRuntime::new(start_delay));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut agents = Vec::with_capacity(count);
    for index in 0..count {
        let config = berth_agent::AgentConfig {
            data_dir: base.data_dir.join(format!("sim-{index:05}")),
            availability_zone: (!zones.is_empty()).then(|| zones[index % zones.len()].clone()),
            ..base.clone()
        };
        agents.push(tokio::spawn(berth_agent::run(
            config,
            runtime.clone(),
            stopped(stopping.clone()),
        )));
    }
    tracing::info!(count, "simulated instances started");
    shutdown_signal().await;
    let _ = stop.send(true);
    for agent in agents {
        agent.await??;
    }
    Ok(())
}

/// Resolves once `stopping` turns true.
async fn stopped(mut stopping: tokio::sync::watch::Receiver<bool>) {
    while !*stopping.borrow() {
        if stopping.changed().await.is_err() {
            return;
        }
    }
}

fn open_store(data_dir: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    let path = data_dir.join("state.db");
    let store = SqliteStore::open(&path)
        .with_context(|| format!("opening the store {}", path.display()))?;
    Ok(Arc::new(store))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
