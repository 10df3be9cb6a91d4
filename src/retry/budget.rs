//! A retry budget: retries spend from a balance that requests refill, so
//! retries can add at most a configured share of extra load (gRPC's retry
//! throttling, tower's `TpsBudget`), with a floor of retries per second so a
//! quiet service can still retry.
//!
//! Balance, in thousandths of a retry, in one `AtomicI64`:
//!
//! ```text
//! every request:      balance ← min(cap, balance + ratio·1000)
//! every second:       balance ← min(cap, balance + floor·1000)   (on the retry path)
//! a retry:            allowed iff balance ≥ 1000, then balance ← balance − 1000
//! ```
//!
//! So over `r` requests and `t` seconds, at most
//! `initial + ⌊(r·ratio·1000 + t·floor·1000) / 1000⌋` retries are allowed
//! (less when the cap clips deposits) — a bound tests check exactly.

use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::sync::CachePadded;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const UNIT: i64 = 1000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A shared retry budget; a cheap `Clone` handle.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    inner: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    balance: CachePadded<AtomicI64>,
    /// Whole seconds of floor credit already granted.
    floored_secs: AtomicU64,
    deposit: i64,
    floor: i64,
    cap: i64,
    clock: ClockHandle,
}

impl RetryBudget {
    /// Retries may add `ratio` of the request load (0.1: at most 10% extra;
    /// up to 1000), plus `floor_per_sec` retries each second; the unspent
    /// balance never exceeds `max_balance` retries. Starts with
    /// `floor_per_sec` retries available.
    pub fn new(ratio: f64, floor_per_sec: u32, max_balance: u32) -> Result<Self, ConfigError> {
        Self::with_clock(ratio, floor_per_sec, max_balance, ClockHandle::default())
    }

    /// Like [`new`](Self::new), reading time from `clock`.
    pub fn with_clock(
        ratio: f64,
        floor_per_sec: u32,
        max_balance: u32,
        clock: impl Into<ClockHandle>,
    ) -> Result<Self, ConfigError> {
        let name: Arc<str> = Arc::from("retry budget");
        if !(ratio.is_finite() && (0.0..=1000.0).contains(&ratio)) {
            return Err(ConfigError::new(
                &name,
                "budget_ratio",
                format!("must be in [0, 1000], got {ratio}"),
            ));
        }
        if max_balance == 0 {
            return Err(ConfigError::new(
                &name,
                "max_balance",
                "must be at least 1, got 0",
            ));
        }
        let cap = i64::from(max_balance) * UNIT;
        let floor = i64::from(floor_per_sec) * UNIT;
        Ok(Self {
            inner: Arc::new(Budget {
                balance: CachePadded(AtomicI64::new(floor.min(cap))),
                floored_secs: AtomicU64::new(0),
                deposit: (ratio * UNIT as f64).round() as i64,
                floor,
                cap,
                clock: clock.into(),
            }),
        })
    }

    /// Credits one request (call it once per original request).
    #[inline]
    pub fn deposit(&self) {
        let b = &self.inner;
        if b.deposit == 0 {
            return;
        }
        let _ = b
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v < b.cap).then(|| (v + b.deposit).min(b.cap))
            });
    }

    /// Spends one retry if the budget allows it.
    pub fn try_withdraw(&self) -> bool {
        let b = &self.inner;
        self.grant_floor();
        b.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v >= UNIT).then_some(v - UNIT)
            })
            .is_ok()
    }

    /// Retries the balance allows now (whole retries).
    pub fn balance(&self) -> u64 {
        self.grant_floor();
        (self.inner.balance.load(Ordering::Acquire) / UNIT).max(0) as u64
    }

    /// Adds the floor's credit for every whole second since the last grant.
    fn grant_floor(&self) {
        let b = &self.inner;
        if b.floor == 0 {
            return;
        }
        let secs = b.clock.now() / NANOS_PER_SEC;
        let granted = b.floored_secs.load(Ordering::Acquire);
        if secs > granted
            && b.floored_secs
                .compare_exchange(granted, secs, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let credit = b
                .floor
                .saturating_mul((secs - granted).min(u32::MAX as u64) as i64);
            let _ = b
                .balance
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    Some(v.saturating_add(credit).min(b.cap.max(v)))
                });
        }
    }
}

/// The time span one second of floor covers, for docs and tests.
pub const FLOOR_PERIOD: Duration = Duration::from_secs(1);

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_dead_dependency_gets_exactly_the_budgeted_retries() {
        // 10% extra load, a floor of 5 per second, up to 1000 banked.
        let clock = ManualClock::new();
        let budget = RetryBudget::with_clock(0.1, 5, 1000, clock.clone()).unwrap();
        let mut retries = 0;
        for i in 0..10_000u64 {
            budget.deposit();
            // Every request fails; each may try to retry up to 3 times.
            for _ in 0..3 {
                if budget.try_withdraw() {
                    retries += 1;
                } else {
                    break;
                }
            }
            if i % 1000 == 999 {
                clock.advance(FLOOR_PERIOD); // 10 seconds in all
            }
        }
        // initial 5 + 10,000 × 0.1 + 5 per second for the 9 seconds that
        // passed while requests were still arriving.
        assert_eq!(retries, 5 + 1000 + 9 * 5);
        // The tenth second's floor is there for the next retry.
        assert_eq!(budget.balance(), 5);
    }

    #[test]
    fn the_balance_is_capped_and_config_is_checked() {
        let clock = ManualClock::new();
        let budget = RetryBudget::with_clock(1.0, 0, 3, clock).unwrap();
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(budget.balance(), 3);
        for bad in [-0.1, 1000.5, f64::NAN] {
            assert_eq!(
                RetryBudget::new(bad, 1, 10).unwrap_err().field(),
                "budget_ratio"
            );
        }
        assert_eq!(
            RetryBudget::new(0.1, 1, 0).unwrap_err().field(),
            "max_balance"
        );
    }
}
