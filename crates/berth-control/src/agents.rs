//! The agent channel: one WebSocket per container instance. The agent registers, then the
//! control plane pushes the instance's full desired task set whenever it may have changed and
//! acks the state changes the agent reports once they are durable.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use berth_ecs_wire::{Task, TaskDefinition};
use berth_protocol::{AgentMessage, SequencedChange, ServerMessage};
use berth_store::{Txn, transact};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::ControlPlane;
use crate::ecs::instances::{self, Registration};
use crate::error::ApiError;
use crate::state::instances::{self as instance_records, StoredInstance};
use crate::state::{tasks, watch};

/// How often the control plane pings an agent, and how long it waits for any frame before it
/// counts the agent as gone.
const PING_EVERY: Duration = Duration::from_secs(5);
const SILENCE_LIMIT: Duration = Duration::from_secs(20);
/// The read buffer of each agent connection.
const CHANNEL_BUFFER: usize = 2 * 1024;

/// Upgrades an agent's request to its channel. The agent signs the upgrade with SigV4 as an
/// `ecs` request; it joins a cluster of the region its signature is scoped to.
pub async fn connect(State(api): State<crate::routes::Routes>, request: Request<Body>) -> Response {
    let (mut parts, _) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let context = match api.gateway.authenticate(&parts, b"", "ecs").await {
        Ok(context) => context,
        Err(err) => {
            tracing::warn!(error = %err, "agent connection refused");
            return berth_gateway::Protocol::json_1_1().error_response(&err, "");
        }
    };
    let cp = match api.regions.region(&context.region).await {
        Ok(cp) => cp,
        Err(err) => {
            return berth_gateway::Protocol::json_1_1().error_response(&err.into(), "");
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Agent messages are small; tungstenite's default 128 KiB buffers per connection would cost
    // more than a gigabyte at 10,000 instances.
    let upgrade = upgrade
        .read_buffer_size(CHANNEL_BUFFER)
        .write_buffer_size(0);
    upgrade.on_upgrade(move |socket| async move {
        if let Err(err) = session(&cp, socket, peer).await {
            tracing::info!(error = %err, "agent session ended");
        }
    })
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.to_json().into())
}

async fn session(
    cp: &ControlPlane,
    socket: WebSocket,
    peer: Option<IpAddr>,
) -> Result<(), SessionEnded> {
    let (mut sender, mut receiver) = socket.split();
    let first = tokio::time::timeout(SILENCE_LIMIT, receiver.next())
        .await
        .map_err(|_| ended("agent sent nothing"))?;
    let Some(Ok(Message::Text(first))) = first else {
        return Err(ended("agent closed before registering"));
    };
    let Ok(AgentMessage::Register {
        cluster,
        container_instance_arn,
        host_id,
        total_resources,
        attributes,
        version_info,
    }) = serde_json::from_str::<AgentMessage>(&first)
    else {
        let refusal = ServerMessage::Error {
            message: "the first message must be a registration".into(),
        };
        sender.send(text(&refusal)).await.ok();
        return Err(ended("agent did not register first"));
    };
    let registration = Registration {
        cluster,
        container_instance_arn,
        host_id: host_id.clone(),
        total_resources,
        attributes,
        version_info,
        platform_devices: Vec::new(),
        tags: None,
        connects: true,
        new_id: uuid::Uuid::new_v4().simple().to_string(),
        now: cp.clock.now(),
    };
    let (instance, acked_sequence) = match instances::register(cp, registration).await {
        Ok(registered) => registered,
        Err(err) => {
            sender
                .send(text(&ServerMessage::Error {
                    message: err.message.clone(),
                }))
                .await
                .ok();
            return Err(ended(&err.message));
        }
    };
    tracing::info!(instance = instance.arn(), ?peer, "agent registered");
    if let Some(peer) = peer {
        cp.agents.record_address(&host_id, peer);
    }
    // Subscribe before the first read of the desired set, so no change falls in between.
    let subscription = cp.agents.subscribe(&instance.id);
    let registered = ServerMessage::Registered {
        container_instance_arn: instance.arn().to_string(),
        acked_sequence,
        metric_period_seconds: Some(cp.metric_period.as_secs().max(1)),
    };
    sender.send(text(&registered)).await?;
    let mut sent = SentSet::default();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = tokio::time::Instant::now();
    // Every way the session can end, `?` included, comes out here, so the instance is always
    // marked disconnected (an agent killed while a message was being sent to it used to stay
    // "connected" forever, and its service tasks were never replaced).
    let result: Result<(), SessionEnded> = async {
        loop {
        if let Some(message) = sent.update(cp, &instance, subscription.take()).await? {
            sender.send(text(&message)).await?;
        }
        // Wait for something that may change the desired set, or a message from the agent.
        let outcome = loop {
            tokio::select! {
                _ = subscription.poked.notified() => break Ok(()),
                message = receiver.next() => {
                    last_heard = tokio::time::Instant::now();
                    match message {
                        Some(Ok(Message::Text(body))) => match serde_json::from_str::<AgentMessage>(&body) {
                            Ok(AgentMessage::StateChanges { changes: batch }) => {
                                let acked = apply_changes(cp, &instance, batch).await?;
                                sender.send(text(&ServerMessage::Ack { sequence: acked })).await?;
                            }
                            Ok(AgentMessage::Stats { containers }) => {
                                cp.usage.record(&instance.cluster, &instance.id, instance.arn(), containers);
                            }
                            Ok(AgentMessage::Register { .. }) => {
                                break Err(ended("agent registered twice on one connection"));
                            }
                            Err(err) => {
                                let message = format!("unreadable message: {err}");
                                sender.send(text(&ServerMessage::Error { message })).await?;
                            }
                        },
                        Some(Ok(Message::Close(_))) | None => break Err(ended("agent disconnected")),
                        Some(Ok(_)) => {}
                        Some(Err(err)) => break Err(ended(&err.to_string())),
                    }
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        break Err(ended("agent went silent"));
                    }
                    sender.send(Message::Ping(Vec::new().into())).await?;
                }
            }
        };
        outcome?;
        }
    }
    .await;
    cp.agents.unsubscribe(&instance.id, &subscription);
    cp.usage.forget(&instance.id);
    instances::disconnected(cp, instance.cluster.clone(), instance.id.clone()).await?;
    tracing::info!(instance = instance.arn(), "agent disconnected");
    result
}

