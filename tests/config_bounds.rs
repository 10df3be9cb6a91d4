//! Every bound of every field a file sets, from both sides: the value just
//! inside loads, the value just outside is refused with this exact text,
//! at the line that sets it.
#![cfg(feature = "config")]

use seawall::config::{Registry, SeawallConfig};

/// `(section, setting lines, the error; "" when it loads)`. The error is
/// at the last setting's line, or at `@N`: a setting two keys make (`rate`
/// and `per`, CoDel's target and interval) is found at the first.
const CASES: &[(&str, &str, &str)] = &[
    // Circuit breakers.
    ("circuit_breakers", "failure_rate_threshold = 0.001", ""),
    ("circuit_breakers", "failure_rate_threshold = 100", ""),
    (
        "circuit_breakers",
        "failure_rate_threshold = 0",
        "failure_rate_threshold must be in (0, 100], got 0",
    ),
    (
        "circuit_breakers",
        "failure_rate_threshold = \"100.5%\"",
        "failure_rate_threshold must be in (0, 100], got 100.5",
    ),
    ("circuit_breakers", "slow_call_rate_threshold = \"1%\"", ""),
    (
        "circuit_breakers",
        "slow_call_rate_threshold = -5",
        "slow_call_rate_threshold must be in (0, 100], got -5",
    ),
    (
        "circuit_breakers",
        "slow_call_rate_threshold = 101",
        "slow_call_rate_threshold must be in (0, 100], got 101",
    ),
    (
        "circuit_breakers",
        "slow_call_duration_threshold = \"1ns\"",
        "",
    ),
    (
        "circuit_breakers",
        "slow_call_duration_threshold = \"0s\"",
        "slow_call_duration_threshold must be positive, got 0",
    ),
    (
        "circuit_breakers",
        "wait_duration_in_open_state = \"1ms\"",
        "",
    ),
    (
        "circuit_breakers",
        "wait_duration_in_open_state = \"0s\"",
        "wait_duration_in_open_state must be positive, got 0",
    ),
    ("circuit_breakers", "minimum_number_of_calls = 1", ""),
    (
        "circuit_breakers",
        "minimum_number_of_calls = 0",
        "minimum_number_of_calls must be at least 1, got 0",
    ),
    ("circuit_breakers", "sliding_window_size = 1", ""),
    ("circuit_breakers", "sliding_window_size = 524288", ""),
    (
        "circuit_breakers",
        "sliding_window_size = 0",
        "sliding_window count must be in 1..=524288, got 0",
    ),
    (
        "circuit_breakers",
        "sliding_window_size = 524289",
        "sliding_window count must be in 1..=524288, got 524289",
    ),
    (
        "circuit_breakers",
        "sliding_window_type = \"time\"\nsliding_window_size = 3600",
        "",
    ),
    (
        "circuit_breakers",
        "sliding_window_type = \"time\"\nsliding_window_size = 0",
        "sliding_window time must be whole seconds in 1..=3600, got 0ns",
    ),
    (
        "circuit_breakers",
        "sliding_window_type = \"time\"\nsliding_window_size = 3601",
        "sliding_window time must be whole seconds in 1..=3600, got 3601s",
    ),
    (
        "circuit_breakers",
        "permitted_number_of_calls_in_half_open_state = 1023",
        "",
    ),
    (
        "circuit_breakers",
        "permitted_number_of_calls_in_half_open_state = 0",
        "permitted_number_of_calls_in_half_open_state must be in 1..=1023, got 0",
    ),
    (
        "circuit_breakers",
        "permitted_number_of_calls_in_half_open_state = 1024",
        "permitted_number_of_calls_in_half_open_state must be in 1..=1023, got 1024",
    ),
    // Rate limiters (`rate` is required).
    (
        "rate_limiters",
        "burst = 5",
        "rate is required (calls per `per`)",
    ),
    ("rate_limiters", "rate = 1", ""),
    (
        "rate_limiters",
        "rate = 0",
        "rate count must be at least 1, got 0",
    ),
    (
        "rate_limiters",
        "rate = 1000000000\nper = \"1s\"\nburst = 10",
        "",
    ),
    // The burst defaults to the rate's count: at fault unset, at the instance's line.
    (
        "rate_limiters",
        "rate = 16777216",
        "burst must be in 1..=16777215, got 16777216 @2",
    ),
    (
        "rate_limiters",
        "rate = 1000000001\nper = \"1s\"",
        "rate 1000000001 per 1s is finer than one per nanosecond @3",
    ),
    (
        "rate_limiters",
        "rate = 1\nper = \"0s\"",
        "rate period must be positive, got 0 @3",
    ),
    ("rate_limiters", "rate = 1\nburst = 16777215", ""),
    (
        "rate_limiters",
        "rate = 1\nburst = 0",
        "burst must be in 1..=16777215, got 0",
    ),
    (
        "rate_limiters",
        "rate = 1\nburst = 16777216",
        "burst must be in 1..=16777215, got 16777216",
    ),
    ("rate_limiters", "rate = 1\nmax_wait = \"24h\"", ""),
    (
        "rate_limiters",
        "rate = 1\nmax_wait = \"24h 1ns\"",
        "max_wait must be at most 86400s, got 86400.000000001s",
    ),
    // Bulkheads.
    ("bulkheads", "max_concurrent_calls = 1", ""),
    ("bulkheads", "max_concurrent_calls = 1099511627776", ""),
    (
        "bulkheads",
        "max_concurrent_calls = 0",
        "max_concurrent_calls must be in 1..=1099511627776, got 0",
    ),
    (
        "bulkheads",
        "max_concurrent_calls = 1099511627777",
        "max_concurrent_calls must be in 1..=1099511627776, got 1099511627777",
    ),
    ("bulkheads", "max_wait = \"1h\"", ""),
    (
        "bulkheads",
        "max_wait = \"1h 1ms\"",
        "max_wait must be at most 3600s, got 3600.001s",
    ),
    // Timeouts (`duration` is required).
    ("timeouts", "", "duration is required"),
    ("timeouts", "duration = \"1ns\"", ""),
    ("timeouts", "duration = \"7days\"", ""),
    (
        "timeouts",
        "duration = \"0s\"",
        "duration must be in (0, 604800s], got 0ns",
    ),
    (
        "timeouts",
        "duration = \"7days 1s\"",
        "duration must be in (0, 604800s], got 604801s",
    ),
    // Adaptive limiters, each algorithm's own fields.
    (
        "adaptive_limiters",
        "initial_limit = 20\nmin_limit = 1\nmax_limit = 1073741824",
        "",
    ),
    (
        "adaptive_limiters",
        "min_limit = 0",
        "min_limit must be at least 1, got 0",
    ),
    (
        "adaptive_limiters",
        "max_limit = 19",
        "max_limit must be at least min_limit (20), got 19",
    ),
    (
        "adaptive_limiters",
        "initial_limit = 201",
        "initial_limit must be in min_limit..=max_limit (20..=200), got 201",
    ),
    ("adaptive_limiters", "smoothing = 1", ""),
    (
        "adaptive_limiters",
        "smoothing = 0",
        "smoothing must be in (0, 1], got 0",
    ),
    (
        "adaptive_limiters",
        "smoothing = 1.01",
        "smoothing must be in (0, 1], got 1.01",
    ),
    (
        "adaptive_limiters",
        "backoff_ratio = 0.9",
        "backoff_ratio does not apply to gradient2",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"vegas\"\nmax_limit = 1000\nsmoothing = 0.5",
        "",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"vegas\"\nmin_limit = 5",
        "min_limit does not apply to vegas",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"vegas\"\nbackoff_ratio = 0.5",
        "backoff_ratio does not apply to vegas",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"vegas\"\ninitial_limit = 0",
        "initial_limit must be in min_limit..=max_limit (1..=1000), got 0",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"aimd\"\nbackoff_ratio = 0.99",
        "",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"aimd\"\nbackoff_ratio = 1",
        "backoff_ratio must be in (0, 1), got 1",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"aimd\"\nbackoff_ratio = 0",
        "backoff_ratio must be in (0, 1), got 0",
    ),
    (
        "adaptive_limiters",
        "algorithm = \"aimd\"\nsmoothing = 0.5",
        "smoothing does not apply to aimd",
    ),
    ("adaptive_limiters", "window = \"1ms\"", ""),
    (
        "adaptive_limiters",
        "window = \"0s\"",
        "window must be positive, got 0",
    ),
    ("adaptive_limiters", "max_wait = \"1h\"", ""),
    (
        "adaptive_limiters",
        "max_wait = \"1h 1ms\"",
        "max_wait must be at most 3600s, got 3600.001s",
    ),
    // Load shedders.
    ("load_shedders", "max_in_flight = 1", ""),
    (
        "load_shedders",
        "max_in_flight = 0",
        "max_in_flight must be in 1..=1099511627776, got 0",
    ),
    (
        "load_shedders",
        "max_in_flight = 1099511627777",
        "max_in_flight must be in 1..=1099511627776, got 1099511627777",
    ),
    ("load_shedders", "min_share = \"100%\"", ""),
    (
        "load_shedders",
        "min_share = 0",
        "min_share must be in (0, 1], got 0",
    ),
    (
        "load_shedders",
        "min_share = \"101%\"",
        "min_share must be in (0, 1], got 1.01",
    ),
    (
        "load_shedders",
        "max_in_flight = 8\nmax_wait = \"7days\"",
        "",
    ),
    (
        "load_shedders",
        "max_in_flight = 8\nmax_wait = \"7days 1s\"",
        "max_wait must be at most 604800s, got 604801s",
    ),
    (
        "load_shedders",
        "max_wait = \"5ms\"",
        "max_wait needs a max_in_flight: only a call past its room waits",
    ),
    ("load_shedders", "codel_target = \"100ms\"", ""),
    (
        "load_shedders",
        "codel_target = \"0s\"",
        "codel needs 0 < target <= interval, got 0ns and 100ms",
    ),
    (
        "load_shedders",
        "codel_target = \"1s\"\ncodel_interval = \"999ms\"",
        "codel needs 0 < target <= interval, got 1s and 999ms @3",
    ),
    // Retries.
    ("retries", "max_attempts = 1", ""),
    (
        "retries",
        "max_attempts = 0",
        "max_attempts must be at least 1, got 0",
    ),
    ("retries", "backoff_multiplier = 1", ""),
    (
        "retries",
        "backoff_multiplier = 0.99",
        "backoff_multiplier must be finite and >= 1, got 0.99",
    ),
    ("retries", "wait_duration = \"5s\"", ""),
    (
        "retries",
        "wait_duration = \"5s 1ms\"",
        "max_wait_duration must be >= wait_duration (5.001s), got 5s @2",
    ),
    (
        "retries",
        "max_wait_duration = \"49ms\"",
        "max_wait_duration must be >= wait_duration (50ms), got 49ms",
    ),
    (
        "retries",
        "backoff = \"linear\"\nbackoff_multiplier = 2",
        "backoff_multiplier applies to an exponential backoff only",
    ),
    (
        "retries",
        "backoff = \"constant\"\nwait_duration = \"1h\"",
        "",
    ),
    ("retries", "randomization_factor = 1", ""),
    (
        "retries",
        "randomization_factor = 1.5",
        "randomization_factor randomization factor must be in [0, 1], got 1.5",
    ),
    (
        "retries",
        "jitter = \"equal\"\nrandomization_factor = 0.5",
        "randomization_factor conflicts with jitter: set one",
    ),
    ("retries", "deadline = \"7days\"", ""),
    (
        "retries",
        "deadline = \"0s\"",
        "deadline must be in (0, 604800s], got 0ns",
    ),
    (
        "retries",
        "deadline = \"7days 1s\"",
        "deadline must be in (0, 604800s], got 604801s",
    ),
    ("retries", "budget_ratio = \"100000%\"", ""),
    (
        "retries",
        "budget_ratio = -1",
        "budget_ratio must be in [0, 1000], got -0.01",
    ),
    (
        "retries",
        "budget_ratio = \"100001%\"",
        "budget_ratio must be in [0, 1000], got 1000.01",
    ),
    ("retries", "budget_max_balance = 1", ""),
    (
        "retries",
        "budget_max_balance = 0",
        "budget_max_balance must be at least 1, got 0",
    ),
    // Fault injectors.
    ("chaos", "error_rate = \"100%\"\nlatency_rate = 0", ""),
    (
        "chaos",
        "error_rate = \"150%\"",
        "error_rate must be in [0, 1], got 1.5",
    ),
    (
        "chaos",
        "latency_rate = -1",
        "latency_rate must be in [0, 1], got -0.01",
    ),
    ("chaos", "max_injections_per_sec = 1", ""),
    (
        "chaos",
        "max_injections_per_sec = 0",
        "max_injections_per_sec must be at least 1, got 0 (disable the injector instead)",
    ),
    ("chaos", "max_injected_share = \"100%\"", ""),
    (
        "chaos",
        "max_injected_share = 0",
        "max_injected_share must be in (0, 1], got 0",
    ),
    // Keyed rate limiters: a rate limiter's bounds, and the keys.
    ("keyed_rate_limiters", "rate = 1\nmax_keys = 1", ""),
    (
        "keyed_rate_limiters",
        "rate = 1\nmax_keys = 0",
        "max_keys must be at least 1, got 0",
    ),
    (
        "keyed_rate_limiters",
        "rate = 0",
        "rate count must be at least 1, got 0",
    ),
    // Client-side throttles.
    (
        "throttles",
        "k = 1\nmax_reject = \"100%\"\nwindow = \"20ns\"",
        "",
    ),
    ("throttles", "k = 0.99", "k must be at least 1, got 0.99"),
    (
        "throttles",
        "max_reject = \"101%\"",
        "max_reject must be in [0, 1], got 1.01",
    ),
    (
        "throttles",
        "window = \"19ns\"",
        "window must be at least 20 ns, got 19ns",
    ),
    // Hedges.
    ("hedges", "max_hedges = 1\ndelay = \"7days\"", ""),
    (
        "hedges",
        "max_hedges = 0",
        "max_hedges must be at least 1, got 0",
    ),
    (
        "hedges",
        "delay = \"0s\"",
        "delay a fixed delay of 0 sends every copy at once: say HedgeDelay::Parallel",
    ),
    (
        "hedges",
        "delay = \"7days 1s\"",
        "delay must be at most 604800s, got 604801s",
    ),
    ("hedges", "percentile = 99.9\nwindow = \"1ns\"", ""),
    (
        "hedges",
        "percentile = 100",
        "percentile must be in (0, 100), got 100",
    ),
    (
        "hedges",
        "percentile = 0",
        "percentile must be in (0, 100), got 0",
    ),
    ("hedges", "window = \"0s\"", "window must be longer than 0"),
    (
        "hedges",
        "parallel = true\nwindow = \"1s\"",
        "parallel conflicts with the learned delay's settings: set one kind @3",
    ),
    (
        "hedges",
        "delay = \"1s\"\nparallel = true",
        "delay conflicts with parallel and the learned delay's settings: set one kind @3",
    ),
    (
        "hedges",
        "budget_max_balance = 0",
        "budget_max_balance must be at least 1, got 0",
    ),
    // SLOs.
    (
        "slos",
        "objective = \"99.999%\"\nperiod = \"30days\"\nlatency_threshold = \"1ns\"",
        "",
    ),
    // The default alerts (the workbook's) need a period as long as their windows.
    (
        "slos",
        "period = \"1h\"",
        "alerts the long window 21600s is longer than the period 3600s @2",
    ),
    (
        "slos",
        "objective = \"100%\"",
        "objective must be a percentage in (0, 100), got 100",
    ),
    (
        "slos",
        "objective = 0",
        "objective must be a percentage in (0, 100), got 0",
    ),
    (
        "slos",
        "period = \"59m 59s\"",
        "period must be from 1 hour to 366 days, got 3599s",
    ),
    ("slos", "period = \"366days\"", ""),
    (
        "slos",
        "period = \"366days 1s\"",
        "period must be from 1 hour to 366 days, got 31622401s",
    ),
    (
        "slos",
        "latency_threshold = \"0s\"",
        "latency_threshold must be above zero",
    ),
    // Keyed bulkheads.
    (
        "keyed_bulkheads",
        "max_concurrent_calls = 1\nmax_keys = 1",
        "",
    ),
    (
        "keyed_bulkheads",
        "max_concurrent_calls = 0",
        "max_concurrent_calls must be in 1..=1099511627776, got 0",
    ),
    (
        "keyed_bulkheads",
        "max_keys = 0",
        "max_keys must be at least 1, got 0",
    ),
    // Failover sets' outlier detection.
    (
        "outlier_detections",
        "max_ejection_percent = 100\nconsecutive_failures = 0",
        "",
    ),
    (
        "outlier_detections",
        "max_ejection_percent = 101",
        "max_ejection_percent must be at most 100, got 101",
    ),
    (
        "outlier_detections",
        "failure_percentage_threshold = 100",
        "",
    ),
    (
        "outlier_detections",
        "failure_percentage_threshold = 101",
        "failure_percentage_threshold must be at most 100, got 101",
    ),
    (
        "outlier_detections",
        "interval = \"1ns\"\nbase_ejection_time = \"1ns\"",
        "",
    ),
    (
        "outlier_detections",
        "interval = \"0s\"",
        "interval must be longer than 0",
    ),
    (
        "outlier_detections",
        "base_ejection_time = \"0s\"",
        "base_ejection_time must be longer than 0",
    ),
    (
        "outlier_detections",
        "max_ejection_time = \"29s\"",
        "max_ejection_time must be at least base_ejection_time (30s), got 29s",
    ),
    ("outlier_detections", "success_rate_stdev_factor = 0", ""),
    (
        "outlier_detections",
        "success_rate_stdev_factor = -0.1",
        "success_rate_stdev_factor must be a number at least 0, got -0.1",
    ),
];

