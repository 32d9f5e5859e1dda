//! Requests to targets over HTTP/1.1, on keep-alive connections pooled per worker thread.
//!
//! A connection is checked out for one exchange and goes back once its response body has been
//! read to the end, newest first (its socket is the warmest); one that is closed, idle too long
//! or that sent anything while idle is dropped. Requests never leave their worker, so a pool is
//! only ever touched by its worker: it is the thread's own, without a lock.
//!
//! The exchange is our own rather than hyper's client: a request's head is written straight from
//! the request the listener parsed, the response head parsed in place (`h1`), and the response
//! body read by the client's request task itself as the client takes it. A response whose body
//! came with its head (most do) gives its connection back before the client has even been
//! answered. hyper's client connection takes each request over a channel, answers through a
//! callback and moves both through several layers; in the request path of a proxy that was the
//! largest cost left after the listener's own.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::dataplane::RequestMap;
use crate::h1::{self, ChunkedDecoder, Decoded, ResponseHead};
use crate::upstream::{UpstreamStream, server_name, tls_connector};

/// How long a connection may wait unused in the pool (targets often close theirs sooner).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a worker's pooled connections are looked over (`sweep`).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Idle connections kept per target and worker.
const MAX_IDLE_PER_TARGET: usize = 1024;
/// What a read of a response head asks for at least.
const READ_SIZE: usize = 8 * 1024;
/// What a read of a body too long to come with its head asks for at least.
const STREAM_READ_SIZE: usize = 64 * 1024;
/// How much of a request body is gathered before it is written to the target.
const WRITE_BATCH: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) struct Target {
    pub address: SocketAddr,
    pub https: bool,
}

