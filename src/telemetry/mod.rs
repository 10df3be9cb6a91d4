//! Events, listeners, and publishing to `metrics`.
//!
//! ```
//! use seawall::prelude::*;
//! use std::sync::{Arc, Mutex};
//!
//! # fn main() -> Result<(), BoxError> {
//! // Events: what happened, to whom, when.
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! let breaker = CircuitBreaker::builder("payments")
//!     .on_event(move |e| log.lock().unwrap().push(e.kind.clone()))
//!     .build()?;
//! breaker.force_open();
//! assert!(matches!(seen.lock().unwrap()[0], EventKind::StateTransition { .. }));
//!
//! // Metrics: every live instance, published to whatever recorder is installed.
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! seawall::telemetry::export_metrics();
//! assert!(prometheus.render().contains(r#"seawall_circuit_breaker_state{name="payments",state="forced_open"} 1"#));
//! # Ok(()) }
//! ```
//!
//! **Events** go to closures a user registers on a builder (`on_event`);
//! transitions and rejections are always built, per-call events (a recorded
//! success or error) only when a listener asked for that kind. Listeners run
//! after any internal lock is released, so a listener may call back into the
//! instance (e.g. `force_open()`); this is also the hook for escalation to a
//! human ("page when the breaker has been open for 5 minutes").
//!
//! **Metrics** (feature `metrics`): each instance keeps its per-call counts in
//! its own atomics; [`export_metrics`] publishes every live instance to the
//! `metrics` facade (`Counter::absolute`, gauges), and
//! [`spawn_metrics_exporter`] does so on an interval. The hot path never
//! touches the facade, and a recorder installed after the instances were built
//! still gets everything. Names follow `seawall_<pattern>_<what>` with label
//! `name`; the catalogue is [`METRICS`] (and the guide's table), described to the
//! recorder on every export ([`describe_metrics`]: `HELP` lines, units).
//!
//! **Tracing** (feature `tracing`): an `info` event on every state transition,
//! a `debug` event on every rejection and retry, target `seawall`. Besides
//! `pattern` and `name`, each carries the attributes OpenTelemetry's
//! resilience telemetry uses (as Polly names them): `event.name`
//! ([`EventKind::event_name`]: `OnRetry`, `OnCircuitOpened`, ...),
//! `strategy.name`, and on a retry `attempt.number`.
//!
//! **OpenTelemetry**: through the bridges made for it —
//! `opentelemetry-appender-tracing` makes the events OTel log records,
//! `tracing-opentelemetry` makes them events on the request's span, and
//! `metrics-exporter-opentelemetry` (or a collector scraping
//! `metrics-exporter-prometheus`) carries the metrics. `examples/opentelemetry.rs`
//! wires all three.

mod states;

pub use self::states::{CircuitState, FeatureState, GaveUp, RetryReason};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The pattern an event comes from.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::telemetry::Pattern;
/// use std::sync::{Arc, Mutex};
///
/// # fn main() -> Result<(), BoxError> {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let breaker = CircuitBreaker::builder("payments")
///     .on_event(move |e| log.lock().unwrap().push(e.pattern))
///     .build()?;
/// breaker.force_open();
/// assert_eq!(seen.lock().unwrap()[0], Pattern::CircuitBreaker);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// A circuit breaker.
    CircuitBreaker,
    /// A rate limiter (direct or keyed).
    RateLimiter,
    /// A bulkhead.
    Bulkhead,
    /// A degradation switch.
    DegradationSwitch,
    /// A retry (primitive or layer).
    Retry,
    /// A fault injector.
    Chaos,
    /// A service-level objective.
    Slo,
    /// A health registry.
    Health,
    /// A timeout.
    Timeout,
    /// A fallback.
    Fallback,
    /// A hedge.
    Hedge,
    /// An endpoint set (failover, outlier ejection).
    Failover,
    /// An adaptive concurrency limiter.
    AdaptiveLimiter,
    /// A load shedder.
    LoadShedder,
    /// A client-side adaptive throttle.
    Throttle,
}

