//! Tags: one record per tagged resource, keyed by its ARN.

use berth_ecs_wire::Tag;
use berth_store::Txn;

use crate::error::ApiError;
use crate::{ControlPlane, keys};

/// The tags of `arn`, read inside a transaction.
pub fn read(txn: &mut dyn Txn, arn: &str) -> Result<Vec<Tag>, ApiError> {
    Ok(crate::ecs::read::<Vec<Tag>>(txn, &keys::tags(arn))?.unwrap_or_default())
}

/// Replaces the tags of `arn`; a resource without tags has no record.
pub fn write(txn: &mut dyn Txn, arn: &str, tags: &[Tag]) {
    if tags.is_empty() {
        txn.delete(&keys::tags(arn));
    } else {
        crate::ecs::write(txn, &keys::tags(arn), &tags.to_vec());
    }
}

/// The tags of `arn`, from the latest committed state.
pub async fn fetch(cp: &ControlPlane, arn: &str) -> Result<Vec<Tag>, ApiError> {
    Ok(crate::ecs::fetch::<Vec<Tag>>(cp, &keys::tags(arn))
        .await?
        .unwrap_or_default())
}
