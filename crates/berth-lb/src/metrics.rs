//! The CloudWatch metrics ALB publishes, counted per load balancer and per target group behind
//! a small trait so that the metrics work can store them where it likes; `InMemoryMetrics` keeps
//! running totals.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use std::time::Duration;

/// One finished request (or one the client gave up on).
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// The data plane worker thread that served it (see `Metrics`).
    pub worker: usize,
    pub load_balancer: &'a str,
    /// The target group it was forwarded to, if any.
    pub target_group: Option<&'a str>,
    /// The status the target answered, if it answered.
    pub target_status: Option<u16>,
    /// The status the load balancer generated itself (fixed responses excepted, as on ALB:
    /// those count as neither), if any.
    pub elb_status: Option<u16>,
    /// From sending the request to the target until its response head arrived.
    pub target_response_time: Option<Duration>,
}

/// Every worker thread of the data plane counts every request it serves; `worker` says which
/// one, so that an implementation can keep counts per worker and have workers write nothing
/// another one writes (a counter shared by all of them is a cache line passed between cores on
/// every request). Any number is valid.
pub trait Metrics: Send + Sync + 'static {
    fn request(&self, record: &RequestRecord<'_>);
    fn connection_opened(&self, worker: usize, load_balancer: &str);
    fn connection_closed(&self, worker: usize, load_balancer: &str);
    /// Published whenever a target group's health changes.
    fn host_counts(&self, load_balancer: &str, target_group: &str, healthy: u64, unhealthy: u64);
}

/// Running totals for one load balancer, or one target group of one load balancer.
#[derive(Debug)]
pub struct Counters {
    pub request_count: AtomicU64,
    pub target_response_time_micros: AtomicU64,
    pub target_responses: AtomicU64,
    /// The quickest and slowest target response since the publisher last took them
    /// (`u64::MAX` and 0 when none), in microseconds.
    pub target_response_time_min_micros: AtomicU64,
    pub target_response_time_max_micros: AtomicU64,
    pub target_2xx: AtomicU64,
    pub target_3xx: AtomicU64,
    pub target_4xx: AtomicU64,
    pub target_5xx: AtomicU64,
    pub elb_4xx: AtomicU64,
    pub elb_5xx: AtomicU64,
    pub active_connections: AtomicI64,
    /// Client connections counted under the load balancer, ever (NewConnectionCount).
    pub new_connections: AtomicU64,
    pub healthy_hosts: AtomicU64,
    pub unhealthy_hosts: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            request_count: AtomicU64::new(0),
            target_response_time_micros: AtomicU64::new(0),
            target_responses: AtomicU64::new(0),
            target_response_time_min_micros: AtomicU64::new(u64::MAX),
            target_response_time_max_micros: AtomicU64::new(0),
            target_2xx: AtomicU64::new(0),
            target_3xx: AtomicU64::new(0),
            target_4xx: AtomicU64::new(0),
            target_5xx: AtomicU64::new(0),
            elb_4xx: AtomicU64::new(0),
            elb_5xx: AtomicU64::new(0),
            active_connections: AtomicI64::new(0),
            new_connections: AtomicU64::new(0),
            healthy_hosts: AtomicU64::new(0),
            unhealthy_hosts: AtomicU64::new(0),
        }
    }
}

/// A copy of `Counters` at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    pub request_count: u64,
    /// Sum over `target_responses` responses; the average is TargetResponseTime.
    pub target_response_time_micros: u64,
    pub target_responses: u64,
    /// The quickest and slowest of them: since the last `InMemoryMetrics::snapshot` (the
    /// publisher's), or ever when no snapshot was taken.
    pub target_response_time_min_micros: Option<u64>,
    pub target_response_time_max_micros: Option<u64>,
    pub target_2xx: u64,
    pub target_3xx: u64,
    pub target_4xx: u64,
    pub target_5xx: u64,
    pub elb_4xx: u64,
    pub elb_5xx: u64,
    pub active_connections: i64,
    pub new_connections: u64,
    pub healthy_hosts: u64,
    pub unhealthy_hosts: u64,
}

