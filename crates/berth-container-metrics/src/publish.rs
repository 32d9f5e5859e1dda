//! One metric period of a cluster → the datapoints ECS publishes for it.
//!
//! `AWS/ECS` (as the ECS developer guide defines them):
//! - `CPUUtilization`, `MemoryUtilization` per `{ClusterName}`: the CPU units (MiB) all tasks
//!   of the cluster used × 100 / the CPU units (MiB) registered by its ACTIVE and DRAINING
//!   container instances.
//! - the same per `{ClusterName, ServiceName}`: what the service's tasks used × 100 / what
//!   their task definitions specify (task-level `cpu`/`memory`, else the containers' sum; for
//!   memory a container's soft limit `memoryReservation` when set, else its hard `memory`).
//!   The Average statistic is that ratio; Minimum and Maximum are the utilization of the
//!   service's least and most loaded task. Tasks that specify no CPU (or memory) are left out
//!   of that metric: there is nothing to be a percentage of.
//! - `CPUReservation`, `MemoryReservation` per `{ClusterName}`: the CPU units (MiB) reserved by
//!   tasks on the ACTIVE and DRAINING instances × 100 / what those instances registered.
//!
//! Nothing is published for a cluster or service without running tasks, as on ECS.
//!
//! `ECS/ContainerInsights` (when the cluster's `containerInsights` setting is `enabled` or
//! `enhanced`): per `{ClusterName}`, `{ClusterName, ServiceName}` and
//! `{ClusterName, TaskDefinitionFamily}` one value per task of `CpuUtilized`, `CpuReserved`
//! (CPU units), `MemoryUtilized`, `MemoryReserved` (Megabytes), `NetworkRxBytes`,
//! `NetworkTxBytes` (Bytes/Second), `StorageReadBytes`, `StorageWriteBytes` (Bytes, in the
//! period) — Container Insights' task events, whose Sum is the group's total and Average the
//! mean task's; per `{ClusterName}` also `TaskCount`, `ServiceCount`, `ContainerInstanceCount`;
//! per `{ClusterName, ServiceName}` of a service with running tasks `RunningTaskCount`,
//! `DesiredTaskCount`, `PendingTaskCount` and `DeploymentCount` (Count). With enhanced
//! observability (`enhanced`), the per-task measures also per
//! `{ClusterName, TaskDefinitionFamily, TaskId}`.

use std::collections::BTreeMap;

pub const ECS: &str = "AWS/ECS";
pub const INSIGHTS: &str = "ECS/ContainerInsights";

const MIB: f64 = 1024.0 * 1024.0;

/// A metric's dimensions, in the order ECS names them.
pub type Dimensions = Vec<(&'static str, String)>;

/// What one task used in the period, with what it reserves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskUsage {
    pub task_id: String,
    pub family: String,
    /// The service that started it, if any.
    pub service: Option<String>,
    /// CPU units and MiB its task definition specifies.
    pub reserved_cpu: i64,
    pub reserved_memory_mib: i64,
    /// Summed over its containers that reported them.
    pub cpu_units: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub network_rx_bytes_per_second: Option<f64>,
    pub network_tx_bytes_per_second: Option<f64>,
    pub storage_read_bytes: Option<u64>,
    pub storage_write_bytes: Option<u64>,
}

/// The cluster's ACTIVE and DRAINING container instances, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub instances: usize,
    pub registered_cpu: i64,
    pub registered_memory_mib: i64,
    pub remaining_cpu: i64,
    pub remaining_memory_mib: i64,
}

/// An ACTIVE service's counts, for Container Insights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounts {
    pub name: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub deployments: i64,
}

/// Everything about one cluster in one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterPeriod {
    pub name: String,
    pub capacity: Capacity,
    pub running_tasks: usize,
    /// The running tasks whose agents reported usage.
    pub tasks: Vec<TaskUsage>,
    pub container_insights: bool,
    /// Container Insights with enhanced observability (`enhanced`): also each task's own.
    pub enhanced: bool,
    pub services: Vec<ServiceCounts>,
}

/// A datapoint's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistics {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl Statistics {
    /// One value.
    pub fn single(value: f64) -> Statistics {
        Statistics {
            sample_count: 1.0,
            sum: value,
            minimum: value,
            maximum: value,
        }
    }

    fn of(values: &[f64]) -> Option<Statistics> {
        let (first, rest) = values.split_first()?;
        let mut statistics = Statistics::single(*first);
        for value in rest {
            statistics.sample_count += 1.0;
            statistics.sum += value;
            statistics.minimum = statistics.minimum.min(*value);
            statistics.maximum = statistics.maximum.max(*value);
        }
        Some(statistics)
    }
}

