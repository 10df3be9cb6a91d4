//! Sections for a call's own protection: circuit breakers, timeouts,
//! retries and hedges.

use super::{Percent, WindowType};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, SlidingWindow};
use crate::error::ConfigError;
use crate::failover::OutlierDetection;
use crate::hedge::{Hedge, HedgeBuilder, HedgeDelay};
use crate::retry::{Backoff, Jitter, Retry, RetryBudget, RetryBuilder};
use crate::timeout::{Timeout, TimeoutBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A circuit breaker's settings (resilience4j's names).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [circuit_breakers.defaults]
/// failure_rate_threshold = "50%"
/// [circuit_breakers.instances.payments]
/// sliding_window_type = "count"
/// sliding_window_size = 20
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.circuit_breaker("payments").expect("in the file").state(), seawall::CircuitState::Closed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Failure rate that opens the breaker (default 50%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate_threshold: Option<Percent>,
    /// Slow-call rate that opens it (default 100%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_call_rate_threshold: Option<Percent>,
    /// A call slower than this is slow (default 60 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub slow_call_duration_threshold: Option<Duration>,
    /// Time open before half-open (default 60 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub wait_duration_in_open_state: Option<Duration>,
    /// Calls before a rate can open it (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_number_of_calls: Option<u32>,
    /// `count` or `time` (default `count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sliding_window_type: Option<WindowType>,
    /// Calls, or seconds, the window holds (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sliding_window_size: Option<u32>,
    /// Probes in half-open (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted_number_of_calls_in_half_open_state: Option<u32>,
}

impl CircuitBreakerConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            failure_rate_threshold,
            slow_call_rate_threshold,
            slow_call_duration_threshold,
            wait_duration_in_open_state,
            minimum_number_of_calls,
            sliding_window_type,
            sliding_window_size,
            permitted_number_of_calls_in_half_open_state
        )
    }

    pub(crate) fn apply(&self, mut b: CircuitBreakerBuilder) -> CircuitBreakerBuilder {
        if let Some(p) = self.failure_rate_threshold {
            b = b.failure_rate_threshold(p.0 as f32);
        }
        if let Some(p) = self.slow_call_rate_threshold {
            b = b.slow_call_rate_threshold(p.0 as f32);
        }
        set_some!(
            b,
            self,
            slow_call_duration_threshold,
            wait_duration_in_open_state,
            minimum_number_of_calls
        );
        if self.sliding_window_type.is_some() || self.sliding_window_size.is_some() {
            let size = self.sliding_window_size.unwrap_or(100);
            b = b.sliding_window(
                match self.sliding_window_type.unwrap_or(WindowType::Count) {
                    WindowType::Count => SlidingWindow::Count(size),
                    WindowType::Time => SlidingWindow::Time(Duration::from_secs(size as u64)),
                },
            );
        }
        set_some!(b, self, permitted_number_of_calls_in_half_open_state);
        b
    }

    pub(crate) fn builder(&self, name: &str) -> Result<CircuitBreakerBuilder, ConfigError> {
        Ok(self.apply(CircuitBreaker::builder(name)))
    }
}

/// A timeout's settings.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [timeouts.instances.payments]
/// duration = "2s 500ms"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.timeout("payments").expect("in the file").duration(), Duration::from_millis(2500));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// How long a call may run.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

impl TimeoutConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, duration)
    }

    pub(crate) fn builder(&self, name: &str) -> Result<TimeoutBuilder, ConfigError> {
        let Some(d) = self.duration else {
            return Err(ConfigError::new(
                &std::sync::Arc::from(name),
                "duration",
                "is required".to_string(),
            ));
        };
        Ok(Timeout::builder(name).duration(d))
    }
}

/// How a retry's wait grows.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [retries.instances.inventory]
/// backoff = "linear"                 # or "exponential" (the default), "constant"
/// wait_duration = "100ms"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.retry("inventory").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffType {
    /// `wait_duration · multiplierⁿ⁻¹`, up to `max_wait_duration`.
    Exponential,
    /// `wait_duration · n`, up to `max_wait_duration`.
    Linear,
    /// `wait_duration` every time.
    Constant,
}

