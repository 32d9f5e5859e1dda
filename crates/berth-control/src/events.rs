//! The region's live stream of ECS's EventBridge events: [`run`] follows the store's change
//! stream and derives events from each changed task, container instance and service record
//! (`berth_ecs::events`), [`EventLog`] keeps them — in the event store
//! ([`crate::event_store`]) when the region has one, and the newest [`HISTORY`] in memory —
//! and [`stream`] serves them as Server-Sent Events (`GET /berth/v1/events`).
//!
//! An event's id is the store revision of the change that made it and its index among that
//! change's events (`REVISION-INDEX`), so ids order events and stay positions across restarts.
//! **Durability:** an event is announced (readable by any client) only once it is recorded in
//! the event store, with the revision up to which every change has had its events recorded;
//! so whatever a client was sent before a crash is there after it, under the same id. Changes
//! that were committed to the state store but not yet recorded when the process died are
//! derived again at start from their records as they are (a task or instance changed there is
//! announced in its current state, under its record's revision). A client resuming after an id
//! the history no longer holds (older than the oldest kept, or never issued) is sent a `gap`
//! event first, then everything kept. Clients read the history at their own pace: the deriver
//! never waits for a client, and a client that falls further behind than the history reaches
//! is told of the gap and carries on from the oldest event kept.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use berth_ecs::arn::Partition;
use berth_ecs::events::{Event, EventId, Knowledge};
use berth_ecs_wire::{Service, Task};
use berth_store::{KeyValue, RecvError, TryRecvError};
use serde_json::json;
use tokio::sync::watch;

use crate::ControlPlane;
use crate::event_store::{EventStore, EventStoreError, StoredEntry};
use crate::state::instances::StoredInstance;
use crate::state::{decode, watch as changes};

/// How many of a region's newest events are kept in memory, where most clients read them.
pub const HISTORY: usize = 10_000;
/// How many events the event store keeps per region, and for how long (whichever is reached
/// first): a client may resume after an event at least this recent.
pub const KEPT_EVENTS: usize = 100_000;
pub const KEPT_FOR_MS: i64 = 7 * 86_400_000;
/// How often retention runs (and once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long the progress of eventless changes may go unrecorded.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How many change sets one recording takes at most: those waiting when the deriver looks
/// share one durable commit.
const RECORD_BATCH: usize = 1024;
/// How many events a client takes from the history at a time.
const READ_BATCH: usize = 256;
/// A comment is sent when nothing else was for this long, so proxies keep the connection and
/// a client that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One entry of the history: an event, or the mark of events the deriver could not derive
/// (it fell behind the store's change stream and re-read the store).
pub struct Entry {
    id: EventId,
    /// Cluster and service an event concerns; `None` for a gap, which every client is told of.
    about: Option<(String, Option<String>)>,
    /// The entry as one SSE message, encoded once for every client.
    frame: Bytes,
}

impl From<StoredEntry> for Entry {
    fn from(stored: StoredEntry) -> Entry {
        Entry {
            id: stored.id,
            about: stored.about,
            frame: Bytes::from(stored.frame),
        }
    }
}

/// An event as it is recorded: its SSE message and what it is about.
fn event_entry(partition: &Partition, id: EventId, event: &Event, now: f64) -> StoredEntry {
    let envelope = event.to_eventbridge(id, partition);
    StoredEntry {
        id,
        recorded_ms: millis(now),
        about: Some((event.cluster.clone(), event.service.clone())),
        frame: format!(
            "id: {id}\nevent: {}\ndata: {envelope}\n\n",
            event.detail_type.as_str()
        ),
    }
}

/// The mark that events up to `id` could not all be derived.
fn gap_entry(id: EventId, now: f64) -> StoredEntry {
    let notice = json!({
        "message": "The control plane fell behind the store's changes: events before this one may be missing; records changed since are announced in their current state.",
    });
    StoredEntry {
        id,
        recorded_ms: millis(now),
        about: None,
        frame: format!("id: {id}\nevent: gap\ndata: {notice}\n\n"),
    }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

/// The region's events: the newest in memory, all that are kept in the event store.
pub struct EventLog {
    partition: Partition,
    capacity: usize,
    /// Where the history outlives the process; without one (tests, or no data directory) it
    /// is only the memory's.
    durable: Option<Arc<dyn EventStore>>,
    history: Mutex<History>,
    /// The id of the newest entry announced, for clients waiting for more.
    newest: watch::Sender<EventId>,
    /// Turns true once the deriver has opened the history: a client that comes earlier (just
    /// after a restart) waits for it rather than being told its id is unknown.
    opened: watch::Sender<bool>,
}

struct History {
    entries: VecDeque<Arc<Entry>>,
    /// The memory holds every event after this position: where the history began, then the
    /// last event that made room for newer ones. Older ones are read from the event store.
    complete_after: EventId,
}

/// What a client reads from the history.
pub struct Read {
    /// Events the client asked to continue after are no longer (or were never) kept.
    pub lost: bool,
    pub entries: Vec<Arc<Entry>>,
    /// Where the client's next read continues.
    pub next: EventId,
}

/// Runs a call of the event store on the blocking pool.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, EventStoreError> + Send + 'static,
) -> Result<R, EventStoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| EventStoreError(format!("the event store's task failed: {err}")))?
}

