//! Namespaces: a view of the store under one key prefix (`ecs/us-east-1/`), so that every
//! service and region keeps its own key space while the code that uses it reads and writes
//! plain keys (`cluster/web`) and cannot reach another namespace's.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    Change, ChangeSet, KeyValue, RecvError, Store, StoreError, TryRecvError, Txn, TxnBody,
};

/// A stream of committed change sets, limited to one namespace when it came from one.
pub struct Watch {
    receiver: broadcast::Receiver<Arc<ChangeSet>>,
    /// Only changes under this prefix are delivered, with the prefix removed.
    prefix: Option<Arc<str>>,
}

impl Watch {
    pub fn new(receiver: broadcast::Receiver<Arc<ChangeSet>>) -> Watch {
        Watch {
            receiver,
            prefix: None,
        }
    }

    /// The next change set. Change sets of other namespaces arrive empty, so a reader still
    /// learns that the store's revision moved (readers wait for their view to reach it).
    pub async fn recv(&mut self) -> Result<Arc<ChangeSet>, RecvError> {
        let set = self.receiver.recv().await?;
        Ok(self.scope(set))
    }

    pub fn try_recv(&mut self) -> Result<Arc<ChangeSet>, TryRecvError> {
        let set = self.receiver.try_recv()?;
        Ok(self.scope(set))
    }

    fn within(self, prefix: &str) -> Watch {
        let prefix = match &self.prefix {
            Some(outer) => format!("{outer}{prefix}"),
            None => prefix.to_string(),
        };
        Watch {
            receiver: self.receiver,
            prefix: Some(prefix.into()),
        }
    }

    fn scope(&self, set: Arc<ChangeSet>) -> Arc<ChangeSet> {
        let Some(prefix) = &self.prefix else {
            return set;
        };
        let changes = set
            .changes
            .iter()
            .filter_map(|change| {
                change.key.strip_prefix(&**prefix).map(|key| Change {
                    key: key.to_string(),
                    value: change.value.clone(),
                })
            })
            .collect();
        Arc::new(ChangeSet {
            revision: set.revision,
            changes,
        })
    }
}

/// The part of a store under one prefix, itself a [`Store`].
pub struct Namespace {
    inner: Arc<dyn Store>,
    prefix: Arc<str>,
}

impl Namespace {
    /// `prefix` should end with a separator (`ecs/us-east-1/`) so that no namespace is a
    /// prefix of another's keys.
    pub fn new(inner: Arc<dyn Store>, prefix: impl Into<String>) -> Namespace {
        Namespace {
            inner,
            prefix: prefix.into().into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

fn strip(prefix: &str, mut kv: KeyValue) -> KeyValue {
    kv.key = kv.key.split_off(prefix.len());
    kv
}

#[async_trait]
impl Store for Namespace {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let found = self.inner.get(&format!("{}{key}", self.prefix)).await?;
        Ok(found.map(|kv| strip(&self.prefix, kv)))
    }

    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let start_after = start_after.map(|key| format!("{}{key}", self.prefix));
        let found = self
            .inner
            .range(
                &format!("{}{prefix}", self.prefix),
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
        self.inner.watch().within(&self.prefix)
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
        let found = self.txn.get(&format!("{}{key}", self.prefix))?;
        Ok(found.map(|kv| strip(self.prefix, kv)))
    }

    fn range(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let start_after = start_after.map(|key| format!("{}{key}", self.prefix));
        let found = self.txn.range(
            &format!("{}{prefix}", self.prefix),
            start_after.as_deref(),
            limit,
        )?;
        Ok(found.into_iter().map(|kv| strip(self.prefix, kv)).collect())
    }

    fn put(&mut self, key: &str, value: Vec<u8>) {
        self.txn.put(&format!("{}{key}", self.prefix), value);
    }

    fn delete(&mut self, key: &str) {
        self.txn.delete(&format!("{}{key}", self.prefix));
    }
}
