//! The states and reasons events and rejections carry: a breaker's state, a
//! feature's state, why an attempt is retried and why a retry gave up.
//! They live here, in Shared, so telemetry and errors name them without
//! knowing the patterns; each pattern re-exports its own
//! (`seawall::circuit_breaker::CircuitState` and so on).

/// The state of a circuit breaker.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state().as_str(), "forced_open"); // the metric label
/// assert!(!breaker.state().allows_calls());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls pass and are recorded; the breaker opens on bad rates.
    Closed,
    /// Calls are rejected until the wait in the open state ends.
    Open,
    /// A limited number of probes pass; their outcomes decide.
    HalfOpen,
    /// Calls are rejected until a manual transition.
    ForcedOpen,
    /// Calls pass; nothing is recorded.
    Disabled,
    /// Calls pass and are recorded, but the breaker never opens.
    MetricsOnly,
}

impl CircuitState {
    pub(crate) const ALL: [CircuitState; 6] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
        CircuitState::ForcedOpen,
        CircuitState::Disabled,
        CircuitState::MetricsOnly,
    ];

    /// Every state, in a fixed order.
    pub fn all() -> [CircuitState; 6] {
        Self::ALL
    }

    /// A lowercase name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::Disabled => "disabled",
            CircuitState::MetricsOnly => "metrics_only",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether calls are admitted without limit in this state.
    pub fn allows_calls(self) -> bool {
        matches!(
            self,
            CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly
        )
    }
}

/// The state of one feature.
///
/// ```
/// use seawall::prelude::*;
///
/// let switch = DegradationSwitch::builder("storefront").build();
/// let recs = switch.feature("recommendations");
/// assert_eq!(recs.state(), FeatureState::Enabled);
/// recs.set(FeatureState::Degraded, "the recommender is slow");
/// assert_eq!(recs.state(), FeatureState::Degraded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureState {
    /// The normal path.
    Enabled,
    /// The degraded path (a cheaper, cached or partial answer).
    Degraded,
    /// Not served at all: calls fail with [`FeatureDisabled`](crate::error::FeatureDisabled).
    Disabled,
}

impl FeatureState {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(FeatureState::Enabled),
            2 => Some(FeatureState::Degraded),
            3 => Some(FeatureState::Disabled),
            _ => None,
        }
    }
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            FeatureState::Enabled => 1,
            FeatureState::Degraded => 2,
            FeatureState::Disabled => 3,
        }
    }
}

/// Why an attempt is being retried.
///
/// ```
/// use seawall::retry::RetryReason;
///
/// // Carried by `EventKind::RetryScheduled`, and the `reason` label of
/// // `seawall_retry_retries_total`.
/// assert_eq!(RetryReason::Throttled.as_str(), "throttled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// The attempt failed with an error.
    Error,
    /// The attempt returned a response chosen for retry (e.g. HTTP 503).
    Response,
    /// The dependency or a local limiter said when to come back (a
    /// `RateLimited` rejection, a `Retry-After` header).
    Throttled,
}

impl RetryReason {
    /// The label used in metrics: `error`, `response`, `throttled`.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::Error => "error",
            RetryReason::Response => "response",
            RetryReason::Throttled => "throttled",
        }
    }
}

/// Why a retry loop stopped without success.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::retry::GaveUp;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("inventory").max_attempts(2).no_budget().build()?;
/// let err = retry.call(|_| async { Err::<(), _>("down") }).await.unwrap_err();
/// assert_eq!(err.gave_up, GaveUp::AttemptsExhausted);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaveUp {
    /// The result is not one to retry (a stop signal like `CircuitOpen`, or
    /// the predicate said no).
    NotRetryable,
    /// `max_attempts` attempts were made.
    AttemptsExhausted,
    /// The retry budget was empty: retrying would have added too much load.
    BudgetExhausted,
    /// The next attempt could not start before the deadline, or the
    /// dependency asked for a longer wait than `max_retry_after` allows.
    DeadlineExceeded,
    /// The retry throttle (`RetryThrottle`) had fallen to half its tokens
    /// or below: too many recent attempts failed (gRFC A6).
    Throttled,
}
