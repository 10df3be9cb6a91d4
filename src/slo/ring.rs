//! Rolling call counts in bounded memory: three rings of time buckets
//! (seconds for the last hour, minutes for the last three days, hours for
//! the compliance period), fed once a second per thread.
//!
//! A call adds to its thread's stripe (plain loads and stores: the thread
//! is its only writer) for the current second. When a thread's second
//! changes, it flushes what it counted into the rings. Each ring word packs
//! the bucket's epoch with its count, so a flush is a compare-and-swap that
//! either adds to the bucket's count or, finding an older epoch, restarts
//! it — no lock anywhere:
//!
//! ```text
//! word = epoch (low 24 bits of the bucket's index) << 40 | count (40 bits)
//! add n to bucket i:  w.epoch == i: w + n;  w.epoch older: i << 40 | n;  newer: too late, dropped
//! ```
//!
//! A window's counts are its buckets' counts (those whose epoch is in the
//! window) plus what each stripe has counted and not flushed yet. Windows up
//! to an hour are exact to the second; up to three days, to the minute
//! (the oldest minute counts whole); longer, to the hour.

use crate::stripes::Striped;
use std::sync::atomic::{AtomicU64, Ordering};

const NANOS_PER_SEC: u64 = 1_000_000_000;
const EPOCH_BITS: u32 = 24;
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;

/// The counts a bucket keeps: calls judged (valid), good ones.
pub(crate) const VALID: usize = 0;
pub(crate) const GOOD: usize = 1;
const FIELDS: usize = 2;

/// One resolution: `len` buckets of `secs` seconds each.
struct Ring {
    secs: u64,
    buckets: Box<[[AtomicU64; FIELDS]]>,
}

/// Counts over the last hour, three days and `period`.
pub(crate) struct Rings {
    rings: [Ring; 3],
    /// Per thread: field 0 the second it counts (+1; 0: none yet), field 1
    /// its calls: valid in the low 32 bits, good in the high 32 (one load
    /// and one store a call).
    stripes: Striped<2>,
    /// Valid and good calls flushed since the start.
    totals: [AtomicU64; FIELDS],
}

/// A window's calls: judged and good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) valid: u64,
    pub(crate) good: u64,
}

impl Ring {
    fn new(secs: u64, len: usize) -> Self {
        Self {
            secs,
            buckets: (0..len)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
        }
    }

    fn span(&self) -> u64 {
        self.secs * self.buckets.len() as u64
    }