/// One datapoint to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub namespace: &'static str,
    pub name: &'static str,
    /// In the order ECS names them.
    pub dimensions: Vec<(&'static str, String)>,
    pub unit: &'static str,
    pub statistics: Statistics,
    /// The values themselves when the point is several (Container Insights' per-task values),
    /// so that percentiles work; empty for a statistic set.
    pub values: Vec<f64>,
}

fn percent(used: f64, of: f64) -> f64 {
    used * 100.0 / of
}

/// The datapoints of one cluster for one period.
pub fn cluster_points(cluster: &ClusterPeriod) -> Vec<Point> {
    let mut points = Vec::new();
    if cluster.running_tasks == 0 && cluster.tasks.is_empty() {
        return points;
    }
    let name = &cluster.name;
    let of_cluster = || vec![("ClusterName", name.clone())];
    let set = |metric: &'static str, dimensions, statistics| Point {
        namespace: ECS,
        name: metric,
        dimensions,
        unit: "Percent",
        statistics,
        values: Vec::new(),
    };
    let capacity = cluster.capacity;
    if cluster.running_tasks > 0 {
        if capacity.registered_cpu > 0 {
            let reserved = (capacity.registered_cpu - capacity.remaining_cpu).max(0) as f64;
            let value = percent(reserved, capacity.registered_cpu as f64);
            points.push(set(
                "CPUReservation",
                of_cluster(),
                Statistics::single(value),
            ));
        }
        if capacity.registered_memory_mib > 0 {
            let reserved =
                (capacity.registered_memory_mib - capacity.remaining_memory_mib).max(0) as f64;
            let value = percent(reserved, capacity.registered_memory_mib as f64);
            points.push(set(
                "MemoryReservation",
                of_cluster(),
                Statistics::single(value),
            ));
        }
    }
    let cpu: Vec<f64> = cluster.tasks.iter().filter_map(|t| t.cpu_units).collect();
    if !cpu.is_empty() && capacity.registered_cpu > 0 {
        let value = percent(cpu.iter().sum(), capacity.registered_cpu as f64);
        points.push(set(
            "CPUUtilization",
            of_cluster(),
            Statistics::single(value),
        ));
    }
    let memory: Vec<f64> = cluster
        .tasks
        .iter()
        .filter_map(|t| Some(t.memory_bytes? as f64 / MIB))
        .collect();
    if !memory.is_empty() && capacity.registered_memory_mib > 0 {
        let value = percent(memory.iter().sum(), capacity.registered_memory_mib as f64);
        points.push(set(
            "MemoryUtilization",
            of_cluster(),
            Statistics::single(value),
        ));
    }
    let mut services: BTreeMap<&str, Vec<&TaskUsage>> = BTreeMap::new();
    for task in &cluster.tasks {
        if let Some(service) = &task.service {
            services.entry(service).or_default().push(task);
        }
    }
    for (service, tasks) in &services {
        let dimensions = || {
            vec![
                ("ClusterName", name.clone()),
                ("ServiceName", (*service).to_string()),
            ]
        };
        let cpu = tasks
            .iter()
            .filter(|t| t.reserved_cpu > 0)
            .filter_map(|t| Some((t.cpu_units?, t.reserved_cpu as f64)));
        if let Some(statistics) = utilization(cpu) {
            points.push(set("CPUUtilization", dimensions(), statistics));
        }
        let memory = tasks
            .iter()
            .filter(|t| t.reserved_memory_mib > 0)
            .filter_map(|t| Some((t.memory_bytes? as f64 / MIB, t.reserved_memory_mib as f64)));
        if let Some(statistics) = utilization(memory) {
            points.push(set("MemoryUtilization", dimensions(), statistics));
        }
    }
    if cluster.container_insights {
        insights(cluster, &services, &mut points);
    }
    points
}

/// A service's utilization from its tasks' (used, reserved): the Average is the whole
/// service's ratio, Minimum and Maximum its extreme tasks'.
fn utilization(tasks: impl Iterator<Item = (f64, f64)>) -> Option<Statistics> {
    let mut used = 0.0;
    let mut reserved = 0.0;
    let mut extremes: Option<(f64, f64)> = None;
    for (task_used, task_reserved) in tasks {
        used += task_used;
        reserved += task_reserved;
        let ratio = percent(task_used, task_reserved);
        extremes = Some(match extremes {
            Some((low, high)) => (low.min(ratio), high.max(ratio)),
            None => (ratio, ratio),
        });
    }
    let (minimum, maximum) = extremes?;
    Some(Statistics {
        sample_count: 1.0,
        sum: percent(used, reserved),
        minimum,
        maximum,
    })
}

