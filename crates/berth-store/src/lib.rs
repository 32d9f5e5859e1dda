//! The state store: an etcd-shaped, revisioned key-value store behind the [`Store`] trait.
//!
//! Every key carries `create_revision`, `mod_revision` and `version`; every committed write
//! transaction bumps the store-wide revision by one and is announced on the watch stream.
//! Writes are *transactions as functions* ([`transact`]): the closure reads and writes through a
//! [`Txn`] view and the backend guarantees it ran against the latest committed state — the
//! embedded backend by running closures one after another on its single writer, a networked
//! backend (etcd) by re-running the closure until a compare on the mod revisions of the keys
//! it read succeeds, as etcd's own STM does. Either way no update is lost under concurrency.
//!
//! **Invariant:** closures are deterministic functions of what they read: no clock, no random
//! numbers, no I/O inside (callers pass those in), because a backend may run them more than once.

pub mod attribution;
mod namespace;

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

pub use namespace::{CommittedBatch, Namespace, Watch};
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// One key with its value and revisions, as etcd reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Arc<[u8]>,
    /// Store revision of the transaction that created the key.
    pub create_revision: i64,
    /// Store revision of the transaction that last wrote the key.
    pub mod_revision: i64,
    /// Number of writes to the key since it was created (1 after creation).
    pub version: i64,
}

/// A change announced on the watch stream after its transaction is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    /// The new value; `None` when the key was deleted.
    pub value: Option<Arc<[u8]>>,
}

/// All the changes of one committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub revision: i64,
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend failed: {0}")]
    Backend(String),
    #[error("store is shut down")]
    Closed,
    #[error("transaction panicked: {0}")]
    TransactionPanicked(String),
    #[error("store schema version {found} is newer than this binary supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
}

/// The view a transaction closure reads and writes through. Reads see the transaction's own
/// writes; writes become visible to others only when the transaction commits.
pub trait Txn {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    /// Keys starting with `prefix`, in key order, strictly after `start_after` when given, at
    /// most `limit` of them.
    fn range(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError>;
    fn put(&mut self, key: &str, value: Vec<u8>);
    fn delete(&mut self, key: &str);
}

/// What a transaction closure decided: commit its writes or drop them, and the value to hand back.
pub struct TxnOutcome {
    pub commit: bool,
    pub output: Box<dyn Any + Send>,
}

pub type TxnBody = Box<dyn FnMut(&mut dyn Txn) -> TxnOutcome + Send>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    /// As [`Txn::range`], against the latest committed state.
    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError>;
    /// Runs `body` as one serializable transaction and returns its output once its writes (if
    /// it committed any) are durable. Prefer the typed [`transact`].
    async fn transact_boxed(&self, body: TxnBody) -> Result<Box<dyn Any + Send>, StoreError>;
    /// A stream of every committed change set, in revision order, from now on.
    fn watch(&self) -> Watch;
    /// The revision of the latest committed transaction.
    fn revision(&self) -> i64;
}

/// Runs `body` as a transaction: its writes commit when it returns `Ok` and are dropped when
/// it returns `Err`. Store failures come back as `E::from(StoreError)`.
pub async fn transact<T, E, F>(store: &dyn Store, mut body: F) -> Result<T, E>
where
    F: FnMut(&mut dyn Txn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let boxed: TxnBody = Box::new(move |txn| {
        let result = body(txn);
        TxnOutcome {
            commit: result.is_ok(),
            output: Box::new(result),
        }
    });
    let output = store.transact_boxed(boxed).await.map_err(E::from)?;
    match output.downcast::<Result<T, E>>() {
        Ok(result) => *result,
        Err(_) => Err(E::from(StoreError::Backend(
            "transaction output has an unexpected type".into(),
        ))),
    }
}

/// etcd's `Txn(Compare(ModRevision(key) == expected)).Then(Put(key, value))`, for callers that
/// read outside a transaction (a reconciler's snapshot) and must not overwrite a newer write:
/// writes `value` only if `key` was last written at revision `expected` (`None`: only if the
/// key is absent). Returns whether it wrote.
pub fn compare_and_put(
    txn: &mut dyn Txn,
    key: &str,
    expected: Option<i64>,
    value: Vec<u8>,
) -> Result<bool, StoreError> {
    let current = txn.get(key)?.map(|kv| kv.mod_revision);
    if current != expected {
        return Ok(false);
    }
    txn.put(key, value);
    Ok(true)
}