impl EventLog {
    /// A history kept in memory only.
    pub fn new(partition: Partition, capacity: usize) -> EventLog {
        EventLog {
            partition,
            capacity,
            durable: None,
            history: Mutex::new(History {
                entries: VecDeque::new(),
                complete_after: EventId::after_revision(0),
            }),
            newest: watch::Sender::new(EventId::after_revision(0)),
            opened: watch::Sender::new(false),
        }
    }

    /// A history recorded in `store` before it is announced, its newest `capacity` entries
    /// also in memory.
    pub fn durable(partition: Partition, capacity: usize, store: Arc<dyn EventStore>) -> EventLog {
        EventLog {
            durable: Some(store),
            ..EventLog::new(partition, capacity)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the history for a deriver starting at the store's `revision`, and returns the
    /// revision up to which every change has had its events recorded: the deriver derives
    /// again what changed after it. A memory-only history begins afresh at `revision`.
    async fn open(&self, revision: i64) -> i64 {
        let fresh = EventId::after_revision(revision);
        let Some(store) = self.durable.clone() else {
            self.begin(fresh, Vec::new(), fresh);
            return revision;
        };
        let (region, capacity) = (self.partition.region.clone(), self.capacity);
        let opened = blocking(move || {
            let progress = match store.progress(&region)? {
                Some(progress) if progress.covered <= revision => progress,
                found => {
                    if let Some(progress) = found {
                        // Ids from that history would be issued again: it belongs to another
                        // state store (a data directory put together from two).
                        tracing::warn!(
                            region = %region,
                            recorded = progress.covered,
                            revision,
                            "the event history is ahead of the state store; beginning it again"
                        );
                    }
                    store.reset(&region, revision)?;
                    return Ok((revision, fresh, Vec::new()));
                }
            };
            let mut tail = store.tail(&region, capacity)?;
            // A full tail may have older entries before it: the memory is complete only after
            // its oldest, which the event store still serves.
            let complete_after = if tail.len() == capacity {
                tail.remove(0).id
            } else {
                progress.floor
            };
            Ok((progress.covered, complete_after, tail))
        })
        .await;
        match opened {
            Ok((covered, complete_after, tail)) => {
                // Every kept entry comes from a change up to `covered`.
                let newest = EventId::after_revision(covered);
                let tail = tail.into_iter().map(|e| Arc::new(Entry::from(e))).collect();
                self.begin(complete_after, tail, newest);
                covered
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "opening the event history; events are kept in memory only until a restart"
                );
                self.begin(fresh, Vec::new(), fresh);
                revision
            }
        }
    }

    fn begin(&self, complete_after: EventId, entries: Vec<Arc<Entry>>, newest: EventId) {
        let mut history = self.lock();
        history.entries = entries.into();
        history.complete_after = complete_after;
        self.newest.send_replace(newest);
        self.opened.send_replace(true);
    }

    /// Records entries derived from the changes up to `covered` — in the event store first,
    /// durably — then announces them. Should the event store fail they are announced all the
    /// same (the stream goes on), and a restart derives those changes again.
    async fn record(&self, entries: Vec<StoredEntry>, covered: i64) {
        let entries = match self.durable.clone() {
            Some(store) => {
                let region = self.partition.region.clone();
                let recorded = tokio::task::spawn_blocking(move || {
                    let result = store.append(&region, &entries, covered);
                    (entries, result)
                })
                .await;
                match recorded {
                    Ok((entries, Ok(()))) => entries,
                    Ok((entries, Err(err))) => {
                        tracing::error!(error = %err, "events announced without being kept");
                        entries
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "recording events failed; they are lost");
                        return;
                    }
                }
            }
            None => entries,
        };
        let Some(newest) = entries.last().map(|e| e.id) else {
            return;
        };
        {
            let mut history = self.lock();
            for entry in entries {
                if history.entries.len() == self.capacity
                    && let Some(oldest) = history.entries.pop_front()
                {
                    history.complete_after = oldest.id;
                }
                history.entries.push_back(Arc::new(Entry::from(entry)));
            }
        }
        self.newest.send_replace(newest);
    }