/// How a retry's waits are randomised.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [retries.instances.inventory]
/// jitter = "decorrelated"            # or "none", "full" (the default), "equal"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.retry("inventory").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterType {
    /// As computed.
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// Uniform in `[d/2, d]`.
    Equal,
    /// Uniform in `[base, 3·previous]`, capped.
    Decorrelated,
}

/// A retry's settings (resilience4j's names where it has them).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [retries.instances.inventory]
/// max_attempts = 4
/// wait_duration = "50ms"
/// backoff_multiplier = 2.0
/// max_wait_duration = "2s"
/// budget_ratio = "20%"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.retry("inventory").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The first wait (default 50 ms).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub wait_duration: Option<Duration>,
    /// `exponential` (default), `linear` or `constant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffType>,
    /// Growth per retry of an exponential backoff (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<f64>,
    /// The longest wait (default 5 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_wait_duration: Option<Duration>,
    /// `full` (default), `equal`, `decorrelated` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterType>,
    /// resilience4j's `randomizedWaitFactor`: each wait uniform in
    /// `[d·(1 − f), d·(1 + f)]`, instead of `jitter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub randomization_factor: Option<f64>,
    /// A deadline per call, retries included (default none).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Duration>,
    /// The longest wait a dependency may ask for (`Retry-After`).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_retry_after: Option<Duration>,
    /// Retries may add this share of the load (default 20%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ratio: Option<Percent>,
    /// Retries allowed each second whatever the load (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_min_retries_per_second: Option<u32>,
    /// The most retries banked (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_max_balance: Option<u32>,
}

impl RetryConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            max_attempts,
            wait_duration,
            backoff,
            backoff_multiplier,
            max_wait_duration,
            jitter,
            randomization_factor,
            deadline,
            max_retry_after,
            budget_ratio,
            budget_min_retries_per_second,
            budget_max_balance
        )
    }

    /// Checks `b` (made by [`builder`](Self::builder)), naming the file's
    /// keys: the backoff's `initial` is `wait_duration`, its `max`
    /// `max_wait_duration`, its `multiplier` `backoff_multiplier`, a
    /// randomized jitter's factor `randomization_factor`.
    pub(crate) fn validate(b: &RetryBuilder) -> Result<(), ConfigError> {
        b.validate().map_err(|e| {
            let field = match e.field() {
                "backoff.max" => "max_wait_duration",
                "backoff.multiplier" => "backoff_multiplier",
                "jitter" => "randomization_factor",
                field => field,
            };
            ConfigError::new(
                &std::sync::Arc::from(e.instance()),
                field,
                e.message().replace(">= initial", ">= wait_duration"),
            )
        })
    }

    /// The budget's settings, `DEFAULT_BUDGET`'s where left out.
    pub(crate) fn budget(&self) -> (f64, u32, u32) {
        let (ratio, floor, max) = crate::retry::DEFAULT_BUDGET;
        (
            self.budget_ratio.map_or(ratio, |p| p.0 / 100.0),
            self.budget_min_retries_per_second.unwrap_or(floor),
            self.budget_max_balance.unwrap_or(max),
        )
    }

    /// The builder, with a budget of its own on `clock`.
    pub(crate) fn builder(
        &self,
        name: &str,
        clock: &crate::clock::ClockHandle,
    ) -> Result<RetryBuilder, ConfigError> {
        let mut b = Retry::builder(name).clock(clock.clone());
        set_some!(b, self, max_attempts, deadline, max_retry_after);
        let base = self.wait_duration.unwrap_or(Duration::from_millis(50));
        let cap = self.max_wait_duration.unwrap_or(Duration::from_secs(5));
        let only_exponential = |set: bool| {
            if set {
                Err(ConfigError::new(
                    &std::sync::Arc::from(name),
                    "backoff_multiplier",
                    "applies to an exponential backoff only",
                ))
            } else {
                Ok(())
            }
        };
        b = b.backoff(match self.backoff.unwrap_or(BackoffType::Exponential) {
            BackoffType::Exponential => Backoff::Exponential {
                initial: base,
                multiplier: self.backoff_multiplier.unwrap_or(2.0),
                max: cap,
            },
            BackoffType::Linear => {
                only_exponential(self.backoff_multiplier.is_some())?;
                Backoff::Linear {
                    initial: base,
                    max: cap,
                }
            }
            BackoffType::Constant => {
                only_exponential(self.backoff_multiplier.is_some())?;
                Backoff::Constant(base)
            }
        });
        b = b.jitter(match (self.jitter, self.randomization_factor) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    &std::sync::Arc::from(name),
                    "randomization_factor",
                    "conflicts with jitter: set one",
                ))
            }
            (_, Some(f)) => Jitter::Randomized(f),
            (Some(JitterType::None), _) => Jitter::None,
            (Some(JitterType::Equal), _) => Jitter::Equal,
            (Some(JitterType::Decorrelated), _) => Jitter::Decorrelated,
            (Some(JitterType::Full) | None, _) => Jitter::Full,
        });
        Ok(b.budget(own_budget(name, self.budget(), clock)?))
    }
}