impl Pattern {
    /// The name used in metric names and logs, e.g. `circuit_breaker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::CircuitBreaker => "circuit_breaker",
            Pattern::RateLimiter => "rate_limiter",
            Pattern::Bulkhead => "bulkhead",
            Pattern::DegradationSwitch => "degradation_switch",
            Pattern::Retry => "retry",
            Pattern::Chaos => "chaos",
            Pattern::Slo => "slo",
            Pattern::Health => "health",
            Pattern::Timeout => "timeout",
            Pattern::Fallback => "fallback",
            Pattern::Hedge => "hedge",
            Pattern::Failover => "failover",
            Pattern::AdaptiveLimiter => "adaptive_limiter",
            Pattern::LoadShedder => "load_shedder",
            Pattern::Throttle => "throttle",
        }
    }
}

/// Something that happened to an instance.
///
/// ```
/// use seawall::prelude::*;
/// use std::sync::{Arc, Mutex};
///
/// # fn main() -> Result<(), BoxError> {
/// let events = Arc::new(Mutex::new(Vec::new()));
/// let log = events.clone();
/// let breaker = CircuitBreaker::builder("payments")
///     .on_event(move |e: &Event| log.lock().unwrap().push(e.clone()))
///     .build()?;
/// breaker.force_open();
/// let e = events.lock().unwrap()[0].clone();
/// assert_eq!(&*e.name, "payments");
/// assert_eq!(e.kind, EventKind::StateTransition { from: CircuitState::Closed, to: CircuitState::ForcedOpen });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    /// The pattern of the instance.
    pub pattern: Pattern,
    /// The instance's name.
    pub name: Arc<str>,
    /// When, on the instance's clock (time since the clock's origin).
    pub at: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, per pattern.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::telemetry::Pattern;
