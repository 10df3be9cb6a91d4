//! A counting semaphore whose uncontended path is one CAS to acquire and
//! one `fetch_add` to release — no lock — with a FIFO queue of waiters that
//! only waiting callers ever touch.
//!
//! `available` may go negative after the limit is lowered: the permits then
//! out are a debt that releases repay before anyone is admitted again.
//!
//! Hand-off: when callers are queued, a release gives its permit straight to
//! the longest waiter (under the queue lock) instead of returning it to
//! `available`, so a newcomer can never barge ahead of the queue. The race
//! between a release that saw no waiter and a waiter that saw no permit is
//! closed by both sides re-checking the other's counter after publishing
//! their own (SeqCst): either the waiter sees the permit, or the releaser
//! sees the waiter and takes the permit back to hand it over.

use crate::sync::{CachePadded, Ordering};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize};
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

pub(crate) struct Semaphore {
    available: CachePadded<AtomicI64>,
    waiting: CachePadded<AtomicUsize>,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
}

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            available: CachePadded(AtomicI64::new(permits as i64)),
            waiting: CachePadded(AtomicUsize::new(0)),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a permit if one is free and nobody is queued for it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        if self.waiting.load(Ordering::SeqCst) != 0 {
            return false; // FIFO: queued callers go first
        }
        self.take_available()
    }

    #[inline]
    fn take_available(&self) -> bool {
        let mut a = self.available.load(Ordering::SeqCst);
        while a > 0 {
            match self
                .available
                .compare_exchange_weak(a, a - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => a = actual,
            }
        }
        false
    }

    /// Takes a permit now, or queues a waiter to be granted one in order.
    pub(crate) fn acquire_or_enqueue(&self) -> Result<(), Arc<Waiter>> {
        let mut queue = self.queue.lock();
        if queue.is_empty() && self.take_available() {
            return Ok(());
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Re-check after publishing ourselves: a release that saw
        // `waiting == 0` may have just returned a permit.
        if queue.is_empty() && self.take_available() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
        let waiter = Arc::new(Waiter {
            granted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        queue.push_back(waiter.clone());
        Err(waiter)
    }

    /// Gives a waiter up (it was cancelled or timed out). Returns `true` if
    /// it had been granted a permit meanwhile, which the caller now holds.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter>) -> bool {
        let mut queue = self.queue.lock();
        if let Some(i) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(i);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        // Not queued: granted under the lock, so this is already visible.
        waiter.is_granted()
    }

    /// Returns one permit: to the longest waiter if any, else to the pool.
    #[inline]
    pub(crate) fn release(&self) {
        // Repay any debt left by lowering the limit first.
        let mut a = self.available.load(Ordering::SeqCst);
        while a < 0 {
            match self
                .available
                .compare_exchange_weak(a, a + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(actual) => a = actual,
            }
        }
        if self.waiting.load(Ordering::SeqCst) == 0 {
            self.available.fetch_add(1, Ordering::SeqCst);
            if self.waiting.load(Ordering::SeqCst) == 0 {
                return;
            }
            // A waiter queued meanwhile; take the permit back to hand over,
            // unless it (or another) already took it.
            if !self.take_available() {
                return;
            }
        }
        self.hand_off();
    }

    #[cold]
    fn hand_off(&self) {
        let mut queue = self.queue.lock();
        match queue.pop_front() {
            Some(w) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                w.granted.store(true, Ordering::Release);
                let waker = w.waker.lock().take();
                drop(queue);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            None => {
                self.available.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Adds (`delta > 0`) or removes permits; removal may leave a debt.
    pub(crate) fn adjust(&self, delta: i64) {
        if delta >= 0 {
            for _ in 0..delta {
                self.release();
            }
        } else {
            self.available.fetch_add(delta, Ordering::SeqCst);
        }
    }

    pub(crate) fn available(&self) -> i64 {
        self.available.load(Ordering::SeqCst)
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}
