//! Container stats for CloudWatch: every metric period (the control plane names it when the
//! agent registers) the sampler asks the engine for one sample of each running container of
//! this instance (Docker's one-shot stats call, a few milliseconds each), turns it into what
//! the container used since its previous sample (`berth_container_metrics::docker`) and hands
//! the batch to the connection, which sends it to the control plane. It runs on its own task,
//! never on a task's launch path; a slow or failing engine only costs a period's sample.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use berth_container_metrics::docker::{self, Reading};
use berth_protocol::ContainerStats;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::runtime::{
    CONTAINER_NAME_LABEL, ContainerRuntime, ContainerState, INSTANCE_LABEL, TASK_ARN_LABEL,
};

/// How many stats calls are in flight at once.
const CONCURRENT_SAMPLES: usize = 8;

/// Samples every `period` (while the control plane has named one) and publishes each batch on
/// `batches`, until `shutdown` fires.
pub async fn run(
    runtime: Arc<dyn ContainerRuntime>,
    instance_id: String,
    mut period: watch::Receiver<Option<Duration>>,
    batches: watch::Sender<Arc<Vec<ContainerStats>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut previous: HashMap<String, (Reading, Instant)> = HashMap::new();
    loop {
        let every = loop {
            if let Some(every) = *period.borrow_and_update() {
                break every;
            }
            tokio::select! {
                changed = period.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                changed = period.changed() => {
                    if changed.is_err() { return }
                    break;
                }
                _ = shutdown.changed() => return,
            }
            let batch = sample(&*runtime, &instance_id, &mut previous).await;
            if !batch.is_empty() {
                batches.send_replace(Arc::new(batch));
            }
        }
    }
}

/// One sample of every running container of the instance; `previous` keeps each container's
/// last reading (containers gone are forgotten).
pub async fn sample(
    runtime: &dyn ContainerRuntime,
    instance_id: &str,
    previous: &mut HashMap<String, (Reading, Instant)>,
) -> Vec<ContainerStats> {
    let containers = match runtime.list_labelled(INSTANCE_LABEL, instance_id).await {
        Ok(containers) => containers,
        Err(err) => {
            tracing::debug!(error = %err, "listing containers for stats");
            return Vec::new();
        }
    };
    let running: Vec<_> = containers
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .filter_map(|c| {
            let task = c.labels.get(TASK_ARN_LABEL)?.clone();
            let name = c.labels.get(CONTAINER_NAME_LABEL)?.clone();
            Some((c.id, task, name))
        })
        .collect();
    let samples: Vec<_> = futures_util::stream::iter(running)
        .map(|(id, task, name)| async move {
            let stats = runtime.stats(&id).await;
            (id, task, name, stats, Instant::now())
        })
        .buffer_unordered(CONCURRENT_SAMPLES)
        .collect()
        .await;
    let mut seen = HashMap::with_capacity(samples.len());
    let mut batch = Vec::with_capacity(samples.len());
    for (id, task_arn, container_name, stats, at) in samples {
        let Some(reading) = stats.ok().as_ref().and_then(docker::reading) else {
            continue;
        };
        let before = previous.get(&id);
        let elapsed = before.map_or(0.0, |(_, then)| at.duration_since(*then).as_secs_f64());
        let used = docker::usage(before.map(|(r, _)| r), &reading, elapsed);
        batch.push(ContainerStats {
            task_arn,
            container_name,
            cpu_units: used.cpu_units,
            memory_bytes: used.memory_bytes,
            network_rx_bytes_per_second: used.network_rx_bytes_per_second,
            network_tx_bytes_per_second: used.network_tx_bytes_per_second,
            storage_read_bytes: used.storage_read_bytes,
            storage_write_bytes: used.storage_write_bytes,
        });
        seen.insert(id, (reading, at));
    }
    *previous = seen;
    batch.sort_by(|a, b| (&a.task_arn, &a.container_name).cmp(&(&b.task_arn, &b.container_name)));
    batch
}
