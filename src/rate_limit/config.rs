//! Limiter configuration and its builder.

use super::gcra::{Gcra, MAX_BURST, MAX_EMISSION_INTERVAL};
use super::sliding_window::{SlidingWindowCounter, MAX_LIMIT, MAX_WINDOW_NANOS};
use super::{KeyedRateLimiter, Limit, RateLimiter, Shared};
use crate::clock::{nanos, ClockHandle};
use crate::error::ConfigError;
use crate::telemetry::Listeners;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::time::Duration;

/// The longest `max_wait` a limiter accepts.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
enum Algorithm {
    Gcra {
        count: u32,
        per: Duration,
        burst: Option<u32>,
    },
    SlidingWindow {
        limit: u32,
        window: Duration,
    },
}

/// Builds a [`RateLimiter`] or a [`KeyedRateLimiter`]; made by
/// [`RateLimiter::builder`].
#[derive(Debug)]
#[must_use]
pub struct RateLimiterBuilder {
    name: Arc<str>,
    algorithm: Algorithm,
    max_wait: Duration,
    max_keys: usize,
    clock: ClockHandle,
    listeners: Listeners,
}

impl RateLimiterBuilder {
    crate::telemetry::builder_telemetry_setters!();

    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            algorithm: Algorithm::Gcra {
                count: 100,
                per: Duration::from_secs(1),
                burst: None,
            },
            max_wait: Duration::ZERO,
            max_keys: 100_000,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// A token bucket (GCRA) refilling `count` tokens per `per`. The burst
    /// defaults to `count`.
    pub fn rate(mut self, count: u32, per: Duration) -> Self {
        let burst = match self.algorithm {
            Algorithm::Gcra { burst, .. } => burst,
            Algorithm::SlidingWindow { .. } => None,
        };
        self.algorithm = Algorithm::Gcra { count, per, burst };
        self
    }

    /// The most tokens the bucket holds: how many calls may arrive at once.
    pub fn burst(mut self, burst: u32) -> Self {
        if let Algorithm::Gcra { burst: b, .. } = &mut self.algorithm {
            *b = Some(burst);
        } else {
            self.algorithm = Algorithm::Gcra {
                count: 100,
                per: Duration::from_secs(1),
                burst: Some(burst),
            };
        }
        self
    }

    /// A sliding-window counter instead: at most `limit` calls in any
    /// `window` (approximately; see the module docs for the bound).
    pub fn sliding_window(mut self, limit: u32, window: Duration) -> Self {
        self.algorithm = Algorithm::SlidingWindow { limit, window };
        self
    }

    /// How long a waiting layer may wait for a slot (default zero: reject
    /// at once). At most 24 hours.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// For keyed limiters: the most keys tracked at once (default 100,000).
    /// Idle keys are evicted to make room; when none is idle a new key is
    /// refused with [`KeyLimitReached`](crate::error::KeyLimitReached).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Builds a direct (unkeyed) limiter.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let shared = self.shared()?;
        Ok(RateLimiter::from_shared(shared))
    }

    /// Builds a keyed limiter: one independent limit per key.
    pub fn build_keyed<K: Hash + Eq + Clone + Send + Sync + 'static>(
        self,
    ) -> Result<KeyedRateLimiter<K>, ConfigError> {
        self.build_keyed_with_hasher(RandomState::new())
    }

    /// Builds a keyed limiter hashing keys with `hasher`.
    pub fn build_keyed_with_hasher<K, S>(
        self,
        hasher: S,
    ) -> Result<KeyedRateLimiter<K, S>, ConfigError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        S: BuildHasher + Clone + Send + Sync + 'static,
    {
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                &self.name,
                "max_keys",
                "must be at least 1, got 0",
            ));
        }
        let max_keys = self.max_keys;
        let shared = self.shared()?;
        Ok(KeyedRateLimiter::from_shared(shared, max_keys, hasher))
    }

    fn shared(self) -> Result<Shared, ConfigError> {
        let err = |field, msg: String| ConfigError::new(&self.name, field, msg);
        if self.max_wait > MAX_WAIT_LIMIT {
            return Err(err(
                "max_wait",
                format!(
                    "must be at most {MAX_WAIT_LIMIT:?}, got {:?}",
                    self.max_wait
                ),
            ));
        }
        let limit = match self.algorithm {
            Algorithm::Gcra { count, per, burst } => {
                let (t, burst) = gcra_params(count, per, burst).map_err(|(f, m)| err(f, m))?;
                Limit::Gcra(Gcra::new(t, burst))
            }
            Algorithm::SlidingWindow { limit, window } => {
                let window = sliding_params(limit, window).map_err(|(f, m)| err(f, m))?;
                Limit::SlidingWindow(SlidingWindowCounter::new(limit, window))
            }
        };
        Ok(Shared::new(
            self.name,
            limit,
            nanos(self.max_wait),
            self.clock,
            self.listeners,
        ))
    }
}

/// Validates a GCRA rate: (emission interval in ns, burst).
pub(crate) fn gcra_params(
    count: u32,
    per: Duration,
    burst: Option<u32>,
) -> Result<(u64, u32), (&'static str, String)> {
    if count == 0 {
        return Err(("rate", "count must be at least 1, got 0".into()));
    }
    if per.is_zero() {
        return Err(("rate", "period must be positive, got 0".into()));
    }
    let t = nanos(per) / u64::from(count);
    if t == 0 {
        return Err((
            "rate",
            format!("{count} per {per:?} is finer than one per nanosecond"),
        ));
    }
    if t > MAX_EMISSION_INTERVAL {
        return Err((
            "rate",
            format!("{count} per {per:?} is slower than one per {MAX_EMISSION_INTERVAL} ns"),
        ));
    }
    let burst = burst.unwrap_or(count);
    if burst == 0 || burst > MAX_BURST {
        return Err(("burst", format!("must be in 1..={MAX_BURST}, got {burst}")));
    }
    Ok((t, burst))
}

/// Validates a sliding window: the window in ns.
pub(crate) fn sliding_params(limit: u32, window: Duration) -> Result<u64, (&'static str, String)> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err((
            "sliding_window",
            format!("limit must be in 1..={MAX_LIMIT}, got {limit}"),
        ));
    }
    let w = nanos(window);
    if w == 0 || w > MAX_WINDOW_NANOS {
        return Err((
            "sliding_window",
            format!(
                "window must be in 1 ns..={:?}, got {window:?}",
                Duration::from_nanos(MAX_WINDOW_NANOS)
            ),
        ));
    }
    Ok(w)
}