///
/// let kind = EventKind::StateTransition { from: CircuitState::Closed, to: CircuitState::Open };
/// // The name OpenTelemetry's resilience telemetry (and Polly) give it:
/// assert_eq!(kind.event_name(Pattern::CircuitBreaker), "OnCircuitOpened");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A circuit breaker changed state.
    StateTransition {
        /// The state it left.
        from: CircuitState,
        /// The state it entered.
        to: CircuitState,
    },
    /// A call was refused.
    CallRejected {
        /// How long until the instance might admit calls again, if known.
        retry_after: Option<Duration>,
    },
    /// A call succeeded (sent only to listeners that asked for it).
    Success {
        /// How long it ran, when measured.
        duration: Option<Duration>,
    },
    /// A call failed (sent only to listeners that asked for it).
    Error {
        /// How long it ran, when measured.
        duration: Option<Duration>,
    },
    /// A call's outcome was classified as ignored.
    Ignored,
    /// A call ran longer than the slow-call threshold (successful, failed or
    /// cancelled).
    SlowCall {
        /// How long it ran.
        duration: Duration,
    },
    /// A breaker's failure rate reached its threshold and opened it (sent
    /// with the transition, before it; resilience4j's
    /// `CircuitBreakerOnFailureRateExceededEvent`).
    FailureRateExceeded {
        /// The failure rate, in percent, of the calls that decided.
        failure_rate: f32,
        /// How many calls decided: the window's, or the probes'.
        calls: u64,
    },
    /// A breaker's slow-call rate reached its threshold and opened it
    /// (resilience4j's `CircuitBreakerOnSlowCallRateExceededEvent`).
    SlowCallRateExceeded {
        /// The slow-call rate, in percent, of the calls that decided.
        slow_call_rate: f32,
        /// How many calls decided.
        calls: u64,
    },
    /// A call finished and gave its slot back (a bulkhead; sent only to
    /// listeners that asked for per-call events, like `CallPermitted`).
    CallFinished,
    /// The instance was reset by hand: state and windows cleared.
    Reset,
    /// A call was admitted (sent only to listeners that asked for it).
    CallPermitted {
        /// How long it waited for its slot, if it had to.
        waited: Option<Duration>,
    },
    /// A keyed instance evicted idle keys.
    KeysEvicted {
        /// How many.
        count: usize,
    },
    /// A limit was changed at runtime.
    LimitChanged,
    /// A setting was changed while the instance runs (a reconfiguration,
    /// or a reloaded configuration file).
    Reconfigured {
        /// The setting, by its builder's name (`failure_rate_threshold`).
        setting: &'static str,
        /// Its value before, as `Debug` prints it.
        from: String,
        /// Its value now.
        to: String,
    },
    /// An adaptive limit moved by more than its reporting share since it
    /// was last reported.
    LimitMoved {
        /// The limit last reported.
        from: usize,
        /// The limit now.
        to: usize,
    },
    /// A load shedder dropped a call for its priority.
    CallShed {
        /// The priority shed (lower is shed first).
        priority: u8,
    },
    /// A feature of a degradation switch changed state.
    FeatureChanged {
        /// The feature.
        feature: Arc<str>,
        /// Its state before.
        from: FeatureState,
        /// Its state now.
        to: FeatureState,
        /// Why: set by hand, or which bound breaker or bulkhead moved it.
        reason: Arc<str>,
    },
    /// Another live instance of the same pattern has this instance's name:
    /// their metrics are one series, and their events and health read
    /// alike. Sent once, at the first metrics export that finds it (and a
    /// `tracing` warning).
    DuplicateName,
    /// A failed attempt that would have been retried was not: its request
    /// may not be sent twice, or cannot be copied.
    NotRetried {
        /// The attempts made (the call's answer is the last one's).
        attempts: u32,
        /// Why not.
        reason: NotRetriedReason,
    },
    /// An endpoint of a set was taken out of rotation.
    EndpointEjected {
        /// Which (its place in the set).
        endpoint: usize,
        /// Why: `consecutive_failures`, `consecutive_local_origin_failures`,
        /// `success_rate`, `failure_percentage`.
        reason: &'static str,
        /// For how long.
        duration: Duration,
    },
    /// An ejected endpoint's time is over: back in rotation.
    EndpointReturned {
        /// Which (its place in the set).
        endpoint: usize,
    },
    /// A hedge sent a copy of a slow (or failed) call.
    HedgeSent {
        /// The attempt it is (2 for the first copy).
        attempt: u32,
    },
    /// A failed attempt will be retried after `delay`.
    RetryScheduled {
        /// The attempt about to be made (2 for the first retry).
        attempt: u32,
        /// How long the retry waits first.
        delay: Duration,
        /// What made the last attempt fail.
        reason: RetryReason,
    },
    /// A retry gave up: attempts used up, or the next one could not start
    /// before the deadline.
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Why it stopped.
        gave_up: GaveUp,
    },
    /// A retry was refused by its budget: retrying would add more load than
    /// the budget allows.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// A fault injector injected a fault into a call (sent only to
    /// listeners that asked for [`EventMask::FAULTS`]).
    FaultInjected {
        /// Which fault.
        kind: FaultKind,
    },
    /// A fault injector was switched on.
    ChaosEnabled,
    /// A fault injector was switched off.
    ChaosDisabled,
    /// A fault injector stopped by itself: injecting more would pass a
    /// blast-radius limit.
    BlastRadiusReached {
        /// The limit: `max_injections_per_sec` or `max_injected_share`.
        reason: &'static str,
    },
    /// An SLO's burn-rate alert fired (`firing`) or resolved.
    SloAlert {
        /// Who is told.
        severity: Severity,
        /// The burn rate over the long window when it changed.
        burn_rate: f64,
        /// The alert's long window.
        long_window: Duration,
        /// The alert's short window.
        short_window: Duration,
        /// Whether it fires now (`false`: it resolved).
        firing: bool,
    },
    /// A fleet-wide limiter (on Redis) switched to its degraded mode
    /// (`degraded`) or back.
    FleetLimitDegraded {
        /// Whether it decides without Redis now.
        degraded: bool,
        /// Why, and how it decides.
        reason: Arc<str>,
    },
    /// A health registry's readiness changed.
    ReadinessChanged {
        /// Ready now.
        ready: bool,
        /// The components not up, and why.
        reason: Arc<str>,
    },
    /// An SLO's error-budget policy engaged or released.
    BudgetPolicy {
        /// Whether it is engaged now.
        engaged: bool,
        /// Why.
        reason: Arc<str>,
    },
}

