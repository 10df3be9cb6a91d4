//! The breaker's configuration and its builder.

use super::{CircuitBreaker, CircuitState};
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::outcome::DefaultClassifier;
use crate::telemetry::Listeners;
use std::sync::Arc;
use std::time::Duration;

/// The largest count window: counts are packed 21 bits to a field with
/// headroom for transient negatives (see `window.rs`).
pub const MAX_COUNT_WINDOW: u32 = 1 << 19;
/// The longest time window, in seconds (one bucket per second).
pub const MAX_TIME_WINDOW_SECS: u64 = 3600;
/// The most probes a half-open breaker may admit (10 bits of the state word).
pub const MAX_HALF_OPEN_CALLS: u32 = 1023;

/// How the breaker judges the dependency's recent health.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let last_100_calls = SlidingWindow::count(100);
/// let last_minute = SlidingWindow::time(Duration::from_secs(60));
/// let five_in_a_row = SlidingWindow::consecutive_failures(5);
/// let breaker = CircuitBreaker::builder("payments").sliding_window(five_in_a_row).build()?;
/// # let _ = (last_100_calls, last_minute, breaker); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` recorded calls.
    Count(u32),
    /// The calls of the last `n` seconds, kept in one-second buckets.
    Time(Duration),
    /// Open after `k` failures in a row; any success resets the run. In
    /// half-open, any failed probe re-opens.
    ConsecutiveFailures(u32),
}

impl SlidingWindow {
    /// A count-based window over the last `n` calls.
    pub fn count(n: u32) -> Self {
        SlidingWindow::Count(n)
    }
    /// A time-based window over the last `duration` (whole seconds).
    pub fn time(duration: Duration) -> Self {
        SlidingWindow::Time(duration)
    }
    /// The consecutive-failures model: open after `k` failures in a row.
    pub fn consecutive_failures(k: u32) -> Self {
        SlidingWindow::ConsecutiveFailures(k)
    }
}

/// How long the breaker stays open before it lets probes through.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// // 10 s after the first opening in a row, then 20 s, 40 s, ... at most 5 min.
/// let breaker = CircuitBreaker::builder("payments")
///     .wait_duration_in_open_state_backoff(WaitDuration::Exponential {
///         initial: Duration::from_secs(10),
///         multiplier: 2.0,
///         max: Duration::from_secs(300),
///     })
///     .build()?;
/// # let _ = breaker; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitDuration {
    /// Always the same.
    Fixed(Duration),
    /// `initial · multiplier^(k-1)` for the k-th opening in a row (reset when
    /// the breaker closes), capped at `max`.
    Exponential {
        /// The first wait.
        initial: Duration,
        /// Growth per consecutive opening, ≥ 1.
        multiplier: f64,
        /// The longest wait.
        max: Duration,
    },
}

impl WaitDuration {
    /// The wait for the `openings`-th opening in a row (1-based).
    pub(crate) fn for_opening(&self, openings: u32) -> Duration {
        match *self {
            WaitDuration::Fixed(d) => d,
            WaitDuration::Exponential {
                initial,
                multiplier,
                max,
            } => crate::growth::exponential(initial, multiplier, openings, max),
        }
    }
}

/// The validated configuration a breaker runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) window: SlidingWindow,
    pub(crate) minimum_number_of_calls: u32,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    /// Nanoseconds; `None` turns slow-call detection (and its clock reads) off.
    pub(crate) slow_call_duration_threshold: Option<u64>,
    pub(crate) wait_duration_in_open_state: WaitDuration,
    pub(crate) permitted_number_of_calls_in_half_open_state: u32,
    /// Nanoseconds; 0 waits for the probes forever.
    pub(crate) max_wait_duration_in_half_open_state: u64,
    /// Where a half-open phase goes when that wait ends: Open or Closed.
    pub(crate) transition_to_state_after_wait_duration: CircuitState,
    /// The state the breaker starts in.
    pub(crate) initial_state: CircuitState,
    pub(crate) automatic_transition_from_open_to_half_open: bool,
}

impl Config {
    /// Whether `next` may replace these settings in a running breaker
    /// (`name`'s): what it measures must stay the same (the window it
    /// keeps, and whether calls are timed, which admission decided at build).
    pub(crate) fn check_replace(&self, name: &Arc<str>, next: &Config) -> Result<(), ConfigError> {
        let refuse = |field, why: &str| Err(ConfigError::new(name, field, why.to_string()));
        if next.window != self.window {
            return refuse(
                "sliding_window",
                "cannot change while the breaker runs (its window is kept); build a new breaker",
            );
        }
        if next.slow_call_duration_threshold.is_some()
            != self.slow_call_duration_threshold.is_some()
        {
            return refuse(
                "slow_call_duration_threshold",
                "cannot be turned on or off while the breaker runs; build a new breaker",
            );
        }
        Ok(())
    }

