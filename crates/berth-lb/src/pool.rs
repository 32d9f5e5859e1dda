//! Keep-alive connections to targets, one pool per worker thread. A connection is checked out
//! for one request and goes back when its response body has ended, newest first (its socket
//! is the warmest); one that is closed, idle too long or not ready again is dropped. Requests
//! never leave their worker, so a pool is only ever touched by its worker: it is the thread's
//! own, without a lock. This is what hyper-util's general-purpose client does, without its
//! per-request boxing, pool keys hashed from URIs and checkout futures.
//!
//! A connection has no task of its own: the request using it drives it (see [`Upstream`]).
//! A task per connection would take each request over a channel, be woken for it, and wake
//! the request's task for the answer: two task wake-ups and polls per request that driving it
//! in place spares.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1};
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
    upstream: Upstream,
    since: Instant,
}

thread_local! {
    /// The worker's idle connections, by target.
    static IDLE: RefCell<RequestMap<Target, Vec<Idle>>> = RefCell::new(RequestMap::default());
}

thread_local! {
    /// The worker's sweep task, once it has run.
    static SWEEPER: RefCell<Option<Waker>> = const { RefCell::new(None) };
    /// Whether the worker's sweep task has been started.
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// The worker's task that closes pooled connections their target closed (the socket would
/// otherwise stay open, half closed, until the connection is checked out or found too old):
/// a pooled connection's wake-ups come here, and the connections woken are driven, so that
/// those that ended leave the pool. Runs for as long as the worker.
async fn sweep() {
    // Connections pooled before the first look registered no waker of this task: all are
    // driven then.
    let mut first = true;
    poll_fn(|cx| {
        SWEEPER.set(Some(cx.waker().clone()));
        IDLE.with_borrow_mut(|idle| {
            for connections in idle.values_mut() {
                connections.retain_mut(|idle| {
                    let woken = idle.upstream.task.woken.swap(false, Ordering::Relaxed);
                    !(woken || first) || idle.upstream.drive(cx)
                });
            }
        });
        first = false;
        Poll::<()>::Pending
    })
    .await;
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

/// A connection's own future (hyper's, with upgrades): it reads and writes the socket.
/// Boxed: hyper's type cannot be named, and it is boxed once per connection.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// A connection to a target, driven by whichever request uses it: polled with the request's
/// task's waker, so that the target's bytes wake that task. What the connection hands over
/// (the response head, body chunks) it hands over while being driven, in the same task, so
/// those hand-overs are looked at right after driving it, with a waker that does nothing:
/// one that wakes the task would have it polled again at once, for nothing.
pub(crate) struct Upstream {
    sender: http1::SendRequest<Incoming>,
    /// None once the connection has ended (closed, failed or handed over in an upgrade).
    driver: Option<Driver>,
    /// The task driving the connection now, if any.
    task: Arc<DriverWaker>,
    /// What the connection is driven with: `task` as a waker, made once per connection.
    waker: Waker,
}

thread_local! {
    /// Set while this thread's task takes what a connection it drives handed over.
    static TAKING: Cell<bool> = const { Cell::new(false) };
}

/// The waker a connection is driven with: it wakes the task that drives the connection now,
/// the worker's [`sweep`] task while the connection waits in the pool (not the task that used
/// it last, for nothing), and it ignores the wake-ups the task causes itself while taking what
/// the connection handed over: taking a body chunk wakes the connection (room for the next
/// one), which would poll the whole task again, but a task that takes a chunk either polls the
/// body again, driving the connection, or is done with it.
struct DriverWaker {
    task: Mutex<Option<Waker>>,
    /// Set by every wake-up: tells the pool's sweeper which idle connections to look at.
    woken: AtomicBool,
}

impl DriverWaker {
    fn task(&self) -> MutexGuard<'_, Option<Waker>> {
        self.task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn drive_for(&self, task: &Waker) {
        match &mut *self.task() {
            Some(driving) if driving.will_wake(task) => {}
            slot => *slot = Some(task.clone()),
        }
    }
}

impl Wake for DriverWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if TAKING.get() {
            return;
        }
        self.woken.store(true, Ordering::Relaxed);
        if let Some(task) = &*self.task() {
            task.wake_by_ref();
        }
    }
}

impl Upstream {
    fn new(sender: http1::SendRequest<Incoming>, driver: Driver) -> Upstream {
        let task = Arc::new(DriverWaker {
            task: Mutex::new(None),
            woken: AtomicBool::new(false),
        });
        Upstream {
            sender,
            driver: Some(driver),
            waker: Waker::from(task.clone()),
            task,
        }
    }

