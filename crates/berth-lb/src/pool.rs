//! Keep-alive connections to targets, one pool per worker thread. A connection is checked out
//! for one request and goes back when its response body has ended, newest first (its socket
//! is the warmest); one that is closed, idle too long or not ready again is dropped. Each
//! worker runs its connections' tasks on its own runtime, and requests never leave their
//! worker, so a pool is only ever touched by its worker: it is the thread's own, without a
//! lock. This is what hyper-util's general-purpose client does, without its per-request boxing,
//! pool keys hashed from URIs and checkout futures.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::dataplane::RequestMap;
use crate::upstream::{UpstreamStream, server_name, tls_connector};

/// How long a connection may wait unused in the pool (targets often close theirs sooner).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per target and worker.
const MAX_IDLE_PER_TARGET: usize = 1024;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) struct Target {
    pub address: SocketAddr,
    pub https: bool,
}

struct Idle {
    sender: http1::SendRequest<Incoming>,
    since: Instant,
}

thread_local! {
    /// The worker's idle connections, by target.
    static IDLE: RefCell<RequestMap<Target, Vec<Idle>>> = RefCell::new(RequestMap::default());
}

/// Connects to targets; the connections kept are the calling worker's.
pub(crate) struct UpstreamPool {
    tls: TlsConnector,
    connect_timeout: Duration,
}

/// Why a request never got a response from its target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("connecting to the target: {0}")]
    Connect(#[from] io::Error),
    #[error("connecting to the target timed out")]
    ConnectTimeout,
    #[error("HTTP/1.1 with the target: {0}")]
    Http(#[from] hyper::Error),
}

/// The connection a response came on: back to its worker's pool once the response body has
/// ended.
pub(crate) struct Lease {
    sender: http1::SendRequest<Incoming>,
    target: Target,
}

impl Lease {
    /// The response body ended: the connection can carry another request.
    pub fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        // Gone only while the thread ends, its connections with it.
        let _ = IDLE.try_with(|idle| {
            let mut idle = idle.borrow_mut();
            let connections = idle.entry(self.target).or_default();
            if connections.len() < MAX_IDLE_PER_TARGET {
                connections.push(Idle {
                    sender: self.sender,
                    since: Instant::now(),
                });
            }
        });
    }
}

impl UpstreamPool {
    pub fn new(connect_timeout: Duration) -> UpstreamPool {
        UpstreamPool {
            tls: tls_connector(),
            connect_timeout,
        }
    }

    /// Sends `request` to `target` on a pooled connection or a new one. A pooled connection
    /// the target closed meanwhile (the keep-alive race) is retried once on a new connection,
    /// since the request was never sent. `now` tells pooled connections idle too long.
    pub async fn send(
        &self,
        target: Target,
        request: Request<Incoming>,
        now: Instant,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        // Connecting is rare next to reusing a pooled connection: boxed, its (TLS) state does
        // not make every request's future larger, and moving it cheaper.
        let (mut sender, reused) = match Self::checkout(target, now).await {
            Some(sender) => (sender, true),
            None => (Box::pin(self.connect(target)).await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut failed) => match failed.take_message() {
                Some(request) if reused => {
                    sender = Box::pin(self.connect(target)).await?;
                    sender.send_request(request).await?
                }
                _ => return Err(failed.into_error().into()),
            },
        };
        let lease = Lease { sender, target };
        Ok((response, lease))
    }

    async fn checkout(target: Target, now: Instant) -> Option<http1::SendRequest<Incoming>> {
        loop {
            let idle = IDLE.with_borrow_mut(|idle| idle.get_mut(&target)?.pop())?;
            let mut sender = idle.sender;
            if now.saturating_duration_since(idle.since) > IDLE_TIMEOUT || sender.is_closed() {
                continue;
            }
            // Ready at once unless the connection is still finishing the previous exchange.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, target: Target) -> Result<http1::SendRequest<Incoming>, SendError> {
        let connected = tokio::time::timeout(self.connect_timeout, async {
            let tcp = TcpStream::connect(target.address).await?;
            tcp.set_nodelay(true)?;
            if !target.https {
                return Ok::<_, io::Error>(UpstreamStream::Plain(TokioIo::new(tcp)));
            }
            let name = server_name(target.address.ip());
            let tls = self.tls.connect(name, tcp).await?;
            Ok(UpstreamStream::Tls(Box::new(TokioIo::new(tls))))
        });
        let stream = connected.await.map_err(|_| SendError::ConnectTimeout)??;
        // One buffer, one write per request (see `proxy::serve_http`).
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(stream)
            .await?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "target connection ended with an error");
            }
        });
        Ok(sender)
    }
}