/// Who an SLO alert is for.
///
/// ```
/// use seawall::slo::BurnAlert;
/// use seawall::telemetry::Severity;
///
/// // The workbook's alerts: two that page, one that opens a ticket.
/// let alerts = BurnAlert::workbook();
/// assert!(alerts.iter().any(|a| a.severity == Severity::Page));
/// assert!(alerts.iter().any(|a| a.severity == Severity::Ticket));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Wake someone up: the budget burns fast.
    Page,
    /// A ticket for working hours: the budget burns slowly.
    Ticket,
}

impl Severity {
    /// The label used in metrics and rules: `page`, `ticket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// The kinds of fault a fault injector (`seawall::chaos::Chaos`) injects.
///
/// ```
/// use seawall::chaos::FaultKind;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("game-day").build()?;
/// chaos.set_rate(FaultKind::Error, 0.05)?;     // 5% of calls fail with `Injected`
/// chaos.set_rate(FaultKind::Latency, 0.10)?;   // 10% are delayed
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The call fails with an error.
    Error = 0,
    /// The call is delayed.
    Latency = 1,
    /// The call is answered with a made-up response.
    Outcome = 2,
    /// A side effect runs before the call.
    Behaviour = 3,
}

impl FaultKind {
    /// Every kind, in order.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Error,
        FaultKind::Latency,
        FaultKind::Outcome,
        FaultKind::Behaviour,
    ];

    /// The label used in metrics: `error`, `latency`, `outcome`, `behaviour`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Error => "error",
            FaultKind::Latency => "latency",
            FaultKind::Outcome => "outcome",
            FaultKind::Behaviour => "behaviour",
        }
    }

    /// The builder field naming this kind's rate.
    pub(crate) fn rate_field(self) -> &'static str {
        match self {
            FaultKind::Error => "error_rate",
            FaultKind::Latency => "latency_rate",
            FaultKind::Outcome => "outcome_rate",
            FaultKind::Behaviour => "behaviour_rate",
        }
    }
}

