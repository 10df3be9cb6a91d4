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
//!
//! **What a refusal guarantees.** The clock is read before the CAS loop,
//! so a thread preempted in between (or whose read merely came before
//! another thread's admission) would judge a stale `now` against a `TAT`
//! moved up to the present, and refuse a call far under the limit — as
//! every GCRA written this way does (governor's included). seawall refuses
//! only after deciding again on a clock read taken after the first
//! refusal: a refusal was true at a moment after the call began, and its
//! `retry_after` is counted from that moment.

use super::Denied;
use crate::sync::{AtomicU64, Ordering};

// The parameters, packed in one word so `set_rate` swaps them atomically
// and a decision reads them with one load. Two layouts, told apart by bit 39:
//
//   short: | burst: 24 bits (40..63) | 0 | T: 39 bits (0..38) |
//   long:  | burst: 11 bits (53..63) | T high: 13 bits (40..52) | 1 | T low: 39 bits |
//
// Short covers every emission interval below 2^39 ns (9 min 9.76 s) with
// bursts up to 2^24 - 1; long covers intervals up to 2^52 - 1 ns (52.1
// days: "one per 30 days" fits) with bursts up to 2^11 - 1, exactly in
// both, to the nanosecond. A burst of thousands at one token per ten
// minutes or more is a tolerance of weeks; refusing it keeps one word.
const SHORT_T_BITS: u32 = 39;
const SHORT_T_MASK: u64 = (1 << SHORT_T_BITS) - 1;
const LONG: u64 = 1 << SHORT_T_BITS;
const BURST_SHIFT: u32 = SHORT_T_BITS + 1;
const LONG_T_HIGH_BITS: u32 = 13;
const LONG_BURST_SHIFT: u32 = BURST_SHIFT + LONG_T_HIGH_BITS;
/// Emission intervals at or above this many nanoseconds use the long layout.
pub(crate) const LONG_INTERVAL: u64 = 1 << SHORT_T_BITS;
/// The longest emission interval, in nanoseconds.
pub(crate) const MAX_EMISSION_INTERVAL: u64 = (1 << (SHORT_T_BITS + LONG_T_HIGH_BITS)) - 1;
/// The largest burst (short layout).
pub(crate) const MAX_BURST: u32 = (1 << (64 - BURST_SHIFT)) - 1;
/// The largest burst when the emission interval is long.
pub(crate) const MAX_LONG_BURST: u32 = (1 << (64 - LONG_BURST_SHIFT)) - 1;

pub(crate) struct Gcra {
    params: AtomicU64,
}

#[inline(always)]
fn unpack(p: u64) -> (u64, u32) {
    if p & LONG == 0 {
        (p & SHORT_T_MASK, (p >> BURST_SHIFT) as u32)
    } else {
        unpack_long(p)
    }
}

#[cold]
#[inline(never)]
fn unpack_long(p: u64) -> (u64, u32) {
    let high = (p >> BURST_SHIFT) & ((1 << LONG_T_HIGH_BITS) - 1);
    (
        high << SHORT_T_BITS | p & SHORT_T_MASK,
        (p >> LONG_BURST_SHIFT) as u32,
    )
}