    /// Applies the event store's retention at `now` (epoch seconds); the memory lets go of
    /// what it removed.
    async fn sweep(&self, now: f64) {
        let Some(store) = self.durable.clone() else {
            return;
        };
        let region = self.partition.region.clone();
        let cutoff = millis(now) - KEPT_FOR_MS;
        match blocking(move || store.sweep(&region, cutoff, KEPT_EVENTS)).await {
            Ok(Some(floor)) => {
                let mut history = self.lock();
                while history.entries.front().is_some_and(|e| e.id <= floor) {
                    history.entries.pop_front();
                }
                history.complete_after = history.complete_after.max(floor);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "event history retention"),
        }
    }

    /// Up to `limit` entries after `after` (after the start of the history when `None`): from
    /// memory when it reaches back that far, else from the event store.
    pub async fn read_after(
        &self,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Read, EventStoreError> {
        let _ = self.opened.subscribe().wait_for(|opened| *opened).await;
        let older = |after: EventId| after < self.lock().complete_after;
        let Some(store) = self.durable.clone().filter(|_| after.is_none_or(older)) else {
            return Ok(self.read_recent(after, limit));
        };
        // Only what has been announced: the event store may hold entries a moment before.
        let until = *self.newest.borrow();
        let region = self.partition.region.clone();
        let (floor, stored) = blocking(move || store.read(&region, after, until, limit)).await?;
        let entries: Vec<Arc<Entry>> = stored
            .into_iter()
            .map(|e| Arc::new(Entry::from(e)))
            .collect();
        Ok(Read {
            lost: after.is_some_and(|after| after < floor),
            next: entries.last().map_or(until, |last| last.id),
            entries,
        })
    }

    /// Up to `limit` entries after `after` from memory.
    fn read_recent(&self, after: Option<EventId>, limit: usize) -> Read {
        let history = self.lock();
        let newest = history
            .entries
            .back()
            .map_or(history.complete_after, |e| e.id)
            .max(*self.newest.borrow());
        let (lost, start) = match after {
            None => (false, 0),
            Some(after) if after < history.complete_after => (true, 0),
            Some(after) if after > newest => {
                return Read {
                    lost: true,
                    entries: Vec::new(),
                    next: newest,
                };
            }
            Some(after) => (false, history.entries.partition_point(|e| e.id <= after)),
        };
        let entries: Vec<_> = history
            .entries
            .range(start..)
            .take(limit)
            .cloned()
            .collect();
        let next = match entries.last() {
            Some(last) => last.id,
            None if lost || after.is_none() => history.complete_after.max(newest),
            None => after.unwrap_or(newest),
        };
        Read {
            lost,
            entries,
            next,
        }
    }

    fn subscribe(&self) -> watch::Receiver<EventId> {
        self.newest.subscribe()
    }
}

/// Derives the region's events from the store's change stream until it closes.
pub async fn run(cp: Arc<ControlPlane>) {
    let mut stream = cp.store.watch();
    let mut knowledge = Knowledge::default();
    let start = cp.store.revision();
    // Every change up to `recorded` has had its events recorded: what the records say is
    // where the stream starts from, not news. Changes after it and up to `start` were
    // committed while no deriver recorded them (the process stopped first, or this start
    // wrote them): tasks and instances changed there are announced in their current state.
    // Tasks and instances written after `start` are left unknown, so their change sets still
    // announce them. Every service is learned, so its older `events[]` are not announced
    // again (a service changed while the region starts may miss its events of that change).
    let recorded = cp.events.open(start).await;
    let mut unrecorded = Vec::new();
    for kv in read_records(&cp).await {
        let seen = kv.mod_revision <= recorded;
        let missed = !seen && kv.mod_revision <= start;
        if let Some(task) = as_task(&kv)
            && (seen || missed)
        {
            if seen {
                knowledge.learn_task(&task);
            } else {
                unrecorded.push(kv);
            }
        } else if let Some(instance) = as_instance(&kv)
            && (seen || missed)
        {
            if seen {
                knowledge.learn_instance(&instance.instance);
            } else {
                unrecorded.push(kv);
            }
        } else if let Some(service) = as_service(&kv) {
            knowledge.learn_service(&service);
        }
    }
    if start > recorded {
        unrecorded.sort_by_key(|kv| kv.mod_revision);
        let now = cp.clock.now();
        let mut entries: Vec<StoredEntry> = Vec::new();
        for kv in &unrecorded {
            for event in derive(&mut knowledge, &cp.partition, &kv.key, Some(&kv.value), now) {
                let id = match entries.last() {
                    Some(last) if last.id.revision == kv.mod_revision => EventId {
                        revision: last.id.revision,
                        index: last.id.index + 1,
                    },
                    _ => EventId {
                        revision: kv.mod_revision,
                        index: 0,
                    },
                };
                entries.push(event_entry(&cp.partition, id, &event, now));
            }
        }
        cp.events.record(entries, start).await;
    }
    let mut covered = start;
    // When the changes since the last record made no event: their progress is recorded at
    // most every PROGRESS_EVERY, not per change set, so a stream of eventless writes
    // (RegisterTaskDefinition, say) does not cost the disk a second flush beside the state
    // store's. After a kill -9 at most that much is derived again at start.
    let mut unrecorded_since: Option<tokio::time::Instant> = None;
    let mut sweeps = tokio::time::interval(SWEEP_EVERY);
    sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let progress_due = async {
            match unrecorded_since {
                Some(since) => tokio::time::sleep_until(since + PROGRESS_EVERY).await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            received = stream.recv() => received,
            _ = sweeps.tick() => {
                cp.events.sweep(cp.clock.now()).await;
                continue;
            }
            () = progress_due => {
                cp.events.record(Vec::new(), covered).await;
                unrecorded_since = None;
                continue;
            }
        };
        // What has been derived and not yet recorded, and whether any change of this
        // namespace came (sets of other namespaces arrive empty and need no record).
        let mut entries = Vec::new();
        let mut changed = false;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(received) = next.take() {
            match received {
                Ok(set) if set.revision > covered => {
                    let now = cp.clock.now();
                    changed |= !set.changes.is_empty();
                    let mut index = 0;
                    for change in &set.changes {
                        for event in derive(
                            &mut knowledge,
                            &cp.partition,
                            &change.key,
                            change.value.as_deref(),
                            now,
                        ) {
                            let id = EventId {
                                revision: set.revision,
                                index,
                            };
                            entries.push(event_entry(&cp.partition, id, &event, now));
                            index += 1;
                        }
                    }
                    covered = set.revision;
                }
                Ok(_) => {}
                // Change sets were missed: mark the gap, then announce whatever the store now
                // holds that the deriver has not seen; the stream's older sets are then skipped.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "the event stream fell behind the store; re-reading it"
                    );
                    cp.events
                        .record(std::mem::take(&mut entries), covered)
                        .await;
                    changed = false;
                    let revision = cp.store.revision();
                    let now = cp.clock.now();
                    let mut rederived = vec![gap_entry(EventId { revision, index: 0 }, now)];
                    let mut index = 1;
                    for kv in read_records(&cp).await {
                        for event in
                            derive(&mut knowledge, &cp.partition, &kv.key, Some(&kv.value), now)
                        {
                            let id = EventId { revision, index };
                            rederived.push(event_entry(&cp.partition, id, &event, now));
                            index += 1;
                        }
                    }
                    cp.events.record(rederived, revision).await;
                    covered = revision;
                }
                Err(RecvError::Closed) => {
                    cp.events.record(entries, covered).await;
                    return;
                }
            }
            taken += 1;
            if taken < RECORD_BATCH {
                next = match stream.try_recv() {
                    Ok(set) => Some(Ok(set)),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
                    Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                };
            }
        }
        if !entries.is_empty() {
            cp.events.record(entries, covered).await;
            unrecorded_since = None;
        } else if changed && unrecorded_since.is_none() {
            unrecorded_since = Some(tokio::time::Instant::now());
        }
    }
}

