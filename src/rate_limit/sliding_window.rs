//! A sliding-window counter: at most `limit` calls per `window`, estimated
//! from the counts of the current and the previous fixed window.
//!
//! At time `now`, in fixed window `w = now / window` at fraction
//! `f = (now mod window) / window`, the estimate of calls in the last
//! `window` is `prev·(1 - f) + cur` (the previous window's calls assumed
//! spread evenly). A request for `n` conforms when
//! `prev·(1 - f) + cur + n <= limit`, compared exactly in integers as
//! `prev·(window - elapsed) + (cur + n)·window <= limit·window`.
//!
//! **Error bound against an exact sliding log.** Each fixed window admits at
//! most `limit`. In any interval of length `window` the counter admits at
//! most `limit + prev·f < 2·limit` — i.e. at most `2·limit - 1` — the excess
//! over an exact log coming from previous-window calls clustered at its end.
//! Conversely it may refuse while an exact log has room (previous-window
//! calls clustered at its start), by at most `prev·(1 - f)` calls. Tests
//! check both fixed-window and sliding bounds over random arrivals.
//!
//! State, one `AtomicU64`: `epoch` (the fixed window's number mod 2^24) |
//! `prev` (20 bits) | `cur` (20 bits). A state untouched for 2^24 windows
//! would alias; at one-second windows that is 194 days.

use super::Denied;
use crate::sync::{AtomicU64, Ordering};

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const EPOCH_MASK: u64 = (1 << 24) - 1;
pub(crate) const MAX_LIMIT: u32 = COUNT_MASK as u32;
const WINDOW_BITS: u32 = 44;
pub(crate) const MAX_WINDOW_NANOS: u64 = (1 << WINDOW_BITS) - 1;
/// How far behind another thread's a reading may be and still be taken
/// for stale rather than for an aliased old state: one second, far more
/// than any preemption or disagreement between cores.
const MAX_LAG: u64 = 1_000_000_000;

pub(crate) struct SlidingWindowCounter {
    /// limit (20 bits) << 44 | window in ns (44 bits).
    params: AtomicU64,
}

#[inline]
fn unpack_state(s: u64) -> (u64, u64, u64) {
    (
        s >> (2 * COUNT_BITS),
        (s >> COUNT_BITS) & COUNT_MASK,
        s & COUNT_MASK,
    )
}

#[inline]
fn pack_state(epoch: u64, prev: u64, cur: u64) -> u64 {
    (epoch & EPOCH_MASK) << (2 * COUNT_BITS) | prev << COUNT_BITS | cur
}

impl SlidingWindowCounter {
    pub(crate) fn new(limit: u32, window_nanos: u64) -> Self {
        Self {
            params: AtomicU64::new(Self::pack(limit, window_nanos)),
        }
    }

    fn pack(limit: u32, window: u64) -> u64 {
        u64::from(limit) << WINDOW_BITS | window
    }

    /// (limit, window in ns).
    pub(crate) fn params(&self) -> (u32, u64) {
        let p = self.params.load(Ordering::Acquire);
        ((p >> WINDOW_BITS) as u32, p & MAX_WINDOW_NANOS)
    }

    /// The (prev, cur) counts as seen from fixed window `w`.
    #[inline]
    fn view(state: u64, w: u64) -> (u64, u64) {
        let (epoch, prev, cur) = unpack_state(state);
        if epoch == w & EPOCH_MASK {
            (prev, cur)
        } else if epoch == w.wrapping_sub(1) & EPOCH_MASK {
            (cur, 0)
        } else {
            (0, 0)
        }
    }