/// What a session has sent its agent of the instance's desired set: per task id, the task's
/// ARN, its desired state, and the store revision of the record that was read for it.
#[derive(Default)]
struct SentSet {
    first_sent: bool,
    tasks: HashMap<String, SentTask>,
}

struct SentTask {
    arn: String,
    revision: i64,
    desired: DesiredState,
}

/// The part of a task record that can change what its agent must do.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DesiredState {
    desired_status: Option<String>,
    stop_code: Option<String>,
    stopped_reason: Option<String>,
}

impl SentSet {
    /// The message that brings the agent up to date with the instance's desired set, if any:
    /// the whole set the first time, then what changed. Only the tasks `stale` names are read
    /// (all of them when it says so), and a task whose record did not change since it was last
    /// read costs no decoding.
    async fn update(
        &mut self,
        cp: &ControlPlane,
        instance: &StoredInstance,
        stale: Stale,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let mut definitions = HashMap::<String, TaskDefinition>::new();
        if stale.everything || !self.first_sent {
            let ids = tasks::ids_on_instance(cp, &instance.cluster, &instance.id).await?;
            let mut present = HashSet::with_capacity(ids.len());
            for id in ids {
                let Some(record) = tasks::fetch_undecoded(cp, &instance.cluster, &id).await? else {
                    continue;
                };
                present.insert(id.clone());
                if let Some(task) = self.look_at(cp, &id, &record, &mut definitions).await? {
                    changed.push(task);
                }
            }
            self.tasks.retain(|id, sent| {
                let keep = present.contains(id);
                if !keep {
                    removed.push(std::mem::take(&mut sent.arn));
                }
                keep
            });
        } else {
            for (id, hint) in stale.tasks {
                // Most changes are the agent's own reports: the record moved, what it must do
                // did not, and the hub already read that much of it.
                if let (Some(hint), Some(seen)) = (&hint, self.tasks.get_mut(&id))
                    && hint.desired == seen.desired
                {
                    seen.revision = seen.revision.max(hint.revision);
                    continue;
                }
                let placed =
                    tasks::is_on_instance(cp, &instance.cluster, &instance.id, &id).await?;
                let record = match placed {
                    true => tasks::fetch_undecoded(cp, &instance.cluster, &id).await?,
                    false => None,
                };
                match record {
                    Some(record) => {
                        if let Some(task) = self.look_at(cp, &id, &record, &mut definitions).await?
                        {
                            changed.push(task);
                        }
                    }
                    None => removed.extend(self.tasks.remove(&id).map(|sent| sent.arn)),
                }
            }
        }
        if !self.first_sent {
            self.first_sent = true;
            return Ok(Some(ServerMessage::DesiredTasks { tasks: changed }));
        }
        if changed.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        Ok(Some(ServerMessage::DesiredTasksChanged {
            tasks: changed,
            removed,
        }))
    }