impl EventKind {
    /// The event's name in the style of Polly's resilience telemetry
    /// (OpenTelemetry attribute `event.name`): `OnRetry`,
    /// `OnCircuitOpened`, `OnRateLimiterRejected`, ... `pattern` is the
    /// instance's (a rejection is named after what rejected it).
    pub fn event_name(&self, pattern: Pattern) -> &'static str {
        match self {
            EventKind::StateTransition { to, .. } => match to {
                CircuitState::Open | CircuitState::ForcedOpen => "OnCircuitOpened",
                CircuitState::HalfOpen => "OnCircuitHalfOpened",
                CircuitState::Closed => "OnCircuitClosed",
                _ => "OnCircuitStateChanged",
            },
            EventKind::CallRejected { .. } => match pattern {
                Pattern::CircuitBreaker => "OnCircuitRejected",
                Pattern::RateLimiter => "OnRateLimiterRejected",
                Pattern::Bulkhead => "OnBulkheadRejected",
                Pattern::Timeout => "OnTimeout",
                _ => "OnRejected",
            },
            EventKind::Success { .. } => "OnSuccess",
            EventKind::Error { .. } => "OnError",
            EventKind::Ignored => "OnIgnored",
            EventKind::SlowCall { .. } => "OnSlowCall",
            EventKind::FailureRateExceeded { .. } => "OnFailureRateExceeded",
            EventKind::SlowCallRateExceeded { .. } => "OnSlowCallRateExceeded",
            EventKind::CallFinished => "OnCallFinished",
            EventKind::Reset => "OnReset",
            EventKind::CallPermitted { .. } => "OnCallPermitted",
            EventKind::KeysEvicted { .. } => "OnKeysEvicted",
            EventKind::LimitChanged => "OnLimitChanged",
            EventKind::Reconfigured { .. } => "OnConfigurationChanged",
            EventKind::LimitMoved { .. } => "OnLimitMoved",
            EventKind::CallShed { .. } => "OnCallShed",
            EventKind::FeatureChanged { .. } => "OnFeatureChanged",
            EventKind::DuplicateName => "OnDuplicateName",
            EventKind::NotRetried { .. } => "OnNotRetried",
            EventKind::RetryScheduled { .. } => "OnRetry",
            EventKind::HedgeSent { .. } => "OnHedging",
            EventKind::EndpointEjected { .. } => "OnEndpointEjected",
            EventKind::EndpointReturned { .. } => "OnEndpointReturned",
            EventKind::RetriesExhausted { .. } => "OnRetriesExhausted",
            EventKind::BudgetExhausted { .. } => "OnRetryBudgetExhausted",
            EventKind::FaultInjected { .. } => "OnFaultInjected",
            EventKind::ChaosEnabled => "OnChaosEnabled",
            EventKind::ChaosDisabled => "OnChaosDisabled",
            EventKind::BlastRadiusReached { .. } => "OnBlastRadiusReached",
            EventKind::SloAlert { .. } => "OnSloAlert",
            EventKind::FleetLimitDegraded { .. } => "OnFleetLimitDegraded",
            EventKind::ReadinessChanged { .. } => "OnReadinessChanged",
            EventKind::BudgetPolicy { .. } => "OnBudgetPolicy",
        }
    }

    fn mask(&self) -> EventMask {
        match self {
            EventKind::StateTransition { .. }
            | EventKind::FailureRateExceeded { .. }
            | EventKind::SlowCallRateExceeded { .. }
            | EventKind::Reset
            | EventKind::KeysEvicted { .. }
            | EventKind::LimitChanged
            | EventKind::Reconfigured { .. }
            | EventKind::LimitMoved { .. }
            | EventKind::FeatureChanged { .. }
            | EventKind::ChaosEnabled
            | EventKind::ChaosDisabled
            | EventKind::BlastRadiusReached { .. }
            | EventKind::SloAlert { .. }
            | EventKind::BudgetPolicy { .. }
            | EventKind::ReadinessChanged { .. }
            | EventKind::FleetLimitDegraded { .. }
            | EventKind::DuplicateName
            | EventKind::EndpointEjected { .. }
            | EventKind::EndpointReturned { .. } => EventMask::TRANSITIONS,
            EventKind::FaultInjected { .. } => EventMask::FAULTS,
            EventKind::CallRejected { .. } | EventKind::CallShed { .. } => EventMask::REJECTIONS,
            EventKind::Success { .. }
            | EventKind::CallPermitted { .. }
            | EventKind::CallFinished => EventMask::SUCCESSES,
            EventKind::Error { .. } => EventMask::ERRORS,
            EventKind::Ignored => EventMask::IGNORED,
            EventKind::SlowCall { .. } => EventMask::SLOW_CALLS,
            EventKind::RetryScheduled { .. }
            | EventKind::NotRetried { .. }
            | EventKind::HedgeSent { .. }
            | EventKind::RetriesExhausted { .. }
            | EventKind::BudgetExhausted { .. } => EventMask::RETRIES,
        }
    }
}

/// The event for `setting` moving `from` → `to`, if it moved.
pub(crate) fn reconfigured<T: fmt::Debug + PartialEq>(
    setting: &'static str,
    from: T,
    to: T,
) -> Option<EventKind> {
    (from != to).then(|| EventKind::Reconfigured {
        setting,
        from: format!("{from:?}"),
        to: format!("{to:?}"),
    })
}

/// Why a failed attempt that would have been retried was not.
///
/// ```
/// use seawall::telemetry::NotRetriedReason;
///
/// // Carried by `EventKind::NotRetried`: why a failed attempt was not sent again.
/// let why = NotRetriedReason::NotIdempotent; // a POST whose failure may have reached the server
/// assert_ne!(why, NotRetriedReason::NotReplayable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotRetriedReason {
    /// The request is not idempotent (an HTTP POST, a PATCH) and the
    /// failure may have reached the server, which may have acted on it.
    NotIdempotent,
    /// The request could not be copied for another attempt (a streaming
    /// body; a gRPC call past its retry buffer).
    NotReplayable,
}

