//! The standard client stack for a named downstream, its slots from a
//! registry (feature `http`).

use super::Registry;
use crate::error::ConfigError;
use crate::http::{HttpClassifier, HttpReplay, RetryHttp};
use crate::outcome::DefaultClassifier;
use crate::stack::{ClientStack, Stack, SwappedClassifier};

/// The stack [`Registry::http_client`] builds: the fused
/// [`http_client`](Stack::http_client) preset, with a breaker from the
/// file (classified as the preset classifies HTTP answers).
pub type ConfiguredHttpClient =
    ClientStack<RetryHttp, HttpReplay, SwappedClassifier<HttpClassifier, DefaultClassifier>>;

impl Registry {
    /// The [`http_client`](Stack::http_client) preset for downstream
    /// `name`, its slots the instances the file names after it: circuit
    /// breaker `name`, retry `name` (for HTTP: only idempotent requests,
    /// errors and 429/502/503/504 retried), bulkhead `name`, and timeouts
    /// `{name}.total` and `{name}.attempt` (the attempt timeout shortened to
    /// a request's [`Deadline`](crate::http::Deadline)). The stack holds
    /// those very instances, so a [`reload`](Self::reload) reaches it. A
    /// slot the file leaves out keeps the preset's default, which no reload
    /// changes. Still fused: it costs what the preset costs.
    ///
    /// ```
    /// use seawall::config::{Registry, SeawallConfig};
    ///
    /// # fn main() -> Result<(), seawall::ConfigError> {
    /// let config = SeawallConfig::from_toml(r#"
    /// [circuit_breakers.instances.inventory]
    /// minimum_number_of_calls = 20
    /// wait_duration_in_open_state = "30s"
    ///
    /// [timeouts.instances."inventory.attempt"]
    /// duration = "500ms"
    /// "#)?;
    /// let registry = Registry::from_config(&config)?;
    /// let stack = registry.http_client("inventory")?; // stack.layer(client)
    /// assert_eq!(stack.attempt_timeout_layer().duration().as_millis(), 500);
    /// # Ok(()) }
    /// ```
    pub fn http_client(&self, name: &str) -> Result<ConfiguredHttpClient, ConfigError> {
        let preset = Stack::http_client(name)?;
        let breaker = match self.circuit_breaker(name) {
            Some(breaker) => breaker,
            None => preset.circuit_breaker_layer().handle().copy_settings()?,
        };
        let mut stack = preset.with_circuit_breaker(breaker.layer());
        if let Some(retry) = self.retry(name) {
            stack = stack.with_retry(retry.layer().for_http());
        }
        if let Some(bulkhead) = self.bulkhead(name) {
            stack = stack.with_bulkhead(bulkhead.layer());
        }
        if let Some(total) = self.timeout(&format!("{name}.total")) {
            stack = stack.with_total_timeout(total);
        }
        if let Some(attempt) = self.timeout(&format!("{name}.attempt")) {
            stack = stack.with_attempt_timeout(attempt.within_deadline());
        }
        Ok(stack)
    }
}