#[test]
fn every_bound_of_every_field_is_checked_with_its_text_and_line() {
    let mut wrong = Vec::new();
    for (section, settings, expected) in CASES {
        // Line 1 a comment, line 2 the header, the settings from line 3;
        // the error is at the last setting's line.
        let text = format!("# {section}\n[{section}.instances.x]\n{settings}\n");
        let line = 2 + settings.lines().count();
        let got = SeawallConfig::from_toml(&text).map(|c| Registry::from_config(&c));
        let got = match got {
            Ok(Ok(_)) => String::new(),
            Ok(Err(e)) => format!("registry: {e}"),
            Err(e) => e.to_string(),
        };
        let (expected, line) = match expected.split_once(" @") {
            Some((e, at)) => (e, at.parse().unwrap()),
            // A required field left out is reported at the instance's line.
            None if expected.ends_with("is required") || expected.ends_with("`per`)") => {
                (*expected, 2)
            }
            None => (*expected, line),
        };
        let want = match expected {
            "" => String::new(),
            e => format!("invalid configuration for `x`: {e} (line {line})"),
        };
        if got != want {
            wrong.push(format!(
                "{section}: {settings:?}\n   got: {got}\n  want: {want}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_value_out_of_range_is_found_in_the_defaults_and_in_each_format() {
    let toml = "[circuit_breakers.defaults]\nminimum_number_of_calls = 0\n\
                [circuit_breakers.instances.payments]\nfailure_rate_threshold = 25\n";
    assert_eq!(
        SeawallConfig::from_toml(toml).unwrap_err().to_string(),
        "invalid configuration for `payments`: minimum_number_of_calls must be at least 1, got 0 (line 2)"
    );
    let yaml = "circuit_breakers:\n  instances:\n    search: {}\n    payments:\n      \
                wait_duration_in_open_state: 30s\n      failure_rate_threshold: 150%\n";
    let e = SeawallConfig::from_yaml(yaml).unwrap_err();
    assert_eq!(
        (e.instance(), e.field(), e.line()),
        ("payments", "failure_rate_threshold", Some(6))
    );
    let json = "{\n  \"bulkheads\": {\n    \"instances\": {\n      \"reports\": {\n        \
                \"max_wait\": \"1s\",\n        \"max_concurrent_calls\": 0\n      }\n    }\n  }\n}\n";
    let e = SeawallConfig::from_json(json).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration for `reports`: max_concurrent_calls must be in 1..=1099511627776, got 0 (line 6)"
    );
    // A file built in code has no lines; the same check names the field.
    let mut c = SeawallConfig::default();
    c.bulkheads.instances.insert(
        "reports".into(),
        seawall::config::BulkheadConfig {
            max_concurrent_calls: Some(0),
            max_wait: None,
        },
    );
    assert_eq!(c.validate().unwrap_err().line(), None);
    assert_eq!(
        Registry::from_config(&c).unwrap_err().field(),
        "max_concurrent_calls"
    );
}
