//! The request path: client connections (HTTP/1.1 and HTTP/2, plain or TLS), each request
//! matched against the current snapshot's route table, then answered (fixed response,
//! redirect) or forwarded to a target over pooled keep-alive connections, with ALB's headers,
//! error codes and stickiness cookies.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use crate::balance;
use crate::config::{Action, AdminState, Algorithm, FixedResponse, Forward, Protocol};
use crate::dataplane::{
    GroupSnapshot, ListenerRoutes, RequestMap, Shared, SharedKey, TargetState, current,
};
use crate::h1;
use crate::io::{Activity, Due, Timer, WatchedTcp};
use crate::metrics::RequestRecord;
use crate::pool::{Answer, Target, TargetBody, TargetError};
use crate::redirect::{self, OriginalUrl};
use crate::rules::RequestHead;
use crate::sticky;
use crate::waiting::GiveUp;

/// What a client gets as a body: a target's, passed on, or one the load balancer made. An enum
/// rather than a boxed body: no allocation per response.
enum ResponseBody {
    /// The target's, keeping its request outstanding until the body is done.
    Target {
        body: TargetBody,
        _outstanding: Option<Outstanding>,
    },
    Own(Full<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = TargetError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TargetError>>> {
        match self.get_mut() {
            ResponseBody::Target { body, .. } => Pin::new(body).poll_frame(cx),
            ResponseBody::Own(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Target { body, .. } => body.is_end_stream(),
            ResponseBody::Own(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Target { body, .. } => body.size_hint(),
            ResponseBody::Own(body) => body.size_hint(),
        }
    }
}

/// What the request handler knows about its connection.
struct Connection {
    /// Reached through the connection, whose count only its own worker writes: a request
    /// holding a count of `Shared` itself would write a line every worker writes.
    shared: Arc<Shared>,
    key: SharedKey,
    /// The worker thread the connection runs on: what it counts and reads per worker is that
    /// worker's.
    worker: usize,
    peer: SocketAddr,
    local_port: u16,
    /// The client's address and the listener's port as header values, made once per
    /// connection rather than per request (X-Forwarded-For, X-Forwarded-Port).
    client_ip: HeaderValue,
    forwarded_port: HeaderValue,
    protocol: Protocol,
    activity: Arc<Activity>,
    /// The load balancer the connection is counted under (ActiveConnectionCount), once known.
    load_balancer: Mutex<Option<Arc<str>>>,
    /// The address of `load_balancer`'s id (0 without one). The mutex keeps that id alive, so
    /// the address is no other id's meanwhile.
    counted: AtomicUsize,
    /// The idle timeout of the load balancer last served, in milliseconds.
    idle_timeout_ms: AtomicU64,
}

impl Connection {
    fn serving(&self, shared: &Shared, listener: &ListenerRoutes) {
        self.idle_timeout_ms.store(
            u64::try_from(listener.idle_timeout.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        // Same load balancer as the connection's previous request (the usual case): told by
        // the address of its id, without the lock or comparing ARNs.
        let address = Arc::as_ptr(&listener.load_balancer).cast::<u8>().addr();
        if self.counted.load(Ordering::Relaxed) == address {
            return;
        }
        let mut counted = self.load_balancer.lock().unwrap_or_else(|p| p.into_inner());
        if counted.as_deref() != Some(&*listener.load_balancer) {
            if let Some(previous) = counted.take() {
                shared.metrics.connection_closed(self.worker, &previous);
            }
            shared
                .metrics
                .connection_opened(self.worker, &listener.load_balancer);
        }
        // The same id from a newer configuration replaces the one held, for the test above.
        *counted = Some(listener.load_balancer.clone());
        self.counted.store(address, Ordering::Relaxed);
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.load(Ordering::Relaxed))
    }
}

pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    key: SharedKey,
    stream: TcpStream,
    peer: SocketAddr,
    worker: usize,
) {
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (protocol, idle_timeout) = {
        let snapshot = shared.snapshot.load();
        let Some(port) = snapshot.sockets.get(&current(&key)) else {
            return;
        };
        (port.protocol, port.max_idle_timeout())
    };
    let activity = Activity::new(Instant::now());
    // A second handle on the socket, for the 408 after hyper has let go of its own (plain HTTP
    // only: a TLS session cannot be written to from outside).
    let raw = match protocol {
        Protocol::Http => stream
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from),
        Protocol::Https => None,
    };
    let io = WatchedTcp {
        stream,
        activity: activity.clone(),
    };
    let connection = Arc::new(Connection {
        shared: shared.clone(),
        key,
        worker,
        peer,
        client_ip: HeaderValue::from_str(&crate::rules::canonical_ip(peer.ip()).to_string())
            .expect("an IP address is a valid header value"),
        local_port: local.port(),
        forwarded_port: HeaderValue::from(local.port()),
        protocol,
        activity,
        load_balancer: Mutex::new(None),
        counted: AtomicUsize::new(0),
        idle_timeout_ms: AtomicU64::new(
            u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX),
        ),
    });

    match protocol {
        Protocol::Http => serve_http(&shared, &connection, io, false, raw.as_ref()).await,
        Protocol::Https => {
            let handshake = async {
                let start =
                    LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
                let listener = {
                    let snapshot = shared.snapshot.load();
                    let Some(port) = snapshot.sockets.get(&current(&connection.key)) else {
                        return Err(std::io::Error::other("listener removed"));
                    };
                    port.for_sni(start.client_hello().server_name()).clone()
                };
                let config = listener
                    .tls
                    .as_ref()
                    .map(|tls| tls.server_config.clone())
                    .ok_or_else(|| std::io::Error::other("listener has no TLS"))?;
                let tls = start.into_stream(config).await?;
                Ok::<_, std::io::Error>((tls, listener))
            };
            let Ok(Ok((tls, listener))) =
                tokio::time::timeout(shared.options.header_read_timeout, handshake).await
            else {
                return;
            };
            connection.serving(&shared, &listener);
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            serve_http(&shared, &connection, tls, h2, None).await;
        }
    }

    let counted = connection
        .load_balancer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(load_balancer) = counted {
        shared
            .metrics
            .connection_closed(connection.worker, &load_balancer);
    }
}

/// Serves one client connection until it closes, goes idle past the idle timeout, or takes
/// too long to send a request head (408 on plain HTTP/1.1; `plain` gives the socket to write
/// it on after hyper has let go).
async fn serve_http<I>(
    shared: &Arc<Shared>,
    connection: &Arc<Connection>,
    io: I,
    h2_only: bool,
    plain: Option<&std::net::TcpStream>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        // One buffer, written with one write: a response head and a short body cost less
        // copied together than gathered (hyper sets up 64 I/O slices per vectored flush).
        .writev(false)
        .max_buf_size(shared.options.max_header_bytes.max(8192));
    if h2_only {
        builder = builder.http2_only();
    }
    let service = {
        let connection = connection.clone();
        service_fn(move |request| handle(connection.clone(), request))
    };
    let mut served = Box::pin(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    // HTTP/2 has its own framing and pings: only HTTP/1 heads can be slow-walked.
    let header_timeout = (!h2_only).then_some(shared.options.header_read_timeout);
    let mut timer = Timer::new(Instant::now());
    loop {
        let idle_timeout = connection.idle_timeout();
        let (deadline, due) = connection.activity.deadline(idle_timeout, header_timeout);
        timer.reset(deadline);
        tokio::select! {
            // The connection first: it is what wakes the task nearly every time.
            biased;
            _ = served.as_mut() => return,
            () = &mut timer => {
                if !connection.activity.still_due(due, idle_timeout, header_timeout, Instant::now()) {
                    continue;
                }
                drop(served);
                if due == Due::HeaderTimeout && let Some(stream) = plain {
                    // Best effort: the socket buffer is empty, so a short write goes through.
                    let _ = (&*stream).write(
                        b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                    );
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                }
                return;
            }
        }
    }
}

/// Counts the request as in flight on its connection for as long as it is being handled.
struct InFlight<'a> {
    activity: &'a Activity,
    /// When the target's answer came, if one did: the request's last activity, known without
    /// reading the clock again.
    answered: Option<Instant>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.activity.request_finished(self.answered);
    }
}

