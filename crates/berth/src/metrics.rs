//! Prometheus exposition of the control plane's own health at `GET /metrics`: API calls by
//! service and operation (the gateway), group commits (the store), and per region the connected
//! agents and the service scheduler's pass times.
//! Unauthenticated, as Prometheus scrapes: it names services and operations, never resources.

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
        Ok(())
    }
}
