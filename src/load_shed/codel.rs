//! CoDel's standing-queue test, as a shed level.
//!
//! CoDel (Nichols and Jacobson, "Controlling Queue Delay") calls a queue
//! bad when the *smallest* time any request spent in it over an interval
//! (100 ms) stays above a target (5 ms): a queue that drains now and then
//! is absorbing a burst; one that never does is standing. Facebook's server
//! variant ("Fail at Scale") then cuts queue timeouts to the target.
//!
//! Here each interval that ends with a standing queue raises the shed
//! level by one tier (priorities in that tier and below are shed at once),
//! and each interval in which some call got through within the target, or
//! none queued, lowers it by one. The minimum is tracked
//! as two flags — "one left within the target", "one waited longer" — so a
//! call costs at most one load per flag, with a store only on the first of
//! the interval.

use crate::sync::{AtomicBool, AtomicU64, AtomicU8, Mutex, Ordering};

/// Priority tiers: `priority / 64`, from sheddable (0) to critical (3).
pub(crate) const TIERS: u8 = 4;

pub(crate) struct Codel {
    target: AtomicU64,
    interval: AtomicU64,
    interval_end: AtomicU64,
    within: AtomicBool,
    beyond: AtomicBool,
    level: AtomicU8,
    roll: Mutex<()>,
}

impl Codel {
    pub(crate) fn new(target: u64, interval: u64, now: u64) -> Self {
        Self {
            target: AtomicU64::new(target),
            interval: AtomicU64::new(interval),
            interval_end: AtomicU64::new(now.saturating_add(interval)),
            within: AtomicBool::new(false),
            beyond: AtomicBool::new(false),
            level: AtomicU8::new(0),
            roll: Mutex::new(()),
        }
    }

    /// The target and interval in force (ns).
    pub(crate) fn params(&self) -> (u64, u64) {
        (
            self.target.load(Ordering::Relaxed),
            self.interval.load(Ordering::Relaxed),
        )
    }

    /// New target and interval (ns), from the next interval on.
    pub(crate) fn set(&self, target: u64, interval: u64) {
        self.target.store(target, Ordering::Relaxed);
        self.interval.store(interval, Ordering::Relaxed);
    }

    /// Tiers shed at once: a priority whose tier is below it.
    #[inline]
    pub(crate) fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    /// A call left the queue (admitted, or given up) after `sojourn` ns.
    #[inline]
    pub(crate) fn observe(&self, now: u64, sojourn: u64) {
        let flag = if sojourn <= self.target.load(Ordering::Relaxed) {
            &self.within
        } else {
            &self.beyond
        };
        if !flag.load(Ordering::Relaxed) {
            flag.store(true, Ordering::Relaxed);
        }
        self.tick(now);
    }

    /// Ends the interval if it is over (an interval of shed calls only
    /// ends too: no call got through, nor queued).
    #[inline]
    pub(crate) fn tick(&self, now: u64) {
        if now >= self.interval_end.load(Ordering::Relaxed) {
            self.roll(now);
        }
    }

    /// Ends the interval: a standing queue raises the level a tier, a
    /// drained one lowers it. Done by whichever call gets the lock first;
    /// none waits for it.
    #[cold]
    fn roll(&self, now: u64) {
        let Some(_held) = self.roll.try_lock() else {
            return;
        };
        if now < self.interval_end.load(Ordering::Acquire) {
            return;
        }
        let within = self.within.swap(false, Ordering::Relaxed);
        let beyond = self.beyond.swap(false, Ordering::Relaxed);
        let level = self.level.load(Ordering::Relaxed);
        let next = if beyond && !within {
            // The top tier is never shed at once: critical calls are
            // refused only when their wait runs out.
            (level + 1).min(TIERS - 1)
        } else {
            level.saturating_sub(1)
        };
        // Intervals that passed with no call at all each lower it too.
        let idle = (now - self.interval_end.load(Ordering::Acquire))
            / self.interval.load(Ordering::Relaxed).max(1);
        let next = next.saturating_sub(idle.min(TIERS as u64) as u8);
        self.level.store(next, Ordering::Relaxed);
        self.interval_end.store(
            now.saturating_add(self.interval.load(Ordering::Relaxed)),
            Ordering::Release,
        );
    }
}
