//! The embedded log store: one SQLite file (`DATA_DIR/logs.db`, WAL, `synchronous=FULL`)
//! apart from the state store, written by a thread of its own. Writers hand their work to
//! that thread and wait; it runs everything queued in one transaction (each piece in its own
//! savepoint, so one failure spoils nothing else) and answers them all after the one fsync of
//! its commit: group commit, so many concurrent PutLogEvents cost one disk flush. Readers use
//! connections of their own and see the last committed state (WAL snapshots), never waiting
//! for the writer.
//!
//! Events are stored in chunks, one row per append (split at [`CHUNK_EVENTS_MAX`] events or a
//! [`CHUNK_SPAN_MAX_MS`] span of timestamps), their timestamps and messages packed in one blob:
//! a row and three index entries per batch rather than a row and two per event made an append
//! four to five times cheaper (`tests/ingest_cost.rs`: 5.5-5.9 ms of CPU per 10,000-event batch
//! before, 1.1-1.4 after). An event's sequence number is its chunk's id (never used again:
//! AUTOINCREMENT) times [`CHUNK_EVENTS_MAX`] plus its place in the chunk, so it grows with every
//! append, store-wide. A read finds the chunks that can hold its events by index (a stream's
//! chunks by first and by last timestamp, a group's by first timestamp), decodes them in order
//! and stops once no chunk left can hold an event before the ones it has; a chunk's span being
//! bounded, the index range it starts from is too. Retention and the size bound remove whole
//! chunks: a chunk goes once all its events have expired, and the oldest chunks go until the
//! store is within its bound. Group and stream metadata live here too: every append updates its
//! stream's timestamps and stored bytes, and doing that in the state store would put a
//! state-store write behind every log line.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use berth_logs::{LogsError, Position, retention_cutoff};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{
    Direction, GroupInfo, GroupScan, LogStore, StoredEvent, StreamInfo, StreamListing, StreamOrder,
    StreamRead, SweepReport, TagChange,
};

/// How many queued writes one transaction takes at most.
const GROUP_COMMIT_MAX: usize = 512;
/// The least time between two checkpoints: the commits in between are copied by one.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// What a WAL file is cut back to once checkpointed (SQLite otherwise keeps it at its largest).
const WAL_SIZE_LIMIT: u64 = 4 << 20;
/// Chunks a sweep removes per transaction, so appends never wait long behind it.
const SWEEP_CHUNKS: usize = 64;
/// The most events one chunk holds; a PutLogEvents batch has at most 10,000.
const CHUNK_EVENTS_MAX: i64 = 1 << 16;
/// The widest span of timestamps in one chunk: a PutLogEvents batch spans 24 hours at most.
const CHUNK_SPAN_MAX_MS: i64 = 24 * 3600 * 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS groups(
    id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    retention_days INTEGER,
    tags TEXT NOT NULL,
    UNIQUE(region, name));
CREATE TABLE IF NOT EXISTS streams(
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE(group_id, name));
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_stream_first ON chunks(stream_id, first_ts, last_ts);
CREATE INDEX IF NOT EXISTS chunks_by_stream_last ON chunks(stream_id, last_ts, first_ts);
CREATE INDEX IF NOT EXISTS chunks_by_group ON chunks(group_id, first_ts, last_ts);
";

/// A chunk's body: each event's timestamp (8 bytes) and message length (4 bytes), little-endian,
/// then the message.
fn encode_body(events: &[(i64, String)]) -> Vec<u8> {
    let size = events.iter().map(|(_, m)| 12 + m.len()).sum();
    let mut body = Vec::with_capacity(size);
    for (timestamp, message) in events {
        body.extend_from_slice(&timestamp.to_le_bytes());
        body.extend_from_slice(&(message.len() as u32).to_le_bytes());
        body.extend_from_slice(message.as_bytes());
    }
    body
}

/// The events of a chunk's body in order: `(timestamp, message)`; `None` at damage.
fn body_events(body: &[u8]) -> impl Iterator<Item = Option<(i64, &str)>> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let event = (|| {
            let timestamp = i64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
            let length = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
            let message = std::str::from_utf8(rest.get(12..12 + length)?).ok()?;
            rest = &rest[12 + length..];
            Some((timestamp, message))
        })();
        if event.is_none() {
            rest = &[];
        }
        Some(event)
    })
}

/// Where `events` (in append order) are cut into chunks: at most [`CHUNK_EVENTS_MAX`] each,
/// spanning at most [`CHUNK_SPAN_MAX_MS`].
fn chunk_bounds(events: &[(i64, String)]) -> Vec<std::ops::Range<usize>> {
    let mut bounds = Vec::new();
    let mut start = 0;
    let (mut low, mut high) = (i64::MAX, i64::MIN);
    for (at, (timestamp, _)) in events.iter().enumerate() {
        let (new_low, new_high) = (low.min(*timestamp), high.max(*timestamp));
        let full = (at - start) as i64 == CHUNK_EVENTS_MAX;
        if at > start && (full || new_high - new_low > CHUNK_SPAN_MAX_MS) {
            bounds.push(start..at);
            start = at;
            (low, high) = (*timestamp, *timestamp);
        } else {
            (low, high) = (new_low, new_high);
        }
    }
    if start < events.len() {
        bounds.push(start..events.len());
    }
    bounds
}

