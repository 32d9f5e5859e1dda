//! One metric period of the load balancer, as ALB reports it to CloudWatch (namespace
//! `AWS/ApplicationELB`): the counters' growth since the previous period, with ALB's metric
//! names, dimensions (by the data plane's ids; the caller turns them into ALB's dimension
//! values) and reporting criteria. Pure: the caller takes the snapshots and the host counts at
//! each period's end and publishes what comes out.
//!
//! What is reported, and when (ALB's "reporting criteria"):
//! - per load balancer, when nonzero: RequestCount, HTTPCode_Target_2XX…5XX_Count,
//!   HTTPCode_ELB_4XX_Count and HTTPCode_ELB_5XX_Count, TargetResponseTime (seconds, a
//!   statistic set: sum, count, minimum, maximum), NewConnectionCount, ActiveConnectionCount
//!   (the connections open at some time in the period: those open when it began and those
//!   opened during it);
//! - per target group and load balancer, when nonzero: RequestCount, HTTPCode_Target_*_Count,
//!   TargetResponseTime;
//! - RequestCountPerTarget (per target group, and per target group and load balancer) in every
//!   period in which the load balancer had requests, zero included: the group's requests
//!   divided by its healthy targets, or by its registered targets when none is healthy (no
//!   figure for a group without targets);
//! - HealthyHostCount and UnHealthyHostCount in every period, for every group a listener
//!   forwards to, while its health checks are enabled.
//!
//! Not reported: ProcessedBytes (bytes are not counted) and the AvailabilityZone dimension
//! (the data plane does not know its targets' zones).

use std::collections::HashMap;

use crate::metrics::{CounterValues, HostCounts, MetricsSnapshot};

/// One figure to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// ALB's metric name.
    pub metric: &'static str,
    /// The data plane's load balancer id, when the metric has the LoadBalancer dimension.
    pub load_balancer: Option<String>,
    /// The data plane's target group id, when the metric has the TargetGroup dimension.
    pub target_group: Option<String>,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Unit `Count`.
    Count(f64),
    /// Unit `Seconds`: `count` samples adding up to `sum`.
    Seconds {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
    },
}

/// Remembers the counters at the end of the previous period.
#[derive(Debug, Default)]
pub struct Publisher {
    previous: MetricsSnapshot,
}

impl Publisher {
    /// The samples of the period that ends now: `snapshot` is `InMemoryMetrics::snapshot()`
    /// and `hosts` is `DataPlane::host_counts()`, both taken now.
    pub fn period(&mut self, snapshot: MetricsSnapshot, hosts: &[HostCounts]) -> Vec<Sample> {
        let mut samples = Vec::new();
        let mut load_balancers: Vec<_> = snapshot.load_balancers.iter().collect();
        load_balancers.sort_by(|a, b| a.0.cmp(b.0));
        let mut busy: HashMap<&str, bool> = HashMap::new();
        for (id, now) in load_balancers {
            let before = self.previous.load_balancers.get(id);
            let delta = growth(before, now);
            busy.insert(id, delta.request_count > 0);
            let lb = || Some(id.clone());
            push_traffic(&mut samples, &delta, now, lb, || None);
            for (metric, count) in [
                ("HTTPCode_ELB_4XX_Count", delta.elb_4xx),
                ("HTTPCode_ELB_5XX_Count", delta.elb_5xx),
                ("NewConnectionCount", delta.new_connections),
                (
                    "ActiveConnectionCount",
                    before
                        .map_or(0, |b| u64::try_from(b.active_connections).unwrap_or(0))
                        .saturating_add(delta.new_connections),
                ),
            ] {
                if count > 0 {
                    samples.push(Sample {
                        metric,
                        load_balancer: lb(),
                        target_group: None,
                        value: Value::Count(count as f64),
                    });
                }
            }
        }

        let mut groups: Vec<_> = snapshot.target_groups.iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        for ((lb, tg), now) in groups {
            let delta = growth(
                self.previous.target_groups.get(&(lb.clone(), tg.clone())),
                now,
            );
            push_traffic(
                &mut samples,
                &delta,
                now,
                || Some(lb.clone()),
                || Some(tg.clone()),
            );
        }

        let requests_to = |lb: &str, tg: &str| {
            let key = (lb.to_owned(), tg.to_owned());
            let now = snapshot
                .target_groups
                .get(&key)
                .map_or(0, |c| c.request_count);
            let before = self
                .previous
                .target_groups
                .get(&key)
                .map_or(0, |c| c.request_count);
            now.saturating_sub(before)
        };
        let mut hosts: Vec<&HostCounts> = hosts.iter().collect();
        hosts.sort_by(|a, b| {
            (&a.target_group, &a.load_balancer).cmp(&(&b.target_group, &b.load_balancer))
        });
        // Per target group alone: its requests from every load balancer that had some.
        let mut per_group: Vec<(&str, u64, u64)> = Vec::new();
        for counts in &hosts {
            let lb = Some(counts.load_balancer.clone());
            let tg = Some(counts.target_group.clone());
            if counts.checks_enabled {
                for (metric, count) in [
                    ("HealthyHostCount", counts.healthy),
                    ("UnHealthyHostCount", counts.unhealthy),
                ] {
                    samples.push(Sample {
                        metric,
                        load_balancer: lb.clone(),
                        target_group: tg.clone(),
                        value: Value::Count(count as f64),
                    });
                }
            }
            if !busy
                .get(counts.load_balancer.as_str())
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let targets = per_target_divisor(counts);
            let requests = requests_to(&counts.load_balancer, &counts.target_group);
            if targets > 0 {
                samples.push(Sample {
                    metric: "RequestCountPerTarget",
                    load_balancer: lb,
                    target_group: tg,
                    value: Value::Count(requests as f64 / targets as f64),
                });
            }
            match per_group.last_mut() {
                Some((group, sum, _)) if *group == counts.target_group => *sum += requests,
                _ => per_group.push((&counts.target_group, requests, targets)),
            }
        }
        for (group, requests, targets) in per_group {
            if targets > 0 {
                samples.push(Sample {
                    metric: "RequestCountPerTarget",
                    load_balancer: None,
                    target_group: Some(group.to_owned()),
                    value: Value::Count(requests as f64 / targets as f64),
                });
            }
        }

        self.previous = snapshot;
        samples
    }
}

