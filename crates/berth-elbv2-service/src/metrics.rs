//! The load balancers' CloudWatch metrics: at the end of every metric period the data plane's
//! counters become `AWS/ApplicationELB` datapoints in each load balancer's region, published
//! as Berth itself. `berth_lb::publisher` decides what a period reports (ALB's metrics and
//! reporting criteria); here the data plane's ids — the ARNs the API gave, which `config_of`
//! hands it — become ALB's dimension values (`LoadBalancer` = `app/NAME/ID`, `TargetGroup` =
//! `targetgroup/NAME/ID`, the ARNs' resource parts), and [`publish`] is the loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_aws::Clock;
use berth_cloudwatch::stats::Datapoint;
use berth_cloudwatch::{Dimension, MetricId};
use berth_lb as lb;
use berth_lb::publisher::{Publisher, Sample, Value};

pub const NAMESPACE: &str = "AWS/ApplicationELB";

/// ALB's default (and Berth's, unless `--metric-period` says otherwise): one datapoint per
/// metric a minute.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(60);

/// `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:RESOURCE` → (REGION, RESOURCE).
fn region_and_resource(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "elasticloadbalancing", region, _, resource] if !region.is_empty() => {
            Some((region, resource))
        }
        _ => None,
    }
}

/// A load balancer ARN's region and ALB's `LoadBalancer` dimension value, `app/NAME/ID`.
pub fn load_balancer_dimension(arn: &str) -> Option<(&str, &str)> {
    let (region, resource) = region_and_resource(arn)?;
    let value = resource.strip_prefix("loadbalancer/")?;
    value.starts_with("app/").then_some((region, value))
}

/// A target group ARN's region and ALB's `TargetGroup` dimension value,
/// `targetgroup/NAME/ID`.
pub fn target_group_dimension(arn: &str) -> Option<(&str, &str)> {
    let (region, resource) = region_and_resource(arn)?;
    resource
        .starts_with("targetgroup/")
        .then_some((region, resource))
}

/// The datapoints of one period's samples, by region: each stamped with the period's start
/// and stored at `resolution` seconds (1 or 60). Samples naming an id that is not an ALB ARN
/// are left out.
pub fn datapoints(
    samples: &[Sample],
    timestamp_ms: i64,
    resolution: u32,
) -> BTreeMap<String, Vec<(MetricId, Datapoint)>> {
    let mut by_region: BTreeMap<String, Vec<(MetricId, Datapoint)>> = BTreeMap::new();
    for sample in samples {
        let mut region = None;
        let mut dimensions = Vec::new();
        if let Some(arn) = &sample.load_balancer {
            let Some((lb_region, value)) = load_balancer_dimension(arn) else {
                continue;
            };
            region = Some(lb_region);
            dimensions.push(Dimension {
                name: "LoadBalancer".into(),
                value: value.into(),
            });
        }
        if let Some(arn) = &sample.target_group {
            let Some((tg_region, value)) = target_group_dimension(arn) else {
                continue;
            };
            region.get_or_insert(tg_region);
            dimensions.push(Dimension {
                name: "TargetGroup".into(),
                value: value.into(),
            });
        }
        let Some(region) = region else {
            continue;
        };
        let point = match sample.value {
            Value::Count(count) => Datapoint::of_values(
                timestamp_ms,
                resolution,
                vec![(count, 1.0)],
                Some("Count".into()),
            ),
            Value::Seconds {
                count,
                sum,
                min,
                max,
            } => Datapoint::of_statistics(
                timestamp_ms,
                resolution,
                (count as f64, sum, min, max),
                Some("Seconds".into()),
            ),
        };
        by_region
            .entry(region.to_owned())
            .or_default()
            .push((MetricId::new(NAMESPACE, sample.metric, dimensions), point));
    }
    by_region
}

