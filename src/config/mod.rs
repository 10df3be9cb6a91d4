//! Configuration files (feature `config`, on by default): circuit breakers,
//! rate limiters (direct and keyed), bulkheads, timeouts, retries, adaptive
//! limiters, load shedders and fault injectors from one TOML, YAML or JSON
//! file, with shared defaults and per-instance overrides (resilience4j's
//! `configs.default` + `instances.X`), built into a [`Registry`] of named
//! instances, reloaded in place, and made into the standard HTTP client
//! stack for a named downstream ([`Registry::http_client`]).
//!
//! The sections, each `[section.defaults]` and `[section.instances.NAME]`:
//! `circuit_breakers` ([`CircuitBreakerConfig`]), `keyed_circuit_breakers`
//! ([`KeyedCircuitBreakerConfig`]), `keyed_bulkheads`
//! ([`KeyedBulkheadConfig`]), `rate_limiters`
//! ([`RateLimiterConfig`]), `keyed_rate_limiters`
//! ([`KeyedRateLimiterConfig`]), `bulkheads` ([`BulkheadConfig`]),
//! `timeouts` ([`TimeoutConfig`]), `retries` ([`RetryConfig`]),
//! `adaptive_limiters` ([`AdaptiveLimiterConfig`]), `load_shedders`
//! ([`LoadShedderConfig`]), `throttles` ([`ThrottleConfig`]), `hedges`
//! ([`HedgeConfig`]), `slos` ([`SloConfig`]), `outlier_detections`
//! ([`OutlierDetectionConfig`]: a failover set's, whose endpoints are
//! services built in code) and `chaos` ([`ChaosConfig`]). A fallback has no
//! settings: its answer is code.
//!
//! ```
//! use seawall::config::{Registry, SeawallConfig};
//!
//! # fn main() -> Result<(), seawall::ConfigError> {
//! let config = SeawallConfig::from_toml(r#"
//! [circuit_breakers.defaults]
//! failure_rate_threshold = "50%"
//! wait_duration_in_open_state = "30s"
//!
//! [circuit_breakers.instances.payments]
//! failure_rate_threshold = "25%"
//!
//! [rate_limiters.instances.search]
//! rate = 100
//! per = "1s"
//! burst = 20
//!
//! [bulkheads.instances.reports]
//! max_concurrent_calls = 8
//! max_wait = "50ms"
//! "#)?;
//! let registry = Registry::from_config(&config)?;
//! let payments = registry.circuit_breaker("payments").expect("configured");
//! assert_eq!(registry.circuit_breaker_names(), ["payments"]);
//! assert!(registry.rate_limiter("search").is_some());
//! # let _ = payments; Ok(()) }
//! ```
//!
//! Durations are human (`"250ms"`, `"1m 30s"`, through `humantime`),
//! rates are percentages (`"50%"` or `50`); an omitted field takes the
//! section's `defaults`, then the pattern's own default. An unknown field
//! is an error (a typo is not silently ignored), and so is a value out of
//! range: a [`ConfigError`] naming the instance and the field, with the
//! line where the format tells it. YAML is read with `serde_norway`, the
//! maintained fork of the archived `serde_yaml`.
//!
//! # Live reload
//!
//! [`Registry::reload`] applies a new file to the running instances in
//! place: layers already wired see the new settings, and each instance
//! keeps its state (a breaker its state and window, a limiter the tokens
//! taken, a bulkhead, adaptive limiter or load shedder its calls in
//! flight). It is all or nothing: every instance is checked before any
//! changes, and the first that cannot take its new settings — a value out
//! of range, or a change a running instance cannot make, such as a
//! breaker's window size or a limiter's kind — is the error. Instances the
//! file adds are built, those it drops leave the registry. Each setting
//! changed is an [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured)
//! event to the listeners given to [`Registry::builder`]; the
//! [`ReloadReport`] lists the instances changed, added and removed. The
//! same changes are open to code through each pattern's `reconfigure`
//! (e.g. [`CircuitBreaker::reconfigure`](crate::circuit_breaker::CircuitBreaker::reconfigure)).
//!
//! A file watcher should see whole files only: write the new one beside
//! and rename it over (`examples/config_reload.rs` does, with `notify`),
//! since an empty file is a valid configuration with no instances.

mod health;
mod kinds;
mod locate;
mod patterns;
mod registry;
#[cfg(feature = "http")]
mod stack;

pub use self::patterns::{
    AdaptiveLimiterConfig, AlgorithmName, BackoffType, BulkheadConfig, ChaosConfig,
    CircuitBreakerConfig, HedgeConfig, JitterType, KeyedBulkheadConfig, KeyedCircuitBreakerConfig,
    KeyedRateLimiterConfig, LoadShedderConfig, OutlierDetectionConfig, Percent, RateLimiterConfig,
    RetryConfig, SloConfig, ThrottleConfig, TimeoutConfig, WindowType,
};
pub use self::registry::{Registry, RegistryBuilder, ReloadReport};
#[cfg(feature = "grpc")]
pub use self::stack::ConfiguredGrpcClient;
#[cfg(feature = "http")]
pub use self::stack::ConfiguredHttpClient;