    /// The task to send for the record of task `id` placed on the instance, when the agent has
    /// not been told its desired state yet.
    async fn look_at(
        &mut self,
        cp: &ControlPlane,
        id: &str,
        record: &berth_store::KeyValue,
        definitions: &mut HashMap<String, TaskDefinition>,
    ) -> Result<Option<berth_protocol::DesiredTask>, ApiError> {
        if self
            .tasks
            .get(id)
            .is_some_and(|seen| seen.revision == record.mod_revision)
        {
            return Ok(None);
        }
        let desired: DesiredState = crate::state::decode(record)?;
        let unsent = match self.tasks.get_mut(id) {
            Some(seen) => {
                seen.revision = record.mod_revision;
                if seen.desired == desired {
                    return Ok(None);
                }
                seen.desired = desired;
                None
            }
            None => Some(desired),
        };
        let task: Task = crate::state::decode(record)?;
        let definition_arn = task.task_definition_arn.clone().unwrap_or_default();
        let definition = match definitions.get(&definition_arn) {
            Some(definition) => definition.clone(),
            None => {
                let definition = tasks::fetch_definition(cp, &task).await?;
                definitions.insert(definition_arn, definition.clone());
                definition
            }
        };
        if let Some(desired) = unsent {
            let arn = task.task_arn.clone().unwrap_or_default();
            self.tasks.insert(
                id.to_string(),
                SentTask {
                    arn,
                    revision: record.mod_revision,
                    desired,
                },
            );
        }
        Ok(Some(tasks::desired_task(&task, definition)))
    }
}

/// Applies a batch of state changes in one transaction; returns the highest sequence number
/// now applied, which the agent may forget.
async fn apply_changes(
    cp: &ControlPlane,
    instance: &StoredInstance,
    batch: Vec<SequencedChange>,
) -> Result<u64, SessionEnded> {
    let partition = cp.partition.clone();
    let cluster = instance.cluster.clone();
    let id = instance.id.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        if instance_records::read_undecoded(txn, &cluster, &id)?.is_none() {
            return Ok(0);
        }
        let arn = partition.container_instance_arn(&cluster, &id);
        let mut applied = instance_records::applied_sequence(txn, &cluster, &id)?.unwrap_or(0);
        // Most changes leave the instance record alone; it is read only when a task stops.
        let mut released: Option<StoredInstance> = None;
        for SequencedChange { sequence, change } in &batch {
            if *sequence <= applied {
                continue;
            }
            applied = *sequence;
            let Some(mut task) = tasks::read(txn, &cluster, tasks::task_id(&change.task_arn))?
            else {
                continue;
            };
            if task.container_instance_arn.as_deref() != Some(arn.as_str()) {
                continue;
            }
            tasks::apply_report(txn, &partition, &cluster, &mut task, change, &mut released)?;
        }
        if let Some(stored) = released {
            instance_records::write(txn, &cluster, &stored);
        }
        instance_records::write_applied_sequence(txn, &cluster, &id, applied);
        Ok::<_, ApiError>(applied)
    })
    .await
    .map_err(|err: ApiError| ended(&err.message))
}