    /// The settings `next` changes: (name, from, to), for the events of a
    /// reconfiguration.
    pub(crate) fn changes(&self, next: &Config) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        macro_rules! diff {
            ($($field:ident),+) => {$(
                if self.$field != next.$field {
                    out.push((stringify!($field), format!("{:?}", self.$field), format!("{:?}", next.$field)));
                }
            )+};
        }
        diff!(
            minimum_number_of_calls,
            failure_rate_threshold,
            slow_call_rate_threshold,
            wait_duration_in_open_state,
            permitted_number_of_calls_in_half_open_state,
            transition_to_state_after_wait_duration,
            automatic_transition_from_open_to_half_open
        );
        let ns = |n: Option<u64>| format!("{:?}", n.map(Duration::from_nanos));
        if self.slow_call_duration_threshold != next.slow_call_duration_threshold {
            out.push((
                "slow_call_duration_threshold",
                ns(self.slow_call_duration_threshold),
                ns(next.slow_call_duration_threshold),
            ));
        }
        if self.max_wait_duration_in_half_open_state != next.max_wait_duration_in_half_open_state {
            out.push((
                "max_wait_duration_in_half_open_state",
                ns(Some(self.max_wait_duration_in_half_open_state)),
                ns(Some(next.max_wait_duration_in_half_open_state)),
            ));
        }
        out
    }
}

/// Builds a [`CircuitBreaker`]; made by [`CircuitBreaker::builder`].
///
/// Defaults follow resilience4j: a count window of 100 calls, opening at a
/// 50% failure rate once 100 calls are recorded, open for 60 s, 10 probes in
/// half-open. One difference: slow-call detection is off until
/// [`slow_call_duration_threshold`](Self::slow_call_duration_threshold) is
/// set, so a count window needs no clock read per call.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let breaker = CircuitBreaker::builder("payments")
///     .sliding_window(SlidingWindow::time(Duration::from_secs(60)))
///     .minimum_number_of_calls(20)
///     .failure_rate_threshold(50.0)
///     .wait_duration_in_open_state(Duration::from_secs(30))
///     .build()?;
/// let err = CircuitBreaker::builder("payments").failure_rate_threshold(150.0).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate_threshold");
/// # let _ = breaker; Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct CircuitBreakerBuilder<C = DefaultClassifier> {
    pub(crate) name: Arc<str>,
    window: SlidingWindow,
    minimum_number_of_calls: u32,
    failure_rate_threshold: f32,
    slow_call_rate_threshold: f32,
    slow_call_duration_threshold: Option<Duration>,
    wait: WaitDuration,
    permitted_half_open: u32,
    max_wait_half_open: Duration,
    after_max_wait: CircuitState,
    initial_state: CircuitState,
    automatic: bool,
    pub(crate) clock: ClockHandle,
    pub(crate) listeners: Listeners,
    classifier: C,
}