/// Stores `events` (in append order) as chunks of `stream`, ingested at `ingested`.
fn insert_chunks(
    connection: &Connection,
    group: i64,
    stream: i64,
    ingested: i64,
    events: &[(i64, String)],
) -> Result<(), LogsError> {
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO chunks(group_id, stream_id, first_ts, last_ts, events, bytes, ingested, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(storage)?;
    for range in chunk_bounds(events) {
        let chunk = &events[range];
        let first = chunk.iter().map(|(t, _)| *t).min().unwrap_or_default();
        let last = chunk.iter().map(|(t, _)| *t).max().unwrap_or_default();
        let bytes: usize = chunk.iter().map(|(_, m)| m.len()).sum();
        insert
            .execute(params![
                group,
                stream,
                first,
                last,
                chunk.len() as i64,
                bytes as i64,
                ingested,
                encode_body(chunk)
            ])
            .map_err(storage)?;
    }
    Ok(())
}

/// One chunk as a read sees it.
struct Chunk {
    id: i64,
    first_ts: i64,
    last_ts: i64,
    ingested: i64,
    body: Vec<u8>,
    stream: i64,
}

fn chunk_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Chunk> {
    Ok(Chunk {
        id: row.get(0)?,
        first_ts: row.get(1)?,
        last_ts: row.get(2)?,
        ingested: row.get(3)?,
        body: row.get(4)?,
        stream: row.get(5)?,
    })
}

const CHUNK_COLUMNS: &str = "id, first_ts, last_ts, ingested, body, stream_id";

/// A stored event before its stream is named.
struct Found {
    position: Position,
    ingestion_time: i64,
    message: String,
    stream: i64,
}

/// The first `limit` events, in `(ts, seq)` order (`forward`) or its reverse, that `wanted`
/// keeps of those in `chunks`, which come by first timestamp ascending (`forward`) or by last
/// timestamp descending, so the read stops at the first chunk that cannot hold one of them.
fn gather(
    chunks: impl Iterator<Item = rusqlite::Result<Chunk>>,
    forward: bool,
    limit: usize,
    wanted: impl Fn(Position) -> bool,
) -> Result<Vec<Found>, LogsError> {
    let order = |a: &Position, b: &Position| {
        let ordering = (a.timestamp, a.sequence).cmp(&(b.timestamp, b.sequence));
        if forward {
            ordering
        } else {
            ordering.reverse()
        }
    };
    let mut found: Vec<Found> = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    for chunk in chunks {
        let chunk = chunk.map_err(storage)?;
        if let Some(boundary) = found.get(limit - 1) {
            // Chunks come by first timestamp ascending (forward) or last descending: once one
            // lies wholly past the boundary, so do all after it.
            let boundary = boundary.position.timestamp;
            let past = if forward {
                chunk.first_ts > boundary
            } else {
                chunk.last_ts < boundary
            };
            if past {
                break;
            }
        }
        let mut taken: Vec<(Position, &str)> = Vec::new();
        for (index, event) in body_events(&chunk.body).enumerate() {
            let Some((timestamp, message)) = event else {
                return Err(LogsError::ServiceUnavailable(format!(
                    "The log store's chunk {} is damaged.",
                    chunk.id
                )));
            };
            let position = Position {
                timestamp,
                sequence: chunk.id * CHUNK_EVENTS_MAX + index as i64,
            };
            if wanted(position) {
                taken.push((position, message));
            }
        }
        // Only the first `limit` of a chunk can be among the first `limit` of all: copy no more
        // (a read of the last event decodes a whole chunk, but copies one message).
        taken.sort_by(|a, b| order(&a.0, &b.0));
        taken.truncate(limit);
        found.extend(taken.into_iter().map(|(position, message)| Found {
            position,
            ingestion_time: chunk.ingested,
            message: message.to_owned(),
            stream: chunk.stream,
        }));
        found.sort_by(|a, b| order(&a.position, &b.position));
        found.truncate(limit);
    }
    Ok(found)
}

/// Moves events of an `events` table (the layout before chunks) into chunks, batch by batch
/// as they were appended, and drops it; tokens handed out before are not valid after.
fn move_events_into_chunks(connection: &Connection) -> Result<(), LogsError> {
    let old: bool = connection
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
            [],
            |row| row.get(0),
        )
        .map_err(storage)?;
    if !old {
        return Ok(());
    }
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(storage)?;
    let moved = (|| {
        let mut select = connection
            .prepare(
                "SELECT group_id, stream_id, ingested, ts, message FROM events
                 ORDER BY stream_id, seq",
            )
            .map_err(storage)?;
        let mut rows = select.query([]).map_err(storage)?;
        let mut batch: Vec<(i64, String)> = Vec::new();
        let mut key: Option<(i64, i64, i64)> = None;
        while let Some(row) = rows.next().map_err(storage)? {
            let this: (i64, i64, i64) = (
                row.get(0).map_err(storage)?,
                row.get(1).map_err(storage)?,
                row.get(2).map_err(storage)?,
            );
            if key.is_some_and(|key| key != this) {
                let (group, stream, ingested) = key.expect("a batch");
                insert_chunks(
                    connection,
                    group,
                    stream,
                    ingested,
                    &std::mem::take(&mut batch),
                )?;
            }
            key = Some(this);
            batch.push((row.get(3).map_err(storage)?, row.get(4).map_err(storage)?));
        }
        if let Some((group, stream, ingested)) = key {
            insert_chunks(connection, group, stream, ingested, &batch)?;
        }
        connection
            .execute_batch("DROP TABLE events")
            .map_err(storage)
    })();
    let end = if moved.is_ok() { "COMMIT" } else { "ROLLBACK" };
    connection.execute_batch(end).map_err(storage)?;
    moved
}

