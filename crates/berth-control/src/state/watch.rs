//! What a change on the store's change stream is about. The reconcilers, the views and the
//! agent hub follow that stream; they tell records apart through these functions rather than
//! by the keys' prefixes.

use berth_store::{KeyValue, Store, StoreError};

use super::keys;

/// Whether a change may concern the service scheduler: a service or a task record.
pub fn concerns_services(key: &str) -> bool {
    key.starts_with(keys::SERVICES) || key.starts_with(keys::TASKS)
}

/// `(cluster, id)` when `key` is a container instance record's.
pub fn instance_record(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(keys::INSTANCES)?.split_once('/')
}

/// `(cluster, id)` when `key` is a task record's.
pub fn task_record(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(keys::TASKS)?.split_once('/')
}

/// `(cluster, name)` when `key` is a service record's.
pub fn service_record(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(keys::SERVICES)?.split_once('/')
}

/// `(instance id, task id)` when `key` is an entry of an instance's task index: a task placed
/// on the instance, or (deleted) one that stopped or moved.
pub fn instance_task_entry(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.strip_prefix(keys::INSTANCE_TASKS)?.split('/').skip(1);
    Some((parts.next()?, parts.next()?))
}

/// Every container instance record, undecoded with its revision, for a reader that re-reads
/// the store after falling behind its change stream.
pub async fn instance_records(store: &dyn Store) -> Result<Vec<KeyValue>, StoreError> {
    store.range(keys::INSTANCES, None, usize::MAX).await
}

/// Every task record, undecoded with its revision (see [`instance_records`]).
pub async fn task_records(store: &dyn Store) -> Result<Vec<KeyValue>, StoreError> {
    store.range(keys::TASKS, None, usize::MAX).await
}

/// Every service record, undecoded with its revision (see [`instance_records`]).
pub async fn service_records(store: &dyn Store) -> Result<Vec<KeyValue>, StoreError> {
    store.range(keys::SERVICES, None, usize::MAX).await
}