fn pack(t: u64, burst: u32) -> u64 {
    if t < LONG_INTERVAL {
        debug_assert!(burst <= MAX_BURST, "validated: burst fits 24 bits");
        t | u64::from(burst) << BURST_SHIFT
    } else {
        debug_assert!(
            t <= MAX_EMISSION_INTERVAL && burst <= MAX_LONG_BURST,
            "validated: a long interval fits 52 bits and its burst 11"
        );
        (t & SHORT_T_MASK)
            | LONG
            | (t >> SHORT_T_BITS) << BURST_SHIFT
            | u64::from(burst) << LONG_BURST_SHIFT
    }
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

    /// `(n·T, τ)` for a request of `n` tokens, or why it can never fit.
    #[inline(always)]
    pub(crate) fn costs(&self, n: u32) -> Result<(u64, u64), Denied> {
        let (t, burst) = unpack(self.params.load(Ordering::Acquire));
        // `n > 1` first: a single token always fits a burst (validated >= 1),
        // and with `n` a constant 1 the test disappears.
        if n > 1 && n > burst {
            return Err(Denied::Never(burst));
        }
        // Plain products: `pack` holds t < 2^39 with burst < 2^24, or
        // t < 2^52 with burst < 2^11, so t·burst < 2^63, and n <= burst.
        Ok((t * u64::from(n), t * u64::from(burst)))
    }

    /// One GCRA decision against `current` at `now`: the next `TAT`, or
    /// the wait until the request would conform.
    #[inline(always)]
    pub(crate) fn step(current: u64, now: u64, increment: u64, tau: u64) -> Result<u64, Denied> {
        let next = current.max(now).saturating_add(increment);
        // next >= now, and next - now = increment <= tau when current <= now.
        if next - now > tau {
            return Err(Denied::Wait(next - tau - now));
        }
        Ok(next)
    }

    /// Takes `n` tokens at `now`; `Ok` holds the new `TAT`.
    #[inline]
    pub(crate) fn acquire(&self, tat: &AtomicU64, now: u64, n: u32) -> Result<u64, Denied> {
        let (increment, tau) = self.costs(n)?;
        let mut current = tat.load(Ordering::Acquire);
        loop {
            let next = Self::step(current, now, increment, tau)?;
            match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(next),
                Err(actual) => current = actual,
            }
        }
    }

    /// Tokens that could be taken at once at `now` with the bucket at
    /// `tat` (governor's `remaining_burst_capacity`): the largest `k` with
    /// `max(TAT, now) + k·T - now <= τ`, i.e. `⌊(τ - (TAT - now)⁺) / T⌋`.
    pub(crate) fn remaining(&self, tat: u64, now: u64) -> u32 {
        let (t, burst) = self.params();
        let tau = t.saturating_mul(u64::from(burst));
        let debt = tat.saturating_sub(now);
        (tau.saturating_sub(debt) / t.max(1)).min(u64::from(burst)) as u32
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
            assert_eq!(g.acquire(&tat, 0, 1).map(drop), Ok(()));
        }
        assert_eq!(g.acquire(&tat, 0, 1), Err(Denied::Wait(100_000_000)));
        assert_eq!(g.acquire(&tat, 99_999_999, 1), Err(Denied::Wait(1)));
        assert_eq!(g.acquire(&tat, 100_000_000, 1).map(drop), Ok(()));
        assert_eq!(g.acquire(&tat, 100_000_000, 4), Err(Denied::Never(3)));
        assert!(!g.is_idle(&tat, 300_000_000));
        assert!(g.is_idle(&tat, 400_000_000));
    }

    #[test]
    fn both_layouts_round_trip_exactly_at_their_bounds() {
        for (t, burst) in [
            (1, 1),
            (LONG_INTERVAL - 1, MAX_BURST),
            (LONG_INTERVAL, MAX_LONG_BURST),
            (LONG_INTERVAL + 1, 1),
            (30 * 24 * 3600 * 1_000_000_007, 7),
            (MAX_EMISSION_INTERVAL, MAX_LONG_BURST),
        ] {
            assert_eq!(unpack(pack(t, burst)), (t, burst));
        }
    }

    #[test]
    fn one_per_day_admits_its_burst_then_waits_a_day() {
        let day = 86_400_000_000_000;
        let g = Gcra::new(day, 2);
        let tat = AtomicU64::new(0);
        assert_eq!(g.acquire(&tat, 0, 1).map(drop), Ok(()));
        assert_eq!(g.acquire(&tat, 0, 1).map(drop), Ok(()));
        assert_eq!(g.acquire(&tat, 5, 1), Err(Denied::Wait(day - 5)));
        assert_eq!(g.acquire(&tat, day, 1).map(drop), Ok(()));
    }

    #[test]
    fn weighted_requests_take_several_tokens() {
        let g = Gcra::new(10, 5);
        let tat = AtomicU64::new(0);
        assert_eq!(g.acquire(&tat, 0, 5).map(drop), Ok(()));
        assert_eq!(g.acquire(&tat, 0, 2), Err(Denied::Wait(20)));
        assert_eq!(g.acquire(&tat, 20, 2).map(drop), Ok(()));
    }

    #[test]
    fn converting_keeps_tokens_spent() {
        let g = Gcra::new(100, 10);
        let tat = AtomicU64::new(0);
        assert_eq!(g.acquire(&tat, 0, 4).map(drop), Ok(())); // debt: 4 tokens = 400 ns
        let old = g.set(50, 10);
        Gcra::convert(&tat, 0, old, 50);
        assert_eq!(tat.load(Ordering::Relaxed), 200); // still 4 tokens, now 50 ns each
    }
}