    /// One decision on `state` at `now`: the next state, or the wait.
    #[inline(always)]
    pub(crate) fn step(
        state: u64,
        now: u64,
        limit: u64,
        window: u64,
        n: u64,
    ) -> Result<u64, Denied> {
        // A state stamped in a later window than `now`'s (another thread
        // read the clock after this one did) is judged at that window's
        // start: rewinding it to `now`'s window would forget its counts.
        let (w, elapsed) = Self::position(state, now, window);
        let (prev, cur) = Self::view(state, w);
        let weighted = u128::from(prev) * u128::from(window - elapsed);
        if weighted + u128::from(cur + n) * u128::from(window)
            > u128::from(limit) * u128::from(window)
        {
            // From `now`: the later window's start is that much further
            // (at most `MAX_LAG`; `position` checked the product).
            let ahead_by = (w * window + elapsed).saturating_sub(now);
            return Err(Denied::Wait(
                Self::wait(limit, window, elapsed, prev, cur, n).saturating_add(ahead_by),
            ));
        }
        Ok(pack_state(w, prev, cur + n))
    }

    /// `(limit, window)` for a request of `n`, or why it can never fit.
    #[inline(always)]
    pub(crate) fn costs(&self, n: u32) -> Result<(u64, u64), Denied> {
        let (limit, window) = self.params();
        if n > limit {
            return Err(Denied::Never(limit));
        }
        Ok((u64::from(limit), window))
    }

