//! The data plane over real sockets: rules, balancing, health, draining, errors and headers,
//! checked with a real HTTP client against small upstream servers on loopback.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use berth_lb::health::State;
use berth_lb::*;
use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rule(priority: u32, conditions: Vec<Condition>, action: Action) -> Rule {
    Rule {
        priority,
        conditions,
        action,
    }
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn url(applied: &Applied, listener: &str, path: &str) -> String {
    format!("http://{}{path}", applied.listeners[listener])
}

#[tokio::test]
async fn rules_route_by_path_host_header_method_query_and_source_ip() {
    let api = upstream("api").await;
    let web = upstream("web").await;
    let rules = vec![
        rule(
            10,
            vec![Condition::PathPattern(values(&["/api/*"]))],
            forward(&[("api", 1)]),
        ),
        rule(
            20,
            vec![Condition::HostHeader(values(&["admin.*.test"]))],
            fixed(200, "admin"),
        ),
        rule(
            30,
            vec![Condition::HttpHeader {
                name: "x-canary".into(),
                values: values(&["yes"]),
            }],
            fixed(200, "canary"),
        ),
        rule(
            40,
            vec![Condition::HttpRequestMethod(values(&["DELETE"]))],
            fixed(405, "no deletes"),
        ),
        rule(
            50,
            vec![Condition::QueryString(vec![QueryStringPair {
                key: Some("debug".into()),
                value: "tr?e".into(),
            }])],
            fixed(200, "debug"),
        ),
        rule(
            60,
            vec![Condition::SourceIp(vec!["10.0.0.0/8".parse().unwrap()])],
            fixed(200, "from ten"),
        ),
        rule(
            70,
            vec![
                Condition::SourceIp(vec!["127.0.0.0/8".parse().unwrap()]),
                Condition::PathPattern(values(&["/local"])),
            ],
            fixed(200, "from loopback"),
        ),
    ];
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "app.localhost",
            http_listener("l", 0, rules, forward(&[("web", 1)])),
        )],
        target_groups: vec![target_group("api", &[&api]), target_group("web", &[&web])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "web", &[web.address], State::Healthy).await;
    wait_for_health(&plane, "api", &[api.address], State::Healthy).await;
    let client = client();

    assert_eq!(
        get(&client, &url(&applied, "l", "/api/users"), &[])
            .await
            .body,
        "api"
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/API/users"), &[])
            .await
            .body,
        "web",
        "paths are case-sensitive"
    );
    assert_eq!(
        get(
            &client,
            &url(&applied, "l", "/"),
            &[("host", "ADMIN.x.test")]
        )
        .await
        .body,
        "admin"
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/"), &[("X-Canary", "YES")])
            .await
            .body,
        "canary"
    );
    let delete = Request::delete(url(&applied, "l", "/thing"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let deleted = send(&client, delete).await;
    assert_eq!(
        (deleted.status.as_u16(), deleted.body.as_str()),
        (405, "no deletes")
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/x?a=1&DEBUG=TRUE"), &[])
            .await
            .body,
        "debug"
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/x?debug=false"), &[])
            .await
            .body,
        "web"
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/local"), &[]).await.body,
        "from loopback"
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/"), &[]).await.body,
        "web"
    );
}

#[tokio::test]
async fn fixed_responses_and_redirects() {
    let rules = vec![
        rule(
            1,
            vec![Condition::PathPattern(values(&["/old/*"]))],
            Action::Redirect(Redirect {
                protocol: Some("HTTPS".into()),
                host: None,
                port: Some("443".into()),
                path: Some("/new/#{path}".into()),
                query: None,
                permanent: true,
            }),
        ),
        rule(
            2,
            vec![Condition::PathPattern(values(&["/temp"]))],
            Action::Redirect(Redirect {
                protocol: None,
                host: Some("other.localhost".into()),
                port: None,
                path: None,
                query: Some("from=#{host}".into()),
                permanent: false,
            }),
        ),
    ];
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "app.localhost",
            http_listener("l", 0, rules, fixed(418, "teapot")),
        )],
        target_groups: vec![],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    let port = applied.listeners["l"].port();
    let client = client();
    let moved = get(
        &client,
        &url(&applied, "l", "/old/a/b?x=1"),
        &[("host", "app.localhost")],
    )
    .await;
    assert_eq!(moved.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        moved.headers["location"],
        "https://app.localhost/new/old/a/b?x=1"
    );
    let found = get(
        &client,
        &url(&applied, "l", "/temp"),
        &[("host", "app.localhost")],
    )
    .await;
    assert_eq!(found.status, StatusCode::FOUND);
    assert_eq!(
        found.headers["location"],
        format!("http://other.localhost:{port}/temp?from=app.localhost")
    );
    let teapot = get(&client, &url(&applied, "l", "/"), &[]).await;
    assert_eq!(
        (teapot.status.as_u16(), teapot.body.as_str()),
        (418, "teapot")
    );
    assert_eq!(teapot.headers["content-type"], "text/plain");
}

