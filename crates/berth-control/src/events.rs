//! The region's live stream of ECS's EventBridge events: [`run`] follows the store's change
//! stream and derives events from each changed task, container instance and service record
//! (`berth_ecs::events`), [`EventLog`] keeps the last [`HISTORY`] of them in memory, and
//! [`stream`] serves them as Server-Sent Events (`GET /berth/v1/events`).
//!
//! An event's id is the store revision of the change that made it and its index among that
//! change's events (`REVISION-INDEX`), so ids order events and survive restarts as positions;
//! the history itself does not survive a restart. A client resuming after an id the history
//! no longer holds (older than the oldest kept, from before a restart, or unknown) is sent a
//! `gap` event first, then everything kept. Clients read the history at their own pace: the
//! deriver never waits for a client, and a client that falls further behind than the history
//! reaches is told of the gap and carries on from the oldest event kept.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use berth_ecs::arn::Partition;
use berth_ecs::events::{Event, EventId, Knowledge};
use berth_ecs_wire::{Service, Task};
use berth_store::{KeyValue, RecvError};
use serde_json::json;
use tokio::sync::watch;

use crate::ControlPlane;
use crate::state::instances::StoredInstance;
use crate::state::{decode, watch as changes};

/// How many events a region keeps for clients that resume.
pub const HISTORY: usize = 10_000;
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

/// The region's recent events.
pub struct EventLog {
    partition: Partition,
    capacity: usize,
    history: Mutex<History>,
    /// The id of the newest entry, for clients waiting for more.
    newest: watch::Sender<EventId>,
}