    /// Takes `n` at `now`; `Ok` holds the new state.
    #[inline]
    pub(crate) fn acquire(&self, cell: &AtomicU64, now: u64, n: u32) -> Result<u64, Denied> {
        let (limit, window) = self.costs(n)?;
        let mut state = cell.load(Ordering::Acquire);
        loop {
            let next = Self::step(state, now, limit, window, u64::from(n))?;
            match cell.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(next),
                Err(actual) => state = actual,
            }
        }
    }

    /// The fixed window and the offset into it at which to judge `state`:
    /// `now`'s, unless `state` is stamped in the next window and that
    /// starts at most [`MAX_LAG`] after `now`. A reading is stale by a
    /// preemption or two cores' disagreement, never more; a state further
    /// "ahead" is an old one whose 24-bit epoch wrapped, judged idle as
    /// before. (Like the exact alias the module docs state, a state left
    /// untouched for 2^24 − 1 windows is taken for the next window's.)
    #[inline]
    fn position(state: u64, now: u64, window: u64) -> (u64, u64) {
        let w = now / window;
        let ahead = (unpack_state(state).0.wrapping_sub(w)) & EPOCH_MASK;
        match (w + 1).checked_mul(window) {
            Some(next) if ahead == 1 && next - now <= MAX_LAG => (w + 1, 0),
            _ => (w, now % window),
        }
    }

    /// Nanoseconds until `n` more would conform, given the current view.
    fn wait(limit: u64, window: u64, elapsed: u64, prev: u64, cur: u64, n: u64) -> u64 {
        // Smallest x in [0, window] with weight·(window - x) <= room·window.
        let fit_at = |weight: u64, room: u64| -> u64 {
            if weight == 0 {
                return 0;
            }
            let keep = u128::from(room) * u128::from(window) / u128::from(weight);
            window - u64::try_from(keep).unwrap_or(window).min(window)
        };
        if cur + n <= limit {
            // Room this window once enough of the previous one has slid out.
            fit_at(prev, limit - cur - n).saturating_sub(elapsed).max(1)
        } else {
            // Next window: this window's calls become the sliding part.
            (window - elapsed) + fit_at(cur, limit - n)
        }
    }

    /// Calls that would conform at once at `now` with the cell at `state`:
    /// the largest `k` with `prev·(window - elapsed) + (cur + k)·window <=
    /// limit·window`.
    pub(crate) fn remaining(&self, state: u64, now: u64) -> u32 {
        let (limit, window) = self.params();
        let (prev, cur) = Self::view(state, now / window);
        let elapsed = now % window;
        let room = u128::from(limit) * u128::from(window)
            - (u128::from(prev) * u128::from(window - elapsed))
                .min(u128::from(limit) * u128::from(window));
        let fits = (room / u128::from(window)) as u64;
        fits.saturating_sub(cur).min(u64::from(limit)) as u32
    }

    /// How long until nothing counted weighs on the estimate: a count in
    /// the current window weighs until the end of the next one, a count
    /// in the previous window until the end of this one (ns).
    pub(crate) fn full_after(&self, state: u64, now: u64) -> u64 {
        let (_, window) = self.params();
        let left = window - now % window;
        match Self::view(state, now / window) {
            (_, cur) if cur > 0 => left + window,
            (prev, _) if prev > 0 => left,
            _ => 0,
        }
    }

    /// Nothing counted in the current or previous window.
    pub(crate) fn is_idle(&self, cell: &AtomicU64, now: u64) -> bool {
        let (_, window) = self.params();
        Self::view(cell.load(Ordering::Acquire), now / window) == (0, 0)
    }

    /// Installs new parameters; returns the old window so cells can be
    /// re-stamped with [`convert`](Self::convert).
    pub(crate) fn set(&self, limit: u32, window: u64) -> u64 {
        (self
            .params
            .swap(Self::pack(limit, window), Ordering::AcqRel))
            & MAX_WINDOW_NANOS
    }

    /// Keeps a cell's counts across a change of window length: they are
    /// re-stamped into the windows `now` falls in under the new length.
    pub(crate) fn convert(cell: &AtomicU64, now: u64, old_window: u64, new_window: u64) {
        let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            let (prev, cur) = Self::view(s, now / old_window);
            Some(pack_state(now / new_window, prev, cur))
        });
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_state_from_a_later_window_is_never_rewound() {
        // 10 per 1000 ns; another thread filled window 2 (read at 2000).
        let s = SlidingWindowCounter::new(10, 1000);
        let cell = AtomicU64::new(0);
        for _ in 0..10 {
            s.acquire(&cell, 2000, 1).unwrap();
        }
        // A thread whose read (1999) came just before: judged in window 2,
        // where nothing fits; it once saw window 1 empty and reset the
        // counts, admitting ten more.
        assert_eq!(s.acquire(&cell, 1999, 1), Err(Denied::Wait(1101)));
        assert_eq!(unpack_state(cell.load(Ordering::Relaxed)), (2, 0, 10));
    }

    #[test]
    fn an_old_state_whose_epoch_wrapped_is_not_taken_for_a_later_one() {
        // 1 per 1000 ns. A state stamped in window 4, read 2^24 - 2
        // windows later, looks two windows "ahead" by its 24-bit epoch: it
        // is old, not later, and is judged idle.
        let s = SlidingWindowCounter::new(1, 1000);
        let cell = AtomicU64::new(pack_state(4, 0, 1));
        assert!(s.acquire(&cell, (2 + EPOCH_MASK + 1) * 1000, 1).is_ok());
        // At the clock's very end (a `ManualClock` moved that far), a state
        // one window "ahead" whose window would start past u64: no overflow.
        let last = u64::MAX / 1000;
        let cell = AtomicU64::new(pack_state(last + 1, 0, 1));
        assert!(s.acquire(&cell, u64::MAX, 1).is_ok());
    }

    #[test]
    fn previous_window_slides_out_linearly() {
        // 10 per 1000 ns.
        let s = SlidingWindowCounter::new(10, 1000);
        let cell = AtomicU64::new(0);
        for _ in 0..10 {
            assert_eq!(s.acquire(&cell, 500, 1).map(drop), Ok(()));
        }
        assert_eq!(s.acquire(&cell, 999, 1), Err(Denied::Wait(1 + 100)));
        // At 1500 the previous window weighs half: 5 estimated, 5 free.
        for _ in 0..5 {
            assert_eq!(s.acquire(&cell, 1500, 1).map(drop), Ok(()));
        }
        // prev 10, cur 5: the sixth fits once prev·(1-f) <= 4, at f = 0.6.
        assert_eq!(s.acquire(&cell, 1500, 1), Err(Denied::Wait(100)));
        assert_eq!(s.acquire(&cell, 1600, 1).map(drop), Ok(()));
        assert!(!s.is_idle(&cell, 2999));
        assert!(s.is_idle(&cell, 3000));
        assert_eq!(s.acquire(&cell, 0, 11), Err(Denied::Never(10)));
    }
}
