//! Task definition records (one per revision) and the per-family record that numbers them.

use berth_ecs::arn::TaskDefinitionRef;
use berth_ecs::status::TaskDefinitionStatus;
use berth_ecs_wire::TaskDefinition;
use berth_store::Txn;
use serde::{Deserialize, Serialize};

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
pub fn write(txn: &mut dyn Txn, family: &str, revision: i32, definition: &TaskDefinition) {
    super::write(txn, &keys::task_definition(family, revision), definition);
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
    match reference {
        TaskDefinitionRef::Revision(family, revision) => fetch(cp, family, *revision).await,
        TaskDefinitionRef::Family(name) => {
            let Some(family) = super::fetch::<Family>(cp, &keys::family(name)).await? else {
                return Ok(None);
            };
            if family.active_revisions == 0 {
                return Ok(None);
            }
            for revision in (1..=family.last_revision).rev() {
                if let Some(definition) = fetch(cp, name, revision).await?
                    && status_of(&definition) == TaskDefinitionStatus::Active.as_str()
                {
                    return Ok(Some(definition));
                }
            }
            Ok(None)
        }
    }
}
