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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures_util::stream::BoxStream;
    use serde_json::{Value, json};

    use super::*;
    use crate::runtime::{ContainerSpec, ContainerStatus, LogFrame, RuntimeError};
    use crate::simulated::SimulatedRuntime;

    /// The simulated runtime, with stats a test sets per container.
    struct Measured {
        inner: SimulatedRuntime,
        stats: Mutex<BTreeMap<String, Value>>,
    }

    #[async_trait]
    impl ContainerRuntime for Measured {
        async fn ensure_image(&self, image: &str) -> Result<Option<String>, RuntimeError> {
            self.inner.ensure_image(image).await
        }
        async fn create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
            self.inner.create(spec).await
        }
        async fn start(&self, id: &str) -> Result<(), RuntimeError> {
            self.inner.start(id).await
        }
        async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
            self.inner.stop(id, timeout).await
        }
        async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
            self.inner.inspect(id).await
        }
        async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
            self.inner.remove(id).await
        }
        async fn remove_volumes_labelled(
            &self,
            label: &str,
            value: &str,
        ) -> Result<(), RuntimeError> {
            self.inner.remove_volumes_labelled(label, value).await
        }
        async fn list_labelled(
            &self,
            label: &str,
            value: &str,
        ) -> Result<Vec<ContainerStatus>, RuntimeError> {
            self.inner.list_labelled(label, value).await
        }
        async fn stats(&self, id: &str) -> Result<Value, RuntimeError> {
            Ok(self
                .stats
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .unwrap_or(json!({})))
        }
        async fn supports_task_cgroups(&self) -> bool {
            false
        }
        async fn bridge_gateway(&self) -> Option<String> {
            None
        }
        fn containers_outlive_agent(&self) -> bool {
            false
        }
        fn events(
            &self,
            label: &str,
            value: &str,
        ) -> BoxStream<'static, crate::runtime::ContainerEvent> {
            self.inner.events(label, value)
        }
        fn follow_logs(
            &self,
            id: &str,
            since_seconds: i64,
        ) -> BoxStream<'static, Result<LogFrame, RuntimeError>> {
            self.inner.follow_logs(id, since_seconds)
        }
    }

    fn sample(total: u64, system: u64) -> Value {
        json!({"cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system,
                             "online_cpus": 2},
               "memory_stats": {"usage": 4096}})
    }

    async fn container(runtime: &Measured, task: &str, name: &str, start: bool) -> String {
        let spec = ContainerSpec {
            name: format!("{task}-{name}"),
            labels: BTreeMap::from([
                (INSTANCE_LABEL.to_string(), "i-1".to_string()),
                (TASK_ARN_LABEL.to_string(), task.to_string()),
                (CONTAINER_NAME_LABEL.to_string(), name.to_string()),
            ]),
            ..ContainerSpec::default()
        };
        let id = runtime.create(&spec).await.unwrap();
        if start {
            runtime.start(&id).await.unwrap();
        }
        id
    }

    /// Running containers are sampled, CPU from the second sample on; containers not running
    /// are not, and containers gone are forgotten.
    #[tokio::test]
    async fn samples_running_containers_against_their_previous_sample() {
        let runtime = Measured {
            inner: SimulatedRuntime::new(Duration::ZERO),
            stats: Mutex::default(),
        };
        let web = container(&runtime, "arn:task/a", "web", true).await;
        let idle = container(&runtime, "arn:task/a", "idle", false).await;
        runtime.stats.lock().unwrap().extend([
            (web.clone(), sample(1_000, 10_000)),
            (idle.clone(), sample(0, 10_000)),
        ]);
        let mut previous = HashMap::new();
        let first = sample_all(&runtime, &mut previous).await;
        assert_eq!(first.len(), 1, "only running containers: {first:?}");
        assert_eq!(
            (
                first[0].container_name.as_str(),
                first[0].cpu_units,
                first[0].memory_bytes
            ),
            ("web", None, Some(4096))
        );

        runtime
            .stats
            .lock()
            .unwrap()
            .insert(web.clone(), sample(3_000, 14_000));
        let second = sample_all(&runtime, &mut previous).await;
        // Half of the host's time on 2 cores: one core.
        assert_eq!(second[0].cpu_units, Some(1024.0));
        assert_eq!(second[0].task_arn, "arn:task/a");

        runtime.remove(&web).await.unwrap();
        assert!(sample_all(&runtime, &mut previous).await.is_empty());
        assert!(previous.is_empty());
    }

    async fn sample_all(
        runtime: &Measured,
        previous: &mut HashMap<String, (Reading, Instant)>,
    ) -> Vec<ContainerStats> {
        super::sample(runtime, "i-1", previous).await
    }
}