impl CounterValues {
    /// Adds another worker's values of the same counters.
    fn add(&mut self, other: &CounterValues) {
        let min = |a: Option<u64>, b: Option<u64>| a.into_iter().chain(b).min();
        let max = |a: Option<u64>, b: Option<u64>| a.into_iter().chain(b).max();
        self.request_count += other.request_count;
        self.target_response_time_micros += other.target_response_time_micros;
        self.target_responses += other.target_responses;
        self.target_response_time_min_micros = min(
            self.target_response_time_min_micros,
            other.target_response_time_min_micros,
        );
        self.target_response_time_max_micros = max(
            self.target_response_time_max_micros,
            other.target_response_time_max_micros,
        );
        self.target_2xx += other.target_2xx;
        self.target_3xx += other.target_3xx;
        self.target_4xx += other.target_4xx;
        self.target_5xx += other.target_5xx;
        self.elb_4xx += other.elb_4xx;
        self.elb_5xx += other.elb_5xx;
        self.active_connections += other.active_connections;
        self.new_connections += other.new_connections;
        self.healthy_hosts += other.healthy_hosts;
        self.unhealthy_hosts += other.unhealthy_hosts;
    }
}

impl Counters {
    pub fn values(&self) -> CounterValues {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let min = get(&self.target_response_time_min_micros);
        let max = get(&self.target_response_time_max_micros);
        CounterValues {
            request_count: get(&self.request_count),
            target_response_time_micros: get(&self.target_response_time_micros),
            target_responses: get(&self.target_responses),
            target_response_time_min_micros: (min != u64::MAX).then_some(min),
            target_response_time_max_micros: (min != u64::MAX).then_some(max),
            target_2xx: get(&self.target_2xx),
            target_3xx: get(&self.target_3xx),
            target_4xx: get(&self.target_4xx),
            target_5xx: get(&self.target_5xx),
            elb_4xx: get(&self.elb_4xx),
            elb_5xx: get(&self.elb_5xx),
            active_connections: self.active_connections.load(Ordering::Relaxed),
            new_connections: get(&self.new_connections),
            healthy_hosts: get(&self.healthy_hosts),
            unhealthy_hosts: get(&self.unhealthy_hosts),
        }
    }

    /// The values, the response time extremes taken (they start over): what one metric period
    /// reports.
    fn take_period(&self) -> CounterValues {
        let mut values = self.values();
        let min = self
            .target_response_time_min_micros
            .swap(u64::MAX, Ordering::Relaxed);
        let max = self
            .target_response_time_max_micros
            .swap(0, Ordering::Relaxed);
        values.target_response_time_min_micros = (min != u64::MAX).then_some(min);
        values.target_response_time_max_micros = (min != u64::MAX).then_some(max);
        values
    }

    fn count(&self, record: &RequestRecord<'_>) {
        let add = |c: &AtomicU64, n: u64| {
            c.fetch_add(n, Ordering::Relaxed);
        };
        add(&self.request_count, 1);
        if let Some(status) = record.target_status {
            match status / 100 {
                2 => add(&self.target_2xx, 1),
                3 => add(&self.target_3xx, 1),
                4 => add(&self.target_4xx, 1),
                5 => add(&self.target_5xx, 1),
                _ => {}
            }
        }
        if let Some(status) = record.elb_status {
            match status / 100 {
                4 => add(&self.elb_4xx, 1),
                5 => add(&self.elb_5xx, 1),
                _ => {}
            }
        }
        if let Some(time) = record.target_response_time {
            let micros = u64::try_from(time.as_micros()).unwrap_or(u64::MAX - 1);
            add(&self.target_responses, 1);
            add(&self.target_response_time_micros, micros);
            // Read first: a new extreme is rare, and a read writes nothing to the cache line.
            if micros < self.target_response_time_min_micros.load(Ordering::Relaxed) {
                self.target_response_time_min_micros
                    .fetch_min(micros, Ordering::Relaxed);
            }
            if micros > self.target_response_time_max_micros.load(Ordering::Relaxed) {
                self.target_response_time_max_micros
                    .fetch_max(micros, Ordering::Relaxed);
            }
        }
    }
}

/// Every counter at one moment: load balancer id → values, (load balancer id, target group
/// id) → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub load_balancers: HashMap<String, CounterValues>,
    pub target_groups: HashMap<(String, String), CounterValues>,
}

/// A target group's targets as one load balancer that forwards to it sees them: what
/// HealthyHostCount, UnHealthyHostCount and RequestCountPerTarget are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCounts {
    pub load_balancer: String,
    pub target_group: String,
    /// Whether the group's health checks are enabled (ALB reports host counts only then).
    pub checks_enabled: bool,
    pub healthy: u64,
    pub unhealthy: u64,
    /// Registered and not draining.
    pub registered: u64,
}