/// Why a session ended: logged, never returned to a caller.
#[derive(Debug)]
struct SessionEnded(String);

impl std::fmt::Display for SessionEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<axum::Error> for SessionEnded {
    fn from(err: axum::Error) -> Self {
        SessionEnded(err.to_string())
    }
}

impl From<ApiError> for SessionEnded {
    fn from(err: ApiError) -> Self {
        SessionEnded(err.message)
    }
}

fn ended(message: &str) -> SessionEnded {
    SessionEnded(message.to_string())
}

/// Wakes the agent sessions whose desired set may have changed, telling each which of its tasks
/// to look at again: one reader of the store's change stream for all sessions, instead of every
/// session filtering every change, and a session reads only the tasks that changed.
#[derive(Default)]
pub struct AgentHub {
    sessions: Mutex<HashMap<String, Arc<Subscription>>>,
    /// Each agent's latest peer address, by its host's EC2 instance id: where the host's
    /// published ports (bridge and host mode) are reached, so where load balancers send traffic
    /// for `instance` targets. Kept in memory only: every agent reconnects after a control plane
    /// restart and is recorded again. An address outlives its session, because the host's
    /// containers keep serving while their agent reconnects.
    addresses: Mutex<HashMap<String, IpAddr>>,
}

/// What a session must read again.
#[derive(Default)]
struct Stale {
    /// Every task of the instance: changes may have been missed.
    everything: bool,
    /// These task ids, each with what the hub saw of its newest record, when it saw it (not
    /// for a change of the instance's task index, which the session must read for itself).
    tasks: HashMap<String, Option<Hint>>,
}

/// A task record's revision and desired state, as the change stream carried it.
struct Hint {
    revision: i64,
    desired: DesiredState,
}

/// A session's side of the hub.
struct Subscription {
    poked: Notify,
    stale: Mutex<Stale>,
}

impl Subscription {
    fn mark(&self, mark: impl FnOnce(&mut Stale)) {
        mark(&mut self.stale.lock().unwrap_or_else(PoisonError::into_inner));
        self.poked.notify_one();
    }

    /// What was marked since the last call.
    fn take(&self) -> Stale {
        std::mem::take(&mut *self.stale.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Just what the hub needs of a task record: where it is placed, and what its agent must do.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskHead {
    container_instance_arn: Option<String>,
    desired_status: Option<String>,
    stop_code: Option<String>,
    stopped_reason: Option<String>,
}

impl AgentHub {
    /// The subscription a session for instance `id` waits on (it starts marked whole, so the
    /// first desired set is always sent).
    fn subscribe(&self, id: &str) -> Arc<Subscription> {
        let subscription = Arc::new(Subscription {
            poked: Notify::new(),
            stale: Mutex::default(),
        });
        subscription.mark(|stale| stale.everything = true);
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), subscription.clone());
        subscription
    }

    fn record_address(&self, ec2_instance_id: &str, address: IpAddr) {
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ec2_instance_id.to_string(), address);
    }

