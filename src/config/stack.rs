//! The standard client stack for a named downstream, its slots from a
//! registry (feature `http`).

use super::Registry;
use crate::error::ConfigError;
use crate::http::{HttpClassifier, HttpReplay, RetryHttp};
use crate::outcome::DefaultClassifier;
use crate::retry::RetryLayer;
use crate::stack::{ClientStack, Stack, SwappedClassifier};

/// The stack [`Registry::http_client`] builds: the fused
/// [`http_client`](Stack::http_client) preset, with a breaker from the
/// file (classified as the preset classifies HTTP answers).
///
/// ```
/// use seawall::config::{ConfiguredHttpClient, Registry, SeawallConfig};
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_path("examples/config/http_client.toml")?;
/// let registry = Registry::from_config(&config)?;
/// let preset: ConfiguredHttpClient = registry.http_client("inventory")?; // the file's instances in its slots
/// # let _ = preset; Ok(()) }
/// ```
pub type ConfiguredHttpClient =
    ClientStack<RetryHttp, HttpReplay, SwappedClassifier<HttpClassifier, DefaultClassifier>>;

/// The stack [`Registry::grpc_client`] builds (feature `grpc`).
///
/// ```
/// # #[cfg(feature = "grpc")]
/// # fn main() -> Result<(), seawall::BoxError> {
/// use seawall::config::{ConfiguredGrpcClient, Registry, SeawallConfig};
///
/// let config = SeawallConfig::from_toml("[retries.instances.inventory]\nmax_attempts = 2\n")?;
/// let registry = Registry::from_config(&config)?;
/// let preset: ConfiguredGrpcClient = registry.grpc_client("inventory")?;
/// # let _ = preset; Ok(()) }
/// # #[cfg(not(feature = "grpc"))]
/// # fn main() {}
/// ```
#[cfg(feature = "grpc")]
pub type ConfiguredGrpcClient = ClientStack<
    crate::grpc::RetryGrpc,
    crate::grpc::GrpcReplay,
    SwappedClassifier<crate::grpc::GrpcClassifier, DefaultClassifier>,
>;

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
        self.fill(name, Stack::http_client(name)?, |retry| {
            retry.layer().for_http()
        })
    }

    /// The [`grpc_client`](Stack::grpc_client) preset for downstream
    /// `name` (feature `grpc`), its slots filled as
    /// [`http_client`](Self::http_client)'s, the retry speaking gRPC
    /// (transport errors and `UNAVAILABLE` retried, messages replayed from
    /// the retry buffer). Give the file's retry a `deadline` (the preset's
    /// is its total timeout) for every attempt to tell the server the time
    /// left in `grpc-timeout`.
    #[cfg(feature = "grpc")]
    pub fn grpc_client(&self, name: &str) -> Result<ConfiguredGrpcClient, ConfigError> {
        use crate::grpc::{GrpcReplay, RetryGrpc};
        self.fill(name, Stack::grpc_client(name)?, |retry| {
            retry.layer().retry_if(RetryGrpc::new()).replay(GrpcReplay)
        })
    }

    /// `preset` with the file's instances named after `name` in its slots.
    fn fill<P, R, C: Clone>(
        &self,
        name: &str,
        preset: ClientStack<P, R, C>,
        retry_layer: impl FnOnce(&crate::retry::Retry) -> RetryLayer<P, R>,
    ) -> Result<ClientStack<P, R, SwappedClassifier<C, DefaultClassifier>>, ConfigError> {
        let breaker = match self.circuit_breaker(name) {
            Some(breaker) => breaker,
            None => preset.circuit_breaker_layer().handle().copy_settings()?,
        };
        let mut stack = preset.with_circuit_breaker(breaker.layer());
        if let Some(retry) = self.retry(name) {
            stack = stack.with_retry(retry_layer(&retry));
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