/// ALB's divisor for RequestCountPerTarget: the healthy targets, or when none is healthy, the
/// registered ones.
fn per_target_divisor(counts: &HostCounts) -> u64 {
    if counts.healthy > 0 {
        counts.healthy
    } else {
        counts.registered
    }
}

/// What the running totals grew by since `before` (everything, for a key new this period).
fn growth(before: Option<&CounterValues>, now: &CounterValues) -> CounterValues {
    let zero = CounterValues::default();
    let before = before.unwrap_or(&zero);
    let d = |now: u64, before: u64| now.saturating_sub(before);
    CounterValues {
        request_count: d(now.request_count, before.request_count),
        target_response_time_micros: d(
            now.target_response_time_micros,
            before.target_response_time_micros,
        ),
        target_responses: d(now.target_responses, before.target_responses),
        target_response_time_min_micros: now.target_response_time_min_micros,
        target_response_time_max_micros: now.target_response_time_max_micros,
        target_2xx: d(now.target_2xx, before.target_2xx),
        target_3xx: d(now.target_3xx, before.target_3xx),
        target_4xx: d(now.target_4xx, before.target_4xx),
        target_5xx: d(now.target_5xx, before.target_5xx),
        elb_4xx: d(now.elb_4xx, before.elb_4xx),
        elb_5xx: d(now.elb_5xx, before.elb_5xx),
        active_connections: now.active_connections,
        new_connections: d(now.new_connections, before.new_connections),
        healthy_hosts: now.healthy_hosts,
        unhealthy_hosts: now.unhealthy_hosts,
    }
}

