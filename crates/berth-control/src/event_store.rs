//! Where each region's event history outlives the process: [`EventStore`], the seam, and
//! [`SqliteEventStore`], the embedded one (`DATA_DIR/events.db`, WAL, `synchronous=FULL`),
//! apart from the state store so that recording events never puts a write behind an API call.
//!
//! Each region's deriver is the only writer of its region's rows and hands over everything it
//! derived from the change sets waiting for it in one transaction, so the deriver's own
//! batching is the group commit (no writer thread of its own is needed; regions share one
//! connection behind a lock). Readers have connections of their own and read WAL snapshots.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use berth_ecs::events::EventId;
use rusqlite::{Connection, OptionalExtension, params};

/// A failure of the event store, as the log says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event store failed: {0}")]
pub struct EventStoreError(pub String);

impl From<rusqlite::Error> for EventStoreError {
    fn from(err: rusqlite::Error) -> EventStoreError {
        EventStoreError(err.to_string())
    }
}

/// One kept entry: an event, or a gap mark (no cluster: every client is told of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub id: EventId,
    /// When it was recorded (epoch ms): what age-based retention goes by.
    pub recorded_ms: i64,
    /// The cluster and service it concerns; `None` for a gap.
    pub about: Option<(String, Option<String>)>,
    /// The entry as one Server-Sent Events message.
    pub frame: String,
}

/// Where a region's history stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Every change of the state store up to this revision has had its events recorded.
    pub covered: i64,
    /// The history holds every entry after this id (where it began, or the newest entry
    /// retention removed).
    pub floor: EventId,
}

/// The regions' event histories.
pub trait EventStore: Send + Sync + 'static {
    /// Where `region`'s history stands; `None` when it was never recorded.
    fn progress(&self, region: &str) -> Result<Option<Progress>, EventStoreError>;

    /// Forgets `region`'s history and begins it again after the state store's `revision`.
    fn reset(&self, region: &str, revision: i64) -> Result<(), EventStoreError>;

    /// Adds `entries` (newer than every kept one, in id order) and records that changes up to
    /// `covered` have had their events recorded, in one durable transaction.
    fn append(
        &self,
        region: &str,
        entries: &[StoredEntry],
        covered: i64,
    ) -> Result<(), EventStoreError>;

    /// Up to `limit` entries after `after` (after the floor when `None`, or when `after` is
    /// below it) and at most `until`, oldest first, with the floor they were read above.
    fn read(
        &self,
        region: &str,
        after: Option<EventId>,
        until: EventId,
        limit: usize,
    ) -> Result<(EventId, Vec<StoredEntry>), EventStoreError>;

    /// The newest `count` entries, oldest first.
    fn tail(&self, region: &str, count: usize) -> Result<Vec<StoredEntry>, EventStoreError>;

    /// Removes the entries recorded before `cutoff_ms` and all but the newest `keep`, and
    /// everything older than those (so the history stays complete above its floor); returns
    /// the new floor when it moved.
    fn sweep(
        &self,
        region: &str,
        cutoff_ms: i64,
        keep: usize,
    ) -> Result<Option<EventId>, EventStoreError>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS progress(
    region TEXT PRIMARY KEY,
    covered INTEGER NOT NULL,
    floor_revision INTEGER NOT NULL,
    floor_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    region TEXT NOT NULL,
    revision INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    recorded INTEGER NOT NULL,
    cluster TEXT,
    service TEXT,
    frame TEXT NOT NULL,
    UNIQUE(region, revision, idx));
CREATE INDEX IF NOT EXISTS events_by_age ON events(region, recorded);
";

const COLUMNS: &str = "revision, idx, recorded, cluster, service, frame";

/// The SQLite event store.
pub struct SqliteEventStore {
    writer: Mutex<Connection>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path) -> Result<Connection, EventStoreError> {
    let connection = Connection::open(path)?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
    )?;
    Ok(connection)
}

