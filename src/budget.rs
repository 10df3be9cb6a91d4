//! A retry budget: retries spend from a balance that requests refill, so
//! retries can add at most a configured share of extra load (gRPC's retry
//! throttling, tower's `TpsBudget`), with a floor of retries per second so a
//! quiet service can still retry.
//!
//! Balance, in thousandths of a retry, in one `AtomicI64`:
//!
//! ```text
//! every request:      balance ← min(cap, balance + ratio·1000)   (folded in on the retry path)
//! every second:       balance ← min(cap, balance + floor·1000)   (on the retry path)
//! a retry:            allowed iff balance ≥ 1000, then balance ← balance − 1000
//! ```
//!
//! So over `r` requests and `t` seconds, at most
//! `initial + ⌊(r·ratio·1000 + t·floor·1000) / 1000⌋` retries are allowed
//! (less when the cap clips deposits) — a bound tests check exactly.

use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::stripes::Striped;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

const UNIT: i64 = 1000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A shared retry budget; a cheap `Clone` handle.
///
/// Depositing is the hot path (once per original request) and costs one
/// thread-owned counter increment — no shared write, so it scales across
/// threads. Withdrawing (only when a call failed) folds the deposits made
/// since the last withdrawal into the balance under a lock. Folding a batch
/// is exact: deposits are never negative, so
/// `min(cap, min(cap, b + d₁) + d₂) = min(cap, b + d₁ + d₂)`.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// // Retries may add 20% to the load, plus 10 a second, banking at most 100.
/// let budget = RetryBudget::new(0.2, 10, 100)?;
/// let retry = Retry::builder("inventory").budget(budget.clone()).build()?;
/// let hedge = Hedge::builder("inventory").budget(budget).build()?; // one budget for both
/// # let _ = (retry, hedge); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Budget>,
}

struct Budget {
    deposits: Striped<1>,
    state: Mutex<State>,
    clock: ClockHandle,
}

/// The settings and the balance, read and changed together under one lock.
struct State {
    /// Thousandths of a retry each request credits.
    deposit: i64,
    /// Thousandths of a retry each second credits.
    floor: i64,
    /// The most thousandths banked.
    cap: i64,
    /// Thousandths of a retry.
    balance: i64,
    /// Deposits already folded into `balance`.
    folded: u64,
    /// Whole seconds of floor credit already granted.
    floored_secs: u64,
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("balance", &self.balance())
            .finish()
    }
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
        let (deposit, floor, cap) = params("retry budget", ratio, floor_per_sec, max_balance)?;
        let clock = clock.into();
        Ok(Self {
            inner: Arc::new(Budget {
                deposits: Striped::new(),
                state: Mutex::new(State {
                    deposit,
                    floor,
                    cap,
                    balance: floor.min(cap),
                    folded: 0,
                    floored_secs: clock.now() / NANOS_PER_SEC,
                }),
                clock,
            }),
        })
    }

    /// Changes the settings while the budget is in use (as [`new`](Self::new)
    /// takes them), keeping the balance (cut to a lower `max_balance`).
    /// Deposits made before count at the new ratio from their next fold.
    /// Out of range, nothing changes and the [`ConfigError`] names the
    /// field; `name` is the error's instance.
    pub fn reconfigure(
        &self,
        name: &str,
        ratio: f64,
        floor_per_sec: u32,
        max_balance: u32,
    ) -> Result<(), ConfigError> {
        let (deposit, floor, cap) = params(name, ratio, floor_per_sec, max_balance)?;
        let mut state = self.inner.state.lock();
        self.inner.settle(&mut state);
        (state.deposit, state.floor, state.cap) = (deposit, floor, cap);
        state.balance = state.balance.min(cap);
        Ok(())
    }

    /// `(ratio, floor per second, max balance)` in force.
    pub fn settings(&self) -> (f64, u32, u32) {
        let state = self.inner.state.lock();
        (
            state.deposit as f64 / UNIT as f64,
            (state.floor / UNIT) as u32,
            (state.cap / UNIT) as u32,
        )
    }

    /// Whether `other` is this same budget (not one alike).
    pub(crate) fn same(&self, other: &RetryBudget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Credits one request (call it once per original request).
    #[inline]
    pub fn deposit(&self) {
        self.inner.deposits.incr(0);
    }

    /// Spends one retry if the budget allows it.
    pub fn try_withdraw(&self) -> bool {
        let mut state = self.inner.state.lock();
        self.inner.settle(&mut state);
        if state.balance >= UNIT {
            state.balance -= UNIT;
            true
        } else {
            false
        }
    }

    /// Requests deposited so far.
    pub(crate) fn deposits(&self) -> u64 {
        self.inner.deposits.sum(0)
    }

    /// Retries the balance allows now (whole retries).
    pub fn balance(&self) -> u64 {
        let mut state = self.inner.state.lock();
        self.inner.settle(&mut state);
        (state.balance / UNIT).max(0) as u64
    }
}

/// A budget's settings in thousandths of a retry, checked.
fn params(
    name: &str,
    ratio: f64,
    floor_per_sec: u32,
    max_balance: u32,
) -> Result<(i64, i64, i64), ConfigError> {
    let name: Arc<str> = Arc::from(name);
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
    Ok((
        (ratio * UNIT as f64).round() as i64,
        i64::from(floor_per_sec) * UNIT,
        i64::from(max_balance) * UNIT,
    ))
}

impl Budget {
    /// Folds new deposits and the floor's credit for every whole second
    /// since the last grant into the balance, capped.
    fn settle(&self, state: &mut State) {
        let total = self.deposits.sum(0);
        let new = total.wrapping_sub(state.folded);
        state.folded = total;
        let credit = |n: u64, per: i64| per.saturating_mul(n.min(i64::MAX as u64) as i64);
        state.balance = state
            .balance
            .saturating_add(credit(new, state.deposit))
            .min(state.cap.max(state.balance));
        if state.floor > 0 {
            let secs = self.clock.now() / NANOS_PER_SEC;
            if secs > state.floored_secs {
                let granted = secs - state.floored_secs;
                state.floored_secs = secs;
                state.balance = state
                    .balance
                    .saturating_add(credit(granted, state.floor))
                    .min(state.cap.max(state.balance));
            }
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
    fn deposits_and_withdrawals_from_many_threads_add_up_exactly() {
        // 4 threads each deposit 10,000 requests (10% each) while racing to
        // withdraw: exactly 4,000 retries in all, never one more.
        let clock = ManualClock::new();
        let budget = RetryBudget::with_clock(0.1, 0, 1_000_000, clock).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = budget.clone();
                std::thread::spawn(move || {
                    let mut got = 0u64;
                    for i in 0..10_000 {
                        b.deposit();
                        if i % 3 == 0 && b.try_withdraw() {
                            got += 1;
                        }
                    }
                    got
                })
            })
            .collect();
        let mut total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        while budget.try_withdraw() {
            total += 1;
        }
        assert_eq!(total, 4_000);
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
