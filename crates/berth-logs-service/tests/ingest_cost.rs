//! What ingesting PutLogEvents batches costs the control plane, in CPU time (which, unlike a
//! wall-clock figure, means something on a shared machine): reading and checking full
//! 10,000-event request bodies as the awslogs driver sends them (the gateway's JSON type check,
//! the typed decode, the request's validation), then appending them through
//! `Logs` (judged, stored, committed). Run by hand, in release:
//!
//!   cargo test --release -p berth-logs-service --test ingest_cost -- --ignored --nocapture

use berth_logs_service::{LogEvent, Logs, LogsOptions};
use berth_logs_wire as wire;
use berth_wire::Validate;

const BATCHES: usize = 10;
const EVENTS_PER_BATCH: usize = 10_000;
const NOW_MS: i64 = 1_800_000_000_000;

/// CPU time every live thread of this process has used, in nanoseconds (schedstat's first
/// field): the store's writer and checkpoint threads do their work off the caller's thread.
fn process_cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One PutLogEvents body as the driver encodes it: `line N` messages, a few per millisecond.
fn body(batch: usize) -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..EVENTS_PER_BATCH)
        .map(|i| {
            let n = batch * EVENTS_PER_BATCH + i + 1;
            serde_json::json!({"timestamp": NOW_MS - 60_000 + (n / 4) as i64, "message": format!("line {n}")})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "logGroupName": "/bench/logs",
        "logStreamName": "round1/printer/0123456789abcdef",
        "logEvents": events,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand in release"]
async fn cpu_time_per_ingested_batch() {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(
        &dir.path().join("logs.db"),
        LogsOptions {
            max_bytes: u64::MAX,
            sweep_every: std::time::Duration::from_secs(3600),
        },
    )
    .unwrap();
    logs.create_group("us-east-1", "/bench/logs", NOW_MS)
        .await
        .unwrap();
    let bodies: Vec<Vec<u8>> = (0..BATCHES).map(body).collect();

    let operation = wire::MODEL.operation("PutLogEvents").unwrap();
    let started = process_cpu_ns();
    let batches: Vec<Vec<LogEvent>> = bodies
        .iter()
        .map(|body| {
            berth_wire::codec::json::check(&wire::MODEL, operation, body).unwrap();
            let request: wire::PutLogEventsRequest = serde_json::from_slice(body).unwrap();
            request.check().unwrap();
            request
                .log_events
                .unwrap()
                .into_iter()
                .map(|event| LogEvent {
                    timestamp: event.timestamp.unwrap(),
                    message: event.message.unwrap(),
                })
                .collect()
        })
        .collect();
    let decoded = process_cpu_ns();
    for events in batches {
        let stream = "round1/printer/0123456789abcdef";
        let verdict = logs
            .append("us-east-1", "/bench/logs", stream, events, NOW_MS)
            .await
            .unwrap();
        assert_eq!(verdict.accepted.len(), EVENTS_PER_BATCH);
    }
    let appended = process_cpu_ns();

    let per_batch = |ns: u64| ns as f64 / BATCHES as f64 / 1e6;
    println!(
        "per {EVENTS_PER_BATCH}-event batch: decode {:.2} ms CPU, append (judge, store, commit) {:.2} ms CPU",
        per_batch(decoded - started),
        per_batch(appended - decoded),
    );
    let stored = logs
        .store()
        .streams(
            "us-east-1",
            "/bench/logs",
            &berth_logs_service::store::StreamListing {
                prefix: None,
                order: berth_logs_service::store::StreamOrder::Name,
                descending: false,
                offset: 0,
                limit: 1,
            },
        )
        .unwrap();
    let expected_bytes: usize = (1..=BATCHES * EVENTS_PER_BATCH)
        .map(|n| format!("line {n}").len())
        .sum();
    assert_eq!(stored[0].stored_bytes, expected_bytes as i64);
}
