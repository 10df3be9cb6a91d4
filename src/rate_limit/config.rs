//! Limiter configuration and its builder.

use super::gcra::{self, Gcra};
use super::sliding_window::{SlidingWindowCounter, MAX_LIMIT, MAX_WINDOW_NANOS};
use super::{KeyedRateLimiter, Limit, RateLimiter, Shared};
use crate::clock::{nanos, ClockHandle};
use crate::error::ConfigError;
use crate::telemetry::Listeners;
use crate::waiting::check_max_wait;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::time::Duration;

/// The longest `max_wait` a limiter accepts.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// The most tokens a bucket holds (emission intervals below
/// [`LONG_EMISSION_INTERVAL`]).
pub const MAX_BURST: u32 = gcra::MAX_BURST;
/// The most tokens a bucket holds when one token takes
/// [`LONG_EMISSION_INTERVAL`] or longer (a tolerance of weeks at least).
pub const MAX_BURST_AT_LONG_INTERVALS: u32 = gcra::MAX_LONG_BURST;
/// Emission intervals (`per / count`) from this one (2^39 ns, about
/// 9 min 10 s) up are long: their burst is at most
/// [`MAX_BURST_AT_LONG_INTERVALS`].
pub const LONG_EMISSION_INTERVAL: Duration = Duration::from_nanos(gcra::LONG_INTERVAL);
/// The longest emission interval a token bucket takes: 2^52 - 1 ns, about
/// 52 days (so one per 30 days fits).
pub const MAX_EMISSION_INTERVAL: Duration = Duration::from_nanos(gcra::MAX_EMISSION_INTERVAL);

/// Builds a [`RateLimiter`] or a [`KeyedRateLimiter`]; made by
/// [`RateLimiter::builder`].
///
/// A limiter is a token bucket ([`rate`](Self::rate), [`burst`](Self::burst))
/// or a sliding window ([`sliding_window`](Self::sliding_window)), never
/// both: setting both is a [`ConfigError`]. With neither, it is a token
/// bucket of 100 per second with a burst of 100.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let token_bucket = RateLimiter::builder("api").rate(100, Duration::from_secs(1)).burst(20).build()?;
/// let window = RateLimiter::builder("exports").sliding_window(1000, Duration::from_secs(60)).build()?;
/// let per_key = RateLimiter::builder("per-client")
///     .rate(10, Duration::from_secs(1))
///     .max_keys(100_000)
///     .build_keyed::<String>()?;
/// # let _ = (token_bucket, window, per_key); Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct RateLimiterBuilder {
    name: Arc<str>,
    rate: Option<(u32, Duration)>,
    burst: Option<u32>,
    sliding: Option<(u32, Duration)>,
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
            rate: None,
            burst: None,
            sliding: None,
            max_wait: Duration::ZERO,
            max_keys: 100_000,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// A token bucket (GCRA) refilling `count` tokens per `per`: one token
    /// every `per / count` (the emission interval, rounded down to whole
    /// nanoseconds), from 1 ns to [`MAX_EMISSION_INTERVAL`] (about 52
    /// days: `rate(1, Duration::from_secs(30 * 86_400))` is fine). Default
    /// 100 per second. The burst defaults to `count`.
    pub fn rate(mut self, count: u32, per: Duration) -> Self {
        self.rate = Some((count, per));
        self
    }

    /// The most tokens the bucket holds: how many calls may arrive at once.
    /// 1..=[`MAX_BURST`], and at most [`MAX_BURST_AT_LONG_INTERVALS`] when
    /// the emission interval is [`LONG_EMISSION_INTERVAL`] or longer.
    /// Default: the rate's `count`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// A sliding-window counter instead of a token bucket: at most `limit`
    /// calls in any `window` (approximately; see the module docs for the
    /// bound). Not to be combined with [`rate`](Self::rate) or
    /// [`burst`](Self::burst).
    pub fn sliding_window(mut self, limit: u32, window: Duration) -> Self {
        self.sliding = Some((limit, window));
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

    /// The token bucket's parts, validated, for a limiter kept elsewhere
    /// (Redis): name, emission interval (ns), burst, max wait, clock,
    /// listeners.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn gcra_parts(self) -> Result<GcraParts, ConfigError> {
        let err = |field, msg: String| ConfigError::new(&self.name, field, msg);
        if self.sliding.is_some() {
            return Err(err(
                "sliding_window",
                "only a token bucket (rate, burst) is kept on Redis".into(),
            ));
        }
        let (count, per) = self.rate.unwrap_or((100, Duration::from_secs(1)));
        let (t, burst) = gcra_params(count, per, self.burst).map_err(|(f, m)| err(f, m))?;
        self.check_max_wait()?;
        Ok(GcraParts {
            name: self.name,
            t_ns: t,
            burst,
            max_wait: self.max_wait,
            clock: self.clock,
            listeners: self.listeners,
        })
    }

    fn check_max_wait(&self) -> Result<(), ConfigError> {
        check_max_wait(&self.name, self.max_wait, MAX_WAIT_LIMIT)
    }

    /// The most keys a keyed limiter of these settings tracks.
    pub(crate) fn keys(&self) -> usize {
        self.max_keys
    }

    /// The limit's parameters and the longest wait, validated.
    pub(crate) fn checked(&self) -> Result<(LimitParams, Duration), ConfigError> {
        let err = |field, msg: String| ConfigError::new(&self.name, field, msg);
        self.check_max_wait()?;
        let params = match (self.sliding, self.rate, self.burst) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(err(
                    "sliding_window",
                    "conflicts with rate/burst: a limiter is a token bucket (rate, burst) \
                     or a sliding window, not both"
                        .into(),
                ))
            }
            (Some((limit, window)), None, None) => {
                let window = sliding_params(limit, window).map_err(|(f, m)| err(f, m))?;
                LimitParams::SlidingWindow { limit, window }
            }
            (None, rate, burst) => {
                let (count, per) = rate.unwrap_or((100, Duration::from_secs(1)));
                let (t, burst) = gcra_params(count, per, burst).map_err(|(f, m)| err(f, m))?;
                LimitParams::Gcra { t, burst }
            }
        };
        Ok((params, self.max_wait))
    }

    /// The settings `limit` runs with (to reconfigure from).
    pub(crate) fn with_params(mut self, limit: LimitParams, max_wait: Duration) -> Self {
        match limit {
            LimitParams::Gcra { t, burst } => {
                self.rate = Some((1, Duration::from_nanos(t)));
                self.burst = Some(burst);
            }
            LimitParams::SlidingWindow { limit, window } => {
                self.sliding = Some((limit, Duration::from_nanos(window)));
            }
        }
        self.max_wait = max_wait;
        self
    }

    fn shared(self) -> Result<Shared, ConfigError> {
        let (params, max_wait) = self.checked()?;
        let limit = match params {
            LimitParams::SlidingWindow { limit, window } => {
                Limit::SlidingWindow(SlidingWindowCounter::new(limit, window))
            }
            LimitParams::Gcra { t, burst } => Limit::Gcra(Gcra::new(t, burst)),
        };
        Ok(Shared::new(
            self.name,
            limit,
            max_wait,
            self.clock,
            self.listeners,
        ))
    }
}

