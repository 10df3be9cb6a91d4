//! Each pattern's section of a file: every field optional (left out, it
//! takes the section's defaults, then the pattern's own), merged and
//! applied to the pattern's builder, which validates.

use serde::{Deserialize, Serialize};

/// A percentage: `"50%"` or `50` in a file.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [circuit_breakers.instances.payments]
/// failure_rate_threshold = "25%"     # or 25.0
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.circuit_breaker("payments").is_some(), true);
/// # Ok(()) }
/// ```
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
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [circuit_breakers.instances.payments]
/// sliding_window_type = "time"       # seconds; or "count" (calls)
/// sliding_window_size = 60
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.circuit_breaker("payments").is_some(), true);
/// # Ok(()) }
/// ```
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

mod calls;
mod limits;
mod practice;

pub use self::calls::{
    BackoffType, CircuitBreakerConfig, HedgeConfig, JitterType, KeyedCircuitBreakerConfig,
    OutlierDetectionConfig, RetryConfig, TimeoutConfig,
};
pub use self::limits::{
    AdaptiveLimiterConfig, AlgorithmName, BulkheadConfig, KeyedBulkheadConfig,
    KeyedRateLimiterConfig, LoadShedderConfig, RateLimiterConfig, ThrottleConfig,
};
pub use self::practice::{ChaosConfig, SloConfig};
