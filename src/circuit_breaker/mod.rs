//! A circuit breaker: stop calling a dependency that is failing, give it
//! time, probe it, and resume when it has recovered.
//!
//! ```
//! use seawall::prelude::*;
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), seawall::ConfigError> {
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::builder("payments")
//!     .sliding_window(SlidingWindow::count(10))
//!     .minimum_number_of_calls(4)
//!     .failure_rate_threshold(50.0)
//!     .wait_duration_in_open_state(Duration::from_secs(30))
//!     .permitted_number_of_calls_in_half_open_state(1)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Failure] {
//!     breaker.try_acquire().expect("closed").record(outcome);
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);           // 2 of 4 failed: 50%
//! let open = breaker.try_acquire().unwrap_err();
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
//!
//! clock.advance(Duration::from_secs(30));
//! let probe = breaker.try_acquire().expect("half-open probe");
//! assert_eq!(breaker.state(), CircuitState::HalfOpen);
//! probe.record(Outcome::Success);
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok(()) }
//! ```
//!
//! As a tower layer every service made from [`CircuitBreaker::layer`] shares
//! the one breaker (one per downstream, like a resilience4j instance);
//! see [`CircuitBreakerLayer`].
//!
//! **Hot path.** In the closed state a call is one load of the state word at
//! admission and, at completion, a load of the window aggregate (plus, when
//! the window holds anything but successes, one `fetch_add` on the ring
//! cursor, one `swap` of a slot and one `fetch_add` of the aggregate) and a
//! striped counter increment. No lock, no allocation. Clock reads: none for a
//! count window without slow-call detection, one per call for a time window,
//! two (start and end: a duration needs both) with slow-call detection.

mod config;
mod core;
mod future;
mod keyed;
mod layer;
mod state;
mod thresholds;
mod window;

pub use self::config::{
    CircuitBreakerBuilder, SlidingWindow, WaitDuration, MAX_COUNT_WINDOW, MAX_HALF_OPEN_CALLS,
    MAX_TIME_WINDOW_SECS,
};
pub use self::future::ResponseFuture;
pub use self::keyed::{KeyedBreakerError, KeyedCircuitBreaker};
pub use self::layer::{CircuitBreakerLayer, CircuitBreakerService};
pub use crate::telemetry::CircuitState;

pub(crate) use self::config::Config;
pub(crate) use self::core::Ticket;
use self::core::{
    Core, CANCELLED, DURATION, FAILURE, IGNORED, SLOW, SLOW_FAILURE, SLOW_SUCCESS, SUCCESS, TIMED,
};
use crate::clock::{nanos, ClockHandle};
use crate::error::{CircuitOpen, ConfigError};
use crate::outcome::{Classify, DefaultClassifier, Outcome};
use crate::stripes::{Handle, Handles};
use crate::sync::Ordering;
use crate::telemetry::Listeners;
use crate::watch::{Watch, Watchable};
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A circuit breaker: a cheap `Clone` handle to one shared breaker.
///
/// `C` is the classifier its layer applies to typed results.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("payments")
///     .sliding_window(SlidingWindow::consecutive_failures(2))
///     .build()?;
/// for _ in 0..2 {
///     breaker.try_acquire()?.record(Outcome::Failure);
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
/// breaker.reset(); // back to closed, the window cleared
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// # Ok(()) }
/// ```
pub struct CircuitBreaker<C = DefaultClassifier> {
    // The shared state, with per-thread handles for owned permits.
    pub(crate) core: Handles<Core>,
    pub(crate) classifier: C,
}

impl CircuitBreaker {
    /// Starts configuring a breaker; `name` labels its metrics and events.
    pub fn builder(name: &str) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name)
    }
}

