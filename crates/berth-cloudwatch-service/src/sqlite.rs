//! The embedded metric store: one SQLite file (`DATA_DIR/metrics.db`, WAL,
//! `synchronous=FULL`) apart from the state store, written only by a thread of its own.
//! Writers queue their work and wait; the thread runs everything queued in one transaction
//! (each piece in a savepoint, so one failure spoils nothing else) and answers after its
//! commit's fsync, so concurrent PutMetricData calls share a flush. Readers have connections
//! of their own and read the last commit without waiting for the writer.
//!
//! Datapoints are rows `(metric_id, ts, resolution, statistic set, values)` indexed by
//! `(metric_id, ts)`, so a query is one index range; metrics are rows of their own, with the
//! time data was last put (ListMetrics' RecentlyActive). Alarms and their history live here
//! too: the evaluator reads datapoints and writes state changes, one file and one writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use berth_cloudwatch::retention;
use berth_cloudwatch::stats::Datapoint;
use berth_cloudwatch::{CloudWatchError, Dimension, MetricId};
use rusqlite::{Connection, params};

use crate::store::{HistoryEntry, MetricFilter, MetricStore, SweepReport};

/// Alarm history is kept 30 days.
pub const HISTORY_RETENTION_MS: i64 = 30 * 86_400_000;
const GROUP_COMMIT_MAX: usize = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metrics(
    id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    last_put INTEGER NOT NULL,
    UNIQUE(region, namespace, name, dimensions));
CREATE TABLE IF NOT EXISTS points(
    metric_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    resolution INTEGER NOT NULL,
    sample_count REAL NOT NULL,
    sum REAL NOT NULL,
    minimum REAL NOT NULL,
    maximum REAL NOT NULL,
    vals TEXT NOT NULL,
    unit TEXT);
CREATE INDEX IF NOT EXISTS points_by_metric ON points(metric_id, ts);
CREATE INDEX IF NOT EXISTS points_by_age ON points(resolution, ts);
CREATE TABLE IF NOT EXISTS alarms(
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY(region, name));
CREATE TABLE IF NOT EXISTS history(
    id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    alarm TEXT NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_alarm ON history(region, alarm, ts);
CREATE INDEX IF NOT EXISTS history_by_time ON history(region, ts);
";

type Answer = Box<dyn FnOnce(Result<(), CloudWatchError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Answer + Send>;

pub struct SqliteMetricStore {
    jobs: SyncSender<Job>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// The most datapoints kept; past it a sweep removes the oldest.
    max_points: u64,
}

fn storage(err: rusqlite::Error) -> CloudWatchError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && failure.code == rusqlite::ErrorCode::DiskFull
    {
        return CloudWatchError::InternalServiceError(
            "The metric store's disk is full; the data was not stored.".into(),
        );
    }
    CloudWatchError::InternalServiceError(format!("The metric store failed: {err}"))
}

fn open_connection(path: &Path) -> Result<Connection, CloudWatchError> {
    let connection = Connection::open(path).map_err(storage)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(storage)?;
    Ok(connection)
}

fn dimensions_text(dimensions: &[Dimension]) -> String {
    let pairs: Vec<[&str; 2]> = dimensions
        .iter()
        .map(|d| [d.name.as_str(), d.value.as_str()])
        .collect();
    serde_json::to_string(&pairs).expect("strings encode")
}

fn dimensions_of(text: &str) -> Vec<Dimension> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text).unwrap_or_default();
    pairs
        .into_iter()
        .map(|(name, value)| Dimension { name, value })
        .collect()
}

fn values_text(values: &[(f64, f64)]) -> String {
    if values.is_empty() {
        String::new()
    } else {
        serde_json::to_string(values).expect("numbers encode")
    }
}

fn values_of(text: &str) -> Vec<(f64, f64)> {
    if text.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(text).unwrap_or_default()
    }
}

