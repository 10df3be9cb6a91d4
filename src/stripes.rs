//! Per-call counters that two threads never write on the same cache line.
//!
//! Each thread is given a stripe index once (round robin); a counter is the
//! sum over its stripes. Writes are a relaxed `fetch_add` on a line that, with
//! fewer threads than stripes, no other thread writes; reads (exports,
//! snapshots) sum all stripes and are off the hot path.

use crate::sync::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIPES: usize = 8;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe_index() -> usize {
    STRIPE.with(|s| {
        let i = s.get();
        if i != usize::MAX {
            return i;
        }
        let i = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
        s.set(i);
        i
    })
}

/// `N` monotonic counters, striped across cache lines.
pub(crate) struct Striped<const N: usize> {
    stripes: [CachePadded<[AtomicU64; N]>; STRIPES],
}

impl<const N: usize> Striped<N> {
    pub(crate) fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| {
                CachePadded(std::array::from_fn(|_| AtomicU64::new(0)))
            }),
        }
    }

    /// Adds one to counter `field`.
    #[inline]
    pub(crate) fn incr(&self, field: usize) {
        self.stripes[stripe_index()].0[field].fetch_add(1, Ordering::Relaxed);
    }

    /// The current total of counter `field`.
    pub(crate) fn sum(&self, field: usize) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0[field].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let c = Arc::new(Striped::<2>::new());
        let handles: Vec<_> = (0..12)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.incr(t % 2);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.sum(0), 60_000);
        assert_eq!(c.sum(1), 60_000);
    }
}