/// A hedge's settings: when a copy of a slow call is sent.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [hedges.instances.search]
/// max_hedges = 1
/// percentile = 95.0                  # or a fixed `delay = "50ms"`, or `parallel = true`
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.hedge("search").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HedgeConfig {
    /// Copies a call may send beside its first (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hedges: Option<u32>,
    /// A fixed delay before each copy (instead of a learned one).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Every copy at once (instead of a delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel: Option<bool>,
    /// The learned delay: this percentile of recent latencies (default 95).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// Calls a window needs before its percentile is used (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    /// How long a window of latencies is (default 10 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// Copies may add this share of the calls (default 10%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ratio: Option<Percent>,
    /// Copies allowed each second whatever the load (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_min_hedges_per_second: Option<u32>,
    /// The most copies banked (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_max_balance: Option<u32>,
}

impl HedgeConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            max_hedges,
            delay,
            parallel,
            percentile,
            min_samples,
            window,
            budget_ratio,
            budget_min_hedges_per_second,
            budget_max_balance
        )
    }

    /// The budget's settings, the hedge's defaults where left out.
    pub(crate) fn budget(&self) -> (f64, u32, u32) {
        let (ratio, floor, max) = crate::hedge::DEFAULT_BUDGET;
        (
            self.budget_ratio.map_or(ratio, |p| p.0 / 100.0),
            self.budget_min_hedges_per_second.unwrap_or(floor),
            self.budget_max_balance.unwrap_or(max),
        )
    }

    pub(crate) fn builder(
        &self,
        name: &str,
        clock: &crate::clock::ClockHandle,
    ) -> Result<HedgeBuilder, ConfigError> {
        let learned =
            self.percentile.is_some() || self.min_samples.is_some() || self.window.is_some();
        let parallel = self.parallel.unwrap_or(false);
        let delay = match self.delay {
            Some(_) if parallel || learned => {
                return Err(ConfigError::new(
                    &std::sync::Arc::from(name),
                    "delay",
                    "conflicts with parallel and the learned delay's settings: set one kind",
                ))
            }
            Some(d) => HedgeDelay::Fixed(d),
            None if parallel && learned => {
                return Err(ConfigError::new(
                    &std::sync::Arc::from(name),
                    "parallel",
                    "conflicts with the learned delay's settings: set one kind",
                ))
            }
            None if parallel => HedgeDelay::Parallel,
            None => HedgeDelay::Percentile {
                percentile: self.percentile.unwrap_or(95.0),
                min_samples: self.min_samples.unwrap_or(100),
                window: self.window.unwrap_or(Duration::from_secs(10)),
            },
        };
        let mut b = Hedge::builder(name).clock(clock.clone()).delay(delay);
        set_some!(b, self, max_hedges);
        Ok(b.budget(own_budget(name, self.budget(), clock)?))
    }
}