impl<C> CircuitBreaker<C> {
    pub(crate) fn from_parts(
        name: Arc<str>,
        config: Config,
        clock: ClockHandle,
        listeners: Listeners,
        classifier: C,
    ) -> Self {
        let core = Arc::new(Core::new(name, config, clock, listeners));
        #[cfg(feature = "metrics")]
        {
            let weak: std::sync::Weak<dyn crate::telemetry::ExportMetrics> =
                Arc::downgrade(&core) as _;
            crate::telemetry::register(weak);
        }
        Self {
            core: Handles::new(core),
            classifier,
        }
    }

    /// Asks to make a call. On `Ok`, make it and [`record`](Permit::record)
    /// its outcome; a permit dropped unrecorded counts as cancelled.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let ticket = self.core.try_acquire()?;
        Ok(Permit {
            core: &self.core,
            ticket,
        })
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that owns a
    /// handle to the breaker, to move into a task or a future.
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, CircuitOpen> {
        let ticket = self.core.try_acquire()?;
        Ok(OwnedPermit {
            core: Some(self.core.get().clone()),
            ticket,
        })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Changes the settings while the breaker runs, keeping its state, its
    /// window and the calls in flight: `f` gets a builder holding the
    /// settings in force and returns the new ones, which are checked as
    /// `build` checks them and put in force at once, all together.
    ///
    /// The window (its type and size) and whether slow-call detection is
    /// on are fixed at build; changing either is a [`ConfigError`], as is
    /// any invalid value, and then nothing changes. Each setting that
    /// changed is an [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured)
    /// event. A new open wait applies from the next opening.
    ///
    /// ```
    /// use seawall::circuit_breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("payments").build()?;
    /// breaker.reconfigure(|b| b.failure_rate_threshold(25.0).minimum_number_of_calls(20))?;
    /// assert!(breaker.reconfigure(|b| b.failure_rate_threshold(150.0)).is_err());
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Result<(), ConfigError> {
        let next = f(CircuitBreakerBuilder::new(&self.core.name).with_config(&self.core.config()));
        let next = self.checked(&next)?;
        self.core.reconfigure(next);
        Ok(())
    }

    /// A new breaker with this one's settings and no classifier of its own
    /// (its state starts afresh), for a preset that swaps breakers.
    #[cfg_attr(not(all(feature = "config", feature = "http")), allow(dead_code))]
    pub(crate) fn copy_settings(&self) -> Result<CircuitBreaker, ConfigError> {
        CircuitBreakerBuilder::new(&self.core.name)
            .with_config(&self.core.config())
            .build()
    }

    /// `b`'s settings, checked to replace this breaker's.
    pub(crate) fn checked<C2>(&self, b: &CircuitBreakerBuilder<C2>) -> Result<Config, ConfigError> {
        let next = b.validate()?;
        self.core.check_reconfigure(&next)?;
        Ok(next)
    }

    /// Puts settings from [`checked`](Self::checked) in force.
    pub(crate) fn put(&self, next: Config) {
        self.core.reconfigure(next);
    }

    /// The current state. With automatic half-open, an elapsed open wait is
    /// observed (and the transition made) here too.
    ///
    /// A half-open phase whose probes have not all finished within
    /// `max_wait_duration_in_half_open_state` ends here too (or on the next
    /// call), whatever probe slots remain.
    pub fn state(&self) -> CircuitState {
        let w = self.core.word();
        match w.state() {
            CircuitState::Open
                if self
                    .core
                    .config()
                    .automatic_transition_from_open_to_half_open =>
            {
                self.core.automatic_half_open(w.generation());
            }
            CircuitState::HalfOpen if self.core.half_open_expired() => {
                self.core.expire_half_open(w.generation());
            }
            state => return state,
        }
        self.core.word().state()
    }

    /// A snapshot of the breaker's counts and rates.
    pub fn metrics(&self) -> CircuitBreakerMetrics {
        metrics_of(&self.core)
    }

    /// Rejects every call until another manual transition.
    pub fn force_open(&self) {
        self.core.force(CircuitState::ForcedOpen, false);
    }

    /// Lets every call through and records nothing.
    pub fn disable(&self) {
        self.core.force(CircuitState::Disabled, false);
    }

    /// Records calls (for metrics) but never opens.
    pub fn metrics_only(&self) {
        self.core.force(CircuitState::MetricsOnly, false);
    }

    /// Closes the breaker with an empty window.
    pub fn close(&self) {
        self.core.force(CircuitState::Closed, false);
    }

    /// Opens the breaker as if its window had tripped it (the wait starts now).
    pub fn open(&self) {
        self.core.force(CircuitState::Open, false);
    }

    /// Opens the breaker for `duration`, whatever its state, then half-opens
    /// as after any open wait (resilience4j's `transitionToOpenStateFor`).
    /// The open-state backoff is not consulted: the wait is `duration`.
    pub fn open_for(&self, duration: Duration) {
        self.core.open_for(nanos(duration), false);
    }

    /// Opens the breaker until the wall-clock time `until` (read on the
    /// breaker's clock's [`wall`](crate::Clock::wall)), then half-opens
    /// (resilience4j's `transitionToOpenStateUntil`). A time already past
    /// opens it for no time: the next call half-opens it.
    pub fn open_until(&self, until: SystemTime) {
        let wait = until
            .duration_since(self.core.clock.wall())
            .unwrap_or(Duration::ZERO);
        self.open_for(wait);
    }

    /// Moves to half-open: the next calls are probes.
    pub fn half_open(&self) {
        self.core.force(CircuitState::HalfOpen, false);
    }

    /// Back to a fresh closed breaker: window and opening backoff cleared.
    /// Lifetime counters (exported as monotonic metrics) are kept.
    pub fn reset(&self) {
        self.core.force(CircuitState::Closed, true);
    }

    /// The classifier's verdict on `result`, for code recording by hand.
    pub fn classify<Res, E>(&self, result: &Result<Res, E>) -> Outcome
    where
        C: Classify<Res, E>,
    {
        self.classifier.classify(result)
    }

    /// Records `outcome`, the classifier's verdict on `result`, for
    /// `ticket`, and, when the classifier reads a wait in the result (a
    /// `Retry-After`), keeps the breaker open that long. The layer's and
    /// the fused preset's one way to record. (The caller classifies while
    /// it still holds the permit, so a classifier that panics leaves the
    /// permit to be dropped as cancelled.)
    #[inline(always)]
    pub(crate) fn record_classified<Res, E>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        result: &Result<Res, E>,
    ) where
        C: Classify<Res, E>,
    {
        self.core.record(ticket, outcome, None);
        if outcome != Outcome::Success {
            if let Some(wait) = self.classifier.open_for(result) {
                self.core.open_for(nanos(wait), true);
            }
        }
    }

