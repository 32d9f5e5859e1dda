//! Regions. Each region is its own ECS, as on AWS: its own key space in the store
//! (`ecs/REGION/…`), its own ARNs, and its own background work (the agent hub, the placement
//! views, the service scheduler and housekeeping). A region comes to life the first time a
//! request or an agent names it, and again at every start once it holds anything.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_ecs::arn::Partition;
use berth_protocol::sigv4::Credentials;
use berth_store::{Namespace, Store, StoreError, Txn, transact};
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::{Clock, ControlPlane, LoadBalancing, SystemClock, housekeeping, service_scheduler};

/// Where the store keeps the names of the regions that have been used.
const REGISTRY: &str = "berth/regions/ecs/";
/// Marks a store whose keys are laid out per service and region.
const LAYOUT_KEY: &str = "berth/layout";
const LAYOUT: &[u8] = b"2";

/// Settings every region's control plane shares.
#[derive(Clone)]
pub struct RegionSettings {
    pub account_id: String,
    pub root: Credentials,
    pub agent_lost_after: Duration,
    pub clock: Arc<dyn Clock>,
    pub load_balancing: Arc<dyn LoadBalancing>,
    /// How often agents sample container stats and regions publish container metrics.
    pub metric_period: Duration,
    /// Where container metrics go (CloudWatch, in the binary).
    pub metric_sink: Option<Arc<dyn crate::MetricSink>>,
    /// Where each region's event history is kept across restarts; without one, in memory.
    pub event_store: Option<Arc<dyn crate::EventStore>>,
    /// The server's base URL (`http://ADDRESS`), which DiscoverPollEndpoint answers.
    pub endpoint: String,
}

impl RegionSettings {
    pub fn new(account_id: impl Into<String>, root: Credentials) -> RegionSettings {
        RegionSettings {
            account_id: account_id.into(),
            root,
            agent_lost_after: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            load_balancing: crate::load_balancing::none(),
            metric_period: Duration::from_secs(60),
            metric_sink: None,
            event_store: None,
            endpoint: crate::DEFAULT_ENDPOINT.to_string(),
        }
    }
}

struct Running {
    control_plane: Arc<ControlPlane>,
    background: Vec<JoinHandle<()>>,
}

/// Every region's ECS control plane, started on first use.
pub struct Regions {
    store: Arc<dyn Store>,
    settings: RegionSettings,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    /// The regions already running, for requests: a short synchronous lock instead of the
    /// async one that starting a region takes.
    started: Mutex<HashMap<String, Arc<ControlPlane>>>,
}

impl Regions {
    /// Opens the regions on `store`: moves a store from before regions into `legacy_region`
    /// (whose ARNs its records carry), then starts every region that was used before.
    pub async fn open(
        store: Arc<dyn Store>,
        settings: RegionSettings,
        legacy_region: &str,
    ) -> Result<Regions, ApiError> {
        migrate_to_regions(&*store, legacy_region).await?;
        let regions = Regions {
            store,
            settings,
            running: tokio::sync::Mutex::new(HashMap::new()),
            started: Mutex::new(HashMap::new()),
        };
        for kv in regions.store.range(REGISTRY, None, usize::MAX).await? {
            let name = kv.key[REGISTRY.len()..].to_string();
            regions.region(&name).await?;
        }
        Ok(regions)
    }

    /// The control planes started so far, by region name.
    pub fn started(&self) -> Vec<(String, Arc<ControlPlane>)> {
        let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started
            .iter()
            .map(|(name, control_plane)| (name.clone(), control_plane.clone()))
            .collect()
    }

    /// The control plane of `region`, started when this is its first use.
    pub async fn region(&self, region: &str) -> Result<Arc<ControlPlane>, ApiError> {
        if let Some(running) = self
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(region)
        {
            return Ok(running.clone());
        }
        let mut running = self.running.lock().await;
        if let Some(existing) = running.get(region) {
            return Ok(existing.control_plane.clone());
        }
        let started = self.start(region).await?;
        let control_plane = started.control_plane.clone();
        running.insert(region.to_string(), started);
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(region.to_string(), control_plane.clone());
        Ok(control_plane)
    }

