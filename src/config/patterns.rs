//! Each pattern's section of a file: every field optional (left out, it
//! takes the section's defaults, then the pattern's own), merged and
//! applied to the pattern's builder, which validates.

use crate::adaptive::{
    AdaptiveLimiter, AdaptiveLimiterBuilder, AdaptiveThrottle, AdaptiveThrottleBuilder,
};
use crate::bulkhead::{Bulkhead, BulkheadBuilder};
use crate::chaos::{Chaos, ChaosBuilder, Latency};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, SlidingWindow};
use crate::error::ConfigError;
use crate::hedge::{Hedge, HedgeBuilder, HedgeDelay};
use crate::load_shed::{LoadShedder, LoadShedderBuilder};
use crate::rate_limit::{RateLimiter, RateLimiterBuilder};
use crate::retry::{Backoff, Jitter, Retry, RetryBudget, RetryBuilder};
use crate::slo::{Slo, SloBuilder};
use crate::timeout::{Timeout, TimeoutBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A percentage: `"50%"` or `50` in a file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(into = "String")]
pub struct Percent(pub f64);

impl From<Percent> for String {
    fn from(p: Percent) -> String {
        format!("{}%", p.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Percent(n)),
            Raw::Text(t) => t
                .trim()
                .strip_suffix('%')
                .unwrap_or(t.trim())
                .trim()
                .parse::<f64>()
                .map(Percent)
                .map_err(|_| serde::de::Error::custom(format!("not a percentage: {t:?}"))),
        }
    }
}

/// Which calls a breaker's window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    /// The last `sliding_window_size` calls.
    Count,
    /// The calls of the last `sliding_window_size` seconds.
    Time,
}

/// Takes `over`'s fields where set, else `base`'s.
macro_rules! merged {
    ($base:expr, $over:expr, $($field:ident),+) => {
        Self { $($field: $over.$field.clone().or_else(|| $base.$field.clone())),+ }
    };
}

/// Calls the setter of each field that is set: `target.field(value)`.
macro_rules! set_some {
    ($target:ident, $from:expr, $($field:ident),+) => {
        $(if let Some(v) = $from.$field {
            $target = $target.$field(v);
        })+
    };
}

/// A circuit breaker's settings (resilience4j's names).
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

/// A rate limiter's settings: `rate` calls `per` period, a `burst`, and
/// how long a call may wait.
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

/// A bulkhead's settings.
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

/// A timeout's settings.
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

/// Which rule moves an adaptive limit.
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

/// How a retry's wait grows.
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
    /// keys: the backoff's `cap` is `max_wait_duration`, its `factor`
    /// `backoff_multiplier`, a randomized jitter's factor
    /// `randomization_factor`.
    pub(crate) fn validate(b: &RetryBuilder) -> Result<(), ConfigError> {
        b.validate().map_err(|e| {
            let field = match e.field() {
                "backoff.cap" => "max_wait_duration",
                "backoff.factor" => "backoff_multiplier",
                "jitter" => "randomization_factor",
                field => field,
            };
            ConfigError::new(
                &std::sync::Arc::from(e.instance()),
                field,
                e.message().to_string(),
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
                base,
                factor: self.backoff_multiplier.unwrap_or(2.0),
                cap,
            },
            BackoffType::Linear => {
                only_exponential(self.backoff_multiplier.is_some())?;
                Backoff::Linear { base, cap }
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
        let (ratio, floor, max) = self.budget();
        let budget = RetryBudget::with_clock(ratio, floor, max, clock.clone()).map_err(|e| {
            let field = match e.field() {
                "max_balance" => "budget_max_balance",
                field => field,
            };
            ConfigError::new(&std::sync::Arc::from(name), field, e.message().to_string())
        })?;
        Ok(b.budget(budget))
    }
}

/// A fault injector's settings: rates as percentages of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChaosConfig {
    /// Whether it injects (default true; `false` arms it switched off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Calls failed with an `Injected` error (default 0%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<Percent>,
    /// Calls delayed by `latency` (default 0%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_rate: Option<Percent>,
    /// The delay; with `latency_max`, the least of a uniform delay.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// The most of a uniform delay.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub latency_max: Option<Duration>,
    /// The same faults in the same order each run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Switch off by itself past this many injections in a second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_injections_per_sec: Option<u32>,
    /// Switch off by itself past this share of a window's calls injected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_injected_share: Option<Percent>,
    /// The window of `max_injected_share` (default 1 minute).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub max_injected_share_window: Option<Duration>,
}

impl ChaosConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(
            self,
            over,
            enabled,
            error_rate,
            latency_rate,
            latency,
            latency_max,
            seed,
            max_injections_per_sec,
            max_injected_share,
            max_injected_share_window
        )
    }

    pub(crate) fn builder(&self, name: &str) -> Result<ChaosBuilder, ConfigError> {
        let rate = |p: Option<Percent>| p.map_or(0.0, |p| p.0 / 100.0);
        let least = self.latency.unwrap_or_default();
        let latency = match self.latency_max {
            Some(max) => Latency::Uniform { min: least, max },
            None => Latency::Fixed(least),
        };
        let mut b = Chaos::builder(name)
            .enabled(self.enabled.unwrap_or(true))
            .error_rate(rate(self.error_rate))
            .latency(rate(self.latency_rate), latency);
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(n) = self.max_injections_per_sec {
            b = b.max_injections_per_sec(n);
        }
        if let Some(share) = self.max_injected_share {
            let window = self
                .max_injected_share_window
                .unwrap_or(Duration::from_secs(60));
            b = b.max_injected_share(share.0 / 100.0, window);
        }
        Ok(b)
    }
}

/// A keyed rate limiter's settings: each key (a client, a tenant) its own
/// `rate` per `per` with a `burst`, at most `max_keys` keys at once.
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

/// A client-side adaptive throttle's settings (the Google SRE book's).
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

/// A hedge's settings: when a copy of a slow call is sent.
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
        let (ratio, floor, max) = self.budget();
        let budget = RetryBudget::with_clock(ratio, floor, max, clock.clone()).map_err(|e| {
            let field = match e.field() {
                "max_balance" => "budget_max_balance",
                field => field,
            };
            ConfigError::new(&std::sync::Arc::from(name), field, e.message().to_string())
        })?;
        Ok(b.budget(budget))
    }
}

/// A service-level objective's settings (the workbook's burn-rate alerts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// The share of valid calls that must be good (default 99.9%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<Percent>,
    /// The compliance period (default 30 days).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// A latency SLI: a call is good only if it succeeded within this.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub latency_threshold: Option<Duration>,
}

impl SloConfig {
    pub(crate) fn merged(&self, over: &Self) -> Self {
        merged!(self, over, objective, period, latency_threshold)
    }

    pub(crate) fn builder(&self, name: &str) -> Result<SloBuilder, ConfigError> {
        let mut b = Slo::builder(name);
        if let Some(p) = self.objective {
            b = b.objective(p.0);
        }
        set_some!(b, self, period, latency_threshold);
        Ok(b)
    }
}
