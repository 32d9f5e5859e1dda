//! The control plane: one HTTP front door for every AWS-protocol API ([`protocol`]), the ECS API
//! handlers ([`ecs`]) over the [`berth_store::Store`], and the entry point [`serve`].
//!
//! **API boundary:** handlers validate, write desired state through a store transaction and
//! return; they never talk to Docker or wait for background work.

mod agents;
pub mod container_metrics;
pub mod ecs;
mod error;
pub mod event_store;
mod events;
pub mod housekeeping;
pub mod load_balancing;
pub mod regions;
mod routes;
mod service_scheduler;
mod state;
mod views;

use std::sync::Arc;

use berth_ecs::arn::Partition;
use berth_protocol::sigv4::Credentials;
use berth_store::Store;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub use container_metrics::{ContainerUsage, MetricSink};
pub use error::ApiError;
pub use event_store::{EventStore, SqliteEventStore};
pub use load_balancing::{LoadBalancing, Target, TargetHealth};
pub use regions::{RegionSettings, Regions};
pub use routes::{EVENTS_PATH, EcsService, PLAN_RUN_TASK_PATH, REGION_PATH, Routes, router};

pub use berth_aws::{Clock, SystemClock};

/// The base URL of a server on the default `--listen` address.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9600";

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
    /// The region's target groups, which services register their tasks with.
    pub load_balancing: Arc<dyn LoadBalancing>,
    /// How long the service scheduler's passes take (exported as Prometheus metrics).
    pub scheduler_passes: Histogram,
    /// The region's recent ECS events (EventBridge's shapes), for `GET /berth/v1/events`.
    pub events: Arc<events::EventLog>,
    /// How often agents sample their containers' stats and the region publishes its
    /// container metrics (`--metric-period`).
    pub metric_period: std::time::Duration,
    /// Where the region's container metrics go; none: they are only kept for Prometheus.
    pub metric_sink: Option<Arc<dyn MetricSink>>,
    /// The latest container stats of each connected instance.
    pub usage: Arc<ContainerUsage>,
    /// This server's base URL, which DiscoverPollEndpoint tells agents.
    pub endpoint: String,
}

impl ControlPlane {
    pub fn new(store: Arc<dyn Store>, partition: Partition, root: Credentials) -> ControlPlane {
        let events = Arc::new(events::EventLog::new(partition.clone(), events::HISTORY));
        ControlPlane {
            store,
            partition,
            clock: Arc::new(SystemClock),
            root,
            agents: Arc::new(agents::AgentHub::default()),
            views: Arc::new(views::Views::default()),
            agent_lost_after: std::time::Duration::from_secs(60),
            load_balancing: load_balancing::none(),
            // 100 µs to ~6.6 s.
            scheduler_passes: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
            events,
            metric_period: std::time::Duration::from_secs(60),
            metric_sink: None,
            usage: Arc::new(ContainerUsage::default()),
            endpoint: DEFAULT_ENDPOINT.to_string(),
        }
    }

    /// The principal a request acts as (`registeredBy`, `createdBy`). Every key the gateway
    /// accepts today is the account root's (its long-term key or its STS sessions); with IAM
    /// users this comes from the request's context instead.
    pub fn caller(&self) -> String {
        self.partition.root_principal()
    }
}