/// Running totals kept per worker (`RequestRecord::worker` modulo the number of shards), each
/// worker's counters its own allocations, and added up when read. Host counts, which the
/// health checks set rather than count, live in the first shard.
///
/// Keys: a load balancer's id, then a target group's id (looked up by `&str`: counting a
/// request allocates nothing). A shard's map is replaced whole when a key is new (rare) and
/// read without a lock, in one lookup per id.
#[derive(Debug)]
pub struct InMemoryMetrics {
    shards: Box<[ArcSwap<Keyed<LoadBalancerCounters>>]>,
}

#[derive(Debug, Clone, Default)]
struct LoadBalancerCounters {
    counters: Arc<Counters>,
    target_groups: Keyed<Arc<Counters>>,
}

type Keyed<T> = HashMap<String, T, foldhash::fast::RandomState>;

impl Default for InMemoryMetrics {
    fn default() -> Self {
        InMemoryMetrics::with_workers(1)
    }
}

impl InMemoryMetrics {
    /// Counters for a data plane with `workers` worker threads.
    pub fn with_workers(workers: usize) -> InMemoryMetrics {
        InMemoryMetrics {
            shards: (0..workers.max(1)).map(|_| ArcSwap::default()).collect(),
        }
    }

    fn shard(&self, worker: usize) -> &ArcSwap<Keyed<LoadBalancerCounters>> {
        &self.shards[worker % self.shards.len()]
    }

    /// `values` of the counters found by `find` in each shard, added up.
    fn sum(
        &self,
        find: impl Fn(&LoadBalancerCounters) -> Option<&Arc<Counters>>,
        load_balancer: &str,
    ) -> CounterValues {
        let mut total = CounterValues::default();
        for shard in &self.shards {
            if let Some(counters) = shard.load().get(load_balancer).and_then(&find) {
                total.add(&counters.values());
            }
        }
        total
    }

    pub fn load_balancer(&self, id: &str) -> CounterValues {
        self.sum(|lb| Some(&lb.counters), id)
    }

    pub fn target_group(&self, load_balancer: &str, target_group: &str) -> CounterValues {
        self.sum(|lb| lb.target_groups.get(target_group), load_balancer)
    }

    /// Every load balancer's and target group's counters, with the response time extremes
    /// taken: for the one publisher (`crate::publisher`), which reports them per period.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut snapshot = MetricsSnapshot::default();
        for shard in &self.shards {
            for (lb, counters) in shard.load().iter() {
                snapshot
                    .load_balancers
                    .entry(lb.clone())
                    .or_default()
                    .add(&counters.counters.take_period());
                for (tg, group) in &counters.target_groups {
                    snapshot
                        .target_groups
                        .entry((lb.clone(), tg.clone()))
                        .or_default()
                        .add(&group.take_period());
                }
            }
        }
        snapshot
    }

    /// Calls `apply` with the load balancer's counters in `worker`'s shard and, with a target
    /// group, that group's there, creating them first if new.
    fn with(
        &self,
        worker: usize,
        load_balancer: &str,
        target_group: Option<&str>,
        apply: impl FnOnce(&Counters, Option<&Counters>),
    ) {
        let shard = self.shard(worker);
        {
            let map = shard.load();
            if let Some(lb) = map.get(load_balancer) {
                match target_group.map(|tg| lb.target_groups.get(tg)) {
                    None => return apply(&lb.counters, None),
                    Some(Some(group)) => return apply(&lb.counters, Some(group)),
                    Some(None) => {}
                }
            }
        }
        shard.rcu(|map| {
            let mut map = Keyed::clone(map);
            let lb = map.entry(load_balancer.to_string()).or_default();
            if let Some(tg) = target_group {
                lb.target_groups.entry(tg.to_string()).or_default();
            }
            map
        });
        if let Some(lb) = shard.load().get(load_balancer) {
            let group = target_group.and_then(|tg| lb.target_groups.get(tg));
            apply(&lb.counters, group.map(|group| &**group));
        }
    }
}

impl Metrics for InMemoryMetrics {
    fn request(&self, record: &RequestRecord<'_>) {
        self.with(
            record.worker,
            record.load_balancer,
            record.target_group,
            |lb, group| {
                lb.count(record);
                if let Some(group) = group {
                    group.count(record);
                }
            },
        );
    }