fn insights(
    cluster: &ClusterPeriod,
    services: &BTreeMap<&str, Vec<&TaskUsage>>,
    points: &mut Vec<Point>,
) {
    let name = &cluster.name;
    let mut families: BTreeMap<&str, Vec<&TaskUsage>> = BTreeMap::new();
    for task in &cluster.tasks {
        families.entry(&task.family).or_default().push(task);
    }
    let everything: Vec<&TaskUsage> = cluster.tasks.iter().collect();
    let mut groups: Vec<(Dimensions, &[&TaskUsage])> =
        vec![(vec![("ClusterName", name.clone())], &everything)];
    for (service, tasks) in services {
        groups.push((
            vec![
                ("ClusterName", name.clone()),
                ("ServiceName", (*service).to_string()),
            ],
            tasks,
        ));
    }
    for (family, tasks) in &families {
        groups.push((
            vec![
                ("ClusterName", name.clone()),
                ("TaskDefinitionFamily", (*family).to_string()),
            ],
            tasks,
        ));
    }
    if cluster.enhanced {
        for task in &everything {
            groups.push((
                vec![
                    ("ClusterName", name.clone()),
                    ("TaskDefinitionFamily", task.family.clone()),
                    ("TaskId", task.task_id.clone()),
                ],
                std::slice::from_ref(task),
            ));
        }
    }
    type Measure = fn(&TaskUsage) -> Option<f64>;
    let measures: [(&'static str, &'static str, Measure); 8] = [
        ("CpuUtilized", "None", |t| t.cpu_units),
        ("CpuReserved", "None", |t| Some(t.reserved_cpu as f64)),
        ("MemoryUtilized", "Megabytes", |t| {
            Some(t.memory_bytes? as f64 / MIB)
        }),
        ("MemoryReserved", "Megabytes", |t| {
            Some(t.reserved_memory_mib as f64)
        }),
        ("NetworkRxBytes", "Bytes/Second", |t| {
            t.network_rx_bytes_per_second
        }),
        ("NetworkTxBytes", "Bytes/Second", |t| {
            t.network_tx_bytes_per_second
        }),
        ("StorageReadBytes", "Bytes", |t| {
            Some(t.storage_read_bytes? as f64)
        }),
        ("StorageWriteBytes", "Bytes", |t| {
            Some(t.storage_write_bytes? as f64)
        }),
    ];
    for (dimensions, tasks) in &groups {
        for (metric, unit, measure) in measures {
            let values: Vec<f64> = tasks.iter().filter_map(|t| measure(t)).collect();
            if let Some(statistics) = Statistics::of(&values) {
                points.push(Point {
                    namespace: INSIGHTS,
                    name: metric,
                    dimensions: dimensions.clone(),
                    unit,
                    statistics,
                    values,
                });
            }
        }
    }
    let count = |metric: &'static str, dimensions: Vec<(&'static str, String)>, value: f64| Point {
        namespace: INSIGHTS,
        name: metric,
        dimensions,
        unit: "Count",
        statistics: Statistics::single(value),
        values: Vec::new(),
    };
    let of_cluster = || vec![("ClusterName", name.clone())];
    points.push(count(
        "TaskCount",
        of_cluster(),
        cluster.running_tasks as f64,
    ));
    points.push(count(
        "ServiceCount",
        of_cluster(),
        cluster.services.len() as f64,
    ));
    points.push(count(
        "ContainerInstanceCount",
        of_cluster(),
        cluster.capacity.instances as f64,
    ));
    // As every Container Insights metric, only for services with running tasks.
    for service in cluster.services.iter().filter(|s| s.running > 0) {
        let dimensions = || {
            vec![
                ("ClusterName", name.clone()),
                ("ServiceName", service.name.clone()),
            ]
        };
        points.push(count(
            "RunningTaskCount",
            dimensions(),
            service.running as f64,
        ));
        points.push(count(
            "DesiredTaskCount",
            dimensions(),
            service.desired as f64,
        ));
        points.push(count(
            "PendingTaskCount",
            dimensions(),
            service.pending as f64,
        ));
        points.push(count(
            "DeploymentCount",
            dimensions(),
            service.deployments as f64,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, service: Option<&str>, cpu: f64, memory_mib: u64) -> TaskUsage {
        TaskUsage {
            task_id: id.into(),
            family: "web".into(),
            service: service.map(str::to_string),
            reserved_cpu: 512,
            reserved_memory_mib: 1024,
            cpu_units: Some(cpu),
            memory_bytes: Some(memory_mib * 1024 * 1024),
            ..TaskUsage::default()
        }
    }

    /// The developer guide's example: one c4.large (2,048 units, 3,768 MiB) and one task that
    /// specifies 512 units and 1,024 MiB, using all 2,048 units and 512 MiB.
    fn example() -> ClusterPeriod {
        ClusterPeriod {
            name: "prod".into(),
            capacity: Capacity {
                instances: 1,
                registered_cpu: 2048,
                registered_memory_mib: 3768,
                remaining_cpu: 2048 - 512,
                remaining_memory_mib: 3768 - 1024,
            },
            running_tasks: 1,
            tasks: vec![task("t1", Some("api"), 2048.0, 512)],
            ..ClusterPeriod::default()
        }
    }

    fn find<'a>(points: &'a [Point], name: &str, dimensions: &[(&str, &str)]) -> &'a Point {
        points
            .iter()
            .find(|p| {
                p.name == name
                    && p.dimensions.len() == dimensions.len()
                    && p.dimensions
                        .iter()
                        .zip(dimensions)
                        .all(|((n, v), (en, ev))| n == en && v == ev)
            })
            .unwrap_or_else(|| panic!("no {name} {dimensions:?} in {points:#?}"))
    }

    #[test]
    fn the_developer_guide_example() {
        let points = cluster_points(&example());
        let cluster = [("ClusterName", "prod")];
        let service = [("ClusterName", "prod"), ("ServiceName", "api")];
        assert_eq!(
            find(&points, "CPUUtilization", &service).statistics,
            Statistics::single(400.0)
        );
        assert_eq!(
            find(&points, "MemoryUtilization", &service).statistics,
            Statistics::single(50.0)
        );
        assert_eq!(
            find(&points, "CPUUtilization", &cluster).statistics,
            Statistics::single(100.0)
        );
        let memory = find(&points, "MemoryUtilization", &cluster);
        assert_eq!(memory.statistics.sum, 512.0 * 100.0 / 3768.0);
        assert_eq!(
            find(&points, "CPUReservation", &cluster).statistics,
            Statistics::single(25.0)
        );
        assert_eq!(
            find(&points, "MemoryReservation", &cluster).statistics.sum,
            1024.0 * 100.0 / 3768.0
        );
        assert!(
            points
                .iter()
                .all(|p| p.namespace == ECS && p.unit == "Percent")
        );
        assert_eq!(points.len(), 6, "no Container Insights unless enabled");
    }

    #[test]
    fn a_service_averages_over_its_reservations_with_extreme_tasks_as_min_and_max() {
        let mut period = example();
        period.capacity.registered_cpu = 4096;
        let mut big = task("t2", Some("api"), 256.0, 256);
        big.reserved_cpu = 1024;
        big.reserved_memory_mib = 2048;
        period.tasks = vec![task("t1", Some("api"), 256.0, 512), big];
        period.tasks.push(task("t3", None, 1024.0, 100));
        let points = cluster_points(&period);
        let service = [("ClusterName", "prod"), ("ServiceName", "api")];
        // (256 + 256) / (512 + 1024) = 33.3…%; t1 is at 50 %, t2 at 25 %.
        assert_eq!(
            find(&points, "CPUUtilization", &service).statistics,
            Statistics {
                sample_count: 1.0,
                sum: 512.0 * 100.0 / 1536.0,
                minimum: 25.0,
                maximum: 50.0
            }
        );
        // (512 + 256) / (1024 + 2048) = 25 %; both tasks are at 50 % and 12.5 %.
        assert_eq!(
            find(&points, "MemoryUtilization", &service).statistics,
            Statistics {
                sample_count: 1.0,
                sum: 25.0,
                minimum: 12.5,
                maximum: 50.0
            }
        );
        // The cluster counts every task, the task outside services too: 1536 / 4096.
        assert_eq!(
            find(&points, "CPUUtilization", &[("ClusterName", "prod")]).statistics,
            Statistics::single(37.5)
        );
    }

    #[test]
    fn nothing_for_idle_clusters_or_tasks_without_reservations() {
        let mut idle = example();
        idle.running_tasks = 0;
        idle.tasks.clear();
        assert!(cluster_points(&idle).is_empty());

        let mut unreserved = example();
        unreserved.tasks[0].reserved_cpu = 0;
        unreserved.tasks[0].cpu_units = Some(100.0);
        let points = cluster_points(&unreserved);
        let service = [("ClusterName", "prod"), ("ServiceName", "api")];
        assert!(
            !points
                .iter()
                .any(|p| p.name == "CPUUtilization" && p.dimensions.len() == 2)
        );
        find(&points, "MemoryUtilization", &service);

        // Tasks running but no usage reported yet (the first sample has no CPU figure): the
        // reservations are published, utilization is not.
        let mut unreported = example();
        unreported.tasks[0].cpu_units = None;
        unreported.tasks[0].memory_bytes = None;
        let names: Vec<&str> = cluster_points(&unreported).iter().map(|p| p.name).collect();
        assert_eq!(names, ["CPUReservation", "MemoryReservation"]);
    }

    #[test]
    fn container_insights_per_cluster_service_and_family() {
        let mut period = example();
        period.container_insights = true;
        let mut other = task("t2", None, 100.0, 64);
        other.family = "batch".into();
        other.network_rx_bytes_per_second = Some(10.0);
        other.storage_write_bytes = Some(4096);
        period.tasks[0].network_rx_bytes_per_second = Some(30.0);
        period.tasks.push(other);
        period.running_tasks = 2;
        period.services = vec![ServiceCounts {
            name: "api".into(),
            desired: 2,
            running: 1,
            pending: 1,
            deployments: 1,
        }];
        let points = cluster_points(&period);
        let insights: Vec<&Point> = points.iter().filter(|p| p.namespace == INSIGHTS).collect();
        let cluster = [("ClusterName", "prod")];
        let cpu = find(&points, "CpuUtilized", &cluster);
        assert_eq!(cpu.namespace, INSIGHTS);
        assert_eq!(cpu.unit, "None");
        assert_eq!(cpu.values, [2048.0, 100.0]);
        assert_eq!(cpu.statistics.sum, 2148.0);
        assert_eq!(cpu.statistics.sample_count, 2.0);
        let rx = find(&points, "NetworkRxBytes", &cluster);
        assert_eq!((rx.unit, rx.statistics.sum), ("Bytes/Second", 40.0));
        let written = find(&points, "StorageWriteBytes", &cluster);
        assert_eq!(written.values, [4096.0], "only tasks that measured it");
        let family = find(
            &points,
            "MemoryUtilized",
            &[("ClusterName", "prod"), ("TaskDefinitionFamily", "batch")],
        );
        assert_eq!(
            (family.unit, family.values.as_slice()),
            ("Megabytes", &[64.0][..])
        );
        let service = [("ClusterName", "prod"), ("ServiceName", "api")];
        assert_eq!(find(&points, "CpuReserved", &service).values, [512.0]);
        assert_eq!(
            find(&points, "MemoryReserved", &service).statistics.sum,
            1024.0
        );
        for (name, value) in [
            ("RunningTaskCount", 1.0),
            ("DesiredTaskCount", 2.0),
            ("PendingTaskCount", 1.0),
            ("DeploymentCount", 1.0),
        ] {
            let point = find(&points, name, &service);
            assert_eq!((point.unit, point.statistics.sum), ("Count", value));
        }
        for (name, value) in [
            ("TaskCount", 2.0),
            ("ServiceCount", 1.0),
            ("ContainerInstanceCount", 1.0),
        ] {
            assert_eq!(find(&points, name, &cluster).statistics.sum, value);
        }
        // 3 groups (cluster, service, 2 families = 4) × the measures each has, plus counts.
        assert!(insights.len() > 20);
        assert!(
            !points
                .iter()
                .any(|p| p.dimensions.iter().any(|(n, _)| *n == "TaskId"))
        );

        // Enhanced: each task's own; a service without running tasks has no counts.
        period.enhanced = true;
        period.services[0].running = 0;
        let points = cluster_points(&period);
        let task = find(
            &points,
            "CpuUtilized",
            &[
                ("ClusterName", "prod"),
                ("TaskDefinitionFamily", "batch"),
                ("TaskId", "t2"),
            ],
        );
        assert_eq!(task.values, [100.0]);
        assert!(!points.iter().any(|p| p.name == "RunningTaskCount"));
    }
}
