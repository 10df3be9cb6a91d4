//! Configuration files: the same settings through TOML, YAML and JSON,
//! defaults under per-instance overrides, a registry of named instances,
//! precise errors for typos, bad units and values out of range, and no
//! input that panics the loaders.
#![cfg(feature = "config")]

use proptest::prelude::*;
use seawall::config::{
    AdaptiveLimiterConfig, AlgorithmName, BulkheadConfig, ChaosConfig, CircuitBreakerConfig,
    HedgeConfig, JitterType, KeyedBulkheadConfig, KeyedCircuitBreakerConfig,
    KeyedRateLimiterConfig, LoadShedderConfig, OutlierDetectionConfig, Percent, RateLimiterConfig,
    Registry, RetryConfig, SeawallConfig, Section, SloConfig, ThrottleConfig, TimeoutConfig,
    WindowType,
};
use seawall::prelude::*;

const TOML: &str = r#"
[circuit_breakers.defaults]
failure_rate_threshold = "50%"
wait_duration_in_open_state = "30s"
sliding_window_type = "count"
sliding_window_size = 20

[circuit_breakers.instances.payments]
failure_rate_threshold = "25%"

[circuit_breakers.instances.search]
minimum_number_of_calls = 5

[rate_limiters.instances.search]
rate = 100
per = "1s"
burst = 20
max_wait = "50ms"

[bulkheads.defaults]
max_concurrent_calls = 8

[bulkheads.instances.reports]
max_wait = "250ms"

[timeouts.instances.payments]
duration = "2s 500ms"

[adaptive_limiters.instances.inventory]
algorithm = "vegas"
initial_limit = 30
max_limit = 300
window = "200ms"

[load_shedders.instances.api]
max_in_flight = 64
min_share = "25%"
max_wait = "20ms"
codel_target = "2ms"

[retries.defaults]
max_attempts = 3
jitter = "full"

[retries.instances.payments]
wait_duration = "100ms"
backoff_multiplier = 1.5
max_wait_duration = "2s"
deadline = "10s"
max_retry_after = "5s"
budget_ratio = "10%"
budget_min_retries_per_second = 5

[chaos.instances.inventory]
enabled = false
error_rate = "30%"
latency_rate = "10%"
latency = "100ms"
latency_max = "800ms"
max_injected_share = "5%"

[keyed_rate_limiters.instances.per_client]
rate = 10
per = "1s"
max_keys = 10000

[throttles.instances.search]
k = 1.5
max_reject = "80%"
window = "1m"

[hedges.instances.search]
max_hedges = 2
percentile = 99.0
window = "5s"
budget_ratio = "5%"

[slos.instances.checkout]
objective = "99.95%"
period = "28days"
latency_threshold = "300ms"

[keyed_circuit_breakers.instances.per_host]
max_keys = 1000

[keyed_circuit_breakers.instances.per_host.breaker]
failure_rate_threshold = "40%"

[keyed_bulkheads.instances.per_tenant]
max_concurrent_calls = 4
max_keys = 500

[outlier_detections.instances.inventory]
consecutive_failures = 3
base_ejection_time = "10s"
max_ejection_percent = 50
"#;

const YAML: &str = r#"
circuit_breakers:
  defaults:
    failure_rate_threshold: 50%
    wait_duration_in_open_state: 30s
    sliding_window_type: count
    sliding_window_size: 20
  instances:
    payments:
      failure_rate_threshold: 25%
    search:
      minimum_number_of_calls: 5
rate_limiters:
  instances:
    search: { rate: 100, per: 1s, burst: 20, max_wait: 50ms }
bulkheads:
  defaults: { max_concurrent_calls: 8 }
  instances:
    reports: { max_wait: 250ms }
timeouts:
  instances:
    payments: { duration: 2s 500ms }
adaptive_limiters:
  instances:
    inventory: { algorithm: vegas, initial_limit: 30, max_limit: 300, window: 200ms }
load_shedders:
  instances:
    api: { max_in_flight: 64, min_share: 25%, max_wait: 20ms, codel_target: 2ms }
retries:
  defaults: { max_attempts: 3, jitter: full }
  instances:
    payments:
      wait_duration: 100ms
      backoff_multiplier: 1.5
      max_wait_duration: 2s
      deadline: 10s
      max_retry_after: 5s
      budget_ratio: 10%
      budget_min_retries_per_second: 5