impl NotRetriedReason {
    /// The label used in metrics: `not_idempotent`, `not_replayable`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotRetriedReason::NotIdempotent => "not_idempotent",
            NotRetriedReason::NotReplayable => "not_replayable",
        }
    }
}

/// Which kinds of event a listener wants.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::telemetry::EventMask;
///
/// # fn main() -> Result<(), ConfigError> {
/// // Only transitions and rejections: per-call events are never even built.
/// let breaker = CircuitBreaker::builder("payments")
///     .on_events(EventMask::TRANSITIONS | EventMask::REJECTIONS, |e| println!("{e:?}"))
///     .build()?;
/// # let _ = breaker; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMask(u8);

impl EventMask {
    /// State transitions (with the thresholds that caused them), resets,
    /// limit changes and evictions.
    pub const TRANSITIONS: EventMask = EventMask(1);
    /// Rejected calls.
    pub const REJECTIONS: EventMask = EventMask(2);
    /// Successful (breaker), permitted (limiter, bulkhead) and finished
    /// (bulkhead) calls, per call.
    pub const SUCCESSES: EventMask = EventMask(4);
    /// Failed calls (per call).
    pub const ERRORS: EventMask = EventMask(8);
    /// Ignored calls (per call).
    pub const IGNORED: EventMask = EventMask(16);
    /// Slow calls (per call).
    pub const SLOW_CALLS: EventMask = EventMask(32);
    /// Retries scheduled, and retries given up (exhausted, out of budget).
    pub const RETRIES: EventMask = EventMask(64);
    /// Faults injected (per call).
    pub const FAULTS: EventMask = EventMask(128);
    /// Every kind.
    pub const ALL: EventMask = EventMask(255);
    /// No kind.
    pub const NONE: EventMask = EventMask(0);

    /// Whether `self` includes every kind in `other`.
    pub fn contains(self, other: EventMask) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

impl std::ops::BitOr for EventMask {
    type Output = EventMask;
    fn bitor(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 | rhs.0)
    }
}

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// The setters every builder shares: `clock`, `on_event`, `on_events`.
/// The builder needs fields `clock: ClockHandle` and `listeners: Listeners`.
macro_rules! builder_telemetry_setters {
    () => {
        /// The clock to read time from (default: tokio's, so paused tokio
        /// time drives it).
        pub fn clock(mut self, clock: impl Into<$crate::clock::ClockHandle>) -> Self {
            self.clock = clock.into();
            self
        }

        /// Calls `f` for every event this instance emits. Listeners run
        /// after internal locks are released.
        pub fn on_event(
            self,
            f: impl Fn(&$crate::telemetry::Event) + Send + Sync + 'static,
        ) -> Self {
            self.on_events($crate::telemetry::EventMask::ALL, f)
        }

        /// The clock and listeners of something that builds instances for
        /// the user (a configuration registry).
        #[allow(dead_code)]
        pub(crate) fn telemetry(
            mut self,
            clock: &$crate::clock::ClockHandle,
            listeners: &$crate::telemetry::Listeners,
        ) -> Self {
            self.clock = clock.clone();
            self.listeners = listeners.clone();
            self
        }

        /// Calls `f` for the kinds of event in `mask` only; per-call events
        /// are not even built unless some listener asks for them.
        pub fn on_events(
            mut self,
            mask: $crate::telemetry::EventMask,
            f: impl Fn(&$crate::telemetry::Event) + Send + Sync + 'static,
        ) -> Self {
            self.listeners.push(mask, std::sync::Arc::new(f));
            self
        }
    };
}
pub(crate) use builder_telemetry_setters;

/// The listeners of one instance, fixed at build time.
#[derive(Clone, Default)]
pub(crate) struct Listeners {
    list: Vec<(EventMask, Listener)>,
    wanted: EventMask,
}

impl Default for EventMask {
    fn default() -> Self {
        EventMask::NONE
    }
}