struct History {
    entries: VecDeque<Arc<Entry>>,
    /// The history holds every event after this position: where the deriver started, then the
    /// last event that made room for newer ones.
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

impl EventLog {
    pub fn new(partition: Partition, capacity: usize) -> EventLog {
        EventLog {
            partition,
            capacity,
            history: Mutex::new(History {
                entries: VecDeque::new(),
                complete_after: EventId::after_revision(0),
            }),
            newest: watch::Sender::new(EventId::after_revision(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The history is complete from the store's `revision` on: the deriver starts there.
    fn begin(&self, revision: i64) {
        let start = EventId::after_revision(revision);
        let mut history = self.lock();
        history.entries.clear();
        history.complete_after = start;
        self.newest.send_replace(start);
    }

    fn push(&self, id: EventId, event: &Event) {
        let envelope = event.to_eventbridge(id, &self.partition);
        let frame = format!(
            "id: {id}\nevent: {}\ndata: {envelope}\n\n",
            event.detail_type.as_str()
        );
        self.append(Entry {
            id,
            about: Some((event.cluster.clone(), event.service.clone())),
            frame: Bytes::from(frame),
        });
    }

    /// Marks that events up to `id` could not all be derived.
    fn push_gap(&self, id: EventId) {
        let notice = json!({
            "message": "The control plane fell behind the store's changes: events before this one may be missing; records changed since are announced in their current state.",
        });
        self.append(Entry {
            id,
            about: None,
            frame: Bytes::from(format!("id: {id}\nevent: gap\ndata: {notice}\n\n")),
        });
    }

    fn append(&self, entry: Entry) {
        let id = entry.id;
        {
            let mut history = self.lock();
            if history.entries.len() == self.capacity
                && let Some(oldest) = history.entries.pop_front()
            {
                history.complete_after = oldest.id;
            }
            history.entries.push_back(Arc::new(entry));
        }
        self.newest.send_replace(id);
    }

    /// Up to `limit` entries after `after` (after the start of the history when `None`).
    pub fn read_after(&self, after: Option<EventId>, limit: usize) -> Read {
        let history = self.lock();
        let newest = history
            .entries
            .back()
            .map_or(history.complete_after, |e| e.id);
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
    // What is already there is where the stream starts from, not news. Tasks and instances
    // written after `start` are left unknown, so their change sets still announce them; every
    // service is learned, so its older `events[]` are not announced again (a service changed
    // while the region starts may miss its events of that change).
    for kv in read_records(&cp).await {
        if let Some(task) = as_task(&kv)
            && kv.mod_revision <= start
        {
            knowledge.learn_task(&task);
        } else if let Some(instance) = as_instance(&kv)
            && kv.mod_revision <= start
        {
            knowledge.learn_instance(&instance.instance);
        } else if let Some(service) = as_service(&kv) {
            knowledge.learn_service(&service);
        }
    }
    cp.events.begin(start);
    let mut covered = start;
    loop {
        match stream.recv().await {
            Ok(set) if set.revision > covered => {
                let now = cp.clock.now();
                let mut index = 0;
                for change in &set.changes {
                    for event in derive(
                        &mut knowledge,
                        &cp.partition,
                        &change.key,
                        change.value.as_deref(),
                        now,
                    ) {
                        cp.events.push(
                            EventId {
                                revision: set.revision,
                                index,
                            },
                            &event,
                        );
                        index += 1;
                    }
                }
            }
            Ok(_) => {}
            // Change sets were missed: mark the gap, then announce whatever the store now
            // holds that the deriver has not seen; the stream's older sets are then skipped.
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the event stream fell behind the store; re-reading it"
                );
                let revision = cp.store.revision();
                cp.events.push_gap(EventId { revision, index: 0 });
                let now = cp.clock.now();
                let mut index = 1;
                for kv in read_records(&cp).await {
                    for event in
                        derive(&mut knowledge, &cp.partition, &kv.key, Some(&kv.value), now)
                    {
                        cp.events.push(EventId { revision, index }, &event);
                        index += 1;
                    }
                }
                covered = revision;
            }
            Err(RecvError::Closed) => return,
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
/// new one as it comes, until `stopping` turns true (the server shuts down).
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
            let read = client.log.read_after(client.cursor, READ_BATCH);
            client.cursor = Some(read.next);
            let mut chunk = Vec::new();
            if read.lost {
                let oldest = read.entries.first().map(|e| e.id.to_string());
                let notice = json!({
                    "message": "Events after the requested id are no longer kept (the control plane keeps its most recent events in memory, and not across restarts); continuing with the oldest event kept.",
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

    #[test]
    fn reads_continue_after_an_id_and_report_what_is_no_longer_kept() {
        let log = EventLog::new(Partition::new("us-east-1", "1"), 3);
        log.begin(10);
        // Nothing yet: a client from the start waits at the start.
        let empty = log.read_after(None, 10);
        assert!(!empty.lost && empty.entries.is_empty());
        assert_eq!(empty.next, EventId::after_revision(10));
        for (revision, index) in [(11, 0), (11, 1), (12, 0)] {
            log.push(id(revision, index), &event("c", None));
        }
        assert_eq!(ids(&log.read_after(None, 10)), ["11-0", "11-1", "12-0"]);
        let after = log.read_after(Some(id(11, 0)), 10);
        assert!(!after.lost);
        assert_eq!(ids(&after), ["11-1", "12-0"]);
        assert_eq!(after.next, id(12, 0));
        assert_eq!(ids(&log.read_after(Some(id(11, 0)), 1)), ["11-1"]);
        // Caught up: nothing more, the cursor stays.
        let caught_up = log.read_after(Some(id(12, 0)), 10);
        assert!(!caught_up.lost && caught_up.entries.is_empty());
        assert_eq!(caught_up.next, id(12, 0));
        // The start of the history is not a gap; before it is (older, or before a restart).
        assert!(!log.read_after(Some(EventId::after_revision(10)), 10).lost);
        assert!(log.read_after(Some(id(10, 0)), 10).lost);

        // A fourth event pushes the oldest out: continuing after it is still complete,
        // continuing from before it is not.
        log.push(id(13, 0), &event("c", None));
        assert!(!log.read_after(Some(id(11, 0)), 10).lost);
        let lost = log.read_after(Some(id(10, 5)), 10);
        assert!(lost.lost);
        assert_eq!(ids(&lost), ["11-1", "12-0", "13-0"]);
        // An id the log never issued (from another store) is a gap too, and the client
        // continues from the newest event.
        let unknown = log.read_after(Some(id(99, 0)), 10);
        assert!(unknown.lost && unknown.entries.is_empty());
        assert_eq!(unknown.next, id(13, 0));
    }

    #[test]
    fn filters_pick_a_cluster_and_a_service_but_every_gap() {
        let log = EventLog::new(Partition::new("us-east-1", "1"), 10);
        log.begin(1);
        log.push(id(2, 0), &event("web", Some("api")));
        log.push(id(2, 1), &event("web", None));
        log.push(id(2, 2), &event("batch", Some("api")));
        log.push_gap(id(3, 0));
        let entries = log.read_after(None, 10).entries;
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
        let log = Arc::new(EventLog::new(Partition::new("us-east-1", "1"), 10));
        log.begin(1);
        log.push(id(2, 0), &event("web", None));
        log.push(id(3, 0), &event("web", None));
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
        let partition = Partition::new("us-east-1", "123456789012");
        let root = berth_protocol::sigv4::Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
        };
        let cp = Arc::new(ControlPlane::new(store.clone(), partition.clone(), root));
        let task = |status: &str, version| Task {
            task_arn: Some(partition.task_arn("c", "0123")),
            cluster_arn: Some(partition.cluster_arn("c")),
            last_status: Some(status.into()),
            version: Some(version),
            ..Task::default()
        };
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
        write(task("PENDING", 1), service.clone()).await.unwrap();

        let mut newest = cp.events.subscribe();
        let deriver = tokio::spawn(run(cp.clone()));
        newest.changed().await.unwrap();
        assert!(cp.events.read_after(None, 10).entries.is_empty());

        // The task moves on; the service is written again unchanged.
        write(task("RUNNING", 2), service).await.unwrap();
        let revision = store.revision();
        newest.changed().await.unwrap();
        let read = cp.events.read_after(None, 10);
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
}
