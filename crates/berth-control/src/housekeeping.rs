//! Background housekeeping: forgets STOPPED tasks once ECS would (they stay describable for at
//! least an hour after they stop), and RunTask client tokens as old, whose tasks are gone by then. A reconciler: each pass re-reads the store, so a pass missed
//! during a restart is simply done by the next one.

use std::time::Duration;

use berth_ecs::lifecycle::TaskStatus;
use berth_ecs_wire::Cluster;
use berth_store::{Txn, transact};
use serde::Deserialize;

use crate::ecs::tasks;
use crate::error::ApiError;
use crate::state::tasks::task_id;
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

/// Just what housekeeping reads of a task record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskEnd {
    task_arn: Option<String>,
    last_status: Option<String>,
    stopped_at: Option<f64>,
    group: Option<String>,
}

/// Deletes every task that stopped more than `retention` ago, and every client token first used
/// more than `retention` ago; returns how many tasks.
pub async fn forget_stopped_tasks(
    cp: &ControlPlane,
    retention: Duration,
) -> Result<usize, ApiError> {
    let cutoff = cp.clock.now() - retention.as_secs_f64();
    let mut forgotten = 0;
    for cluster in cp.store.range(keys::CLUSTERS, None, usize::MAX).await? {
        let cluster: Cluster = crate::ecs::decode(&cluster)?;
        let name = cluster.cluster_name.unwrap_or_default();
        let expired_tokens: Vec<String> = cp
            .store
            .range(&keys::client_tokens_of(&name), None, usize::MAX)
            .await?
            .iter()
            .filter(|kv| {
                crate::ecs::decode::<tasks::ClientTokenRecord>(kv)
                    .is_ok_and(|r| r.created_at < cutoff)
            })
            .map(|kv| kv.key.clone())
            .collect();
        // Only the few fields needed: decoding 100,000 whole tasks would cost a quarter of a
        // gigabyte for a moment.
        let expired: Vec<TaskEnd> = cp
            .store
            .range(&keys::tasks_of(&name), None, usize::MAX)
            .await?
            .iter()
            .map(crate::ecs::decode::<TaskEnd>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|t| {
                t.last_status.as_deref() == Some(TaskStatus::Stopped.as_str())
                    && t.stopped_at.is_some_and(|at| at < cutoff)
            })
            .collect();
        if expired.is_empty() && expired_tokens.is_empty() {
            continue;
        }
        forgotten += expired.len();
        transact(&*cp.store, move |txn: &mut dyn Txn| {
            for task in &expired {
                let arn = task.task_arn.as_deref().unwrap_or_default();
                let id = task_id(arn);
                txn.delete(&keys::task(&name, id));
                txn.delete(&keys::tags(arn));
                if let Some(service) = task
                    .group
                    .as_deref()
                    .and_then(|g| g.strip_prefix("service:"))
                {
                    txn.delete(&keys::service_task(&name, service, id));
                }
            }
            for key in &expired_tokens {
                txn.delete(key);
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    }
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use berth_ecs::arn::Partition;
    use berth_protocol::sigv4::Credentials;
    use berth_store_sqlite::SqliteStore;
    use serde_json::json;

    use super::*;
    use crate::Clock;

    struct FixedClock(f64);

    impl Clock for FixedClock {
        fn now(&self) -> f64 {
            self.0
        }
    }

    #[tokio::test]
    async fn forgets_tasks_and_client_tokens_past_retention_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let root = Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        let mut cp = ControlPlane::new(store, Partition::new("us-east-1", "000000000000"), root);
        cp.clock = Arc::new(FixedClock(10_000.0));
        let task = |id: &str, status: TaskStatus, stopped_at: Option<f64>| {
            json!({"taskArn": format!("arn:aws:ecs:us-east-1:000000000000:task/c/{id}"),
                   "lastStatus": status.as_str(), "stoppedAt": stopped_at})
        };
        let records = [
            (
                keys::cluster("c"),
                json!({"clusterName": "c", "status": "ACTIVE"}),
            ),
            (
                keys::task("c", "old"),
                task("old", TaskStatus::Stopped, Some(1_000.0)),
            ),
            (
                keys::task("c", "recent"),
                task("recent", TaskStatus::Stopped, Some(9_500.0)),
            ),
            (
                keys::task("c", "running"),
                task("running", TaskStatus::Running, None),
            ),
            (
                keys::client_token("c", "old"),
                json!({"request": {}, "taskArns": [], "failures": [], "createdAt": 1_000.0}),
            ),
            (
                keys::client_token("c", "new"),
                json!({"request": {}, "taskArns": [], "failures": [], "createdAt": 9_900.0}),
            ),
        ];
        transact(&*cp.store, move |txn: &mut dyn Txn| {
            for (key, value) in &records {
                txn.put(key, serde_json::to_vec(value).unwrap());
            }
            Ok::<_, ApiError>(())
        })
        .await
        .unwrap();

        let forgotten = forget_stopped_tasks(&cp, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(forgotten, 1);
        let left: Vec<String> = cp
            .store
            .range("", None, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        assert_eq!(
            left,
            [
                "client-token/c/new",
                "cluster/c",
                "task/c/recent",
                "task/c/running"
            ]
        );
    }
}