#[tokio::test]
async fn weighted_forwarding_follows_the_weights() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "w.localhost",
            http_listener("l", 0, vec![], forward(&[("a", 1), ("b", 3)])),
        )],
        target_groups: vec![target_group("a", &[&a]), target_group("b", &[&b])],
    };
    let (plane, metrics) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "a", &[a.address], State::Healthy).await;
    wait_for_health(&plane, "b", &[b.address], State::Healthy).await;
    let counts = spread(&client(), &url(&applied, "l", "/"), 400, &[]).await;
    // Binomial(400, 0.25): mean 100, sd ≈ 8.7; 60..140 is beyond 4.5 sd.
    let to_a = counts.get("a").copied().unwrap_or(0);
    assert!((60..=140).contains(&to_a), "{counts:?}");
    assert_eq!(to_a + counts.get("b").copied().unwrap_or(0), 400);
    assert_eq!(metrics.load_balancer("lb").request_count, 400);
    assert_eq!(metrics.load_balancer("lb").target_2xx, 400);
    assert_eq!(metrics.target_group("lb", "a").target_2xx as usize, to_a);
}

#[tokio::test]
async fn round_robin_alternates_and_stickiness_pins_a_target() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let mut group = target_group("g", &[&a, &b]);
    let config = |group: TargetGroup| Config {
        load_balancers: vec![load_balancer(
            "lb",
            "rr.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config(group.clone())).unwrap();
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    let client = client();
    let counts = spread(&client, &url(&applied, "l", "/"), 10, &[]).await;
    assert_eq!((counts["a"], counts["b"]), (5, 5));

    group.stickiness = Some(Duration::from_secs(60));
    plane.apply(config(group)).unwrap();
    let first = get(&client, &url(&applied, "l", "/"), &[]).await;
    let cookies: Vec<&str> = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("AWSALB=") && cookies[0].ends_with("; Path=/"),
        "{cookies:?}"
    );
    assert!(cookies[1].starts_with("AWSALBCORS=") && cookies[1].ends_with("SameSite=None; Secure"));
    let cookie = cookies[0].split(';').next().unwrap().to_string();
    let pinned = spread(
        &client,
        &url(&applied, "l", "/"),
        10,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(pinned.get(&first.body), Some(&10), "{pinned:?}");

    // The sticky target turns unhealthy: the cookie no longer holds.
    let sticky = if first.body == "a" { &a } else { &b };
    sticky.healthy.store(false, Ordering::SeqCst);
    wait_for_health(&plane, "g", &[sticky.address], State::Unhealthy).await;
    let moved = spread(&client, &url(&applied, "l", "/"), 4, &[("cookie", &cookie)]).await;
    assert_eq!(moved.get(&first.body), None, "{moved:?}");
}

#[tokio::test]
async fn least_outstanding_requests_prefers_the_idle_target() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let mut group = target_group("g", &[&a, &b]);
    group.algorithm = Algorithm::LeastOutstandingRequests;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "lor.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    let client = client();
    let slow_url = url(&applied, "l", "/slow?ms=1500");
    let slow = tokio::spawn({
        let client = client.clone();
        async move { get(&client, &slow_url, &[]).await }
    });
    eventually("the slow request to reach a target", || {
        let hits = a.hits.load(Ordering::SeqCst) + b.hits.load(Ordering::SeqCst);
        async move { hits == 1 }
    })
    .await;
    let busy = if a.hits.load(Ordering::SeqCst) == 1 {
        "a"
    } else {
        "b"
    };
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!(
        counts.get(busy),
        None,
        "the busy target got requests: {counts:?}"
    );
    assert_eq!(slow.await.unwrap().body, busy);
}

#[tokio::test]
async fn health_transitions_steer_traffic_and_all_unhealthy_fails_open() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "h.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a, &b])],
    };
    let (plane, metrics) = DataPlane::new(loopback()).unwrap();
    let initial: Vec<_> = {
        let applied = plane.apply(config.clone()).unwrap();
        let reports = plane.health();
        assert!(
            reports
                .iter()
                .all(|r| r.health.state == State::Initial || r.health.state == State::Healthy)
        );
        let _ = applied;
        reports
    };
    assert_eq!(initial.len(), 2);
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    assert_eq!(metrics.target_group("lb", "g").healthy_hosts, 2);
    let client = client();

    b.healthy.store(false, Ordering::SeqCst);
    wait_for_health(&plane, "g", &[b.address], State::Unhealthy).await;
    let report = plane
        .health()
        .into_iter()
        .find(|r| r.target == b.address)
        .unwrap();
    assert_eq!(
        report.health.reason.unwrap().code(),
        "Target.ResponseCodeMismatch"
    );
    assert_eq!(
        report.health.description.as_deref(),
        Some("Health checks failed with these codes: [503]")
    );
    assert_eq!(
        (
            metrics.target_group("lb", "g").healthy_hosts,
            metrics.target_group("lb", "g").unhealthy_hosts
        ),
        (1, 1)
    );
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!(counts.get("a"), Some(&6), "{counts:?}");

    a.healthy.store(false, Ordering::SeqCst);
    wait_for_health(&plane, "g", &[a.address], State::Unhealthy).await;
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!(
        (counts.get("a"), counts.get("b")),
        (Some(&3), Some(&3)),
        "fail open to all"
    );

    a.healthy.store(true, Ordering::SeqCst);
    b.healthy.store(true, Ordering::SeqCst);
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!((counts.get("a"), counts.get("b")), (Some(&3), Some(&3)));
}

