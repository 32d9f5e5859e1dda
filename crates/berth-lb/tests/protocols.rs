//! HTTPS with SNI, HTTP/2 (ALPN and prior knowledge) and WebSocket upgrades through listeners.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use berth_lb::*;
use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

struct Generated {
    certificate: Certificate,
    der: CertificateDer<'static>,
}

fn self_signed(name: &str) -> Generated {
    let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    Generated {
        certificate: Certificate {
            id: format!("arn:aws:acm:us-east-1:000000000000:certificate/{name}"),
            certificate_chain_pem: generated.cert.pem(),
            private_key_pem: generated.signing_key.serialize_pem(),
        },
        der: generated.cert.der().clone(),
    }
}

fn https_listener(
    id: &str,
    certificates: Vec<Certificate>,
    policy: Option<&str>,
    action: Action,
) -> Listener {
    Listener {
        id: id.into(),
        port: 0,
        protocol: Protocol::Https,
        certificates,
        ssl_policy: policy.map(str::to_string),
        rules: vec![],
        default_action: action,
    }
}

#[allow(deprecated)] // ring on purpose, as in the crate
fn client_config(
    trusted: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
    tls13_only: bool,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in trusted {
        roots.add((*certificate).clone()).unwrap();
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

async fn tls_connect(
    address: SocketAddr,
    sni: &str,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let stream = TcpStream::connect(address).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_string()).unwrap(), stream)
        .await
}

async fn body_of(response: http::Response<hyper::body::Incoming>) -> String {
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
}

#[tokio::test]
async fn https_picks_certificates_by_sni_and_speaks_h2_by_alpn() {
    let a = upstream("a").await;
    let first = self_signed("one.localhost");
    let second = self_signed("two.localhost");
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "one.localhost",
            https_listener(
                "l",
                vec![first.certificate.clone(), second.certificate.clone()],
                Some("ELBSecurityPolicy-TLS13-1-2-2021-06"),
                forward(&[("g", 1)]),
            ),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];

    // SNI two.localhost gets the second certificate: a client trusting only it succeeds.
    let tls = tls_connect(
        address,
        "two.localhost",
        client_config(&[&second.der], &[b"http/1.1"], false),
    )
    .await
    .expect("handshake with the SNI-chosen certificate");
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], second.der);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("/")
                .header("host", "two.localhost")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(body_of(response).await, "a");
    let headers = a.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(headers["x-forwarded-proto"], "https");

    // An unknown name gets the default (first) certificate.
    let tls = tls_connect(
        address,
        "other.localhost",
        client_config(&[&first.der, &second.der], &[], false),
    )
    .await;
    assert!(
        tls.is_err(),
        "the default certificate is not valid for other.localhost"
    );
    let tls = tls_connect(
        address,
        "one.localhost",
        client_config(&[&first.der], &[b"h2", b"http/1.1"], true),
    )
    .await
    .expect("handshake with the default certificate over TLS 1.3");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("https://one.localhost/h2")
                .version(http::Version::HTTP_2)
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(body_of(response).await, "a");
    let headers = a.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(
        headers["host"], "one.localhost",
        "the authority becomes the target's Host"
    );
}

#[tokio::test]
async fn security_policies_restrict_tls_versions_and_http2_can_be_disabled() {
    let cert = self_signed("p.localhost");
    let mut lb = load_balancer(
        "lb",
        "p.localhost",
        https_listener(
            "l",
            vec![cert.certificate.clone()],
            Some("ELBSecurityPolicy-TLS13-1-3-2021-06"),
            fixed(200, "ok"),
        ),
    );
    lb.http2_enabled = false;
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane
        .apply(Config {
            load_balancers: vec![lb],
            target_groups: vec![],
        })
        .unwrap()
        .listeners["l"];
    assert!(
        tls_connect(
            address,
            "p.localhost",
            client_config(&[&cert.der], &[], false)
        )
        .await
        .is_err(),
        "TLS 1.2 is refused by a TLS 1.3-only policy"
    );
    let tls = tls_connect(
        address,
        "p.localhost",
        client_config(&[&cert.der], &[b"h2", b"http/1.1"], true),
    )
    .await
    .unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "no h2 when HTTP/2 is disabled"
    );
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let a = upstream("a").await;
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "h2c.localhost",
            http_listener("l", 0, vec![], forward(&[("g", 1)])),
        )],
        target_groups: vec![target_group("g", &[&a])],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    for _ in 0..3 {
        let response = sender
            .send_request(
                Request::get(format!("http://h2c.localhost:{}/", address.port()))
                    .version(http::Version::HTTP_2)
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(body_of(response).await, "a");
    }
}

/// A WebSocket server that echoes every message.
async fn websocket_echo() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() || message.is_binary() {
                        if socket.send(message).await.is_err() {
                            return;
                        }
                    } else if message.is_close() {
                        return;
                    }
                }
            });
        }
    });
    (address, task)
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    let (echo, task) = websocket_echo().await;
    let mut group = target_group("ws", &[]);
    group.health_check.enabled = false;
    group.targets.push(Target {
        address: echo,
        admin_state: AdminState::Active,
    });
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "ws.localhost",
            http_listener("l", 0, vec![], forward(&[("ws", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    let health = &plane.health()[0].health;
    assert_eq!(
        health.state,
        berth_lb::health::State::Unavailable,
        "no checks, still routed"
    );
    assert_eq!(health.reason.unwrap().code(), "Target.HealthCheckDisabled");
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(
        format!("ws://ws.localhost:{}/chat", address.port()),
        stream,
    )
    .await
    .expect("the upgrade goes through");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "through the load balancer"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = socket.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    socket.close(None).await.unwrap();
    task.abort();
}

/// An HTTPS target with a self-signed certificate: answers "secure" everywhere (with the length
/// of the request body after it when there is one), 200 on /health.
#[allow(deprecated)] // ring on purpose, as in the crate
async fn https_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let generated = self_signed("target.internal");
    let key = rustls::pki_types::PrivateKeyDer::try_from(
        rcgen::KeyPair::from_pem(&generated.certificate.private_key_pem)
            .unwrap()
            .serialize_der(),
    )
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![generated.der.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let answer = match body.len() {
                            0 => "secure".to_string(),
                            length => format!("secure {length}"),
                        };
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from(answer)),
                        ))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, task)
}

#[tokio::test]
async fn https_targets_and_https_health_checks() {
    let (target, task) = https_upstream().await;
    let mut group = target_group("secure", &[]);
    group.protocol = Protocol::Https;
    group.health_check.protocol = Protocol::Https;
    group.targets.push(Target {
        address: target,
        admin_state: AdminState::Active,
    });
    let config = Config {
        load_balancers: vec![load_balancer(
            "lb",
            "s.localhost",
            http_listener("l", 0, vec![], forward(&[("secure", 1)])),
        )],
        target_groups: vec![group],
    };
    let (plane, _) = DataPlane::new(loopback()).unwrap();
    let address = plane.apply(config).unwrap().listeners["l"];
    wait_for_health(
        &plane,
        "secure",
        &[target],
        berth_lb::health::State::Healthy,
    )
    .await;
    let answer = get(&client(), &format!("http://{address}/"), &[]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (http::StatusCode::OK, "secure")
    );
    // A body larger than the socket buffers goes through TLS whole.
    let upload = Request::post(format!("http://{address}/"))
        .body(http_body_util::Full::new(Bytes::from(vec![7; 4 << 20])))
        .unwrap();
    let answer = send(&client(), upload).await;
    assert_eq!(answer.body, format!("secure {}", 4 << 20));
    task.abort();
}
