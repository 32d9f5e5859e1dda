//! Test fixtures: small upstream servers on 127.0.0.1:0, configuration builders and an HTTP
//! client. Waits are bounded loops on conditions, never bare sleeps.

#![allow(dead_code)] // each test file uses its own part of the fixtures

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_lb::*;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// An upstream target: answers its name on every path, `/health` with 200 or 503,
/// `/slow?ms=N` after N milliseconds, `/stream?ms=N` with the head at once and the body after
/// N milliseconds, and records the request target (as the request line has it) and the headers
/// of each request.
pub struct Upstream {
    pub name: &'static str,
    pub address: SocketAddr,
    pub healthy: Arc<AtomicBool>,
    pub hits: Arc<AtomicUsize>,
    pub last_headers: Arc<Mutex<Option<HeaderMap>>>,
    pub last_target: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn upstream(name: &'static str) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let healthy = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let last_headers = Arc::new(Mutex::new(None));
    let last_target = Arc::new(Mutex::new(None));
    let (h, c, l, t) = (
        healthy.clone(),
        hits.clone(),
        last_headers.clone(),
        last_target.clone(),
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (h, c, l, t) = (h.clone(), c.clone(), l.clone(), t.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (h, c, l, t) = (h.clone(), c.clone(), l.clone(), t.clone());
                    async move {
                        *t.lock().unwrap() = Some(request.uri().to_string());
                        Ok::<_, Infallible>(answer(name, request, &h, &c, &l).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Upstream {
        name,
        address,
        healthy,
        hits,
        last_headers,
        last_target,
        task,
    }
}

async fn answer(
    name: &str,
    request: Request<Incoming>,
    healthy: &AtomicBool,
    hits: &AtomicUsize,
    last_headers: &Mutex<Option<HeaderMap>>,
) -> Response<BoxBody<Bytes, Infallible>> {
    let path = request.uri().path().to_string();
    if path == "/health" {
        let status = if healthy.load(Ordering::SeqCst) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap();
    }
    hits.fetch_add(1, Ordering::SeqCst);
    *last_headers.lock().unwrap() = Some(request.headers().clone());
    let ms: u64 = request
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = Bytes::from(name.to_string());
    match path.as_str() {
        "/slow" => tokio::time::sleep(Duration::from_millis(ms)).await,
        "/stream" => {
            let later = futures_util::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Infallible>(hyper::body::Frame::data(body))
            });
            return Response::new(http_body_util::StreamBody::new(later).boxed());
        }
        _ => {}
    }
    Response::new(Full::new(body).boxed())
}

pub fn fixed(status: u16, body: &str) -> Action {
    Action::FixedResponse(FixedResponse {
        status_code: status,
        content_type: Some("text/plain".into()),
        body: Some(body.into()),
    })
}

pub fn forward(groups: &[(&str, u32)]) -> Action {
    Action::Forward(Forward {
        target_groups: groups
            .iter()
            .map(|(id, weight)| WeightedTargetGroup {
                target_group_id: id.to_string(),
                weight: *weight,
            })
            .collect(),
        group_stickiness: None,
    })
}

/// Fast health checks so that tests see transitions within a second.
pub fn fast_health_check() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..HealthCheck::default()
    }
}

pub fn target_group(id: &str, targets: &[&Upstream]) -> TargetGroup {
    TargetGroup {
        id: id.into(),
        protocol: Protocol::Http,
        targets: targets
            .iter()
            .map(|u| Target {
                address: u.address,
                admin_state: AdminState::Active,
            })
            .collect(),
        health_check: fast_health_check(),
        algorithm: Algorithm::RoundRobin,
        stickiness: None,
        slow_start: None,
        deregistration_delay: Duration::from_secs(300),
    }
}

pub fn load_balancer(id: &str, dns_name: &str, listener: Listener) -> LoadBalancer {
    LoadBalancer {
        id: id.into(),
        dns_name: dns_name.into(),
        idle_timeout: Duration::from_secs(60),
        http2_enabled: true,
        listeners: vec![listener],
    }
}

pub fn http_listener(id: &str, port: u16, rules: Vec<Rule>, default_action: Action) -> Listener {
    Listener {
        id: id.into(),
        port,
        protocol: Protocol::Http,
        certificates: vec![],
        ssl_policy: None,
        rules,
        default_action,
    }
}

pub fn loopback() -> Options {
    Options {
        bind_ip: "127.0.0.1".parse().unwrap(),
        ..Options::default()
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn get(client: &HttpClient, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(client, builder.body(Full::new(Bytes::new())).unwrap()).await
}

pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Answer {
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("the load balancer answers within 10 s")
        .expect("the request reaches the load balancer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Polls `condition` every 20 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..500 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until every target of `group` reports `state`.
pub async fn wait_for_health(
    plane: &DataPlane,
    group: &str,
    targets: &[SocketAddr],
    state: health::State,
) {
    eventually(&format!("{targets:?} in {group} to be {state:?}"), || {
        let reports = plane.health();
        let ok = targets.iter().all(|t| {
            reports
                .iter()
                .any(|r| r.target_group_id == group && r.target == *t && r.health.state == state)
        });
        async move { ok }
    })
    .await;
}

/// A data plane whose listener `l` forwards to `target` alone, once the target is healthy.
pub async fn forwarding_to(target: SocketAddr) -> (DataPlane, Applied) {
    let mut group = target_group("g", &[]);
    group.targets = vec![Target {
        address: target,
        admin_state: AdminState::Active,
    }];
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "forwarding.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "g", &[target], health::State::Healthy).await;
    (plane, applied)
}

/// How many of `n` GETs of `url` each upstream answered (by body).
pub async fn spread(
    client: &HttpClient,
    url: &str,
    n: usize,
    headers: &[(&str, &str)],
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let answer = get(client, url, headers).await;
        assert_eq!(answer.status, StatusCode::OK, "body: {}", answer.body);
        *counts.entry(answer.body).or_insert(0) += 1;
    }
    counts
}