type Finish = Box<dyn FnOnce(Result<(), LogsError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;

/// The SQLite log store.
pub struct SqliteLogStore {
    jobs: SyncSender<Job>,
    path: std::path::PathBuf,
    readers: Mutex<Vec<Connection>>,
}

/// A storage failure as the API reports it: the disk being full is said so, and nothing
/// panics.
fn storage(err: rusqlite::Error) -> LogsError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && failure.code == rusqlite::ErrorCode::DiskFull
    {
        return LogsError::ServiceUnavailable(
            "The log store's disk is full; the events were not stored.".into(),
        );
    }
    LogsError::ServiceUnavailable(format!("The log store failed: {err}"))
}

fn open_connection(path: &Path) -> Result<Connection, LogsError> {
    let connection = Connection::open(path).map_err(storage)?;
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};
             PRAGMA busy_timeout = 5000;"
        ))
        .map_err(storage)?;
    Ok(connection)
}

impl SqliteLogStore {
    /// Opens (or creates) the store at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Arc<SqliteLogStore>, LogsError> {
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA).map_err(storage)?;
        move_events_into_chunks(&writer)?;
        // Checkpoints run on a thread of their own, not inside the commits that cross SQLite's
        // threshold (where they cost an append more than its own work). Each job's savepoint
        // keeps the existing pages it changes in a sub-journal: in memory (an append changes
        // few, a sweep chunk a few MB at most) rather than a temporary file made and written
        // on every append.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY")
            .map_err(storage)?;
        let checkpointer = open_connection(path)?;
        let starting = |err: std::io::Error| {
            LogsError::ServiceUnavailable(format!("starting the log store: {err}"))
        };
        let (committed, commits) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("log-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, commits))
            .map_err(starting)?;
        let (jobs, queue) = sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("log-store-writer".into())
            .spawn(move || write_loop(writer, queue, committed))
            .map_err(starting)?;
        Ok(Arc::new(SqliteLogStore {
            jobs,
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
        }))
    }

    /// Runs `operation` on the writer thread, in the next group commit, and returns its result
    /// once that commit is durable.
    fn write<R: Send + 'static>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, LogsError> + Send + 'static,
    ) -> Result<R, LogsError> {
        let (answer, answered) = sync_channel(1);
        let job: Job = Box::new(move |connection| {
            let result = in_savepoint(connection, operation);
            Box::new(move |committed: Result<(), LogsError>| {
                // A job's own failure says more than the commit's (which it may have caused).
                let _ = answer.send(result.and_then(|value| committed.map(|()| value)));
            })
        });
        let stopped = || LogsError::ServiceUnavailable("The log store has stopped.".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }

    fn read<R>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, LogsError>,
    ) -> Result<R, LogsError> {
        let pooled = self.readers.lock().expect("reader pool").pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path)?,
        };
        let result = operation(&connection);
        self.readers.lock().expect("reader pool").push(connection);
        result
    }
}

fn in_savepoint<R>(
    connection: &Connection,
    operation: impl FnOnce(&Connection) -> Result<R, LogsError>,
) -> Result<R, LogsError> {
    connection.execute_batch("SAVEPOINT job").map_err(storage)?;
    let result = operation(connection);
    if connection.is_autocommit() {
        // SQLite rolled the whole transaction back itself (a full disk, an I/O error).
        return result;
    }
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    connection.execute_batch(end).map_err(storage)?;
    result
}

