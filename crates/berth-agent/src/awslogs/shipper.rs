//! The I/O around the pure parts: create a container's stream before it starts, then follow its
//! Docker log and send its lines until it has exited and everything is shipped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};

use super::client::{CallError, LogsClient};
use super::cursor::{self, Cursor, InFlight, Positions, SentEvent, ShippingState};
use super::events::{
    Batch, Event, Grouper, Line, LineJoiner, MAX_BATCH_EVENTS, MAX_BODY_BYTES, Sealed,
};
use super::options::{AwslogsConfig, Mode, OptionError};
use crate::runtime::{ContainerRuntime, RuntimeError};

/// How often an event being grouped from several lines is checked for age. (Lines themselves
/// wait for no timer: see [`forward`].)
const MULTILINE_CHECK_EVERY: Duration = Duration::from_millis(200);
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

    /// Queues lines in order, as many at a time as there is room for.
    async fn push_all(&self, lines: Vec<Line>, container: &str) {
        let mut lines = lines.into_iter().peekable();
        while lines.peek().is_some() {
            {
                let mut state = self.lock();
                while let Some(line) = lines.peek() {
                    let size = line.text.len() as u64;
                    if state.lines.is_empty() || state.bytes + size <= self.capacity {
                        state.bytes += size;
                        state.lines.extend(lines.next());
                    } else if self.mode == Mode::NonBlocking && state.destination_failing {
                        lines.next();
                        state.dropped += 1;
                        // At powers of two, then every 10,000: a long outage does not log
                        // every line.
                        if state.dropped.is_power_of_two() || state.dropped.is_multiple_of(10_000) {
                            tracing::warn!(
                                container,
                                dropped = state.dropped,
                                "awslogs non-blocking buffer full: lines dropped"
                            );
                        }
                    } else {
                        break;
                    }
                }
            }
            self.readable.notify_one();
            if lines.peek().is_some() {
                self.writable.notified().await;
            }
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

    /// Takes the queued lines, at most `max` (one batch's worth, so what is taken out of the
    /// buffer stays bounded), into `into` (which is empty); `false` once the log ended and
    /// every line was taken. Cancel-safe: it takes nothing until it returns.
    async fn pop_some(&self, into: &mut VecDeque<Line>, max: usize) -> bool {
        debug_assert!(into.is_empty());
        loop {
            {
                let mut state = self.lock();
                if !state.lines.is_empty() {
                    if state.lines.len() <= max {
                        std::mem::swap(&mut state.lines, into);
                        state.bytes = 0;
                    } else {
                        into.extend(state.lines.drain(..max));
                        state.bytes -= into.iter().map(|l| l.text.len() as u64).sum::<u64>();
                    }
                    drop(state);
                    self.writable.notify_one();
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            self.readable.notified().await;
        }
    }

    /// Whether no line is waiting right now.
    fn is_empty(&self) -> bool {
        self.lock().lines.is_empty()
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
        let followed = runtime.tail_log(&container_id, resume.resume()).await;
        let mut positions = Positions::after(resume, followed.exact);
        let mut frames = followed.frames;
        let mut joiner = LineJoiner::default();
        let mut last = resume;
        let ended = loop {
            match frames.next().await {
                None => break Ok(()),
                Some(Err(err)) => break Err(err),
                Some(Ok(chunk)) => {
                    let mut lines = Vec::with_capacity(chunk.len());
                    for read in chunk {
                        let timestamp_ns = read.frame.timestamp_ns;
                        let (position, new) = positions.next(timestamp_ns, read.file);
                        if !new {
                            continue;
                        }
                        last = position;
                        lines.extend(joiner.push(timestamp_ns, read.frame.bytes, position));
                    }
                    if let Some(line) = lines.last() {
                        resume = line.cursor;
                    }
                    queue.push_all(lines, &container_id).await;
                }
            }
        };
        let removed = matches!(ended, Err(RuntimeError::NotFound(_)));
        match ended {
            Ok(()) | Err(RuntimeError::NotFound(_)) => {
                if let Some(line) = joiner.finish(last) {
                    resume = line.cursor;
                    queue.push_all(vec![line], &container_id).await;
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

/// Where a container's batches go.
#[derive(Clone, Copy)]
struct Target<'a> {
    client: &'a LogsClient,
    config: &'a AwslogsConfig,
    stream: &'a str,
    container_id: &'a str,
}

/// Why sending stopped short.
struct AgentStopping;

impl Target<'_> {
    /// The stream's last event (GetLogEvents from the tail), asked until the control plane
    /// answers; `None` also when the stream cannot be read, so that a batch is sent again
    /// rather than lost.
    async fn last_event(
        &self,
        stopping: &mut watch::Receiver<bool>,
    ) -> Result<Option<SentEvent>, AgentStopping> {
        let mut backoff = BACKOFF_START;
        loop {
            match self
                .client
                .last_event(&self.config.region, &self.config.group, self.stream)
                .await
            {
                Ok(last) => {
                    return Ok(last.map(|(timestamp, message)| SentEvent { timestamp, message }));
                }
                Err(err) if err.is_transient() => {
                    tracing::debug!(error = %err, "cannot read the stream's last event yet");
                    pause(&mut backoff, stopping).await?;
                }
                Err(err) => {
                    tracing::warn!(error = %err, stream = self.stream, "cannot read the stream's last event; sending the batch again");
                    return Ok(None);
                }
            }
        }
    }

    /// Sends a batch until CloudWatch Logs takes it (or refuses it for good, as Docker's driver
    /// drops such a batch). A failed attempt may still have been stored (a control plane killed
    /// between its commit and its answer): before sending again, the stream is asked whether
    /// its last event is the batch's last (nothing else writes to the stream while the batch
    /// is in flight).
    async fn deliver(
        self,
        queue: &LineQueue,
        events: Vec<(i64, String)>,
        last_event: SentEvent,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<(), AgentStopping> {
        let mut backoff = BACKOFF_START;
        loop {
            match self
                .client
                .put_log_events(
                    &self.config.region,
                    &self.config.group,
                    self.stream,
                    &events,
                )
                .await
            {
                Ok(rejected) => {
                    queue.destination_failing(false);
                    if rejected > 0 {
                        tracing::warn!(
                            rejected,
                            stream = self.stream,
                            "CloudWatch Logs rejected events (too old, expired or too new)"
                        );
                    }
                    return Ok(());
                }
                Err(err) if err.is_transient() => {
                    queue.destination_failing(true);
                    tracing::debug!(error = %err, "PutLogEvents failed; retrying");
                    pause(&mut backoff, &mut stopping).await?;
                    if self.last_event(&mut stopping).await?.as_ref() == Some(&last_event) {
                        queue.destination_failing(false);
                        return Ok(());
                    }
                }
                Err(err) => {
                    queue.destination_failing(false);
                    tracing::error!(error = %err, container = self.container_id, stream = self.stream, events = events.len(), "PutLogEvents refused a batch; dropping it");
                    return Ok(());
                }
            }
        }
    }
}

/// Where one container's shipping stands, and where that is kept.
struct Shipper {
    state_path: PathBuf,
    state: ShippingState,
}

impl Shipper {
    /// Records the batch as the one in flight, durably (one atomic write), before it is sent;
    /// answers what it is (`None` for a batch without events).
    fn record(&mut self, sealed: &Sealed) -> Option<InFlight> {
        let in_flight = InFlight {
            last: sealed.cursor.unwrap_or(self.state.acknowledged),
            last_event: sealed.last_event()?,
        };
        self.state.in_flight = Some(in_flight.clone());
        if let Err(err) = cursor::store(&self.state_path, &self.state) {
            // Shipping goes on: a restart then resends from the last cursor written.
            tracing::warn!(error = %err, "cannot record the awslogs batch in flight");
        }
        Some(in_flight)
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
    let target = Target {
        client,
        config: &config,
        stream: &stream,
        container_id: &container_id,
    };
    let mut shipper = Shipper { state_path, state };
    // A batch a previous run left in flight landed if it is the stream's last.
    if shipper.state.in_flight.is_some() {
        let Ok(last) = target.last_event(&mut stopping).await else {
            return;
        };
        shipper.state.settle(last.as_ref());
    }
    let queue = Arc::new(LineQueue::new(&config));
    let reader = tokio::spawn(read_log(
        runtime,
        container_id.clone(),
        shipper.state.acknowledged,
        queue.clone(),
        run,
    ));
    let outcome = forward(target, &mut shipper, &queue, &mut stopping).await;
    reader.abort();
    if outcome.is_ok() {
        shipper.state.in_flight = None;
        if let Err(err) = cursor::store(&shipper.state_path, &shipper.state) {
            tracing::warn!(error = %err, "cannot record the awslogs cursor");
        }
        tracing::debug!(container = %container_id, "the container's log is shipped");
    }
}

/// Moves lines from the queue into batches and sends them, until the log ends. One batch is in
/// flight at a time, so the stream takes them in order and what a crash leaves unsettled is
/// that one batch, recorded before it went. While it is in flight, lines go on being read and
/// the next batch fills (up to PutLogEvents' limits); it goes as soon as the one in flight is
/// taken. With no batch in flight, what is queued goes at once: batches are as large as the
/// pace of the sends makes them, and a line waits for no timer.
async fn forward(
    target: Target<'_>,
    shipper: &mut Shipper,
    queue: &LineQueue,
    stopping: &mut watch::Receiver<bool>,
) -> Result<(), AgentStopping> {
    let mut grouper = Grouper::new(target.config.multiline.clone());
    let mut batch = Batch::new(MAX_BODY_BYTES);
    // Events made and not in a batch yet: the batch filling is full for the first of them.
    let mut backlog: VecDeque<Event> = VecDeque::new();
    let mut events: Vec<Event> = Vec::new();
    let mut lines: VecDeque<Line> = VecDeque::new();
    let mut flush = tokio::time::interval(MULTILINE_CHECK_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ended = false;
    // The batch in flight, and the cursor the log stands at once it is taken.
    type Sending<'f> = Pin<Box<dyn Future<Output = Result<(), AgentStopping>> + Send + 'f>>;
    let mut sending: Option<(Sending<'_>, Cursor)> = None;
    loop {
        while let Some(event) = backlog.pop_front() {
            if let Err(event) = batch.add(event) {
                backlog.push_front(event);
                break;
            }
        }
        let full = !backlog.is_empty();
        if sending.is_none() && !batch.is_empty() && (full || ended || queue.is_empty()) {
            let sealed = std::mem::replace(&mut batch, Batch::new(MAX_BODY_BYTES)).seal();
            if let Some(in_flight) = shipper.record(&sealed) {
                let send =
                    target.deliver(queue, sealed.events, in_flight.last_event, stopping.clone());
                sending = Some((Box::pin(send), in_flight.last));
            }
            continue;
        }
        if ended && sending.is_none() && batch.is_empty() && backlog.is_empty() {
            return Ok(());
        }
        tokio::select! {
            sent = async { sending.as_mut().expect("a batch is in flight").0.as_mut().await }, if sending.is_some() => {
                sent?;
                let (_, last) = sending.take().expect("a batch was in flight");
                shipper.state.acknowledged = last;
            }
            taken = queue.pop_some(&mut lines, MAX_BATCH_EVENTS), if !full && !ended => {
                if taken {
                    for line in lines.drain(..) {
                        grouper.push(line, &mut events);
                    }
                } else {
                    grouper.flush(&mut events);
                    ended = true;
                }
                backlog.extend(events.drain(..));
            }
            _ = flush.tick() => {
                grouper.flush_older_than(now_ns(), MULTILINE_MAX_AGE.as_nanos() as i64, &mut events);
                backlog.extend(events.drain(..));
            }
            _ = stopping.changed() => return Err(AgentStopping),
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
        queue.push_all(vec![line("aaaa"), line("bbbb")], "c").await;
        // A destination that works but is slower than the reader: the reader waits.
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push_all(vec![line("cccc")], "c").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // The destination fails: the waiting line, and what does not fit after it, go.
        queue.destination_failing(true);
        waiting.await.unwrap();
        queue.push_all(vec![line("dd"), line("eeee")], "c").await;
        assert_eq!(
            queue.lock().dropped,
            2,
            "cccc and eeee did not fit in 10 bytes"
        );
        queue.close();
        let mut taken = VecDeque::new();
        assert!(queue.pop_some(&mut taken, 10).await);
        let taken: Vec<String> = taken.into_iter().map(|line| line.text).collect();
        assert_eq!(taken, ["aaaa", "bbbb", "dd"]);
        assert!(
            !queue.pop_some(&mut VecDeque::new(), 10).await,
            "closed and empty"
        );
        assert_eq!(queue.lock().dropped, 2);
    }

    #[tokio::test]
    async fn lines_are_taken_at_most_a_batch_at_a_time() {
        let queue = LineQueue::new(&config(Mode::Blocking, 0));
        queue
            .push_all(vec![line("a"), line("bb"), line("ccc")], "c")
            .await;
        let mut taken = VecDeque::new();
        assert!(queue.pop_some(&mut taken, 2).await);
        assert_eq!(taken.len(), 2);
        assert_eq!(queue.lock().bytes, 3, "ccc is left");
        taken.clear();
        assert!(queue.pop_some(&mut taken, 2).await);
        assert_eq!(taken.pop_front().unwrap().text, "ccc");
        assert_eq!(queue.lock().bytes, 0);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_full_blocking_buffer_makes_the_reader_wait() {
        let queue = Arc::new(LineQueue::new(&config(Mode::Blocking, 0)));
        let big = "x".repeat(BLOCKING_BUFFER_BYTES as usize);
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push_all(vec![line(&big), line("next")], "c").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room: the reader waits");
        let mut taken = VecDeque::new();
        assert!(queue.pop_some(&mut taken, 10).await);
        assert_eq!(
            taken.pop_front().unwrap().text.len(),
            BLOCKING_BUFFER_BYTES as usize
        );
        waiting.await.unwrap();
        assert!(queue.pop_some(&mut taken, 10).await);
        assert_eq!(taken.pop_front().unwrap().text, "next");
        assert_eq!(queue.lock().dropped, 0);
    }

    /// What the CloudWatch Logs stand-in does with a PutLogEvents.
    #[derive(Clone, Copy)]
    enum Put {
        /// Stores the batch but answers 500, as a control plane dying between its commit and
        /// its answer.
        StoredAnswerLost,
        /// Stores nothing and answers 500.
        Failed,
    }

    /// A CloudWatch Logs stand-in: PutLogEvents as scripted (then stored and answered), and
    /// GetLogEvents of the last event.
    #[derive(Clone, Default)]
    struct StandIn {
        stored: Arc<Mutex<Vec<(i64, String)>>>,
        script: Arc<Mutex<VecDeque<Put>>>,
    }

    async fn logs_api(
        axum::extract::State(server): axum::extract::State<StandIn>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, String) {
        use axum::http::StatusCode;
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut stored = server.stored.lock().unwrap();
        match headers["x-amz-target"].to_str().unwrap() {
            "Logs_20140328.PutLogEvents" => {
                let put = server.script.lock().unwrap().pop_front();
                if let Some(Put::Failed) = put {
                    return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
                }
                for event in request["logEvents"].as_array().unwrap() {
                    stored.push((
                        event["timestamp"].as_i64().unwrap(),
                        event["message"].as_str().unwrap().to_string(),
                    ));
                }
                match put {
                    Some(Put::StoredAnswerLost) => {
                        (StatusCode::INTERNAL_SERVER_ERROR, String::new())
                    }
                    _ => (StatusCode::OK, "{}".into()),
                }
            }
            "Logs_20140328.GetLogEvents" => {
                let events: Vec<_> = stored
                    .last()
                    .map(|(timestamp, message)| serde_json::json!({"timestamp": timestamp, "message": message}))
                    .into_iter()
                    .collect();
                (
                    StatusCode::OK,
                    serde_json::json!({"events": events}).to_string(),
                )
            }
            other => panic!("unexpected call {other}"),
        }
    }

    #[tokio::test]
    async fn a_batch_is_stored_once_whether_or_not_a_failed_attempt_landed() {
        let server = StandIn::default();
        let app = axum::Router::new()
            .route("/", axum::routing::post(logs_api))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = LogsClient::new(
            &format!("http://{address}"),
            berth_protocol::sigv4::Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "secret".into(),
            },
        )
        .unwrap();
        let config = config(Mode::Blocking, 0);
        let target = Target {
            client: &client,
            config: &config,
            stream: "s",
            container_id: "c",
        };
        let queue = LineQueue::new(&config);
        let (_stop, stopping) = watch::channel(false);
        let mut expected = Vec::new();
        for (timestamp, script) in [(1, Put::StoredAnswerLost), (2, Put::Failed)] {
            server.script.lock().unwrap().push_back(script);
            let events = vec![
                (timestamp, "early".to_string()),
                (timestamp, format!("last {timestamp}")),
            ];
            let last_event = SentEvent {
                timestamp,
                message: format!("last {timestamp}"),
            };
            let delivered = target.deliver(&queue, events.clone(), last_event, stopping.clone());
            assert!(delivered.await.is_ok());
            expected.extend(events);
            assert_eq!(*server.stored.lock().unwrap(), expected);
        }
    }
}