    async fn start(&self, region: &str) -> Result<Running, ApiError> {
        let key = format!("{REGISTRY}{region}");
        transact(&*self.store, move |txn: &mut dyn Txn| {
            if txn.get(&key)?.is_none() {
                txn.put(&key, Vec::new());
            }
            Ok::<_, StoreError>(())
        })
        .await?;
        let store: Arc<dyn Store> =
            Arc::new(Namespace::new(self.store.clone(), format!("ecs/{region}/")));
        let mut control_plane = ControlPlane::new(
            store,
            Partition::new(region, self.settings.account_id.clone()),
            self.settings.root.clone(),
        );
        control_plane.agent_lost_after = self.settings.agent_lost_after;
        control_plane.clock = self.settings.clock.clone();
        control_plane.load_balancing = self.settings.load_balancing.clone();
        control_plane.metric_period = self.settings.metric_period;
        control_plane.metric_sink = self.settings.metric_sink.clone();
        control_plane.endpoint = self.settings.endpoint.clone();
        if let Some(kept) = &self.settings.event_store {
            control_plane.events = Arc::new(crate::events::EventLog::durable(
                control_plane.partition.clone(),
                crate::events::HISTORY,
                kept.clone(),
            ));
        }
        let cp = Arc::new(control_plane);
        // No agent of this region can be connected to a control plane that is only starting.
        crate::ecs::mark_agents_disconnected(&cp).await?;
        let background = vec![
            tokio::spawn({
                let (hub, store) = (cp.agents.clone(), cp.store.clone());
                async move { hub.run(store).await }
            }),
            tokio::spawn({
                let (views, store) = (cp.views.clone(), cp.store.clone());
                async move { views.follow(store).await }
            }),
            tokio::spawn(service_scheduler::run(cp.clone())),
            tokio::spawn(crate::events::run(cp.clone())),
            tokio::spawn(crate::container_metrics::run(
                cp.clone(),
                region.to_string(),
            )),
            tokio::spawn({
                let cp = cp.clone();
                async move {
                    housekeeping::run(
                        &cp,
                        housekeeping::STOPPED_TASK_RETENTION,
                        std::future::pending(),
                    )
                    .await
                }
            }),
        ];
        tracing::info!(region, "region started");
        Ok(Running {
            control_plane: cp,
            background,
        })
    }

    /// The address the agent of EC2 instance `ec2_instance_id` in `region` last connected
    /// from (where its host's published ports are reached); `None` when no agent of that
    /// instance has connected since this control plane started.
    pub fn instance_address(&self, region: &str, ec2_instance_id: &str) -> Option<IpAddr> {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(region)?
            .agents
            .instance_address(ec2_instance_id)
    }

    /// Stops every region's background work.
    pub async fn shutdown(&self) {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        for (_, running) in self.running.lock().await.drain() {
            for task in running.background {
                task.abort();
            }
        }
    }
}

/// Moves every key of a store written before regions (`cluster/web`, `task/…`) under the
/// namespace of `region` (`ecs/REGION/cluster/web`), in batches, then marks the layout. A
/// migration cut short by a crash resumes where it stopped: moved keys are under `ecs/` and
/// `berth/`, which no legacy key starts with.
async fn migrate_to_regions(store: &dyn Store, region: &str) -> Result<(), ApiError> {
    if store.get(LAYOUT_KEY).await?.is_some() {
        return Ok(());
    }
    const BATCH: usize = 1000;
    let legacy: Vec<_> = store
        .range("", None, usize::MAX)
        .await?
        .into_iter()
        .filter(|kv| !is_namespaced(&kv.key))
        .collect();
    let moved = legacy.len();
    let prefix = format!("ecs/{region}/");
    for batch in legacy.chunks(BATCH) {
        let (batch, prefix) = (batch.to_vec(), prefix.clone());
        transact(store, move |txn: &mut dyn Txn| {
            for kv in &batch {
                txn.put(&format!("{prefix}{}", kv.key), kv.value.to_vec());
                txn.delete(&kv.key);
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    }
    let registry = format!("{REGISTRY}{region}");
    transact(store, move |txn: &mut dyn Txn| {
        if moved > 0 {
            txn.put(&registry, Vec::new());
        }
        txn.put(LAYOUT_KEY, LAYOUT.to_vec());
        Ok::<_, StoreError>(())
    })
    .await?;
    if moved > 0 {
        tracing::info!(moved, region, "moved the store's records into their region");
    }
    Ok(())
}

/// Keys of the per-service, per-region layout start with a service's name or `berth/`.
fn is_namespaced(key: &str) -> bool {
    ["berth/", "ecs/", "ec2/", "sts/"]
        .iter()
        .any(|root| key.starts_with(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_from_before_regions_moves_into_the_legacy_region_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(berth_store_sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        transact(&*store, |txn: &mut dyn Txn| {
            for i in 0..2500 {
                txn.put(&format!("task/default/{i:05}"), b"{}".to_vec());
            }
            txn.put("cluster/default", b"{\"clusterName\":\"default\"}".to_vec());
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
        migrate_to_regions(&*store, "eu-west-1").await.unwrap();
        assert!(store.get("cluster/default").await.unwrap().is_none());
        assert!(
            store
                .get("ecs/eu-west-1/cluster/default")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .range("ecs/eu-west-1/task/", None, usize::MAX)
                .await
                .unwrap()
                .len(),
            2500
        );
        assert!(
            store
                .get(&format!("{REGISTRY}eu-west-1"))
                .await
                .unwrap()
                .is_some()
        );
        // A second start finds the layout marked and moves nothing, even a key that looks old.
        transact(&*store, |txn: &mut dyn Txn| {
            txn.put("cluster/stray", b"{}".to_vec());
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
        migrate_to_regions(&*store, "us-east-1").await.unwrap();
        assert!(store.get("cluster/stray").await.unwrap().is_some());
        assert!(
            store
                .get(&format!("{REGISTRY}us-east-1"))
                .await
                .unwrap()
                .is_none()
        );
    }
}
