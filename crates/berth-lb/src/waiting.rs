//! The deadlines of forwarded requests waiting for their targets' answers: 504 at the idle
//! timeout, 502 once the target's deregistration delay has run out (ALB closes requests still
//! in flight then). A tokio timer per request (registered in the runtime's wheel under its lock,
//! and cleared again when the answer comes, as it nearly always does first) was a visible
//! share of each request's instructions; instead each worker thread keeps its waiting requests
//! in a slab and one task per worker looks them over: at the earliest response deadline, and at
//! least every `DRAIN_RECHECK` for targets that start draining meanwhile. Registering and
//! leaving cost a slab slot and a waker.
//!
//! Request futures never leave their worker thread (each worker is a current-thread runtime),
//! so the slab is the thread's own: no lock, nothing written that another worker reads.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;

use crate::dataplane::TargetState;

/// How often waiting requests are looked at for their targets' drain deadlines: a request whose
/// target starts draining after it was sent is cut off at most this long after the
/// deregistration delay ends (a drain already under way at a look is timed exactly).
const DRAIN_RECHECK: Duration = Duration::from_millis(250);

struct Entry {
    response_deadline: Instant,
    target: Arc<TargetState>,
    waker: Option<Waker>,
    answer: Option<StatusCode>,
}

/// One worker thread's waiting requests.
#[derive(Default)]
struct Waiting {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    live: usize,
    /// Whether this thread's watcher task is running (it ends when nothing waits).
    watching: bool,
}

impl Waiting {
    fn insert(&mut self, entry: Entry) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.live -= 1;
            self.free.push(slot);
        }
    }

    /// Gives the requests whose time is up their answer (502 before 504, as a drain ends them
    /// first) and wakes them; returns when to look again, `None` when nothing waits.
    fn expire(&mut self, now: Instant, wall: SystemTime) -> Option<Instant> {
        if self.live == 0 {
            return None;
        }
        let mut next = now + DRAIN_RECHECK;
        for entry in self.slots.iter_mut().flatten() {
            if entry.answer.is_some() {
                continue;
            }
            let drain_left = entry
                .target
                .drain_deadline()
                .map(|until| until.duration_since(wall).unwrap_or_default());
            let answer = if drain_left == Some(Duration::ZERO) {
                StatusCode::BAD_GATEWAY
            } else if now >= entry.response_deadline {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                next = next.min(entry.response_deadline);
                if let Some(left) = drain_left {
                    next = next.min(now + left);
                }
                continue;
            };
            entry.answer = Some(answer);
            if let Some(waker) = entry.waker.take() {
                waker.wake();
            }
        }
        Some(next)
    }
}

thread_local! {
    static WAITING: RefCell<Waiting> = RefCell::new(Waiting::default());
}

/// Resolves with ALB's answer for a request its target has not answered: 502 once the target's
/// deregistration delay has run out, 504 once `timeout` has passed since `started`. Must be
/// created and polled on a worker thread, inside its runtime.
pub(crate) struct GiveUp {
    slot: usize,
}

impl GiveUp {
    pub fn new(target: Arc<TargetState>, started: Instant, timeout: Duration) -> GiveUp {
        let (slot, start_watcher) = WAITING.with_borrow_mut(|waiting| {
            let slot = waiting.insert(Entry {
                response_deadline: started + timeout,
                target,
                waker: None,
                answer: None,
            });
            let start_watcher = !waiting.watching;
            waiting.watching = true;
            (slot, start_watcher)
        });
        if start_watcher {
            tokio::spawn(watch());
        }
        GiveUp { slot }
    }
}

impl Future for GiveUp {
    type Output = StatusCode;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<StatusCode> {
        WAITING.with_borrow_mut(|waiting| {
            let Some(entry) = waiting.slots[self.slot].as_mut() else {
                unreachable!("a waiting request keeps its slot until it is dropped");
            };
            if let Some(answer) = entry.answer {
                return Poll::Ready(answer);
            }
            match &mut entry.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        // The thread is being torn down when the slab is gone: nothing left to clean.
        let _ = WAITING.try_with(|waiting| waiting.borrow_mut().remove(self.slot));
    }
}

/// The worker's watcher: runs while requests wait, ends when none does.
async fn watch() {
    loop {
        let next = WAITING.with_borrow_mut(|waiting| {
            let next = waiting.expire(Instant::now(), SystemTime::now());
            waiting.watching = next.is_some();
            next
        });
        let Some(next) = next else {
            return;
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn entry(target: &Arc<TargetState>, deadline: Instant) -> Entry {
        Entry {
            response_deadline: deadline,
            target: target.clone(),
            waker: None,
            answer: None,
        }
    }

    fn target() -> Arc<TargetState> {
        Arc::new(TargetState::new(SocketAddr::from(([127, 0, 0, 1], 80))))
    }

    #[test]
    fn requests_get_504_at_their_deadline_and_the_next_look_is_the_earliest_due() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let target = target();
        let mut waiting = Waiting::default();
        let late = waiting.insert(entry(&target, now + Duration::from_secs(60)));
        let soon = waiting.insert(entry(&target, now + Duration::from_millis(100)));
        // Before either deadline: look again at the first one, sooner than the drain recheck.
        assert_eq!(
            waiting.expire(now, wall),
            Some(now + Duration::from_millis(100))
        );
        assert!(waiting.slots[soon].as_ref().unwrap().answer.is_none());
        let later = now + Duration::from_millis(100);
        assert_eq!(waiting.expire(later, wall), Some(later + DRAIN_RECHECK));
        assert_eq!(
            waiting.slots[soon].as_ref().unwrap().answer,
            Some(StatusCode::GATEWAY_TIMEOUT)
        );
        assert!(waiting.slots[late].as_ref().unwrap().answer.is_none());
        waiting.remove(soon);
        waiting.remove(late);
        assert_eq!(waiting.expire(later, wall), None, "nothing waits");
        // Freed slots are reused.
        assert_eq!(waiting.insert(entry(&target, later)), late);
    }

    #[test]
    fn a_drained_target_gets_its_requests_502_at_the_end_of_the_delay() {
        let now = Instant::now();
        // Drain deadlines are kept in whole milliseconds.
        let wall = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let target = target();
        let mut waiting = Waiting::default();
        let slot = waiting.insert(entry(&target, now + Duration::from_secs(60)));
        target.set_drain_deadline(Some(wall + Duration::from_millis(40)));
        assert_eq!(
            waiting.expire(now, wall),
            Some(now + Duration::from_millis(40)),
            "the drain deadline is looked at exactly"
        );
        assert_eq!(
            waiting.expire(now, wall + Duration::from_millis(40)),
            Some(now + DRAIN_RECHECK)
        );
        assert_eq!(
            waiting.slots[slot].as_ref().unwrap().answer,
            Some(StatusCode::BAD_GATEWAY)
        );
    }
}