impl Listeners {
    pub(crate) fn push(&mut self, mask: EventMask, f: Listener) {
        self.wanted = self.wanted | mask;
        self.list.push((mask, f));
    }

    /// Whether any listener wants `kind`: per-call events are built only then.
    #[inline]
    pub(crate) fn wants(&self, kind: EventMask) -> bool {
        self.wanted.0 & kind.0 != 0
    }

    /// Tells the listeners that `kind` happened now, on `clock`, to
    /// `pattern`'s instance `name`: how every pattern reports.
    pub(crate) fn emit_now(
        &self,
        pattern: Pattern,
        name: &Arc<str>,
        clock: &crate::clock::ClockHandle,
        kind: EventKind,
    ) {
        self.emit(Event {
            pattern,
            name: name.clone(),
            at: Duration::from_nanos(clock.now()),
            kind,
        });
    }

    pub(crate) fn emit(&self, event: Event) {
        #[cfg(feature = "tracing")]
        trace_event(&event);
        let mask = event.kind.mask();
        for (wanted, f) in &self.list {
            if wanted.0 & mask.0 != 0 {
                f(&event);
            }
        }
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Listeners({})", self.list.len())
    }
}

#[cfg(feature = "tracing")]
fn trace_event(event: &Event) {
    let (pattern, name) = (event.pattern.as_str(), &*event.name);
    // OpenTelemetry's resilience attributes (as Polly's telemetry names
    // them) beside seawall's own `pattern` and `name`.
    let event_name = event.kind.event_name(event.pattern);
    match &event.kind {
        EventKind::StateTransition { from, to } => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, from = ?from, to = ?to, "state transition")
        }
        EventKind::Reset => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, "reset")
        }
        EventKind::FeatureChanged {
            feature,
            from,
            to,
            reason,
        } => tracing::info!(
            target: "seawall", pattern, name, event.name = event_name, strategy.name = name, feature = &**feature, ?from, ?to, reason = &**reason, "feature changed"
        ),
        EventKind::RetryScheduled {
            attempt,
            delay,
            reason,
        } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, attempt.number = attempt, attempt, ?delay, ?reason, "retry scheduled")
        }
        EventKind::RetriesExhausted { attempts, gave_up } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, attempts, ?gave_up, "retries exhausted")
        }
        EventKind::DuplicateName => {
            tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, "another live instance of this pattern has this name: their metrics are one series")
        }
        EventKind::EndpointEjected {
            endpoint,
            reason,
            duration,
        } => {
            tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, endpoint, reason, ?duration, "endpoint ejected")
        }
        EventKind::EndpointReturned { endpoint } => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, endpoint, "endpoint returned")
        }
        EventKind::HedgeSent { attempt } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, attempt.number = attempt, "hedge sent")
        }
        EventKind::NotRetried { attempts, reason } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, attempts, reason = reason.as_str(), "not retried")
        }
        EventKind::BudgetExhausted { attempts } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, attempts, "retry budget exhausted")
        }
        EventKind::CallRejected { retry_after } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, retry_after = ?retry_after, "call rejected")
        }
        EventKind::ChaosEnabled => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, "chaos enabled")
        }
        EventKind::ChaosDisabled => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, "chaos disabled")
        }
        EventKind::BlastRadiusReached { reason } => {
            tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, reason, "blast radius reached: chaos disabled")
        }
        EventKind::SloAlert {
            severity,
            burn_rate,
            long_window,
            short_window,
            firing,
        } => {
            let what = if *firing {
                "SLO alert firing"
            } else {
                "SLO alert resolved"
            };
            if *severity == Severity::Page && *firing {
                tracing::error!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, severity = severity.as_str(), burn_rate, ?long_window, ?short_window, "{what}")
            } else {
                tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, severity = severity.as_str(), burn_rate, ?long_window, ?short_window, "{what}")
            }
        }
        EventKind::FleetLimitDegraded { degraded, reason } => {
            tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, degraded, reason = &**reason, "fleet limit")
        }
        EventKind::ReadinessChanged { ready, reason } => {
            tracing::info!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, ready, reason = &**reason, "readiness changed")
        }
        EventKind::BudgetPolicy { engaged, reason } => {
            tracing::warn!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, engaged, reason = &**reason, "error budget policy")
        }
        EventKind::FaultInjected { kind } => {
            tracing::debug!(target: "seawall", pattern, name, event.name = event_name, strategy.name = name, kind = kind.as_str(), "fault injected")
        }
        _ => {}
    }
}