impl CircuitBreakerBuilder<DefaultClassifier> {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            window: SlidingWindow::Count(100),
            minimum_number_of_calls: 100,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold: None,
            wait: WaitDuration::Fixed(Duration::from_secs(60)),
            permitted_half_open: 10,
            max_wait_half_open: Duration::ZERO,
            after_max_wait: CircuitState::Open,
            initial_state: CircuitState::Closed,
            automatic: false,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerBuilder<C> {
    crate::telemetry::builder_telemetry_setters!();

    /// The window the failure and slow-call rates are computed over.
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// Calls the window must hold before a rate can open the breaker
    /// (capped at the size of a count window). Default 100.
    pub fn minimum_number_of_calls(mut self, n: u32) -> Self {
        self.minimum_number_of_calls = n;
        self
    }

    /// Failure rate, in percent (0, 100], at or above which the breaker opens.
    pub fn failure_rate_threshold(mut self, percent: f32) -> Self {
        self.failure_rate_threshold = percent;
        self
    }

    /// Slow-call rate, in percent (0, 100], at or above which it opens.
    pub fn slow_call_rate_threshold(mut self, percent: f32) -> Self {
        self.slow_call_rate_threshold = percent;
        self
    }

    /// A call running at least this long is slow, successful or not; a call
    /// cancelled after running this long counts as slow too. Turns on
    /// slow-call detection (two clock reads per call).
    pub fn slow_call_duration_threshold(mut self, d: Duration) -> Self {
        self.slow_call_duration_threshold = Some(d);
        self
    }

    /// How long the breaker stays open before admitting probes.
    pub fn wait_duration_in_open_state(mut self, d: Duration) -> Self {
        self.wait = WaitDuration::Fixed(d);
        self
    }

    /// A wait that grows with consecutive openings (see [`WaitDuration`]).
    pub fn wait_duration_in_open_state_backoff(mut self, wait: WaitDuration) -> Self {
        self.wait = wait;
        self
    }

    /// Probes admitted in half-open, 1..=1023. Their outcomes decide.
    pub fn permitted_number_of_calls_in_half_open_state(mut self, n: u32) -> Self {
        self.permitted_half_open = n;
        self
    }

    /// End half-open if the probes have not all finished this long after
    /// entering it, whatever probe slots remain: the breaker goes to
    /// [`transition_to_state_after_wait_duration`](Self::transition_to_state_after_wait_duration)
    /// (open by default) on the next call or `state()` read, or by itself
    /// with [`automatic_transition_from_open_to_half_open`](Self::automatic_transition_from_open_to_half_open).
    /// Zero (the default) waits forever.
    pub fn max_wait_duration_in_half_open_state(mut self, d: Duration) -> Self {
        self.max_wait_half_open = d;
        self
    }

    /// The state a half-open breaker moves to when
    /// [`max_wait_duration_in_half_open_state`](Self::max_wait_duration_in_half_open_state)
    /// ends: [`CircuitState::Open`] (the default) or [`CircuitState::Closed`]
    /// (resilience4j's `transitionToStateAfterWaitDuration`). Any other
    /// state is a [`ConfigError`].
    pub fn transition_to_state_after_wait_duration(mut self, state: CircuitState) -> Self {
        self.after_max_wait = state;
        self
    }

    /// The state the breaker starts in (default [`CircuitState::Closed`]):
    /// e.g. `ForcedOpen` for a dependency not yet approved, `Disabled` or
    /// `MetricsOnly` to watch a new breaker before it may act, `Open` to
    /// start with the open wait. resilience4j's `initialState`. Built in
    /// that state: no transition event.
    pub fn initial_state(mut self, state: CircuitState) -> Self {
        self.initial_state = state;
        self
    }

    /// Move Open → HalfOpen when the wait ends even if no call arrives (a
    /// tokio task when built inside a runtime; `state()` also observes it).
    pub fn automatic_transition_from_open_to_half_open(mut self, enabled: bool) -> Self {
        self.automatic = enabled;
        self
    }

    /// The classifier the breaker's layer uses on each typed result. It is
    /// cloned per call: keep it cheap (a closure capturing nothing or `Arc`s).
    pub fn classify<C2>(self, classifier: C2) -> CircuitBreakerBuilder<C2> {
        CircuitBreakerBuilder {
            name: self.name,
            window: self.window,
            minimum_number_of_calls: self.minimum_number_of_calls,
            failure_rate_threshold: self.failure_rate_threshold,
            slow_call_rate_threshold: self.slow_call_rate_threshold,
            slow_call_duration_threshold: self.slow_call_duration_threshold,
            wait: self.wait,
            permitted_half_open: self.permitted_half_open,
            max_wait_half_open: self.max_wait_half_open,
            after_max_wait: self.after_max_wait,
            initial_state: self.initial_state,
            automatic: self.automatic,
            clock: self.clock,
            listeners: self.listeners,
            classifier,
        }
    }

    /// Validates the configuration and builds the breaker.
    pub fn build(self) -> Result<CircuitBreaker<C>, ConfigError> {
        let config = self.validate()?;
        Ok(CircuitBreaker::from_parts(
            self.name,
            config,
            self.clock,
            self.listeners,
            self.classifier,
        ))
    }

    /// Every setting taken from `c` (the settings a breaker runs with), so
    /// a reconfiguration starts from what is in force.
    pub(super) fn with_config(mut self, c: &Config) -> Self {
        self.window = c.window;
        self.minimum_number_of_calls = c.minimum_number_of_calls;
        self.failure_rate_threshold = c.failure_rate_threshold as f32;
        self.slow_call_rate_threshold = c.slow_call_rate_threshold as f32;
        self.slow_call_duration_threshold =
            c.slow_call_duration_threshold.map(Duration::from_nanos);
        self.wait = c.wait_duration_in_open_state;
        self.permitted_half_open = c.permitted_number_of_calls_in_half_open_state;
        self.max_wait_half_open = Duration::from_nanos(c.max_wait_duration_in_half_open_state);
        self.after_max_wait = c.transition_to_state_after_wait_duration;
        self.initial_state = c.initial_state;
        self.automatic = c.automatic_transition_from_open_to_half_open;
        self
    }

    /// Its name, clock, listeners and classifier (for the keyed breakers,
    /// which make each key's breaker from them).
    pub(super) fn into_parts(self) -> (Arc<str>, ClockHandle, Listeners, C) {
        (self.name, self.clock, self.listeners, self.classifier)
    }

    pub(crate) fn validate(&self) -> Result<Config, ConfigError> {
        let err = |field, msg: String| ConfigError::new(&self.name, field, msg);
        let percent = |field, v: f32| {
            if v.is_finite() && v > 0.0 && v <= 100.0 {
                Ok(f64::from(v))
            } else {
                Err(err(field, format!("must be in (0, 100], got {v}")))
            }
        };
        let failure_rate_threshold =
            percent("failure_rate_threshold", self.failure_rate_threshold)?;
        let slow_call_rate_threshold =
            percent("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        let mut minimum = self.minimum_number_of_calls;
        if minimum == 0 {
            return Err(err(
                "minimum_number_of_calls",
                "must be at least 1, got 0".into(),
            ));
        }
        match self.window {
            SlidingWindow::Count(n) if n == 0 || n > MAX_COUNT_WINDOW => {
                return Err(err(
                    "sliding_window",
                    format!("count must be in 1..={MAX_COUNT_WINDOW}, got {n}"),
                ))
            }
            SlidingWindow::Count(n) => minimum = minimum.min(n),
            SlidingWindow::Time(d)
                if d.as_secs() == 0
                    || d.as_secs() > MAX_TIME_WINDOW_SECS
                    || d.subsec_nanos() != 0 =>
            {
                return Err(err(
                    "sliding_window",
                    format!("time must be whole seconds in 1..={MAX_TIME_WINDOW_SECS}, got {d:?}"),
                ))
            }
            SlidingWindow::ConsecutiveFailures(0) => {
                return Err(err(
                    "sliding_window",
                    "consecutive failures must be at least 1, got 0".into(),
                ))
            }
            _ => {}
        }
        if let Some(d) = self.slow_call_duration_threshold {
            if d.is_zero() {
                return Err(err(
                    "slow_call_duration_threshold",
                    "must be positive, got 0".into(),
                ));
            }
        }
        match self.wait {
            WaitDuration::Fixed(d) if d.is_zero() => {
                return Err(err(
                    "wait_duration_in_open_state",
                    "must be positive, got 0".into(),
                ))
            }
            WaitDuration::Exponential {
                initial,
                multiplier,
                max,
            } => {
                if initial.is_zero() {
                    return Err(err(
                        "wait_duration_in_open_state",
                        "initial must be positive, got 0".into(),
                    ));
                }
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(err(
                        "wait_duration_in_open_state",
                        format!("multiplier must be finite and >= 1, got {multiplier}"),
                    ));
                }
                if max < initial {
                    return Err(err(
                        "wait_duration_in_open_state",
                        format!("max ({max:?}) must be >= initial ({initial:?})"),
                    ));
                }
            }
            WaitDuration::Fixed(_) => {}
        }
        let permitted = self.permitted_half_open;
        if permitted == 0 || permitted > MAX_HALF_OPEN_CALLS {
            return Err(err(
                "permitted_number_of_calls_in_half_open_state",
                format!("must be in 1..={MAX_HALF_OPEN_CALLS}, got {permitted}"),
            ));
        }
        if !matches!(
            self.after_max_wait,
            CircuitState::Open | CircuitState::Closed
        ) {
            return Err(err(
                "transition_to_state_after_wait_duration",
                format!("must be Open or Closed, got {:?}", self.after_max_wait),
            ));
        }
        Ok(Config {
            window: self.window,
            minimum_number_of_calls: minimum,
            failure_rate_threshold,
            slow_call_rate_threshold,
            slow_call_duration_threshold: self
                .slow_call_duration_threshold
                .map(crate::clock::nanos),
            wait_duration_in_open_state: self.wait,
            permitted_number_of_calls_in_half_open_state: permitted,
            max_wait_duration_in_half_open_state: crate::clock::nanos(self.max_wait_half_open),
            transition_to_state_after_wait_duration: self.after_max_wait,
            initial_state: self.initial_state,
            automatic_transition_from_open_to_half_open: self.automatic,
        })
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn exponential_waits_stay_within_initial_and_max_however_long() {
        // Past f64's nanosecond precision (2⁵³ ns) the first wait once came
        // back rounded below `initial`.
        let initial = Duration::from_secs(5_283_475_648_931_677_380);
        let max = Duration::MAX;
        let wait = WaitDuration::Exponential {
            initial,
            multiplier: 1.0,
            max,
        };
        assert_eq!(wait.for_opening(1), initial);
        assert!((1..40).all(|k| (initial..=max).contains(&wait.for_opening(k))));
    }
}
