//! gRPC's retry throttling (gRFC A6): a token count that failed attempts
//! drain and successful ones refill; retries stop while it is at or below
//! half its maximum.
//!
//! Tokens in thousandths (gRPC's `tokenRatio` has three decimal places), in
//! one `AtomicU32`:
//!
//! ```text
//! start:                       tokens = max
//! an attempt that succeeded:   tokens ← min(max, tokens + ratio)
//! a retryable failure:         tokens ← max(0, tokens − 1000)
//! a retry:                     allowed iff, after that failure, tokens > max / 2
//! ```
//!
//! A healthy dependency keeps the count at `max`, where a success only reads
//! it: the shared cache line is written while failures drain it, not on
//! every call.

use crate::error::ConfigError;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const MILLI: u32 = 1000;

/// gRPC's retry throttling (gRFC A6's `retryThrottling`), for a channel's
/// retries: every attempt that fails in a way the retry would retry takes a
/// token, every successful attempt gives back `token_ratio`, and while the
/// count is at or below half of `max_tokens` no retry is made (first
/// attempts are never held back). A cheap `Clone` handle: share one among
/// the retries of one channel, as gRPC does per server name.
///
/// It sits beside seawall's [`RetryBudget`](super::RetryBudget), which
/// bounds retries to a share of the load: the throttle instead stops them
/// outright once failures outweigh successes, as gRPC clients configured
/// with `retryThrottling` expect. A retry may have both.
///
/// ```
/// use seawall::retry::RetryThrottle;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// // gRPC service config: "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
/// let throttle = RetryThrottle::new(10, 0.1)?;
/// let retry = seawall::retry::Retry::builder("inventory")
///     .max_attempts(3)
///     .throttle(throttle.clone())
///     .build()?;
/// assert_eq!(throttle.tokens(), 10.0);
/// assert!(!throttle.is_throttling());
/// # let _ = retry; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RetryThrottle {
    inner: Arc<Tokens>,
}

struct Tokens {
    /// Thousandths of a token.
    count: AtomicU32,
    max: u32,
    ratio: u32,
}

impl RetryThrottle {
    /// Whether `other` is this same throttle.
    pub(crate) fn same(&self, other: &RetryThrottle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The most tokens gRFC A6 allows.
    pub const MAX_TOKENS: u32 = 1000;

    /// A full throttle of `max_tokens` (1 to 1000) tokens, refilled by
    /// `token_ratio` (more than 0, at most `max_tokens`; decimals past the
    /// third are dropped, as gRPC does) for each successful attempt.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<Self, ConfigError> {
        let name: Arc<str> = Arc::from("retry throttle");
        if !(1..=Self::MAX_TOKENS).contains(&max_tokens) {
            return Err(ConfigError::new(
                &name,
                "max_tokens",
                format!("must be in [1, {}], got {max_tokens}", Self::MAX_TOKENS),
            ));
        }
        // Thousandths, truncated (gRPC reads three decimal places).
        let ratio = if token_ratio.is_finite() && token_ratio > 0.0 {
            (token_ratio * f64::from(MILLI)).min(f64::from(u32::MAX)) as u32
        } else {
            0
        };
        if ratio == 0 || ratio > max_tokens * MILLI {
            return Err(ConfigError::new(
                &name,
                "token_ratio",
                format!("must be in [0.001, {max_tokens}] (max_tokens), got {token_ratio}"),
            ));
        }
        let max = max_tokens * MILLI;
        Ok(Self {
            inner: Arc::new(Tokens {
                count: AtomicU32::new(max),
                max,
                ratio,
            }),
        })
    }

    /// The tokens now.
    pub fn tokens(&self) -> f64 {
        f64::from(self.inner.count.load(Ordering::Relaxed)) / f64::from(MILLI)
    }

    /// Whether retries are held back now (tokens at or below half the
    /// maximum).
    pub fn is_throttling(&self) -> bool {
        self.inner.count.load(Ordering::Relaxed) <= self.inner.max / 2
    }

    /// An attempt succeeded: gives back `token_ratio`. Only reads when the
    /// count is full.
    #[inline]
    pub fn on_success(&self) {
        let t = &*self.inner;
        if t.count.load(Ordering::Relaxed) >= t.max {
            return;
        }
        let _ = t
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < t.max).then(|| n.saturating_add(t.ratio).min(t.max))
            });
    }

    /// An attempt failed in a way the retry would retry: takes a token, and
    /// says whether a retry may follow (the count, after, is above half).
    pub fn on_failure(&self) -> bool {
        let t = &*self.inner;
        let before = t
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(MILLI))
            })
            .unwrap_or_else(|n| n);
        before.saturating_sub(MILLI) > t.max / 2
    }
}

impl fmt::Debug for RetryThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryThrottle")
            .field("tokens", &self.tokens())
            .field("max_tokens", &(self.inner.max / MILLI))
            .field("token_ratio", &(f64::from(self.inner.ratio) / 1000.0))
            .finish()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn failures_drain_it_to_half_and_successes_refill_it() {
        let t = RetryThrottle::new(10, 0.5).unwrap();
        // 10 → 9 → ... → 6: each of those leaves more than 5, retries allowed.
        for left in [9.0, 8.0, 7.0, 6.0] {
            assert!(t.on_failure());
            assert_eq!(t.tokens(), left);
        }
        // 6 → 5: at half, the retry is refused, and stays refused.
        assert!(!t.on_failure());
        assert!(t.is_throttling());
        for _ in 0..20 {
            assert!(!t.on_failure());
        }
        assert_eq!(t.tokens(), 0.0, "never below zero");
        // 11 successes at 0.5: 5.5, above half again.
        for _ in 0..11 {
            t.on_success();
        }
        assert_eq!(t.tokens(), 5.5);
        assert!(!t.is_throttling());
        for _ in 0..100 {
            t.on_success();
        }
        assert_eq!(t.tokens(), 10.0, "never above the maximum");
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert_eq!(
            RetryThrottle::new(0, 0.1).unwrap_err().field(),
            "max_tokens"
        );
        assert_eq!(
            RetryThrottle::new(1001, 0.1).unwrap_err().field(),
            "max_tokens"
        );
        for ratio in [0.0, 0.0009, -1.0, f64::NAN, 11.0] {
            assert_eq!(
                RetryThrottle::new(10, ratio).unwrap_err().field(),
                "token_ratio",
                "{ratio}"
            );
        }
        // Three decimal places kept, the rest dropped.
        let t = RetryThrottle::new(10, 0.1239).unwrap();
        assert_eq!(t.inner.ratio, 123);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let t = RetryThrottle::new(1000, 1.0).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        t.on_failure();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(t.tokens(), 600.0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        t.on_success();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(t.tokens(), 800.0);
    }
}