fn entry_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    let cluster: Option<String> = row.get(3)?;
    let service: Option<String> = row.get(4)?;
    Ok(StoredEntry {
        id: EventId {
            revision: row.get(0)?,
            index: row.get(1)?,
        },
        recorded_ms: row.get(2)?,
        about: cluster.map(|cluster| (cluster, service)),
        frame: row.get(5)?,
    })
}

fn progress_of(connection: &Connection, region: &str) -> Result<Option<Progress>, EventStoreError> {
    Ok(connection
        .query_row(
            "SELECT covered, floor_revision, floor_index FROM progress WHERE region = ?1",
            params![region],
            |row| {
                Ok(Progress {
                    covered: row.get(0)?,
                    floor: EventId {
                        revision: row.get(1)?,
                        index: row.get(2)?,
                    },
                })
            },
        )
        .optional()?)
}

impl SqliteEventStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Arc<SqliteEventStore>, EventStoreError> {
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA)?;
        Ok(Arc::new(SqliteEventStore {
            writer: Mutex::new(writer),
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
        }))
    }

    /// Runs `operation` in one transaction of the writer, committed (fsync'd) before it
    /// returns; rolled back when it fails.
    fn write<R>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, EventStoreError>,
    ) -> Result<R, EventStoreError> {
        let connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let transaction = connection.unchecked_transaction()?;
        let result = operation(&transaction)?;
        transaction.commit()?;
        Ok(result)
    }

    /// Runs `operation` on a reader connection, in one read transaction (one snapshot).
    fn read_snapshot<R>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, EventStoreError>,
    ) -> Result<R, EventStoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path)?,
        };
        let result = connection
            .unchecked_transaction()
            .map_err(EventStoreError::from)
            .and_then(|snapshot| {
                let result = operation(&snapshot)?;
                snapshot.finish()?;
                Ok(result)
            });
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
        result
    }
}

impl EventStore for SqliteEventStore {
    fn progress(&self, region: &str) -> Result<Option<Progress>, EventStoreError> {
        self.read_snapshot(|connection| progress_of(connection, region))
    }

    fn reset(&self, region: &str, revision: i64) -> Result<(), EventStoreError> {
        let floor = EventId::after_revision(revision);
        self.write(|connection| {
            connection.execute("DELETE FROM events WHERE region = ?1", params![region])?;
            connection.execute(
                "INSERT INTO progress(region, covered, floor_revision, floor_index)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(region) DO UPDATE SET covered = excluded.covered,
                     floor_revision = excluded.floor_revision, floor_index = excluded.floor_index",
                params![region, revision, floor.revision, floor.index],
            )?;
            Ok(())
        })
    }

    fn append(
        &self,
        region: &str,
        entries: &[StoredEntry],
        covered: i64,
    ) -> Result<(), EventStoreError> {
        self.write(|connection| {
            let mut insert = connection.prepare_cached(
                "INSERT INTO events(region, revision, idx, recorded, cluster, service, frame)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for entry in entries {
                let (cluster, service) = match &entry.about {
                    Some((cluster, service)) => (Some(cluster), service.as_ref()),
                    None => (None, None),
                };
                insert.execute(params![
                    region,
                    entry.id.revision,
                    entry.id.index,
                    entry.recorded_ms,
                    cluster,
                    service,
                    entry.frame
                ])?;
            }
            let updated = connection.execute(
                "UPDATE progress SET covered = max(covered, ?2) WHERE region = ?1",
                params![region, covered],
            )?;
            if updated == 0 {
                return Err(EventStoreError(format!(
                    "region {region}'s history was never begun"
                )));
            }
            Ok(())
        })
    }

