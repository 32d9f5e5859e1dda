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

/// Whether the task, service, container instance or task set that an ARN's resource path
/// names (`KIND/CLUSTER/ID`, `task-set/CLUSTER/SERVICE/ecs-svc/N`) has a record, in the latest committed
/// state; false for any other resource path.
pub async fn cluster_resource_exists(cp: &ControlPlane, resource: &str) -> Result<bool, ApiError> {
    let key = match resource.split('/').collect::<Vec<_>>()[..] {
        ["task", cluster, id] => keys::task(cluster, id),
        ["service", cluster, name] => keys::service(cluster, name),
        ["container-instance", cluster, id] => keys::instance(cluster, id),
        // A task set lives in its service's record.
        ["task-set", cluster, service, "ecs-svc", number] => {
            let id = format!("ecs-svc/{number}");
            let Some(service) = super::services::fetch(cp, cluster, service).await? else {
                return Ok(false);
            };
            return Ok(service
                .task_sets
                .iter()
                .flatten()
                .any(|set| set.id.as_deref() == Some(id.as_str())));
        }
        _ => return Ok(false),
    };
    Ok(cp.store.get(&key).await?.is_some())
}
