//! Recent latencies, to learn a hedge's delay: a percentile of the last
//! full window, as tower's `Hedge` learns it, without a lock and with
//! nothing allocated per call.
//!
//! Two histograms of counters take turns: the window `now / len` is
//! counted into `windows[w % 2]`; the first call of a new window computes
//! the percentile of the one just finished (once per window, not per call)
//! and clears the other for counting. A call reads the cached result: one
//! atomic load. Each thread counts into a stripe of its own
//! ([`Striped`]): a count is a load and a store on a line no other thread
//! writes, so threads recording the same latency do not bounce one bucket
//! between cores (the price: 36 KiB a window).
//!
//! Buckets are log-linear over microseconds: exact below 8 µs, then 8 per
//! power of two, so a bucket's upper bound is at most 12.5% above any
//! value in it (the delay errs long, never short), up to 2^40 µs.
//!
//! A count made while its window is being cleared (the first call of a
//! window racing another) may be lost: the estimate is of a distribution,
//! not a tally.

use crate::stripes::Striped;
use crate::sync::{AtomicU64, Ordering};

/// Sub-buckets per power of two (3 bits of mantissa).
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: the exact ones below `SUB`, then `SUB` per power of two up to
/// 2^34 µs (4.7 hours; longer is counted as that).
const BUCKETS: usize = (SUB as usize) * (34 - SUB_BITS as usize + 2);
/// No percentile (too few samples, or none yet).
const NONE: u64 = u64::MAX;

/// The bucket of a latency of `us` microseconds.
#[inline]
fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // ≥ SUB_BITS
    let mantissa = (us >> (exp - SUB_BITS)) & (SUB - 1);
    (((exp - SUB_BITS + 1) as u64 * SUB + mantissa) as usize).min(BUCKETS - 1)
}

/// The largest latency (µs) bucket `b` holds.
fn upper(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = (b / SUB) as u32 + SUB_BITS - 1;
    let mantissa = b % SUB;
    ((SUB + mantissa + 1) << (exp - SUB_BITS)) - 1
}

struct Window {
    counts: Striped<BUCKETS>,
}

impl Window {
    fn new() -> Self {
        Self {
            counts: Striped::new(),
        }
    }

    /// The smallest bucket bound at or above the `percentile` of what this
    /// window counted, or `None` below `min_samples`.
    fn percentile(&self, percentile: f64, min_samples: u64) -> Option<u64> {
        let counts: Vec<u64> = (0..BUCKETS).map(|b| self.counts.sum(b)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 || total < min_samples {
            return None;
        }
        // The rank of the percentile: ⌈p/100 · total⌉, at least 1.
        let rank = ((percentile / 100.0 * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper(b));
            }
        }
        None
    }

    fn clear(&self) {
        for stripe in self.counts.all() {
            for c in stripe {
                c.store(0, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// A rotating latency histogram with its last window's percentile cached.
pub(crate) struct Latencies {
    windows: Box<[Window; 2]>,
    /// The window being counted: `now / window_ns`.
    epoch: AtomicU64,
    /// The last full window's percentile (µs), or [`NONE`].
    cached: AtomicU64,
    percentile: f64,
    min_samples: u64,
    window_ns: u64,
}

impl Latencies {
    pub(crate) fn new(percentile: f64, min_samples: u64, window_ns: u64) -> Self {
        Self {
            windows: Box::new([Window::new(), Window::new()]),
            epoch: AtomicU64::new(0),
            cached: AtomicU64::new(NONE),
            percentile,
            min_samples,
            window_ns: window_ns.max(1),
        }
    }

    /// `(percentile, min_samples, window)` it learns with.
    pub(crate) fn params(&self) -> (f64, u64, std::time::Duration) {
        let window = std::time::Duration::from_nanos(self.window_ns);
        (self.percentile, self.min_samples, window)
    }

    /// Counts one latency of `latency_ns`, measured at `now_ns`.
    #[inline]
    pub(crate) fn record(&self, now_ns: u64, latency_ns: u64) {
        let epoch = self.rotate(now_ns);
        self.windows[(epoch % 2) as usize]
            .counts
            .incr(bucket(latency_ns / 1000));
    }

    /// The delay learned from the last full window, if it had enough
    /// samples (µs); `now_ns` moves the windows on if one has ended.
    #[inline]
    pub(crate) fn delay_us(&self, now_ns: u64) -> Option<u64> {
        self.rotate(now_ns);
        match self.cached.load(Ordering::Relaxed) {
            NONE => None,
            us => Some(us),
        }
    }

    /// The window `now_ns` falls in, rotating to it if it is new.
    #[inline]
    fn rotate(&self, now_ns: u64) -> u64 {
        let epoch = now_ns / self.window_ns;
        let current = self.epoch.load(Ordering::Acquire);
        if epoch > current {
            self.rotate_slow(current, epoch);
        }
        epoch
    }

    #[cold]
    fn rotate_slow(&self, current: u64, epoch: u64) {
        // One caller rotates; the others count into the new window at once.
        if self
            .epoch
            .compare_exchange(current, epoch, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        // The window just finished is `current`, if it is the one before;
        // after a silence longer than a window there is nothing recent.
        let learned = if epoch == current + 1 {
            self.windows[(current % 2) as usize].percentile(self.percentile, self.min_samples)
        } else {
            self.windows[(current % 2) as usize].clear();
            None
        };
        self.cached
            .store(learned.unwrap_or(NONE), Ordering::Relaxed);
        self.windows[(epoch % 2) as usize].clear();
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_within_an_eighth() {
        let mut last = 0;
        for us in (0..100_000u64).chain([1 << 20, (1 << 30) + 12345, u64::MAX / 1000]) {
            let b = bucket(us);
            assert!(b >= last, "monotone at {us}");
            last = b;
            let hi = upper(b);
            assert!(
                hi >= us || b == BUCKETS - 1,
                "{us} in bucket {b} up to {hi}"
            );
            if us >= SUB && b < BUCKETS - 1 {
                assert!(hi - us <= us / 8 + 1, "{us} → {hi}");
            }
        }
    }

    #[test]
    fn the_percentile_of_the_last_full_window_is_learned() {
        let ms = 1_000_000;
        let l = Latencies::new(95.0, 100, 1_000 * ms); // 1 s windows
                                                       // Window 0: 95 calls at 10 ms, 5 at 1 s.
        for i in 0..100 {
            l.record(i * ms, if i % 20 == 0 { 1_000 * ms } else { 10 * ms });
        }
        assert_eq!(l.delay_us(999 * ms), None, "window 0 not over yet");
        // In window 1, window 0's p95 is a 10 ms bucket's bound.
        let p95 = l.delay_us(1_000 * ms).unwrap();
        assert!((10_000..=11_250).contains(&p95), "{p95}");
        // Window 1 had too few calls: window 2 learns nothing.
        l.record(1_500 * ms, 10 * ms);
        assert_eq!(l.delay_us(2_000 * ms), None);
        // A silence of more than a window forgets everything.
        for i in 0..200 {
            l.record(2_000 * ms + i, 10 * ms);
        }
        assert_eq!(l.delay_us(4_500 * ms), None);
    }
}
