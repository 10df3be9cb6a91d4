//! Reading a service config's JSON: every field checked, anything seawall
//! cannot honour refused by name.

use super::{error, MethodConfig, Name, RetryPolicy, MAX_ATTEMPTS};
use crate::error::ConfigError;
use crate::retry::RetryThrottle;
use serde_json::{Map, Value};
use std::time::Duration;
use tonic::Code;

pub(super) fn object<'a>(
    value: &'a Value,
    field: &'static str,
) -> Result<&'a Map<String, Value>, ConfigError> {
    value
        .as_object()
        .ok_or_else(|| error(field, "must be an object"))
}

/// A field seawall cannot honour (or does not know), refused by name.
pub(super) fn refused(key: &str, place: &str) -> ConfigError {
    const KNOWN: [(&str, &str); 8] = [
        ("hedgingPolicy", "hedging is not offered by the importer"),
        ("waitForReady", "set it on the tonic channel's requests"),
        (
            "maxRequestMessageBytes",
            "set it on the tonic client (`max_encoding_message_size`)",
        ),
        (
            "maxResponseMessageBytes",
            "set it on the tonic client (`max_decoding_message_size`)",
        ),
        ("loadBalancingConfig", "load balancing is the channel's"),
        ("loadBalancingPolicy", "load balancing is the channel's"),
        ("healthCheckConfig", "health checking is the channel's"),
        ("retryPolicy", "retryPolicy and hedgingPolicy are exclusive"),
    ];
    match KNOWN.iter().find(|(k, _)| *k == key) {
        Some((field, why)) => error(field, format!("in {place} cannot be honoured: {why}")),
        None => error("serviceConfig", format!("unknown field `{key}` in {place}")),
    }
}

pub(super) fn method_config(value: &Value, i: usize) -> Result<MethodConfig, ConfigError> {
    let place = format!("methodConfig[{i}]");
    let mut config = MethodConfig {
        names: Vec::new(),
        timeout: None,
        retry: None,
    };
    for (key, value) in object(value, "methodConfig")? {
        match key.as_str() {
            "name" => {
                let names = value
                    .as_array()
                    .ok_or_else(|| error("name", format!("in {place} must be a list")))?;
                for n in names {
                    config.names.push(name(n, &place)?);
                }
            }
            "timeout" => config.timeout = Some(duration(value, "timeout", &place)?),
            "retryPolicy" => config.retry = Some(retry_policy(value, &place)?),
            other => return Err(refused(other, &place)),
        }
    }
    if config.names.is_empty() {
        return Err(error("name", format!("{place} names no method")));
    }
    Ok(config)
}

fn name(value: &Value, place: &str) -> Result<Name, ConfigError> {
    let mut service = None;
    let mut method = None;
    for (key, v) in object(value, "name")? {
        let text = v
            .as_str()
            .ok_or_else(|| error("name", format!("in {place}: `{key}` must be a string")))?;
        match key.as_str() {
            "service" => service = Some(text.to_owned()).filter(|s| !s.is_empty()),
            "method" => method = Some(text.to_owned()).filter(|m| !m.is_empty()),
            other => {
                return Err(error(
                    "name",
                    format!("unknown field `{other}` in a name of {place}"),
                ))
            }
        }
    }
    match (service, method) {
        (None, None) => Ok(Name::Default),
        (Some(s), None) => Ok(Name::Service(s)),
        (Some(s), Some(m)) => Ok(Name::Method(s, m)),
        (None, Some(_)) => Err(error(
            "name",
            format!("a name in {place} has a method but no service"),
        )),
    }
}

fn retry_policy(value: &Value, place: &str) -> Result<RetryPolicy, ConfigError> {
    let place = format!("{place}.retryPolicy");
    let fields = object(value, "retryPolicy")?;
    let get = |field: &'static str| {
        fields
            .get(field)
            .ok_or_else(|| error(field, format!("is required in {place}")))
    };
    for key in fields.keys() {
        if ![
            "maxAttempts",
            "initialBackoff",
            "maxBackoff",
            "backoffMultiplier",
            "retryableStatusCodes",
            "perAttemptRecvTimeout",
        ]
        .contains(&key.as_str())
        {
            return Err(error(
                "retryPolicy",
                format!("unknown field `{key}` in {place}"),
            ));
        }
    }
    let max_attempts = get("maxAttempts")?
        .as_u64()
        .filter(|&n| n >= 2)
        .ok_or_else(|| {
            error(
                "maxAttempts",
                format!("in {place} must be an integer of at least 2"),
            )
        })?;
    let multiplier = get("backoffMultiplier")?
        .as_f64()
        .filter(|m| *m > 0.0)
        .ok_or_else(|| {
            error(
                "backoffMultiplier",
                format!("in {place} must be a number above 0"),
            )
        })?;
    let codes = get("retryableStatusCodes")?
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            error(
                "retryableStatusCodes",
                format!("in {place} must be a non-empty list"),
            )
        })?
        .iter()
        .map(|c| code(c, &place))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RetryPolicy {
        max_attempts: max_attempts.min(u64::from(MAX_ATTEMPTS)) as u32,
        initial_backoff: positive(get("initialBackoff")?, "initialBackoff", &place)?,
        max_backoff: positive(get("maxBackoff")?, "maxBackoff", &place)?,
        multiplier,
        codes,
        per_attempt: fields
            .get("perAttemptRecvTimeout")
            .map(|v| positive(v, "perAttemptRecvTimeout", &place))
            .transpose()?,
    })
}