    fn connection_opened(&self, worker: usize, load_balancer: &str) {
        self.with(worker, load_balancer, None, |lb, _| {
            lb.active_connections.fetch_add(1, Ordering::Relaxed);
            lb.new_connections.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn connection_closed(&self, worker: usize, load_balancer: &str) {
        self.with(worker, load_balancer, None, |lb, _| {
            lb.active_connections.fetch_sub(1, Ordering::Relaxed);
        });
    }

    fn host_counts(&self, load_balancer: &str, target_group: &str, healthy: u64, unhealthy: u64) {
        self.with(0, load_balancer, Some(target_group), |_, group| {
            if let Some(group) = group {
                group.healthy_hosts.store(healthy, Ordering::Relaxed);
                group.unhealthy_hosts.store(unhealthy, Ordering::Relaxed);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_per_load_balancer_and_target_group_by_status_class() {
        let metrics = InMemoryMetrics::default();
        metrics.request(&RequestRecord {
            worker: 0,
            load_balancer: "lb",
            target_group: Some("tg"),
            target_status: Some(204),
            elb_status: None,
            target_response_time: Some(Duration::from_millis(3)),
        });
        metrics.request(&RequestRecord {
            worker: 0,
            load_balancer: "lb",
            target_group: Some("tg"),
            target_status: None,
            elb_status: Some(502),
            target_response_time: None,
        });
        metrics.request(&RequestRecord {
            worker: 0,
            load_balancer: "lb",
            target_group: None,
            target_status: None,
            elb_status: Some(460),
            target_response_time: None,
        });
        let lb = metrics.load_balancer("lb");
        assert_eq!(
            (lb.request_count, lb.target_2xx, lb.elb_5xx, lb.elb_4xx),
            (3, 1, 1, 1)
        );
        assert_eq!(
            (lb.target_responses, lb.target_response_time_micros),
            (1, 3000)
        );
        let tg = metrics.target_group("lb", "tg");
        assert_eq!((tg.request_count, tg.elb_4xx, tg.elb_5xx), (2, 0, 1));
        assert_eq!(
            metrics.target_group("lb", "other"),
            CounterValues::default()
        );
    }

    #[test]
    fn connections_and_host_counts_are_gauges() {
        let metrics = InMemoryMetrics::default();
        metrics.connection_opened(0, "lb");
        metrics.connection_opened(0, "lb");
        metrics.connection_closed(0, "lb");
        assert_eq!(metrics.load_balancer("lb").active_connections, 1);
        metrics.host_counts("lb", "tg", 2, 1);
        metrics.host_counts("lb", "tg", 1, 2);
        let tg = metrics.target_group("lb", "tg");
        assert_eq!((tg.healthy_hosts, tg.unhealthy_hosts), (1, 2));
    }

    #[test]
    fn each_workers_counts_are_added_up_when_read() {
        let metrics = InMemoryMetrics::with_workers(2);
        for (worker, millis) in [(0, 5), (1, 2), (1, 9), (2, 4)] {
            metrics.request(&RequestRecord {
                worker,
                load_balancer: "lb",
                target_group: Some("tg"),
                target_status: Some(200),
                elb_status: None,
                target_response_time: Some(Duration::from_millis(millis)),
            });
        }
        metrics.connection_opened(0, "lb");
        metrics.connection_opened(1, "lb");
        metrics.connection_closed(1, "lb");
        metrics.host_counts("lb", "tg", 2, 1);
        let lb = metrics.load_balancer("lb");
        assert_eq!(
            (lb.request_count, lb.target_2xx, lb.target_responses),
            (4, 4, 4)
        );
        assert_eq!(lb.target_response_time_micros, 20_000);
        assert_eq!((lb.active_connections, lb.new_connections), (1, 2));
        let tg = metrics.target_group("lb", "tg");
        assert_eq!(tg.request_count, 4);
        assert_eq!((tg.healthy_hosts, tg.unhealthy_hosts), (2, 1));
        let snapshot = metrics.snapshot();
        let period = &snapshot.load_balancers["lb"];
        assert_eq!(period.request_count, 4);
        assert_eq!(
            (
                period.target_response_time_min_micros,
                period.target_response_time_max_micros
            ),
            (Some(2_000), Some(9_000)),
            "the extremes over every worker"
        );
        let group = &snapshot.target_groups[&("lb".to_string(), "tg".to_string())];
        assert_eq!((group.request_count, group.healthy_hosts), (4, 2));
        let next = metrics.snapshot();
        assert_eq!(
            next.load_balancers["lb"].target_response_time_min_micros, None,
            "extremes start over each period"
        );
    }
}
