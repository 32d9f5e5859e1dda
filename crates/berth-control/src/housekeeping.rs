//! Background housekeeping: forgets STOPPED tasks once ECS would (they stay describable for at
//! least an hour after they stop). A reconciler: each pass re-reads the store, so a pass missed
//! during a restart is simply done by the next one.

use std::time::Duration;

use berth_store::{Txn, transact};
use berth_wire::ecs::{Cluster, Task};

use crate::ecs::tasks;
use crate::error::ApiError;
use crate::{ControlPlane, keys};

/// How long a STOPPED task stays describable.
pub const STOPPED_TASK_RETENTION: Duration = Duration::from_secs(3600);
const PASS_EVERY: Duration = Duration::from_secs(60);

/// Runs passes until `shutdown` resolves.
pub async fn run(
    cp: &ControlPlane,
    retention: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut every = tokio::time::interval(PASS_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(err) = forget_stopped_tasks(cp, retention).await {
                    tracing::warn!(error = %err.message, "housekeeping pass failed");
                }
            }
            _ = &mut shutdown => return,
        }
    }
}

/// Deletes every task that stopped more than `retention` ago; returns how many.
pub async fn forget_stopped_tasks(
    cp: &ControlPlane,
    retention: Duration,
) -> Result<usize, ApiError> {
    let cutoff = cp.clock.now() - retention.as_secs_f64();
    let mut forgotten = 0;
    for cluster in cp.store.range(keys::CLUSTERS, None, usize::MAX).await? {
        let cluster: Cluster = crate::ecs::decode(&cluster)?;
        let name = cluster.cluster_name.unwrap_or_default();
        let expired: Vec<String> = cp
            .store
            .range(&keys::tasks_of(&name), None, usize::MAX)
            .await?
            .iter()
            .map(crate::ecs::decode::<Task>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|t| {
                tasks::last_status(t) == "STOPPED" && t.stopped_at.is_some_and(|at| at < cutoff)
            })
            .filter_map(|t| t.task_arn)
            .collect();
        if expired.is_empty() {
            continue;
        }
        forgotten += expired.len();
        transact(&*cp.store, move |txn: &mut dyn Txn| {
            for arn in &expired {
                txn.delete(&keys::task(&name, tasks::task_id(arn)));
                txn.delete(&keys::tags(arn));
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    }
    Ok(forgotten)
}