pub(super) fn throttling(value: &Value) -> Result<(u32, f64), ConfigError> {
    let fields = object(value, "retryThrottling")?;
    for key in fields.keys() {
        if key != "maxTokens" && key != "tokenRatio" {
            return Err(error(
                "retryThrottling",
                format!("unknown field `{key}` in retryThrottling"),
            ));
        }
    }
    let max = fields
        .get("maxTokens")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| error("maxTokens", "is required, an integer in [1, 1000]"))?;
    let ratio = fields
        .get("tokenRatio")
        .and_then(Value::as_f64)
        .ok_or_else(|| error("tokenRatio", "is required, a number above 0"))?;
    // Validated as the throttle validates it, now rather than at `layer`.
    RetryThrottle::new(max, ratio).map_err(|e| match e.field() {
        "max_tokens" => error("maxTokens", e.message().to_owned()),
        _ => error("tokenRatio", e.message().to_owned()),
    })?;
    Ok((max, ratio))
}

/// A status code by its name (`"UNAVAILABLE"`) or number (`14`).
fn code(value: &Value, place: &str) -> Result<Code, ConfigError> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    let number = match value {
        Value::String(name) => NAMES.iter().position(|n| n == name),
        Value::Number(n) => n.as_u64().map(|n| n as usize).filter(|&n| n < NAMES.len()),
        _ => None,
    };
    match number {
        // OK is never a failure to retry.
        Some(n) if n > 0 => Ok(Code::from_i32(n as i32)),
        _ => Err(error(
            "retryableStatusCodes",
            format!("in {place}: {value} is not a status code to retry"),
        )),
    }
}

fn positive(value: &Value, field: &'static str, place: &str) -> Result<Duration, ConfigError> {
    let d = duration(value, field, place)?;
    if d.is_zero() {
        return Err(error(field, format!("in {place} must be above 0")));
    }
    Ok(d)
}

/// A protobuf JSON duration: seconds with up to nine decimals and an `s`
/// (`"1.5s"`, `"0.000001s"`).
fn duration(value: &Value, field: &'static str, place: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        error(
            field,
            format!("in {place} must be a duration like \"1.5s\", got {value}"),
        )
    };
    let text = value.as_str().ok_or_else(bad)?;
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let (secs, frac) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    Ok(Duration::new(secs, nanos))
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    use crate::grpc::ServiceConfig;

    fn refused_field(json: &str) -> &'static str {
        ServiceConfig::from_json(json).unwrap_err().field()
    }

    #[test]
    fn durations_read_as_protobuf_writes_them() {
        let d = |t: &str| duration(&Value::from(t), "timeout", "test");
        assert_eq!(d("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(d("0.000000001s").unwrap(), Duration::from_nanos(1));
        assert_eq!(d("30s").unwrap(), Duration::from_secs(30));
        for bad in ["1.5", "s", "-1s", "1.0000000001s", "1e3s", ".5s", "1.s"] {
            assert_eq!(d(bad).unwrap_err().field(), "timeout", "{bad}");
        }
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        for (json, field) in [
            (
                r#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {}}]}"#,
                "hedgingPolicy",
            ),
            (
                r#"{"methodConfig": [{"name": [{}], "waitForReady": true}]}"#,
                "waitForReady",
            ),
            (r#"{"loadBalancingConfig": []}"#, "loadBalancingConfig"),
            (r#"{"healthCheckConfig": {}}"#, "healthCheckConfig"),
            (r#"{"somethingNew": 1}"#, "serviceConfig"),
            (r#"{"methodConfig": [{"timeout": "1s"}]}"#, "name"),
            (
                r#"{"methodConfig": [{"name": [{"method": "Get"}]}]}"#,
                "name",
            ),
            (
                r#"{"methodConfig": [{"name": [{}]}, {"name": [{}]}]}"#,
                "name",
            ),
            (
                r#"{"methodConfig": [{"name": [{}], "timeout": "soon"}]}"#,
                "timeout",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 0.1}}"#,
                "maxTokens",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0}}"#,
                "tokenRatio",
            ),
            ("not json", "serviceConfig"),
        ] {
            assert_eq!(refused_field(json), field, "{json}");
        }
        let policy = |p: &str| {
            format!(r#"{{"methodConfig": [{{"name": [{{}}], "retryPolicy": {{{p}}}}}]}}"#)
        };
        let full = r#""maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]"#;
        assert!(ServiceConfig::from_json(&policy(full)).is_ok());
        for (p, field) in [
            (
                full.replace("\"maxAttempts\": 3", "\"maxAttempts\": 1"),
                "maxAttempts",
            ),
            (full.replace("\"0.1s\"", "\"0s\""), "initialBackoff"),
            (full.replace("2,", "0,"), "backoffMultiplier"),
            (
                full.replace("[\"UNAVAILABLE\"]", "[]"),
                "retryableStatusCodes",
            ),
            (
                full.replace("\"UNAVAILABLE\"", "\"OK\""),
                "retryableStatusCodes",
            ),
            (
                full.replace("\"UNAVAILABLE\"", "\"SOMETIMES\""),
                "retryableStatusCodes",
            ),
            (full.replace(", \"maxBackoff\": \"1s\"", ""), "maxBackoff"),
            (format!("{full}, \"hedgingDelay\": \"1s\""), "retryPolicy"),
        ] {
            assert_eq!(refused_field(&policy(&p)), field, "{p}");
        }
    }
}
