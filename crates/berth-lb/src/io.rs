//! The client socket as the connection task sees it: watched, so that the idle timeout and the
//! header timeout can be enforced from outside hyper.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What the connection watcher needs to know about one client connection.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    last_activity_ms: AtomicU64,
    /// Bytes arrived since the last response bytes were written and no request head has been
    /// handed to the service since: a request head is being received.
    head_pending_since_ms: AtomicU64,
    head_pending: AtomicBool,
    in_flight: AtomicU32,
}

impl Activity {
    pub fn new(now: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            start: now,
            last_activity_ms: AtomicU64::new(0),
            head_pending_since_ms: AtomicU64::new(0),
            head_pending: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_activity_ms.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && !self.head_pending.swap(true, Ordering::Relaxed)
        {
            self.head_pending_since_ms.store(now, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request head reached the service. No timestamp (a clock read per request): the
    /// head's bytes were just read, and while a request is in flight the idle time is not
    /// looked at.
    pub fn request_started(&self) {
        self.head_pending.store(false, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The request's handling ended, its last activity at `at` when the caller knows it (else
    /// now).
    pub fn request_finished(&self, at: Option<Instant>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let ms = match at {
            Some(at) => at.saturating_duration_since(self.start),
            None => self.start.elapsed(),
        };
        self.last_activity_ms.store(
            u64::try_from(ms.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// When the connection should next be looked at, and what is due then.
    pub fn deadline(
        &self,
        idle_timeout: Duration,
        header_timeout: Option<Duration>,
    ) -> (Instant, Due) {
        let at = |ms: u64, after: Duration| self.start + Duration::from_millis(ms) + after;
        if let Some(header_timeout) = header_timeout
            && self.head_pending.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
        {
            let header_due = at(
                self.head_pending_since_ms.load(Ordering::Relaxed),
                header_timeout,
            );
            let idle_due = at(self.last_activity_ms.load(Ordering::Relaxed), idle_timeout);
            return if header_due <= idle_due {
                (header_due, Due::HeaderTimeout)
            } else {
                (idle_due, Due::Idle)
            };
        }
        // Nothing pending yet. A request head that starts from now on is due at the earliest one
        // header timeout from now: looking again then finds it (no wake-up per request needed).
        let recheck = header_timeout.map(|header_timeout| Instant::now() + header_timeout);
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // Requests in flight have their own deadlines (504).
            let later = Instant::now() + idle_timeout;
            return (recheck.map_or(later, |r| r.min(later)), Due::Nothing);
        }
        let idle_due = at(self.last_activity_ms.load(Ordering::Relaxed), idle_timeout);
        match recheck {
            Some(recheck) if recheck < idle_due => (recheck, Due::Nothing),
            _ => (idle_due, Due::Idle),
        }
    }

    /// Whether what was due at `deadline` still is (activity may have moved it).
    pub fn still_due(
        &self,
        due: Due,
        idle_timeout: Duration,
        header_timeout: Option<Duration>,
        now: Instant,
    ) -> bool {
        let (deadline, current) = self.deadline(idle_timeout, header_timeout);
        current == due && due != Due::Nothing && deadline <= now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    Idle,
    HeaderTimeout,
}

/// A client TCP stream reporting its activity.
#[derive(Debug)]
pub struct WatchedTcp {
    pub stream: TcpStream,
    pub activity: Arc<Activity>,
}

impl AsyncRead for WatchedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, data))?;
        self.activity.wrote();
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, bufs))?;
        self.activity.wrote();
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The connection watcher's timer, looked at only once it has fired. The connection's task is
/// woken at least twice per request (the request, then the target's answer), and polling a
/// pending tokio timer each time (to find it pending and register the same waker again) cost
/// more than the rest of the watcher; instead the timer wakes the task through a waker that
/// also marks it fired.
pub struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The waker the sleep was last polled with, while it stands.
    armed: Option<Arc<FiredWaker>>,
}

struct FiredWaker {
    fired: AtomicBool,
    task: Waker,
}

impl Wake for FiredWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Timer {
    pub fn new(deadline: Instant) -> Timer {
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            armed: None,
        }
    }

    pub fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline.into());
        self.armed = None;
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(armed) = &self.armed
            && !armed.fired.load(Ordering::Acquire)
            && armed.task.will_wake(cx.waker())
        {
            return Poll::Pending;
        }
        let armed = Arc::new(FiredWaker {
            fired: AtomicBool::new(false),
            task: cx.waker().clone(),
        });
        let waker = Waker::from(armed.clone());
        match self.sleep.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(()) => {
                self.armed = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                self.armed = Some(armed);
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_timer_fires_at_its_deadline_and_again_after_a_reset() {
        let start = Instant::now();
        let mut timer = Timer::new(start + Duration::from_millis(30));
        // Polled again before the deadline (as a connection's task is per request), it stays
        // pending without looking at the sleep.
        let early = tokio::time::timeout(Duration::from_millis(5), &mut timer).await;
        assert!(early.is_err());
        (&mut timer).await;
        assert!(start.elapsed() >= Duration::from_millis(30));
        let again = Instant::now();
        timer.reset(again + Duration::from_millis(20));
        (&mut timer).await;
        assert!(again.elapsed() >= Duration::from_millis(20));
        // Moved later before it fires: the earlier deadline no longer counts.
        let later = Instant::now();
        timer.reset(later + Duration::from_millis(10));
        timer.reset(later + Duration::from_millis(40));
        (&mut timer).await;
        assert!(later.elapsed() >= Duration::from_millis(40));
    }
}