/// Why a request never got a whole response from its target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("connecting to the target: {0}")]
    Connect(io::Error),
    #[error("connecting to the target timed out")]
    ConnectTimeout,
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// What went wrong on a connection to a target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    #[error("the target's connection: {0}")]
    Io(#[from] io::Error),
    #[error("the target closed the connection before the response was complete")]
    Closed,
    #[error("the target's response: {0}")]
    Invalid(#[from] h1::Invalid),
    #[error("the target switched protocols on a request that asked for no upgrade")]
    UnaskedUpgrade,
    #[error("the client's request body: {0}")]
    RequestBody(hyper::Error),
}

/// Reads what the target sent into `read`, making room for `size` bytes when less than a
/// quarter of that is free; `Ok(0)` at its end.
fn poll_fill(
    stream: &mut UpstreamStream,
    read: &mut BytesMut,
    size: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if read.capacity() - read.len() < size / 4 {
        read.reserve(size);
    }
    tokio_util::io::poll_read_buf(Pin::new(stream), cx, read)
}

/// A connection to a target.
pub(crate) struct Upstream {
    stream: UpstreamStream,
    /// What the target sent that has not been handed on yet.
    read: BytesMut,
    /// What goes to the target next.
    write: Vec<u8>,
}

/// A target's answer: its response and, when it switched protocols, the connection, now the
/// upgraded protocol's.
pub(crate) struct Answer {
    pub response: Response<TargetBody>,
    pub upgraded: Option<Upgraded>,
}

/// A connection handed over by a 101 response, with what the target already sent past it.
pub(crate) struct Upgraded {
    pub stream: UpstreamStream,
    pub buffered: Bytes,
}

/// Where sending a request stands while its answer is awaited.
enum Sending {
    Busy,
    Done,
    /// A write failed (the target may have answered and closed): its error, reported if no
    /// answer comes after all.
    Failed(Option<TargetError>),
}

/// How far an exchange got, for telling whether the request may be sent again elsewhere.
#[derive(Default)]
struct Progress {
    /// Some of the request body was taken from the client (it cannot be taken twice).
    body_taken: bool,
    /// The target sent something.
    received: bool,
}

impl Upstream {
    fn new(stream: UpstreamStream) -> Upstream {
        Upstream {
            stream,
            read: BytesMut::with_capacity(READ_SIZE),
            write: Vec::with_capacity(1024),
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        poll_fill(&mut self.stream, &mut self.read, READ_SIZE, cx)
    }

    /// Whether an idle connection can still carry a request: its target has sent nothing, not
    /// even its end (a socket whose readiness was cleared by the last read answers without a
    /// system call).
    fn still_idle(&mut self) -> bool {
        self.read.is_empty()
            && self
                .poll_fill(&mut Context::from_waker(Waker::noop()))
                .is_pending()
    }

    /// Writes `write` and then the request body, taking what the body has ready before each
    /// write (a short body goes out with the head in one write).
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        written: &mut usize,
        body: &mut Option<Incoming>,
        framing: h1::RequestBody,
        progress: &mut Progress,
    ) -> Poll<Result<(), TargetError>> {
        loop {
            let mut body_pending = false;
            while self.write.len() < WRITE_BATCH
                && let Some(incoming) = body.as_mut()
            {
                match Pin::new(incoming).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        progress.body_taken = true;
                        // Trailers are not passed on.
                        if let Ok(data) = frame.into_data()
                            && !data.is_empty()
                        {
                            match framing {
                                h1::RequestBody::Chunked => h1::write_chunk(&mut self.write, &data),
                                _ => self.write.extend_from_slice(&data),
                            }
                        }
                    }
                    Poll::Ready(Some(Err(error))) => {
                        return Poll::Ready(Err(TargetError::RequestBody(error)));
                    }
                    Poll::Ready(None) => {
                        *body = None;
                        if framing == h1::RequestBody::Chunked {
                            self.write.extend_from_slice(h1::LAST_CHUNK);
                        }
                    }
                    Poll::Pending => {
                        body_pending = true;
                        break;
                    }
                }
            }
            if *written == self.write.len() {
                if body_pending {
                    // What TLS still holds of the written part goes out while the rest of the
                    // body is awaited (a plain socket holds nothing back).
                    if let Poll::Ready(Err(error)) = Pin::new(&mut self.stream).poll_flush(cx) {
                        return Poll::Ready(Err(error.into()));
                    }
                    return Poll::Pending;
                }
                if body.is_none() {
                    ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
                    return Poll::Ready(Ok(()));
                }
            }
            while *written < self.write.len() {
                let sent =
                    ready!(Pin::new(&mut self.stream).poll_write(cx, &self.write[*written..]))?;
                if sent == 0 {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                }
                *written += sent;
            }
            self.write.clear();
            *written = 0;
        }
    }

    /// Sends what `write` holds (the request head) and the body, and reads the response head,
    /// skipping interim responses. Reads while it sends: a target may answer before it has read
    /// the whole body, and even close the connection, failing the rest of the request, right
    /// after its answer. Also returns whether the whole request was sent.
    async fn exchange(
        &mut self,
        body: &mut Option<Incoming>,
        framing: h1::RequestBody,
        progress: &mut Progress,
    ) -> Result<(ResponseHead, bool), TargetError> {
        let mut written = 0;
        let mut sending = Sending::Busy;
        poll_fn(|cx| {
            if let Sending::Busy = sending {
                match self.poll_send(cx, &mut written, body, framing, progress) {
                    Poll::Ready(Ok(())) => sending = Sending::Done,
                    Poll::Ready(Err(error @ TargetError::RequestBody(_))) => {
                        return Poll::Ready(Err(error));
                    }
                    Poll::Ready(Err(error)) => sending = Sending::Failed(Some(error)),
                    Poll::Pending => {}
                }
            }
            loop {
                if !self.read.is_empty()
                    && let Some(head) = h1::parse_response_head(&mut self.read)?
                {
                    if head.status.is_informational()
                        && head.status != StatusCode::SWITCHING_PROTOCOLS
                    {
                        continue;
                    }
                    return Poll::Ready(Ok((head, matches!(sending, Sending::Done))));
                }
                // After a failed write the answer may still come (or the end, which the failure
                // was the first sign of).
                match ready!(self.poll_fill(cx)) {
                    Ok(0) | Err(_) if let Sending::Failed(failed) = &mut sending => {
                        return Poll::Ready(Err(failed.take().unwrap_or(TargetError::Closed)));
                    }
                    Ok(0) => return Poll::Ready(Err(TargetError::Closed)),
                    Ok(_) => progress.received = true,
                    Err(error) => return Poll::Ready(Err(error.into())),
                }
            }
        })
        .await
    }
}

