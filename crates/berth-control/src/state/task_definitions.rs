//! Task definition records (one per revision) and the per-family record that numbers them.

use berth_ecs::EcsError;
use berth_ecs::arn::TaskDefinitionRef;
use berth_ecs::error::invalid;
use berth_ecs::status::TaskDefinitionStatus;
use berth_ecs_wire::TaskDefinition;
use std::borrow::Cow;

use berth_store::{KeyValue, Txn};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// Per-family bookkeeping: revisions are never reused, even after deletion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Family {
    pub name: String,
    pub last_revision: i32,
    pub active_revisions: i32,
}

/// One revision of a family, read inside a transaction.
pub fn read(
    txn: &mut dyn Txn,
    family: &str,
    revision: i32,
) -> Result<Option<TaskDefinition>, ApiError> {
    super::read(txn, &keys::task_definition(family, revision))
}

/// One revision of a family, from the latest committed state.
pub async fn fetch(
    cp: &ControlPlane,
    family: &str,
    revision: i32,
) -> Result<Option<TaskDefinition>, ApiError> {
    super::fetch(cp, &keys::task_definition(family, revision)).await
}

/// Writes one revision of a family.
/// Stores a revision; returns the JSON stored, which answers may carry unchanged.
pub fn write(
    txn: &mut dyn Txn,
    family: &str,
    revision: i32,
    definition: &TaskDefinition,
) -> Vec<u8> {
    let json = super::encode(definition);
    txn.put(&keys::task_definition(family, revision), json.clone());
    json
}

/// One page of the task definitions (of one family, or of all) that `keep` accepts, in family
/// then revision order, starting after the pagination key `after`; also returns the key to
/// resume from when more may follow.
pub async fn page(
    cp: &ControlPlane,
    family: Option<&str>,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&TaskDefinition) -> bool,
) -> Result<(Vec<TaskDefinition>, Option<String>), ApiError> {
    let prefix = match family {
        Some(family) => keys::task_definitions_of(family),
        None => keys::TASK_DEFINITIONS.to_string(),
    };
    super::scan(cp, &prefix, after, page, keep).await
}

/// The pagination key of a task definition in [`page`]'s order, for a listing that pages
/// through it in reverse.
pub fn pagination_key(definition: &TaskDefinition) -> String {
    keys::task_definition(
        definition.family.as_deref().unwrap_or_default(),
        definition.revision.unwrap_or_default(),
    )
}

/// A family's bookkeeping, read inside a transaction.
pub fn read_family(txn: &mut dyn Txn, name: &str) -> Result<Option<Family>, ApiError> {
    super::read(txn, &keys::family(name))
}

/// Writes a family's bookkeeping.
pub fn write_family(txn: &mut dyn Txn, name: &str, family: &Family) {
    super::write(txn, &keys::family(name), family);
}

/// One page of the families whose names start with `name_prefix` that `keep` accepts, in name
/// order, starting after the pagination key `after`.
pub async fn families_page(
    cp: &ControlPlane,
    name_prefix: &str,
    after: Option<String>,
    page: usize,
    keep: impl FnMut(&Family) -> bool,
) -> Result<(Vec<Family>, Option<String>), ApiError> {
    super::scan(cp, &keys::family(name_prefix), after, page, keep).await
}

/// A task definition's `status` (ACTIVE, INACTIVE or DELETE_IN_PROGRESS).
pub fn status_of(definition: &TaskDefinition) -> &str {
    definition.status.as_deref().unwrap_or_default()
}

/// The task definition a reference names: a revision as is, a bare family as its latest
/// ACTIVE revision. `None` when there is none.
pub async fn resolve(
    cp: &ControlPlane,
    reference: &TaskDefinitionRef,
) -> Result<Option<TaskDefinition>, ApiError> {
    match resolve_stored(cp, reference).await? {
        Some(stored) => stored.decode().map(Some),
        None => Ok(None),
    }
}

/// Resolves a task definition reference for a service or a task set: it must exist, be ACTIVE
/// and run on EC2 outside awsvpc (what services support today).
pub async fn resolve_for_service(
    cp: &ControlPlane,
    reference: &str,
) -> Result<TaskDefinition, ApiError> {
    let reference = TaskDefinitionRef::parse(&cp.partition, reference)
        .map_err(|_| invalid("TaskDefinition not found."))?;
    let definition = resolve(cp, &reference)
        .await?
        .ok_or_else(|| invalid("TaskDefinition not found."))?;
    if definition.status.as_deref() != Some(TaskDefinitionStatus::Active.as_str()) {
        return Err(invalid("TaskDefinition is inactive").into());
    }
    if !definition
        .compatibilities
        .iter()
        .flatten()
        .any(|c| c == "EC2")
    {
        return Err(invalid("Task definition does not support launch_type EC2.").into());
    }
    if definition.network_mode.as_deref() == Some("awsvpc") {
        return Err(EcsError::UnsupportedFeature(
            "Services in awsvpc network mode are not supported yet.".into(),
        )
        .into());
    }
    Ok(definition)
}

/// [`resolve`] without decoding the task definition, for answers that return it as it is.
pub async fn resolve_stored(
    cp: &ControlPlane,
    reference: &TaskDefinitionRef,
) -> Result<Option<StoredTaskDefinition>, ApiError> {
    match reference {
        TaskDefinitionRef::Revision(family, revision) => fetch_stored(cp, family, *revision).await,
        TaskDefinitionRef::Family(name) => {
            let Some(family) = super::fetch::<Family>(cp, &keys::family(name)).await? else {
                return Ok(None);
            };
            if family.active_revisions == 0 {
                return Ok(None);
            }
            for revision in (1..=family.last_revision).rev() {
                if let Some(stored) = fetch_stored(cp, name, revision).await?
                    && stored.summary()?.status.as_deref()
                        == Some(TaskDefinitionStatus::Active.as_str())
                {
                    return Ok(Some(stored));
                }
            }
            Ok(None)
        }
    }
}

async fn fetch_stored(
    cp: &ControlPlane,
    family: &str,
    revision: i32,
) -> Result<Option<StoredTaskDefinition>, ApiError> {
    let record = cp
        .store
        .get(&keys::task_definition(family, revision))
        .await?;
    Ok(record.map(|record| StoredTaskDefinition { record }))
}

/// A task definition as the store holds it: the JSON of its `TaskDefinition` wire shape.
/// DescribeTaskDefinition, the most frequent read of the API, sends it on as it is: decoding
/// it into the wire shape and encoding it again would only reproduce the same bytes, at about
/// a third of the request's CPU.
pub struct StoredTaskDefinition {
    record: KeyValue,
}

/// The members of a stored task definition that deciding about it needs; the rest is skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub task_definition_arn: Option<Cow<'a, str>>,
}

impl StoredTaskDefinition {
    pub fn decode(&self) -> Result<TaskDefinition, ApiError> {
        super::decode(&self.record)
    }

    pub fn summary(&self) -> Result<Summary<'_>, ApiError> {
        serde_json::from_slice(&self.record.value).map_err(|err| self.unreadable(err))
    }

    /// The stored JSON, checked to be one JSON value, to be written into an answer unchanged.
    pub fn json(&self) -> Result<&RawValue, ApiError> {
        serde_json::from_slice(&self.record.value).map_err(|err| self.unreadable(err))
    }

    fn unreadable(&self, err: serde_json::Error) -> ApiError {
        super::unreadable(&self.record.key, err)
    }
}
