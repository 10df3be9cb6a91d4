//! The generic cell rate algorithm (GCRA): a token bucket kept as one
//! timestamp.
//!
//! With emission interval `T = period / rate` and burst `b`, the bucket's
//! whole state is the *theoretical arrival time* `TAT`: the time at which the
//! bucket would be full again if nothing else arrived. A request for `n`
//! tokens at time `now` conforms when
//!
//! ```text
//!     max(TAT, now) + n·T - now  <=  b·T          (τ = b·T, the tolerance)
//! ```
//!
//! and then `TAT ← max(TAT, now) + n·T`. Otherwise it would conform at the
//! earliest `t` with `TAT + n·T - t <= τ`, i.e. after
//! `retry_after = TAT + n·T - τ - now`. `TAT <= now` means the bucket is
//! full (idle): such a key can be forgotten without granting anything.
//!
//! In any interval of length `t` GCRA admits at most `b + t/T` tokens. The
//! update is one CAS on the `AtomicU64` holding `TAT` (nanoseconds on the
//! limiter's clock), after one clock read.

use super::Denied;
use crate::sync::{AtomicU64, Ordering};

/// Emission interval: 40 bits of nanoseconds (up to ~18 minutes per token);
/// burst: 24 bits. Packed so `set_rate` swaps both atomically.
const T_BITS: u32 = 40;
const T_MASK: u64 = (1 << T_BITS) - 1;
pub(crate) const MAX_EMISSION_INTERVAL: u64 = T_MASK;
pub(crate) const MAX_BURST: u32 = (1 << (64 - T_BITS)) - 1;

pub(crate) struct Gcra {
    params: AtomicU64,
}

#[inline]
fn unpack(p: u64) -> (u64, u32) {
    (p & T_MASK, (p >> T_BITS) as u32)
}

fn pack(t: u64, burst: u32) -> u64 {
    debug_assert!(t <= T_MASK && burst <= MAX_BURST);
    t | u64::from(burst) << T_BITS
}

impl Gcra {
    pub(crate) fn new(emission_interval: u64, burst: u32) -> Self {
        Self {
            params: AtomicU64::new(pack(emission_interval, burst)),
        }
    }

    /// (emission interval in ns, burst).
    pub(crate) fn params(&self) -> (u64, u32) {
        unpack(self.params.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn acquire(&self, tat: &AtomicU64, now: u64, n: u32) -> Result<(), Denied> {
        let (t, burst) = unpack(self.params.load(Ordering::Acquire));
        if n > burst {
            return Err(Denied::Never(burst));
        }
        let increment = t.saturating_mul(u64::from(n));
        let tau = t.saturating_mul(u64::from(burst));
        let mut current = tat.load(Ordering::Acquire);
        loop {
            let next = current.max(now).saturating_add(increment);
            // next >= now, and next - now = increment <= tau when current <= now.
            if next - now > tau {
                return Err(Denied::Wait(next - tau - now));
            }
            match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// The bucket is full again: forgetting it grants nothing.
    pub(crate) fn is_idle(&self, tat: &AtomicU64, now: u64) -> bool {
        tat.load(Ordering::Acquire) <= now
    }

    /// Installs new parameters. Returns the old emission interval so cells
    /// can be converted with [`convert`](Self::convert).
    pub(crate) fn set(&self, emission_interval: u64, burst: u32) -> u64 {
        unpack(
            self.params
                .swap(pack(emission_interval, burst), Ordering::AcqRel),
        )
        .0
    }

    /// Re-expresses a cell's debt (tokens taken and not yet replenished) at
    /// the new emission interval: the same number of tokens stays spent.
    pub(crate) fn convert(tat: &AtomicU64, now: u64, old_t: u64, new_t: u64) {
        let _ = tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
            let debt = current.saturating_sub(now);
            let scaled = u128::from(debt) * u128::from(new_t) / u128::from(old_t.max(1));
            Some(now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX)))
        });
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval_with_exact_retry_after() {
        // 10 per second (T = 100 ms), burst 3.
        let g = Gcra::new(100_000_000, 3);
        let tat = AtomicU64::new(0);
        for _ in 0..3 {
            assert_eq!(g.acquire(&tat, 0, 1), Ok(()));
        }
        assert_eq!(g.acquire(&tat, 0, 1), Err(Denied::Wait(100_000_000)));
        assert_eq!(g.acquire(&tat, 99_999_999, 1), Err(Denied::Wait(1)));
        assert_eq!(g.acquire(&tat, 100_000_000, 1), Ok(()));
        assert_eq!(g.acquire(&tat, 100_000_000, 4), Err(Denied::Never(3)));
        assert!(!g.is_idle(&tat, 300_000_000));
        assert!(g.is_idle(&tat, 400_000_000));
    }

    #[test]
    fn weighted_requests_take_several_tokens() {
        let g = Gcra::new(10, 5);
        let tat = AtomicU64::new(0);
        assert_eq!(g.acquire(&tat, 0, 5), Ok(()));
        assert_eq!(g.acquire(&tat, 0, 2), Err(Denied::Wait(20)));
        assert_eq!(g.acquire(&tat, 20, 2), Ok(()));
    }

    #[test]
    fn converting_keeps_tokens_spent() {
        let g = Gcra::new(100, 10);
        let tat = AtomicU64::new(0);
        assert_eq!(g.acquire(&tat, 0, 4), Ok(())); // debt: 4 tokens = 400 ns
        let old = g.set(50, 10);
        Gcra::convert(&tat, 0, old, 50);
        assert_eq!(tat.load(Ordering::Relaxed), 200); // still 4 tokens, now 50 ns each
    }
}