async fn handle(
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let shared = &connection.shared;
    connection.activity.request_started();
    let mut in_flight = InFlight {
        activity: &connection.activity,
        answered: None,
    };
    let snapshot = shared.worker_snapshots[connection.worker].0.load_full();
    // Looked up by the key in place (the lock released at once): no copy of it per request.
    let port = snapshot
        .sockets
        .get(&*connection.key.read().unwrap_or_else(|p| p.into_inner()));
    let Some(port) = port else {
        // The listener was deleted: this connection has nowhere to go.
        let mut response = elb_error(StatusCode::SERVICE_UNAVAILABLE);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    };
    let authority = request_authority(&request);
    let host = authority.map(strip_port);
    let Some(listener) = port.for_host(host) else {
        return Ok(elb_error(StatusCode::NOT_FOUND));
    };
    connection.serving(shared, listener);
    if request.version() == Version::HTTP_11 && authority.is_none() {
        // HTTP/1.1 requires Host (RFC 9112 §3.2); ALB answers 400.
        let mut response = count_elb(shared, &connection, listener, None, StatusCode::BAD_REQUEST);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    let head = RequestHead {
        method: request.method().as_str(),
        host,
        path: request.uri().path(),
        query: request.uri().query(),
        headers: request.headers(),
        source_ip: connection.peer.ip(),
    };
    // Borrowed from the snapshot, which this request holds: no copy of the action per request.
    let action = listener.table.route(&head);
    Ok(match action {
        Action::FixedResponse(fixed) => {
            count(shared, &connection, listener, None, None, None, None);
            fixed_response(fixed)
        }
        Action::Redirect(redirect) => {
            count(shared, &connection, listener, None, None, None, None);
            let location = redirect::location(
                redirect,
                &OriginalUrl {
                    protocol: connection.protocol,
                    host: host.unwrap_or_default(),
                    port: connection.local_port,
                    path: request.uri().path(),
                    query: request.uri().query(),
                },
            );
            let status = if redirect.permanent {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::FOUND
            };
            let mut response = empty_response(status);
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Action::Forward(forward) => {
            forward_request(
                shared,
                &connection,
                &mut in_flight,
                listener,
                &snapshot.groups,
                forward,
                request,
            )
            .await
        }
    })
}

fn request_authority(request: &Request<Incoming>) -> Option<&str> {
    request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .filter(|host| !host.is_empty())
}

/// `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`. A byte loop from the end: a Host
/// is short, and `rfind` (memrchr) costs more than it scans on every request.
fn strip_port(authority: &str) -> &str {
    for (i, byte) in authority.bytes().enumerate().rev() {
        match byte {
            b':' => return &authority[..i],
            b']' => break,
            _ => {}
        }
    }
    authority
}

async fn forward_request(
    shared: &Arc<Shared>,
    connection: &Connection,
    in_flight: &mut InFlight<'_>,
    listener: &ListenerRoutes,
    groups: &RequestMap<String, Arc<GroupSnapshot>>,
    forward: &Forward,
    mut request: Request<Incoming>,
) -> Response<ResponseBody> {
    let sticky_group = forward
        .group_stickiness
        .and_then(|_| sticky::request_cookie(request.headers(), sticky::GROUP_COOKIE))
        .and_then(sticky::decode_group)
        .and_then(|id| {
            forward
                .target_groups
                .iter()
                .position(|g| g.target_group_id == id && g.weight > 0)
        });
    let chosen = sticky_group.or_else(|| {
        if forward.target_groups.len() == 1 {
            Some(0)
        } else {
            let weights: Vec<u32> = forward.target_groups.iter().map(|g| g.weight).collect();
            balance::pick_weighted(&weights, rand::random())
        }
    });
    let Some(group) = chosen.and_then(|i| groups.get(&forward.target_groups[i].target_group_id))
    else {
        return count_elb(
            shared,
            connection,
            listener,
            None,
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    let group_id = group.config.id.as_str();

    // One clock read serves balancing (slow start), the pool (idle connections) and the
    // response time.
    let started = Instant::now();
    let Some((target, target_state)) =
        choose_target(group, request.headers(), started, connection.worker)
    else {
        return count_elb(
            shared,
            connection,
            listener,
            Some(group_id),
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };

    // Most requests carry no hop-by-hop header: one pass over the names tells whether this can
    // be an upgrade and whether anything needs stripping.
    let hop_by_hop = request.headers().keys().any(is_hop_by_hop);
    let upgrade = hop_by_hop && is_upgrade(&request);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    prepare_upstream_request(&mut request, hop_by_hop, upgrade);
    let forwarded = forwarded(connection);

    let mut guard = RequestGuard {
        shared,
        worker: connection.worker,
        load_balancer: &listener.load_balancer,
        target_group: &group.id,
        finished: false,
    };
    // Outstanding until the response body has been passed on (or the exchange failed). Only
    // least outstanding requests reads the count: other algorithms leave it alone, sparing a
    // counter every worker writes (a group switched to it meanwhile starts from the requests
    // sent after the switch).
    let outstanding = (group.config.algorithm == Algorithm::LeastOutstandingRequests)
        .then(|| Outstanding::take(target_state.clone()));
    let upstream = Target {
        address: target_state.address,
        https: group.config.protocol == Protocol::Https,
    };
    let pool = &shared.pool;
    // Pinned in place: the select holds a reference, not a copy of the exchange's future.
    let exchange = std::pin::pin!(pool.send(upstream, request, &forwarded, upgrade, started));
    let sent = tokio::select! {
        // The answer first: when it is there, no timer needs looking at.
        biased;
        sent = exchange => sent,
        status = GiveUp::new(target_state.clone(), started, listener.idle_timeout) => {
            return guard.elb_error(status);
        }
    };
    let answered = Instant::now();
    in_flight.answered = Some(answered);
    let response_time = answered.saturating_duration_since(started);
    let Answer {
        mut response,
        upgraded,
    } = match sent {
        Err(error) => {
            tracing::debug!(%error, target = %target, "target failed");
            return guard.elb_error(StatusCode::BAD_GATEWAY);
        }
        Ok(answered) => answered,
    };
    guard.finish(Some(response.status().as_u16()), None, Some(response_time));

    if let Some(mut upgraded) = upgraded
        && let Some(client_upgrade) = client_upgrade
    {
        tokio::spawn(async move {
            let Ok(client) = client_upgrade.await else {
                return;
            };
            let mut client = TokioIo::new(client);
            // What the target sent right after its 101 goes first.
            if client.write_all(&upgraded.buffered).await.is_err() {
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upgraded.stream).await;
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, empty_body());
    }

    strip_hop_by_hop(response.headers_mut());
    if let Some(duration) = group.config.stickiness {
        let value = sticky::encode_target(group_id, target);
        append_cookies(
            response.headers_mut(),
            sticky::TARGET_COOKIE,
            sticky::TARGET_CORS_COOKIE,
            &value,
            SystemTime::now(),
            duration,
        );
    }
    if let Some(duration) = forward.group_stickiness
        && forward.target_groups.len() > 1
    {
        let value = sticky::encode_group(group_id);
        append_cookies(
            response.headers_mut(),
            sticky::GROUP_COOKIE,
            sticky::GROUP_CORS_COOKIE,
            &value,
            SystemTime::now(),
            duration,
        );
    }
    response.map(|body| ResponseBody::Target {
        body,
        _outstanding: outstanding,
    })
}

thread_local! {
    /// `choose_target`'s working space (the targets as the balancer sees them, the eligible
    /// ones), kept per worker thread so that balancing allocates nothing per request.
    static BALANCE_SCRATCH: RefCell<(Vec<balance::TargetView>, Vec<usize>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A sticky target when the cookie names one still eligible, else the group's algorithm.
/// The target is borrowed from the snapshot the request holds: a reference count taken per
/// request would be written by every worker.
fn choose_target<'a>(
    group: &'a GroupSnapshot,
    headers: &HeaderMap,
    now: Instant,
    worker: usize,
) -> Option<(SocketAddr, &'a Arc<TargetState>)> {
    BALANCE_SCRATCH.with_borrow_mut(|(views, candidates)| {
        views.clear();
        views.extend(
            group
                .targets
                .iter()
                .map(|(target, state)| balance::TargetView {
                    active: target.admin_state == AdminState::Active,
                    healthy: state.healthy.load(Ordering::Relaxed),
                    outstanding: state.outstanding.load(Ordering::Relaxed),
                    weight: match group.config.slow_start {
                        Some(_) => balance::slow_start_weight(
                            state.healthy_since(),
                            now,
                            group.config.slow_start,
                        ),
                        None => 1.0,
                    },
                }),
        );
        balance::eligible(views, candidates);
        let sticky = group
            .config
            .stickiness
            .and_then(|_| sticky::request_cookie(headers, sticky::TARGET_COOKIE))
            .and_then(sticky::decode_target)
            .filter(|(group_id, _)| *group_id == group.config.id)
            .and_then(|(_, address)| {
                candidates
                    .iter()
                    .copied()
                    .find(|&i| group.targets[i].0.address == address)
            });
        let index = sticky.or_else(|| {
            balance::pick(
                group.config.algorithm,
                views,
                candidates,
                group.state.cursors[worker % group.state.cursors.len()]
                    .0
                    .fetch_add(1, Ordering::Relaxed),
                // Only slow start rolls against a weight: every other weight is 1.
                match group.config.slow_start {
                    Some(_) => rand::random(),
                    None => 0.0,
                },
            )
        })?;
        let (target, state) = &group.targets[index];
        Some((target.address, state))
    })
}

fn is_upgrade(request: &Request<Incoming>) -> bool {
    request.version() == Version::HTTP_11
        && request.headers().contains_key(header::UPGRADE)
        && request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Points the request at the target: origin form, HTTP/1.1, Host, no hop-by-hop fields but an
/// upgrade's. `hop_by_hop`: whether the request has any field that `is_hop_by_hop`.
fn prepare_upstream_request(request: &mut Request<Incoming>, hop_by_hop: bool, upgrade: bool) {
    // The name an HTTP/2 client (or an absolute-form HTTP/1.1 request) used travels in the URI;
    // the target gets it as Host unless the request has one.
    let authority = request
        .uri()
        .authority()
        .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok());
    // Targets get the origin form (`/path?query`), whatever form the client sent: the
    // connection already goes to the target, and the name the client used travels in Host.
    // An HTTP/1.1 client's request usually is in origin form already.
    if request.uri().scheme().is_some() || request.uri().authority().is_some() {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
    }
    // Targets speak HTTP/1.1 whatever the client spoke.
    *request.version_mut() = Version::HTTP_11;
    let headers = request.headers_mut();
    let upgrade_header = if upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    if hop_by_hop {
        remove_hop_by_hop(headers);
    }
    if let Some(protocol) = upgrade_header {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    if let Some(authority) = authority {
        headers.entry(header::HOST).or_insert(authority);
    }
}

/// ALB's fields for the target (`h1::Forwarded`).
fn forwarded(connection: &Connection) -> h1::Forwarded<'_> {
    h1::Forwarded {
        client_ip: connection.client_ip.as_bytes(),
        proto: connection.protocol.scheme(),
        port: connection.forwarded_port.as_bytes(),
        new_trace_id,
    }
}

/// A trace id for a request that has none: now, and 96 random bits.
fn new_trace_id() -> [u8; h1::TRACE_ID_LEN] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    h1::trace_id(now.as_secs(), rand::random())
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    // By the lowercase name: one length switch per header, every header of every message.
    matches!(
        name.as_str(),
        "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "keep-alive"
            | "proxy-connection"
    )
}

/// Headers that describe one hop's connection, not the message (RFC 9110 §7.6.1), including
/// those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names spares ten hashed removals.
    if headers.keys().any(is_hop_by_hop) {
        remove_hop_by_hop(headers);
    }
}

/// `strip_hop_by_hop` for a message known to carry some.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn append_cookies(
    headers: &mut HeaderMap,
    name: &str,
    cors_name: &str,
    value: &str,
    now: SystemTime,
    duration: Duration,
) {
    for cookie in sticky::set_cookies(name, cors_name, value, now, duration) {
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
}

/// Counts one forwarded request exactly once: when the target answered, when the load balancer
/// answered for it (502/504), or — dropped unfinished — when the client went away first (460).
/// Borrowed: it never outlives the exchange, and a reference count would be written by every
/// worker.
struct RequestGuard<'a> {
    shared: &'a Shared,
    worker: usize,
    load_balancer: &'a str,
    target_group: &'a str,
    finished: bool,
}

/// One outstanding request on a target (least outstanding requests counts these).
struct Outstanding(Arc<TargetState>);

impl Outstanding {
    fn take(target: Arc<TargetState>) -> Outstanding {
        target.outstanding.fetch_add(1, Ordering::Relaxed);
        Outstanding(target)
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RequestGuard<'_> {
    fn finish(
        &mut self,
        target_status: Option<u16>,
        elb_status: Option<u16>,
        response_time: Option<Duration>,
    ) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.shared.metrics.request(&RequestRecord {
            worker: self.worker,
            load_balancer: self.load_balancer,
            target_group: Some(self.target_group),
            target_status,
            elb_status,
            target_response_time: response_time,
        });
    }

    fn elb_error(mut self, status: StatusCode) -> Response<ResponseBody> {
        self.finish(None, Some(status.as_u16()), None);
        elb_error(status)
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // The client closed its connection before the target answered.
            self.finish(None, Some(460), None);
        }
    }
}

fn count(
    shared: &Shared,
    connection: &Connection,
    listener: &ListenerRoutes,
    target_group: Option<&str>,
    target_status: Option<u16>,
    elb_status: Option<u16>,
    response_time: Option<Duration>,
) {
    shared.metrics.request(&RequestRecord {
        worker: connection.worker,
        load_balancer: &listener.load_balancer,
        target_group,
        target_status,
        elb_status,
        target_response_time: response_time,
    });
}

fn count_elb(
    shared: &Shared,
    connection: &Connection,
    listener: &ListenerRoutes,
    target_group: Option<&str>,
    status: StatusCode,
) -> Response<ResponseBody> {
    count(
        shared,
        connection,
        listener,
        target_group,
        None,
        Some(status.as_u16()),
        None,
    );
    elb_error(status)
}

fn empty_body() -> ResponseBody {
    full_body(Bytes::new())
}

fn full_body(bytes: Bytes) -> ResponseBody {
    ResponseBody::Own(Full::new(bytes))
}

fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(empty_body());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
    response
}

/// The page ALB serves for errors it generates itself.
fn elb_error(status: StatusCode) -> Response<ResponseBody> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(full_body(Bytes::from(page)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

fn fixed_response(fixed: &FixedResponse) -> Response<ResponseBody> {
    let body = fixed.body.clone().unwrap_or_default();
    let mut response = Response::new(full_body(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(fixed.status_code).unwrap_or(StatusCode::OK);
    let content_type = fixed
        .content_type
        .as_deref()
        .unwrap_or("text/plain; charset=utf-8");
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_authorities() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_connection_names() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