#[cfg(feature = "metrics")]
mod catalogue;

#[cfg(feature = "metrics")]
pub use catalogue::{describe_metrics, MetricDescription, MetricType, METRICS};
#[cfg(feature = "metrics")]
pub use exporter::{export_metrics, spawn_metrics_exporter};

#[cfg(feature = "metrics")]
mod exporter {
    use super::{Event, EventKind, Listeners, Pattern};
    use std::sync::{Mutex, Weak};
    use std::time::Duration;

    /// Which instance an exporter is: what a duplicate name is judged on,
    /// and where it is told.
    pub(crate) struct Identity<'a> {
        pub(crate) pattern: Pattern,
        pub(crate) name: &'a std::sync::Arc<str>,
        /// Its listeners, if it has any (a timeout, a fallback: none).
        pub(crate) listeners: Option<&'a Listeners>,
        /// Its clock's time now (ns).
        pub(crate) now: u64,
    }

    /// An instance that can publish its counts to the `metrics` facade.
    pub(crate) trait ExportMetrics: Send + Sync {
        fn export(&self);
        fn identity(&self) -> Identity<'_>;
    }

    /// A registered instance, and whether it was told it shares its name.
    struct Entry {
        instance: Weak<dyn ExportMetrics>,
        told: bool,
    }

    // Cold path only: registration at build time, a walk per export.
    static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    pub(crate) fn register(instance: Weak<dyn ExportMetrics>) {
        let mut list = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|e| e.instance.strong_count() > 0);
        list.push(Entry {
            instance,
            told: false,
        });
    }

    /// Publishes the current counts and gauges of every live seawall instance
    /// to the installed `metrics` recorder. Cheap enough to call per scrape.
    ///
    /// Two live instances of one pattern with one name would publish one
    /// series: each is told once, with a `DuplicateName` event (and a
    /// `tracing` warning). Judged here, where the series merge, not at
    /// build: an instance built to replace another of its name (a preset's
    /// slot swapped) has usually replaced it by the first export.
    pub fn export_metrics() {
        // Descriptions go to whichever recorder is installed now.
        super::describe_metrics();
        let (live, duplicates) = {
            let mut list = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|e| e.instance.strong_count() > 0);
            let live: Vec<_> = list.iter().map(|e| e.instance.upgrade()).collect();
            let mut duplicates = Vec::new();
            for (i, a) in live.iter().enumerate() {
                let Some(a) = a else { continue };
                let (ida, told) = (a.identity(), list[i].told);
                let shared = live.iter().enumerate().any(|(j, b)| {
                    b.as_ref().is_some_and(|b| {
                        let idb = b.identity();
                        j != i && idb.pattern == ida.pattern && idb.name == ida.name
                    })
                });
                if shared && !told {
                    duplicates.push(a.clone());
                    list[i].told = true;
                }
            }
            (live, duplicates)
        };
        // Told and exported outside the registry lock: a listener may
        // build instances, a recorder may be slow.
        for instance in duplicates {
            let id = instance.identity();
            let event = Event {
                pattern: id.pattern,
                name: id.name.clone(),
                at: Duration::from_nanos(id.now),
                kind: EventKind::DuplicateName,
            };
            match id.listeners {
                Some(listeners) => listeners.emit(event),
                None => Listeners::default().emit(event),
            }
        }
        for instance in live.into_iter().flatten() {
            instance.export();
        }
    }

    /// Spawns a tokio task that calls [`export_metrics`] every `interval`.
    /// Must be called from within a tokio runtime.
    pub fn spawn_metrics_exporter(interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                export_metrics();
            }
        })
    }
}

#[cfg(feature = "metrics")]
pub(crate) use exporter::{register, ExportMetrics, Identity};
