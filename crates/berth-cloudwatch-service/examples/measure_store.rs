//! Measures the embedded metric store on this machine: datapoints appended per second in
//! batches as PutMetricData sends them (20) and as the agent's stats will (1,000), each batch
//! one durable commit, and the time of GetMetricStatistics-style reads (an hour of one metric
//! at 1-minute data). `cargo run --release -p berth-cloudwatch-service --example measure_store`

use std::time::Instant;

use berth_cloudwatch::stats::Datapoint;
use berth_cloudwatch::{Dimension, MetricId};
use berth_cloudwatch_service::sqlite::SqliteMetricStore;
use berth_cloudwatch_service::store::MetricStore;

const START: i64 = 1_800_000_000_000;
const METRICS: i64 = 100;
const POINTS: i64 = 100_000;

fn metric(i: i64) -> MetricId {
    MetricId::new(
        "Bench",
        "CPUUtilization",
        vec![Dimension {
            name: "TaskId".into(),
            value: format!("task-{i}"),
        }],
    )
}

fn main() {
    for batch in [20usize, 1_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetricStore::open(&dir.path().join("metrics.db"), u64::MAX).unwrap();
        let points: Vec<(MetricId, Datapoint)> = (0..POINTS)
            .map(|i| {
                (
                    metric(i % METRICS),
                    Datapoint::of_values(
                        START + (i / METRICS) * 60_000,
                        60,
                        vec![(i as f64, 1.0)],
                        None,
                    ),
                )
            })
            .collect();
        let began = Instant::now();
        for chunk in points.chunks(batch) {
            store.append("us-east-1", chunk.to_vec(), START).unwrap();
        }
        let rate = POINTS as f64 / began.elapsed().as_secs_f64();
        let began = Instant::now();
        let mut read = 0;
        for i in 0..1_000 {
            let from = START + (i % 900) * 60_000;
            read += store
                .datapoints("us-east-1", &metric(i % METRICS), from, from + 3_600_000)
                .unwrap()
                .len();
        }
        let per_read = began.elapsed().as_secs_f64() * 1e6 / 1_000.0;
        let size = std::fs::metadata(dir.path().join("metrics.db"))
            .unwrap()
            .len()
            + std::fs::metadata(dir.path().join("metrics.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        println!(
            "batches of {batch}: {rate:.0} datapoints/s; 1,000 reads of an hour ({} points each): {per_read:.0} µs per read; {:.0} bytes per datapoint on disk",
            read / 1_000,
            size as f64 / POINTS as f64
        );
    }
}