/// After commits, copies the WAL's pages into the database (a passive checkpoint: it never
/// blocks the writer or readers), at most once per [`CHECKPOINT_EVERY`].
fn checkpoint_loop(connection: Connection, commits: Receiver<()>) {
    while commits.recv().is_ok() {
        if let Err(err) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "log store checkpoint failed");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

fn write_loop(connection: Connection, queue: Receiver<Job>, checkpoint: SyncSender<()>) {
    while let Ok(first) = queue.recv() {
        if let Err(err) = connection.execute_batch("BEGIN IMMEDIATE") {
            first(&connection)(Err(storage(err)));
            continue;
        }
        let mut finishes = vec![first(&connection)];
        // SQLite rolls the whole transaction back by itself on some failures (a full disk):
        // then what the jobs before did is gone, and the next must not run outside it.
        let mut rolled_back = connection.is_autocommit();
        while !rolled_back && finishes.len() < GROUP_COMMIT_MAX {
            match queue.try_recv() {
                Ok(job) => {
                    finishes.push(job(&connection));
                    rolled_back = connection.is_autocommit();
                }
                Err(_) => break,
            }
        }
        let committed = if rolled_back {
            Err(LogsError::ServiceUnavailable(
                "The log store could not write (is its disk full?); nothing was stored.".into(),
            ))
        } else {
            connection.execute_batch("COMMIT").map_err(storage)
        };
        if committed.is_err() && !connection.is_autocommit() {
            // A failed COMMIT (a full disk) leaves the transaction open; nothing of it stays.
            let _ = connection.execute_batch("ROLLBACK");
            tracing::warn!(error = ?committed, "log store commit failed");
        }
        for finish in finishes {
            finish(committed.clone());
        }
        // Full: a checkpoint is due already, and will see this commit too.
        let _ = checkpoint.try_send(());
    }
}

fn group_row(
    connection: &Connection,
    region: &str,
    name: &str,
) -> Result<(i64, Option<i32>), LogsError> {
    connection
        .query_row(
            "SELECT id, retention_days FROM groups WHERE region = ?1 AND name = ?2",
            params![region, name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(storage)?
        .ok_or_else(LogsError::group_not_found)
}

fn group_id(connection: &Connection, region: &str, name: &str) -> Result<i64, LogsError> {
    group_row(connection, region, name).map(|(id, _)| id)
}

fn stream_id(connection: &Connection, group: i64, name: &str) -> Result<Option<i64>, LogsError> {
    connection
        .query_row(
            "SELECT id FROM streams WHERE group_id = ?1 AND name = ?2",
            params![group, name],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)
}

const GROUP_COLUMNS: &str = "name, created, retention_days, tags,
    (SELECT COALESCE(SUM(stored_bytes), 0) FROM streams WHERE group_id = groups.id)";

fn group_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<GroupInfo> {
    let tags: String = row.get(3)?;
    Ok(GroupInfo {
        name: row.get(0)?,
        creation_time: row.get(1)?,
        retention_days: row.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        stored_bytes: row.get(4)?,
    })
}

const STREAM_COLUMNS: &str = "name, created, first_event, last_event, last_ingestion, stored_bytes";

fn stream_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<StreamInfo> {
    Ok(StreamInfo {
        name: row.get(0)?,
        creation_time: row.get(1)?,
        first_event_timestamp: row.get(2)?,
        last_event_timestamp: row.get(3)?,
        last_ingestion_time: row.get(4)?,
        stored_bytes: row.get(5)?,
    })
}

/// Removes the chunks `doomed` selects (`id, stream_id, events, bytes`), taking their bytes off
/// their streams and moving each stream's first event up; only the streams touched are
/// updated, each by index. Answers how many chunks and events it removed.
fn remove_chunks(
    connection: &Connection,
    doomed: &str,
    parameters: impl rusqlite::Params,
) -> Result<(usize, u64), LogsError> {
    connection
        .execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS doomed(
                 id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, events INTEGER NOT NULL,
                 bytes INTEGER NOT NULL);
             DELETE FROM doomed;",
        )
        .map_err(storage)?;
    let removed = connection
        .execute(
            &format!("INSERT INTO doomed(id, stream_id, events, bytes) {doomed}"),
            parameters,
        )
        .map_err(storage)?;
    if removed == 0 {
        return Ok((0, 0));
    }
    let events: i64 = connection
        .query_row("SELECT SUM(events) FROM doomed", [], |row| row.get(0))
        .map_err(storage)?;
    connection
        .execute_batch(
            "DELETE FROM chunks WHERE id IN (SELECT id FROM doomed);
             UPDATE streams SET
                 stored_bytes = stored_bytes
                     - (SELECT SUM(bytes) FROM doomed WHERE doomed.stream_id = streams.id),
                 first_event = (SELECT MIN(first_ts) FROM chunks WHERE stream_id = streams.id)
             WHERE id IN (SELECT stream_id FROM doomed);",
        )
        .map_err(storage)?;
    Ok((removed, events as u64))
}

impl LogStore for SqliteLogStore {
    fn create_group(
        &self,
        region: &str,
        name: &str,
        now: i64,
        tags: BTreeMap<String, String>,
    ) -> Result<(), LogsError> {
        let (region, name) = (region.to_owned(), name.to_owned());
        let tags = serde_json::to_string(&tags).expect("tags encode");
        self.write(move |connection| {
            let inserted = connection
                .execute(
                    "INSERT INTO groups(region, name, created, tags) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![region, name, now, tags],
                )
                .map_err(storage)?;
            if inserted == 0 {
                return Err(LogsError::group_exists());
            }
            Ok(())
        })
    }

    fn delete_group(&self, region: &str, name: &str) -> Result<(), LogsError> {
        let (region, name) = (region.to_owned(), name.to_owned());
        self.write(move |connection| {
            let id = group_id(connection, &region, &name)?;
            for statement in [
                "DELETE FROM chunks WHERE group_id = ?1",
                "DELETE FROM streams WHERE group_id = ?1",
                "DELETE FROM groups WHERE id = ?1",
            ] {
                connection.execute(statement, [id]).map_err(storage)?;
            }
            Ok(())
        })
    }

    fn group(&self, region: &str, name: &str) -> Result<Option<GroupInfo>, LogsError> {
        self.read(|connection| {
            connection
                .query_row(
                    &format!("SELECT {GROUP_COLUMNS} FROM groups WHERE region = ?1 AND name = ?2"),
                    params![region, name],
                    group_info,
                )
                .optional()
                .map_err(storage)
        })
    }

    fn groups(
        &self,
        region: &str,
        prefix: Option<&str>,
        pattern: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogsError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {GROUP_COLUMNS} FROM groups
                     WHERE region = ?1 AND name > ?2
                       AND substr(name, 1, length(?3)) = ?3
                       AND instr(lower(name), lower(?4)) > 0
                     ORDER BY name LIMIT ?5"
                ))
                .map_err(storage)?;
            let rows = statement
                .query_map(
                    params![
                        region,
                        after.unwrap_or(""),
                        prefix.unwrap_or(""),
                        pattern.unwrap_or(""),
                        limit as i64
                    ],
                    group_info,
                )
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn set_retention(&self, region: &str, name: &str, days: Option<i32>) -> Result<(), LogsError> {
        let (region, name) = (region.to_owned(), name.to_owned());
        self.write(move |connection| {
            let id = group_id(connection, &region, &name)?;
            connection
                .execute(
                    "UPDATE groups SET retention_days = ?1 WHERE id = ?2",
                    params![days, id],
                )
                .map_err(storage)?;
            Ok(())
        })
    }

    fn update_tags(&self, region: &str, name: &str, change: TagChange) -> Result<(), LogsError> {
        let (region, name) = (region.to_owned(), name.to_owned());
        self.write(move |connection| {
            let id = group_id(connection, &region, &name)?;
            let stored: String = connection
                .query_row("SELECT tags FROM groups WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .map_err(storage)?;
            let mut tags: BTreeMap<String, String> =
                serde_json::from_str(&stored).unwrap_or_default();
            change(&mut tags)?;
            connection
                .execute(
                    "UPDATE groups SET tags = ?1 WHERE id = ?2",
                    params![serde_json::to_string(&tags).expect("tags encode"), id],
                )
                .map_err(storage)?;
            Ok(())
        })
    }

    fn create_stream(
        &self,
        region: &str,
        group: &str,
        name: &str,
        now: i64,
    ) -> Result<(), LogsError> {
        let (region, group, name) = (region.to_owned(), group.to_owned(), name.to_owned());
        self.write(move |connection| {
            let group = group_id(connection, &region, &group)?;
            let inserted = connection
                .execute(
                    "INSERT INTO streams(group_id, name, created) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![group, name, now],
                )
                .map_err(storage)?;
            if inserted == 0 {
                return Err(LogsError::stream_exists());
            }
            Ok(())
        })
    }

    fn delete_stream(&self, region: &str, group: &str, name: &str) -> Result<(), LogsError> {
        let (region, group, name) = (region.to_owned(), group.to_owned(), name.to_owned());
        self.write(move |connection| {
            let group = group_id(connection, &region, &group)?;
            let stream =
                stream_id(connection, group, &name)?.ok_or_else(LogsError::stream_not_found)?;
            connection
                .execute("DELETE FROM chunks WHERE stream_id = ?1", [stream])
                .map_err(storage)?;
            connection
                .execute("DELETE FROM streams WHERE id = ?1", [stream])
                .map_err(storage)?;
            Ok(())
        })
    }

    fn streams(
        &self,
        region: &str,
        group: &str,
        listing: &StreamListing,
    ) -> Result<Vec<StreamInfo>, LogsError> {
        self.read(|connection| {
            let group = group_id(connection, region, group)?;
            let direction = if listing.descending { "DESC" } else { "ASC" };
            let order = match listing.order {
                StreamOrder::Name => format!("name {direction}"),
                StreamOrder::LastEventTime => {
                    format!("COALESCE(last_event, -1) {direction}, name {direction}")
                }
            };
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {STREAM_COLUMNS} FROM streams
                     WHERE group_id = ?1 AND substr(name, 1, length(?2)) = ?2
                     ORDER BY {order} LIMIT ?3 OFFSET ?4"
                ))
                .map_err(storage)?;
            let rows = statement
                .query_map(
                    params![
                        group,
                        listing.prefix.as_deref().unwrap_or(""),
                        listing.limit as i64,
                        listing.offset as i64
                    ],
                    stream_info,
                )
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn append(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
        now: i64,
        create_stream: bool,
    ) -> Result<(), LogsError> {
        let (region, group, stream) = (region.to_owned(), group.to_owned(), stream.to_owned());
        self.write(move |connection| {
            let group = group_id(connection, &region, &group)?;
            let stream = match stream_id(connection, group, &stream)? {
                Some(id) => id,
                None if create_stream => {
                    connection
                        .execute(
                            "INSERT INTO streams(group_id, name, created) VALUES (?1, ?2, ?3)",
                            params![group, stream, now],
                        )
                        .map_err(storage)?;
                    connection.last_insert_rowid()
                }
                None => return Err(LogsError::stream_not_found()),
            };
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                return Ok(());
            };
            let (first, last) = (first.0, last.0);
            let bytes: i64 = events.iter().map(|(_, message)| message.len() as i64).sum();
            insert_chunks(connection, group, stream, now, &events)?;
            connection
                .execute(
                    "UPDATE streams SET
                        first_event = MIN(COALESCE(first_event, ?1), ?1),
                        last_event = MAX(COALESCE(last_event, ?2), ?2),
                        last_ingestion = ?3,
                        stored_bytes = stored_bytes + ?4
                     WHERE id = ?5",
                    params![first, last, now, bytes, stream],
                )
                .map_err(storage)?;
            Ok(())
        })
    }

    fn read_stream(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        read: &StreamRead,
    ) -> Result<Vec<StoredEvent>, LogsError> {
        self.read(|connection| {
            let group = group_id(connection, region, group)?;
            let stream_id =
                stream_id(connection, group, stream)?.ok_or_else(LogsError::stream_not_found)?;
            let from = (read.from.timestamp, read.from.sequence);
            let in_range = |p: Position| read.start <= p.timestamp && p.timestamp < read.end;
            let found = match read.direction {
                Direction::Forward => {
                    let low = read.start.max(read.from.timestamp);
                    let mut statement = connection
                        .prepare_cached(&format!(
                            "SELECT {CHUNK_COLUMNS} FROM chunks INDEXED BY chunks_by_stream_first
                             WHERE stream_id = ?1 AND first_ts >= ?2 - ?3 AND first_ts < ?4
                               AND last_ts >= ?2
                             ORDER BY first_ts, id"
                        ))
                        .map_err(storage)?;
                    let chunks = statement
                        .query_map(
                            params![stream_id, low, CHUNK_SPAN_MAX_MS, read.end],
                            chunk_row,
                        )
                        .map_err(storage)?;
                    gather(chunks, true, read.limit, |p| {
                        in_range(p) && (p.timestamp, p.sequence) > from
                    })?
                }
                Direction::Backward => {
                    let high = (read.end.saturating_sub(1)).min(read.from.timestamp);
                    let mut statement = connection
                        .prepare_cached(&format!(
                            "SELECT {CHUNK_COLUMNS} FROM chunks INDEXED BY chunks_by_stream_last
                             WHERE stream_id = ?1 AND last_ts <= ?2 + ?3 AND last_ts >= ?4
                               AND first_ts <= ?2
                             ORDER BY last_ts DESC, id DESC"
                        ))
                        .map_err(storage)?;
                    let chunks = statement
                        .query_map(
                            params![stream_id, high, CHUNK_SPAN_MAX_MS, read.start],
                            chunk_row,
                        )
                        .map_err(storage)?;
                    let mut found = gather(chunks, false, read.limit, |p| {
                        in_range(p) && (p.timestamp, p.sequence) < from
                    })?;
                    found.reverse();
                    found
                }
            };
            Ok(found
                .into_iter()
                .map(|event| StoredEvent {
                    stream: stream.to_owned(),
                    position: event.position,
                    ingestion_time: event.ingestion_time,
                    message: event.message,
                })
                .collect())
        })
    }

    fn scan_group(
        &self,
        region: &str,
        group: &str,
        scan: &GroupScan,
    ) -> Result<Vec<StoredEvent>, LogsError> {
        self.read(|connection| {
            let group = group_id(connection, region, group)?;
            let mut statement = connection
                .prepare_cached("SELECT id, name FROM streams WHERE group_id = ?1")
                .map_err(storage)?;
            let chosen: HashMap<i64, String> = statement
                .query_map([group], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(storage)?
                .collect::<Result<Vec<(i64, String)>, _>>()
                .map_err(storage)?
                .into_iter()
                .filter(|(_, name)| {
                    scan.streams
                        .as_ref()
                        .is_none_or(|names| names.contains(name))
                        && scan
                            .stream_prefix
                            .as_ref()
                            .is_none_or(|prefix| name.starts_with(prefix.as_str()))
                })
                .collect();
            if chosen.is_empty() {
                return Ok(Vec::new());
            }
            // The other streams' chunks are passed over in the index, their bodies never read.
            // The chosen ids go in as a JSON array parameter, so that the statement's text is
            // the same for every selection and stays in the statement cache.
            let selection = (scan.streams.is_some() || scan.stream_prefix.is_some()).then(|| {
                let ids: Vec<String> = chosen.keys().map(i64::to_string).collect();
                format!("[{}]", ids.join(","))
            });
            let low = scan.start.max(scan.after.timestamp);
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {CHUNK_COLUMNS} FROM chunks INDEXED BY chunks_by_group
                     WHERE group_id = ?1 AND first_ts >= ?2 - ?3 AND first_ts < ?4
                       AND last_ts >= ?2
                       AND (?5 IS NULL OR stream_id IN (SELECT value FROM json_each(?5)))
                     ORDER BY first_ts, id"
                ))
                .map_err(storage)?;
            let chunks = statement
                .query_map(
                    params![group, low, CHUNK_SPAN_MAX_MS, scan.end, selection],
                    chunk_row,
                )
                .map_err(storage)?;
            let after = (scan.after.timestamp, scan.after.sequence);
            let found = gather(chunks, true, scan.limit, |p| {
                scan.start <= p.timestamp
                    && p.timestamp < scan.end
                    && (p.timestamp, p.sequence) > after
            })?;
            Ok(found
                .into_iter()
                .map(|event| StoredEvent {
                    stream: chosen[&event.stream].clone(),
                    position: event.position,
                    ingestion_time: event.ingestion_time,
                    message: event.message,
                })
                .collect())
        })
    }

    fn sweep(&self, now: i64, max_bytes: u64) -> Result<SweepReport, LogsError> {
        let mut report = SweepReport::default();
        let retained: Vec<(i64, i32)> = self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT id, retention_days FROM groups WHERE retention_days IS NOT NULL",
                )
                .map_err(storage)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })?;
        // A chunk goes once all its events have expired: one that began before the cutoff
        // keeps its younger events, and its older ones (a day's span at most) with them.
        for (group, days) in retained {
            let cutoff = retention_cutoff(now, days);
            loop {
                let (chunks, events) = self.write(move |connection| {
                    remove_chunks(
                        connection,
                        "SELECT id, stream_id, events, bytes FROM chunks
                         WHERE group_id = ?1 AND first_ts < ?2 AND last_ts < ?2 LIMIT ?3",
                        params![group, cutoff, SWEEP_CHUNKS as i64],
                    )
                })?;
                report.expired_events += events;
                if chunks < SWEEP_CHUNKS {
                    break;
                }
            }
        }
        loop {
            let (chunks, events) = self.write(move |connection| {
                let stored: i64 = connection
                    .query_row(
                        "SELECT COALESCE(SUM(stored_bytes), 0) FROM streams",
                        [],
                        |row| row.get(0),
                    )
                    .map_err(storage)?;
                if stored as u64 <= max_bytes {
                    return Ok((0, 0));
                }
                // The fewest oldest chunks whose bytes cover the excess, a few at most.
                remove_chunks(
                    connection,
                    "SELECT id, stream_id, events, bytes FROM (
                       SELECT id, stream_id, events, bytes,
                              SUM(bytes) OVER (ORDER BY id) - bytes AS before
                       FROM (SELECT id, stream_id, events, bytes FROM chunks ORDER BY id LIMIT ?1))
                     WHERE before < ?2",
                    params![SWEEP_CHUNKS as i64, stored - max_bytes as i64],
                )
            })?;
            if chunks == 0 {
                break;
            }
            report.evicted_events += events;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_chunks_of_bounded_size_and_span() {
        let day = CHUNK_SPAN_MAX_MS;
        let events = |times: &[i64]| -> Vec<(i64, String)> {
            times.iter().map(|t| (*t, String::new())).collect()
        };
        assert_eq!(chunk_bounds(&events(&[5, 5, 9])), vec![0..3]);
        assert!(chunk_bounds(&[]).is_empty());
        // A chunk spans a day at most, however its events are ordered.
        assert_eq!(
            chunk_bounds(&events(&[0, day, day + 1, 10, 2 * day])),
            [0..2, 2..4, 4..5]
        );
        let many = events(&vec![7; CHUNK_EVENTS_MAX as usize * 2 + 1]);
        let full = CHUNK_EVENTS_MAX as usize;
        assert_eq!(
            chunk_bounds(&many),
            [0..full, full..2 * full, 2 * full..2 * full + 1]
        );
    }

    fn read_all(store: &SqliteLogStore, stream: &str, direction: Direction) -> Vec<String> {
        let mut messages = Vec::new();
        let mut from = match direction {
            Direction::Forward => Position::START,
            Direction::Backward => Position {
                timestamp: i64::MAX,
                sequence: i64::MAX,
            },
        };
        loop {
            let read = StreamRead {
                from,
                direction,
                start: 0,
                end: i64::MAX,
                limit: 3,
            };
            let page = store.read_stream("r", "g", stream, &read).unwrap();
            let (Some(first), Some(last)) = (page.first(), page.last()) else {
                return messages;
            };
            from = match direction {
                Direction::Forward => last.position,
                Direction::Backward => first.position,
            };
            let texts = page.iter().map(|e| e.message.clone());
            match direction {
                Direction::Forward => messages.extend(texts),
                Direction::Backward => {
                    let mut older: Vec<String> = texts.collect();
                    older.append(&mut messages);
                    messages = older;
                }
            }
        }
    }

    /// Batches whose times overlap (a later append holding earlier events) are read back in
    /// `(timestamp, append order)` order, page by page, forward and backward, per stream and
    /// interleaved across the group; time ranges cut them.
    #[test]
    fn reads_page_through_overlapping_batches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteLogStore::open(&dir.path().join("logs.db")).unwrap();
        store.create_group("r", "g", 0, BTreeMap::new()).unwrap();
        // (stream, first timestamp, step, events) per append.
        let batches = [
            ("a", 100, 10, 5),
            ("b", 95, 10, 4),
            ("a", 95, 5, 6),
            ("a", 300, 1, 2),
            ("b", 140, 0, 3),
        ];
        let mut appended: Vec<(&str, i64, String)> = Vec::new();
        for (batch, (stream, first, step, count)) in batches.into_iter().enumerate() {
            let events: Vec<(i64, String)> = (0..count)
                .map(|i| (first + step * i, format!("{stream}{batch}.{i}")))
                .collect();
            appended.extend(events.iter().map(|(t, m)| (stream, *t, m.clone())));
            store.append("r", "g", stream, events, 1, true).unwrap();
        }
        // Sequence numbers follow append order, so a stable sort by time is the stored order.
        appended.sort_by_key(|(_, timestamp, _)| *timestamp);
        let expected = |stream: Option<&str>, start: i64, end: i64| -> Vec<String> {
            appended
                .iter()
                .filter(|(s, t, _)| stream.is_none_or(|x| x == *s) && start <= *t && *t < end)
                .map(|(_, _, m)| m.clone())
                .collect()
        };
        for stream in ["a", "b"] {
            let all = expected(Some(stream), 0, i64::MAX);
            assert_eq!(read_all(&store, stream, Direction::Forward), all);
            assert_eq!(read_all(&store, stream, Direction::Backward), all);
        }
        let mut scanned = Vec::new();
        let mut scan = GroupScan {
            streams: None,
            stream_prefix: None,
            start: 100,
            end: 141,
            after: Position::START,
            limit: 4,
        };
        loop {
            let page = store.scan_group("r", "g", &scan).unwrap();
            let Some(last) = page.last() else { break };
            scan.after = last.position;
            scanned.extend(page.iter().map(|e| e.message.clone()));
            assert!(page.iter().all(|e| e.message.starts_with(&e.stream)));
        }
        assert_eq!(scanned, expected(None, 100, 141));
        let messages = |scan: &GroupScan| -> Vec<String> {
            let found = store.scan_group("r", "g", scan).unwrap();
            found.into_iter().map(|e| e.message).collect()
        };
        scan.streams = Some(vec!["b".into()]);
        scan.after = Position::START;
        scan.limit = 100;
        assert_eq!(messages(&scan), expected(Some("b"), 100, 141));
        scan.streams = None;
        scan.stream_prefix = Some("a".into());
        assert_eq!(messages(&scan), expected(Some("a"), 100, 141));
    }

    /// A log store written before events were kept in chunks is moved into chunks when opened,
    /// in order, its streams' figures unchanged.
    #[test]
    fn an_events_table_is_moved_into_chunks_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        {
            let old = Connection::open(&path).unwrap();
            let groups_and_streams = SCHEMA.split("CREATE TABLE IF NOT EXISTS chunks").next();
            old.execute_batch(groups_and_streams.unwrap()).unwrap();
            old.execute_batch(
                "CREATE TABLE events(
                     seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL,
                     stream_id INTEGER NOT NULL, ts INTEGER NOT NULL, ingested INTEGER NOT NULL,
                     message TEXT NOT NULL);
                 INSERT INTO groups(id, region, name, created, tags) VALUES (1, 'r', 'g', 0, '{}');
                 INSERT INTO streams(id, group_id, name, created, first_event, last_event,
                                     last_ingestion, stored_bytes)
                     VALUES (7, 1, 's', 0, 10, 30, 2, 6);
                 INSERT INTO events(group_id, stream_id, ts, ingested, message) VALUES
                     (1, 7, 20, 1, 'b'), (1, 7, 10, 1, 'a'), (1, 7, 30, 2, 'c1'), (1, 7, 30, 2, 'c2'),
                     (1, 7, 25, 2, 'x');",
            )
            .unwrap();
        }
        let store = SqliteLogStore::open(&path).unwrap();
        assert_eq!(
            read_all(&store, "s", Direction::Forward),
            ["a", "b", "x", "c1", "c2"]
        );
        let listing = StreamListing {
            prefix: None,
            order: StreamOrder::Name,
            descending: false,
            offset: 0,
            limit: 10,
        };
        let streams = store.streams("r", "g", &listing).unwrap();
        assert_eq!(streams[0].stored_bytes, 6);
        store
            .append("r", "g", "s", vec![(40, "d".into())], 3, false)
            .unwrap();
        assert_eq!(
            read_all(&store, "s", Direction::Backward).last().unwrap(),
            "d"
        );
    }

    /// Checkpoints keep up with appends off the writer: the WAL is copied into the database
    /// and cut back, so it does not grow with the log.
    #[test]
    fn the_wal_is_checkpointed_as_appends_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        let store = SqliteLogStore::open(&path).unwrap();
        store
            .create_group("us-east-1", "g", 0, BTreeMap::new())
            .unwrap();
        let wal = dir.path().join("logs.db-wal");
        let mut largest = 0;
        for batch in 0..40 {
            let events: Vec<(i64, String)> = (0..1_000)
                .map(|i| (batch * 1_000 + i, "x".repeat(500)))
                .collect();
            store
                .append("us-east-1", "g", "s", events, 1, true)
                .unwrap();
            // The checkpoint thread runs on its own clock, and a checkpointed WAL is cut back by
            // the next commit: under load, give it (bounded) time and small commits rather than
            // assume it has kept up. Without checkpoints the WAL passes 16 MB by the 33rd batch
            // and never shrinks again.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut size = std::fs::metadata(&wal).unwrap().len();
            let mut nudge = 0;
            while size >= 16 << 20 && std::time::Instant::now() < deadline {
                std::thread::sleep(CHECKPOINT_EVERY / 2);
                nudge += 1;
                store
                    .append(
                        "us-east-1",
                        "g",
                        "s",
                        vec![(batch * 1_000 + 999, format!("n{nudge}"))],
                        1,
                        true,
                    )
                    .unwrap();
                size = std::fs::metadata(&wal).unwrap().len();
            }
            largest = largest.max(size);
        }
        // Most of the 20 MB reaches the database: the last commits are checkpointed after the
        // thread's pause, which the loop above may have finished inside.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut database = std::fs::metadata(&path).unwrap().len();
        while database <= 16 << 20 && std::time::Instant::now() < deadline {
            std::thread::sleep(CHECKPOINT_EVERY / 2);
            database = std::fs::metadata(&path).unwrap().len();
        }
        assert!(database > 16 << 20, "the events copied in: {database}");
        assert!(largest < 16 << 20, "the WAL stayed small: {largest}");
    }

    /// A disk that fills up (here: the database may not grow past its current pages) fails
    /// the appends with ServiceUnavailableException, keeps nothing of them, and the store works
    /// again once there is room.
    #[test]
    fn a_full_disk_is_an_error_and_the_store_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteLogStore::open(&dir.path().join("logs.db")).unwrap();
        store
            .create_group("us-east-1", "g", 0, BTreeMap::new())
            .unwrap();
        store
            .append("us-east-1", "g", "s", vec![(1, "fits".into())], 1, true)
            .unwrap();
        let pages: i64 = store
            .write(|c| {
                c.query_row("PRAGMA page_count", [], |row| row.get(0))
                    .map_err(storage)
            })
            .unwrap();
        store
            .write(move |c| {
                c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                    .map_err(storage)
            })
            .unwrap();
        let big: Vec<(i64, String)> = (0..200).map(|i| (2 + i, "x".repeat(4096))).collect();
        assert_eq!(
            store.append("us-east-1", "g", "s", big.clone(), 2, false),
            Err(LogsError::ServiceUnavailable(
                "The log store's disk is full; the events were not stored.".into()
            ))
        );
        let read = StreamRead {
            from: Position::START,
            direction: Direction::Forward,
            start: 0,
            end: i64::MAX,
            limit: 1000,
        };
        let kept = store.read_stream("us-east-1", "g", "s", &read).unwrap();
        assert_eq!(kept.len(), 1);
        store
            .write(|c| {
                c.query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))
                    .map_err(storage)
            })
            .unwrap();
        store.append("us-east-1", "g", "s", big, 2, false).unwrap();
        assert_eq!(
            store
                .read_stream("us-east-1", "g", "s", &read)
                .unwrap()
                .len(),
            201
        );
    }
}
