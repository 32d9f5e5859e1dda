//! [`Logs`]: CloudWatch Logs in-process, without the wire (the service's own handlers, live
//! tails and tests; the agent's awslogs driver speaks PutLogEvents over HTTP). The same rules
//! as the API apply (names, batch
//! verdicts, retention), and the same store is written, so what is appended here is what
//! GetLogEvents and FilterLogEvents show.
//!
//! ```ignore
//! let logs = Logs::open(&data_dir.join("logs.db"), LogsOptions::default())?;
//! if !logs.group_exists("us-east-1", "/ecs/web").await? {
//!     logs.create_group("us-east-1", "/ecs/web", now_ms).await?; // awslogs-create-group
//! }
//! logs.append("us-east-1", "/ecs/web", "ecs/web/TASK_ID", lines, now_ms).await?;
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_logs::{BatchVerdict, LogsError, judge_batch};
use tokio::sync::broadcast;

use crate::sqlite::SqliteLogStore;
use crate::store::LogStore;

/// How the log store is bounded and swept.
#[derive(Debug, Clone, Copy)]
pub struct LogsOptions {
    /// The most message bytes the store keeps; past it the oldest events go first.
    pub max_bytes: u64,
    /// How often retention and the size bound are enforced (also right after a retention
    /// policy is set).
    pub sweep_every: Duration,
}

impl Default for LogsOptions {
    fn default() -> Self {
        LogsOptions {
            max_bytes: 10 * 1024 * 1024 * 1024,
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// One log event to append: when it happened (milliseconds since the epoch) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp: i64,
    pub message: String,
}

/// CloudWatch Logs over its store, for the API and for other crates.
#[derive(Clone)]
pub struct Logs {
    store: Arc<dyn LogStore>,
    /// Asks the sweeper for a pass now (after a retention change); dropping every `Logs`
    /// stops it.
    sweep_now: Sender<()>,
    /// Every batch appended, once durable, for live tails; nothing is kept for nobody.
    appended: broadcast::Sender<Arc<Appended>>,
}

/// Events just appended to one stream (what a live tail sees).
#[derive(Debug)]
pub struct Appended {
    pub region: String,
    pub group: String,
    pub stream: String,
    /// `(timestamp, message)`, in the stream's order.
    pub events: Vec<(i64, String)>,
    pub ingestion_time: i64,
}

/// Batches a live tail that falls behind may miss before it counts as sampled.
const APPENDED_BACKLOG: usize = 4096;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Runs a blocking store call off the async runtime.
pub(crate) async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, LogsError> + Send + 'static,
) -> Result<R, LogsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| LogsError::ServiceUnavailable(format!("The log store task failed: {err}")))?
}

impl Logs {
    /// Opens the embedded store at `path` (`DATA_DIR/logs.db`) and starts its sweeper.
    pub fn open(path: &Path, options: LogsOptions) -> Result<Logs, LogsError> {
        let store: Arc<dyn LogStore> = SqliteLogStore::open(path)?;
        Ok(Logs::over(store, options))
    }

    /// `Logs` over any store, with a sweeper thread enforcing retention and the size bound.
    pub fn over(store: Arc<dyn LogStore>, options: LogsOptions) -> Logs {
        let (sweep_now, wakeups) = channel::<()>();
        let swept = store.clone();
        let spawned = std::thread::Builder::new()
            .name("log-store-sweeper".into())
            .spawn(move || {
                loop {
                    match wakeups.recv_timeout(options.sweep_every) {
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    match swept.sweep(now_ms(), options.max_bytes) {
                        Ok(report) if report != Default::default() => {
                            tracing::info!(?report, "log store swept")
                        }
                        Ok(_) => {}
                        Err(err) => tracing::warn!(%err, "log store sweep failed"),
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "the log store's sweeper did not start: retention is not enforced");
        }
        let (appended, _) = broadcast::channel(APPENDED_BACKLOG);
        Logs {
            store,
            sweep_now,
            appended,
        }
    }

    /// Every batch appended from now on, once it is durable.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Appended>> {
        self.appended.subscribe()
    }

    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Enforce retention and the size bound soon, without waiting for the next period.
    pub fn request_sweep(&self) {
        let _ = self.sweep_now.send(());
    }

    pub async fn group_exists(&self, region: &str, group: &str) -> Result<bool, LogsError> {
        let (store, region, group) = (self.store.clone(), region.to_owned(), group.to_owned());
        blocking(move || Ok(store.group(&region, &group)?.is_some())).await
    }

    /// Creates a log group (CreateLogGroup's rules); ResourceAlreadyExistsException when it
    /// exists.
    pub async fn create_group(&self, region: &str, group: &str, now: i64) -> Result<(), LogsError> {
        berth_logs::check_group_name(group)?;
        let (store, region, group) = (self.store.clone(), region.to_owned(), group.to_owned());
        blocking(move || store.create_group(&region, &group, now, Default::default())).await
    }

    /// Appends events (in chronological order, at most 10,000 and 1 MiB: PutLogEvents' rules)
    /// to a stream of an existing group, creating the stream when missing. Events PutLogEvents
    /// would reject (too old, expired, too new) are left out and reported in the verdict;
    /// returns once the rest are durable.
    pub async fn append(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
        now: i64,
    ) -> Result<BatchVerdict, LogsError> {
        berth_logs::check_stream_name(stream)?;
        self.put(region, group, stream, events, now, true).await
    }

    /// PutLogEvents itself: the batch judged against the group's retention, the accepted
    /// events appended; `create_stream` says whether a missing stream is made.
    pub(crate) async fn put(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
        now: i64,
        create_stream: bool,
    ) -> Result<BatchVerdict, LogsError> {
        let store = self.store.clone();
        let appended = self.appended.clone();
        let (region, group, stream) = (region.to_owned(), group.to_owned(), stream.to_owned());
        blocking(move || {
            let info = store
                .group(&region, &group)?
                .ok_or_else(LogsError::group_not_found)?;
            let judged: Vec<(i64, &str)> = events
                .iter()
                .map(|e| (e.timestamp, e.message.as_str()))
                .collect();
            let verdict = judge_batch(&judged, now, info.retention_days)?;
            let accepted: Vec<(i64, String)> = events
                .into_iter()
                .skip(verdict.accepted.start)
                .take(verdict.accepted.len())
                .map(|e| (e.timestamp, e.message))
                .collect();
            // Copied only while someone tails.
            let tailed = (appended.receiver_count() > 0).then(|| accepted.clone());
            store.append(&region, &group, &stream, accepted, now, create_stream)?;
            if let Some(events) = tailed.filter(|events| !events.is_empty()) {
                let _ = appended.send(Arc::new(Appended {
                    region,
                    group,
                    stream,
                    events,
                    ingestion_time: now,
                }));
            }
            Ok(verdict)
        })
        .await
    }
}
