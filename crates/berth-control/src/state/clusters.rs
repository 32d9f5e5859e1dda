//! Cluster records.

use berth_ecs::EcsError;
use berth_ecs::status::ClusterStatus;
use berth_ecs_wire::Cluster;
use berth_store::Txn;

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// One cluster, read inside a transaction, whatever its status.
pub fn read(txn: &mut dyn Txn, name: &str) -> Result<Option<Cluster>, ApiError> {
    super::read(txn, &keys::cluster(name))
}

/// One cluster, from the latest committed state, whatever its status.
pub async fn fetch(cp: &ControlPlane, name: &str) -> Result<Option<Cluster>, ApiError> {
    super::fetch(cp, &keys::cluster(name)).await
}

/// Writes the cluster `name`.
pub fn write(txn: &mut dyn Txn, name: &str, cluster: &Cluster) {
    super::write(txn, &keys::cluster(name), cluster);
}

/// One page of the clusters that `keep` accepts, in name order, starting after the pagination
/// key `after`; also returns the key to resume from when more may follow.
pub async fn page(
    cp: &ControlPlane,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&Cluster) -> bool,
) -> Result<(Vec<Cluster>, Option<String>), ApiError> {
    super::scan(cp, keys::CLUSTERS, after, page, keep).await
}

/// Every cluster, whatever its status, from the latest committed state in one read.
pub async fn all(cp: &ControlPlane) -> Result<Vec<Cluster>, ApiError> {
    cp.store
        .range(keys::CLUSTERS, None, usize::MAX)
        .await?
        .iter()
        .map(super::decode)
        .collect()
}

/// Loads an ACTIVE cluster inside a transaction, or fails with ClusterNotFoundException.
pub fn active_cluster(txn: &mut dyn Txn, name: &str) -> Result<Cluster, ApiError> {
    match read(txn, name)? {
        Some(cluster) if cluster.status.as_deref() == Some(ClusterStatus::Active.as_str()) => {
            Ok(cluster)
        }
        _ => Err(EcsError::ClusterNotFound.into()),
    }
}

/// Whether `name` is an ACTIVE cluster, in the latest committed state.
pub async fn exists(cp: &ControlPlane, name: &str) -> Result<bool, ApiError> {
    Ok(fetch(cp, name)
        .await?
        .is_some_and(|c| c.status.as_deref() == Some(ClusterStatus::Active.as_str())))
}