    fn read(
        &self,
        region: &str,
        after: Option<EventId>,
        until: EventId,
        limit: usize,
    ) -> Result<(EventId, Vec<StoredEntry>), EventStoreError> {
        self.read_snapshot(|connection| {
            let Some(progress) = progress_of(connection, region)? else {
                return Ok((EventId::after_revision(0), Vec::new()));
            };
            let from = after.map_or(progress.floor, |after| after.max(progress.floor));
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events
                 WHERE region = ?1 AND (revision, idx) > (?2, ?3) AND (revision, idx) <= (?4, ?5)
                 ORDER BY revision, idx LIMIT ?6"
            ))?;
            let entries = statement
                .query_map(
                    params![
                        region,
                        from.revision,
                        from.index,
                        until.revision,
                        until.index,
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    entry_of,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((progress.floor, entries))
        })
    }

    fn tail(&self, region: &str, count: usize) -> Result<Vec<StoredEntry>, EventStoreError> {
        self.read_snapshot(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE region = ?1
                 ORDER BY revision DESC, idx DESC LIMIT ?2"
            ))?;
            let mut entries = statement
                .query_map(
                    params![region, i64::try_from(count).unwrap_or(i64::MAX)],
                    entry_of,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            entries.reverse();
            Ok(entries)
        })
    }

    fn sweep(
        &self,
        region: &str,
        cutoff_ms: i64,
        keep: usize,
    ) -> Result<Option<EventId>, EventStoreError> {
        self.write(|connection| {
            let id = |row: &rusqlite::Row<'_>| {
                Ok(EventId {
                    revision: row.get(0)?,
                    index: row.get(1)?,
                })
            };
            let too_old: Option<EventId> = connection
                .query_row(
                    "SELECT revision, idx FROM events WHERE region = ?1 AND recorded < ?2
                     ORDER BY revision DESC, idx DESC LIMIT 1",
                    params![region, cutoff_ms],
                    id,
                )
                .optional()?;
            let too_many: Option<EventId> = connection
                .query_row(
                    "SELECT revision, idx FROM events WHERE region = ?1
                     ORDER BY revision DESC, idx DESC LIMIT 1 OFFSET ?2",
                    params![region, i64::try_from(keep).unwrap_or(i64::MAX)],
                    id,
                )
                .optional()?;
            let Some(cut) = too_old.max(too_many) else {
                return Ok(None);
            };
            connection.execute(
                "DELETE FROM events WHERE region = ?1 AND (revision, idx) <= (?2, ?3)",
                params![region, cut.revision, cut.index],
            )?;
            connection.execute(
                "UPDATE progress SET floor_revision = ?2, floor_index = ?3
                 WHERE region = ?1 AND (floor_revision, floor_index) < (?2, ?3)",
                params![region, cut.revision, cut.index],
            )?;
            Ok(Some(cut))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(revision: i64, index: u32) -> EventId {
        EventId { revision, index }
    }

    fn entry(revision: i64, index: u32, recorded_ms: i64) -> StoredEntry {
        StoredEntry {
            id: id(revision, index),
            recorded_ms,
            about: Some(("web".into(), (index == 0).then(|| "api".to_string()))),
            frame: format!("id: {revision}-{index}\n\n"),
        }
    }

    fn ids(entries: &[StoredEntry]) -> Vec<String> {
        entries.iter().map(|e| e.id.to_string()).collect()
    }

    #[test]
    fn appends_read_after_an_id_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteEventStore::open(&path).unwrap();
        assert_eq!(store.progress("us-east-1").unwrap(), None);
        // Nothing is appended to a history that was never begun.
        assert!(store.append("us-east-1", &[entry(5, 0, 1)], 5).is_err());
        store.reset("us-east-1", 4).unwrap();
        store.reset("eu-west-1", 4).unwrap();
        store
            .append("us-east-1", &[entry(5, 0, 1), entry(5, 1, 1)], 5)
            .unwrap();
        // A change set without events still moves what is covered.
        store.append("us-east-1", &[], 6).unwrap();
        store.append("us-east-1", &[entry(7, 0, 2)], 7).unwrap();
        store.append("eu-west-1", &[entry(6, 0, 2)], 6).unwrap();
        // A gap keeps no cluster.
        let gap = StoredEntry {
            about: None,
            ..entry(8, 0, 3)
        };
        store
            .append("us-east-1", std::slice::from_ref(&gap), 8)
            .unwrap();
        drop(store);

        let store = SqliteEventStore::open(&path).unwrap();
        assert_eq!(
            store.progress("us-east-1").unwrap(),
            Some(Progress {
                covered: 8,
                floor: EventId::after_revision(4)
            })
        );
        let (floor, all) = store.read("us-east-1", None, id(99, 0), 10).unwrap();
        assert_eq!(floor, EventId::after_revision(4));
        assert_eq!(ids(&all), ["5-0", "5-1", "7-0", "8-0"]);
        assert_eq!(all[0], entry(5, 0, 1));
        assert_eq!(all[3], gap);
        let (_, after) = store
            .read("us-east-1", Some(id(5, 0)), id(99, 0), 10)
            .unwrap();
        assert_eq!(ids(&after), ["5-1", "7-0", "8-0"]);
        // At most `until` (what has been announced), at most `limit`.
        let (_, capped) = store
            .read("us-east-1", Some(id(5, 0)), id(7, 0), 10)
            .unwrap();
        assert_eq!(ids(&capped), ["5-1", "7-0"]);
        let (_, one) = store.read("us-east-1", None, id(99, 0), 1).unwrap();
        assert_eq!(ids(&one), ["5-0"]);
        assert_eq!(ids(&store.tail("us-east-1", 2).unwrap()), ["7-0", "8-0"]);
        // Regions are apart.
        assert_eq!(ids(&store.tail("eu-west-1", 10).unwrap()), ["6-0"]);
        // Beginning again forgets the region's history.
        store.reset("us-east-1", 20).unwrap();
        assert!(store.tail("us-east-1", 10).unwrap().is_empty());
        assert_eq!(store.progress("us-east-1").unwrap().unwrap().covered, 20);
        assert_eq!(ids(&store.tail("eu-west-1", 10).unwrap()), ["6-0"]);
    }

    #[test]
    fn sweeps_by_age_and_count_and_raise_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(&dir.path().join("events.db")).unwrap();
        store.reset("r", 0).unwrap();
        let entries: Vec<StoredEntry> = (1..=6).map(|r| entry(r, 0, r * 1_000)).collect();
        store.append("r", &entries, 6).unwrap();
        // Nothing is old enough, and there are fewer than 10: nothing moves.
        assert_eq!(store.sweep("r", 0, 10).unwrap(), None);
        // Recorded before 2.5 s: entries 1 and 2.
        assert_eq!(store.sweep("r", 2_500, 10).unwrap(), Some(id(2, 0)));
        let (floor, kept) = store.read("r", None, id(99, 0), 10).unwrap();
        assert_eq!(floor, id(2, 0));
        assert_eq!(ids(&kept), ["3-0", "4-0", "5-0", "6-0"]);
        // Reading after an id below the floor starts at the floor.
        let (_, from_floor) = store.read("r", Some(id(1, 0)), id(99, 0), 10).unwrap();
        assert_eq!(ids(&from_floor), ["3-0", "4-0", "5-0", "6-0"]);
        // Only the newest 2 are kept.
        assert_eq!(store.sweep("r", 0, 2).unwrap(), Some(id(4, 0)));
        assert_eq!(ids(&store.tail("r", 10).unwrap()), ["5-0", "6-0"]);
        assert_eq!(store.progress("r").unwrap().unwrap().floor, id(4, 0));
        // An entry recorded out of time order (a clock step back) still cuts everything
        // before it, so the history stays complete above its floor.
        store
            .append("r", &[entry(7, 0, 100), entry(8, 0, 99_000)], 8)
            .unwrap();
        assert_eq!(store.sweep("r", 500, 10).unwrap(), Some(id(7, 0)));
        assert_eq!(ids(&store.tail("r", 10).unwrap()), ["8-0"]);
    }
}