chaos:
  instances:
    inventory:
      enabled: false
      error_rate: 30%
      latency_rate: 10%
      latency: 100ms
      latency_max: 800ms
      max_injected_share: 5%
keyed_rate_limiters:
  instances:
    per_client: { rate: 10, per: 1s, max_keys: 10000 }
throttles:
  instances:
    search: { k: 1.5, max_reject: 80%, window: 1m }
hedges:
  instances:
    search: { max_hedges: 2, percentile: 99.0, window: 5s, budget_ratio: 5% }
slos:
  instances:
    checkout: { objective: 99.95%, period: 28days, latency_threshold: 300ms }
keyed_circuit_breakers:
  instances:
    per_host:
      max_keys: 1000
      breaker: { failure_rate_threshold: 40% }
keyed_bulkheads:
  instances:
    per_tenant: { max_concurrent_calls: 4, max_keys: 500 }
outlier_detections:
  instances:
    inventory: { consecutive_failures: 3, base_ejection_time: 10s, max_ejection_percent: 50 }
"#;

const JSON: &str = r#"{
  "circuit_breakers": {
    "defaults": { "failure_rate_threshold": "50%", "wait_duration_in_open_state": "30s",
                  "sliding_window_type": "count", "sliding_window_size": 20 },
    "instances": { "payments": { "failure_rate_threshold": 25 },
                   "search": { "minimum_number_of_calls": 5 } }
  },
  "rate_limiters": { "instances": { "search": { "rate": 100, "per": "1s", "burst": 20, "max_wait": "50ms" } } },
  "bulkheads": { "defaults": { "max_concurrent_calls": 8 }, "instances": { "reports": { "max_wait": "250ms" } } },
  "timeouts": { "instances": { "payments": { "duration": "2500ms" } } },
  "adaptive_limiters": { "instances": { "inventory": {
    "algorithm": "vegas", "initial_limit": 30, "max_limit": 300, "window": "200ms" } } },
  "load_shedders": { "instances": { "api": {
    "max_in_flight": 64, "min_share": 25, "max_wait": "20ms", "codel_target": "2ms" } } },
  "retries": {
    "defaults": { "max_attempts": 3, "jitter": "full" },
    "instances": { "payments": {
      "wait_duration": "100ms", "backoff_multiplier": 1.5, "max_wait_duration": "2s",
      "deadline": "10s", "max_retry_after": "5s", "budget_ratio": "10%",
      "budget_min_retries_per_second": 5 } } },
  "chaos": { "instances": { "inventory": {
    "enabled": false, "error_rate": "30%", "latency_rate": 10, "latency": "100ms",
    "latency_max": "800ms", "max_injected_share": "5%" } } },
  "keyed_rate_limiters": { "instances": { "per_client": {
    "rate": 10, "per": "1s", "max_keys": 10000 } } },
  "throttles": { "instances": { "search": { "k": 1.5, "max_reject": "80%", "window": "1m" } } },
  "hedges": { "instances": { "search": {
    "max_hedges": 2, "percentile": 99.0, "window": "5s", "budget_ratio": "5%" } } },
  "slos": { "instances": { "checkout": {
    "objective": 99.95, "period": "28days", "latency_threshold": "300ms" } } },
  "keyed_circuit_breakers": { "instances": { "per_host": {
    "max_keys": 1000, "breaker": { "failure_rate_threshold": "40%" } } } },
  "keyed_bulkheads": { "instances": { "per_tenant": { "max_concurrent_calls": 4, "max_keys": 500 } } },
  "outlier_detections": { "instances": { "inventory": {
    "consecutive_failures": 3, "base_ejection_time": "10s", "max_ejection_percent": 50 } } }
}"#;

