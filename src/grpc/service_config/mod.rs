//! A gRPC service config's retry policies, timeouts and retry throttling,
//! imported into per-method client stacks (feature `grpc-service-config`).

use super::{GrpcReplay, PerMethodLayer, RetryGrpc};
use crate::error::ConfigError;
use crate::retry::{Backoff, Jitter, Retry, RetryThrottle};
use crate::stack::{GrpcClientStack, Stack};
use crate::timeout::Timeout;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

/// gRPC clients never make more attempts than this, whatever a policy says
/// (gRFC A6), and neither does the importer.
pub const MAX_ATTEMPTS: u32 = 5;

/// A gRPC [service config](https://github.com/grpc/grpc/blob/master/doc/service_config.md)
/// read for what seawall can honour: each `methodConfig`'s `name`s,
/// `timeout` and `retryPolicy` (with `perAttemptRecvTimeout`), and
/// `retryThrottling`. Any other field — `hedgingPolicy`, `waitForReady`,
/// message size limits, load balancing, health checking — is refused with
/// a [`ConfigError`] naming it, rather than silently dropped.
///
/// [`layer`](Self::layer) builds a [`PerMethodLayer`] of `grpc_client`
/// presets, one per `methodConfig` entry, as a gRPC client would apply it:
///
/// | service config | seawall |
/// |---|---|
/// | `name: [{"service", "method"}]` / `[{"service"}]` / `[{}]` | a method route / a service route / the default |
/// | `timeout` | the total timeout and the retry's deadline (sent as `grpc-timeout`); without it, the preset's 10 s |
/// | `retryPolicy.maxAttempts` | `max_attempts`, at most 5 as in gRPC; no `retryPolicy`: one attempt |
/// | `initialBackoff`, `maxBackoff`, `backoffMultiplier` | exponential backoff with full jitter (gRFC A6's formula) |
/// | `retryableStatusCodes` | [`RetryGrpc::codes`] (names or numbers) |
/// | `perAttemptRecvTimeout` | the attempt timeout; without it, the preset's 2 s |
/// | `retryThrottling` | one [`RetryThrottle`] shared by every route with a `retryPolicy`, in place of the preset's retry budget |
/// | methods no entry names | one attempt, the preset's other defaults |
///
/// The breaker and bulkhead of each route are the preset's.
///
/// ```
/// use seawall::grpc::ServiceConfig;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let config = ServiceConfig::from_json(r#"{
///   "methodConfig": [{
///     "name": [{"service": "inventory.Inventory", "method": "Get"}],
///     "timeout": "1.5s",
///     "retryPolicy": {
///       "maxAttempts": 4,
///       "initialBackoff": "0.1s",
///       "maxBackoff": "1s",
///       "backoffMultiplier": 2,
///       "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
///     }
///   }],
///   "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
/// }"#)?;
/// let layer = config.layer("inventory")?;
/// // ServiceBuilder::new().layer(layer).service(channel)
/// # let _ = layer;
///
/// let refused = ServiceConfig::from_json(r#"{"methodConfig": [{"name": [{}],
///     "hedgingPolicy": {"maxAttempts": 3}}]}"#).unwrap_err();
/// assert_eq!(refused.field(), "hedgingPolicy");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    methods: Vec<MethodConfig>,
    throttling: Option<(u32, f64)>,
}

/// One `methodConfig` entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MethodConfig {
    names: Vec<Name>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Name {
    Default,
    Service(String),
    Method(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    codes: Vec<Code>,
    per_attempt: Option<Duration>,
}

/// Errors of the importer name the config, not an instance.
const SOURCE: &str = "service config";

mod parse;
use self::parse::{method_config, object, refused, throttling};

pub(super) fn error(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(&Arc::from(SOURCE), field, message)
}

impl ServiceConfig {
    /// Reads a service config from its JSON text.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| error("serviceConfig", format!("not valid JSON: {e}")))?;
        let root = object(&value, "serviceConfig")?;
        let mut config = ServiceConfig {
            methods: Vec::new(),
            throttling: None,
        };
        for (key, value) in root {
            match key.as_str() {
                "methodConfig" => {
                    let entries = value
                        .as_array()
                        .ok_or_else(|| error("methodConfig", "must be a list of method configs"))?;
                    for (i, entry) in entries.iter().enumerate() {
                        config.methods.push(method_config(entry, i)?);
                    }
                }
                "retryThrottling" => config.throttling = Some(throttling(value)?),
                other => return Err(refused(other, "the service config")),
            }
        }
        let mut seen = Vec::new();
        for name in config.methods.iter().flat_map(|m| &m.names) {
            if seen.contains(&name) {
                return Err(error(
                    "name",
                    format!("{name:?} is named by two methodConfig entries"),
                ));
            }
            seen.push(name);
        }
        Ok(config)
    }

    /// The per-method client stacks this config describes (see the table
    /// above), each a `grpc_client` preset named `{name}` (the default
    /// route) or `{name}.{service}` / `{name}.{service}.{method}` after its
    /// entry's first name.
    pub fn layer(&self, name: &str) -> Result<PerMethodLayer<GrpcClientStack>, ConfigError> {
        let throttle = self
            .throttling
            .map(|(max, ratio)| RetryThrottle::new(max, ratio))
            .transpose()?;
        let build = |instance: &str, method: Option<&MethodConfig>| {
            stack(instance, method, throttle.as_ref())
        };
        let default = self
            .methods
            .iter()
            .find(|m| m.names.contains(&Name::Default));
        let mut layer = PerMethodLayer::new(build(name, default)?);
        for method in &self.methods {
            let instance = match method.names.first() {
                Some(Name::Default) | None => continue,
                Some(Name::Service(s)) => format!("{name}.{s}"),
                Some(Name::Method(s, m)) => format!("{name}.{s}.{m}"),
            };
            let stack = build(&instance, Some(method))?;
            for n in &method.names {
                layer = match n {
                    Name::Default => layer,
                    Name::Service(s) => layer.service(s, stack.clone()),
                    Name::Method(s, m) => layer.method(s, m, stack.clone()),
                };
            }
        }
        Ok(layer)
    }
}

