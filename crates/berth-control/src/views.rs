//! What the control plane derives from the store and keeps in memory, in step with the store's
//! change stream: per cluster, the placement engine's view of its container instances and how
//! many of its tasks are in each phase. Reading these costs nothing per record, where decoding
//! every instance of a 10,000-instance cluster costs a quarter of a second.
//!
//! The store stays the truth. A launch plans on the view and then re-checks, inside its
//! transaction, just the instances it chose (Nomad's plan applier); a plan made on a view that
//! was behind fails that check and is made again. A plan is also applied to the view at once
//! (kube-scheduler's "assume"), so that concurrent launches see each other before they commit.
//!
//! Each key's record is applied only when it is newer than what the view holds, so replaying
//! changes the view has already seen (after it fell behind the stream and re-read the store)
//! does no harm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use berth_ecs::lifecycle::TaskStatus;
use berth_ecs::status::InstanceStatus;
use berth_ecs_wire::Failure;
use berth_scheduler::{Cluster as PlacementCluster, Instance, PlacementRequest};
use berth_store::{ChangeSet, KeyValue, Store, StoreError};
use rand::Rng;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state;
use crate::state::instances::{self, StoredInstance};
use crate::state::tasks::task_id;

/// The longest a reader waits for the views to reach the store's revision.
const CATCH_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many tasks of a cluster are in each of ECS's counted phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub running: usize,
    /// PROVISIONING, PENDING and ACTIVATING.
    pub pending: usize,
    /// Not STOPPED yet.
    pub live: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Stopping,
    Stopped,
}

impl Phase {
    fn of(last_status: &str) -> Phase {
        match TaskStatus::parse(last_status) {
            Some(TaskStatus::Running) => Phase::Running,
            Some(TaskStatus::Stopped) => Phase::Stopped,
            Some(status) if status.is_stopping() => Phase::Stopping,
            _ => Phase::Pending,
        }
    }
}

impl TaskCounts {
    fn add(&mut self, phase: Phase, delta: isize) {
        let bump = |n: &mut usize| *n = n.saturating_add_signed(delta);
        match phase {
            Phase::Running => bump(&mut self.running),
            Phase::Pending => bump(&mut self.pending),
            Phase::Stopping | Phase::Stopped => {}
        }
        if phase != Phase::Stopped {
            bump(&mut self.live);
        }
    }
}

/// Just what the view reads of a task record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskPhase {
    last_status: Option<String>,
}

/// One cluster's instances as placement sees them, and its task counts.
#[derive(Default)]
struct ClusterView {
    placement: Option<PlacementCluster>,
    /// Instance id → index in `placement`, and the store revision of each instance's record.
    index: HashMap<String, usize>,
    revisions: Vec<i64>,
    tasks: HashMap<String, (i64, Phase)>,
    counts: TaskCounts,
    /// Each instance's registered and remaining CPU and memory as its record says (not as
    /// plans assumed), for the cluster's reservation metrics.
    capacity: HashMap<String, InstanceCapacity>,
}

#[derive(Debug, Clone, Copy)]
struct InstanceCapacity {
    /// ACTIVE or DRAINING: what the reservation and utilization metrics count.
    counted: bool,
    registered_cpu: i64,
    registered_memory: i64,
    remaining_cpu: i64,
    remaining_memory: i64,
}

impl InstanceCapacity {
    fn of(stored: &StoredInstance) -> InstanceCapacity {
        let instance = &stored.instance;
        let registered = instance.registered_resources.as_deref().unwrap_or_default();
        let remaining = instance.remaining_resources.as_deref().unwrap_or_default();
        InstanceCapacity {
            counted: [InstanceStatus::Active, InstanceStatus::Draining]
                .iter()
                .any(|status| status.as_str() == stored.status()),
            registered_cpu: instances::integer(registered, "CPU"),
            registered_memory: instances::integer(registered, "MEMORY"),
            remaining_cpu: instances::integer(remaining, "CPU"),
            remaining_memory: instances::integer(remaining, "MEMORY"),
        }
    }
}

impl ClusterView {
    fn instance_revision(&self, id: &str) -> i64 {
        self.index.get(id).map_or(0, |&i| self.revisions[i])
    }

    fn put_instance(&mut self, id: &str, instance: Instance, revision: i64) {
        let placement = self
            .placement
            .get_or_insert_with(|| PlacementCluster::new(Vec::new()));
        match self.index.get(id) {
            Some(&i) => {
                placement.replace(i, instance);
                self.revisions[i] = revision;
            }
            None => {
                let i = placement.add(instance);
                self.index.insert(id.to_string(), i);
                self.revisions.push(revision);
            }
        }
    }

