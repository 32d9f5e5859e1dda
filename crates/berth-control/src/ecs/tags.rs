//! TagResource, UntagResource and ListTagsForResource. Tags of every resource live under one
//! key per ARN, so a new taggable resource only has to be known to [`check_exists`].

use berth_ecs::EcsError;
use berth_ecs::arn::TaskDefinitionRef;
use berth_ecs::error::invalid;
use berth_ecs_wire::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::tags::{self, fetch, read, write};
use crate::state::{clusters, task_definitions};

/// Fails unless `arn` names an existing taggable resource.
async fn check_exists(cp: &ControlPlane, arn: &str) -> Result<(), ApiError> {
    let resource = cp.partition.resource_of(arn)?;
    let not_found = || EcsError::ResourceNotFound("The specified resource is not found.".into());
    if let Some(name) = resource.strip_prefix("cluster/") {
        return if clusters::exists(cp, name).await? {
            Ok(())
        } else {
            Err(EcsError::ClusterNotFound.into())
        };
    }
    if resource.starts_with("task-definition/") {
        let TaskDefinitionRef::Revision(family, revision) =
            TaskDefinitionRef::parse(&cp.partition, arn)?
        else {
            return Err(invalid(format!("Invalid task definition ARN: {arn}")).into());
        };
        return match task_definitions::fetch(cp, &family, revision).await? {
            Some(_) => Ok(()),
            None => Err(not_found().into()),
        };
    }
    if tags::cluster_resource_exists(cp, resource).await? {
        Ok(())
    } else {
        Err(not_found().into())
    }
}

pub async fn tag(
    cp: &ControlPlane,
    request: TagResourceRequest,
) -> Result<TagResourceResponse, ApiError> {
    let arn = request.resource_arn.clone().unwrap_or_default();
    let added = request.tags.clone().unwrap_or_default();
    berth_ecs::tags::check_user_tags(&added)?;
    check_exists(cp, &arn).await?;
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let merged = berth_ecs::tags::merge(&read(txn, &arn)?, &added)?;
        write(txn, &arn, &merged);
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

pub async fn untag(
    cp: &ControlPlane,
    request: UntagResourceRequest,
) -> Result<UntagResourceResponse, ApiError> {
    let arn = request.resource_arn.clone().unwrap_or_default();
    let removed = request.tag_keys.clone().unwrap_or_default();
    check_exists(cp, &arn).await?;
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let remaining = berth_ecs::tags::remove(&read(txn, &arn)?, &removed);
        write(txn, &arn, &remaining);
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(UntagResourceResponse {})
}

pub async fn list(
    cp: &ControlPlane,
    request: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let arn = request.resource_arn.clone().unwrap_or_default();
    check_exists(cp, &arn).await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(fetch(cp, &arn).await?),
    })
}
