//! Which store writes a piece of work made, however busy the store is with other work.
//!
//! [`count_writes`] runs a future and counts the transactions it ran that committed writes once
//! they are durable (each one moved the store revision by one). The gateway wraps every API
//! call in it, so a call that answers an error and still changed state is seen even while
//! reconcilers and agents write beside it. Backends call [`track`] on every transaction body;
//! outside `count_writes` it costs one task-local lookup. Writes made by tasks a call spawns are
//! not the call's own and are not counted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{KeyValue, StoreError, Txn, TxnBody};

tokio::task_local! {
    static WRITES: Arc<AtomicU64>;
}

/// Runs `work` and answers its output with the number of its transactions that committed
/// writes (and were durable).
pub async fn count_writes<F: Future>(work: F) -> (F::Output, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let output = WRITES.scope(counter.clone(), work).await;
    (output, counter.load(Ordering::Acquire))
}

/// A transaction being counted: [`Tracked::durable`] once the backend made it durable.
pub struct Tracked {
    wrote: Arc<AtomicBool>,
    counter: Arc<AtomicU64>,
}

impl Tracked {
    /// The transaction is durable: count it if its last run committed writes.
    pub fn durable(self) {
        if self.wrote.load(Ordering::Acquire) {
            self.counter.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// For backends: `body` as it is, or, inside [`count_writes`], wrapped to note whether a run
/// commits writes (a backend may run a body more than once; the last run counts).
pub fn track(body: TxnBody) -> (TxnBody, Option<Tracked>) {
    let Ok(counter) = WRITES.try_with(Arc::clone) else {
        return (body, None);
    };
    let wrote = Arc::new(AtomicBool::new(false));
    let flag = wrote.clone();
    let mut body = body;
    let wrapped: TxnBody = Box::new(move |txn| {
        let mut recording = Recording { txn, wrote: false };
        let outcome = body(&mut recording);
        flag.store(outcome.commit && recording.wrote, Ordering::Release);
        outcome
    });
    (wrapped, Some(Tracked { wrote, counter }))
}

struct Recording<'a> {
    txn: &'a mut dyn Txn,
    wrote: bool,
}

impl Txn for Recording<'_> {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.txn.get(key)
    }

    fn range(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        self.txn.range(prefix, start_after, limit)
    }

    fn put(&mut self, key: &str, value: Vec<u8>) {
        self.wrote = true;
        self.txn.put(key, value);
    }

    fn delete(&mut self, key: &str) {
        self.wrote = true;
        self.txn.delete(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TxnOutcome;

    struct Nothing;

    impl Txn for Nothing {
        fn get(&mut self, _: &str) -> Result<Option<KeyValue>, StoreError> {
            Ok(None)
        }
        fn range(
            &mut self,
            _: &str,
            _: Option<&str>,
            _: usize,
        ) -> Result<Vec<KeyValue>, StoreError> {
            Ok(Vec::new())
        }
        fn put(&mut self, _: &str, _: Vec<u8>) {}
        fn delete(&mut self, _: &str) {}
    }

    fn body(write: bool, commit: bool) -> TxnBody {
        Box::new(move |txn| {
            if write {
                txn.put("k", b"v".to_vec());
            }
            TxnOutcome {
                commit,
                output: Box::new(()),
            }
        })
    }

    fn run(body: TxnBody) {
        let (mut body, tracked) = track(body);
        body(&mut Nothing);
        if let Some(tracked) = tracked {
            tracked.durable();
        }
    }

    #[tokio::test]
    async fn counts_only_committed_writes_inside_the_scope() {
        let ((), writes) = count_writes(async {
            run(body(true, true));
            run(body(false, true));
            run(body(true, false));
            run(body(true, true));
        })
        .await;
        assert_eq!(writes, 2);
        let (_, tracked) = track(body(true, true));
        assert!(tracked.is_none(), "nothing is tracked outside a scope");
    }
}
