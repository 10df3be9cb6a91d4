//! A health registry filled from a configuration registry.

use super::Registry;
use crate::health::{Criticality, HealthRegistry};

impl Registry {
    /// A [`HealthRegistry`] reporting each circuit breaker (at
    /// `breakers`' criticality), bulkhead, rate limiter and SLO this
    /// registry holds, under its name, breakers first; add your own checks
    /// to it.
    /// It holds the instances there now: a reload's new settings reach it,
    /// but after a reload that adds or drops instances, build it again.
    ///
    /// ```
    /// use seawall::config::{Registry, SeawallConfig};
    /// use seawall::health::Criticality;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::ConfigError> {
    /// let config = SeawallConfig::from_toml("[circuit_breakers.instances.db]\n[bulkheads.instances.reports]\n")?;
    /// let registry = Registry::from_config(&config)?;
    /// let health = registry.health(Criticality::Critical);
    /// registry.circuit_breaker("db").unwrap().force_open();
    /// assert!(!health.report().await.ready, "a critical breaker is open");
    /// # Ok(()) }
    /// ```
    pub fn health(&self, breakers: Criticality) -> HealthRegistry {
        let mut health = HealthRegistry::new();
        for name in self.circuit_breaker_names() {
            if let Some(b) = self.circuit_breaker(&name) {
                health = health.breaker(&name, &b, breakers);
            }
        }
        for name in self.bulkhead_names() {
            if let Some(b) = self.bulkhead(&name) {
                health = health.bulkhead(&name, &b);
            }
        }
        for name in self.rate_limiter_names() {
            if let Some(l) = self.rate_limiter(&name) {
                health = health.rate_limiter(&name, &l);
            }
        }
        for name in self.slo_names() {
            if let Some(slo) = self.slo(&name) {
                health = health.slo(&slo);
            }
        }
        health
    }
}
