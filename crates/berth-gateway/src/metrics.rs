//! What the front door measures for Prometheus: every AWS API call, by service and operation.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One API operation of one service: names from the service's model, so the label values are
/// a closed set (no client can grow it).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    /// The service's signing name (`ecs`, `elasticloadbalancing`, `logs`, …).
    service: &'static str,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Wrote {
    service: &'static str,
    operation: &'static str,
    /// `ok` or `error`: how the call was answered.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    service: &'static str,
    operation: &'static str,
    /// The HTTP status of the answer.
    status: u16,
}

/// API latency histograms and answer counts. Requests that never name an operation (an unknown
/// target, a malformed request line) are not counted here.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    answered: Family<Answered, Counter>,
    duration: Family<Operation, Histogram>,
    wrote: Family<Wrote, Counter>,
}

impl ApiMetrics {
    /// Metrics registered in `registry` as `berth_api_requests_total` and
    /// `berth_api_request_duration_seconds`.
    pub fn register(registry: &mut Registry) -> ApiMetrics {
        let metrics = ApiMetrics {
            answered: Family::default(),
            // 100 µs to ~3.3 s: a describe served from memory up to a slow durable write.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 16))
            }),
            wrote: Family::default(),
        };
        registry.register(
            "berth_api_requests",
            "AWS API calls answered, by service, operation and HTTP status",
            metrics.answered.clone(),
        );
        registry.register(
            "berth_api_request_duration_seconds",
            "Time from a request's arrival to its answer, by service and operation",
            metrics.duration.clone(),
        );
        registry.register(
            "berth_api_calls_with_writes",
            "Calls that committed store writes, by service, operation and outcome (ok or error: \
             an error answer after writes is a bug, a failed call must change nothing)",
            metrics.wrote.clone(),
        );
        metrics
    }

    /// A call whose transactions committed writes, answered `ok` or not.
    pub(crate) fn wrote(&self, service: &'static str, operation: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.wrote
            .get_or_create(&Wrote {
                service,
                operation,
                outcome,
            })
            .inc();
    }

    pub(crate) fn observe(
        &self,
        service: &'static str,
        operation: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.answered
            .get_or_create(&Answered {
                service,
                operation,
                status,
            })
            .inc();
        self.duration
            .get_or_create(&Operation { service, operation })
            .observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_by_status_and_times_them_by_operation() {
        let mut registry = Registry::default();
        let metrics = ApiMetrics::register(&mut registry);
        metrics.observe("ecs", "ListClusters", 200, Duration::from_micros(150));
        metrics.observe("ecs", "ListClusters", 200, Duration::from_millis(3));
        metrics.observe("ecs", "ListClusters", 400, Duration::from_micros(50));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE berth_api_requests counter",
            r#"berth_api_requests_total{service="ecs",operation="ListClusters",status="200"} 2"#,
            r#"berth_api_requests_total{service="ecs",operation="ListClusters",status="400"} 1"#,
            "# TYPE berth_api_request_duration_seconds histogram",
            r#"berth_api_request_duration_seconds_count{service="ecs",operation="ListClusters"} 3"#,
            // 50 µs falls in the first bucket (≤ 100 µs), 150 µs in ≤ 200 µs, 3 ms in ≤ 3.2 ms.
            r#"berth_api_request_duration_seconds_bucket{le="0.0001",service="ecs",operation="ListClusters"} 1"#,
            r#"berth_api_request_duration_seconds_bucket{le="0.0002",service="ecs",operation="ListClusters"} 2"#,
            r#"berth_api_request_duration_seconds_bucket{le="0.0016",service="ecs",operation="ListClusters"} 2"#,
            r#"berth_api_request_duration_seconds_bucket{le="0.0032",service="ecs",operation="ListClusters"} 3"#,
        ] {
            assert!(
                lines.contains(&expected),
                "{expected} missing from:\n{text}"
            );
        }
    }
}
