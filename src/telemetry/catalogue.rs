//! Every series seawall publishes, described once: the `HELP` lines and
//! units a Prometheus scrape shows. The guide's catalogue (`guide::sre`) is this table
//! (a test holds them equal).

use metrics::Unit;

/// What kind of series a metric is.
///
/// ```
/// use seawall::telemetry::{MetricType, METRICS};
///
/// let counters = METRICS.iter().filter(|m| m.metric_type == MetricType::Counter).count();
/// assert!(counters > 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricType {
    /// A count that only grows (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of observations (seconds waited): Prometheus
    /// exporters render it as a summary unless given buckets.
    Histogram,
}

/// One series: its name, type, unit and meaning.
///
/// ```
/// use seawall::telemetry::METRICS;
///
/// let open = METRICS.iter().find(|m| m.name == "seawall_circuit_breaker_state").unwrap();
/// println!("{}: {}", open.name, open.help); // the HELP line a Prometheus scrape shows
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MetricDescription {
    /// The metric's name.
    pub name: &'static str,
    /// Its type.
    pub metric_type: MetricType,
    /// Its unit, where one applies.
    pub unit: Option<Unit>,
    /// What it counts (the `HELP` text).
    pub help: &'static str,
}

/// Every series seawall publishes.
pub const METRICS: &[MetricDescription] = &[
    MetricDescription {
        name: "seawall_circuit_breaker_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls recorded since build, by `outcome`: `success`, `failure`, `ignored`, `cancelled`",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_slow_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls that ran at least the slow-call threshold (including cancelled ones)",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_not_permitted_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls rejected (open, forced open, or half-open with every probe slot taken)",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_transitions_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Times the breaker entered `state`",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_state",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "1 for the current state, 0 for the others",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_failure_rate",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Percent),
        help: "Failure rate in percent over the window; -1 below the minimum number of calls",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_slow_call_rate",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Percent),
        help: "Slow-call rate in percent over the window; -1 below the minimum number of calls",
    },
    MetricDescription {
        name: "seawall_circuit_breaker_buffered_calls",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Calls in the window, by `kind`: `successful`, `failed`",
    },
    MetricDescription {
        name: "seawall_rate_limiter_permitted_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls admitted",
    },
    MetricDescription {
        name: "seawall_rate_limiter_rejected_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls refused (over the limit, waited too long, more than the burst, or a new key with the keyed map full)",
    },
    MetricDescription {
        name: "seawall_rate_limiter_waited_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Admitted calls that first waited for their slot",
    },
    MetricDescription {
        name: "seawall_rate_limiter_wait_seconds",
        metric_type: MetricType::Histogram,
        unit: Some(Unit::Seconds),
        help: "How long admitted calls waited (recorded when the wait ends)",
    },
    MetricDescription {
        name: "seawall_rate_limiter_keys",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Keys a keyed limiter tracks now",
    },
    MetricDescription {
        name: "seawall_rate_limiter_evicted_keys_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Idle keys a keyed limiter evicted",
    },
    MetricDescription {
        name: "seawall_bulkhead_in_flight",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Calls holding a slot",
    },
    MetricDescription {
        name: "seawall_bulkhead_max_concurrent_calls",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "The current limit",
    },
    MetricDescription {
        name: "seawall_bulkhead_waiting",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Calls queued for a slot",
    },
    MetricDescription {
        name: "seawall_bulkhead_permitted_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls admitted",
    },
    MetricDescription {
        name: "seawall_bulkhead_rejected_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls refused (full, or no slot within `max_wait`)",
    },
    MetricDescription {
        name: "seawall_bulkhead_waited_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Admitted calls that first waited",
    },
    MetricDescription {
        name: "seawall_bulkhead_wait_seconds",
        metric_type: MetricType::Histogram,
        unit: Some(Unit::Seconds),
        help: "How long admitted calls waited (recorded when the wait ends)",
    },
    MetricDescription {
        name: "seawall_adaptive_limit",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "The adaptive concurrency limit now",
    },
    MetricDescription {
        name: "seawall_adaptive_in_flight",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Calls holding a slot under the adaptive limit",
    },
    MetricDescription {
        name: "seawall_adaptive_permitted_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls the adaptive limiter admitted",
    },
    MetricDescription {
        name: "seawall_adaptive_rejected_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls the adaptive limiter refused (limit reached, or no room within `max_wait`)",
    },
    MetricDescription {
        name: "seawall_load_shedder_in_flight",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Calls a load shedder admitted that have not finished",
    },
    MetricDescription {
        name: "seawall_load_shedder_shed_below",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Priorities below this are shed at once because a queue stands (CoDel): 0, 64, 128 or 192",
    },
    MetricDescription {
        name: "seawall_load_shedder_admitted_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls a load shedder admitted",
    },
    MetricDescription {
        name: "seawall_load_shedder_shed_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls a load shedder shed, by `priority` (0 to 255)",
    },
    MetricDescription {
        name: "seawall_timeout_elapsed_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls abandoned at their timeout",
    },
    MetricDescription {
        name: "seawall_fallback_answered_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls answered from the fallback",
    },
    MetricDescription {
        name: "seawall_retry_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Original calls (first attempts)",
    },
    MetricDescription {
        name: "seawall_retry_attempts_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Every attempt: calls plus retries",
    },
    MetricDescription {
        name: "seawall_retry_retries_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Retries, by `reason`: `error`, `response` (e.g. a 503), `throttled` (`RateLimited` or `Retry-After`)",
    },
    MetricDescription {
        name: "seawall_retry_gave_up_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls that stopped retrying, by `reason`: `attempts`, `deadline`, `budget`, `throttled`",
    },
    MetricDescription {
        name: "seawall_retry_not_retried_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Failed attempts that would have been retried but were not, by `reason`: `not_idempotent` (a POST whose failure may have reached the server), `not_replayable` (the request could not be copied)",
    },
    MetricDescription {
        name: "seawall_retry_budget_balance",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Retries the budget allows now",
    },
    MetricDescription {
        name: "seawall_hedge_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls made through a hedge",
    },
    MetricDescription {
        name: "seawall_hedge_hedges_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Copies sent (hedges)",
    },
    MetricDescription {
        name: "seawall_hedge_wins_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls whose answer came from a copy",
    },
    MetricDescription {
        name: "seawall_hedge_skipped_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Copies not sent, by `reason`: `budget` (the budget refused), `deadline` (the request's deadline would not cover one)",
    },
    MetricDescription {
        name: "seawall_hedge_delay_seconds",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Seconds),
        help: "The delay before a copy now (fixed, 0, or learned); -1 while none is learned",
    },
    MetricDescription {
        name: "seawall_failover_calls_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls made through an endpoint set",
    },
    MetricDescription {
        name: "seawall_failover_failovers_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Attempts moved to another endpoint within a call",
    },
    MetricDescription {
        name: "seawall_failover_ejections_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Endpoints ejected, by `reason`: `consecutive_failures`, `consecutive_local_origin_failures`, `success_rate`, `failure_percentage`",
    },
    MetricDescription {
        name: "seawall_failover_ejected_endpoints",
        metric_type: MetricType::Gauge,
        unit: Some(Unit::Count),
        help: "Endpoints out of rotation now",
    },
    MetricDescription {
        name: "seawall_chaos_injected_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Faults injected, by `kind`: `error`, `latency`, `outcome`, `behaviour`",
    },
    MetricDescription {
        name: "seawall_chaos_enabled",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "1 while the injector injects, 0 when off",
    },
    MetricDescription {
        name: "seawall_slo_valid_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls an SLO judged (not ignored)",
    },
    MetricDescription {
        name: "seawall_slo_good_total",
        metric_type: MetricType::Counter,
        unit: Some(Unit::Count),
        help: "Calls an SLO judged good",
    },
    MetricDescription {
        name: "seawall_slo_sli_ratio",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "The SLI over the compliance period, 0 to 1",
    },
    MetricDescription {
        name: "seawall_slo_budget_remaining_ratio",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "Error budget left over the period, as a share of it (negative once overspent)",
    },
    MetricDescription {
        name: "seawall_slo_burn_rate",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "Burn rate over each alert window (`5m`, `1h`, ...)",
    },
    MetricDescription {
        name: "seawall_slo_alert_firing",
        metric_type: MetricType::Gauge,
        unit: None,
        help: "1 while the burn-rate alert with this long window fires",
    },
    MetricDescription {
        name: "seawall_retry_backoff_seconds",
        metric_type: MetricType::Histogram,
        unit: Some(Unit::Seconds),
        help: "Delay before each retry (recorded when scheduled)",
    },
];

/// Describes every series to the installed `metrics` recorder: `HELP`
/// lines and units in a Prometheus scrape. [`export_metrics`](super::export_metrics)
/// calls it on every export, so a recorder installed late still gets them.
pub fn describe_metrics() {
    for m in METRICS {
        match (m.metric_type, m.unit) {
            (MetricType::Counter, Some(u)) => metrics::describe_counter!(m.name, u, m.help),
            (MetricType::Counter, None) => metrics::describe_counter!(m.name, m.help),
            (MetricType::Gauge, Some(u)) => metrics::describe_gauge!(m.name, u, m.help),
            (MetricType::Gauge, None) => metrics::describe_gauge!(m.name, m.help),
            (MetricType::Histogram, Some(u)) => metrics::describe_histogram!(m.name, u, m.help),
            (MetricType::Histogram, None) => metrics::describe_histogram!(m.name, m.help),
        }
    }
}