/// A budget of its own for retry or hedge `name`, an error naming the
/// file's key.
fn own_budget(
    name: &str,
    (ratio, floor, max): (f64, u32, u32),
    clock: &crate::clock::ClockHandle,
) -> Result<RetryBudget, ConfigError> {
    RetryBudget::with_clock(ratio, floor, max, clock.clone()).map_err(|e| {
        let field = match e.field() {
            "max_balance" => "budget_max_balance",
            field => field,
        };
        ConfigError::new(&std::sync::Arc::from(name), field, e.message().to_string())
    })
}

/// A keyed circuit breaker's settings: one breaker per key (a host, a
/// tenant), each with `breaker`'s settings, at most `max_keys` at once.
///
/// ```toml
/// [keyed_circuit_breakers.instances.per_host]
/// max_keys = 1000
///
/// [keyed_circuit_breakers.instances.per_host.breaker]
/// failure_rate_threshold = "50%"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyedCircuitBreakerConfig {
    /// The most keys tracked at once (default 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<usize>,
    /// Each key's breaker.
    pub breaker: CircuitBreakerConfig,
}

impl KeyedCircuitBreakerConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        Self {
            max_keys: over.max_keys.or(self.max_keys),
            breaker: self.breaker.merged(&over.breaker),
        }
    }

    /// The keys it holds at most.
    pub(crate) fn keys(&self) -> usize {
        self.max_keys.unwrap_or(10_000)
    }
}

/// A failover set's outlier detection (Envoy's names): the endpoints are
/// services, built in code; these settings come from the file and follow
/// reloads (`FailoverBuilder::outlier_settings`).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [outlier_detections.instances.inventory]
/// consecutive_failures = 3
/// base_ejection_time = "10s"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.outlier_detection("inventory").is_some(), true);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierDetectionConfig {
    /// Failures in a row that eject an endpoint (default 5; 0: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    /// Local failures in a row that eject it, with `split_local_origin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failures: Option<u32>,
    /// Count local failures apart from the endpoint's answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_local_origin: Option<bool>,
    /// How often success rates and failure percentages are judged (10 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// An ejection's length, times the ejections in a row (30 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// The longest ejection (300 s).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_ejection_time: Option<Duration>,
    /// The most endpoints ejected at once, in percent (10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    /// Ejected below mean − factor × stdev of the peers' success rates (1.9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_stdev_factor: Option<f64>,
    /// Endpoints with enough calls to judge success rates (5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_minimum_hosts: Option<usize>,
    /// Calls an endpoint needs in an interval for its success rate (100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_request_volume: Option<u64>,
    /// Ejected at or above this failure percentage (85).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_percentage_threshold: Option<u32>,
    /// Endpoints with enough calls to judge failure percentages (5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_percentage_minimum_hosts: Option<usize>,
    /// Calls an endpoint needs in an interval for its failure percentage (50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_percentage_request_volume: Option<u64>,
    /// Up to this much added to each ejection, at random.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub ejection_jitter: Option<Duration>,
}

impl OutlierDetectionConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            consecutive_failures,
            consecutive_local_origin_failures,
            split_local_origin,
            interval,
            base_ejection_time,
            max_ejection_time,
            max_ejection_percent,
            success_rate_stdev_factor,
            success_rate_minimum_hosts,
            success_rate_request_volume,
            failure_percentage_threshold,
            failure_percentage_minimum_hosts,
            failure_percentage_request_volume,
            ejection_jitter
        )
    }

    /// The settings, Envoy's defaults where left out.
    pub(crate) fn settings(&self) -> OutlierDetection {
        let mut o = OutlierDetection::new();
        set_some!(
            o,
            self,
            consecutive_failures,
            consecutive_local_origin_failures,
            split_local_origin,
            interval,
            base_ejection_time,
            max_ejection_time,
            max_ejection_percent,
            success_rate_stdev_factor,
            success_rate_minimum_hosts,
            success_rate_request_volume,
            failure_percentage_threshold,
            failure_percentage_minimum_hosts,
            failure_percentage_request_volume,
            ejection_jitter
        );
        o
    }
}
