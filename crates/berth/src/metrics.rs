//! Prometheus exposition of the control plane's own health at `GET /metrics`: API calls by
//! service and operation (the gateway), group commits (the store), and per region the connected
//! agents and the service scheduler's pass times; and the tasks' containers' latest usage as
//! their agents report it every metric period (`berth_task_cpu_units`,
//! `berth_task_memory_bytes`, labelled region, cluster, service, task_id and container).
//! Unauthenticated, as Prometheus scrapes (as a node exporter's would, the task metrics name
//! clusters, services and tasks).

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use berth_control::Regions;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

pub const PATH: &str = "/metrics";

/// OpenMetrics text, which Prometheus negotiates and also reads without negotiating.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`, encoding `registry` at each scrape.
pub fn router(registry: Registry) -> Router {
    let registry = Arc::new(Mutex::new(registry));
    Router::new().route(
        PATH,
        get(move || async move {
            let registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }),
    )
}

/// Values read from the regions' control planes at scrape time.
pub struct ControlPlanes(pub Arc<Regions>);

impl std::fmt::Debug for ControlPlanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlPlanes")
    }
}

impl Collector for ControlPlanes {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut regions = self.0.started();
        regions.sort_by(|a, b| a.0.cmp(&b.0));
        let connected = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "berth_agents_connected",
            "Container agents holding a channel to the control plane, by region",
            None,
            connected.metric_type(),
        )?;
        for (region, control_plane) in &regions {
            let agents = i64::try_from(control_plane.agents.connected()).unwrap_or(i64::MAX);
            ConstGauge::new(agents)
                .encode(family.encode_family(&[("region", region.as_str())])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "berth_reconciler_pass_duration_seconds",
            "Time one pass of a reconciler takes, by region and reconciler",
            None,
            MetricType::Histogram,
        )?;
        for (region, control_plane) in &regions {
            let labels = [
                ("region", region.as_str()),
                ("reconciler", "service_scheduler"),
            ];
            control_plane
                .scheduler_passes
                .encode(family.encode_family(&labels)?)?;
        }
        encode_task_usage(&mut encoder, &regions)
    }
}

/// The containers' latest usage (reports older than two metric periods are left out).
fn encode_task_usage(
    encoder: &mut DescriptorEncoder,
    regions: &[(String, Arc<berth_control::ControlPlane>)],
) -> Result<(), std::fmt::Error> {
    let samples: Vec<_> = regions
        .iter()
        .flat_map(|(region, control_plane)| {
            let max_age = control_plane.metric_period * 2 + std::time::Duration::from_secs(1);
            control_plane
                .usage
                .samples(max_age)
                .into_iter()
                .map(move |sample| (region.clone(), sample))
        })
        .collect();
    type Figure = fn(&berth_protocol::ContainerStats) -> Option<f64>;
    let families: [(&str, &str, Figure); 2] = [
        (
            "berth_task_cpu_units",
            "CPU units (1024 per core) a task's container used over the last metric period",
            |stats| stats.cpu_units,
        ),
        (
            "berth_task_memory_bytes",
            "Memory a task's container uses, without reclaimable page cache",
            |stats| stats.memory_bytes.map(|bytes| bytes as f64),
        ),
    ];
    for (name, help, figure) in families {
        let mut family =
            encoder.encode_descriptor(name, help, None, ConstGauge::new(0.0f64).metric_type())?;
        for (region, (sample, service)) in &samples {
            let Some(value) = figure(&sample.stats) else {
                continue;
            };
            let task_id = sample.task_arn.rsplit('/').next().unwrap_or_default();
            let labels = [
                ("region", region.as_str()),
                ("cluster", sample.cluster.as_str()),
                ("service", service.as_deref().unwrap_or("")),
                ("task_id", task_id),
                ("container", sample.stats.container_name.as_str()),
            ];
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}