    fn put_task(&mut self, id: &str, phase: Option<Phase>, revision: i64) {
        if self
            .tasks
            .get(id)
            .is_some_and(|(seen, _)| *seen >= revision)
        {
            return;
        }
        if let Some((_, before)) = self.tasks.remove(id) {
            self.counts.add(before, -1);
        }
        if let Some(phase) = phase {
            self.counts.add(phase, 1);
            self.tasks.insert(id.to_string(), (revision, phase));
        }
    }
}

/// A launch's plan: the instance (id) of each placed task, in order, and ECS's `failures[]` for
/// the tasks that found none.
#[derive(Debug, Clone)]
pub struct ViewPlan {
    pub targets: Vec<String>,
    pub failures: Vec<Failure>,
}

pub struct Views {
    clusters: Mutex<HashMap<String, ClusterView>>,
    /// The revision of the newest change set applied.
    applied: watch::Sender<i64>,
}

impl Default for Views {
    fn default() -> Views {
        Views {
            clusters: Mutex::default(),
            applied: watch::Sender::new(0),
        }
    }
}

impl Views {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ClusterView>> {
        // Every update leaves the maps consistent before it can panic.
        self.clusters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the views reflect every transaction committed before this call. The wait is
    /// bounded: a view that is behind only makes plans that fail their re-check and counts that
    /// are a moment old, which is better than a request that never returns.
    pub async fn caught_up(&self, store: &dyn Store) {
        let revision = store.revision();
        let mut applied = self.applied.subscribe();
        let waited =
            tokio::time::timeout(CATCH_UP_LIMIT, applied.wait_for(|&seen| seen >= revision)).await;
        if waited.is_err() {
            tracing::warn!(
                revision,
                "the views did not catch up with the store in time"
            );
        }
    }

    /// Plans a launch on the view and applies the plan to it at once. `None` when the cluster
    /// has no instance that is not INACTIVE (ECS's "No Container Instances were found").
    pub fn plan(
        &self,
        cluster: &str,
        request: &PlacementRequest,
        rng: &mut impl Rng,
    ) -> Option<ViewPlan> {
        let mut clusters = self.lock();
        let placement_cluster = clusters.get_mut(cluster)?.placement.as_mut()?;
        if placement_cluster
            .instances()
            .iter()
            .all(|i| i.status == InstanceStatus::Inactive.as_str())
        {
            return None;
        }
        let placement = placement_cluster.place(request, rng);
        let instances = placement_cluster.instances();
        let plan = ViewPlan {
            targets: placement
                .tasks
                .iter()
                .map(|&i| task_id(&instances[i].id).to_string())
                .collect(),
            failures: placement
                .failures
                .iter()
                .map(|failure| Failure {
                    arn: Some(instances[failure.instance].id.clone()),
                    reason: Some(failure.reason.as_str().to_string()),
                    detail: Some(failure.detail.clone()),
                })
                .collect(),
        };
        placement_cluster.apply(&placement);
        Some(plan)
    }

    /// Takes back what a plan that did not commit applied to the view: the instances it chose
    /// are read again from the store.
    pub async fn forget_plan(
        &self,
        store: &dyn Store,
        cluster: &str,
        plan: &ViewPlan,
    ) -> Result<(), ApiError> {
        for id in &plan.targets {
            let Some(kv) = instances::fetch_undecoded(store, cluster, id).await? else {
                continue;
            };
            let stored = state::decode::<StoredInstance>(&kv)?;
            let mut clusters = self.lock();
            let view = clusters.entry(cluster.to_string()).or_default();
            if view.instance_revision(id) <= kv.mod_revision {
                view.put_instance(id, stored.for_placement(), kv.mod_revision);
            }
        }
        Ok(())
    }

    /// A cluster's task counts, and how many of its instances are ACTIVE or DRAINING.
    pub fn counts(&self, cluster: &str) -> (TaskCounts, usize) {
        let clusters = self.lock();
        let Some(view) = clusters.get(cluster) else {
            return (TaskCounts::default(), 0);
        };
        let instances = view.placement.as_ref().map_or(0, |p| {
            p.instances()
                .iter()
                .filter(|i| i.status != InstanceStatus::Inactive.as_str())
                .count()
        });
        (view.counts, instances)
    }

    /// Every cluster the views know, with its running tasks and the capacity of its ACTIVE
    /// and DRAINING instances (what the `AWS/ECS` metrics count).
    pub fn capacities(&self) -> Vec<(String, usize, berth_container_metrics::publish::Capacity)> {
        let clusters = self.lock();
        clusters
            .iter()
            .map(|(name, view)| {
                let mut capacity = berth_container_metrics::publish::Capacity::default();
                for instance in view.capacity.values().filter(|i| i.counted) {
                    capacity.instances += 1;
                    capacity.registered_cpu += instance.registered_cpu;
                    capacity.registered_memory_mib += instance.registered_memory;
                    capacity.remaining_cpu += instance.remaining_cpu;
                    capacity.remaining_memory_mib += instance.remaining_memory;
                }
                (name.clone(), view.counts.running, capacity)
            })
            .collect()
    }