    /// A tower layer whose services all share this breaker.
    pub fn layer(&self) -> CircuitBreakerLayer<C>
    where
        C: Clone,
    {
        CircuitBreakerLayer::new(self.clone())
    }
}

/// The state word's state as it stands (one atomic load; no transition made).
impl<C> Watchable<CircuitState> for CircuitBreaker<C> {
    fn watch(&self) -> Watch<CircuitState> {
        let core = Arc::clone(&self.core);
        Watch::new(core.name.clone(), move || core.word().state())
    }
}

impl<C: Clone> Clone for CircuitBreaker<C> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.core.name)
            .field("state", &self.core.word().state())
            .finish()
    }
}

/// Permission for one call, borrowing the breaker. Record its outcome;
/// dropping it unrecorded counts as a cancelled call and returns any
/// half-open slot it held. See [`OwnedPermit`] to move one into a task.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// let permit = breaker.try_acquire()?;       // borrows the breaker
/// permit.record(Outcome::Success);           // or drop it: counted as cancelled
/// assert_eq!(breaker.metrics().total_successes, 1);
/// # Ok(()) }
/// ```
#[must_use = "record the call's outcome; a dropped permit counts as cancelled"]
pub struct Permit<'a> {
    core: &'a Arc<Core>,
    ticket: Ticket,
}

