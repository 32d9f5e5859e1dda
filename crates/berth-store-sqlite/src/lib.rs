//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`, one writer thread that
//! group-commits whole batches of transactions (one fsync for many acknowledged writes), and an
//! in-memory mirror of the committed key space that serves every read without touching disk.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, mpsc, oneshot};

use berth_store::{
    Change, ChangeSet, CommittedBatch, KeyValue, Store, StoreError, Txn, TxnBody, Watch,
};

/// Schema migrations, applied in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
     INSERT INTO meta (name, value) VALUES ('revision', 0);
     CREATE TABLE kv (
         key TEXT PRIMARY KEY,
         value BLOB NOT NULL,
         create_revision INTEGER NOT NULL,
         mod_revision INTEGER NOT NULL,
         version INTEGER NOT NULL
     ) WITHOUT ROWID;",
];

/// The most transactions one group commit carries.
const MAX_BATCH: usize = 512;
/// How many group commits the watch stream keeps for a reader that falls behind (each one
/// message with its change sets, one per transaction, so that a commit wakes each watcher once);
/// a reader that falls further behind is told so and re-reads the store, which at 100,000 tasks
/// costs far more than the backlog. Under full load a commit carries up to `MAX_BATCH` sets:
/// a backlog of two full batches made the placement view re-read the store every few seconds.
/// The sets share their values with the mirror, so the backlog costs little memory beyond
/// values overwritten since.
const CHANGE_BACKLOG: usize = 64;

type Mirror = BTreeMap<String, KeyValue>;

struct Request {
    body: TxnBody,
    reply: oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>,
}

pub struct SqliteStore {
    mirror: Arc<RwLock<Mirror>>,
    revision: Arc<AtomicI64>,
    requests: mpsc::Sender<Request>,
    changes: broadcast::Sender<CommittedBatch>,
    commits: CommitMetrics,
}

/// How group commits go: measured always, exported once registered.
#[derive(Debug, Clone)]
struct CommitMetrics {
    /// Writing a batch to SQLite and its fsync, per batch that changed anything.
    duration: Histogram,
    /// Transactions per batch: how many answers one fsync carries.
    transactions: Histogram,
    /// The revision of the latest committed transaction.
    revision: Gauge,
}

impl CommitMetrics {
    fn new() -> CommitMetrics {
        CommitMetrics {
            // 50 µs to ~1.6 s.
            duration: Histogram::new(exponential_buckets(0.00005, 2.0, 16)),
            // 1 to MAX_BATCH (1024).
            transactions: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            revision: Gauge::default(),
        }
    }
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the store file at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut connection = Connection::open(path).map_err(backend)?;
        // Records (tasks are 1–2 KiB of JSON) live inside the key's B-tree: 16 KiB pages keep it
        // shallow; at 100,000 tasks they placed ~45 % more tasks per second than 4 KiB pages
        // (bench/placement.sh), and a trial of 32 KiB did no better. The page size only applies
        // to a store created now; an older store keeps its own.
        connection
            .execute_batch(
                "PRAGMA page_size = 16384;
                 PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -65536;
                 PRAGMA wal_autocheckpoint = 8192;",
            )
            .map_err(backend)?;
        migrate(&mut connection)?;
        let (mirror, revision) = load(&connection)?;
        let mirror = Arc::new(RwLock::new(mirror));
        let revision = Arc::new(AtomicI64::new(revision));
        let (requests, receiver) = mpsc::channel(4096);
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        let commits = CommitMetrics::new();
        commits.revision.set(revision.load(Ordering::Acquire));
        let writer = Writer {
            connection,
            mirror: mirror.clone(),
            revision: revision.clone(),
            changes: changes.clone(),
            commits: commits.clone(),
        };
        std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(SqliteStore {
            mirror,
            revision,
            requests,
            changes,
            commits,
        })
    }

    /// Exports group-commit latency (`berth_store_commit_duration_seconds`) and batch sizes
    /// (`berth_store_commit_transactions`) and the store revision (`berth_store_revision`) in
    /// `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "berth_store_revision",
            "The revision of the latest committed transaction (every committed write moves it by one)",
            self.commits.revision.clone(),
        );
        registry.register(
            "berth_store_commit_duration_seconds",
            "Time to write one group commit to SQLite, fsync included",
            self.commits.duration.clone(),
        );
        registry.register(
            "berth_store_commit_transactions",
            "Transactions answered by one group commit (its batch)",
            self.commits.transactions.clone(),
        );
    }
}

