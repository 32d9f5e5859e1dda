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

pub trait Metrics: Send + Sync + 'static {
    fn request(&self, record: &RequestRecord<'_>);
    fn connection_opened(&self, load_balancer: &str);
    fn connection_closed(&self, load_balancer: &str);
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

/// Keys: a load balancer's id, then a target group's id (looked up by `&str`: counting a
/// request allocates nothing). The maps are replaced whole when a key is new (rare) and read
/// without a lock: every worker counts every request, and a lock word, like a reference
/// count, would be written by each of them.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    load_balancers: ArcSwap<Keyed<Arc<Counters>>>,
    target_groups: ArcSwap<Keyed<Keyed<Arc<Counters>>>>,
}

type Keyed<T> = HashMap<String, T, foldhash::fast::RandomState>;

impl InMemoryMetrics {
    pub fn load_balancer(&self, id: &str) -> CounterValues {
        self.load_balancers
            .load()
            .get(id)
            .map(|c| c.values())
            .unwrap_or_default()
    }

    pub fn target_group(&self, load_balancer: &str, target_group: &str) -> CounterValues {
        self.target_groups
            .load()
            .get(load_balancer)
            .and_then(|groups| groups.get(target_group))
            .map(|c| c.values())
            .unwrap_or_default()
    }

    /// Every load balancer's and target group's counters, with the response time extremes
    /// taken: for the one publisher (`crate::publisher`), which reports them per period.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load_balancers = self
            .load_balancers
            .load()
            .iter()
            .map(|(id, counters)| (id.clone(), counters.take_period()))
            .collect();
        let target_groups = self
            .target_groups
            .load()
            .iter()
            .flat_map(|(lb, groups)| {
                groups
                    .iter()
                    .map(|(tg, counters)| ((lb.clone(), tg.clone()), counters.take_period()))
            })
            .collect();
        MetricsSnapshot {
            load_balancers,
            target_groups,
        }
    }

    fn with_lb(&self, id: &str, apply: impl FnOnce(&Counters)) {
        if let Some(counters) = self.load_balancers.load().get(id) {
            return apply(counters);
        }
        self.load_balancers.rcu(|map| {
            let mut map = Keyed::clone(map);
            map.entry(id.to_string()).or_default();
            map
        });
        if let Some(counters) = self.load_balancers.load().get(id) {
            apply(counters);
        }
    }

    fn with_tg(&self, load_balancer: &str, target_group: &str, apply: impl FnOnce(&Counters)) {
        let find = |map: &Keyed<Keyed<Arc<Counters>>>| {
            map.get(load_balancer)
                .and_then(|groups| groups.get(target_group))
                .cloned()
        };
        if let Some(counters) = self
            .target_groups
            .load()
            .get(load_balancer)
            .and_then(|groups| groups.get(target_group))
        {
            return apply(counters);
        }
        self.target_groups.rcu(|map| {
            let mut map = Keyed::clone(map);
            map.entry(load_balancer.to_string())
                .or_default()
                .entry(target_group.to_string())
                .or_default();
            map
        });
        if let Some(counters) = find(&self.target_groups.load()) {
            apply(&counters);
        }
    }
}

impl Metrics for InMemoryMetrics {
    fn request(&self, record: &RequestRecord<'_>) {
        self.with_lb(record.load_balancer, |c| c.count(record));
        if let Some(group) = record.target_group {
            self.with_tg(record.load_balancer, group, |c| c.count(record));
        }
    }

    fn connection_opened(&self, load_balancer: &str) {
        self.with_lb(load_balancer, |c| {
            c.active_connections.fetch_add(1, Ordering::Relaxed);
            c.new_connections.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn connection_closed(&self, load_balancer: &str) {
        self.with_lb(load_balancer, |c| {
            c.active_connections.fetch_sub(1, Ordering::Relaxed);
        });
    }

    fn host_counts(&self, load_balancer: &str, target_group: &str, healthy: u64, unhealthy: u64) {
        self.with_tg(load_balancer, target_group, |c| {
            c.healthy_hosts.store(healthy, Ordering::Relaxed);
            c.unhealthy_hosts.store(unhealthy, Ordering::Relaxed);
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
            load_balancer: "lb",
            target_group: Some("tg"),
            target_status: Some(204),
            elb_status: None,
            target_response_time: Some(Duration::from_millis(3)),
        });
        metrics.request(&RequestRecord {
            load_balancer: "lb",
            target_group: Some("tg"),
            target_status: None,
            elb_status: Some(502),
            target_response_time: None,
        });
        metrics.request(&RequestRecord {
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
        metrics.connection_opened("lb");
        metrics.connection_opened("lb");
        metrics.connection_closed("lb");
        assert_eq!(metrics.load_balancer("lb").active_connections, 1);
        metrics.host_counts("lb", "tg", 2, 1);
        metrics.host_counts("lb", "tg", 1, 2);
        let tg = metrics.target_group("lb", "tg");
        assert_eq!((tg.healthy_hosts, tg.unhealthy_hosts), (1, 2));
    }
}
