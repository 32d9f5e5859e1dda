//! The control plane: one HTTP front door for every AWS-protocol API ([`protocol`]), the ECS API
//! handlers ([`ecs`]) over the [`berth_store::Store`], and the entry point [`serve`].
//!
//! **API boundary:** handlers validate, write desired state through a store transaction and
//! return; they never talk to Docker or wait for background work.

mod agents;
pub mod ecs;
mod error;
pub mod housekeeping;
mod keys;
mod protocol;
mod service_scheduler;
mod views;

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_ecs::arn::Partition;
use berth_protocol::sigv4::Credentials;
use berth_store::Store;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use protocol::PLAN_RUN_TASK_PATH;

/// The source of "now" for everything the control plane records, so tests can pin it.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch, as the ECS wire format carries timestamps.
    fn now(&self) -> f64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        let elapsed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Millisecond precision, as ECS reports timestamps.
        (elapsed.as_millis() as f64) / 1000.0
    }
}

/// Everything a request handler needs: where state lives, whose ARNs we mint, and the time.
pub struct ControlPlane {
    pub store: Arc<dyn Store>,
    pub partition: Partition,
    pub clock: Arc<dyn Clock>,
    /// The account's root credentials; agents sign their channel with them.
    pub root: Credentials,
    /// The connected agents' sessions, woken when their desired set may have changed.
    pub agents: Arc<agents::AgentHub>,
    /// Placement's view of each cluster and its task counts, kept in step with the store.
    pub views: Arc<views::Views>,
    /// How long an instance's agent may stay disconnected before its service tasks count as
    /// lost and are replaced elsewhere.
    pub agent_lost_after: std::time::Duration,
}

impl ControlPlane {
    pub fn new(store: Arc<dyn Store>, partition: Partition, root: Credentials) -> ControlPlane {
        ControlPlane {
            store,
            partition,
            clock: Arc::new(SystemClock),
            root,
            agents: Arc::new(agents::AgentHub::default()),
            views: Arc::new(views::Views::default()),
            agent_lost_after: std::time::Duration::from_secs(60),
        }
    }

    /// The principal a request acts as. Until SigV4 verification and IAM arrive (B8) every
    /// caller is the account's root.
    pub fn caller(&self) -> String {
        self.partition.root_principal()
    }
}

/// Serves the AWS APIs on `listener` until `shutdown` completes. Binds nothing itself, so
/// callers (and tests) choose the address, port 0 included.
pub async fn serve(
    listener: TcpListener,
    control_plane: Arc<ControlPlane>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = control_plane.agents.clone();
    let store = control_plane.store.clone();
    let dispatcher = tokio::spawn(async move { hub.run(store).await });
    let views = control_plane.views.clone();
    let store = control_plane.store.clone();
    let follower = tokio::spawn(async move { views.follow(store).await });
    let scheduler = tokio::spawn(service_scheduler::run(control_plane.clone()));
    let served = axum::serve(listener, protocol::router(control_plane))
        .with_graceful_shutdown(shutdown)
        .await;
    dispatcher.abort();
    follower.abort();
    scheduler.abort();
    served
}