fn backend(err: rusqlite::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    let current: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = connection.transaction().map_err(backend)?;
        tx.execute_batch(migration).map_err(backend)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version = index + 1, "store schema migrated");
    }
    Ok(())
}

fn load(connection: &Connection) -> Result<(Mirror, i64), StoreError> {
    let revision: i64 = connection
        .query_row(
            "SELECT value FROM meta WHERE name = 'revision'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?
        .unwrap_or(0);
    let mut statement = connection
        .prepare("SELECT key, value, create_revision, mod_revision, version FROM kv")
        .map_err(backend)?;
    let rows = statement
        .query_map([], |row| {
            let value: Vec<u8> = row.get(1)?;
            Ok(KeyValue {
                key: row.get(0)?,
                value: value.into(),
                create_revision: row.get(2)?,
                mod_revision: row.get(3)?,
                version: row.get(4)?,
            })
        })
        .map_err(backend)?;
    let mut mirror = Mirror::new();
    for row in rows {
        let kv = row.map_err(backend)?;
        mirror.insert(kv.key.clone(), kv);
    }
    Ok((mirror, revision))
}

fn range_of<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &str,
    start_after: Option<&str>,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    let lower = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let prefix = prefix.to_string();
    map.range::<String, _>((lower, Bound::Unbounded))
        .take_while(move |(key, _)| key.starts_with(&prefix))
}

fn read_range(
    mirror: &Mirror,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Vec<KeyValue> {
    range_of(mirror, prefix, start_after)
        .take(limit)
        .map(|(_, kv)| kv.clone())
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self
            .mirror
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }

    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        // Transaction panics are caught before they can poison the lock; the map is consistent.
        let mirror = self.mirror.read().unwrap_or_else(PoisonError::into_inner);
        Ok(read_range(&mirror, prefix, start_after, limit))
    }

    async fn transact_boxed(
        &self,
        body: TxnBody,
    ) -> Result<Box<dyn std::any::Any + Send>, StoreError> {
        let (body, tracked) = berth_store::attribution::track(body);
        let (reply, response) = oneshot::channel();
        self.requests
            .send(Request { body, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        let output = response.await.map_err(|_| StoreError::Closed)??;
        if let Some(tracked) = tracked {
            tracked.durable();
        }
        Ok(output)
    }

    fn watch(&self) -> Watch {
        Watch::new(self.changes.subscribe())
    }

    fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }
}

struct Writer {
    connection: Connection,
    mirror: Arc<RwLock<Mirror>>,
    revision: Arc<AtomicI64>,
    changes: broadcast::Sender<CommittedBatch>,
    commits: CommitMetrics,
}