/// Publishes the data plane's metrics to CloudWatch at the end of every `period` (aligned to
/// the clock: whole minutes for 60 s) until `shutdown` completes.
pub async fn publish(
    data_plane: lb::DataPlane,
    counters: Arc<lb::metrics::InMemoryMetrics>,
    cloudwatch: berth_cloudwatch_service::Metrics,
    clock: Arc<dyn Clock>,
    period: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let resolution = berth_cloudwatch::stats::resolution_for(period);
    let now_ms = || (clock.now() * 1000.0) as i64;
    let mut publisher = Publisher::default();
    // The end of the period under way; the first one starts now and is cut short.
    let mut end = (now_ms() / period_ms + 1) * period_ms;
    loop {
        let wait = u64::try_from(end - now_ms()).unwrap_or(0);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
        }
        if now_ms() < end {
            continue;
        }
        let samples = publisher.period(counters.snapshot(), &data_plane.host_counts());
        let now = now_ms();
        for (region, points) in datapoints(&samples, end - period_ms, resolution) {
            if let Err(err) = cloudwatch.put(&region, points, now).await {
                tracing::warn!(%region, error = %err, "cannot publish the load balancers' metrics");
            }
        }
        // The next period ends at the next boundary after now (periods the server slept
        // through are skipped, their counts reported with the next).
        end = (now / period_ms + 1) * period_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:000000000000:loadbalancer/app/web/00000000000000aa";
    const TG: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/blue/00000000000000dd";

    #[test]
    fn arns_become_albs_dimension_values() {
        assert_eq!(
            load_balancer_dimension(LB),
            Some(("eu-west-1", "app/web/00000000000000aa"))
        );
        assert_eq!(
            target_group_dimension(TG),
            Some(("eu-west-1", "targetgroup/blue/00000000000000dd"))
        );
        assert_eq!(load_balancer_dimension(TG), None);
        assert_eq!(target_group_dimension(LB), None);
        assert_eq!(load_balancer_dimension("lb-1"), None);
        assert_eq!(
            load_balancer_dimension(
                "arn:aws:elasticloadbalancing:eu-west-1:000000000000:loadbalancer/net/n/00000000000000aa"
            ),
            None
        );
    }

    #[test]
    fn samples_become_datapoints_in_their_load_balancers_region() {
        let samples = vec![
            Sample {
                metric: "RequestCount",
                load_balancer: Some(LB.into()),
                target_group: None,
                value: Value::Count(7.0),
            },
            Sample {
                metric: "TargetResponseTime",
                load_balancer: Some(LB.into()),
                target_group: Some(TG.into()),
                value: Value::Seconds {
                    count: 4,
                    sum: 0.5,
                    min: 0.05,
                    max: 0.25,
                },
            },
            Sample {
                metric: "RequestCountPerTarget",
                load_balancer: None,
                target_group: Some(TG.into()),
                value: Value::Count(3.5),
            },
            Sample {
                metric: "RequestCount",
                load_balancer: Some("not-an-arn".into()),
                target_group: None,
                value: Value::Count(1.0),
            },
        ];
        let points = datapoints(&samples, 1_800_000_000_000, 60);
        assert_eq!(points.keys().collect::<Vec<_>>(), vec!["eu-west-1"]);
        let lb = Dimension {
            name: "LoadBalancer".into(),
            value: "app/web/00000000000000aa".into(),
        };
        let tg = Dimension {
            name: "TargetGroup".into(),
            value: "targetgroup/blue/00000000000000dd".into(),
        };
        let count = |value: f64| Datapoint {
            timestamp_ms: 1_800_000_000_000,
            resolution: 60,
            sample_count: 1.0,
            sum: value,
            minimum: value,
            maximum: value,
            values: vec![(value, 1.0)],
            unit: Some("Count".into()),
        };
        assert_eq!(
            points["eu-west-1"],
            vec![
                (
                    MetricId::new(NAMESPACE, "RequestCount", vec![lb.clone()]),
                    count(7.0)
                ),
                (
                    MetricId::new(NAMESPACE, "TargetResponseTime", vec![tg.clone(), lb]),
                    Datapoint {
                        timestamp_ms: 1_800_000_000_000,
                        resolution: 60,
                        sample_count: 4.0,
                        sum: 0.5,
                        minimum: 0.05,
                        maximum: 0.25,
                        values: vec![],
                        unit: Some("Seconds".into()),
                    }
                ),
                (
                    MetricId::new(NAMESPACE, "RequestCountPerTarget", vec![tg]),
                    count(3.5)
                ),
            ]
        );
    }
}