/// A target's response body, read from its connection as the client takes it. The connection
/// goes back to the worker's pool once the body has ended; a body left unread closes it.
pub(crate) struct TargetBody(BodyState);

enum BodyState {
    /// All there is (maybe nothing): the connection is done with already.
    Whole(Option<Bytes>),
    /// Boxed: a connection is a few hundred bytes, and most bodies are whole.
    Streaming(Box<Streaming>),
}

struct Streaming {
    upstream: Upstream,
    target: Target,
    framing: Framing,
    /// Whether the connection can carry another request once the body has ended.
    reusable: bool,
}

enum Framing {
    /// This many bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Streaming {
    /// The next piece of the body; `None` at its end.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, TargetError>>> {
        let read = &mut self.upstream.read;
        loop {
            match &mut self.framing {
                Framing::Length(0) => return Poll::Ready(None),
                Framing::Length(remaining) if !read.is_empty() => {
                    let taken = read
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= taken as u64;
                    return Poll::Ready(Some(Ok(read.split_to(taken).freeze())));
                }
                Framing::Chunked(decoder) => match decoder.decode(read) {
                    Ok(Some(Decoded::Data(data))) => return Poll::Ready(Some(Ok(data))),
                    Ok(Some(Decoded::End)) => return Poll::Ready(None),
                    Ok(None) => {}
                    Err(error) => return Poll::Ready(Some(Err(error.into()))),
                },
                Framing::UntilClose if !read.is_empty() => {
                    return Poll::Ready(Some(Ok(read.split().freeze())));
                }
                Framing::Length(_) | Framing::UntilClose => {}
            }
            match ready!(poll_fill(
                &mut self.upstream.stream,
                read,
                STREAM_READ_SIZE,
                cx
            )) {
                Ok(0) => {
                    return Poll::Ready(match self.framing {
                        Framing::UntilClose => None,
                        _ => Some(Err(TargetError::Closed)),
                    });
                }
                Ok(_) => {}
                Err(error) => return Poll::Ready(Some(Err(error.into()))),
            }
        }
    }

    fn ended(&self) -> bool {
        matches!(self.framing, Framing::Length(0))
    }
}

impl TargetBody {
    /// The body has ended: its connection goes back to the pool if it can carry another
    /// request.
    fn finish(&mut self) {
        if let BodyState::Streaming(streaming) =
            std::mem::replace(&mut self.0, BodyState::Whole(None))
            && streaming.reusable
        {
            release(streaming.upstream, streaming.target, Instant::now());
        }
    }
}

