//! The region's container metrics. Agents send what their running containers used every
//! metric period (`AgentMessage::Stats`); [`ContainerUsage`] keeps each instance's latest
//! report in memory (Prometheus reads it too), and [`run`] publishes, once per period on the
//! clock's period boundaries, every cluster's `AWS/ECS` (and, with Container Insights,
//! `ECS/ContainerInsights`) datapoints through the region's [`MetricSink`] — the math is
//! `berth_container_metrics::publish`. Reports older than two periods count as gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use berth_container_metrics::publish::{self, ClusterPeriod, Point, ServiceCounts, TaskUsage};
use berth_ecs::status::ServiceStatus;
use berth_protocol::ContainerStats;
use futures_util::future::BoxFuture;

use crate::ControlPlane;
use crate::state::{clusters, services, tasks};

/// Where the datapoints go (CloudWatch's metric store, in the binary).
pub trait MetricSink: Send + Sync + 'static {
    /// Publishes `points` of `region` stamped `timestamp_ms`, at `period_seconds` resolution.
    fn publish(
        &self,
        region: &str,
        timestamp_ms: i64,
        period_seconds: u64,
        points: Vec<Point>,
    ) -> BoxFuture<'static, ()>;
}

/// One instance's latest report.
struct Report {
    cluster: String,
    instance_arn: String,
    received: Instant,
    containers: Vec<ContainerStats>,
}

/// One container's latest usage, as Prometheus shows it.
#[derive(Debug, Clone)]
pub struct ContainerSample {
    pub cluster: String,
    pub task_arn: String,
    pub stats: ContainerStats,
}

/// The latest report of every connected instance of the region.
#[derive(Default)]
pub struct ContainerUsage {
    reports: Mutex<HashMap<String, Report>>,
    /// Each reported task's service (`None`: not a service's), learnt by the publisher.
    services: Mutex<HashMap<String, Option<String>>>,
}

impl ContainerUsage {
    pub fn record(
        &self,
        cluster: &str,
        instance_id: &str,
        instance_arn: &str,
        containers: Vec<ContainerStats>,
    ) {
        self.lock().insert(
            instance_id.to_string(),
            Report {
                cluster: cluster.to_string(),
                instance_arn: instance_arn.to_string(),
                received: Instant::now(),
                containers,
            },
        );
    }

