//! An open-loop HTTP/1.1 load generator for bench/api.sh that corrects for coordinated omission,
//! as wrk2 does: requests are due at a constant overall rate, and each one's latency is measured
//! from the moment it was due, not from the moment it could be sent. A server that stalls for
//! 100 ms therefore shows 100 ms on every request that should have gone out during the stall,
//! instead of on the one request that waited (which is what a closed-loop tool like wrk reports).
//!
//! Std only, so the bench compiles it with `rustc -O` and needs nothing installed: wrk2 is not
//! packaged in Debian, and oha sends one fixed request, while the bench replays a rotating set
//! of distinct SigV4-signed requests.
//!
//!   openloop REQUESTS HOST:PORT RATE SECONDS CONNECTIONS
//!
//! REQUESTS holds raw requests, each as a decimal byte count, a newline, then the bytes (written
//! by bench/api_sign.py). Connection k (of C) owns the requests due at t0 + (k + j*C)/RATE for
//! j = 0, 1, …, until SECONDS have passed; it sends one at a time over one keep-alive connection,
//! rotating through the set from its own offset. Prints, one `key: value` a line:
//!   openloop_target_rate, openloop_achieved_rate, openloop_sent, openloop_ok, openloop_failed,
//!   openloop_first_failure (when one failed), openloop_corrected_p50_ms … _p999_ms, _max_ms
//!   (from the due time), openloop_service_p50_ms, openloop_service_p99_ms (from the send).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Outcome {
    corrected_us: Vec<u64>,
    service_us: Vec<u64>,
    failed: u64,
    first_failure: Option<String>,
}

fn load(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut requests = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let newline = at
            + data[at..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("a length line");
        let length: usize = std::str::from_utf8(&data[at..newline])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("a decimal length");
        let start = newline + 1;
        requests.push(data[start..start + length].to_vec());
        at = start + length;
    }
    assert!(!requests.is_empty(), "{path} holds no request");
    requests
}

/// Reads one response: (status, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed in the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(std::io::Error::other("chunked responses are not supported"));
            }
        }
    }
    let mut body = vec![0; length.unwrap_or(0)];
    reader.read_exact(&mut body)?;
    Ok((status, body))
}

fn connection(
    address: String,
    requests: &[Vec<u8>],
    k: usize,
    connections: usize,
    interval: Duration,
    t0: Instant,
    end: Instant,
) -> Outcome {
    let stream = TcpStream::connect(&address).unwrap_or_else(|e| panic!("connect {address}: {e}"));
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut outcome = Outcome {
        corrected_us: Vec::new(),
        service_us: Vec::new(),
        failed: 0,
        first_failure: None,
    };
    let mut position = k * requests.len() / connections;
    let mut j: u32 = 0;
    loop {
        let due = t0 + interval * (k as u32 + j * connections as u32);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        let request = &requests[position % requests.len()];
        position += 1;
        j += 1;
        let result = writer
            .write_all(request)
            .and_then(|()| read_response(&mut reader));
        let done = Instant::now();
        match result {
            Ok((200, _)) => {}
            Ok((status, body)) => {
                outcome.failed += 1;
                outcome.first_failure.get_or_insert_with(|| {
                    format!(
                        "{status} {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    )
                });
            }
            Err(e) => {
                outcome.failed += 1;
                outcome.first_failure.get_or_insert_with(|| e.to_string());
                break;
            }
        }
        outcome
            .corrected_us
            .push(done.duration_since(due).as_micros() as u64);
        outcome
            .service_us
            .push(done.duration_since(sent).as_micros() as u64);
    }
    outcome
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: openloop REQUESTS HOST:PORT RATE SECONDS CONNECTIONS");
        std::process::exit(2);
    }
    let requests = load(&args[1]);
    let address = args[2].clone();
    let rate: f64 = args[3].parse().expect("RATE");
    let seconds: f64 = args[4].parse().expect("SECONDS");
    let connections: usize = args[5].parse().expect("CONNECTIONS");
    assert!(rate > 0.0 && seconds > 0.0 && connections > 0);
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Every connection is opened before the clock starts.
    let t0 = Instant::now() + Duration::from_millis(200);
    let end = t0 + Duration::from_secs_f64(seconds);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|k| {
                let address = address.clone();
                let requests = &requests;
                scope
                    .spawn(move || connection(address, requests, k, connections, interval, t0, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a connection thread"))
            .collect()
    });
    let elapsed = t0.elapsed().as_secs_f64().max(seconds);
    let mut corrected: Vec<u64> = outcomes
        .iter()
        .flat_map(|o| o.corrected_us.iter().copied())
        .collect();
    let mut service: Vec<u64> = outcomes
        .iter()
        .flat_map(|o| o.service_us.iter().copied())
        .collect();
    corrected.sort_unstable();
    service.sort_unstable();
    let failed: u64 = outcomes.iter().map(|o| o.failed).sum();
    let sent = corrected.len() as u64;
    println!("openloop_target_rate: {rate:.0}");
    println!("openloop_achieved_rate: {:.0}", sent as f64 / elapsed);
    println!("openloop_sent: {sent}");
    println!("openloop_ok: {}", sent - failed.min(sent));
    println!("openloop_failed: {failed}");
    if let Some(first) = outcomes.iter().find_map(|o| o.first_failure.clone()) {
        println!("openloop_first_failure: {}", first.replace('\n', " "));
    }
    for (name, p) in [
        ("p50", 50.0),
        ("p90", 90.0),
        ("p99", 99.0),
        ("p999", 99.9),
        ("max", 100.0),
    ] {
        println!(
            "openloop_corrected_{name}_ms: {:.3}",
            percentile(&corrected, p)
        );
    }
    println!("openloop_service_p50_ms: {:.3}", percentile(&service, 50.0));
    println!("openloop_service_p99_ms: {:.3}", percentile(&service, 99.0));
}