#[tokio::test]
async fn a_dead_target_is_marked_unhealthy_with_failed_health_checks() {
    let a = upstream("a").await;
    let dead = {
        let b = upstream("b").await;
        b.address
    };
    let mut group = target_group("g", &[&a]);
    group.targets.push(Target {
        address: dead,
        admin_state: AdminState::Active,
    });
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "d.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "g", &[dead], State::Unhealthy).await;
    let report = plane
        .health()
        .into_iter()
        .find(|r| r.target == dead)
        .unwrap();
    assert_eq!(
        report.health.reason.unwrap().code(),
        "Target.FailedHealthChecks"
    );
    wait_for_health(&plane, "g", &[a.address], State::Healthy).await;
    let counts = spread(&client(), &url(&applied, "l", "/"), 4, &[]).await;
    assert_eq!(counts.get("a"), Some(&4));
}

#[tokio::test]
async fn draining_targets_finish_in_flight_requests_and_get_no_new_ones() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let group = target_group("g", &[&a, &b]);
    let config = |group: TargetGroup| Config {
        load_balancers: vec![load_balancer(
            "lb",
            "dr.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config(group.clone())).unwrap();
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    let client = client();
    let slow_url = url(&applied, "l", "/slow?ms=800");
    let slow = tokio::spawn({
        let client = client.clone();
        async move { get(&client, &slow_url, &[]).await }
    });
    eventually("the slow request to reach a target", || {
        let hits = a.hits.load(Ordering::SeqCst) + b.hits.load(Ordering::SeqCst);
        async move { hits == 1 }
    })
    .await;
    let (busy, other) = if a.hits.load(Ordering::SeqCst) == 1 {
        ("a", "b")
    } else {
        ("b", "a")
    };
    let mut draining = group;
    for target in &mut draining.targets {
        if (busy == "a") == (target.address == a.address) {
            target.admin_state = AdminState::Draining {
                until: SystemTime::now() + Duration::from_secs(300),
            };
        }
    }
    plane.apply(config(draining)).unwrap();
    let report = plane
        .health()
        .into_iter()
        .find(|r| r.health.state == State::Draining)
        .unwrap();
    assert_eq!(
        report.health.reason.unwrap().code(),
        "Target.DeregistrationInProgress"
    );
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!(counts.get(other), Some(&6), "{counts:?}");
    let finished = slow.await.unwrap();
    assert_eq!(
        (finished.status, finished.body.as_str()),
        (StatusCode::OK, busy)
    );
}

#[tokio::test]
async fn load_balancer_errors_502_503_504() {
    let slow = upstream("slow").await;
    let refused = {
        let gone = upstream("gone").await;
        gone.address
    };
    let mut no_targets = target_group("empty", &[]);
    no_targets.health_check.enabled = true;
    let mut dead = target_group("dead", &[]);
    dead.targets.push(Target {
        address: refused,
        admin_state: AdminState::Active,
    });
    let rules = vec![
        rule(
            1,
            vec![Condition::PathPattern(values(&["/empty"]))],
            forward(&[("empty", 1)]),
        ),
        rule(
            2,
            vec![Condition::PathPattern(values(&["/dead"]))],
            forward(&[("dead", 1)]),
        ),
    ];
    let mut lb = load_balancer(
        "lb",
        "e.localhost",
        http_listener("l", 0, rules, forward(&[("slow", 1)])),
    );
    lb.idle_timeout = Duration::from_millis(300);
    let config = Config {
        load_balancers: vec![lb],
        target_groups: vec![no_targets, dead, target_group("slow", &[&slow])],
    };
    let (plane, metrics) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    let client = client();
    let empty = get(&client, &url(&applied, "l", "/empty"), &[]).await;
    assert_eq!(empty.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        empty.body.contains("503 Service Temporarily Unavailable") || empty.body.contains("503")
    );
    assert_eq!(empty.headers["server"], "awselb/2.0");
    assert_eq!(
        get(&client, &url(&applied, "l", "/dead"), &[]).await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        get(&client, &url(&applied, "l", "/slow?ms=2000"), &[])
            .await
            .status,
        StatusCode::GATEWAY_TIMEOUT
    );
    let lb = metrics.load_balancer("lb");
    assert_eq!((lb.elb_5xx, lb.request_count), (3, 3));
}

#[tokio::test]
async fn forwarded_headers_reach_the_target() {
    let a = upstream("a").await;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "xff.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    let port = applied.listeners["l"].port().to_string();
    let client = client();
    get(
        &client,
        &url(&applied, "l", "/path?q=1"),
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("host", "xff.localhost"),
        ],
    )
    .await;
    // Targets get the origin form, as from any HTTP/1.1 client; many serve no other.
    assert_eq!(a.last_target.lock().unwrap().as_deref(), Some("/path?q=1"));
    let headers = a.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-port"], port.as_str());
    assert_eq!(headers["host"], "xff.localhost");
    let trace = headers["x-amzn-trace-id"].to_str().unwrap().to_string();
    let parts: Vec<&str> = trace.strip_prefix("Root=1-").unwrap().split('-').collect();
    assert_eq!((parts[0].len(), parts[1].len()), (8, 24), "{trace}");
    assert!(
        parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
    );

    get(
        &client,
        &url(&applied, "l", "/"),
        &[(
            "x-amzn-trace-id",
            "Root=1-00000001-000000000000000000000001",
        )],
    )
    .await;
    let headers = a.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(
        headers["x-amzn-trace-id"],
        "Root=1-00000001-000000000000000000000001"
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn two_load_balancers_share_a_port_told_apart_by_host() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let one = |port| Config {
        load_balancers: vec![load_balancer(
            "lb-a",
            "a.localhost",
            http_listener("la", port, vec![], forward(&[("ga", 1)])),
        )],
        target_groups: vec![target_group("ga", &[&a]), target_group("gb", &[&b])],
    };
    let first = plane.apply(one(0)).unwrap();
    let port = first.listeners["la"].port();
    // The listener now asks for the port it was given; a second load balancer joins it.
    let mut both = one(port);
    both.load_balancers.push(load_balancer(
        "lb-b",
        "b.localhost",
        http_listener("lb", port, vec![], forward(&[("gb", 1)])),
    ));
    let applied = plane.apply(both).unwrap();
    assert_eq!(applied.listeners["la"], applied.listeners["lb"]);
    let client = client();
    let base = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        get(&client, &base, &[("host", &format!("a.localhost:{port}"))])
            .await
            .body,
        "a"
    );
    assert_eq!(
        get(&client, &base, &[("host", "B.LOCALHOST")]).await.body,
        "b"
    );
    let unknown = get(&client, &base, &[("host", "c.localhost")]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn configuration_changes_keep_established_connections() {
    let a = upstream("a").await;
    let config = |rules: Vec<Rule>| Config {
        load_balancers: vec![load_balancer(
            "lb",
            "k.localhost",
            http_listener("l", 0, rules, forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, metrics) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config(vec![])).unwrap();
    let stream = TcpStream::connect(applied.listeners["l"]).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = || {
        Request::get("/")
            .header("host", "k.localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let body = |response: http::Response<hyper::body::Incoming>| async move {
        String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    };
    assert_eq!(
        body(sender.send_request(request()).await.unwrap()).await,
        "a"
    );
    assert_eq!(metrics.load_balancer("lb").active_connections, 1);

    plane
        .apply(config(vec![rule(
            1,
            vec![Condition::PathPattern(values(&["/"]))],
            fixed(200, "new rules"),
        )]))
        .unwrap();
    sender
        .ready()
        .await
        .expect("the connection survived the change");
    assert_eq!(
        body(sender.send_request(request()).await.unwrap()).await,
        "new rules"
    );
}

#[tokio::test]
async fn malformed_oversized_and_slow_requests() {
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "m.localhost",
            http_listener("l", 0, vec![], fixed(200, "ok")),
        )],
        target_groups: vec![],
    };
    let options = Options {
        header_read_timeout: Duration::from_millis(300),
        max_header_bytes: 8192,
        ..loopback()
    };
    let (plane, _) = DataPlane::new(options).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    let exchange = |bytes: Vec<u8>| async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the load balancer closes the connection")
            .ok();
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(
        exchange(b"NOT HTTP AT ALL\r\n\r\n".to_vec())
            .await
            .starts_with("HTTP/1.1 400")
    );
    assert!(
        exchange(b"GET / HTTP/1.1\r\n\r\n".to_vec())
            .await
            .starts_with("HTTP/1.1 400"),
        "no Host"
    );
    let mut huge = b"GET / HTTP/1.1\r\nhost: m.localhost\r\nx-big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    huge.extend(b"\r\n\r\n");
    assert!(exchange(huge).await.starts_with("HTTP/1.1 431"));
    // Half a request head, then silence: 408 after the header timeout.
    assert!(
        exchange(b"GET / HTTP/1.1\r\nhost: m.lo".to_vec())
            .await
            .starts_with("HTTP/1.1 408")
    );
    // The listener keeps serving everyone else.
    let fine =
        exchange(b"GET / HTTP/1.1\r\nhost: m.localhost\r\nconnection: close\r\n\r\n".to_vec())
            .await;
    assert!(
        fine.starts_with("HTTP/1.1 200") && fine.ends_with("ok"),
        "{fine}"
    );
}

#[tokio::test]
async fn idle_client_connections_are_closed_after_the_idle_timeout() {
    let mut lb = load_balancer(
        "lb",
        "i.localhost",
        http_listener("l", 0, vec![], fixed(200, "ok")),
    );
    lb.idle_timeout = Duration::from_millis(200);
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane
        .apply(Config {
            load_balancers: vec![lb],
            target_groups: vec![],
        })
        .unwrap()
        .listeners["l"];
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: i.localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the idle connection was closed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn invalid_configuration_changes_nothing() {
    let a = upstream("a").await;
    let good = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "v.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(good.clone()).unwrap();
    let mut unknown = good.clone();
    unknown.load_balancers[0].listeners[0].default_action = forward(&[("missing", 1)]);
    assert!(
        matches!(plane.apply(unknown), Err(ApplyError::UnknownTargetGroup { target_group, .. }) if target_group == "missing")
    );
    let mut duplicate = good.clone();
    duplicate.load_balancers[0].listeners[0].rules = vec![
        rule(1, vec![], fixed(200, "x")),
        rule(1, vec![], fixed(200, "y")),
    ];
    assert!(matches!(
        plane.apply(duplicate),
        Err(ApplyError::Rules { .. })
    ));
    let mut https_without_certificate = good.clone();
    https_without_certificate.load_balancers[0].listeners[0].protocol = Protocol::Https;
    assert!(matches!(
        plane.apply(https_without_certificate),
        Err(ApplyError::Tls { .. })
    ));
    assert_eq!(
        get(&client(), &url(&applied, "l", "/"), &[]).await.body,
        "a",
        "still serving the good config"
    );
}

#[test]
fn privileged_port_errors_say_how_to_allow_them() {
    let error = ApplyError::PrivilegedPort {
        address: "0.0.0.0:80".parse().unwrap(),
        port: 80,
    };
    let message = error.to_string();
    assert!(
        message.contains("sysctl net.ipv4.ip_unprivileged_port_start=80"),
        "{message}"
    );
    assert!(message.contains("CAP_NET_BIND_SERVICE"), "{message}");
}

#[tokio::test]
async fn requests_still_in_flight_when_the_deregistration_delay_ends_are_cut_off() {
    let a = upstream("a").await;
    let group = target_group("g", &[&a]);
    let config = |group: TargetGroup| Config {
        load_balancers: vec![load_balancer(
            "lb",
            "cut.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config(group.clone())).unwrap();
    let client = client();
    let slow_url = url(&applied, "l", "/slow?ms=5000");
    let slow = tokio::spawn({
        let client = client.clone();
        async move { get(&client, &slow_url, &[]).await }
    });
    eventually("the slow request to reach the target", || {
        let hits = a.hits.load(Ordering::SeqCst);
        async move { hits == 1 }
    })
    .await;
    let mut draining = group;
    draining.targets[0].admin_state = AdminState::Draining {
        until: SystemTime::now() + Duration::from_millis(200),
    };
    plane.apply(config(draining)).unwrap();
    let started = std::time::Instant::now();
    let cut = slow.await.unwrap();
    assert_eq!(cut.status, StatusCode::BAD_GATEWAY);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut at the deadline, not at the answer"
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_counts_as_460() {
    let a = upstream("a").await;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "gone.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, metrics) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /slow?ms=2000 HTTP/1.1\r\nhost: gone.localhost\r\n\r\n")
        .await
        .unwrap();
    eventually("the request to reach the target", || {
        let hits = a.hits.load(Ordering::SeqCst);
        async move { hits == 1 }
    })
    .await;
    drop(stream);
    eventually("the 460 to be counted", || {
        let counted = metrics.load_balancer("lb");
        async move { counted.elb_4xx == 1 && counted.request_count == 1 }
    })
    .await;
}

#[tokio::test]
async fn target_group_stickiness_keeps_a_client_on_its_group() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let mut sticky_forward = forward(&[("a", 1), ("b", 1)]);
    if let Action::Forward(forward) = &mut sticky_forward {
        forward.group_stickiness = Some(Duration::from_secs(3600));
    }
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "tg.localhost",
            http_listener("l", 0, vec![], sticky_forward),
        )],
        target_groups: vec![target_group("a", &[&a]), target_group("b", &[&b])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "a", &[a.address], State::Healthy).await;
    wait_for_health(&plane, "b", &[b.address], State::Healthy).await;
    let client = client();
    let first = get(&client, &url(&applied, "l", "/"), &[]).await;
    let cookie = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("AWSALBTG="))
        .expect("an AWSALBTG cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let kept = spread(
        &client,
        &url(&applied, "l", "/"),
        20,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(kept.get(&first.body), Some(&20), "{kept:?}");
}

#[tokio::test]
async fn dropping_the_data_plane_closes_its_listeners_but_not_open_connections() {
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "drop.localhost",
            http_listener("l", 0, vec![], fixed(200, "ok")),
        )],
        target_groups: vec![],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = || {
        Request::get("/")
            .header("host", "drop.localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // One exchange first, so the connection has been accepted (not just queued in the backlog).
    let response = sender.send_request(request()).await.unwrap();
    response.into_body().collect().await.unwrap();
    drop(plane);
    eventually("the listener to close", || async move {
        TcpStream::connect(address).await.is_err()
    })
    .await;
    sender.ready().await.unwrap();
    let response = sender.send_request(request()).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the open connection still works"
    );
}

#[tokio::test]
async fn a_port_another_process_listens_on_is_refused() {
    // The other listener even allows port sharing: the data plane still must not join it.
    let taken = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    taken.set_reuse_port(true).unwrap();
    taken
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    taken.listen(8).unwrap();
    let port = taken.local_addr().unwrap().as_socket().unwrap().port();
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "taken.localhost",
            http_listener("l", port, vec![], fixed(200, "ok")),
        )],
        target_groups: vec![],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let error = plane.apply(config).unwrap_err();
    assert!(
        matches!(&error, ApplyError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{error}"
    );
}

#[tokio::test]
async fn a_response_still_streaming_keeps_its_target_outstanding() {
    let a = upstream("a").await;
    let b = upstream("b").await;
    let mut group = target_group("g", &[&a, &b]);
    group.algorithm = Algorithm::LeastOutstandingRequests;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "stream.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let applied = plane.apply(config).unwrap();
    wait_for_health(&plane, "g", &[a.address, b.address], State::Healthy).await;
    let client = client();
    // The head arrives at once; the body only after 1.5 s.
    let streaming = client
        .request(
            Request::get(url(&applied, "l", "/stream?ms=1500"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(streaming.status(), StatusCode::OK);
    let busy = if a.hits.load(Ordering::SeqCst) == 1 {
        "a"
    } else {
        "b"
    };
    let counts = spread(&client, &url(&applied, "l", "/"), 6, &[]).await;
    assert_eq!(
        counts.get(busy),
        None,
        "the streaming target got requests: {counts:?}"
    );
    let body = streaming.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, busy.as_bytes());
}

#[tokio::test]
async fn can_listen_tells_ports_it_serves_or_could_bind_from_ports_it_cannot() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    assert!(plane.can_listen(free_port).is_ok());
    let error = plane.can_listen(taken_port).unwrap_err();
    assert!(
        matches!(&error, ApplyError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{error}"
    );

    // A port the data plane already serves can take another load balancer's listener.
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "served.localhost",
            http_listener("l", free_port, vec![], fixed(200, "ok")),
        )],
        target_groups: vec![],
    };
    plane.apply(config).unwrap();
    assert!(plane.can_listen(free_port).is_ok());
}

/// Reads one request head from `stream` and answers it `200 ok`, keeping the connection;
/// `None` when the peer closed first.
async fn answer_one_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await;
    Some(head)
}
/// A target that answers each connection's first request as if keeping it alive, then closes
/// it (as a target whose keep-alive timeout is shorter than the load balancer's pool's does):
/// counts the connections it closed after a request for `/` (health checks ask for another
/// path).
async fn closing_target() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let counted = closed.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Some(head) = answer_one_request(&mut stream).await else {
                    return;
                };
                // Closed only once the load balancer has pooled the connection (closed at
                // once, it would see the end with the answer and not pool it).
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(stream);
                if head.starts_with(b"GET / ") {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (address, closed)
}