    /// Adds `n` to field `f` of the bucket holding second `sec`.
    fn add(&self, sec: u64, f: usize, n: u64) {
        if n == 0 {
            return;
        }
        let index = sec / self.secs;
        let epoch = index & EPOCH_MASK;
        let word = &self.buckets[(index % self.buckets.len() as u64) as usize][f];
        let mut w = word.load(Ordering::Relaxed);
        loop {
            let seen = w >> COUNT_BITS;
            let next = if seen == epoch {
                (epoch << COUNT_BITS) | ((w & COUNT_MASK) + n).min(COUNT_MASK)
            } else if newer(epoch, seen) {
                (epoch << COUNT_BITS) | n.min(COUNT_MASK)
            } else {
                return; // the bucket has moved on: counts this old are gone
            };
            match word.compare_exchange_weak(w, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// Field `f` summed over the buckets of seconds `from..=to`.
    fn sum(&self, from: u64, to: u64, f: usize) -> u64 {
        let (first, last) = (from / self.secs, to / self.secs);
        let last = last.max(first);
        let first = first.max(last.saturating_sub(self.buckets.len() as u64 - 1));
        (first..=last)
            .map(|index| {
                let w = self.buckets[(index % self.buckets.len() as u64) as usize][f]
                    .load(Ordering::Relaxed);
                if w >> COUNT_BITS == index & EPOCH_MASK {
                    w & COUNT_MASK
                } else {
                    0
                }
            })
            .sum()
    }
}

/// A stripe's packed counts: valid calls, good calls.
fn unpack(counts: u64) -> (u64, u64) {
    (counts & u64::from(u32::MAX), counts >> 32)
}

/// Whether epoch `a` comes after `b` (24-bit, wrapping).
fn newer(a: u64, b: u64) -> bool {
    let d = a.wrapping_sub(b) & EPOCH_MASK;
    d != 0 && d < (1 << (EPOCH_BITS - 1))
}

impl Rings {
    /// Rings covering an hour by the second, three days by the minute and
    /// `period` by the hour.
    pub(crate) fn new(period_secs: u64) -> Self {
        let hours = period_secs.div_ceil(3600).max(1) as usize + 1;
        Self {
            rings: [
                Ring::new(1, 3600 + 1),
                Ring::new(60, 3 * 24 * 60 + 1),
                Ring::new(3600, hours),
            ],
            stripes: Striped::new(),
            totals: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Valid and good calls since the start (flushed and pending).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn totals(&self) -> (u64, u64) {
        let (mut valid, mut good) = (
            self.totals[VALID].load(Ordering::Relaxed),
            self.totals[GOOD].load(Ordering::Relaxed),
        );
        for stripe in self.stripes.all() {
            if stripe[0].load(Ordering::Acquire) != 0 {
                let (v, g) = unpack(stripe[1].load(Ordering::Relaxed));
                valid += v;
                good += g;
            }
        }
        (valid, good.min(valid))
    }

    /// Bytes this holds, whatever the traffic.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .rings
                .iter()
                .map(|r| r.buckets.len() * std::mem::size_of::<[AtomicU64; FIELDS]>())
                .sum::<usize>()
    }

    /// Counts one call at `now` (nanoseconds on the clock).
    #[inline]
    pub(crate) fn record(&self, now: u64, good: bool) {
        let sec = now / NANOS_PER_SEC + 1;
        let Some(stripe) = self.stripes.mine() else {
            return self.flush(sec - 1, 1, u64::from(good));
        };
        if stripe[0].load(Ordering::Relaxed) != sec {
            self.roll(stripe, sec);
        }
        let counts = stripe[1].load(Ordering::Relaxed);
        stripe[1].store(counts + (1 | u64::from(good) << 32), Ordering::Relaxed);
        if counts as u32 == u32::MAX - 1 {
            // Four billion calls in one second on one thread: flush early.
            self.roll(stripe, sec);
        }
    }

    /// This thread's second changed: what it counted goes to the rings.
    #[cold]
    #[inline(never)]
    fn roll(&self, stripe: &[AtomicU64; 2], sec: u64) {
        let was = stripe[0].load(Ordering::Relaxed);
        if was != 0 {
            let (valid, good) = unpack(stripe[1].load(Ordering::Relaxed));
            self.flush(was - 1, valid, good);
        }
        // The counts are zeroed before the new second is published, so a
        // reader never adds the old counts to the new second.
        stripe[1].store(0, Ordering::Relaxed);
        stripe[0].store(sec, Ordering::Release);
    }

    fn flush(&self, sec: u64, valid: u64, good: u64) {
        self.totals[VALID].fetch_add(valid, Ordering::Relaxed);
        self.totals[GOOD].fetch_add(good, Ordering::Relaxed);
        for ring in &self.rings {
            ring.add(sec, VALID, valid);
            ring.add(sec, GOOD, good);
        }
    }

    /// Calls in the `window_secs` seconds ending at `now`.
    pub(crate) fn counts(&self, now: u64, window_secs: u64) -> Counts {
        let to = now / NANOS_PER_SEC;
        let from = (to + 1).saturating_sub(window_secs.max(1));
        let ring = self
            .rings
            .iter()
            .find(|r| window_secs <= r.span() - r.secs)
            .unwrap_or(&self.rings[2]);
        let mut counts = Counts {
            valid: ring.sum(from, to, VALID),
            good: ring.sum(from, to, GOOD),
        };
        // Seconds not flushed yet, on each thread's stripe.
        let start = from - from % ring.secs;
        for stripe in self.stripes.all() {
            let sec = stripe[0].load(Ordering::Acquire);
            if sec != 0 && (start..=to).contains(&(sec - 1)) {
                let (valid, good) = unpack(stripe[1].load(Ordering::Relaxed));
                counts.valid += valid;
                counts.good += good;
            }
        }
        counts.good = counts.good.min(counts.valid);
        counts
    }
}
