//! `berth`: a self-hosted Amazon ECS in one binary.

mod credentials;
mod demo;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use berth_control::ControlPlane;
use berth_store::SqliteStore;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

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
    /// The test/demo workload built into this binary.
    Demo(DemoArgs),
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
    /// Region that ARNs name.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id that ARNs name.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
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
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    credentials::ensure_root_credentials(&args.data_dir)?;
    let store = open_store(&args.data_dir)?;
    let partition = berth_ecs::arn::Partition::new(args.region, args.account_id);
    let control_plane = Arc::new(ControlPlane::new(store, partition));
    if local_development {
        berth_control::ecs::ensure_default_cluster(&control_plane)
            .await
            .map_err(|err| anyhow::anyhow!("creating the default cluster: {}", err.message))?;
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %args.data_dir.display(), "control plane serving");
    println!("berth ready: http://{address}");
    berth_control::serve(listener, control_plane, shutdown_signal()).await?;
    tracing::info!("shut down");
    Ok(())
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
