//! What shipping a container's log costs the agent in CPU time, apart from the network and the
//! control plane (a CPU figure, unlike a wall-clock one, means something on a shared machine):
//! a log of 100,000 short lines, as Docker writes it (local, as awslogs containers log, or
//! json-file), followed to its end, turned into PutLogEvents batches as the awslogs shipper
//! makes them, and each batch encoded and signed. Run by hand, in release:
//!
//!   cargo test --release -p berth-agent --lib shipping_cost -- --ignored --nocapture

use std::io::Write;

use super::log_file::{Ending, Format, Reader, follow, local_entry};
use crate::awslogs::client::PutLogEventsBody;
use crate::awslogs::cursor::{Cursor, Positions};
use crate::awslogs::events::{Batch, Grouper, LineJoiner, MAX_BODY_BYTES, Sealed};
use crate::runtime::LogResume;

const LINES: usize = 100_000;

/// CPU time this thread has used, in nanoseconds (schedstat's first field).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("procfs")
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the CPU time")
}

/// `line 1` … `line N` as Docker writes them in `format`, a few lines per microsecond.
fn write_log(path: &std::path::Path, format: Format) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 1..=LINES {
        let micros = n / 3;
        match format {
            Format::JsonFile => writeln!(
                file,
                r#"{{"log":"line {n}\n","stream":"stdout","time":"2026-12-06T15:00:00.{micros:06}123Z"}}"#
            )
            .unwrap(),
            Format::Local => {
                let time_nano = 1_796_569_200_000_000_000 + micros as i64 * 1_000 + 123;
                file.write_all(&local_entry(&format!("line {n}"), time_nano, None))
                    .unwrap()
            }
        }
    }
    file.flush().unwrap();
}

#[test]
#[ignore = "a measurement, run by hand in release"]
fn cpu_time_to_read_batch_and_encode_a_local_log() {
    cpu_time_to_read_batch_and_encode(Format::Local);
}

#[test]
#[ignore = "a measurement, run by hand in release"]
fn cpu_time_to_read_batch_and_encode_a_json_file_log() {
    cpu_time_to_read_batch_and_encode(Format::JsonFile);
}

fn cpu_time_to_read_batch_and_encode(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("container.log");
    write_log(&path, format);
    let start = LogResume {
        timestamp_ns: 0,
        file: None,
    };
    let (reader, _) = Reader::resume(&path, format, start).unwrap();
    let (end, ended) = std::sync::mpsc::channel();
    end.send(Ending::Exited).unwrap();
    let (chunks, mut received) = tokio::sync::mpsc::channel(LINES);

    let started = thread_cpu_ns();
    follow(reader, ended, chunks);
    let read = thread_cpu_ns();

    let mut positions = Positions::after(Cursor::default(), false);
    let mut joiner = LineJoiner::default();
    let mut grouper = Grouper::new(None);
    let mut events = Vec::new();
    let mut batch = Batch::new(MAX_BODY_BYTES);
    let mut sealed: Vec<Sealed> = Vec::new();
    while let Ok(chunk) = received.try_recv() {
        for frame in chunk.unwrap() {
            let (cursor, _) = positions.next(frame.frame.timestamp_ns, frame.file);
            if let Some(line) = joiner.push(frame.frame.timestamp_ns, frame.frame.bytes, cursor) {
                grouper.push(line, &mut events);
            }
            for event in events.drain(..) {
                if let Err(event) = batch.add(event) {
                    sealed.push(std::mem::replace(&mut batch, Batch::new(MAX_BODY_BYTES)).seal());
                    batch.add(event).unwrap();
                }
            }
        }
    }
    sealed.push(batch.seal());
    let batched = thread_cpu_ns();

    let credentials = berth_protocol::sigv4::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "secret".into(),
    };
    let mut body_bytes = 0;
    for batch in &sealed {
        let body = serde_json::to_vec(&PutLogEventsBody::new("/g", "s", &batch.events)).unwrap();
        let request = berth_protocol::sigv4::Request {
            method: "POST",
            host: "127.0.0.1:8080",
            path: "/",
            headers: &[("content-type", "application/x-amz-json-1.1")],
            body: &body,
        };
        berth_protocol::sigv4::sign(&credentials, &request, ("us-east-1", "logs"), 0);
        body_bytes += body.len();
    }
    let encoded = thread_cpu_ns();

    let per_line = |ns: u64| ns as f64 / LINES as f64;
    println!(
        "{format:?}: per line: read {:.0} ns, batched {:.0} ns, encoded and signed {:.0} ns CPU; {} batches, {body_bytes} body bytes",
        per_line(read - started),
        per_line(batched - read),
        per_line(encoded - batched),
        sealed.len(),
    );
    let events: Vec<&(i64, String)> = sealed.iter().flat_map(|b| &b.events).collect();
    assert_eq!(events.len(), LINES);
    assert_eq!(events[LINES - 1].1, format!("line {LINES}"));
}