/// The events one changed record makes (`value` is `None` when it was deleted).
fn derive(
    knowledge: &mut Knowledge,
    partition: &Partition,
    key: &str,
    value: Option<&[u8]>,
    now: f64,
) -> Vec<Event> {
    let Some(value) = value else {
        // A deleted record is forgotten, so it is announced again should it come back.
        if let Some((cluster, id)) = changes::task_record(key) {
            knowledge.task_gone(&partition.task_arn(cluster, id));
        } else if let Some((cluster, id)) = changes::instance_record(key) {
            knowledge.instance_gone(&partition.container_instance_arn(cluster, id));
        } else if let Some((cluster, name)) = changes::service_record(key) {
            knowledge.service_gone(&partition.service_arn(cluster, name));
        }
        return Vec::new();
    };
    // Most changes are of other records (task definitions, indexes, sequence numbers): they
    // are passed over before anything is copied.
    if changes::task_record(key).is_none()
        && changes::instance_record(key).is_none()
        && changes::service_record(key).is_none()
    {
        return Vec::new();
    }
    let kv = KeyValue {
        key: key.to_string(),
        value: value.into(),
        create_revision: 0,
        mod_revision: 0,
        version: 0,
    };
    if let Some(task) = as_task(&kv) {
        knowledge.task_changed(&task, now).into_iter().collect()
    } else if let Some(instance) = as_instance(&kv) {
        knowledge
            .instance_changed(&instance.instance, now)
            .into_iter()
            .collect()
    } else if let Some(service) = as_service(&kv) {
        knowledge.service_changed(&service, now)
    } else {
        Vec::new()
    }
}

async fn read_records(cp: &ControlPlane) -> Vec<KeyValue> {
    let mut records = Vec::new();
    for read in [
        changes::instance_records(&*cp.store).await,
        changes::task_records(&*cp.store).await,
        changes::service_records(&*cp.store).await,
    ] {
        match read {
            Ok(found) => records.extend(found),
            Err(err) => tracing::error!(error = %err, "reading the store for the event stream"),
        }
    }
    records
}