fn expected() -> SeawallConfig {
    let mut c = SeawallConfig::default();
    c.circuit_breakers.defaults = CircuitBreakerConfig {
        failure_rate_threshold: Some(Percent(50.0)),
        wait_duration_in_open_state: Some(Duration::from_secs(30)),
        sliding_window_type: Some(WindowType::Count),
        sliding_window_size: Some(20),
        ..Default::default()
    };
    c.circuit_breakers.instances.insert(
        "payments".into(),
        CircuitBreakerConfig {
            failure_rate_threshold: Some(Percent(25.0)),
            ..Default::default()
        },
    );
    c.circuit_breakers.instances.insert(
        "search".into(),
        CircuitBreakerConfig {
            minimum_number_of_calls: Some(5),
            ..Default::default()
        },
    );
    c.rate_limiters = Section {
        defaults: RateLimiterConfig::default(),
        instances: [(
            "search".to_string(),
            RateLimiterConfig {
                rate: Some(100),
                per: Some(Duration::from_secs(1)),
                burst: Some(20),
                max_wait: Some(Duration::from_millis(50)),
            },
        )]
        .into(),
    };
    c.bulkheads.defaults = BulkheadConfig {
        max_concurrent_calls: Some(8),
        max_wait: None,
    };
    c.bulkheads.instances.insert(
        "reports".into(),
        BulkheadConfig {
            max_concurrent_calls: None,
            max_wait: Some(Duration::from_millis(250)),
        },
    );
    c.timeouts.instances.insert(
        "payments".into(),
        TimeoutConfig {
            duration: Some(Duration::from_millis(2500)),
        },
    );
    c.adaptive_limiters.instances.insert(
        "inventory".into(),
        AdaptiveLimiterConfig {
            algorithm: Some(AlgorithmName::Vegas),
            initial_limit: Some(30),
            max_limit: Some(300),
            window: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    c.load_shedders.instances.insert(
        "api".into(),
        LoadShedderConfig {
            max_in_flight: Some(64),
            min_share: Some(Percent(25.0)),
            max_wait: Some(Duration::from_millis(20)),
            codel_target: Some(Duration::from_millis(2)),
            codel_interval: None,
        },
    );
    c.retries.defaults = RetryConfig {
        max_attempts: Some(3),
        jitter: Some(JitterType::Full),
        ..Default::default()
    };
    c.retries.instances.insert(
        "payments".into(),
        RetryConfig {
            wait_duration: Some(Duration::from_millis(100)),
            backoff_multiplier: Some(1.5),
            max_wait_duration: Some(Duration::from_secs(2)),
            deadline: Some(Duration::from_secs(10)),
            max_retry_after: Some(Duration::from_secs(5)),
            budget_ratio: Some(Percent(10.0)),
            budget_min_retries_per_second: Some(5),
            ..Default::default()
        },
    );
    c.chaos.instances.insert(
        "inventory".into(),
        ChaosConfig {
            enabled: Some(false),
            error_rate: Some(Percent(30.0)),
            latency_rate: Some(Percent(10.0)),
            latency: Some(Duration::from_millis(100)),
            latency_max: Some(Duration::from_millis(800)),
            max_injected_share: Some(Percent(5.0)),
            ..Default::default()
        },
    );
    c.keyed_rate_limiters.instances.insert(
        "per_client".into(),
        KeyedRateLimiterConfig {
            rate: Some(10),
            per: Some(Duration::from_secs(1)),
            max_keys: Some(10_000),
            ..Default::default()
        },
    );
    c.throttles.instances.insert(
        "search".into(),
        ThrottleConfig {
            k: Some(1.5),
            max_reject: Some(Percent(80.0)),
            window: Some(Duration::from_secs(60)),
        },
    );
    c.hedges.instances.insert(
        "search".into(),
        HedgeConfig {
            max_hedges: Some(2),
            percentile: Some(99.0),
            window: Some(Duration::from_secs(5)),
            budget_ratio: Some(Percent(5.0)),
            ..Default::default()
        },
    );
    c.slos.instances.insert(
        "checkout".into(),
        SloConfig {
            objective: Some(Percent(99.95)),
            period: Some(Duration::from_secs(28 * 86_400)),
            latency_threshold: Some(Duration::from_millis(300)),
        },
    );
    c.keyed_circuit_breakers.instances.insert(
        "per_host".into(),
        KeyedCircuitBreakerConfig {
            max_keys: Some(1000),
            breaker: CircuitBreakerConfig {
                failure_rate_threshold: Some(Percent(40.0)),
                ..Default::default()
            },
        },
    );
    c.keyed_bulkheads.instances.insert(
        "per_tenant".into(),
        KeyedBulkheadConfig {
            max_concurrent_calls: Some(4),
            max_keys: Some(500),
        },
    );
    c.outlier_detections.instances.insert(
        "inventory".into(),
        OutlierDetectionConfig {
            consecutive_failures: Some(3),
            base_ejection_time: Some(Duration::from_secs(10)),
            max_ejection_percent: Some(50),
            ..Default::default()
        },
    );
    c
}

#[test]
fn the_same_settings_read_alike_from_toml_yaml_and_json() {
    assert_eq!(SeawallConfig::from_toml(TOML).unwrap(), expected());
    assert_eq!(SeawallConfig::from_yaml(YAML).unwrap(), expected());
    assert_eq!(SeawallConfig::from_json(JSON).unwrap(), expected());
}

#[test]
fn every_format_round_trips() {
    let c = expected();
    assert_eq!(SeawallConfig::from_toml(&c.to_toml().unwrap()).unwrap(), c);
    assert_eq!(
        SeawallConfig::from_json(&serde_json::to_string(&c).unwrap()).unwrap(),
        c
    );
    assert_eq!(
        SeawallConfig::from_yaml(&serde_norway::to_string(&c).unwrap()).unwrap(),
        c
    );
}

#[test]
fn files_are_read_by_their_extension() {
    let dir = std::env::temp_dir().join(format!("seawall-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [("a.toml", TOML), ("a.yaml", YAML), ("a.json", JSON)] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            SeawallConfig::from_path(&path).unwrap(),
            expected(),
            "{name}"
        );
    }
    let odd = dir.join("a.ini");
    std::fs::write(&odd, "x").unwrap();
    let e = SeawallConfig::from_path(&odd).unwrap_err();
    assert!(e.to_string().contains("unknown format"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn instances_take_the_defaults_they_leave_out() {
    let registry = Registry::from_config(&expected()).unwrap();
    assert_eq!(registry.circuit_breaker_names(), ["payments", "search"]);
    let reports = registry.bulkhead("reports").unwrap();
    assert_eq!(
        reports.metrics().max_concurrent_calls,
        8,
        "from the defaults"
    );
    assert_eq!(
        registry
            .rate_limiter("search")
            .unwrap()
            .policy()
            .burst_capacity,
        20
    );
    assert_eq!(
        registry.timeout("payments").unwrap().duration(),
        Duration::from_millis(2500)
    );
    // The registry hands out the one instance: both see the same state.
    let a = registry.circuit_breaker("payments").unwrap();
    let b = registry.circuit_breaker("payments").unwrap();
    a.force_open();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    assert!(registry.circuit_breaker("nobody").is_none());
}

#[test]
fn a_typo_is_an_error_with_its_line() {
    let e = SeawallConfig::from_toml(
        "[circuit_breakers.instances.payments]\nfailure_rate_treshold = \"50%\"\n",
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("unknown field `failure_rate_treshold`"),
        "{text}"
    );
    assert!(text.contains("(line 2)"), "{text}");
    let e = SeawallConfig::from_yaml("bulkheads:\n  instances:\n    a:\n      max_wiat: 1s\n")
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `max_wiat`"), "{e}");
    assert!(e.to_string().contains("(line 4)"), "{e}");
    let e = SeawallConfig::from_json(
        "{\n\"timeouts\": {\"instances\": {\"a\": {\"durration\": \"1s\"}}}\n}",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `durration`"), "{e}");
    assert!(e.to_string().contains("(line 2)"), "{e}");
}

#[test]
fn bad_units_are_errors_with_their_line() {
    let e = SeawallConfig::from_toml("[timeouts.instances.a]\n\nduration = \"2 parsecs\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("(line 3)"), "{e}");
    let e = SeawallConfig::from_toml(
        "[circuit_breakers.instances.a]\nfailure_rate_threshold = \"half\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a percentage: \"half\""), "{e}");
}

#[test]
fn a_value_out_of_range_names_the_instance_and_the_field_and_builds_nothing() {
    // The loader checks what it reads, and says where.
    let e = SeawallConfig::from_toml(
        "[circuit_breakers.instances.ok]\n[circuit_breakers.instances.payments]\nfailure_rate_threshold = \"150%\"\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.instance(), e.field(), e.line()),
        ("payments", "failure_rate_threshold", Some(3))
    );
    // A file made in code is checked as the registry builds it.
    let mut c = SeawallConfig::default();
    c.circuit_breakers
        .instances
        .insert("ok".into(), Default::default());
    c.bulkheads.instances.insert(
        "reports".into(),
        BulkheadConfig {
            max_concurrent_calls: Some(0),
            max_wait: None,
        },
    );
    let e = Registry::from_config(&c).unwrap_err();
    assert_eq!(
        (e.instance(), e.field()),
        ("reports", "max_concurrent_calls")
    );
    let e = SeawallConfig::from_toml("[rate_limiters.instances.search]\nburst = 5\n").unwrap_err();
    assert_eq!(
        (e.instance(), e.field(), e.line()),
        ("search", "rate", Some(1))
    );
}

proptest! {
    #[test]
    fn no_input_panics_the_loaders(text in "\\PC{0,200}") {
        let _ = SeawallConfig::from_toml(&text);
        let _ = SeawallConfig::from_yaml(&text);
        let _ = SeawallConfig::from_json(&text);
    }

    #[test]
    fn no_parsed_config_panics_the_registry(
        rate in proptest::option::of(any::<u32>()),
        burst in proptest::option::of(any::<u32>()),
        percent in proptest::option::of(-1000.0f64..1000.0),
        calls in proptest::option::of(any::<usize>()),
        size in proptest::option::of(any::<u32>()),
    ) {
        let mut c = SeawallConfig::default();
        c.rate_limiters.instances.insert("r".into(), RateLimiterConfig { rate, burst, ..Default::default() });
        c.circuit_breakers.instances.insert("b".into(), CircuitBreakerConfig {
            failure_rate_threshold: percent.map(Percent),
            sliding_window_size: size,
            ..Default::default()
        });
        c.bulkheads.instances.insert("h".into(), BulkheadConfig { max_concurrent_calls: calls, max_wait: None });
        let _ = Registry::from_config(&c);
    }
}

#[test]
fn adaptive_limiters_and_load_shedders_come_from_a_file_too() {
    let c = SeawallConfig::from_yaml(
        r#"
adaptive_limiters:
  defaults: { window: 200ms }
  instances:
    inventory: { algorithm: vegas, initial_limit: 30, max_limit: 300 }
    search: { algorithm: aimd, initial_limit: 40, min_limit: 5, backoff_ratio: 0.8 }
    default_rule: {}
load_shedders:
  instances:
    api: { max_in_flight: 64, min_share: 25%, max_wait: 20ms, codel_target: 2ms }
    edge: {}
"#,
    )
    .unwrap();
    let registry = Registry::from_config(&c).unwrap();
    assert_eq!(registry.adaptive_limiter("inventory").unwrap().limit(), 30);
    assert_eq!(registry.adaptive_limiter("search").unwrap().limit(), 40);
    assert_eq!(
        registry.adaptive_limiter("default_rule").unwrap().limit(),
        20,
        "Gradient2's initial limit"
    );
    assert_eq!(registry.load_shedder_names(), ["api", "edge"]);
    // 64 in flight, a quarter for the lowest priority: the 17th sheddable
    // call is shed.
    let api = registry.load_shedder("api").unwrap();
    let held: Vec<_> = (0..16)
        .map(|_| {
            api.try_acquire(seawall::load_shed::Priority::SHEDDABLE)
                .unwrap()
        })
        .collect();
    assert!(api
        .try_acquire(seawall::load_shed::Priority::SHEDDABLE)
        .is_err());
    drop(held);
    let e = SeawallConfig::from_toml(
        "[adaptive_limiters.instances.x]\nalgorithm = \"vegas\"\nbackoff_ratio = 0.5\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.instance(), e.field(), e.line()),
        ("x", "backoff_ratio", Some(3))
    );
    assert!(e.to_string().contains("does not apply to vegas"), "{e}");
    let e = SeawallConfig::from_toml(
        "[adaptive_limiters.instances.x]\nmin_limit = 50\nmax_limit = 10\n",
    )
    .unwrap_err();
    assert_eq!(e.field(), "max_limit");
    let e =
        SeawallConfig::from_toml("[load_shedders.instances.x]\nmax_wait = \"5ms\"\n").unwrap_err();
    assert_eq!(e.field(), "max_wait");
}