impl Permit<'_> {
    /// Records the call's outcome, measuring its duration if the breaker
    /// detects slow calls.
    #[inline(always)]
    pub fn record(self, outcome: Outcome) {
        // Recorded, so not cancelled: skip `Drop` (which also keeps the
        // permit in registers on the hot path).
        let this = ManuallyDrop::new(self);
        this.core.record(this.ticket, outcome, None);
    }

    /// Records the call's outcome with a duration the caller measured.
    pub fn record_with_duration(self, outcome: Outcome, duration: Duration) {
        let this = ManuallyDrop::new(self);
        this.core
            .record(this.ticket, outcome, Some(nanos(duration)));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.ticket);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.core.name)
            .finish()
    }
}

/// A [`Permit`] that owns a handle to its breaker (`'static`, `Send`), from
/// [`CircuitBreaker::try_acquire_owned`]. Costs a reference-count update
/// (on a count of this thread's, not one shared with other threads).
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// let permit = breaker.try_acquire_owned()?; // 'static: moves into a task
/// tokio::spawn(async move { permit.record(Outcome::Failure) }).await?;
/// assert_eq!(breaker.metrics().total_failures, 1);
/// # Ok(()) }
/// ```
#[must_use = "record the call's outcome; a dropped permit counts as cancelled"]
pub struct OwnedPermit {
    /// `None` once recorded. This thread's handle, so permits taken on
    /// several threads do not share one reference count.
    core: Option<Arc<Handle<Core>>>,
    ticket: Ticket,
}

impl OwnedPermit {
    /// Records the call's outcome, measuring its duration if the breaker
    /// detects slow calls.
    #[inline(always)]
    pub fn record(mut self, outcome: Outcome) {
        if let Some(core) = self.core.take() {
            core.record(self.ticket, outcome, None);
        }
    }

    /// Records the call's outcome with a duration the caller measured.
    pub fn record_with_duration(mut self, outcome: Outcome, duration: Duration) {
        if let Some(core) = self.core.take() {
            core.record(self.ticket, outcome, Some(nanos(duration)));
        }
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            core.cancel(self.ticket);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.core.as_ref().map(|c| &*c.name);
        f.debug_struct("OwnedPermit")
            .field("breaker", &name)
            .finish()
    }
}

/// A snapshot of a breaker's state and counts.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("payments").minimum_number_of_calls(4).build()?;
/// breaker.try_acquire()?.record(Outcome::Success);
/// breaker.try_acquire()?.record(Outcome::Failure);
/// let m = breaker.metrics();
/// assert_eq!(m.state, CircuitState::Closed);
/// assert_eq!(m.failure_rate, None); // below minimum_number_of_calls
/// assert_eq!((m.successful_calls, m.failed_calls), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CircuitBreakerMetrics {
    /// The state.
    pub state: CircuitState,
    /// Failure rate in percent over the window that made the last decision:
    /// the closed-state window; the probes in half-open, and in an open
    /// state that the probes re-opened (until the next half-open phase
    /// records new ones), as resilience4j reports. `None` until the window
    /// holds the minimum number of calls (all the permitted probes, for
    /// probes).
    pub failure_rate: Option<f32>,
    /// Slow-call rate in percent, like `failure_rate`.
    pub slow_call_rate: Option<f32>,
    /// Calls in the window (recorded probes, when the rates are the probes').
    pub buffered_calls: u64,
    /// Failed calls in the window.
    pub failed_calls: u64,
    /// Successful calls in the window.
    pub successful_calls: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Calls rejected since the breaker was built.
    pub not_permitted_calls: u64,
    /// Remaining time in the open state, when open.
    pub remaining_open: Option<Duration>,
    /// Lifetime totals: successes, failures, ignored, cancelled, slow.
    pub total_successes: u64,
    /// Lifetime failures.
    pub total_failures: u64,
    /// Lifetime ignored outcomes.
    pub total_ignored: u64,
    /// Lifetime cancelled calls (permits dropped unrecorded).
    pub total_cancelled: u64,
    /// Lifetime slow calls (successful, failed, cancelled or ignored).
    pub total_slow: u64,
    /// Lifetime slow calls that succeeded (resilience4j's
    /// `numberOfSlowSuccessfulCalls`, over the breaker's life).
    pub total_slow_successes: u64,
    /// Lifetime slow calls that failed (`numberOfSlowFailedCalls`).
    pub total_slow_failures: u64,
    /// The summed duration of every call whose duration was measured (with
    /// slow-call detection on, or recorded with
    /// [`Permit::record_with_duration`]), over the breaker's life.
    pub total_call_duration: Duration,
    /// The mean of those durations; `None` before the first.
    pub mean_call_duration: Option<Duration>,
}

