//! HTTP/1.1 message framing between the load balancer and its targets: request bodies of
//! every framing reach the target whole, responses of every framing reach the client whole,
//! and the connection to the target is kept exactly when it can carry another request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_lb::*;
use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn url(applied: &Applied, path: &str) -> String {
    format!("http://{}{path}", applied.listeners["l"])
}

/// Reads from `stream` until `buffer` holds `needle`; false if the stream ended first.
async fn read_until(
    stream: &mut (impl AsyncRead + Unpin),
    buffer: &mut Vec<u8>,
    needle: &[u8],
) -> bool {
    let mut chunk = [0; 4096];
    while !buffer.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// A target written byte by byte: each response comes in pieces, a short pause apart, in the
/// framing its path names. Counts the connections that carried anything but health checks.
async fn scripted_target() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut first = true;
                let mut buffer = Vec::new();
                loop {
                    if !read_until(&mut stream, &mut buffer, b"\r\n\r\n").await {
                        return;
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    buffer.drain(..end);
                    let line = head.lines().next().unwrap_or_default().to_string();
                    if first && !line.contains("/health") {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    first = false;
                    let pieces: &[&[u8]] = match line.split(' ').nth(1).unwrap_or_default() {
                        "/health" => &[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
                        "/chunked" => &[
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 99\r\n\r\n5\r\nhel",
                            b"lo\r\n6;ext=1\r\n world\r\n",
                            b"0\r\nx-trailer: 1\r\n\r\n",
                        ],
                        "/split" => &[
                            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello",
                            b" world",
                        ],
                        "/continue" => &[
                            b"HTTP/1.1 100 Continue\r\n\r\n",
                            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world",
                        ],
                        "/head" => &[b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n"],
                        "/no-content" => &[b"HTTP/1.1 204 No Content\r\n\r\n"],
                        "/until-close" => &[
                            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello",
                            b" world",
                        ],
                        "/bad-length" => &[b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello"],
                        "/short" => &[b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello"],
                        _ => &[b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"],
                    };
                    for (i, piece) in pieces.iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        if stream.write_all(piece).await.is_err() {
                            return;
                        }
                    }
                    if line.contains("/until-close") || line.contains("/short") {
                        return;
                    }
                }
            });
        }
    });
    (address, connections)
}

#[tokio::test]
async fn responses_reach_the_client_whole_whatever_their_framing() {
    let (target, connections) = scripted_target().await;
    let (_plane, applied) = forwarding_to(target).await;
    // One client connection: every request goes through the same worker and its pool.
    let client = client();
    for path in ["/chunked", "/split", "/continue", "/chunked"] {
        let answer = get(&client, &url(&applied, path), &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.body, "hello world", "{path}");
        if path == "/chunked" {
            // A chunked body's content-length is no length of it.
            assert_ne!(
                answer.headers.get("content-length").map(|v| v.as_bytes()),
                Some(&b"99"[..])
            );
        }
    }
    let head = send(
        &client,
        Request::head(url(&applied, "/head"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-length"], "11");
    assert_eq!(head.body, "");
    let empty = get(&client, &url(&applied, "/no-content"), &[]).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    // All of it on one connection to the target: each response left it ready for the next.
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // A body delimited by the end of the connection: whole, and the connection not reused.
    let answer = get(&client, &url(&applied, "/until-close"), &[]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "hello world")
    );
    let answer = get(&client, &url(&applied, "/split"), &[]).await;
    assert_eq!(answer.body, "hello world");
    assert_eq!(connections.load(Ordering::SeqCst), 2);

    // A response whose length cannot be told is the target's fault: 502.
    let answer = get(&client, &url(&applied, "/bad-length"), &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    // A body cut short reaches the client cut short (or not at all), never as a complete message.
    let exchange = async {
        let response = client
            .request(
                Request::get(url(&applied, "/short"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .ok()?;
        response.into_body().collect().await.ok()
    };
    let complete = tokio::time::timeout(Duration::from_secs(10), exchange).await;
    assert!(
        complete.unwrap().is_none(),
        "a truncated body was passed on as complete"
    );
}

/// A target that echoes request bodies and says how they were framed (`x-framing`), answers
/// `/reject` with 413 without reading the body, and passes health checks.
async fn echo_target() -> std::net::SocketAddr {
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let framing = match (
                        request.headers().get("content-length"),
                        request.headers().get("transfer-encoding"),
                    ) {
                        (Some(length), None) => format!("length {}", length.to_str().unwrap()),
                        (None, Some(coding)) => coding.to_str().unwrap().to_string(),
                        (None, None) => "none".to_string(),
                        (Some(_), Some(_)) => "both".to_string(),
                    };
                    if request.uri().path() == "/reject" {
                        let response = http::Response::builder()
                            .status(StatusCode::PAYLOAD_TOO_LARGE)
                            .body(Full::new(Bytes::from_static(b"too large")))
                            .unwrap();
                        return Ok::<_, std::convert::Infallible>(response);
                    }
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let response = http::Response::builder()
                        .header("x-framing", framing)
                        .body(Full::new(body))
                        .unwrap();
                    Ok(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// Sends `request` as it is on a new connection and reads the response up to its end, which
/// `content-length` gives. The request is written while the response is read: the response
/// may come before the request was taken whole.
async fn raw_exchange(port: u16, request: Vec<u8>) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut stream, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut response = Vec::new();
    let read = async {
        assert!(read_until(&mut stream, &mut response, b"\r\n\r\n").await);
        let text = String::from_utf8_lossy(&response).to_lowercase();
        let length: usize = text
            .split("content-length: ")
            .nth(1)
            .and_then(|rest| rest.split("\r\n").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let head = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut chunk = [0; 4096];
        while response.len() < head + length {
            match stream.read(&mut chunk).await.unwrap() {
                0 => break,
                n => response.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap();
    writing.abort();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn request_bodies_reach_the_target_whole_whatever_their_framing() {
    let target = echo_target().await;
    let (_plane, applied) = forwarding_to(target).await;
    let port = applied.listeners["l"].port();

    // Chunked from the client: chunked to the target, the same bytes.
    let answer = raw_exchange(
        port,
        b"POST /echo HTTP/1.1\r\nhost: forwarding.localhost\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n".to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("x-framing: chunked"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nabcdefg"), "{answer}");

    // A length: kept, and a large body streams through whole.
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let response = client()
        .request(
            Request::post(url(&applied, "/echo"))
                .body(Full::new(Bytes::from(big.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-framing"],
        format!("length {}", big.len())
    );
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        echoed == big,
        "the body came back altered ({} bytes)",
        echoed.len()
    );

    // No body: no framing at all.
    let answer = get(&client(), &url(&applied, "/echo"), &[]).await;
    assert_eq!(answer.headers["x-framing"], "none");

    // An HTTP/2 request without a length goes out chunked.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::StreamBody<_>>();
    let pieces = futures_util::stream::iter(["ab", "cd"].map(|piece| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from_static(
            piece.as_bytes(),
        )))
    }));
    let response = h2
        .request(
            Request::builder()
                .method(Method::PUT)
                .uri(url(&applied, "/echo"))
                .body(http_body_util::StreamBody::new(pieces))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-framing"], "chunked");
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&echoed[..], b"abcd");
}

#[tokio::test]
async fn a_target_answering_before_it_read_the_body_is_passed_on() {
    let target = echo_target().await;
    let (_plane, applied) = forwarding_to(target).await;
    // Half of a large body, then nothing more: the target's answer must come regardless.
    let mut request =
        b"POST /reject HTTP/1.1\r\nhost: forwarding.localhost\r\ncontent-length: 8388608\r\n\r\n"
            .to_vec();
    request.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
    let answer = raw_exchange(applied.listeners["l"].port(), request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with("too large"), "{answer}");
}