#[tokio::test]
async fn a_request_meeting_a_pooled_connection_the_target_closed_goes_out_on_a_new_one() {
    let (target, closed) = closing_target().await;
    let (_plane, applied) = forwarding_to(target).await;
    // One client connection: every request is served by the same worker, whose pool keeps the
    // target's connection after each answer.
    let client = client();
    for round in 0..3 {
        let closed_before = closed.load(Ordering::SeqCst);
        let answer = get(&client, &url(&applied, "l", "/"), &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "round {round}: {}",
            answer.body
        );
        assert_eq!(answer.body, "ok");
        eventually("the target to close the connection", || {
            let closed = closed.load(Ordering::SeqCst);
            async move { closed > closed_before }
        })
        .await;
    }
}

#[tokio::test]
async fn a_pooled_connection_the_target_closes_is_closed_by_the_load_balancer_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    // Each connection answers one request, keeping the connection alive, then shuts its side
    // down (a target's keep-alive timeout) and reports whether the load balancer closed its
    // side in turn (an end of stream within 5 s).
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let Some(head) = answer_one_request(&mut stream).await else {
                    return;
                };
                if !head.starts_with(b"GET / ") {
                    return;
                }
                // Once the load balancer has pooled the connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = stream.shutdown().await;
                let mut buffer = [0; 1];
                let end = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer));
                let _ = closed_tx.send(matches!(end.await, Ok(Ok(0))));
            });
        }
    });
    let (_plane, applied) = forwarding_to(target).await;
    let answer = get(&client(), &url(&applied, "l", "/"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        closed_rx.recv().await,
        Some(true),
        "the load balancer kept its side of the connection open"
    );
}
