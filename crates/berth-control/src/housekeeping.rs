//! Background housekeeping: forgets STOPPED tasks once ECS would (they stay describable for at
//! least an hour after they stop), and RunTask client tokens as old, whose tasks are gone by then. A reconciler: each pass re-reads the store, so a pass missed
//! during a restart is simply done by the next one.

use std::time::Duration;

use berth_ecs::lifecycle::TaskStatus;
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::{clusters, tasks};

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

/// Deletes every task that stopped more than `retention` ago, and every client token first used
/// more than `retention` ago; returns how many tasks.
pub async fn forget_stopped_tasks(
    cp: &ControlPlane,
    retention: Duration,
) -> Result<usize, ApiError> {
    let cutoff = cp.clock.now() - retention.as_secs_f64();
    let mut forgotten = 0;
    for cluster in clusters::all(cp).await? {
        let name = cluster.cluster_name.unwrap_or_default();
        let expired_tokens = tasks::client_tokens_used_before(cp, &name, cutoff).await?;
        let expired: Vec<tasks::TaskEnd> = tasks::ends_in(cp, &name)
            .await?
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
                tasks::forget(txn, &name, task);
            }
            for token in &expired_tokens {
                tasks::delete_client_token(txn, &name, token);
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
    use berth_ecs::status::ClusterStatus;
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
        let cluster = json!({"clusterName": "c", "status": ClusterStatus::Active.as_str()});
        let tasks = [
            task("old", TaskStatus::Stopped, Some(1_000.0)),
            task("recent", TaskStatus::Stopped, Some(9_500.0)),
            task("running", TaskStatus::Running, None),
        ];
        let token = |created_at: f64| json!({"request": {}, "taskArns": [], "failures": [], "createdAt": created_at});
        let tokens = [("old", token(1_000.0)), ("new", token(9_900.0))];
        transact(&*cp.store, move |txn: &mut dyn Txn| {
            clusters::write(txn, "c", &serde_json::from_value(cluster.clone()).unwrap());
            for task in &tasks {
                tasks::store(txn, "c", &serde_json::from_value(task.clone()).unwrap());
            }
            for (token, record) in &tokens {
                let record = serde_json::from_value(record.clone()).unwrap();
                tasks::write_client_token(txn, "c", token, &record);
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
