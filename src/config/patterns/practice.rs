//! Sections for the SRE practice: SLOs and fault injectors.

use super::Percent;
use crate::chaos::{Chaos, ChaosBuilder, Latency};
use crate::error::ConfigError;
use crate::slo::{Slo, SloBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A service-level objective's settings (the workbook's burn-rate alerts).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [slos.instances.checkout]
/// objective = "99.9%"
/// period = "28d"
/// latency_threshold = "300ms"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.slo("checkout").expect("in the file").objective(), 99.9);
/// # Ok(()) }
/// ```
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

/// A fault injector's settings: rates as percentages of calls.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// # use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml(r#"
/// [chaos.instances.inventory]
/// enabled = false                    # armed; switch on by editing the file
/// error_rate = "5%"
/// "#)?;
/// let registry = Registry::from_config(&config)?;
/// assert_eq!(registry.chaos("inventory").expect("in the file").is_enabled(), false);
/// # Ok(()) }
/// ```
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