/// A limit's validated parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitParams {
    /// A token bucket: the emission interval (ns) and the burst.
    Gcra { t: u64, burst: u32 },
    /// A sliding window: calls per window (ns).
    SlidingWindow { limit: u32, window: u64 },
}

/// A validated token bucket's parts, for a limiter kept elsewhere (Redis).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct GcraParts {
    pub(crate) name: Arc<str>,
    /// The emission interval, in nanoseconds.
    pub(crate) t_ns: u64,
    pub(crate) burst: u32,
    pub(crate) max_wait: Duration,
    pub(crate) clock: ClockHandle,
    pub(crate) listeners: Listeners,
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
    // In u128: `per` may exceed u64 nanoseconds, and saturating it first
    // would make a rate too slow to represent look representable.
    let t = per.as_nanos() / u128::from(count);
    if t == 0 {
        return Err((
            "rate",
            format!("{count} per {per:?} is finer than one per nanosecond"),
        ));
    }
    let t = match u64::try_from(t) {
        Ok(t) if t <= gcra::MAX_EMISSION_INTERVAL => t,
        _ => {
            return Err((
                "rate",
                format!(
                    "{count} per {per:?} is slower than one per {MAX_EMISSION_INTERVAL:?} \
                     (the longest emission interval)"
                ),
            ))
        }
    };
    let burst = burst.unwrap_or(count);
    let max = if t < gcra::LONG_INTERVAL {
        MAX_BURST
    } else {
        MAX_BURST_AT_LONG_INTERVALS
    };
    if burst == 0 || burst > max {
        return Err((
            "burst",
            if max == MAX_BURST {
                format!("must be in 1..={MAX_BURST}, got {burst}")
            } else {
                format!(
                    "must be in 1..={max} when a token takes {LONG_EMISSION_INTERVAL:?} or \
                     longer ({count} per {per:?}), got {burst}"
                )
            },
        ));
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
