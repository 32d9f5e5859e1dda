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

pub async fn run(
    env: Arc<TaskEnvironment>,
    mut desired_sets: mpsc::Receiver<Vec<DesiredTask>>,
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
            set = desired_sets.recv() => {
                let Some(set) = set else { return };
                let named: BTreeSet<String> = set.iter().map(|t| t.task_arn.clone()).collect();
                for task in set {
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
                        tokio::spawn(async move {
                            actor.run(desired_receiver, event_receiver).await;
                            let _ = done.send(finished_arn);
                        });
                        tasks.insert(arn, Handle { desired, events: event_sender });
                    }
                }
                // A task the control plane no longer names is not tracked any more: dropping its
                // handle tells the actor to stop it.
                tasks.retain(|arn, _| named.contains(arn));
                finished.retain(|arn| named.contains(arn));
                if !orphans_checked {
                    orphans_checked = true;
                    remove_orphans(&env, &named).await;
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
                    for handle in tasks.values() {
                        let _ = handle.events.try_send(event.id.clone());
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
