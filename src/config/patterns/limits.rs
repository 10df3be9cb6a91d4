//! Sections for limits on load: rate limiters (direct and keyed),
//! bulkheads, adaptive limiters, load shedders and client-side throttles.

use super::Percent;
use crate::adaptive::{
    AdaptiveLimiter, AdaptiveLimiterBuilder, AdaptiveThrottle, AdaptiveThrottleBuilder,
};
use crate::bulkhead::{Bulkhead, BulkheadBuilder};
use crate::error::ConfigError;
use crate::load_shed::{LoadShedder, LoadShedderBuilder};
use crate::rate_limit::{RateLimiter, RateLimiterBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A rate limiter's settings: `rate` calls `per` period, a `burst`, and
/// how long a call may wait.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [rate_limiters.instances.search]
/// rate = 100
/// per = "1s"
/// burst = 20
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.rate_limiter("search").expect("in the file").policy().burst_capacity, 20);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimiterConfig {
    /// Calls per `per` (with `per`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// The period of `rate` (default 1 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub per: Option<Duration>,
    /// Calls allowed at once above the rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// How long a call may wait for its slot (default zero).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
}

impl RateLimiterConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, rate, per, burst, max_wait)
    }

    pub(crate) fn apply(&self, mut b: RateLimiterBuilder) -> RateLimiterBuilder {
        if let Some(rate) = self.rate {
            b = b.rate(rate, self.per.unwrap_or(Duration::from_secs(1)));
        }
        set_some!(b, self, burst, max_wait);
        b
    }

    pub(crate) fn builder(&self, name: &str) -> Result<RateLimiterBuilder, ConfigError> {
        if self.rate.is_none() {
            return Err(ConfigError::new(
                &std::sync::Arc::from(name),
                "rate",
                "is required (calls per `per`)".to_string(),
            ));
        }
        Ok(self.apply(RateLimiter::builder(name)))
    }
}

/// A keyed rate limiter's settings: each key (a client, a tenant) its own
/// `rate` per `per` with a `burst`, at most `max_keys` keys at once.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [keyed_rate_limiters.instances.per-client]
/// rate = 10
/// per = "1s"
/// max_keys = 100000
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.keyed_rate_limiter("per-client").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyedRateLimiterConfig {
    /// Calls per `per`, for each key (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// The period of `rate` (default 1 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub per: Option<Duration>,
    /// Calls a key may make at once above the rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// How long a call may wait for its slot (default zero).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
    /// The most keys tracked at once (default 100,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<usize>,
}

impl KeyedRateLimiterConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, rate, per, burst, max_wait, max_keys)
    }

    pub(crate) fn builder(&self, name: &str) -> Result<RateLimiterBuilder, ConfigError> {
        let limit = RateLimiterConfig {
            rate: self.rate,
            per: self.per,
            burst: self.burst,
            max_wait: self.max_wait,
        };
        let mut b = limit.builder(name)?;
        set_some!(b, self, max_keys);
        Ok(b)
    }
}

/// A bulkhead's settings.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [bulkheads.instances.reports]
/// max_concurrent_calls = 8
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.bulkhead("reports").expect("in the file").metrics().max_concurrent_calls, 8);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkheadConfig {
    /// Calls in flight at once (default 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_calls: Option<usize>,
    /// How long a call may wait for a slot (default zero).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
}

impl BulkheadConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, max_concurrent_calls, max_wait)
    }

    pub(crate) fn apply(&self, mut b: BulkheadBuilder) -> BulkheadBuilder {
        set_some!(b, self, max_concurrent_calls, max_wait);
        b
    }

    pub(crate) fn builder(&self, name: &str) -> Result<BulkheadBuilder, ConfigError> {
        Ok(self.apply(Bulkhead::builder(name)))
    }
}

/// Which rule moves an adaptive limit.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [adaptive_limiters.instances.api]
/// algorithm = "vegas"                # or "gradient2" (the default), "aimd"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.adaptive_limiter("api").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    /// [`Gradient2`](crate::adaptive::Gradient2).
    Gradient2,
    /// [`Vegas`](crate::adaptive::Vegas).
    Vegas,
    /// [`Aimd`](crate::adaptive::Aimd).
    Aimd,
}

/// An adaptive concurrency limiter's settings; the algorithm's own
/// defaults (Netflix's) for what is left out.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [adaptive_limiters.instances.api]
/// algorithm = "gradient2"
/// min_limit = 10
/// max_limit = 500
/// window = "1s"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.adaptive_limiter("api").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveLimiterConfig {
    /// `gradient2` (default), `vegas` or `aimd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AlgorithmName>,
    /// The limit before any sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_limit: Option<usize>,
    /// The lowest limit (Gradient2, AIMD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_limit: Option<usize>,
    /// The highest limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_limit: Option<usize>,
    /// How much of each step is taken (Gradient2, Vegas), in (0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<f64>,
    /// The factor on a drop (AIMD), in (0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_ratio: Option<f64>,
    /// How often the limit is recomputed (default 100 ms).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// How long a call may wait for room (default zero).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
}

