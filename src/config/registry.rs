//! Named instances built from a [`SeawallConfig`].

use super::{SeawallConfig, Section};
use crate::adaptive::AdaptiveLimiter;
use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::CircuitBreaker;
use crate::error::ConfigError;
use crate::load_shed::LoadShedder;
use crate::rate_limit::RateLimiter;
use crate::timeout::{Fixed, TimeoutLayer};
use std::collections::BTreeMap;

/// Every instance a file names, built and looked up by name: cheap
/// `Clone` handles, the same instance wherever it is used.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    circuit_breakers: BTreeMap<String, CircuitBreaker>,
    rate_limiters: BTreeMap<String, RateLimiter>,
    bulkheads: BTreeMap<String, Bulkhead>,
    timeouts: BTreeMap<String, TimeoutLayer<Fixed>>,
    adaptive_limiters: BTreeMap<String, AdaptiveLimiter>,
    load_shedders: BTreeMap<String, LoadShedder>,
}

/// Builds each instance of `section` over its defaults; the first invalid
/// one fails the whole file.
fn build_all<T, I>(
    section: &Section<T>,
    merge: impl Fn(&T, &T) -> T,
    build: impl Fn(&T, &str) -> Result<I, ConfigError>,
) -> Result<BTreeMap<String, I>, ConfigError> {
    section
        .instances
        .iter()
        .map(|(name, own)| Ok((name.clone(), build(&merge(&section.defaults, own), name)?)))
        .collect()
}

impl Registry {
    /// Builds every instance of `config`; any invalid one is the error
    /// (naming the instance and the field) and nothing is built.
    pub fn from_config(config: &SeawallConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            circuit_breakers: build_all(
                &config.circuit_breakers,
                |d, o| d.merged(o),
                |c, n| c.build(n),
            )?,
            rate_limiters: build_all(&config.rate_limiters, |d, o| d.merged(o), |c, n| c.build(n))?,
            bulkheads: build_all(&config.bulkheads, |d, o| d.merged(o), |c, n| c.build(n))?,
            timeouts: build_all(&config.timeouts, |d, o| d.merged(o), |c, n| c.build(n))?,
            adaptive_limiters: build_all(
                &config.adaptive_limiters,
                |d, o| d.merged(o),
                |c, n| c.build(n),
            )?,
            load_shedders: build_all(&config.load_shedders, |d, o| d.merged(o), |c, n| c.build(n))?,
        })
    }

    /// The circuit breaker `name`.
    pub fn circuit_breaker(&self, name: &str) -> Option<CircuitBreaker> {
        self.circuit_breakers.get(name).cloned()
    }

    /// The rate limiter `name`.
    pub fn rate_limiter(&self, name: &str) -> Option<RateLimiter> {
        self.rate_limiters.get(name).cloned()
    }

    /// The bulkhead `name`.
    pub fn bulkhead(&self, name: &str) -> Option<Bulkhead> {
        self.bulkheads.get(name).cloned()
    }

    /// The timeout layer `name`.
    pub fn timeout(&self, name: &str) -> Option<TimeoutLayer<Fixed>> {
        self.timeouts.get(name).cloned()
    }

    /// The adaptive limiter `name`.
    pub fn adaptive_limiter(&self, name: &str) -> Option<AdaptiveLimiter> {
        self.adaptive_limiters.get(name).cloned()
    }

    /// The load shedder `name`.
    pub fn load_shedder(&self, name: &str) -> Option<LoadShedder> {
        self.load_shedders.get(name).cloned()
    }

    /// The adaptive limiters' names, in order.
    pub fn adaptive_limiter_names(&self) -> impl Iterator<Item = &str> {
        self.adaptive_limiters.keys().map(String::as_str)
    }

    /// The load shedders' names, in order.
    pub fn load_shedder_names(&self) -> impl Iterator<Item = &str> {
        self.load_shedders.keys().map(String::as_str)
    }

    /// The circuit breakers' names, in order.
    pub fn circuit_breaker_names(&self) -> impl Iterator<Item = &str> {
        self.circuit_breakers.keys().map(String::as_str)
    }

    /// The rate limiters' names, in order.
    pub fn rate_limiter_names(&self) -> impl Iterator<Item = &str> {
        self.rate_limiters.keys().map(String::as_str)
    }

    /// The bulkheads' names, in order.
    pub fn bulkhead_names(&self) -> impl Iterator<Item = &str> {
        self.bulkheads.keys().map(String::as_str)
    }

    /// The timeouts' names, in order.
    pub fn timeout_names(&self) -> impl Iterator<Item = &str> {
        self.timeouts.keys().map(String::as_str)
    }
}