fn as_task(kv: &KeyValue) -> Option<Task> {
    changes::task_record(&kv.key)?;
    decode(kv)
        .inspect_err(|err| tracing::warn!(key = kv.key, error = %err.message, "no event for an unreadable task"))
        .ok()
}

fn as_instance(kv: &KeyValue) -> Option<StoredInstance> {
    changes::instance_record(&kv.key)?;
    decode(kv)
        .inspect_err(|err| tracing::warn!(key = kv.key, error = %err.message, "no event for an unreadable instance"))
        .ok()
}

fn as_service(kv: &KeyValue) -> Option<Service> {
    changes::service_record(&kv.key)?;
    decode(kv)
        .inspect_err(|err| tracing::warn!(key = kv.key, error = %err.message, "no event for an unreadable service"))
        .ok()
}

/// Which events a client asked for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A cluster's name (or ARN, whose name is taken).
    pub cluster: Option<String>,
    /// A service's name: its own events and its tasks'.
    pub service: Option<String>,
}

impl Filter {
    fn admits(&self, entry: &Entry) -> bool {
        let Some((cluster, service)) = &entry.about else {
            return true;
        };
        let cluster_ok = self.cluster.as_deref().is_none_or(|wanted| {
            let wanted = wanted.rsplit_once(":cluster/").map_or(wanted, |(_, n)| n);
            wanted == cluster
        });
        let service_ok = self
            .service
            .as_deref()
            .is_none_or(|wanted| service.as_deref() == Some(wanted));
        cluster_ok && service_ok
    }
}

/// What one client reads.
pub struct Reading {
    pub filter: Filter,
    /// Continue after this event (from the oldest kept when `None`).
    pub after: Option<EventId>,
    /// Keep the stream open for new events; otherwise it ends once it has caught up.
    pub follow: bool,
}

