//! Tags: one record per tagged resource, keyed by its ARN.

use berth_ecs_wire::Tag;
use berth_store::Txn;

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// The tags of `arn`, read inside a transaction.
pub fn read(txn: &mut dyn Txn, arn: &str) -> Result<Vec<Tag>, ApiError> {
    Ok(super::read::<Vec<Tag>>(txn, &keys::tags(arn))?.unwrap_or_default())
}

/// Replaces the tags of `arn`; a resource without tags has no record.
pub fn write(txn: &mut dyn Txn, arn: &str, tags: &[Tag]) {
    if tags.is_empty() {
        txn.delete(&keys::tags(arn));
    } else {
        super::write(txn, &keys::tags(arn), &tags.to_vec());
    }
}

/// The tags of `arn`, from the latest committed state.
pub async fn fetch(cp: &ControlPlane, arn: &str) -> Result<Vec<Tag>, ApiError> {
    Ok(super::fetch::<Vec<Tag>>(cp, &keys::tags(arn))
        .await?
        .unwrap_or_default())
}

/// Whether the task, service or container instance that an ARN's resource path names
/// (`KIND/CLUSTER/ID`, under its cluster's records) has a record, in the latest committed
/// state; false for any other resource path.
pub async fn cluster_resource_exists(cp: &ControlPlane, resource: &str) -> Result<bool, ApiError> {
    let key = match resource.split('/').collect::<Vec<_>>()[..] {
        ["task", cluster, id] => keys::task(cluster, id),
        ["service", cluster, name] => keys::service(cluster, name),
        ["container-instance", cluster, id] => keys::instance(cluster, id),
        _ => return Ok(false),
    };
    Ok(cp.store.get(&key).await?.is_some())
}