/// The preset for one method config (or none: one attempt).
fn stack(
    name: &str,
    method: Option<&MethodConfig>,
    throttle: Option<&RetryThrottle>,
) -> Result<GrpcClientStack, ConfigError> {
    let preset = Stack::grpc_client(name)?;
    let timeout = method.and_then(|m| m.timeout);
    let total = timeout.unwrap_or(preset.total_timeout_layer().duration());
    let policy = method.and_then(|m| m.retry.as_ref());
    let mut retry = Retry::builder(name)
        .deadline(total)
        .max_retry_after(total / 2);
    let mut predicate = RetryGrpc::new();
    match policy {
        None => retry = retry.max_attempts(1),
        Some(p) => {
            retry = retry
                .max_attempts(p.max_attempts)
                .backoff(Backoff::Exponential {
                    initial: p.initial_backoff,
                    multiplier: p.multiplier,
                    max: p.max_backoff,
                })
                .jitter(Jitter::Full);
            predicate = predicate.codes(p.codes.iter().copied());
        }
    }
    // As in gRPC, only calls with a retry policy count towards the throttle.
    if let (Some(t), Some(_)) = (throttle, policy) {
        retry = retry.throttle(t.clone()).no_budget();
    }
    let retry = retry
        .build()?
        .layer()
        .retry_if(predicate)
        .replay(GrpcReplay);
    let mut stack = preset.with_retry(retry);
    if let Some(total) = timeout {
        let t = Timeout::builder(&format!("{name}.total"))
            .duration(total)
            .build()?;
        stack = stack.with_total_timeout(t);
    }
    if let Some(per_attempt) = policy.and_then(|p| p.per_attempt) {
        let t = Timeout::builder(&format!("{name}.attempt"))
            .duration(per_attempt)
            .build()?;
        stack = stack.with_attempt_timeout(t.within_deadline());
    }
    Ok(stack)
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_read_as_grpc_reads_it() {
        let config = ServiceConfig::from_json(
            r#"{"methodConfig": [{
                "name": [{"service": "a.S", "method": "Get"}, {"service": "a.T"}],
                "timeout": "2s",
                "retryPolicy": {"maxAttempts": 9, "initialBackoff": "0.25s", "maxBackoff": "3s",
                    "backoffMultiplier": 1.5, "retryableStatusCodes": ["UNAVAILABLE", 8],
                    "perAttemptRecvTimeout": "0.5s"}
            }]}"#,
        )
        .unwrap();
        let m = &config.methods[0];
        assert_eq!(
            m.names,
            [
                Name::Method("a.S".into(), "Get".into()),
                Name::Service("a.T".into())
            ]
        );
        let p = m.retry.as_ref().unwrap();
        assert_eq!(p.max_attempts, MAX_ATTEMPTS, "clamped to 5, as gRPC does");
        assert_eq!(p.codes, [Code::Unavailable, Code::ResourceExhausted]);
        assert_eq!(p.per_attempt, Some(Duration::from_millis(500)));
        let layer = config.layer("inv").unwrap();
        let get = layer.layer_for("/a.S/Get");
        assert_eq!(get.retry_layer().handle().name(), "inv.a.S.Get");
        assert_eq!(get.total_timeout_layer().duration(), Duration::from_secs(2));
        // The same entry's second name shares its stack.
        assert_eq!(
            layer.layer_for("/a.T/Put").retry_layer().handle().name(),
            "inv.a.S.Get"
        );
        assert_eq!(
            layer.layer_for("/b.U/Get").retry_layer().handle().name(),
            "inv"
        );
    }
}
