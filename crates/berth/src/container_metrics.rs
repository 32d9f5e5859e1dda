//! The regions' container metrics (`AWS/ECS`, `ECS/ContainerInsights`) go to CloudWatch's
//! metric store as Berth's own datapoints.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berth_cloudwatch::stats::Datapoint;
use berth_cloudwatch::{Dimension, MetricId};
use berth_container_metrics::publish::Point;
use futures_util::future::BoxFuture;

/// The metric store is opened after the regions start; points published before are dropped.
#[derive(Default, Clone)]
pub struct CloudWatchSink(pub Arc<OnceLock<berth_cloudwatch_service::Metrics>>);

/// `points` as CloudWatch datapoints at `timestamp_ms`: 1-second (high) resolution for periods
/// under a minute, else 1-minute.
pub fn datapoints(
    points: Vec<Point>,
    timestamp_ms: i64,
    period_seconds: u64,
) -> Vec<(MetricId, Datapoint)> {
    let resolution = berth_cloudwatch::stats::resolution_for(Duration::from_secs(period_seconds));
    points
        .into_iter()
        .map(|point| {
            let dimensions = point
                .dimensions
                .into_iter()
                .map(|(name, value)| Dimension {
                    name: name.to_string(),
                    value,
                })
                .collect();
            let metric = MetricId::new(point.namespace, point.name, dimensions);
            let unit = Some(point.unit.to_string());
            let datapoint = if point.values.is_empty() {
                let statistics = point.statistics;
                Datapoint::of_statistics(
                    timestamp_ms,
                    resolution,
                    (
                        statistics.sample_count,
                        statistics.sum,
                        statistics.minimum,
                        statistics.maximum,
                    ),
                    unit,
                )
            } else {
                let values = point.values.into_iter().map(|v| (v, 1.0)).collect();
                Datapoint::of_values(timestamp_ms, resolution, values, unit)
            };
            (metric, datapoint)
        })
        .collect()
}

impl berth_control::MetricSink for CloudWatchSink {
    fn publish(
        &self,
        region: &str,
        timestamp_ms: i64,
        period_seconds: u64,
        points: Vec<Point>,
    ) -> BoxFuture<'static, ()> {
        let metrics = self.0.get().cloned();
        let region = region.to_string();
        Box::pin(async move {
            let Some(metrics) = metrics else { return };
            let now_ms = (berth_aws::Clock::now(&berth_aws::SystemClock) * 1000.0) as i64;
            let points = datapoints(points, timestamp_ms, period_seconds);
            if let Err(err) = metrics.put(&region, points, now_ms).await {
                tracing::warn!(error = %err, %region, "publishing container metrics");
            }
        })
    }
}