/// The request metrics a load balancer and a target group both have.
fn push_traffic(
    samples: &mut Vec<Sample>,
    delta: &CounterValues,
    now: &CounterValues,
    load_balancer: impl Fn() -> Option<String>,
    target_group: impl Fn() -> Option<String>,
) {
    for (metric, count) in [
        ("RequestCount", delta.request_count),
        ("HTTPCode_Target_2XX_Count", delta.target_2xx),
        ("HTTPCode_Target_3XX_Count", delta.target_3xx),
        ("HTTPCode_Target_4XX_Count", delta.target_4xx),
        ("HTTPCode_Target_5XX_Count", delta.target_5xx),
    ] {
        if count > 0 {
            samples.push(Sample {
                metric,
                load_balancer: load_balancer(),
                target_group: target_group(),
                value: Value::Count(count as f64),
            });
        }
    }
    if delta.target_responses > 0 {
        let seconds = |micros: u64| micros as f64 / 1e6;
        let sum = seconds(delta.target_response_time_micros);
        let average = sum / delta.target_responses as f64;
        // A request counted on one side of the snapshot can have its extremes on the other:
        // the average keeps them honest.
        let min = now
            .target_response_time_min_micros
            .map_or(average, |m| seconds(m).min(average));
        let max = now
            .target_response_time_max_micros
            .map_or(average, |m| seconds(m).max(average));
        samples.push(Sample {
            metric: "TargetResponseTime",
            load_balancer: load_balancer(),
            target_group: target_group(),
            value: Value::Seconds {
                count: delta.target_responses,
                sum,
                min,
                max,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{InMemoryMetrics, Metrics, RequestRecord};
    use std::time::Duration;

    fn served(metrics: &InMemoryMetrics, lb: &str, tg: &str, status: u16, millis: u64) {
        metrics.request(&RequestRecord {
            worker: 0,
            load_balancer: lb,
            target_group: Some(tg),
            target_status: Some(status),
            elb_status: None,
            target_response_time: Some(Duration::from_millis(millis)),
        });
    }

    fn refused(metrics: &InMemoryMetrics, lb: &str, tg: Option<&str>, status: u16) {
        metrics.request(&RequestRecord {
            worker: 0,
            load_balancer: lb,
            target_group: tg,
            target_status: None,
            elb_status: Some(status),
            target_response_time: None,
        });
    }

    fn hosts(lb: &str, tg: &str, healthy: u64, unhealthy: u64, registered: u64) -> HostCounts {
        HostCounts {
            load_balancer: lb.into(),
            target_group: tg.into(),
            checks_enabled: true,
            healthy,
            unhealthy,
            registered,
        }
    }

    fn sample(metric: &'static str, lb: Option<&str>, tg: Option<&str>, value: Value) -> Sample {
        Sample {
            metric,
            load_balancer: lb.map(str::to_owned),
            target_group: tg.map(str::to_owned),
            value,
        }
    }

    fn count(n: f64) -> Value {
        Value::Count(n)
    }

    #[test]
    fn a_period_reports_what_grew_since_the_previous_one() {
        let metrics = InMemoryMetrics::default();
        let mut publisher = Publisher::default();
        metrics.connection_opened(0, "lb");
        served(&metrics, "lb", "tg", 200, 10);
        served(&metrics, "lb", "tg", 204, 30);
        served(&metrics, "lb", "tg", 503, 20);
        refused(&metrics, "lb", None, 400);
        refused(&metrics, "lb", Some("tg"), 502);
        let lb = Some("lb");
        let tg = Some("tg");
        let time = Value::Seconds {
            count: 3,
            sum: 0.06,
            min: 0.01,
            max: 0.03,
        };
        let first = publisher.period(metrics.snapshot(), &[hosts("lb", "tg", 2, 1, 3)]);
        assert_eq!(
            first,
            vec![
                sample("RequestCount", lb, None, count(5.0)),
                sample("HTTPCode_Target_2XX_Count", lb, None, count(2.0)),
                sample("HTTPCode_Target_5XX_Count", lb, None, count(1.0)),
                sample("TargetResponseTime", lb, None, time),
                sample("HTTPCode_ELB_4XX_Count", lb, None, count(1.0)),
                sample("HTTPCode_ELB_5XX_Count", lb, None, count(1.0)),
                sample("NewConnectionCount", lb, None, count(1.0)),
                sample("ActiveConnectionCount", lb, None, count(1.0)),
                sample("RequestCount", lb, tg, count(4.0)),
                sample("HTTPCode_Target_2XX_Count", lb, tg, count(2.0)),
                sample("HTTPCode_Target_5XX_Count", lb, tg, count(1.0)),
                sample("TargetResponseTime", lb, tg, time),
                sample("HealthyHostCount", lb, tg, count(2.0)),
                sample("UnHealthyHostCount", lb, tg, count(1.0)),
                sample("RequestCountPerTarget", lb, tg, count(2.0)),
                sample("RequestCountPerTarget", None, tg, count(2.0)),
            ]
        );

        // The next period: one more request, its own extremes; the connection is still open.
        served(&metrics, "lb", "tg", 302, 50);
        let second = publisher.period(metrics.snapshot(), &[hosts("lb", "tg", 2, 1, 3)]);
        let time = Value::Seconds {
            count: 1,
            sum: 0.05,
            min: 0.05,
            max: 0.05,
        };
        assert_eq!(
            second,
            vec![
                sample("RequestCount", lb, None, count(1.0)),
                sample("HTTPCode_Target_3XX_Count", lb, None, count(1.0)),
                sample("TargetResponseTime", lb, None, time),
                sample("ActiveConnectionCount", lb, None, count(1.0)),
                sample("RequestCount", lb, tg, count(1.0)),
                sample("HTTPCode_Target_3XX_Count", lb, tg, count(1.0)),
                sample("TargetResponseTime", lb, tg, time),
                sample("HealthyHostCount", lb, tg, count(2.0)),
                sample("UnHealthyHostCount", lb, tg, count(1.0)),
                sample("RequestCountPerTarget", lb, tg, count(0.5)),
                sample("RequestCountPerTarget", None, tg, count(0.5)),
            ]
        );
    }

    #[test]
    fn an_idle_load_balancer_reports_only_its_host_counts() {
        let metrics = InMemoryMetrics::default();
        let mut publisher = Publisher::default();
        served(&metrics, "lb", "tg", 200, 10);
        publisher.period(metrics.snapshot(), &[]);
        let idle = publisher.period(metrics.snapshot(), &[hosts("lb", "tg", 1, 0, 1)]);
        assert_eq!(
            idle,
            vec![
                sample("HealthyHostCount", Some("lb"), Some("tg"), count(1.0)),
                sample("UnHealthyHostCount", Some("lb"), Some("tg"), count(0.0)),
            ]
        );
        // Without health checks, not even those.
        let mut unchecked = hosts("lb", "tg", 0, 0, 1);
        unchecked.checks_enabled = false;
        assert_eq!(publisher.period(metrics.snapshot(), &[unchecked]), vec![]);
        // A connection that closed in a period still counts as active in it.
        metrics.connection_opened(0, "lb");
        metrics.connection_closed(0, "lb");
        assert_eq!(
            publisher.period(metrics.snapshot(), &[]),
            vec![
                sample("NewConnectionCount", Some("lb"), None, count(1.0)),
                sample("ActiveConnectionCount", Some("lb"), None, count(1.0)),
            ]
        );
        assert_eq!(publisher.period(metrics.snapshot(), &[]), vec![]);
    }

    #[test]
    fn requests_per_target_divide_by_healthy_then_registered_targets() {
        let metrics = InMemoryMetrics::default();
        let mut publisher = Publisher::default();
        for _ in 0..6 {
            served(&metrics, "a", "blue", 200, 1);
        }
        served(&metrics, "b", "blue", 200, 1);
        served(&metrics, "b", "blue", 200, 1);
        served(&metrics, "b", "blue", 200, 1);
        // "green" behind "a" had no requests but is reported (zero) since "a" had some; a
        // group without targets has no figure; "c" had no requests at all.
        let samples = publisher.period(
            metrics.snapshot(),
            &[
                hosts("a", "blue", 0, 3, 3),
                hosts("b", "blue", 0, 3, 3),
                hosts("a", "green", 2, 0, 2),
                hosts("a", "empty", 0, 0, 0),
                hosts("c", "red", 1, 0, 1),
            ],
        );
        let per_target: Vec<_> = samples
            .into_iter()
            .filter(|s| s.metric == "RequestCountPerTarget")
            .collect();
        assert_eq!(
            per_target,
            vec![
                sample("RequestCountPerTarget", Some("a"), Some("blue"), count(2.0)),
                sample("RequestCountPerTarget", Some("b"), Some("blue"), count(1.0)),
                sample(
                    "RequestCountPerTarget",
                    Some("a"),
                    Some("green"),
                    count(0.0)
                ),
                sample("RequestCountPerTarget", None, Some("blue"), count(3.0)),
                sample("RequestCountPerTarget", None, Some("green"), count(0.0)),
            ]
        );
    }

    #[test]
    fn response_time_extremes_start_over_each_period_and_stay_around_the_average() {
        let metrics = InMemoryMetrics::default();
        let mut publisher = Publisher::default();
        served(&metrics, "lb", "tg", 200, 100);
        publisher.period(metrics.snapshot(), &[]);
        served(&metrics, "lb", "tg", 200, 2);
        let samples = publisher.period(metrics.snapshot(), &[]);
        assert_eq!(
            samples[2].value,
            Value::Seconds {
                count: 1,
                sum: 0.002,
                min: 0.002,
                max: 0.002
            }
        );
        // The extremes of a request counted before the snapshot but timed after it: none.
        let mut snapshot = metrics.snapshot();
        let lb = snapshot.load_balancers.get_mut("lb").unwrap();
        lb.request_count += 1;
        lb.target_2xx += 1;
        lb.target_responses += 1;
        lb.target_response_time_micros += 4_000;
        snapshot.target_groups.clear();
        let samples = publisher.period(snapshot, &[]);
        assert_eq!(
            samples[2].value,
            Value::Seconds {
                count: 1,
                sum: 0.004,
                min: 0.004,
                max: 0.004
            }
        );
    }
}
