//! A minimal HTTP/1.1 target for benchmarks and manual tests: answers every request with its
//! name, on 127.0.0.1. Port 0 takes any free port; the address is printed as `listening ADDR`.
//!
//!     cargo run --release -p berth-lb --example upstream -- PORT [NAME] [THREADS]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(port) = args.get(1).and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: upstream PORT [NAME] [THREADS]");
        std::process::exit(2);
    };
    let name = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("upstream-{port}"));
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1);
    let body = Bytes::from(format!("{name}\n"));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async move {
            let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
            let address = listener.local_addr().expect("a bound address");
            println!("listening {address}");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let body = body.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
}