    /// Keeps the views in step with `store` until its change stream closes.
    pub async fn follow(&self, store: Arc<dyn Store>) {
        let mut changes = store.watch();
        self.reread(&*store).await;
        loop {
            match changes.recv().await {
                Ok(set) => self.apply(&set),
                // Changes were missed: read everything again; the stream's older changes that
                // follow are then skipped by their revisions.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the views fell behind the store; re-reading it");
                    self.reread(&*store).await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn reread(&self, store: &dyn Store) {
        let revision = store.revision();
        let instances = state::watch::instance_records(store).await;
        self.apply_records(instances);
        let tasks = state::watch::task_records(store).await;
        self.apply_records(tasks);
        self.applied.send_if_modified(|seen| {
            let newer = revision > *seen;
            *seen = (*seen).max(revision);
            newer
        });
    }

    /// Applies every record of one kind, read whole from the store.
    fn apply_records(&self, records: Result<Vec<KeyValue>, StoreError>) {
        match records {
            Ok(records) => {
                let mut clusters = self.lock();
                for kv in records {
                    apply_change(&mut clusters, &kv.key, Some(&kv.value), kv.mod_revision);
                }
            }
            Err(err) => tracing::error!(error = %err, "reading the store for the views"),
        }
    }

    fn apply(&self, set: &ChangeSet) {
        {
            let mut clusters = self.lock();
            for change in &set.changes {
                apply_change(
                    &mut clusters,
                    &change.key,
                    change.value.as_deref(),
                    set.revision,
                );
            }
        }
        self.applied.send_if_modified(|seen| {
            let newer = set.revision > *seen;
            *seen = (*seen).max(set.revision);
            newer
        });
    }
}

fn apply_change(
    clusters: &mut HashMap<String, ClusterView>,
    key: &str,
    value: Option<&[u8]>,
    revision: i64,
) {
    if let Some((cluster, id)) = state::watch::instance_record(key) {
        let view = clusters.entry(cluster.to_string()).or_default();
        if view.instance_revision(id) >= revision {
            return;
        }
        // Instance records are never deleted (deregistered ones stay INACTIVE).
        match value.map(serde_json::from_slice::<StoredInstance>) {
            Some(Ok(stored)) => {
                view.capacity
                    .insert(id.to_string(), InstanceCapacity::of(&stored));
                view.put_instance(id, stored.for_placement(), revision)
            }
            Some(Err(err)) => tracing::error!(%key, error = %err, "unreadable instance record"),
            None => {}
        }
    } else if let Some((cluster, id)) = state::watch::task_record(key) {
        let phase = match value.map(serde_json::from_slice::<TaskPhase>) {
            Some(Ok(task)) => Some(Phase::of(task.last_status.as_deref().unwrap_or_default())),
            Some(Err(err)) => {
                tracing::error!(%key, error = %err, "unreadable task record");
                return;
            }
            None => None,
        };
        clusters
            .entry(cluster.to_string())
            .or_default()
            .put_task(id, phase, revision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_scheduler::Resources;
    use berth_store::Change;
    use rand::SeedableRng;

    fn instance_record(id: &str, memory: i32, status: &str) -> Arc<[u8]> {
        let stored = serde_json::json!({
            "cluster": "c", "id": id, "appliedSequence": 0,
            "instance": {
                "containerInstanceArn": format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{id}"),
                "status": status, "agentConnected": true,
                "remainingResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": memory}
                ]
            }
        });
        serde_json::to_vec(&stored).unwrap().into()
    }

    fn task_record(status: TaskStatus) -> Arc<[u8]> {
        serde_json::to_vec(&serde_json::json!({ "lastStatus": status.as_str() }))
            .unwrap()
            .into()
    }

    fn set(revision: i64, changes: Vec<(String, Option<Arc<[u8]>>)>) -> ChangeSet {
        ChangeSet {
            revision,
            changes: changes
                .into_iter()
                .map(|(key, value)| Change { key, value })
                .collect(),
        }
    }

    fn request(memory: i64, count: u32) -> PlacementRequest {
        PlacementRequest {
            count,
            group: "family:web".into(),
            demand: Resources {
                cpu: 0,
                memory,
                ..Resources::default()
            },
            launch_type: None,
            required_attributes: Vec::new(),
            subnet_zones: None,
            constraints: Vec::new(),
            strategies: Vec::new(),
        }
    }

    /// The metrics' capacity counts ACTIVE and DRAINING instances as their records say.
    #[test]
    fn capacities_sum_active_and_draining_instances() {
        let views = Views::default();
        let record = |id: &str, status: &str, remaining_cpu: i32| -> Arc<[u8]> {
            let resources = |cpu: i32, memory: i32| {
                serde_json::json!([
                    {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": memory}
                ])
            };
            let stored = serde_json::json!({
                "cluster": "c", "id": id,
                "instance": {"status": status,
                             "registeredResources": resources(2048, 4000),
                             "remainingResources": resources(remaining_cpu, 1000)}
            });
            serde_json::to_vec(&stored).unwrap().into()
        };
        views.apply(&set(
            1,
            vec![
                ("instance/c/a".into(), Some(record("a", "ACTIVE", 1024))),
                ("instance/c/b".into(), Some(record("b", "DRAINING", 2048))),
                ("instance/c/z".into(), Some(record("z", "INACTIVE", 0))),
                ("task/c/t".into(), Some(task_record(TaskStatus::Running))),
            ],
        ));
        assert_eq!(
            views.capacities(),
            [(
                "c".to_string(),
                1,
                berth_container_metrics::publish::Capacity {
                    instances: 2,
                    registered_cpu: 4096,
                    registered_memory_mib: 8000,
                    remaining_cpu: 3072,
                    remaining_memory_mib: 2000,
                }
            )]
        );
    }

    #[test]
    fn counts_follow_the_tasks_and_replays_change_nothing() {
        let views = Views::default();
        // Task records' keys, as the store's change stream carries them.
        let task = |id: &str| format!("task/c/{id}");
        views.apply(&set(
            1,
            vec![(task("t1"), Some(task_record(TaskStatus::Provisioning)))],
        ));
        views.apply(&set(
            2,
            vec![(task("t2"), Some(task_record(TaskStatus::Pending)))],
        ));
        views.apply(&set(
            3,
            vec![(task("t1"), Some(task_record(TaskStatus::Running)))],
        ));
        // A replay of older changes (after the views re-read the store) is skipped.
        views.apply(&set(
            1,
            vec![(task("t1"), Some(task_record(TaskStatus::Provisioning)))],
        ));
        let (counts, _) = views.counts("c");
        assert_eq!(
            counts,
            TaskCounts {
                running: 1,
                pending: 1,
                live: 2
            }
        );
        views.apply(&set(
            4,
            vec![(task("t2"), Some(task_record(TaskStatus::Stopped)))],
        ));
        views.apply(&set(
            5,
            vec![(task("t1"), Some(task_record(TaskStatus::Deactivating)))],
        ));
        assert_eq!(
            views.counts("c").0,
            TaskCounts {
                running: 0,
                pending: 0,
                live: 1
            }
        );
        views.apply(&set(6, vec![(task("t2"), None)]));
        assert_eq!(views.counts("c").0.live, 1);
        assert_eq!(*views.applied.borrow(), 6);
    }

    #[test]
    fn plans_see_the_plans_before_them_and_newer_instance_records() {
        let views = Views::default();
        // Instance records' keys, as the store's change stream carries them.
        let key = |id: &str| format!("instance/c/{id}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(views.plan("c", &request(256, 1), &mut rng).is_none());
        views.apply(&set(
            1,
            vec![
                (
                    key("i1"),
                    Some(instance_record("i1", 512, InstanceStatus::Active.as_str())),
                ),
                (
                    key("i2"),
                    Some(instance_record(
                        "i2",
                        512,
                        InstanceStatus::Inactive.as_str(),
                    )),
                ),
            ],
        ));
        assert_eq!(views.counts("c").1, 1);
        let first = views.plan("c", &request(256, 1), &mut rng).unwrap();
        assert_eq!(first.targets, ["i1"]);
        // The first plan is applied to the view: one more fits, then none.
        let second = views.plan("c", &request(256, 2), &mut rng).unwrap();
        assert_eq!(second.targets, ["i1"]);
        assert_eq!(
            second.failures[0].reason.as_deref(),
            Some("RESOURCE:MEMORY")
        );
        // A newer record (the store's truth) replaces the assumed reservations; an older is
        // ignored.
        views.apply(&set(
            3,
            vec![(
                key("i1"),
                Some(instance_record("i1", 1024, InstanceStatus::Active.as_str())),
            )],
        ));
        views.apply(&set(
            2,
            vec![(
                key("i1"),
                Some(instance_record("i1", 0, InstanceStatus::Active.as_str())),
            )],
        ));
        let third = views.plan("c", &request(256, 4), &mut rng).unwrap();
        assert_eq!(third.targets.len(), 4);
        assert!(third.failures.is_empty());
    }
}