fn metrics_of(core: &Core) -> CircuitBreakerMetrics {
    let state = core.word().state();
    let (c, probes) = core.counts();
    let minimum = if probes {
        u64::from(core.config().permitted_number_of_calls_in_half_open_state)
    } else {
        u64::from(core.config().minimum_number_of_calls)
    };
    let rate = |n: u64| {
        (c.calls >= minimum && c.calls > 0).then(|| (n as f64 * 100.0 / c.calls as f64) as f32)
    };
    CircuitBreakerMetrics {
        state,
        failure_rate: rate(c.failures),
        slow_call_rate: rate(c.slow),
        buffered_calls: c.calls,
        failed_calls: c.failures,
        successful_calls: c.calls - c.failures,
        slow_calls: c.slow,
        not_permitted_calls: core.not_permitted.load(Ordering::Relaxed),
        remaining_open: core.remaining_open(),
        total_successes: core.calls.sum(SUCCESS),
        total_failures: core.calls.sum(FAILURE),
        total_ignored: core.calls.sum(IGNORED),
        total_cancelled: core.calls.sum(CANCELLED),
        total_slow: core.calls.sum(SLOW),
        total_slow_successes: core.calls.sum(SLOW_SUCCESS),
        total_slow_failures: core.calls.sum(SLOW_FAILURE),
        total_call_duration: Duration::from_nanos(core.calls.sum(DURATION)),
        mean_call_duration: match core.calls.sum(TIMED) {
            0 => None,
            timed => Some(Duration::from_nanos(core.calls.sum(DURATION) / timed)),
        },
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Core {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::CircuitBreaker,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let m = metrics_of(self);
        let name = self.name.to_string();
        for (outcome, v) in [
            ("success", m.total_successes),
            ("failure", m.total_failures),
            ("ignored", m.total_ignored),
            ("cancelled", m.total_cancelled),
        ] {
            counter!("seawall_circuit_breaker_calls_total", "name" => name.clone(), "outcome" => outcome)
                .absolute(v);
        }
        counter!("seawall_circuit_breaker_slow_calls_total", "name" => name.clone())
            .absolute(m.total_slow);
        counter!("seawall_circuit_breaker_not_permitted_calls_total", "name" => name.clone())
            .absolute(m.not_permitted_calls);
        for s in CircuitState::all() {
            let entered = self.transitions[s.index()].load(Ordering::Relaxed);
            counter!("seawall_circuit_breaker_transitions_total", "name" => name.clone(), "state" => s.as_str())
                .absolute(entered);
            gauge!("seawall_circuit_breaker_state", "name" => name.clone(), "state" => s.as_str())
                .set(if s == m.state { 1.0 } else { 0.0 });
        }
        gauge!("seawall_circuit_breaker_failure_rate", "name" => name.clone())
            .set(m.failure_rate.map_or(-1.0, f64::from));
        gauge!("seawall_circuit_breaker_slow_call_rate", "name" => name.clone())
            .set(m.slow_call_rate.map_or(-1.0, f64::from));
        gauge!("seawall_circuit_breaker_buffered_calls", "name" => name, "kind" => "failed")
            .set(m.failed_calls as f64);
        gauge!("seawall_circuit_breaker_buffered_calls", "name" => self.name.to_string(), "kind" => "successful")
            .set(m.successful_calls as f64);
    }
}