/// The SSE body of one client: the kept events after `reading.after`, then, with `follow`, each
/// new one as it comes, until `stopping` turns true (the server shuts down). Should the event
/// store fail to answer, the stream ends (the client resumes from its last id).
pub fn stream(
    log: Arc<EventLog>,
    reading: Reading,
    stopping: watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    struct Client {
        log: Arc<EventLog>,
        filter: Filter,
        cursor: Option<EventId>,
        follow: bool,
        newest: watch::Receiver<EventId>,
        stopping: watch::Receiver<bool>,
        done: bool,
    }
    let newest = log.subscribe();
    let client = Client {
        log,
        filter: reading.filter,
        cursor: reading.after,
        follow: reading.follow,
        newest,
        stopping,
        done: false,
    };
    futures_util::stream::unfold(client, |mut client| async move {
        loop {
            if client.done || *client.stopping.borrow() {
                return None;
            }
            client.newest.borrow_and_update();
            let read = match client.log.read_after(client.cursor, READ_BATCH).await {
                Ok(read) => read,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the event history; ending a stream");
                    return None;
                }
            };
            client.cursor = Some(read.next);
            let mut chunk = Vec::new();
            if read.lost {
                let oldest = read.entries.first().map(|e| e.id.to_string());
                let notice = json!({
                    "message": "Events after the requested id are no longer kept (or it was never issued); continuing with the oldest event kept.",
                    "oldestKept": oldest,
                });
                chunk.extend_from_slice(format!("event: gap\ndata: {notice}\n\n").as_bytes());
            }
            let caught_up = read.entries.is_empty();
            for entry in read.entries.iter().filter(|e| client.filter.admits(e)) {
                chunk.extend_from_slice(&entry.frame);
            }
            if !chunk.is_empty() {
                return Some((Ok(Bytes::from(chunk)), client));
            }
            if !caught_up {
                continue;
            }
            if !client.follow {
                return None;
            }
            let keep_alive = tokio::select! {
                changed = client.newest.changed() => {
                    // An error: the region's log is gone, as the server is shutting down.
                    client.done = changed.is_err();
                    false
                }
                _ = client.stopping.wait_for(|stop| *stop) => {
                    client.done = true;
                    false
                }
                () = tokio::time::sleep(KEEP_ALIVE) => true,
            };
            if keep_alive {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), client));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use berth_ecs::events::DetailType;

    use super::*;
    use crate::event_store::SqliteEventStore;

    fn partition() -> Partition {
        Partition::new("us-east-1", "1")
    }

    fn event(cluster: &str, service: Option<&str>) -> Event {
        Event {
            detail_type: DetailType::TaskStateChange,
            time: 0.0,
            resources: vec![],
            cluster: cluster.into(),
            service: service.map(str::to_string),
            detail: json!({}),
        }
    }

    fn id(revision: i64, index: u32) -> EventId {
        EventId { revision, index }
    }

    fn ids(read: &Read) -> Vec<String> {
        read.entries.iter().map(|e| e.id.to_string()).collect()
    }

    /// Records one event of cluster `c`, recorded at `now`, as the deriver does.
    async fn push(log: &EventLog, at: EventId, now: f64) {
        let entry = event_entry(&partition(), at, &event("c", None), now);
        log.record(vec![entry], at.revision).await;
    }

    async fn read(log: &EventLog, after: Option<EventId>, limit: usize) -> Read {
        log.read_after(after, limit).await.unwrap()
    }

    #[tokio::test]
    async fn reads_continue_after_an_id_and_report_what_is_no_longer_kept() {
        let log = EventLog::new(partition(), 3);
        assert_eq!(log.open(10).await, 10);
        // Nothing yet: a client from the start waits at the start.
        let empty = read(&log, None, 10).await;
        assert!(!empty.lost && empty.entries.is_empty());
        assert_eq!(empty.next, EventId::after_revision(10));
        for (revision, index) in [(11, 0), (11, 1), (12, 0)] {
            push(&log, id(revision, index), 0.0).await;
        }
        assert_eq!(ids(&read(&log, None, 10).await), ["11-0", "11-1", "12-0"]);
        let after = read(&log, Some(id(11, 0)), 10).await;
        assert!(!after.lost);
        assert_eq!(ids(&after), ["11-1", "12-0"]);
        assert_eq!(after.next, id(12, 0));
        assert_eq!(ids(&read(&log, Some(id(11, 0)), 1).await), ["11-1"]);
        // Caught up: nothing more, the cursor stays.
        let caught_up = read(&log, Some(id(12, 0)), 10).await;
        assert!(!caught_up.lost && caught_up.entries.is_empty());
        assert_eq!(caught_up.next, id(12, 0));
        // The start of the history is not a gap; before it is (older, or before a restart).
        assert!(!read(&log, Some(EventId::after_revision(10)), 10).await.lost);
        assert!(read(&log, Some(id(10, 0)), 10).await.lost);

        // A fourth event pushes the oldest out: continuing after it is still complete,
        // continuing from before it is not.
        push(&log, id(13, 0), 0.0).await;
        assert!(!read(&log, Some(id(11, 0)), 10).await.lost);
        let lost = read(&log, Some(id(10, 5)), 10).await;
        assert!(lost.lost);
        assert_eq!(ids(&lost), ["11-1", "12-0", "13-0"]);
        // An id the log never issued (from another store) is a gap too, and the client
        // continues from the newest event.
        let unknown = read(&log, Some(id(99, 0)), 10).await;
        assert!(unknown.lost && unknown.entries.is_empty());
        assert_eq!(unknown.next, id(13, 0));
    }

    #[tokio::test]
    async fn filters_pick_a_cluster_and_a_service_but_every_gap() {
        let log = EventLog::new(partition(), 10);
        log.open(1).await;
        let entries = vec![
            event_entry(&partition(), id(2, 0), &event("web", Some("api")), 0.0),
            event_entry(&partition(), id(2, 1), &event("web", None), 0.0),
            event_entry(&partition(), id(2, 2), &event("batch", Some("api")), 0.0),
            gap_entry(id(3, 0), 0.0),
        ];
        log.record(entries, 3).await;
        let entries = read(&log, None, 10).await.entries;
        let admitted = |filter: Filter| -> Vec<String> {
            entries
                .iter()
                .filter(|e| filter.admits(e))
                .map(|e| e.id.to_string())
                .collect()
        };
        assert_eq!(admitted(Filter::default()).len(), 4);
        let web = Filter {
            cluster: Some("arn:aws:ecs:us-east-1:1:cluster/web".into()),
            service: None,
        };
        assert_eq!(admitted(web), ["2-0", "2-1", "3-0"]);
        let api_of_web = Filter {
            cluster: Some("web".into()),
            service: Some("api".into()),
        };
        assert_eq!(admitted(api_of_web), ["2-0", "3-0"]);
    }

    #[tokio::test]
    async fn a_client_without_follow_gets_the_history_and_ends() {
        use futures_util::StreamExt;
        let log = Arc::new(EventLog::new(partition(), 10));
        log.open(1).await;
        push(&log, id(2, 0), 0.0).await;
        push(&log, id(3, 0), 0.0).await;
        let (_stop, stopping) = watch::channel(false);
        let reading = |after| Reading {
            filter: Filter::default(),
            after: Some(after),
            follow: false,
        };
        let body: Vec<u8> = stream(log.clone(), reading(id(2, 0)), stopping.clone())
            .map(|chunk| chunk.unwrap().to_vec())
            .concat()
            .await;
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.starts_with("id: 3-0\nevent: ECS Task State Change\ndata: {"),
            "{body}"
        );
        assert_eq!(body.matches("\n\n").count(), 1);

        let resumed_too_late: Vec<u8> = stream(log.clone(), reading(id(1, 0)), stopping.clone())
            .map(|chunk| chunk.unwrap().to_vec())
            .concat()
            .await;
        let text = String::from_utf8(resumed_too_late).unwrap();
        assert!(text.starts_with("event: gap\ndata: {"), "{text}");
        assert!(text.contains("\"oldestKept\":\"2-0\""), "{text}");
        assert!(text.contains("id: 2-0\n") && text.contains("id: 3-0\n"));
    }

    /// A durable log: what was recorded is there for a log opened again on the same store (a
    /// restart), reads reaching back further than the memory go to the event store, and
    /// retention raises where the history is complete.
    #[tokio::test]
    async fn a_durable_history_outlives_its_log_and_reaches_back_past_the_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> =
            SqliteEventStore::open(&dir.path().join("events.db")).unwrap();
        let first = EventLog::durable(partition(), 2, store.clone());
        // A region never recorded begins where the deriver starts.
        assert_eq!(first.open(10).await, 10);
        for revision in 11..=14 {
            push(&first, id(revision, 0), revision as f64).await;
        }
        // A change set with no event still counts as recorded.
        first.record(Vec::new(), 15).await;
        drop(first);

        let log = EventLog::durable(partition(), 2, store.clone());
        // Changes up to 15 were recorded; the deriver derives again what came after.
        assert_eq!(log.open(17).await, 15);
        // Resuming from an id issued before the restart: no gap, in order, from the store
        // (the memory holds the newest only).
        let resumed = read(&log, Some(id(11, 0)), 10).await;
        assert!(!resumed.lost);
        assert_eq!(ids(&resumed), ["12-0", "13-0", "14-0"]);
        let from_start = read(&log, None, 2).await;
        assert_eq!(ids(&from_start), ["11-0", "12-0"]);
        assert_eq!(
            ids(&read(&log, Some(from_start.next), 10).await),
            ["13-0", "14-0"]
        );
        // Caught up.
        let caught_up = read(&log, Some(id(14, 0)), 10).await;
        assert!(!caught_up.lost && caught_up.entries.is_empty());
        // New events follow on.
        push(&log, id(18, 0), 18.0).await;
        assert_eq!(
            ids(&read(&log, Some(id(12, 0)), 10).await),
            ["13-0", "14-0", "18-0"]
        );
        // Older than the history: a gap, then everything kept.
        let before = read(&log, Some(id(9, 0)), 10).await;
        assert!(before.lost);
        assert_eq!(ids(&before), ["11-0", "12-0", "13-0", "14-0", "18-0"]);

        // A client that comes before the history is opened (just after a restart) waits for it.
        let reopened = Arc::new(EventLog::durable(partition(), 2, store.clone()));
        let early = tokio::spawn({
            let reopened = reopened.clone();
            async move { reopened.read_after(Some(id(13, 0)), 10).await.unwrap() }
        });
        tokio::task::yield_now().await;
        assert!(!early.is_finished());
        reopened.open(18).await;
        let early = early.await.unwrap();
        assert!(!early.lost);
        assert_eq!(ids(&early), ["14-0", "18-0"]);

        // Retention at 7 days after 12.5 s removes 11 and 12: resuming after 11 is a gap.
        log.sweep(12.5 + (KEPT_FOR_MS / 1000) as f64).await;
        let swept = read(&log, Some(id(11, 0)), 10).await;
        assert!(swept.lost);
        assert_eq!(ids(&swept), ["13-0", "14-0", "18-0"]);
        assert!(!read(&log, Some(id(12, 0)), 10).await.lost);

        // A store whose history is ahead of the state store (another data directory's) is
        // begun again rather than issuing its ids twice.
        let elsewhere = EventLog::durable(partition(), 2, store);
        assert_eq!(elsewhere.open(5).await, 5);
        let fresh = read(&elsewhere, None, 10).await;
        assert!(fresh.entries.is_empty());
        assert!(read(&elsewhere, Some(id(4, 0)), 10).await.lost);
    }

    fn control_plane(
        store: &Arc<dyn berth_store::Store>,
        events: Option<Arc<dyn EventStore>>,
    ) -> Arc<ControlPlane> {
        let partition = Partition::new("us-east-1", "123456789012");
        let root = berth_protocol::sigv4::Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
        };
        let mut cp = ControlPlane::new(store.clone(), partition.clone(), root);
        if let Some(events) = events {
            cp.events = Arc::new(EventLog::durable(partition, HISTORY, events));
        }
        Arc::new(cp)
    }

    fn task(partition: &Partition, status: &str, version: i64) -> Task {
        Task {
            task_arn: Some(partition.task_arn("c", "0123")),
            cluster_arn: Some(partition.cluster_arn("c")),
            last_status: Some(status.into()),
            version: Some(version),
            ..Task::default()
        }
    }

    async fn write_task(store: &Arc<dyn berth_store::Store>, task: Task) {
        use berth_store::{StoreError, Txn, transact};
        transact(&**store, move |txn: &mut dyn Txn| {
            crate::state::tasks::store(txn, "c", &task);
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    }

    /// Waits until the log has announced `id`.
    async fn announced(cp: &ControlPlane, id: EventId) {
        let mut newest = cp.events.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            newest.wait_for(|newest| *newest >= id),
        )
        .await
        .expect("announced in time")
        .unwrap();
    }

    /// The I/O loop over a real store: what is there when it starts is not news, a change
    /// after it is, with the change's revision as its id.
    #[tokio::test]
    async fn the_deriver_announces_what_changes_after_it_starts() {
        use berth_ecs_wire::ServiceEvent;
        use berth_store::{Store, StoreError, Txn, transact};

        use crate::state::{services, tasks};

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(berth_store_sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let cp = control_plane(&store, None);
        let partition = cp.partition.clone();
        let service = Service {
            service_arn: Some(partition.service_arn("c", "web")),
            service_name: Some("web".into()),
            cluster_arn: Some(partition.cluster_arn("c")),
            events: Some(vec![ServiceEvent {
                id: Some("e1".into()),
                created_at: Some(1.0),
                message: Some("(service web) has reached a steady state.".into()),
            }]),
            ..Service::default()
        };
        let write = |task: Task, service: Service| {
            transact(&*store, move |txn: &mut dyn Txn| {
                tasks::store(txn, "c", &task);
                services::write(txn, "c", "web", &service);
                Ok::<_, StoreError>(())
            })
        };
        write(task(&partition, "PENDING", 1), service.clone())
            .await
            .unwrap();

        let mut newest = cp.events.subscribe();
        let deriver = tokio::spawn(run(cp.clone()));
        newest.changed().await.unwrap();
        assert!(read(&cp.events, None, 10).await.entries.is_empty());

        // The task moves on; the service is written again unchanged.
        write(task(&partition, "RUNNING", 2), service)
            .await
            .unwrap();
        let revision = store.revision();
        announced(&cp, id(revision, 0)).await;
        let read = read(&cp.events, None, 10).await;
        assert_eq!(ids(&read), [format!("{revision}-0")]);
        let frame = String::from_utf8(read.entries[0].frame.to_vec()).unwrap();
        assert!(
            frame.starts_with(&format!(
                "id: {revision}-0\nevent: ECS Task State Change\ndata: {{"
            )),
            "{frame}"
        );
        assert!(frame.contains(r#""lastStatus":"RUNNING""#), "{frame}");
        deriver.abort();
    }

    /// A restart: the events recorded before it are read after an id issued before it, with
    /// no gap; a change committed while no deriver ran (the moment before a crash) is
    /// announced at the next start in its record's current state, under its revision.
    #[tokio::test]
    async fn a_restarted_deriver_keeps_its_history_and_announces_what_it_missed() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn berth_store::Store> =
            Arc::new(berth_store_sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let events: Arc<dyn EventStore> =
            SqliteEventStore::open(&dir.path().join("events.db")).unwrap();
        let cp = control_plane(&store, Some(events.clone()));
        let partition = cp.partition.clone();
        let deriver = tokio::spawn(run(cp.clone()));
        let mut newest = cp.events.subscribe();
        newest.changed().await.unwrap();
        write_task(&store, task(&partition, "PENDING", 1)).await;
        let pending = id(store.revision(), 0);
        write_task(&store, task(&partition, "RUNNING", 2)).await;
        let running = id(store.revision(), 0);
        announced(&cp, running).await;
        deriver.abort();
        let _ = deriver.await;

        // Committed while no deriver records anything.
        write_task(&store, task(&partition, "STOPPED", 3)).await;
        let stopped = id(store.revision(), 0);

        let cp = control_plane(&store, Some(events));
        let deriver = tokio::spawn(run(cp.clone()));
        announced(&cp, stopped).await;
        let resumed = read(&cp.events, Some(pending), 10).await;
        assert!(!resumed.lost);
        assert_eq!(ids(&resumed), [running.to_string(), stopped.to_string()]);
        let frame = String::from_utf8(resumed.entries[1].frame.to_vec()).unwrap();
        assert!(frame.contains(r#""lastStatus":"STOPPED""#), "{frame}");
        // Announced once: a third start has nothing more to say.
        deriver.abort();
        let _ = deriver.await;
        let cp = control_plane(&store, cp.events.durable.clone());
        let deriver = tokio::spawn(run(cp.clone()));
        let mut newest = cp.events.subscribe();
        newest.changed().await.unwrap();
        let again = read(&cp.events, Some(pending), 10).await;
        assert_eq!(ids(&again), [running.to_string(), stopped.to_string()]);
        deriver.abort();
    }
}