fn write_loop(connection: Connection, queue: Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(err) = connection.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs unrun answers each caller with an error.
            drop(batch);
            tracing::error!(%err, "metric store: cannot begin a transaction");
            continue;
        }
        let answers: Vec<Answer> = batch.into_iter().map(|job| job(&connection)).collect();
        let committed = connection.execute_batch("COMMIT").map_err(storage);
        if committed.is_err() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(committed.clone());
        }
    }
}

impl SqliteMetricStore {
    /// Opens (or creates) the store at `path` and starts its writer thread.
    pub fn open(path: &Path, max_points: u64) -> Result<Arc<SqliteMetricStore>, CloudWatchError> {
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA).map_err(storage)?;
        let (jobs, queue) = sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("metric-store-writer".into())
            .spawn(move || write_loop(writer, queue))
            .map_err(|err| {
                CloudWatchError::InternalServiceError(format!("starting the metric store: {err}"))
            })?;
        Ok(Arc::new(SqliteMetricStore {
            jobs,
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            max_points,
        }))
    }

    /// Runs `operation` in the writer's next transaction (in a savepoint of its own) and
    /// answers once that transaction is durable.
    fn write<R: Send + 'static>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, CloudWatchError> + Send + 'static,
    ) -> Result<R, CloudWatchError> {
        let (answer, answered) = sync_channel(1);
        let job: Job = Box::new(move |connection| {
            let result = (|| {
                connection.execute_batch("SAVEPOINT job").map_err(storage)?;
                match operation(connection) {
                    Ok(value) => {
                        connection.execute_batch("RELEASE job").map_err(storage)?;
                        Ok(value)
                    }
                    Err(err) => {
                        let _ = connection.execute_batch("ROLLBACK TO job; RELEASE job");
                        Err(err)
                    }
                }
            })();
            Box::new(move |committed: Result<(), CloudWatchError>| {
                let _ = answer.send(result.and_then(|value| committed.map(|()| value)));
            })
        });
        let stopped =
            || CloudWatchError::InternalServiceError("The metric store has stopped.".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }

    fn read<R>(
        &self,
        operation: impl FnOnce(&Connection) -> Result<R, CloudWatchError>,
    ) -> Result<R, CloudWatchError> {
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

fn metric_id(
    connection: &Connection,
    region: &str,
    metric: &MetricId,
) -> Result<Option<i64>, CloudWatchError> {
    let mut statement = connection
        .prepare_cached("SELECT id FROM metrics WHERE region = ?1 AND namespace = ?2 AND name = ?3 AND dimensions = ?4")
        .map_err(storage)?;
    let mut rows = statement
        .query(params![
            region,
            metric.namespace,
            metric.name,
            dimensions_text(&metric.dimensions)
        ])
        .map_err(storage)?;
    Ok(match rows.next().map_err(storage)? {
        Some(row) => Some(row.get(0).map_err(storage)?),
        None => None,
    })
}

fn insert_point(
    connection: &Connection,
    id: i64,
    point: &Datapoint,
) -> Result<(), CloudWatchError> {
    connection
        .prepare_cached("INSERT INTO points(metric_id, ts, resolution, sample_count, sum, minimum, maximum, vals, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        .map_err(storage)?
        .execute(params![
            id,
            point.timestamp_ms,
            point.resolution,
            point.sample_count,
            point.sum,
            point.minimum,
            point.maximum,
            values_text(&point.values),
            point.unit
        ])
        .map_err(storage)?;
    Ok(())
}

fn point_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Datapoint> {
    let values: String = row.get(7)?;
    Ok(Datapoint {
        timestamp_ms: row.get(1)?,
        resolution: row.get(2)?,
        sample_count: row.get(3)?,
        sum: row.get(4)?,
        minimum: row.get(5)?,
        maximum: row.get(6)?,
        values: values_of(&values),
        unit: row.get(8)?,
    })
}

/// Folds the datapoints of resolution `fold.from` older than `fold.before_ms` into one
/// datapoint of resolution `fold.to` per metric and period; returns how many were folded.
fn fold_tier(connection: &Connection, fold: retention::Fold) -> Result<usize, CloudWatchError> {
    let aged: Vec<(i64, Datapoint)> = {
        let mut statement = connection
            .prepare_cached("SELECT metric_id, ts, resolution, sample_count, sum, minimum, maximum, vals, unit FROM points WHERE resolution = ?1 AND ts < ?2")
            .map_err(storage)?;
        statement
            .query_map(params![fold.from, fold.before_ms], |row| {
                Ok((row.get(0)?, point_of(row)?))
            })
            .map_err(storage)?
            .collect::<Result<_, _>>()
            .map_err(storage)?
    };
    if aged.is_empty() {
        return Ok(0);
    }
    let folded = aged.len();
    let mut periods: BTreeMap<(i64, i64), Vec<Datapoint>> = BTreeMap::new();
    for (id, point) in aged {
        let period = retention::period_of(point.timestamp_ms, fold.to);
        periods.entry((id, period)).or_default().push(point);
    }
    connection
        .prepare_cached("DELETE FROM points WHERE resolution = ?1 AND ts < ?2")
        .map_err(storage)?
        .execute(params![fold.from, fold.before_ms])
        .map_err(storage)?;
    for ((id, period), points) in periods {
        if let Some(point) = retention::fold(&points, period, fold.to) {
            insert_point(connection, id, &point)?;
        }
    }
    Ok(folded)
}

impl MetricStore for SqliteMetricStore {
    fn append(
        &self,
        region: &str,
        points: Vec<(MetricId, Datapoint)>,
        now_ms: i64,
    ) -> Result<(), CloudWatchError> {
        let region = region.to_owned();
        self.write(move |connection| {
            for (metric, point) in &points {
                connection
                    .prepare_cached(
                        "INSERT INTO metrics(region, namespace, name, dimensions, last_put) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(region, namespace, name, dimensions) DO UPDATE SET last_put = max(last_put, excluded.last_put)",
                    )
                    .map_err(storage)?
                    .execute(params![region, metric.namespace, metric.name, dimensions_text(&metric.dimensions), now_ms])
                    .map_err(storage)?;
                let id = metric_id(connection, &region, metric)?.expect("the metric was just written");
                insert_point(connection, id, point)?;
            }
            Ok(())
        })
    }

    fn datapoints(
        &self,
        region: &str,
        metric: &MetricId,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Datapoint>, CloudWatchError> {
        self.read(|connection| {
            let Some(id) = metric_id(connection, region, metric)? else {
                return Ok(Vec::new());
            };
            let mut statement = connection
                .prepare_cached("SELECT metric_id, ts, resolution, sample_count, sum, minimum, maximum, vals, unit FROM points WHERE metric_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts")
                .map_err(storage)?;
            let rows = statement.query_map(params![id, start_ms, end_ms], point_of).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn list_metrics(
        &self,
        region: &str,
        filter: &MetricFilter,
        after: Option<&MetricId>,
        limit: usize,
    ) -> Result<Vec<MetricId>, CloudWatchError> {
        self.read(|connection| {
            let mut cursor = after.map(|m| (m.namespace.clone(), m.name.clone(), dimensions_text(&m.dimensions)));
            let mut found = Vec::new();
            let mut statement = connection
                .prepare_cached(
                    "SELECT namespace, name, dimensions, last_put FROM metrics
                     WHERE region = ?1 AND (?2 IS NULL OR namespace = ?2) AND (?3 IS NULL OR name = ?3)
                       AND (?4 IS NULL OR (namespace, name, dimensions) > (?4, ?5, ?6))
                     ORDER BY namespace, name, dimensions LIMIT 1000",
                )
                .map_err(storage)?;
            loop {
                let (n, m, d) = match &cursor {
                    Some((n, m, d)) => (Some(n.clone()), Some(m.clone()), Some(d.clone())),
                    None => (None, None, None),
                };
                let rows: Vec<(String, String, String, i64)> = statement
                    .query_map(params![region, filter.namespace, filter.name, n, m, d], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .map_err(storage)?
                    .collect::<Result<_, _>>()
                    .map_err(storage)?;
                let exhausted = rows.len() < 1000;
                for (namespace, name, dimensions, last_put) in rows {
                    cursor = Some((namespace.clone(), name.clone(), dimensions.clone()));
                    let metric = MetricId { namespace, name, dimensions: dimensions_of(&dimensions) };
                    if filter.matches(&metric) && filter.active_since_ms.is_none_or(|since| last_put >= since) {
                        found.push(metric);
                        if found.len() == limit {
                            return Ok(found);
                        }
                    }
                }
                if exhausted {
                    return Ok(found);
                }
            }
        })
    }

    fn alarms(&self, region: &str) -> Result<Vec<(String, String)>, CloudWatchError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT name, body FROM alarms WHERE region = ?1 ORDER BY name")
                .map_err(storage)?;
            let rows = statement
                .query_map(params![region], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn alarm_regions(&self) -> Result<Vec<String>, CloudWatchError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT DISTINCT region FROM alarms")
                .map_err(storage)?;
            let rows = statement.query_map([], |row| row.get(0)).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn put_alarm(
        &self,
        region: &str,
        name: &str,
        body: String,
        history: Vec<HistoryEntry>,
    ) -> Result<(), CloudWatchError> {
        let (region, name) = (region.to_owned(), name.to_owned());
        self.write(move |connection| {
            connection
                .prepare_cached("INSERT INTO alarms(region, name, body) VALUES (?1, ?2, ?3) ON CONFLICT(region, name) DO UPDATE SET body = excluded.body")
                .map_err(storage)?
                .execute(params![region, name, body])
                .map_err(storage)?;
            for entry in history {
                connection
                    .prepare_cached("INSERT INTO history(region, alarm, ts, kind, summary, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .map_err(storage)?
                    .execute(params![region, entry.alarm_name, entry.timestamp_ms, entry.kind, entry.summary, entry.data])
                    .map_err(storage)?;
            }
            Ok(())
        })
    }

    fn delete_alarms(&self, region: &str, names: Vec<String>) -> Result<(), CloudWatchError> {
        let region = region.to_owned();
        self.write(move |connection| {
            for name in names {
                connection
                    .prepare_cached("DELETE FROM alarms WHERE region = ?1 AND name = ?2")
                    .map_err(storage)?
                    .execute(params![region, name])
                    .map_err(storage)?;
            }
            Ok(())
        })
    }

    fn history(
        &self,
        region: &str,
        alarm: Option<&str>,
        kind: Option<&str>,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<HistoryEntry>, CloudWatchError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT alarm, ts, kind, summary, data FROM history
                     WHERE region = ?1 AND (?2 IS NULL OR alarm = ?2) AND (?3 IS NULL OR kind = ?3) AND ts >= ?4 AND ts < ?5
                     ORDER BY ts DESC, id DESC",
                )
                .map_err(storage)?;
            let rows = statement
                .query_map(params![region, alarm, kind, start_ms, end_ms], |row| {
                    Ok(HistoryEntry { alarm_name: row.get(0)?, timestamp_ms: row.get(1)?, kind: row.get(2)?, summary: row.get(3)?, data: row.get(4)? })
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
    }

    fn sweep(&self, now_ms: i64) -> Result<SweepReport, CloudWatchError> {
        let max_points = self.max_points;
        self.write(move |connection| {
            let mut report = SweepReport::default();
            // CloudWatch's tiers (`berth_cloudwatch::retention`): each tier's datapoints that
            // aged out fold into one datapoint of the next tier per metric and period, finest
            // first; the last tier's expire.
            for fold in retention::folds(now_ms) {
                report.rolled_up += fold_tier(connection, fold)?;
            }
            let last = retention::TIERS[retention::TIERS.len() - 1].resolution;
            report.expired += connection
                .prepare_cached("DELETE FROM points WHERE resolution = ?1 AND ts < ?2")
                .map_err(storage)?
                .execute(params![last, retention::expires_before(now_ms)])
                .map_err(storage)?;
            report.expired += connection
                .prepare_cached("DELETE FROM history WHERE ts < ?1")
                .map_err(storage)?
                .execute(params![now_ms - HISTORY_RETENTION_MS])
                .map_err(storage)?;
            let count: i64 = connection.query_row("SELECT count(*) FROM points", [], |row| row.get(0)).map_err(storage)?;
            let excess = count.saturating_sub(i64::try_from(max_points).unwrap_or(i64::MAX));
            if excess > 0 {
                report.evicted = connection
                    .prepare_cached("DELETE FROM points WHERE rowid IN (SELECT rowid FROM points ORDER BY ts LIMIT ?1)")
                    .map_err(storage)?
                    .execute(params![excess])
                    .map_err(storage)?;
            }
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    fn metric(value: &str) -> MetricId {
        MetricId::new(
            "App",
            "Latency",
            vec![Dimension {
                name: "Service".into(),
                value: value.into(),
            }],
        )
    }

    fn point(ts: i64, resolution: u32, value: f64) -> Datapoint {
        Datapoint::of_values(ts, resolution, vec![(value, 1.0)], None)
    }

    #[test]
    fn appends_queries_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetricStore::open(&dir.path().join("m.db"), u64::MAX).unwrap();
        store
            .append(
                "us-east-1",
                vec![
                    (metric("web"), point(T, 60, 1.0)),
                    (metric("web"), point(T + 60_000, 60, 2.0)),
                ],
                T,
            )
            .unwrap();
        store
            .append("us-east-1", vec![(metric("api"), point(T, 60, 5.0))], T + 1)
            .unwrap();
        store
            .append("eu-west-1", vec![(metric("web"), point(T, 60, 9.0))], T)
            .unwrap();
        let points = store
            .datapoints("us-east-1", &metric("web"), T, T + 60_000)
            .unwrap();
        assert_eq!(points, vec![point(T, 60, 1.0)]);
        let all = store
            .list_metrics("us-east-1", &MetricFilter::default(), None, 10)
            .unwrap();
        assert_eq!(all, vec![metric("api"), metric("web")]);
        let after = store
            .list_metrics(
                "us-east-1",
                &MetricFilter::default(),
                Some(&metric("api")),
                10,
            )
            .unwrap();
        assert_eq!(after, vec![metric("web")]);
        let web = MetricFilter {
            dimensions: vec![("Service".into(), Some("web".into()))],
            ..Default::default()
        };
        assert_eq!(
            store.list_metrics("us-east-1", &web, None, 10).unwrap(),
            vec![metric("web")]
        );
        let recent = MetricFilter {
            active_since_ms: Some(T + 1),
            ..Default::default()
        };
        assert_eq!(
            store.list_metrics("us-east-1", &recent, None, 10).unwrap(),
            vec![metric("api")]
        );
        drop(store);
        // Durable across a reopen.
        let store = SqliteMetricStore::open(&dir.path().join("m.db"), u64::MAX).unwrap();
        assert_eq!(
            store
                .datapoints("eu-west-1", &metric("web"), 0, i64::MAX)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn sweep_folds_each_tier_into_the_next_and_expires_the_last() {
        const MINUTE: i64 = 60_000;
        const DAY: i64 = 86_400_000;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetricStore::open(&dir.path().join("m.db"), u64::MAX).unwrap();
        // T is a whole hour; the sweep runs 500 days later, 30 s past it.
        let hour = T + 500 * DAY;
        let now = hour + 30_000;
        // A whole minute more than 3 hours old, five whole minutes more than 15 days old, and
        // a whole hour more than 63 days old.
        let hours_ago = hour - 3 * 3_600_000 - 2 * MINUTE;
        let days_16 = hour - 16 * DAY;
        let days_64 = hour - 64 * DAY;
        store
            .append(
                "r",
                vec![
                    (metric("web"), point(hours_ago, 1, 1.0)),
                    (metric("web"), point(hours_ago + 1_000, 1, 3.0)),
                    (metric("web"), point(now - 1_000, 1, 7.0)),
                    (metric("web"), point(days_16, 60, 9.0)),
                    (metric("web"), point(days_16 + 2 * MINUTE, 60, 11.0)),
                    // Second data of that age folds through minutes into five minutes at once.
                    (metric("web"), point(days_16 + 4 * MINUTE + 1_000, 1, 13.0)),
                    (metric("web"), point(days_64, 300, 2.0)),
                    (metric("web"), point(days_64 + 55 * MINUTE, 300, 4.0)),
                    (metric("web"), point(now - 456 * DAY, 3600, 5.0)),
                ],
                now,
            )
            .unwrap();
        let report = store.sweep(now).unwrap();
        assert_eq!(
            report,
            SweepReport {
                // 3 second points into minutes, 3 minute points into five minutes, 2 of
                // those into an hour.
                rolled_up: 8,
                expired: 1,
                evicted: 0
            }
        );
        let points = store.datapoints("r", &metric("web"), 0, i64::MAX).unwrap();
        let summary: Vec<(u32, i64, f64, f64)> = points
            .iter()
            .map(|p| (p.resolution, p.timestamp_ms, p.sample_count, p.sum))
            .collect();
        assert_eq!(
            summary,
            vec![
                (3600, days_64, 2.0, 6.0),
                (300, days_16, 3.0, 33.0),
                (60, hours_ago, 2.0, 4.0),
                (1, now - 1_000, 1.0, 7.0),
            ]
        );
        // Values stay for percentiles through every fold.
        assert_eq!(points[0].values, vec![(2.0, 1.0), (4.0, 1.0)]);
        assert_eq!(points[1].values, vec![(9.0, 1.0), (11.0, 1.0), (13.0, 1.0)]);
        assert_eq!((points[2].minimum, points[2].maximum), (1.0, 3.0));
        // A second sweep at the same time has nothing left to do.
        assert_eq!(store.sweep(now).unwrap(), SweepReport::default());
    }

    #[test]
    fn sweep_keeps_the_size_bound_by_dropping_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetricStore::open(&dir.path().join("m.db"), 2).unwrap();
        let points = (0..5)
            .map(|i| (metric("web"), point(T + i * 60_000, 60, i as f64)))
            .collect();
        store.append("r", points, T).unwrap();
        assert_eq!(store.sweep(T).unwrap().evicted, 3);
        let kept: Vec<i64> = store
            .datapoints("r", &metric("web"), 0, i64::MAX)
            .unwrap()
            .iter()
            .map(|p| p.timestamp_ms)
            .collect();
        assert_eq!(kept, vec![T + 3 * 60_000, T + 4 * 60_000]);
    }

    #[test]
    fn alarms_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetricStore::open(&dir.path().join("m.db"), u64::MAX).unwrap();
        let entry = |ts, kind: &str| HistoryEntry {
            alarm_name: "a".into(),
            timestamp_ms: ts,
            kind: kind.into(),
            summary: "s".into(),
            data: "{}".into(),
        };
        store
            .put_alarm(
                "r",
                "a",
                "{\"v\":1}".into(),
                vec![entry(T, "ConfigurationUpdate")],
            )
            .unwrap();
        store
            .put_alarm(
                "r",
                "a",
                "{\"v\":2}".into(),
                vec![entry(T + 1, "StateUpdate")],
            )
            .unwrap();
        assert_eq!(
            store.alarms("r").unwrap(),
            vec![("a".to_owned(), "{\"v\":2}".to_owned())]
        );
        assert_eq!(store.alarm_regions().unwrap(), vec!["r".to_owned()]);
        let all = store.history("r", Some("a"), None, 0, i64::MAX).unwrap();
        assert_eq!(
            all.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(),
            vec![T + 1, T]
        );
        assert_eq!(
            store
                .history("r", None, Some("StateUpdate"), 0, i64::MAX)
                .unwrap()
                .len(),
            1
        );
        store.delete_alarms("r", vec!["a".into()]).unwrap();
        assert!(store.alarms("r").unwrap().is_empty());
        assert_eq!(
            store
                .history("r", Some("a"), None, 0, i64::MAX)
                .unwrap()
                .len(),
            2
        );
    }
}