impl Body for TargetBody {
    type Data = Bytes;
    type Error = TargetError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TargetError>>> {
        let this = self.get_mut();
        match &mut this.0 {
            BodyState::Whole(data) => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
            BodyState::Streaming(streaming) => match ready!(streaming.poll_data(cx)) {
                Some(Ok(data)) => {
                    if streaming.ended() {
                        this.finish();
                    }
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                None => {
                    this.finish();
                    Poll::Ready(None)
                }
                Some(Err(error)) => {
                    // The connection is in an unknown state: closed, not pooled.
                    this.0 = BodyState::Whole(None);
                    Poll::Ready(Some(Err(error)))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyState::Whole(data) => data.is_none(),
            BodyState::Streaming(streaming) => streaming.ended(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyState::Whole(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            BodyState::Streaming(streaming) => match streaming.framing {
                Framing::Length(remaining) => SizeHint::with_exact(remaining),
                _ => SizeHint::default(),
            },
        }
    }
}

thread_local! {
    /// The worker's idle connections, by target.
    static IDLE: RefCell<RequestMap<Target, Vec<Idle>>> = RefCell::new(RequestMap::default());
    /// Whether the worker's sweep task is running.
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

struct Idle {
    upstream: Upstream,
    since: Instant,
}

/// The worker's task that closes pooled connections their target closed (the socket would
/// otherwise stay open, half closed, until the connection is checked out) or that have been
/// idle too long, every `SWEEP_INTERVAL` while the pool holds any. Looking at them from time to
/// time rather than being woken by them spares every request's release a poll of the socket to
/// register a waker.
async fn sweep() {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        let now = Instant::now();
        let empty = IDLE.with_borrow_mut(|idle| {
            idle.retain(|_, connections| {
                connections.retain_mut(|idle| {
                    now.saturating_duration_since(idle.since) <= IDLE_TIMEOUT
                        && idle.upstream.still_idle()
                });
                !connections.is_empty()
            });
            idle.is_empty()
        });
        if empty {
            SWEEPING.set(false);
            return;
        }
    }
}

/// Puts a connection whose exchange is complete into its worker's pool; `now`: about now.
fn release(upstream: Upstream, target: Target, now: Instant) {
    // Bytes past the response's end: the target is not speaking HTTP/1.1 as it should.
    if !upstream.read.is_empty() {
        return;
    }
    if !SWEEPING.get()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        SWEEPING.set(true);
        runtime.spawn(sweep());
    }
    // Gone only while the thread ends, its connections with it.
    let _ = IDLE.try_with(|idle| {
        let mut idle = idle.borrow_mut();
        let connections = idle.entry(target).or_default();
        if connections.len() < MAX_IDLE_PER_TARGET {
            connections.push(Idle {
                upstream,
                since: now,
            });
        }
    });
}

/// Connects to targets; the connections kept are the calling worker's.
pub(crate) struct UpstreamPool {
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl UpstreamPool {
    pub fn new(connect_timeout: Duration) -> UpstreamPool {
        UpstreamPool {
            tls: tls_connector(),
            connect_timeout,
        }
    }

    /// Sends `request` (in origin form, its hop-by-hop fields stripped) to `target` on a pooled
    /// connection or a new one. A pooled connection the target closed just as the request went
    /// out (the keep-alive race) gets an idempotent request that the target neither answered
    /// nor took body bytes of sent again on a new connection. `upgrade`: the request asks to
    /// switch protocols. `now` tells pooled connections idle too long.
    pub async fn send(
        &self,
        target: Target,
        request: Request<Incoming>,
        forwarded: &h1::Forwarded<'_>,
        upgrade: bool,
        now: Instant,
    ) -> Result<Answer, SendError> {
        let (mut parts, body) = request.into_parts();
        let framing = if body.is_end_stream() {
            h1::RequestBody::None
        } else if let Some(length) = body.size_hint().exact() {
            if !parts.headers.contains_key(header::CONTENT_LENGTH) {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
            h1::RequestBody::Length
        } else {
            parts.headers.remove(header::CONTENT_LENGTH);
            h1::RequestBody::Chunked
        };
        let mut body = (framing != h1::RequestBody::None).then_some(body);
        // Connecting is rare next to reusing a pooled connection: boxed, its (TLS) state does
        // not make every request's future larger.
        let (mut upstream, reused) = match checkout(target, now) {
            Some(upstream) => (upstream, true),
            None => (Box::pin(self.connect(target)).await?, false),
        };
        write_head(&mut upstream, &parts, forwarded, framing);
        let mut progress = Progress::default();
        let exchanged = upstream.exchange(&mut body, framing, &mut progress).await;
        let (head, sent) = match exchanged {
            Ok(exchanged) => exchanged,
            Err(TargetError::Closed | TargetError::Io(_))
                if reused && !progress.received && !progress.body_taken && idempotent(&parts) =>
            {
                upstream = Box::pin(self.connect(target)).await?;
                write_head(&mut upstream, &parts, forwarded, framing);
                upstream.exchange(&mut body, framing, &mut progress).await?
            }
            Err(error) => return Err(error.into()),
        };
        answer(upstream, target, &parts, head, sent, upgrade, now).map_err(SendError::from)
    }

    async fn connect(&self, target: Target) -> Result<Upstream, SendError> {
        let connected = tokio::time::timeout(self.connect_timeout, async {
            let tcp = TcpStream::connect(target.address).await?;
            tcp.set_nodelay(true)?;
            if !target.https {
                return Ok::<_, io::Error>(UpstreamStream::Plain(tcp));
            }
            let name = server_name(target.address.ip());
            let tls = self.tls.connect(name, tcp).await?;
            Ok(UpstreamStream::Tls(Box::new(tls)))
        });
        let stream = connected
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        Ok(Upstream::new(stream))
    }
}

fn idempotent(parts: &Parts) -> bool {
    matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

fn write_head(
    upstream: &mut Upstream,
    parts: &Parts,
    forwarded: &h1::Forwarded<'_>,
    framing: h1::RequestBody,
) {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    upstream.write.clear();
    h1::write_request_head(
        &mut upstream.write,
        &parts.method,
        target,
        &parts.headers,
        forwarded,
        framing,
    );
}

fn checkout(target: Target, now: Instant) -> Option<Upstream> {
    loop {
        let idle = IDLE.with_borrow_mut(|idle| idle.get_mut(&target)?.pop())?;
        let mut upstream = idle.upstream;
        if now.saturating_duration_since(idle.since) > IDLE_TIMEOUT {
            continue;
        }
        // The target may have closed it since it was pooled (the request's task registers its
        // own waker when it reads).
        if upstream.still_idle() {
            return Some(upstream);
        }
    }
}

/// The response to hand on, from its head and the connection it came on. `now`: when the
/// request was sent, the connection's idle time in the pool counted from then.
fn answer(
    mut upstream: Upstream,
    target: Target,
    request: &Parts,
    head: ResponseHead,
    sent: bool,
    upgrade: bool,
    now: Instant,
) -> Result<Answer, TargetError> {
    let framing = h1::ResponseBody::of(request.method == Method::HEAD, &head)?;
    // A body read until the target closes ends the connection with it.
    let reusable = sent && h1::keeps_alive(&head) && framing != h1::ResponseBody::UntilClose;
    let ResponseHead {
        status,
        mut headers,
        ..
    } = head;
    let mut upgraded = None;
    let body = if status == StatusCode::SWITCHING_PROTOCOLS {
        if !upgrade {
            return Err(TargetError::UnaskedUpgrade);
        }
        upgraded = Some(Upgraded {
            buffered: upstream.read.split().freeze(),
            stream: upstream.stream,
        });
        BodyState::Whole(None)
    } else {
        match framing {
            h1::ResponseBody::None => {
                if reusable {
                    release(upstream, target, now);
                }
                BodyState::Whole(None)
            }
            h1::ResponseBody::Length(length) if upstream.read.len() as u64 >= length => {
                let data = upstream.read.split_to(length as usize).freeze();
                if reusable {
                    release(upstream, target, now);
                }
                BodyState::Whole(Some(data))
            }
            framing => {
                let framing = match framing {
                    h1::ResponseBody::Length(length) => Framing::Length(length),
                    h1::ResponseBody::Chunked => {
                        // The length the target may also have given does not delimit it.
                        headers.remove(header::CONTENT_LENGTH);
                        Framing::Chunked(ChunkedDecoder::default())
                    }
                    _ => Framing::UntilClose,
                };
                BodyState::Streaming(Box::new(Streaming {
                    upstream,
                    target,
                    framing,
                    reusable,
                }))
            }
        }
    };
    let mut response = Response::new(TargetBody(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(Answer { response, upgraded })
}
