//! Task definition records (one per revision) and the per-family record that numbers them.

use berth_ecs::arn::TaskDefinitionRef;
use berth_ecs_wire::TaskDefinition;
use serde::{Deserialize, Serialize};

use crate::ecs::fetch;
use crate::error::ApiError;
use crate::{ControlPlane, keys};

/// Per-family bookkeeping: revisions are never reused, even after deletion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Family {
    pub name: String,
    pub last_revision: i32,
    pub active_revisions: i32,
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
        TaskDefinitionRef::Revision(family, revision) => {
            fetch(cp, &keys::task_definition(family, *revision)).await
        }
        TaskDefinitionRef::Family(name) => {
            let Some(family) = fetch::<Family>(cp, &keys::family(name)).await? else {
                return Ok(None);
            };
            if family.active_revisions == 0 {
                return Ok(None);
            }
            for revision in (1..=family.last_revision).rev() {
                if let Some(definition) =
                    fetch::<TaskDefinition>(cp, &keys::task_definition(name, revision)).await?
                    && status_of(&definition) == "ACTIVE"
                {
                    return Ok(Some(definition));
                }
            }
            Ok(None)
        }
    }
}
