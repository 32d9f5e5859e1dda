//! The I/O around the pure parts: create a container's stream before it starts, then follow its
//! Docker log and send its lines until it has exited and everything is shipped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};

use super::client::{CallError, LogsClient};
use super::cursor::{self, Cursor, InFlight, Positions, SentEvent, ShippingState};
use super::events::{Batch, Event, Grouper, Line, LineJoiner, MAX_BODY_BYTES};
use super::options::{AwslogsConfig, Mode, OptionError};
use crate::runtime::{ContainerRuntime, RuntimeError};

/// How often what was read is sent (Docker's driver waits 5 s; Berth aims at lines visible
/// within half a second).
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How long a multi-line event waits for more lines (Docker's default flush interval).
const MULTILINE_MAX_AGE: Duration = Duration::from_secs(5);
/// What a blocking-mode follower holds in memory before it stops reading Docker's log (which
/// then holds the rest).
const BLOCKING_BUFFER_BYTES: u64 = 4 << 20;
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How many times a stream's creation is tried before the container start fails.
const CREATE_ATTEMPTS: u32 = 5;

/// What every container's shipping shares: the client, and where cursors are kept.
pub struct Shipping {
    /// `Err` when the control plane's address cannot be shipped to; containers with awslogs
    /// then fail to start with its reason.
    pub client: Result<LogsClient, CallError>,
    /// One cursor file per container.
    pub state_dir: PathBuf,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

/// Creates the container's log stream as Docker's driver does before it starts: the stream
/// first, and when the group is missing and `awslogs-create-group` is set, the group and then
/// the stream again; either existing already is fine.
pub async fn prepare_stream(
    shipping: &Shipping,
    config: &AwslogsConfig,
    stream: &str,
) -> Result<(), OptionError> {
    let failed = |what: &str, err: &CallError| {
        OptionError::DriverInit(format!("failed to create Cloudwatch log {what}: {err}"))
    };
    let client = shipping
        .client
        .as_ref()
        .map_err(|err| failed("stream", err))?;
    let region = &config.region;
    let create_stream = || async {
        retry_transient(|| client.create_log_stream(region, &config.group, stream))
            .await
            .or_else(already_exists)
    };
    match create_stream().await {
        Ok(()) => Ok(()),
        Err(err) if config.create_group && err.code() == Some("ResourceNotFoundException") => {
            retry_transient(|| client.create_log_group(region, &config.group))
                .await
                .or_else(already_exists)
                .map_err(|err| failed("group", &err))?;
            create_stream().await.map_err(|err| failed("stream", &err))
        }
        Err(err) => Err(failed("stream", &err)),
    }
}

fn already_exists(err: CallError) -> Result<(), CallError> {
    match err.code() {
        Some("ResourceAlreadyExistsException") => Ok(()),
        _ => Err(err),
    }
}

async fn retry_transient<F, Fut>(mut call: F) -> Result<(), CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), CallError>>,
{
    let mut backoff = BACKOFF_START;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if err.is_transient() && attempt < CREATE_ATTEMPTS => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Lines read from Docker waiting to be sent, bounded in bytes. A full queue makes the reader
/// wait (Docker's json-file log holds what is not read yet), except in non-blocking mode while
/// the log destination is failing: then, as Docker's ring buffer does, what does not fit is
/// dropped and counted. (Docker's buffer fills at the pace the container writes; the reader
/// of a backlog reads far faster than any destination takes it, so a merely slow destination
/// must not drop lines here that Docker would have shipped.)
struct LineQueue {
    state: Mutex<QueueState>,
    readable: Notify,
    writable: Notify,
    capacity: u64,
    mode: Mode,
}

#[derive(Default)]
struct QueueState {
    lines: VecDeque<Line>,
    bytes: u64,
    closed: bool,
    /// Whether the last send failed for want of the destination.
    destination_failing: bool,
    dropped: u64,
}

impl LineQueue {
    fn new(config: &AwslogsConfig) -> LineQueue {
        LineQueue {
            state: Mutex::default(),
            readable: Notify::new(),
            writable: Notify::new(),
            capacity: match config.mode {
                Mode::Blocking => BLOCKING_BUFFER_BYTES,
                Mode::NonBlocking => config.max_buffer_bytes,
            },
            mode: config.mode,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn push(&self, line: Line, container: &str) {
        let size = line.text.len() as u64;
        loop {
            {
                let mut state = self.lock();
                if state.lines.is_empty() || state.bytes + size <= self.capacity {
                    state.bytes += size;
                    state.lines.push_back(line);
                    drop(state);
                    self.readable.notify_one();
                    return;
                }
                if self.mode == Mode::NonBlocking && state.destination_failing {
                    state.dropped += 1;
                    // At powers of two, then every 10,000: a long outage does not log every line.
                    if state.dropped.is_power_of_two() || state.dropped.is_multiple_of(10_000) {
                        tracing::warn!(
                            container,
                            dropped = state.dropped,
                            "awslogs non-blocking buffer full: lines dropped"
                        );
                    }
                    return;
                }
            }
            self.writable.notified().await;
        }
    }

    /// Records whether sends reach the destination; a reader waiting for room looks again.
    fn destination_failing(&self, failing: bool) {
        let changed = {
            let mut state = self.lock();
            std::mem::replace(&mut state.destination_failing, failing) != failing
        };
        if changed {
            self.writable.notify_one();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_one();
    }

    /// The next line; `None` once the log ended and every line was taken.
    async fn pop(&self) -> Option<Line> {
        loop {
            {
                let mut state = self.lock();
                if let Some(line) = state.lines.pop_front() {
                    state.bytes -= line.text.len() as u64;
                    drop(state);
                    self.writable.notify_one();
                    return Some(line);
                }
                if state.closed {
                    return None;
                }
            }
            self.readable.notified().await;
        }
    }
}

/// What the task actor tells a container's shipper about the container's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerRun {
    /// How many times the agent started it (its restart policy starts it again).
    pub starts: u32,
    /// It will not be started again: once its log is read to the end, shipping ends.
    pub finished: bool,
}

/// Reads the container's log from `after` on into `queue` until the container has exited for
/// good: after each exit it waits to hear whether the container was started again (then it
/// follows on) or is finished. It follows again from the last line read when the engine
/// connection breaks.
async fn read_log(
    runtime: Arc<dyn ContainerRuntime>,
    container_id: String,
    after: Cursor,
    queue: Arc<LineQueue>,
    mut run: watch::Receiver<ContainerRun>,
) {
    let mut resume = after;
    let mut backoff = BACKOFF_START;
    let mut following = run.borrow_and_update().starts;
    loop {
        let mut positions = Positions::after(resume);
        let mut joiner = LineJoiner::default();
        let mut frames = runtime.follow_logs(&container_id, resume.since_seconds());
        let mut last = resume;
        let ended = loop {
            match frames.next().await {
                None => break Ok(()),
                Some(Err(err)) => break Err(err),
                Some(Ok(frame)) => {
                    let (position, new) = positions.next(frame.timestamp_ns);
                    if !new {
                        continue;
                    }
                    last = position;
                    if let Some(line) = joiner.push(frame.timestamp_ns, &frame.bytes, position) {
                        resume = line.cursor;
                        queue.push(line, &container_id).await;
                    }
                }
            }
        };
        let removed = matches!(ended, Err(RuntimeError::NotFound(_)));
        match ended {
            Ok(()) | Err(RuntimeError::NotFound(_)) => {
                if let Some(line) = joiner.finish(last) {
                    resume = line.cursor;
                    queue.push(line, &container_id).await;
                }
                if removed {
                    queue.close();
                    return;
                }
                // Exited: follow on once it is started again, end once it is finished.
                loop {
                    let now = *run.borrow_and_update();
                    if now.starts > following {
                        following = now.starts;
                        break;
                    }
                    if now.finished || run.changed().await.is_err() {
                        queue.close();
                        return;
                    }
                }
            }
            Err(err) => {
                // A line cut short by the break is read again whole from `resume`.
                tracing::warn!(error = %err, container = %container_id, "following the log failed; following again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One container's shipping.
struct Shipper<'a> {
    client: &'a LogsClient,
    queue: Arc<LineQueue>,
    config: &'a AwslogsConfig,
    stream: &'a str,
    container_id: &'a str,
    state_path: PathBuf,
    state: ShippingState,
}

/// Why sending stopped short.
struct AgentStopping;

impl Shipper<'_> {
    /// Settles the batch a previous run left in flight: asks the stream for its last event.
    async fn settle(&mut self, stopping: &mut watch::Receiver<bool>) -> Result<(), AgentStopping> {
        if self.state.in_flight.is_none() {
            return Ok(());
        }
        let mut backoff = BACKOFF_START;
        loop {
            match self
                .client
                .last_event(&self.config.region, &self.config.group, self.stream)
                .await
            {
                Ok(last) => {
                    let last = last.map(|(timestamp, message)| SentEvent { timestamp, message });
                    self.state.settle(last.as_ref());
                    return Ok(());
                }
                Err(err) if err.is_transient() => {
                    tracing::debug!(error = %err, "cannot read the stream's last event yet");
                    pause(&mut backoff, stopping).await?;
                }
                Err(err) => {
                    // The stream cannot be read: send the batch again rather than lose it.
                    tracing::warn!(error = %err, stream = self.stream, "cannot read the stream's last event; resending the last batch");
                    self.state.settle(None);
                    return Ok(());
                }
            }
        }
    }

    /// Records the batch, sends it until CloudWatch Logs takes it (or refuses it for good, as
    /// Docker's driver drops such a batch), and moves the cursor past it.
    async fn send(
        &mut self,
        batch: Batch,
        stopping: &mut watch::Receiver<bool>,
    ) -> Result<(), AgentStopping> {
        let sealed = batch.seal();
        let Some(last_event) = sealed.last_event() else {
            return Ok(());
        };
        let in_flight = InFlight {
            last: sealed.cursor.unwrap_or(self.state.acknowledged),
            last_event,
        };
        self.state.in_flight = Some(in_flight.clone());
        if let Err(err) = cursor::store(&self.state_path, &self.state) {
            // Shipping goes on: a restart then resends from the last cursor written.
            tracing::warn!(error = %err, "cannot record the awslogs batch in flight");
        }
        let mut backoff = BACKOFF_START;
        loop {
            match self
                .client
                .put_log_events(
                    &self.config.region,
                    &self.config.group,
                    self.stream,
                    &sealed.events,
                )
                .await
            {
                Ok(rejected) => {
                    self.queue.destination_failing(false);
                    if rejected > 0 {
                        tracing::warn!(
                            rejected,
                            stream = self.stream,
                            "CloudWatch Logs rejected events (too old, expired or too new)"
                        );
                    }
                    break;
                }
                Err(err) if err.is_transient() => {
                    self.queue.destination_failing(true);
                    tracing::debug!(error = %err, "PutLogEvents failed; retrying");
                    pause(&mut backoff, stopping).await?;
                }
                Err(err) => {
                    self.queue.destination_failing(false);
                    tracing::error!(error = %err, container = self.container_id, stream = self.stream, events = sealed.events.len(), "PutLogEvents refused a batch; dropping it");
                    break;
                }
            }
        }
        self.state.acknowledged = in_flight.last;
        Ok(())
    }
}

/// Waits out a backoff step, or stops when the agent does.
async fn pause(
    backoff: &mut Duration,
    stopping: &mut watch::Receiver<bool>,
) -> Result<(), AgentStopping> {
    if *stopping.borrow() {
        return Err(AgentStopping);
    }
    tokio::select! {
        _ = tokio::time::sleep(*backoff) => {}
        _ = stopping.changed() => return Err(AgentStopping),
    }
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    Ok(())
}

/// Ships one container's log to `stream` until the container is finished (`run`) and
/// everything it wrote is in CloudWatch Logs, or until the agent stops (the next agent resumes
/// from the cursor file).
pub async fn ship(
    shipping: Arc<Shipping>,
    runtime: Arc<dyn ContainerRuntime>,
    config: AwslogsConfig,
    container_id: String,
    stream: String,
    run: watch::Receiver<ContainerRun>,
    mut stopping: watch::Receiver<bool>,
) {
    let Ok(client) = &shipping.client else {
        return;
    };
    let state_path = cursor::state_path(&shipping.state_dir, &container_id);
    let state = cursor::load(&state_path).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "unreadable awslogs cursor; shipping the log from its start");
        ShippingState::default()
    });
    let queue = Arc::new(LineQueue::new(&config));
    let mut shipper = Shipper {
        client,
        queue: queue.clone(),
        config: &config,
        stream: &stream,
        container_id: &container_id,
        state_path,
        state,
    };
    if shipper.settle(&mut stopping).await.is_err() {
        return;
    }
    let reader = tokio::spawn(read_log(
        runtime,
        container_id.clone(),
        shipper.state.acknowledged,
        queue.clone(),
        run,
    ));
    let outcome = forward(&mut shipper, &queue, &mut stopping).await;
    reader.abort();
    if outcome.is_ok() {
        shipper.state.in_flight = None;
        if let Err(err) = cursor::store(&shipper.state_path, &shipper.state) {
            tracing::warn!(error = %err, "cannot record the awslogs cursor");
        }
        tracing::debug!(container = %container_id, "the container's log is shipped");
    }
}

/// Moves lines from the queue into batches and sends them, until the log ends.
async fn forward(
    shipper: &mut Shipper<'_>,
    queue: &LineQueue,
    stopping: &mut watch::Receiver<bool>,
) -> Result<(), AgentStopping> {
    let mut grouper = Grouper::new(shipper.config.multiline.clone());
    let mut batch = Batch::new(MAX_BODY_BYTES);
    let mut events: Vec<Event> = Vec::new();
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    loop {
        let (mut ended, mut ticked) = (false, false);
        tokio::select! {
            line = queue.pop() => match line {
                Some(line) => grouper.push(line, &mut events),
                None => {
                    grouper.flush(&mut events);
                    ended = true;
                }
            },
            _ = flush.tick() => {
                ticked = true;
                grouper.flush_older_than(now_ns(), MULTILINE_MAX_AGE.as_nanos() as i64, &mut events);
            }
            _ = stopping.changed() => return Err(AgentStopping),
        }
        for event in events.drain(..) {
            if let Err(event) = batch.add(event) {
                shipper
                    .send(
                        std::mem::replace(&mut batch, Batch::new(MAX_BODY_BYTES)),
                        stopping,
                    )
                    .await?;
                batch
                    .add(event)
                    .expect("an empty batch takes any event within the size limit");
            }
        }
        if (ticked || ended) && !batch.is_empty() {
            shipper
                .send(
                    std::mem::replace(&mut batch, Batch::new(MAX_BODY_BYTES)),
                    stopping,
                )
                .await?;
        }
        if ended {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode, max_buffer_bytes: u64) -> AwslogsConfig {
        AwslogsConfig {
            group: "g".into(),
            region: "us-east-1".into(),
            stream_prefix: None,
            create_group: false,
            multiline: None,
            mode,
            max_buffer_bytes,
        }
    }

    fn line(text: &str) -> Line {
        Line {
            timestamp_ns: 1,
            text: text.into(),
            cursor: Cursor::default(),
        }
    }

    #[tokio::test]
    async fn a_full_non_blocking_buffer_drops_and_counts_while_the_destination_fails() {
        let queue = Arc::new(LineQueue::new(&config(Mode::NonBlocking, 10)));
        queue.push(line("aaaa"), "c").await;
        queue.push(line("bbbb"), "c").await;
        // A destination that works but is slower than the reader: the reader waits.
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(line("cccc"), "c").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // The destination fails: the waiting line, and what does not fit after it, go.
        queue.destination_failing(true);
        waiting.await.unwrap();
        queue.push(line("dd"), "c").await;
        queue.push(line("eeee"), "c").await;
        assert_eq!(
            queue.lock().dropped,
            2,
            "cccc and eeee did not fit in 10 bytes"
        );
        queue.close();
        let mut taken = Vec::new();
        while let Some(line) = queue.pop().await {
            taken.push(line.text);
        }
        assert_eq!(taken, ["aaaa", "bbbb", "dd"]);
        assert_eq!(queue.lock().dropped, 2);
    }

    #[tokio::test]
    async fn a_full_blocking_buffer_makes_the_reader_wait() {
        let queue = Arc::new(LineQueue::new(&config(Mode::Blocking, 0)));
        let big = "x".repeat(BLOCKING_BUFFER_BYTES as usize);
        queue.push(line(&big), "c").await;
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(line("next"), "c").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room: the reader waits");
        assert_eq!(queue.pop().await.unwrap().text.len(), big.len());
        waiting.await.unwrap();
        assert_eq!(queue.pop().await.unwrap().text, "next");
        assert_eq!(queue.lock().dropped, 0);
    }
}