    /// Lets the connection do what it can; `false` once it has ended.
    pub fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        self.task.drive_for(cx.waker());
        self.poll_driver()
    }

    /// Drives the connection for no task (the pool's connections).
    fn drive_unwoken(&mut self) -> bool {
        *self.task.task() = None;
        self.poll_driver()
    }

    fn poll_driver(&mut self) -> bool {
        let Some(driver) = self.driver.as_mut() else {
            return false;
        };
        match driver.as_mut().poll(&mut Context::from_waker(&self.waker)) {
            Poll::Pending => true,
            Poll::Ready(ended) => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "target connection ended with an error");
                }
                self.driver = None;
                false
            }
        }
    }

    /// Sends `request` and drives the connection until the response head has come.
    async fn exchange(
        &mut self,
        request: Request<Incoming>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Incoming>>> {
        let mut response = pin!(self.sender.try_send_request(request));
        poll_fn(|cx| {
            self.drive(cx);
            // Only driving the connection (or its end) makes the response ready.
            take(|| {
                response
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
            })
        })
        .await
    }

    /// The connection's future, for a task of its own: after an upgrade's 101 it still has
    /// to hand the socket over.
    pub fn into_driver(self) -> Option<Driver> {
        self.driver
    }
}

/// Runs `taking` with the wake-ups it causes to the connections this task drives ignored.
fn take<T>(taking: impl FnOnce() -> T) -> T {
    TAKING.set(true);
    let taken = taking();
    TAKING.set(false);
    taken
}

/// Looks at what the connection hands over (`look`) without a waker, driving the connection
/// only when nothing is there yet, then looking again (see [`Upstream`]); once the connection
/// is gone, `look` gets the real waker.
pub(crate) fn poll_driven<T>(
    upstream: Option<&mut Upstream>,
    cx: &mut Context<'_>,
    mut look: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    let mut unwoken = Context::from_waker(Waker::noop());
    if let Poll::Ready(found) = take(|| look(&mut unwoken)) {
        return Poll::Ready(found);
    }
    if upstream.is_some_and(|upstream| upstream.drive(cx)) {
        take(|| look(&mut unwoken))
    } else {
        look(cx)
    }
}

/// The connection a response came on: back to its worker's pool once the response body has
/// ended.
pub(crate) struct Lease {
    pub upstream: Upstream,
    target: Target,
}

impl Lease {
    /// The response body ended: the connection can carry another request.
    pub fn release(self) {
        if self.upstream.driver.is_none() || self.upstream.sender.is_closed() {
            return;
        }
        *self.upstream.task.task() = SWEEPER.with_borrow(Clone::clone);
        self.upstream.task.woken.store(false, Ordering::Relaxed);
        if !SWEEPING.get()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            SWEEPING.set(true);
            runtime.spawn(sweep());
        }
        // Gone only while the thread ends, its connections with it.
        let _ = IDLE.try_with(|idle| {
            let mut idle = idle.borrow_mut();
            let connections = idle.entry(self.target).or_default();
            if connections.len() < MAX_IDLE_PER_TARGET {
                connections.push(Idle {
                    upstream: self.upstream,
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
        let (mut upstream, reused) = match Self::checkout(target, now) {
            Some(upstream) => (upstream, true),
            None => (Box::pin(self.connect(target)).await?, false),
        };
        let response = match upstream.exchange(request).await {
            Ok(response) => response,
            Err(mut failed) => match failed.take_message() {
                Some(request) if reused => {
                    upstream = Box::pin(self.connect(target)).await?;
                    upstream
                        .exchange(request)
                        .await
                        .map_err(TrySendError::into_error)?
                }
                _ => return Err(failed.into_error().into()),
            },
        };
        let lease = Lease { upstream, target };
        Ok((response, lease))
    }

    fn checkout(target: Target, now: Instant) -> Option<Upstream> {
        loop {
            let idle = IDLE.with_borrow_mut(|idle| idle.get_mut(&target)?.pop())?;
            let mut upstream = idle.upstream;
            if now.saturating_duration_since(idle.since) > IDLE_TIMEOUT {
                continue;
            }
            // This request's task takes over when it drives the connection; until then, what
            // the connection waits on (sending the request is one) wakes nobody.
            *upstream.task.task() = None;
            // Usually idle since its last response ended, ready at once. Otherwise it is driven
            // once to see: a target that closed the connection meanwhile is noticed then.
            if upstream.sender.is_ready()
                || (upstream.drive_unwoken() && upstream.sender.is_ready())
            {
                return Some(upstream);
            }
            // Ended, or still busy with its previous exchange (a request body the target
            // answered without reading whole) with nobody else to drive it to the end.
        }
    }

    async fn connect(&self, target: Target) -> Result<Upstream, SendError> {
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
        Ok(Upstream::new(sender, Box::pin(connection.with_upgrades())))
    }
}
