//! Behaviour every store backend must have, run against the embedded SQLite backend.

use std::sync::Arc;

use berth_store::{Store, StoreError, Txn, transact};
use berth_store_sqlite::SqliteStore;

fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap())
}

async fn put(store: &dyn Store, key: &'static str, value: &'static str) {
    transact(store, move |txn: &mut dyn Txn| {
        txn.put(key, value.as_bytes().to_vec());
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
}

fn text(value: &[u8]) -> String {
    String::from_utf8(value.to_vec()).unwrap()
}

#[tokio::test]
async fn writes_carry_etcd_style_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    put(&*store, "a", "1").await;
    put(&*store, "b", "1").await;
    put(&*store, "a", "2").await;
    let a = store.get("a").await.unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 3, 2));
    assert_eq!(text(&a.value), "2");
    assert_eq!(store.revision(), 3);
}

#[tokio::test]
async fn a_failed_transaction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let result: Result<(), TestError> = transact(&*store, |txn: &mut dyn Txn| {
        txn.put("half", b"written".to_vec());
        Err(TestError("refused".to_string()))
    })
    .await;
    assert_eq!(result.unwrap_err().0, "refused");
    assert!(store.get("half").await.unwrap().is_none());
    assert_eq!(store.revision(), 0);
}

impl From<StoreError> for TestError {
    fn from(err: StoreError) -> Self {
        TestError(err.to_string())
    }
}
#[derive(Debug)]
struct TestError(String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            transact(&*store, |txn: &mut dyn Txn| {
                let next = match txn.get("counter")? {
                    Some(kv) => text(&kv.value).parse::<u32>().unwrap() + 1,
                    None => 1,
                };
                txn.put("counter", next.to_string().into_bytes());
                Ok::<_, TestError>(next)
            })
            .await
            .unwrap()
        }));
    }
    let mut seen = Vec::new();
    for handle in handles {
        seen.push(handle.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());
}

#[tokio::test]
async fn ranges_see_the_transactions_own_writes_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for key in ["p/a", "p/b", "p/c", "q/a"] {
        put(&*store, key, "x").await;
    }
    let keys = transact(&*store, |txn: &mut dyn Txn| {
        txn.delete("p/b");
        txn.put("p/d", b"y".to_vec());
        let all = txn.range("p/", None, 10)?;
        let after_a = txn.range("p/", Some("p/a"), 2)?;
        let names =
            |kvs: Vec<berth_store::KeyValue>| kvs.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
        Ok::<_, StoreError>((names(all), names(after_a)))
    })
    .await
    .unwrap();
    assert_eq!(keys.0, ["p/a", "p/c", "p/d"]);
    assert_eq!(keys.1, ["p/c", "p/d"]);
    let committed: Vec<String> = store
        .range("p/", Some("p/a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(committed, ["p/c", "p/d"]);
}

#[tokio::test]
async fn committed_state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        put(&*store, "kept", "yes").await;
        put(&*store, "gone", "soon").await;
        transact(&*store, |txn: &mut dyn Txn| {
            txn.delete("gone");
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    }
    let store = open(&dir);
    assert_eq!(
        text(&store.get("kept").await.unwrap().unwrap().value),
        "yes"
    );
    assert!(store.get("gone").await.unwrap().is_none());
    assert_eq!(store.revision(), 3);
}

#[tokio::test]
async fn watchers_get_each_committed_change_set_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut watch = store.watch();
    put(&*store, "w/1", "a").await;
    transact(&*store, |txn: &mut dyn Txn| {
        txn.delete("w/1");
        txn.put("w/2", b"b".to_vec());
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
    let first = watch.recv().await.unwrap();
    assert_eq!(first.revision, 1);
    assert_eq!(first.changes[0].key, "w/1");
    let second = watch.recv().await.unwrap();
    assert_eq!(second.revision, 2);
    let summary: Vec<(String, bool)> = second
        .changes
        .iter()
        .map(|c| (c.key.clone(), c.value.is_some()))
        .collect();
    assert_eq!(
        summary,
        [("w/1".to_string(), false), ("w/2".to_string(), true)]
    );
}

#[tokio::test]
async fn compare_and_put_refuses_a_stale_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let cas = |expected: Option<i64>, value: &'static str| {
        let store = store.clone();
        async move {
            transact(&*store, move |txn: &mut dyn Txn| {
                berth_store::compare_and_put(txn, "k", expected, value.as_bytes().to_vec())
            })
            .await
            .unwrap()
        }
    };
    assert!(cas(None, "first").await);
    assert!(!cas(None, "again").await);
    let seen = store.get("k").await.unwrap().unwrap().mod_revision;
    put(&*store, "k", "someone else").await;
    assert!(!cas(Some(seen), "stale").await);
    let latest = store.get("k").await.unwrap().unwrap().mod_revision;
    assert!(cas(Some(latest), "fresh").await);
    assert_eq!(text(&store.get("k").await.unwrap().unwrap().value), "fresh");
}

