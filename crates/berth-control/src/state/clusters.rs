//! Cluster records.

use berth_ecs::EcsError;
use berth_ecs_wire::Cluster;
use berth_store::Txn;

use crate::ecs::{fetch, read};
use crate::error::ApiError;
use crate::{ControlPlane, keys};

/// Loads an ACTIVE cluster inside a transaction, or fails with ClusterNotFoundException.
pub fn active_cluster(txn: &mut dyn Txn, name: &str) -> Result<Cluster, ApiError> {
    match read::<Cluster>(txn, &keys::cluster(name))? {
        Some(cluster) if cluster.status.as_deref() == Some("ACTIVE") => Ok(cluster),
        _ => Err(EcsError::ClusterNotFound.into()),
    }
}

/// Whether `name` is an ACTIVE cluster, in the latest committed state.
pub async fn exists(cp: &ControlPlane, name: &str) -> Result<bool, ApiError> {
    Ok(fetch::<Cluster>(cp, &keys::cluster(name))
        .await?
        .is_some_and(|c| c.status.as_deref() == Some("ACTIVE")))
}
