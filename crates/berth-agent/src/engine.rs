//! The task engine: keeps one [`TaskActor`] per task the control plane gives this instance,
//! hands each the newest desired state and the engine events, and forgets tasks once they end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use berth_protocol::DesiredTask;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::runtime::{INSTANCE_LABEL, TASK_ARN_LABEL};
use crate::task::{TaskActor, TaskEnvironment};

struct Handle {
    desired: watch::Sender<DesiredTask>,
    events: mpsc::Sender<String>,
}

/// What the connection hands the engine: the whole desired set, or what changed in it since
/// the previous update.
#[derive(Debug)]
pub enum DesiredUpdate {
    Whole(Vec<DesiredTask>),
    Changed {
        tasks: Vec<DesiredTask>,
        removed: Vec<String>,
    },
}

pub async fn run(
    env: Arc<TaskEnvironment>,
    mut desired_updates: mpsc::Receiver<DesiredUpdate>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Subscribe before anything is started, so no event is missed.
    let mut events = env.runtime.events(INSTANCE_LABEL, &env.instance_id);
    let mut tasks: BTreeMap<String, Handle> = BTreeMap::new();
    // Tasks whose actor finished; a desired set may still name them until the control plane
    // has applied their end.
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let (done_sender, mut done) = mpsc::unbounded_channel::<String>();
    let mut orphans_checked = false;
    loop {
        tokio::select! {
            update = desired_updates.recv() => {
                let Some(update) = update else { return };
                let (changed, removed) = match update {
                    DesiredUpdate::Whole(set) => {
                        let named: BTreeSet<&String> = set.iter().map(|t| &t.task_arn).collect();
                        let gone: Vec<String> = tasks
                            .keys()
                            .chain(&finished)
                            .filter(|arn| !named.contains(arn))
                            .cloned()
                            .collect();
                        (set, gone)
                    }
                    DesiredUpdate::Changed { tasks, removed } => (tasks, removed),
                };
                for task in changed {
                    if let Some(handle) = tasks.get(&task.task_arn) {
                        handle.desired.send_replace(task);
                    } else if !finished.contains(&task.task_arn) {
                        let arn = task.task_arn.clone();
                        let (desired, desired_receiver) = watch::channel(task.clone());
                        let (event_sender, event_receiver) = mpsc::channel(64);
                        // Only tasks the control plane named before this engine ever heard from
                        // it can have containers already: a restarted agent's.
                        let may_adopt = !orphans_checked;
                        let actor = TaskActor::new(env.clone(), task, may_adopt);
                        let done = done_sender.clone();
                        let finished_arn = arn.clone();
                        let agent_stopping = shutdown.clone();
                        tokio::spawn(async move {
                            actor.run(desired_receiver, event_receiver, agent_stopping).await;
                            let _ = done.send(finished_arn);
                        });
                        tasks.insert(arn, Handle { desired, events: event_sender });
                    }
                }
                // A task the control plane no longer names is not tracked any more: dropping its
                // handle tells the actor to stop it.
                for arn in &removed {
                    tasks.remove(arn);
                    finished.remove(arn);
                }
                if !orphans_checked {
                    orphans_checked = true;
                    let known: BTreeSet<String> = tasks.keys().chain(&finished).cloned().collect();
                    remove_orphans(&env, &known).await;
                }
            }
            event = events.next() => {
                if event.is_none() {
                    tracing::warn!("container engine event stream ended; resubscribing");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    events = env.runtime.events(INSTANCE_LABEL, &env.instance_id);
                    continue;
                }
                if let Some(event) = event {
                    // An event goes to its task's actor; only one the engine cannot place (it
                    // names no task) goes to every actor, each of which knows its containers.
                    match event.task_arn.as_ref().and_then(|arn| tasks.get(arn)) {
                        Some(handle) => {
                            let _ = handle.events.try_send(event.id);
                        }
                        None if event.task_arn.is_none() => {
                            for handle in tasks.values() {
                                let _ = handle.events.try_send(event.id.clone());
                            }
                        }
                        None => {}
                    }
                }
            }
            Some(arn) = done.recv() => {
                tasks.remove(&arn);
                finished.insert(arn);
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Containers this instance created for tasks the control plane no longer knows (it forgot
/// them while the agent was away): stopped and removed, so nothing runs untracked.
async fn remove_orphans(env: &TaskEnvironment, known: &BTreeSet<String>) {
    let Ok(containers) = env
        .runtime
        .list_labelled(INSTANCE_LABEL, &env.instance_id)
        .await
    else {
        return;
    };
    for container in containers {
        let task = container
            .labels
            .get(TASK_ARN_LABEL)
            .cloned()
            .unwrap_or_default();
        if !known.contains(&task) {
            tracing::info!(container = %container.id, %task, "removing a container of an unknown task");
            let _ = env
                .runtime
                .stop(&container.id, Duration::from_secs(10))
                .await;
            let _ = env.runtime.remove(&container.id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_ecs::lifecycle::DesiredStatus;

    use super::*;
    use crate::runtime::{ContainerRuntime, ContainerState};
    use crate::simulated::SimulatedRuntime;

    fn desired(id: char) -> DesiredTask {
        serde_json::from_value(serde_json::json!({
            "taskArn": format!("arn:aws:ecs:us-east-1:000000000000:task/default/{}", id.to_string().repeat(32)),
            "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "desiredStatus": DesiredStatus::Running.as_str(),
            "taskDefinition": {"family": "web", "revision": 1,
                               "containerDefinitions": [{"name": "web", "image": "berth-demo:latest", "memory": 32}]},
            "overrides": {}
        }))
        .unwrap()
    }

    async fn running(runtime: &SimulatedRuntime, task: &DesiredTask) -> bool {
        runtime
            .list_labelled(TASK_ARN_LABEL, &task.task_arn)
            .await
            .unwrap()
            .iter()
            .any(|c| c.state == ContainerState::Running)
    }

    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        for _ in 0..300 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// A whole set starts its tasks; a change adds one without touching the others and a
    /// removal stops just the task it names.
    #[tokio::test]
    async fn applies_whole_sets_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(SimulatedRuntime::new(Duration::ZERO));
        let env = crate::task::tests::environment(dir.path(), runtime.clone());
        let (updates, receiver) = mpsc::channel(4);
        let (_shutdown, stopping) = watch::channel(false);
        let engine = tokio::spawn(run(env, receiver, stopping));
        let (a, b) = (desired('a'), desired('b'));

        updates
            .send(DesiredUpdate::Whole(vec![a.clone()]))
            .await
            .unwrap();
        until("a to run", async || running(&runtime, &a).await).await;
        updates
            .send(DesiredUpdate::Changed {
                tasks: vec![b.clone()],
                removed: Vec::new(),
            })
            .await
            .unwrap();
        until("b to run", async || running(&runtime, &b).await).await;
        assert!(
            running(&runtime, &a).await,
            "a change leaves the other tasks be"
        );
        updates
            .send(DesiredUpdate::Changed {
                tasks: Vec::new(),
                removed: vec![a.task_arn.clone()],
            })
            .await
            .unwrap();
        until("a to stop", async || !running(&runtime, &a).await).await;
        assert!(running(&runtime, &b).await);
        // A whole set that no longer names b stops it too.
        updates
            .send(DesiredUpdate::Whole(Vec::new()))
            .await
            .unwrap();
        until("b to stop", async || !running(&runtime, &b).await).await;
        drop(updates);
        engine.await.unwrap();
    }

    /// Stopping the agent leaves its tasks running, for the next agent to adopt.
    #[tokio::test]
    async fn tasks_outlive_the_agent_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(SimulatedRuntime::new(Duration::ZERO));
        let env = crate::task::tests::environment(dir.path(), runtime.clone());
        let (updates, receiver) = mpsc::channel(4);
        let (stop, stopping) = watch::channel(false);
        // Every task actor holds the environment: once the engine's and theirs are dropped,
        // each has finished whatever it does when the agent stops.
        let held = env.clone();
        let engine = tokio::spawn(run(env, receiver, stopping));
        let a = desired('a');
        updates
            .send(DesiredUpdate::Whole(vec![a.clone()]))
            .await
            .unwrap();
        until("a to run", async || running(&runtime, &a).await).await;
        stop.send(true).unwrap();
        engine.await.unwrap();
        until("the task actors to finish", async || {
            Arc::strong_count(&held) == 1
        })
        .await;
        assert!(
            running(&runtime, &a).await,
            "the agent stopping does not stop its tasks"
        );
    }
}
