//! A counting semaphore whose uncontended path is one CAS to acquire and
//! one CAS to release — no lock — with a FIFO queue of waiters that only
//! waiting callers (and releases while someone waits) ever lock.
//!
//! One `AtomicI64` holds `available << 1 | queued`: the free permits (which
//! may go negative after the limit is lowered — a debt releases repay first)
//! and a flag saying the queue is non-empty. Because both live in one word, a
//! release and a caller about to queue cannot miss each other: the caller
//! sets the flag with the same CAS that finds no permit, and a release that
//! sees the flag takes the queue lock and hands its permit straight to the
//! longest waiter, so newcomers never barge ahead of the queue. The flag is
//! only set and cleared under the queue lock.

use crate::sync::{AtomicBool, AtomicI64, AtomicUsize, CachePadded, Mutex, Ordering};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

pub(crate) struct Waiter {
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    pub(crate) fn is_granted(&self) -> bool {
        self.granted.load(Ordering::Acquire)
    }

    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// Marks `w` granted (under the queue lock) and takes its waker, to wake
/// once the lock is released.
fn grant(w: &Waiter) -> Option<Waker> {
    w.granted.store(true, Ordering::Release);
    w.waker.lock().take()
}

pub(crate) struct Semaphore {
    /// `available << 1 | queued`.
    state: CachePadded<AtomicI64>,
    /// Queue length, for metrics only.
    waiting: AtomicUsize,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
}

const QUEUED: i64 = 1;
const ONE: i64 = 2;

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            state: CachePadded(AtomicI64::new((permits as i64) << 1)),
            waiting: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a permit if one is free and nobody is queued for it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.try_acquire_counted().is_some()
    }

    /// [`try_acquire`](Self::try_acquire), telling the permits left free
    /// after it (read from the exchange itself: no second load).
    #[inline]
    pub(crate) fn try_acquire_counted(&self) -> Option<i64> {
        let mut s = self.state.load(Ordering::Acquire);
        // Free permits and an empty queue (FIFO: queued callers go first).
        while s >= ONE && s & QUEUED == 0 {
            match self
                .state
                .compare_exchange_weak(s, s - ONE, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some((s - ONE) >> 1),
                Err(actual) => s = actual,
            }
        }
        None
    }

    /// Takes a permit if more than `reserve` are free and nobody is
    /// queued: the top `reserve` permits are kept for others (a load
    /// shedder's higher priorities).
    #[inline]
    pub(crate) fn try_acquire_leaving(&self, reserve: i64) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        while (s >> 1) > reserve && s & QUEUED == 0 {
            match self
                .state
                .compare_exchange_weak(s, s - ONE, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
        false
    }

    /// Takes a permit now, or queues a waiter to be granted one in order.
    pub(crate) fn acquire_or_enqueue(&self) -> Result<(), Arc<Waiter>> {
        let mut queue = self.queue.lock();
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            // With the lock held the flag is ours to set; it is set iff the
            // queue is non-empty.
            let next = if s >= ONE && s & QUEUED == 0 {
                s - ONE
            } else {
                s | QUEUED
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == s - ONE => return Ok(()),
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let waiter = Arc::new(Waiter {
            granted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        queue.push_back(waiter.clone());
        self.waiting.store(queue.len(), Ordering::Relaxed);
        Err(waiter)
    }

    /// Gives a waiter up (it was cancelled or timed out). Returns `true` if
    /// it had been granted a permit meanwhile, which the caller now holds.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter>) -> bool {
        let mut queue = self.queue.lock();
        if let Some(i) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(i);
            self.waiting.store(queue.len(), Ordering::Relaxed);
            if queue.is_empty() {
                self.state.fetch_and(!QUEUED, Ordering::AcqRel);
            }
            return false;
        }
        // Not queued: granted under the lock, so this is already visible.
        waiter.is_granted()
    }

    /// Returns one permit: to the longest waiter if any, else to the pool
    /// (repaying any debt first).
    #[inline]
    pub(crate) fn release(&self) {
        let mut s = self.state.load(Ordering::Acquire);
        // A debt is repaid before anyone is served; otherwise, with nobody
        // queued, the permit goes back to the pool.
        while s < 0 || s & QUEUED == 0 {
            match self
                .state
                .compare_exchange_weak(s, s + ONE, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        self.hand_off();
    }

    #[cold]
    fn hand_off(&self) {
        let mut queue = self.queue.lock();
        let next = queue.pop_front();
        self.waiting.store(queue.len(), Ordering::Relaxed);
        if queue.is_empty() {
            self.state.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        match next {
            Some(w) => {
                let waker = grant(&w);
                drop(queue);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // The waiter we saw gave up meanwhile: back to the pool.
            None => {
                self.state.fetch_add(ONE, Ordering::AcqRel);
            }
        }
    }

    /// Adds (`delta > 0`) or removes permits; removal may leave a debt.
    /// Either way the work is constant in `delta`: added permits repay any
    /// debt and go to the pool in one `fetch_add`, then serve queued
    /// waiters in order, one step per waiter served.
    pub(crate) fn adjust(&self, delta: i64) {
        if delta < 0 {
            self.state.fetch_add(delta * ONE, Ordering::AcqRel);
            return;
        }
        let mut wakers = Vec::new();
        {
            // Under the lock the queued flag cannot change, so while it is
            // set no newcomer takes a pooled permit (they check the flag)
            // and a release racing us waits here to hand its permit off.
            let mut queue = self.queue.lock();
            let mut s = self.state.fetch_add(delta * ONE, Ordering::AcqRel) + delta * ONE;
            while s >= ONE && !queue.is_empty() {
                match self.state.compare_exchange_weak(
                    s,
                    s - ONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let w = queue.pop_front().expect("checked non-empty");
                        wakers.extend(grant(&w));
                        s -= ONE;
                    }
                    Err(actual) => s = actual,
                }
            }
            self.waiting.store(queue.len(), Ordering::Relaxed);
            if queue.is_empty() {
                self.state.fetch_and(!QUEUED, Ordering::AcqRel);
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// Takes a permit whatever the pool holds, leaving a debt if it is
    /// empty: a call admitted past the limit (a partition's reserved
    /// share). Releases repay the debt before serving anyone.
    pub(crate) fn force_acquire(&self) {
        self.state.fetch_sub(ONE, Ordering::AcqRel);
    }

    #[inline]
    pub(crate) fn available(&self) -> i64 {
        self.state.load(Ordering::Acquire) >> 1
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// The waiting half of an acquire future, shared by every pattern that
/// queues for a [`Semaphore`] permit up to a `max_wait` (the bulkhead, the
/// adaptive limiter): the queue place, and the timer, made only for calls
/// that really wait.
#[derive(Default)]
pub(crate) struct SlotWait {
    waiter: Option<Arc<Waiter>>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// What [`SlotWait::poll`] decided.
pub(crate) enum Slot {
    /// A permit, taken at once (`false`) or after queueing (`true`).
    Granted(bool),
    /// No permit: not allowed to wait, or `max_wait` ran out.
    Refused,
}

impl SlotWait {
    /// Takes a permit, or queues for one until `max_wait` (`what` names
    /// the waiting pattern in the panic outside a tokio runtime).
    pub(crate) fn poll(
        &mut self,
        semaphore: &Semaphore,
        max_wait: std::time::Duration,
        what: &'static str,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Slot> {
        use std::task::Poll;
        let waiter = match &self.waiter {
            Some(w) => w.clone(),
            None => match semaphore.acquire_or_enqueue() {
                Ok(()) => return Poll::Ready(Slot::Granted(false)),
                Err(w) if max_wait.is_zero() => {
                    // Not allowed to wait: leave the queue at once (keeping
                    // a permit if one was handed over in between).
                    if semaphore.cancel(&w) {
                        return Poll::Ready(Slot::Granted(false));
                    }
                    return Poll::Ready(Slot::Refused);
                }
                Err(w) => {
                    self.sleep = Some(Box::pin(crate::clock::sleep(max_wait, what)));
                    self.waiter = Some(w.clone());
                    w
                }
            },
        };
        waiter.register(cx.waker());
        if waiter.is_granted() {
            self.waiter = None;
            return Poll::Ready(Slot::Granted(true));
        }
        if let Some(sleep) = &mut self.sleep {
            if std::future::Future::poll(sleep.as_mut(), cx).is_ready() {
                self.waiter = None;
                if semaphore.cancel(&waiter) {
                    return Poll::Ready(Slot::Granted(true));
                }
                return Poll::Ready(Slot::Refused);
            }
        }
        Poll::Pending
    }

    /// Gives up a place still held (the future was dropped), returning a
    /// permit handed over just as it gave up.
    pub(crate) fn abandon(&mut self, semaphore: &Semaphore) {
        if let Some(w) = self.waiter.take() {
            if semaphore.cancel(&w) {
                semaphore.release();
            }
        }
    }
}

/// loom models of the hand-off: no permit is lost or duplicated when a
/// release races a waiter arriving or giving up. Run with
/// `RUSTFLAGS="--cfg seawall_loom" cargo test --release --lib`.
#[cfg(all(test, seawall_loom))]
mod loom_models {
    use super::*;
    use loom::thread;

    #[test]
    fn a_release_racing_a_new_waiter_is_never_lost() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            assert!(s.try_acquire());
            let releaser = {
                let s = s.clone();
                thread::spawn(move || s.release())
            };
            let s2 = s.clone();
            let waiter = thread::spawn(move || s2.acquire_or_enqueue().err());
            releaser.join().unwrap();
            if let Some(w) = waiter.join().unwrap() {
                // Queued: once the release is done, the permit is ours.
                assert!(
                    w.is_granted(),
                    "the release was lost: available {} waiting {} queued {}",
                    s.available(),
                    s.waiting(),
                    s.queue.lock().len()
                );
            }
            // The waiter holds the one permit; nothing else is free or queued.
            assert_eq!((s.available(), s.waiting()), (0, 0));
            s.release();
            assert_eq!(s.available(), 1);
        });
    }

    #[test]
    fn a_release_racing_a_cancelling_waiter_keeps_exactly_one_permit() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            assert!(s.try_acquire());
            let w = s.acquire_or_enqueue().expect_err("queued");
            let releaser = {
                let s = s.clone();
                thread::spawn(move || s.release())
            };
            let s2 = s.clone();
            let canceller = thread::spawn(move || {
                if s2.cancel(&w) {
                    s2.release(); // granted just before giving up: hand it back
                }
            });
            releaser.join().unwrap();
            canceller.join().unwrap();
            assert_eq!((s.available(), s.waiting()), (1, 0));
        });
    }

    #[test]
    fn a_forced_acquire_racing_a_release_to_a_waiter_repays_its_debt_first() {
        // An adaptive limiter's partition admits past the limit (a debt)
        // while a call ends and another waits: whatever the order, the
        // waiter is served only by a permit the debt does not claim.
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            assert!(s.try_acquire());
            let w = s.acquire_or_enqueue().expect_err("queued");
            let forcer = {
                let s = s.clone();
                thread::spawn(move || s.force_acquire())
            };
            let s2 = s.clone();
            let releaser = thread::spawn(move || s2.release());
            forcer.join().unwrap();
            releaser.join().unwrap();
            // Two held (the forced one and, if served, the waiter) out of one:
            // the waiter may only have been served if the release came
            // before the debt, and then the pool is one in debt.
            if w.is_granted() {
                assert_eq!((s.available(), s.waiting()), (-1, 0));
                s.release();
            } else {
                assert!(!s.cancel(&w));
                assert_eq!((s.available(), s.waiting()), (0, 0));
            }
            s.release();
            assert_eq!(s.available(), 1, "every permit came back");
        });
    }

    #[test]
    fn two_callers_for_the_last_unreserved_permit_get_it_once() {
        // A load shedder keeps one of two permits for higher priorities:
        // two low-priority callers at once get exactly one.
        loom::model(|| {
            let s = Arc::new(Semaphore::new(2));
            let a = {
                let s = s.clone();
                thread::spawn(move || s.try_acquire_leaving(1))
            };
            let got_b = s.try_acquire_leaving(1);
            let got_a = a.join().unwrap();
            assert!(got_a ^ got_b, "exactly one: {got_a} {got_b}");
            assert_eq!(s.available(), 1);
            assert!(!s.try_acquire_leaving(1), "the reserved one stays");
            assert!(s.try_acquire(), "a higher priority takes it");
        });
    }

    #[test]
    fn raising_the_limit_racing_a_release_serves_waiters_once_each() {
        loom::model(|| {
            let s = Arc::new(Semaphore::new(1));
            assert!(s.try_acquire());
            let first = s.acquire_or_enqueue().expect_err("queued");
            let second = s.acquire_or_enqueue().expect_err("queued");
            let releaser = {
                let s = s.clone();
                thread::spawn(move || s.release())
            };
            let s2 = s.clone();
            let raiser = thread::spawn(move || s2.adjust(2));
            releaser.join().unwrap();
            raiser.join().unwrap();
            // Three permits in all (one released, two added): both waiters
            // served in order, one left in the pool, nothing queued.
            assert!(first.is_granted() && second.is_granted());
            assert_eq!((s.available(), s.waiting()), (1, 0));
        });
    }
}