/// A key's state in a batch that is not committed yet: `None` marks a deletion.
type Overlay = BTreeMap<String, Option<KeyValue>>;

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let base_revision = self.revision.load(Ordering::Acquire);
        let mut revision = base_revision;
        let mut overlay = Overlay::new();
        let mut change_sets = Vec::new();
        let mut outputs = Vec::with_capacity(batch.len());
        {
            let mirror = self.mirror.read().unwrap_or_else(PoisonError::into_inner);
            for mut request in batch {
                let mut txn = BatchTxn {
                    mirror: &mirror,
                    batch: &overlay,
                    writes: BTreeMap::new(),
                };
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| (request.body)(&mut txn)));
                let writes = std::mem::take(&mut txn.writes);
                match outcome {
                    Ok(outcome) => {
                        if outcome.commit && !writes.is_empty() {
                            revision += 1;
                            let mut changes = Vec::with_capacity(writes.len());
                            for (key, value) in writes {
                                let previous = overlay
                                    .get(&key)
                                    .cloned()
                                    .unwrap_or_else(|| mirror.get(&key).cloned());
                                let next = value.map(|value| KeyValue {
                                    key: key.clone(),
                                    value: value.into(),
                                    create_revision: previous
                                        .as_ref()
                                        .map_or(revision, |p| p.create_revision),
                                    mod_revision: revision,
                                    version: previous.as_ref().map_or(1, |p| p.version + 1),
                                });
                                changes.push(Change {
                                    key: key.clone(),
                                    value: next.as_ref().map(|kv| kv.value.clone()),
                                });
                                overlay.insert(key, next);
                            }
                            change_sets.push(Arc::new(ChangeSet { revision, changes }));
                        }
                        outputs.push((request.reply, Ok(outcome.output)));
                    }
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        outputs
                            .push((request.reply, Err(StoreError::TransactionPanicked(message))));
                    }
                }
            }
        }
        if revision != base_revision {
            let started = Instant::now();
            let persisted = self.persist(&overlay, revision);
            self.commits
                .duration
                .observe(started.elapsed().as_secs_f64());
            self.commits.transactions.observe(outputs.len() as f64);
            if let Err(err) = persisted {
                tracing::error!(error = %err, "group commit failed");
                for (reply, _) in outputs {
                    let _ = reply.send(Err(StoreError::Backend(err.to_string())));
                }
                return;
            }
            let mut mirror = self.mirror.write().unwrap_or_else(PoisonError::into_inner);
            for (key, value) in overlay {
                match value {
                    Some(kv) => mirror.insert(key, kv),
                    None => mirror.remove(&key),
                };
            }
            drop(mirror);
            self.revision.store(revision, Ordering::Release);
            self.commits.revision.set(revision);
            // Nobody listening is fine: watchers re-read state when they start.
            let _ = self.changes.send(change_sets.into());
        }
        for (reply, output) in outputs {
            let _ = reply.send(output);
        }
    }

    fn persist(&mut self, overlay: &Overlay, revision: i64) -> rusqlite::Result<()> {
        let tx = self.connection.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO kv (key, value, create_revision, mod_revision, version)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                     mod_revision = excluded.mod_revision, version = excluded.version",
            )?;
            let mut delete = tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
            for (key, value) in overlay {
                match value {
                    Some(kv) => {
                        upsert.execute(params![
                            key,
                            &kv.value[..],
                            kv.create_revision,
                            kv.mod_revision,
                            kv.version
                        ])?;
                    }
                    None => {
                        delete.execute(params![key])?;
                    }
                }
            }
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE name = 'revision'",
                params![revision],
            )?;
        }
        tx.commit()
    }
}

/// A transaction running inside a group commit: it sees the committed mirror, the writes of the
/// batch's earlier transactions, and its own writes, in that order of precedence reversed.
struct BatchTxn<'a> {
    mirror: &'a Mirror,
    batch: &'a Overlay,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

impl BatchTxn<'_> {
    fn committed(&self, key: &str) -> Option<KeyValue> {
        match self.batch.get(key) {
            Some(state) => state.clone(),
            None => self.mirror.get(key).cloned(),
        }
    }

    fn lookup(&self, key: &str) -> Option<KeyValue> {
        let committed = self.committed(key);
        match self.writes.get(key) {
            // Not committed yet, so it has no mod revision of its own.
            Some(Some(value)) => Some(KeyValue {
                key: key.to_string(),
                value: value.clone().into(),
                create_revision: committed.as_ref().map_or(0, |kv| kv.create_revision),
                mod_revision: 0,
                version: committed.as_ref().map_or(1, |kv| kv.version + 1),
            }),
            Some(None) => None,
            None => committed,
        }
    }
}

impl Txn for BatchTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lookup(key))
    }

    fn range(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        // Merge the committed keys with the (few) keys the uncommitted layers touch, in key
        // order; each key is resolved through `get`, which applies precedence and deletions.
        let mirror = self.mirror;
        let touched: BTreeSet<String> = range_of(self.batch, prefix, start_after)
            .map(|(key, _)| key)
            .chain(range_of(&self.writes, prefix, start_after).map(|(key, _)| key))
            .cloned()
            .collect();
        let mut committed = range_of(mirror, prefix, start_after)
            .map(|(key, _)| key)
            .peekable();
        let mut touched = touched.into_iter().peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let key = match (committed.peek(), touched.peek()) {
                (None, None) => break,
                (Some(_), None) => committed.next().cloned(),
                (None, Some(_)) => touched.next(),
                (Some(c), Some(t)) => match c.as_str().cmp(t.as_str()) {
                    std::cmp::Ordering::Less => committed.next().cloned(),
                    std::cmp::Ordering::Equal => {
                        committed.next();
                        touched.next()
                    }
                    std::cmp::Ordering::Greater => touched.next(),
                },
            };
            if let Some(kv) = key.and_then(|key| self.lookup(&key)) {
                out.push(kv);
            }
        }
        Ok(out)
    }

    fn put(&mut self, key: &str, value: Vec<u8>) {
        self.writes.insert(key.to_string(), Some(value));
    }

    fn delete(&mut self, key: &str) {
        self.writes.insert(key.to_string(), None);
    }
}