use self::locate::{line_at, Format};
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One section of a file: settings every instance starts from, and the
/// instances by name.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [bulkheads.defaults]
/// max_concurrent_calls = 16          # every instance starts from these
/// [bulkheads.instances.reports]
/// [bulkheads.instances.search]
/// max_concurrent_calls = 64
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.bulkhead("reports").expect("in the file").metrics().max_concurrent_calls, 16);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section<T> {
    /// What an instance leaves out.
    pub defaults: T,
    /// The instances, by name.
    pub instances: BTreeMap<String, T>,
}

/// A whole configuration file.
///
/// ```
/// use seawall::config::SeawallConfig;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_yaml("
/// bulkheads:
///   instances:
///     reports:
///       max_concurrent_calls: 8
/// ")?;
/// let same = SeawallConfig::from_toml(&config.to_toml()?)?;
/// assert_eq!(config, same);
/// let bad = SeawallConfig::from_toml("[bulkheads.instances.reports]\nmax_concurrent_calls = 0\n").unwrap_err();
/// assert_eq!((bad.field(), bad.line()), ("max_concurrent_calls", Some(2)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeawallConfig {
    /// Circuit breakers.
    pub circuit_breakers: Section<CircuitBreakerConfig>,
    /// Rate limiters.
    pub rate_limiters: Section<RateLimiterConfig>,
    /// Bulkheads.
    pub bulkheads: Section<BulkheadConfig>,
    /// Timeouts.
    pub timeouts: Section<TimeoutConfig>,
    /// Adaptive concurrency limiters.
    pub adaptive_limiters: Section<AdaptiveLimiterConfig>,
    /// Load shedders.
    pub load_shedders: Section<LoadShedderConfig>,
    /// Retries.
    pub retries: Section<RetryConfig>,
    /// Fault injectors (game days switched from the file).
    pub chaos: Section<ChaosConfig>,
    /// Keyed rate limiters (a limit per client), keyed by `String`.
    pub keyed_rate_limiters: Section<KeyedRateLimiterConfig>,
    /// Client-side adaptive throttles.
    pub throttles: Section<ThrottleConfig>,
    /// Hedges.
    pub hedges: Section<HedgeConfig>,
    /// Service-level objectives.
    pub slos: Section<SloConfig>,
    /// Keyed circuit breakers (a breaker per host), keyed by `String`.
    pub keyed_circuit_breakers: Section<KeyedCircuitBreakerConfig>,
    /// Keyed bulkheads (slots per tenant), keyed by `String`.
    pub keyed_bulkheads: Section<KeyedBulkheadConfig>,
    /// Failover sets' outlier detection, by the set's name.
    pub outlier_detections: Section<OutlierDetectionConfig>,
}

fn file_error(format: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(&Arc::from(format), "file", why.to_string())
}

/// `e`, at `line` if known.
fn at(e: ConfigError, line: Option<usize>) -> ConfigError {
    match line {
        Some(line) => e.at_line(line),
        None => e,
    }
}

impl SeawallConfig {
    /// Reads TOML and [`validate`](Self::validate)s it: a value out of
    /// range is an error at its line.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_at(text, s.start));
            at(file_error("toml", e.message()), line)
        })?;
        config.validated(text, Format::Toml)
    }

    /// Reads YAML and [`validate`](Self::validate)s it.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            let message = e.to_string();
            // The message carries its own position; keep one, the line.
            let message = message.split(" at line ").next().unwrap_or(&message);
            at(file_error("yaml", message), line)
        })?;
        config.validated(text, Format::Yaml)
    }

    /// Reads JSON and [`validate`](Self::validate)s it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            file_error("json", message).at_line(e.line())
        })?;
        config.validated(text, Format::Json)
    }

    /// Checks every instance as building it would, building nothing: the
    /// first out of range is the error, naming the instance and the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|(_, e)| e)
    }

    /// `validate`, with the section of the instance at fault.
    fn check(&self) -> Result<(), (&'static str, ConfigError)> {
        kinds::validate_all(self)
    }

    fn validated(self, text: &str, format: Format) -> Result<Self, ConfigError> {
        match self.check() {
            Ok(()) => Ok(self),
            Err((section, e)) => {
                let line = locate::line_of(text, format, section, e.instance(), e.field());
                Err(at(e, line))
            }
        }
    }

    /// Reads a file, its format from the extension (`.toml`, `.yaml` or
    /// `.yml`, `.json`).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| file_error(&path.display().to_string(), e))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml(&text),
            Some("yaml" | "yml") => Self::from_yaml(&text),
            Some("json") => Self::from_json(&text),
            _ => Err(file_error(
                &path.display().to_string(),
                "unknown format: name the file .toml, .yaml, .yml or .json",
            )),
        }
    }

    /// As TOML (for a file to start from).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| file_error("toml", e))
    }
}