impl AdaptiveLimiterConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            algorithm,
            initial_limit,
            min_limit,
            max_limit,
            smoothing,
            backoff_ratio,
            window,
            max_wait
        )
    }

    /// Whether `other` names another algorithm or other algorithm settings.
    pub(crate) fn algorithm_differs(&self, other: &Self) -> bool {
        (
            self.algorithm,
            self.initial_limit,
            self.min_limit,
            self.max_limit,
        ) != (
            other.algorithm,
            other.initial_limit,
            other.min_limit,
            other.max_limit,
        ) || (self.smoothing, self.backoff_ratio) != (other.smoothing, other.backoff_ratio)
    }

    /// The builder; with `algorithm` false, it names none (a running
    /// limiter then keeps its own).
    pub(crate) fn builder(
        &self,
        name: &str,
        algorithm: bool,
    ) -> Result<AdaptiveLimiterBuilder, ConfigError> {
        use crate::adaptive::{Aimd, Gradient2, Vegas};
        let only = |field: &'static str, set: bool, algorithm: &str| {
            if set {
                Err(ConfigError::new(
                    &std::sync::Arc::from(name),
                    field,
                    format!("does not apply to {algorithm}"),
                ))
            } else {
                Ok(())
            }
        };
        let mut b = AdaptiveLimiter::builder(name);
        b = match self.algorithm.unwrap_or(AlgorithmName::Gradient2) {
            AlgorithmName::Gradient2 => {
                only("backoff_ratio", self.backoff_ratio.is_some(), "gradient2")?;
                let mut a = Gradient2::default();
                set_some!(a, self, initial_limit, min_limit, max_limit, smoothing);
                if algorithm {
                    b.algorithm(a)
                } else {
                    b
                }
            }
            AlgorithmName::Vegas => {
                only("backoff_ratio", self.backoff_ratio.is_some(), "vegas")?;
                only("min_limit", self.min_limit.is_some(), "vegas")?;
                let mut a = Vegas::default();
                set_some!(a, self, initial_limit, max_limit, smoothing);
                if algorithm {
                    b.algorithm(a)
                } else {
                    b
                }
            }
            AlgorithmName::Aimd => {
                only("smoothing", self.smoothing.is_some(), "aimd")?;
                let mut a = Aimd::default();
                set_some!(a, self, initial_limit, min_limit, max_limit, backoff_ratio);
                if algorithm {
                    b.algorithm(a)
                } else {
                    b
                }
            }
        };
        set_some!(b, self, window, max_wait);
        Ok(b)
    }
}

/// A load shedder's settings.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [load_shedders.instances.api]
/// max_in_flight = 256
/// min_share = "25%"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.load_shedder("api").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadShedderConfig {
    /// Calls in flight at which even critical ones are shed (unset: shed
    /// only when the inner service is not ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    /// The share of it the lowest priority may use (default 50%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_share: Option<Percent>,
    /// How long a call may wait when every slot is taken (default zero).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
    /// CoDel's target queue time (default 5 ms).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub codel_target: Option<Duration>,
    /// CoDel's interval (default 100 ms).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub codel_interval: Option<Duration>,
}

impl LoadShedderConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            max_in_flight,
            min_share,
            max_wait,
            codel_target,
            codel_interval
        )
    }

    pub(crate) fn builder(&self, name: &str) -> Result<LoadShedderBuilder, ConfigError> {
        let mut b = LoadShedder::builder(name);
        set_some!(b, self, max_in_flight);
        if let Some(p) = self.min_share {
            b = b.min_share(p.0 / 100.0);
        }
        set_some!(b, self, max_wait);
        if self.codel_target.is_some() || self.codel_interval.is_some() {
            b = b.codel(
                self.codel_target.unwrap_or(Duration::from_millis(5)),
                self.codel_interval.unwrap_or(Duration::from_millis(100)),
            );
        }
        Ok(b)
    }
}

/// A client-side adaptive throttle's settings (the Google SRE book's).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [throttles.instances.backend]
/// k = 2.0
/// max_reject = "90%"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.throttle("backend").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Requests allowed per accept before dropping starts (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<f64>,
    /// The highest drop probability (default 90%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reject: Option<Percent>,
    /// The rolling window of requests and accepts (default 2 minutes).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

impl ThrottleConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, k, max_reject, window)
    }

    pub(crate) fn builder(&self, name: &str) -> Result<AdaptiveThrottleBuilder, ConfigError> {
        let mut b = AdaptiveThrottle::builder(name);
        set_some!(b, self, k, window);
        if let Some(p) = self.max_reject {
            b = b.max_reject(p.0 / 100.0);
        }
        Ok(b)
    }
}

/// A keyed bulkhead's settings: each key (a tenant, a client) its own
/// `max_concurrent_calls`, at most `max_keys` keys at once.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [keyed_bulkheads.instances.tenants]
/// max_concurrent_calls = 4           # per key
/// max_keys = 10000
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.keyed_bulkhead("tenants").expect("in the file").per_key(), 4);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyedBulkheadConfig {
    /// Calls in flight at once, per key (default 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_calls: Option<usize>,
    /// The most keys tracked at once (default 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<usize>,
}

impl KeyedBulkheadConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, max_concurrent_calls, max_keys)
    }

    /// `(per key, keys)`, the defaults where left out.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (
            self.max_concurrent_calls.unwrap_or(25),
            self.max_keys.unwrap_or(10_000),
        )
    }
}