    /// The address the agent of EC2 instance `ec2_instance_id` last connected from.
    pub fn instance_address(&self, ec2_instance_id: &str) -> Option<IpAddr> {
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ec2_instance_id)
            .copied()
    }

    /// How many agents hold a channel to this control plane now.
    pub fn connected(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn unsubscribe(&self, id: &str, subscription: &Arc<Subscription>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        // A newer session of the same instance may have replaced this one.
        if sessions
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(current, subscription))
        {
            sessions.remove(id);
        }
    }

    fn poke(&self, instance: &str, task: &str, hint: Option<Hint>) {
        if let Some(subscription) = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(instance)
        {
            subscription.mark(|stale| match stale.tasks.entry(task.to_string()) {
                Entry::Vacant(vacant) => {
                    vacant.insert(hint);
                }
                // Without a hint the session reads the task itself, which covers any hint.
                Entry::Occupied(mut occupied) => {
                    let merged = match (occupied.get_mut().take(), hint) {
                        (Some(old), Some(new)) if new.revision > old.revision => Some(new),
                        (Some(old), Some(_)) => Some(old),
                        _ => None,
                    };
                    occupied.insert(merged);
                }
            });
        }
    }

    fn poke_all(&self) {
        for subscription in self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            subscription.mark(|stale| stale.everything = true);
        }
    }

    /// Reads the store's change stream until it closes, poking the sessions a change concerns:
    /// an instance's task index (a task placed on it or gone from it), or a task placed on it.
    pub async fn run(&self, store: Arc<dyn berth_store::Store>) {
        let mut changes = store.watch();
        loop {
            match changes.recv().await {
                Ok(set) => {
                    for change in &set.changes {
                        if let Some((instance, task)) = watch::instance_task_entry(&change.key) {
                            self.poke(instance, task, None);
                        } else if let Some((_, task)) = watch::task_record(&change.key) {
                            let head = change
                                .value
                                .as_ref()
                                .and_then(|v| serde_json::from_slice::<TaskHead>(v).ok());
                            if let Some(head) = head
                                && let Some(arn) = &head.container_instance_arn
                            {
                                let hint = Hint {
                                    revision: set.revision,
                                    desired: DesiredState {
                                        desired_status: head.desired_status,
                                        stop_code: head.stop_code,
                                        stopped_reason: head.stopped_reason,
                                    },
                                };
                                self.poke(tasks::task_id(arn), task, Some(hint));
                            }
                        }
                    }
                }
                // Changes were missed: every session re-reads its set.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.poke_all(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_ecs::lifecycle::DesiredStatus;

    use super::*;

    fn hint(revision: i64, desired_status: DesiredStatus) -> Option<Hint> {
        Some(Hint {
            revision,
            desired: DesiredState {
                desired_status: Some(desired_status.as_str().into()),
                stop_code: None,
                stopped_reason: None,
            },
        })
    }

    /// A session starts by reading everything; then it hears of each changed task once, with
    /// the newest record the hub saw, or with nothing when it must read the task itself.
    #[test]
    fn pokes_name_each_task_once_with_its_newest_hint() {
        let hub = AgentHub::default();
        let subscription = hub.subscribe("i-1");
        assert!(subscription.take().everything);

        hub.poke("i-1", "a", hint(7, DesiredStatus::Running));
        hub.poke("i-1", "a", hint(5, DesiredStatus::Stopped));
        hub.poke("i-1", "b", hint(3, DesiredStatus::Running));
        hub.poke("i-1", "b", None);
        hub.poke("i-1", "b", hint(9, DesiredStatus::Running));
        hub.poke("i-2", "c", hint(1, DesiredStatus::Running));
        let stale = subscription.take();
        assert!(!stale.everything);
        let a = stale.tasks["a"].as_ref().unwrap();
        assert_eq!(
            (a.revision, a.desired.desired_status.as_deref()),
            (7, Some(DesiredStatus::Running.as_str()))
        );
        assert!(
            stale.tasks["b"].is_none(),
            "an index change makes the session read the task"
        );
        assert_eq!(stale.tasks.len(), 2, "other instances' tasks are not named");
        assert!(subscription.take().tasks.is_empty());

        hub.poke_all();
        assert!(subscription.take().everything);
    }
}
