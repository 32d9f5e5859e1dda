//! Namespaces: a view of the store under one key prefix (`ecs/us-east-1/`), so that every
//! service and region keeps its own key space while the code that uses it reads and writes
//! plain keys (`cluster/web`) and cannot reach another namespace's.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    Change, ChangeSet, KeyValue, RecvError, Store, StoreError, TryRecvError, Txn, TxnBody,
};

/// The change sets of one group commit, in revision order: a commit wakes each watcher once,
/// however many transactions it carried.
pub type CommittedBatch = Arc<[Arc<ChangeSet>]>;

/// A stream of committed change sets, limited to one namespace when it came from one.
pub struct Watch {
    receiver: broadcast::Receiver<CommittedBatch>,
    /// What is left of the last batch received.
    pending: VecDeque<Arc<ChangeSet>>,
    /// Only changes under this prefix are delivered, with the prefix removed.
    prefix: Option<Arc<str>>,
    /// Shared by the watches of one namespace, which all scope the same sets the same way.
    scoped: Option<Arc<ScopedSets>>,
}

/// The newest change sets as one namespace sees them: its several watchers (views, agents,
/// scheduler, events) each receive every set, and only the first builds the scoped copy.
#[derive(Default)]
struct ScopedSets {
    /// In revision order, at most `SCOPED_SETS_KEPT`.
    sets: Mutex<VecDeque<Arc<ChangeSet>>>,
}

/// Enough for watchers that trail each other by a few group commits; one further behind
/// scopes its sets itself.
const SCOPED_SETS_KEPT: usize = 1024;

impl ScopedSets {
    fn get_or_scope(&self, set: &ChangeSet, scope: impl FnOnce() -> ChangeSet) -> Arc<ChangeSet> {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(found) = sets.binary_search_by_key(&set.revision, |s| s.revision) {
            return sets[found].clone();
        }
        let scoped = Arc::new(scope());
        if sets
            .back()
            .is_none_or(|newest| newest.revision < set.revision)
        {
            if sets.len() == SCOPED_SETS_KEPT {
                sets.pop_front();
            }
            sets.push_back(scoped.clone());
        }
        scoped
    }
}

impl Watch {
    pub fn new(receiver: broadcast::Receiver<CommittedBatch>) -> Watch {
        Watch {
            receiver,
            pending: VecDeque::new(),
            prefix: None,
            scoped: None,
        }
    }

    /// The next change set. Change sets of other namespaces arrive empty, so a reader still
    /// learns that the store's revision moved (readers wait for their view to reach it).
    /// `Lagged` counts the group commits missed.
    pub async fn recv(&mut self) -> Result<Arc<ChangeSet>, RecvError> {
        if self.pending.is_empty() {
            let batch = self.receiver.recv().await?;
            self.pending.extend(batch.iter().cloned());
        }
        Ok(self.next_pending())
    }

    pub fn try_recv(&mut self) -> Result<Arc<ChangeSet>, TryRecvError> {
        if self.pending.is_empty() {
            let batch = self.receiver.try_recv()?;
            self.pending.extend(batch.iter().cloned());
        }
        Ok(self.next_pending())
    }

    fn next_pending(&mut self) -> Arc<ChangeSet> {
        let set = self
            .pending
            .pop_front()
            .expect("a group commit announces at least one change set");
        self.scope(set)
    }

    fn within(self, prefix: &str, scoped: Arc<ScopedSets>) -> Watch {
        let prefix = match &self.prefix {
            Some(outer) => format!("{outer}{prefix}"),
            None => prefix.to_string(),
        };
        Watch {
            receiver: self.receiver,
            pending: self.pending,
            prefix: Some(prefix.into()),
            scoped: Some(scoped),
        }
    }

    fn scope(&self, set: Arc<ChangeSet>) -> Arc<ChangeSet> {
        let Some(prefix) = &self.prefix else {
            return set;
        };
        let scope = || ChangeSet {
            revision: set.revision,
            changes: set
                .changes
                .iter()
                .filter_map(|change| {
                    change.key.strip_prefix(&**prefix).map(|key| Change {
                        key: key.to_string(),
                        value: change.value.clone(),
                    })
                })
                .collect(),
        };
        match &self.scoped {
            Some(scoped) => scoped.get_or_scope(&set, scope),
            None => Arc::new(scope()),
        }
    }
}

/// The part of a store under one prefix, itself a [`Store`].
pub struct Namespace {
    inner: Arc<dyn Store>,
    prefix: Arc<str>,
    scoped: Arc<ScopedSets>,
}

impl Namespace {
    /// `prefix` should end with a separator (`ecs/us-east-1/`) so that no namespace is a
    /// prefix of another's keys.
    pub fn new(inner: Arc<dyn Store>, prefix: impl Into<String>) -> Namespace {
        Namespace {
            inner,
            prefix: prefix.into().into(),
            scoped: Arc::default(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// `prefix` + `key`, without the formatting machinery: every namespaced read and write pays it.
fn prefixed(prefix: &str, key: &str) -> String {
    let mut full = String::with_capacity(prefix.len() + key.len());
    full.push_str(prefix);
    full.push_str(key);
    full
}

fn strip(prefix: &str, mut kv: KeyValue) -> KeyValue {
    kv.key = kv.key.split_off(prefix.len());
    kv
}

#[async_trait]
impl Store for Namespace {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let found = self.inner.get(&prefixed(&self.prefix, key)).await?;
        Ok(found.map(|kv| strip(&self.prefix, kv)))
    }

    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let start_after = start_after.map(|key| prefixed(&self.prefix, key));
        let found = self
            .inner
            .range(
                &prefixed(&self.prefix, prefix),
                start_after.as_deref(),
                limit,
            )
            .await?;
        Ok(found
            .into_iter()
            .map(|kv| strip(&self.prefix, kv))
            .collect())
    }

    async fn transact_boxed(&self, mut body: TxnBody) -> Result<Box<dyn Any + Send>, StoreError> {
        let prefix = self.prefix.clone();
        self.inner
            .transact_boxed(Box::new(move |txn| {
                body(&mut NamespacedTxn {
                    txn,
                    prefix: &prefix,
                })
            }))
            .await
    }

    fn watch(&self) -> Watch {
        self.inner.watch().within(&self.prefix, self.scoped.clone())
    }

    fn revision(&self) -> i64 {
        self.inner.revision()
    }
}

struct NamespacedTxn<'a> {
    txn: &'a mut dyn Txn,
    prefix: &'a str,
}

impl Txn for NamespacedTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let found = self.txn.get(&prefixed(self.prefix, key))?;
        Ok(found.map(|kv| strip(self.prefix, kv)))
    }

    fn range(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let start_after = start_after.map(|key| prefixed(self.prefix, key));
        let found = self.txn.range(
            &prefixed(self.prefix, prefix),
            start_after.as_deref(),
            limit,
        )?;
        Ok(found.into_iter().map(|kv| strip(self.prefix, kv)).collect())
    }

    fn put(&mut self, key: &str, value: Vec<u8>) {
        self.txn.put(&prefixed(self.prefix, key), value);
    }

    fn delete(&mut self, key: &str) {
        self.txn.delete(&prefixed(self.prefix, key));
    }
}
