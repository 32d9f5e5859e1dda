//! A container runtime that runs nothing: containers are records that "start" after a set delay
//! and run until stopped. `berth agent --simulate N` registers N instances on it, so the
//! control plane and placement can be tested at scale without real hosts (as kubemark's hollow
//! nodes do for Kubernetes). Every instance shares one `SimulatedRuntime`; each only sees its own
//! containers through their labels, as with Docker.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::runtime::{
    ContainerEvent, ContainerEventKind, ContainerRuntime, ContainerSpec, ContainerState,
    ContainerStatus, Health, LogFrame, RuntimeError, TASK_ARN_LABEL,
};

struct Container {
    labels: BTreeMap<String, String>,
    state: ContainerState,
}

/// Event streams by the label (name, value) they follow.
type Subscribers = HashMap<(String, String), Vec<mpsc::UnboundedSender<ContainerEvent>>>;

pub struct SimulatedRuntime {
    /// How long a simulated container takes to start.
    start_delay: Duration,
    containers: Arc<Mutex<BTreeMap<String, Container>>>,
    /// Bumped whenever a container starts, stops or goes, for log followers to notice.
    changes: watch::Sender<u64>,
    next_id: AtomicU64,
    /// Event subscribers by the label (name, value) they asked for. Each event goes only to the
    /// subscribers of its container's labels: with 10,000 instances on one runtime, a stream
    /// that every instance filters would cost each event 10,000 wake-ups.
    subscribers: Mutex<Subscribers>,
}

impl SimulatedRuntime {
    pub fn new(start_delay: Duration) -> SimulatedRuntime {
        SimulatedRuntime {
            start_delay,
            containers: Arc::default(),
            changes: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
            subscribers: Mutex::default(),
        }
    }

    fn with<T>(&self, change: impl FnOnce(&mut BTreeMap<String, Container>) -> T) -> T {
        change(
            &mut self
                .containers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    fn emit(&self, id: &str, kind: ContainerEventKind) {
        let labels = self.with(|all| all.get(id).map(|c| c.labels.clone()).unwrap_or_default());
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let task_arn = labels.get(TASK_ARN_LABEL).cloned();
        for label in labels {
            if let Some(senders) = subscribers.get_mut(&label) {
                let event = ContainerEvent {
                    id: id.to_string(),
                    task_arn: task_arn.clone(),
                    kind: kind.clone(),
                };
                // A subscriber that went away is forgotten.
                senders.retain(|sender| sender.send(event.clone()).is_ok());
            }
        }
    }
}

#[async_trait]
impl ContainerRuntime for SimulatedRuntime {
    async fn ensure_image(&self, _image: &str) -> Result<Option<String>, RuntimeError> {
        Ok(None)
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let id = format!("sim{:061}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.with(|all| {
            all.insert(
                id.clone(),
                Container {
                    labels: spec.labels.clone(),
                    state: ContainerState::Created,
                },
            )
        });
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        tokio::time::sleep(self.start_delay).await;
        self.with(|all| match all.get_mut(id) {
            Some(container) => {
                container.state = ContainerState::Running;
                Ok(())
            }
            None => Err(RuntimeError::NotFound(id.to_string())),
        })?;
        self.changed();
        self.emit(id, ContainerEventKind::Started);
        Ok(())
    }

    async fn stop(&self, id: &str, _timeout: Duration) -> Result<(), RuntimeError> {
        let stopped = self.with(|all| match all.get_mut(id) {
            Some(container) if container.state == ContainerState::Running => {
                container.state = ContainerState::Exited {
                    exit_code: 0,
                    oom_killed: false,
                };
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(RuntimeError::NotFound(id.to_string())),
        })?;
        if stopped {
            self.changed();
            self.emit(id, ContainerEventKind::Died);
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.with(|all| {
            let container = all
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
            Ok(ContainerStatus {
                id: id.to_string(),
                state: container.state.clone(),
                health: Health::Unknown,
                ports: Vec::new(),
                image_digest: None,
                labels: container.labels.clone(),
            })
        })
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.with(|all| all.remove(id));
        self.changed();
        Ok(())
    }

    async fn remove_volumes_labelled(
        &self,
        _label: &str,
        _value: &str,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn list_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let ids: Vec<String> = self.with(|all| {
            all.iter()
                .filter(|(_, c)| c.labels.get(label).map(String::as_str) == Some(value))
                .map(|(id, _)| id.clone())
                .collect()
        });
        let mut statuses = Vec::with_capacity(ids.len());
        for id in ids {
            statuses.push(self.inspect(&id).await?);
        }
        Ok(statuses)
    }

    async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        self.inspect(id).await?;
        Ok(serde_json::json!({}))
    }

    async fn supports_task_cgroups(&self) -> bool {
        false
    }

    async fn bridge_gateway(&self) -> Option<String> {
        None
    }

    /// Simulated containers live in this process's memory.
    fn containers_outlive_agent(&self) -> bool {
        false
    }

    /// Nothing runs, so nothing is measured: thousands of simulated instances sample nothing.
    fn has_stats(&self) -> bool {
        false
    }

    fn events(&self, label: &str, value: &str) -> BoxStream<'static, ContainerEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((label.to_string(), value.to_string()))
            .or_default()
            .push(sender);
        UnboundedReceiverStream::new(receiver).boxed()
    }

    /// Simulated containers write nothing: the log is empty, and followed until the container
    /// is no longer running.
    fn follow_logs(
        &self,
        id: &str,
        _since_seconds: i64,
    ) -> BoxStream<'static, Result<LogFrame, RuntimeError>> {
        let containers = self.containers.clone();
        let changes = self.changes.subscribe();
        let id = id.to_string();
        futures_util::stream::unfold(changes, move |mut changes| {
            let containers = containers.clone();
            let id = id.clone();
            async move {
                loop {
                    let running = containers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(&id)
                        .is_some_and(|c| c.state == ContainerState::Running);
                    if !running || changes.changed().await.is_err() {
                        return None::<(Result<LogFrame, RuntimeError>, _)>;
                    }
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_followed_log_is_empty_and_ends_when_the_container_stops() {
        let runtime = SimulatedRuntime::new(Duration::ZERO);
        let id = runtime.create(&ContainerSpec::default()).await.unwrap();
        runtime.start(&id).await.unwrap();
        let mut log = runtime.follow_logs(&id, 0);
        let next = tokio::time::timeout(Duration::from_millis(50), log.next()).await;
        assert!(next.is_err(), "a running container's log stays open");
        runtime.stop(&id, Duration::ZERO).await.unwrap();
        assert!(log.next().await.is_none());
        assert!(runtime.follow_logs("missing", 0).next().await.is_none());
    }
}