    /// The instance's agent went away: its containers' usage is unknown from now on.
    pub fn forget(&self, instance_id: &str) {
        self.lock().remove(instance_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Report>> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every container reported within `max_age`, with the reporting instance's cluster and
    /// ARN.
    fn fresh(&self, max_age: Duration) -> Vec<(String, String, ContainerStats)> {
        let reports = self.lock();
        reports
            .values()
            .filter(|report| report.received.elapsed() <= max_age)
            .flat_map(|report| {
                report.containers.iter().map(|stats| {
                    (
                        report.cluster.clone(),
                        report.instance_arn.clone(),
                        stats.clone(),
                    )
                })
            })
            .collect()
    }

    /// Every container reported within `max_age`, for Prometheus, with its task's service
    /// once the publisher has learnt it.
    pub fn samples(&self, max_age: Duration) -> Vec<(ContainerSample, Option<String>)> {
        let services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let mut samples: Vec<_> = self
            .fresh(max_age)
            .into_iter()
            .map(|(cluster, _, stats)| {
                let service = services.get(&stats.task_arn).cloned().flatten();
                (
                    ContainerSample {
                        cluster,
                        task_arn: stats.task_arn.clone(),
                        stats,
                    },
                    service,
                )
            })
            .collect();
        samples.sort_by(|(a, _), (b, _)| {
            (&a.cluster, &a.task_arn, &a.stats.container_name).cmp(&(
                &b.cluster,
                &b.task_arn,
                &b.stats.container_name,
            ))
        });
        samples
    }
}

/// What a reported task is, which never changes while it runs.
#[derive(Debug, Clone)]
struct TaskFacts {
    instance_arn: String,
    family: String,
    service: Option<String>,
    reserved_cpu: i64,
    reserved_memory_mib: i64,
}

/// Publishes the region's container metrics every `cp.metric_period` until the task is
/// aborted.
pub async fn run(cp: Arc<ControlPlane>, region: String) {
    let Some(sink) = cp.metric_sink.clone() else {
        return;
    };
    let period = cp.metric_period.as_secs().max(1);
    let mut facts: HashMap<String, TaskFacts> = HashMap::new();
    loop {
        // The next boundary of the clock's periods; the period that just ended is stamped
        // with its start, as CloudWatch aligns periods.
        let now = cp.clock.now();
        let boundary = ((now / period as f64).floor() as i64 + 1) * period as i64;
        tokio::time::sleep(Duration::from_secs_f64((boundary as f64 - now).max(0.0))).await;
        let start_ms = (boundary - period as i64) * 1000;
        let points = period_points(&cp, &mut facts).await;
        if !points.is_empty() {
            sink.publish(&region, start_ms, period, points).await;
        }
    }
}

/// Every cluster's datapoints for the period that just ended.
async fn period_points(cp: &ControlPlane, facts: &mut HashMap<String, TaskFacts>) -> Vec<Point> {
    let max_age = cp.metric_period * 2 + Duration::from_secs(1);
    let reported = cp.usage.fresh(max_age);
    // Per cluster, per task: its containers' stats.
    let mut by_cluster: BTreeMap<String, BTreeMap<String, (String, Vec<ContainerStats>)>> =
        BTreeMap::new();
    for (cluster, instance_arn, stats) in reported {
        by_cluster
            .entry(cluster)
            .or_default()
            .entry(stats.task_arn.clone())
            .or_insert_with(|| (instance_arn, Vec::new()))
            .1
            .push(stats);
    }
    let live: HashSet<&String> = by_cluster.values().flat_map(|tasks| tasks.keys()).collect();
    facts.retain(|arn, _| live.contains(arn));
    for (cluster, tasks) in &by_cluster {
        for arn in tasks.keys() {
            if !facts.contains_key(arn)
                && let Some(learnt) = task_facts(cp, cluster, arn).await
            {
                facts.insert(arn.clone(), learnt);
            }
        }
    }
    {
        let mut services = cp
            .usage
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *services = facts
            .iter()
            .map(|(arn, facts)| (arn.clone(), facts.service.clone()))
            .collect();
    }
    let mut points = Vec::new();
    for (name, running_tasks, capacity) in cp.views.capacities() {
        let reported = by_cluster.remove(&name).unwrap_or_default();
        if running_tasks == 0 && reported.is_empty() {
            continue;
        }
        let tasks: Vec<TaskUsage> = reported
            .iter()
            .filter_map(|(arn, (instance_arn, containers))| {
                let facts = facts.get(arn).filter(|f| &f.instance_arn == instance_arn)?;
                Some(task_usage(arn, facts, containers))
            })
            .collect();
        let insights = insights_setting(cp, &name).await;
        let container_insights = matches!(insights.as_deref(), Some("enabled" | "enhanced"));
        let services = match container_insights {
            true => service_counts(cp, &name).await,
            false => Vec::new(),
        };
        points.extend(publish::cluster_points(&ClusterPeriod {
            name,
            capacity,
            running_tasks,
            tasks,
            container_insights,
            enhanced: insights.as_deref() == Some("enhanced"),
            services,
        }));
    }
    points
}

fn task_usage(arn: &str, facts: &TaskFacts, containers: &[ContainerStats]) -> TaskUsage {
    fn total<T: std::iter::Sum<T>>(values: impl Iterator<Item = Option<T>>) -> Option<T> {
        let present: Vec<T> = values.flatten().collect();
        (!present.is_empty()).then(|| present.into_iter().sum())
    }
    TaskUsage {
        task_id: tasks::task_id(arn).to_string(),
        family: facts.family.clone(),
        service: facts.service.clone(),
        reserved_cpu: facts.reserved_cpu,
        reserved_memory_mib: facts.reserved_memory_mib,
        cpu_units: total(containers.iter().map(|c| c.cpu_units)),
        memory_bytes: total(containers.iter().map(|c| c.memory_bytes)),
        network_rx_bytes_per_second: total(
            containers.iter().map(|c| c.network_rx_bytes_per_second),
        ),
        network_tx_bytes_per_second: total(
            containers.iter().map(|c| c.network_tx_bytes_per_second),
        ),
        storage_read_bytes: total(containers.iter().map(|c| c.storage_read_bytes)),
        storage_write_bytes: total(containers.iter().map(|c| c.storage_write_bytes)),
    }
}

/// A reported task's facts from its record and task definition; `None` for a task the
/// region does not know (any more).
async fn task_facts(cp: &ControlPlane, cluster: &str, arn: &str) -> Option<TaskFacts> {
    let task = tasks::fetch(cp, cluster, tasks::task_id(arn))
        .await
        .ok()??;
    let definition = tasks::fetch_definition(cp, &task).await.ok()?;
    let overrides = task.overrides.clone().unwrap_or_default();
    let reserved_cpu = berth_ecs::placement::demand_of(&definition, &overrides).cpu;
    // ECS's utilization metrics count a container's soft limit when it has one.
    let task_memory = overrides
        .memory
        .as_deref()
        .or(definition.memory.as_deref())
        .and_then(|m| berth_ecs::task_definition::parse_task_memory(m).ok());
    let reserved_memory_mib = task_memory.unwrap_or_else(|| {
        berth_ecs::placement::effective_containers(&definition, &overrides)
            .iter()
            .map(|c| i64::from(c.memory_reservation.or(c.memory).unwrap_or(0)))
            .sum()
    });
    Some(TaskFacts {
        instance_arn: task.container_instance_arn.clone().unwrap_or_default(),
        family: definition.family.clone().unwrap_or_default(),
        service: tasks::service_of(&task).map(str::to_string),
        reserved_cpu,
        reserved_memory_mib,
    })
}

/// The cluster's `containerInsights` setting (`enabled`, `enhanced` or `disabled`).
async fn insights_setting(cp: &ControlPlane, cluster: &str) -> Option<String> {
    let cluster = clusters::fetch(cp, cluster).await.ok()??;
    cluster
        .settings
        .into_iter()
        .flatten()
        .find(|setting| setting.name.as_deref() == Some("containerInsights"))?
        .value
}

async fn service_counts(cp: &ControlPlane, cluster: &str) -> Vec<ServiceCounts> {
    let active = |service: &berth_ecs_wire::Service| {
        service.status.as_deref() == Some(ServiceStatus::Active.as_str())
    };
    let Ok((services, _)) = services::page(cp, cluster, None, usize::MAX, active).await else {
        return Vec::new();
    };
    services
        .into_iter()
        .map(|service| ServiceCounts {
            name: service.service_name.clone().unwrap_or_default(),
            desired: service.desired_count.unwrap_or(0).into(),
            running: service.running_count.unwrap_or(0).into(),
            pending: service.pending_count.unwrap_or(0).into(),
            deployments: service.deployments.as_ref().map_or(0, |d| d.len() as i64),
        })
        .collect()
}
