//! Each pattern's section of a file: every field optional (left out, it
//! takes the section's defaults, then the pattern's own), merged and
//! applied to the pattern's builder, which validates.

use crate::bulkhead::{Bulkhead, BulkheadBuilder};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, SlidingWindow};
use crate::error::ConfigError;
use crate::rate_limit::{RateLimiter, RateLimiterBuilder};
use crate::timeout::{Fixed, Timeout, TimeoutLayer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A percentage: `"50%"` or `50` in a file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(into = "String")]
pub struct Percent(pub f32);

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
            Raw::Number(n) => Ok(Percent(n as f32)),
            Raw::Text(t) => t
                .trim()
                .strip_suffix('%')
                .unwrap_or(t.trim())
                .trim()
                .parse::<f32>()
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
            b = b.failure_rate_threshold(p.0);
        }
        if let Some(p) = self.slow_call_rate_threshold {
            b = b.slow_call_rate_threshold(p.0);
        }
        if let Some(d) = self.slow_call_duration_threshold {
            b = b.slow_call_duration_threshold(d);
        }
        if let Some(d) = self.wait_duration_in_open_state {
            b = b.wait_duration_in_open_state(d);
        }
        if let Some(n) = self.minimum_number_of_calls {
            b = b.minimum_number_of_calls(n);
        }
        if self.sliding_window_type.is_some() || self.sliding_window_size.is_some() {
            let size = self.sliding_window_size.unwrap_or(100);
            b = b.sliding_window(
                match self.sliding_window_type.unwrap_or(WindowType::Count) {
                    WindowType::Count => SlidingWindow::Count(size),
                    WindowType::Time => SlidingWindow::Time(Duration::from_secs(size as u64)),
                },
            );
        }
        if let Some(n) = self.permitted_number_of_calls_in_half_open_state {
            b = b.permitted_number_of_calls_in_half_open_state(n);
        }
        b
    }

    pub(crate) fn build(&self, name: &str) -> Result<CircuitBreaker, ConfigError> {
        self.apply(CircuitBreaker::builder(name)).build()
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
        if let Some(burst) = self.burst {
            b = b.burst(burst);
        }
        if let Some(d) = self.max_wait {
            b = b.max_wait(d);
        }
        b
    }

    pub(crate) fn build(&self, name: &str) -> Result<RateLimiter, ConfigError> {
        if self.rate.is_none() {
            return Err(ConfigError::new(
                &std::sync::Arc::from(name),
                "rate",
                "is required (calls per `per`)".to_string(),
            ));
        }
        self.apply(RateLimiter::builder(name)).build()
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
        if let Some(n) = self.max_concurrent_calls {
            b = b.max_concurrent_calls(n);
        }
        if let Some(d) = self.max_wait {
            b = b.max_wait(d);
        }
        b
    }

    pub(crate) fn build(&self, name: &str) -> Result<Bulkhead, ConfigError> {
        self.apply(Bulkhead::builder(name)).build()
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

    pub(crate) fn build(&self, name: &str) -> Result<TimeoutLayer<Fixed>, ConfigError> {
        let Some(d) = self.duration else {
            return Err(ConfigError::new(
                &std::sync::Arc::from(name),
                "duration",
                "is required".to_string(),
            ));
        };
        Timeout::builder(name).duration(d).build()
    }
}