/// More transactions than one group commit carries: each sees every write before it, in its
/// own batch or an earlier one (gets and ranges alike), none is lost, revisions stay
/// contiguous, and every reply comes after its write is readable.
#[tokio::test]
async fn transactions_across_group_commits_see_every_earlier_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut watch = store.watch();
    let total = 2_000;
    let mut handles = Vec::new();
    for n in 0..total {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let key = format!("item/{n:05}");
            let seen = transact(&*store, move |txn: &mut dyn Txn| {
                let before = txn.range("item/", None, usize::MAX)?.len();
                txn.put(&key, Vec::new());
                Ok::<_, TestError>(before)
            })
            .await
            .unwrap();
            assert!(
                store.get(&format!("item/{n:05}")).await.unwrap().is_some(),
                "a reply comes after its write is in the mirror"
            );
            seen
        }));
    }
    let mut seen = Vec::new();
    for handle in handles {
        seen.push(handle.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (0..total).collect::<Vec<_>>());
    let mut revisions = Vec::new();
    while revisions.len() < total {
        revisions.push(watch.recv().await.unwrap().revision);
    }
    let first = revisions[0];
    assert_eq!(revisions, (first..first + total as i64).collect::<Vec<_>>());
    drop(store);
    let reopened = open(&dir);
    assert_eq!(
        reopened
            .range("item/", None, usize::MAX)
            .await
            .unwrap()
            .len(),
        total
    );
}

#[tokio::test]
async fn namespaces_see_only_their_own_keys_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let east: Arc<dyn Store> =
        Arc::new(berth_store::Namespace::new(store.clone(), "ecs/us-east-1/"));
    let west: Arc<dyn Store> =
        Arc::new(berth_store::Namespace::new(store.clone(), "ecs/eu-west-1/"));
    let mut east_changes = east.watch();
    put(&*east, "cluster/web", "east").await;
    put(&*west, "cluster/web", "west").await;
    put(&*west, "cluster/api", "west").await;

    assert_eq!(
        text(&east.get("cluster/web").await.unwrap().unwrap().value),
        "east"
    );
    assert_eq!(
        text(&west.get("cluster/web").await.unwrap().unwrap().value),
        "west"
    );
    let east_keys: Vec<String> = east
        .range("cluster/", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(east_keys, ["cluster/web"]);
    let west_keys: Vec<String> = west
        .range("", Some("cluster/api"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(west_keys, ["cluster/web"]);
    assert_eq!(
        store
            .get("ecs/eu-west-1/cluster/api")
            .await
            .unwrap()
            .unwrap()
            .key,
        "ecs/eu-west-1/cluster/api"
    );

    // Reads inside a namespaced transaction are scoped too.
    let seen = transact(&*west, |txn: &mut dyn Txn| {
        Ok::<_, StoreError>(
            txn.range("", None, 10)?
                .into_iter()
                .map(|kv| kv.key)
                .collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap();
    assert_eq!(seen, ["cluster/api", "cluster/web"]);

    // The east watcher sees its own change with the prefix removed, then the west ones as
    // empty change sets that still carry the revision.
    let first = east_changes.recv().await.unwrap();
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.changes[0].key, "cluster/web");
    let second = east_changes.recv().await.unwrap();
    assert!(second.changes.is_empty());
    assert_eq!(second.revision, first.revision + 1);
}

#[tokio::test]
async fn watchers_of_one_namespace_share_its_scoped_change_sets() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let region: Arc<dyn Store> =
        Arc::new(berth_store::Namespace::new(store.clone(), "ecs/us-east-1/"));
    let nested: Arc<dyn Store> = Arc::new(berth_store::Namespace::new(region.clone(), "tasks/"));
    let (mut first, mut second, mut inner) = (region.watch(), region.watch(), nested.watch());
    put(&*store, "ecs/us-east-1/tasks/t1", "a").await;
    put(&*store, "ecs/us-east-1/cluster/web", "b").await;

    for revision in 1..=2 {
        let (a, b) = (first.recv().await.unwrap(), second.recv().await.unwrap());
        assert_eq!(a.revision, revision);
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second watcher reuses the first one's copy"
        );
    }
    let tasks = inner.recv().await.unwrap();
    assert_eq!(tasks.changes.len(), 1);
    assert_eq!(tasks.changes[0].key, "t1");
    assert!(inner.recv().await.unwrap().changes.is_empty());
}
