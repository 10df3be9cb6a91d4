//! The retry primitive: `retry.call(|attempt| async { ... }).await`.

use super::policy::{RetryErrors, Shared, Timing};
use super::{
    Backoff, GaveUp, Jitter, RetryBudget, RetryError, RetryReason, RetryThrottle, RetryVerdict,
};
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::stripes::Striped;
use crate::telemetry::{builder_telemetry_setters, reconfigured, Listeners, NotRetriedReason};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Retries a fallible async operation with backoff, jitter, a deadline and
/// a budget. A cheap `Clone` handle; [`layer`](Retry::layer) gives its tower
/// layer.
///
/// ```
/// use seawall::retry::{Backoff, Retry};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let retry = Retry::builder("inventory")
///     .max_attempts(3)
///     .backoff(Backoff::Exponential { initial: Duration::from_millis(10), multiplier: 2.0, max: Duration::from_secs(1) })
///     .build()
///     .unwrap();
/// let answer = retry
///     .call(|attempt| async move { if attempt < 3 { Err(std::io::Error::other("flaky")) } else { Ok(attempt) } })
///     .await
///     .unwrap();
/// assert_eq!(answer, 3);
/// # }
/// ```
#[derive(Clone)]
pub struct Retry {
    pub(crate) shared: Arc<Shared>,
}

/// Builds a [`Retry`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let retry = Retry::builder("inventory")
///     .max_attempts(4)                              // the first included
///     .backoff(Backoff::Exponential {
///         initial: Duration::from_millis(50),
///         multiplier: 2.0,
///         max: Duration::from_secs(2),
///     })
///     .jitter(Jitter::Full)
///     .deadline(Duration::from_secs(5))             // no attempt starts after it
///     .build()?;
/// assert!(Retry::builder("inventory").max_attempts(0).build().is_err());
/// # let _ = retry; Ok(()) }
/// ```
#[must_use]
pub struct RetryBuilder {
    name: Arc<str>,
    max_attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    seed: u64,
    deadline: Option<Duration>,
    max_retry_after: Option<Duration>,
    budget: Option<Option<RetryBudget>>,
    throttle: Option<RetryThrottle>,
    retry_stop_signals: bool,
    clock: ClockHandle,
    listeners: Listeners,
}

impl fmt::Debug for RetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("deadline", &self.deadline)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

/// The default budget: retries may add 20% to the load, plus 10 per second,
/// with at most 100 banked (tower's `TpsBudget` and Finagle use the same
/// 20% / 10 per second).
pub const DEFAULT_BUDGET: (f64, u32, u32) = (0.2, 10, 100);

impl Retry {
    /// Starts configuring a retry; `name` labels its metrics and events.
    /// Defaults, chosen to be safe: 3 attempts, exponential backoff from
    /// 50 ms doubling to 5 s with full jitter, no deadline, and a budget of
    /// [`DEFAULT_BUDGET`] (so a dead dependency sees at most ~20% extra load,
    /// never 3×).
    pub fn builder(name: &str) -> RetryBuilder {
        RetryBuilder {
            name: Arc::from(name),
            max_attempts: 3,
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(50),
                multiplier: 2.0,
                max: Duration::from_secs(5),
            },
            jitter: Jitter::Full,
            seed: 0x5EA_3A11,
            deadline: None,
            max_retry_after: None,
            budget: None,
            throttle: None,
            retry_stop_signals: false,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }
}

impl RetryBuilder {
    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }
    /// The delay policy between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
    /// How delays are randomised.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }
    /// Seeds the jitter's generator (each call draws a fresh stream from it),
    /// so tests can pin exact delays.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// A total deadline per call, from its first attempt: no retry sleeps
    /// past it or starts after it — through the layer, not even while
    /// waiting for the inner service to be ready (the call then gives up at
    /// the deadline with [`GaveUp::DeadlineExceeded`](super::GaveUp)). The
    /// time left travels to each attempt (see [`Attempt`](super::Attempt)).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }
    /// The longest wait a dependency may ask for (an HTTP `Retry-After`, a
    /// `RateLimited` rejection's `retry_after`,
    /// [`RetryVerdict::RetryAfter`](super::RetryVerdict)). Asked to wait
    /// longer, the retry gives up at once
    /// ([`GaveUp::DeadlineExceeded`](super::GaveUp)) and returns what it
    /// got — a response as it came, so its `Retry-After` reaches your
    /// caller — instead of holding the call for the whole wait. Default: no
    /// limit (a [`deadline`](Self::deadline) still bounds the wait).
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = Some(d);
        self
    }
    /// Spend retries from `budget` (shared with whatever else uses it)
    /// instead of a budget of this retry's own.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(Some(budget));
        self
    }
    /// Hold retries back with gRPC's retry throttling (gRFC A6): see
    /// [`RetryThrottle`]. Share one throttle among the retries that call one
    /// dependency. Beside the budget, not instead of it (add
    /// [`no_budget`](Self::no_budget) for the throttle alone, as a gRPC
    /// client has it).
    pub fn throttle(mut self, throttle: RetryThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// No budget: every failure may be retried up to `max_attempts`. Under
    /// a full outage that multiplies the load by `max_attempts`.
    pub fn no_budget(mut self) -> Self {
        self.budget = Some(None);
        self
    }
    /// Retry seawall's stop signals too (`CircuitOpen`, `BulkheadFull`,
    /// `FeatureDisabled`, `KeyLimitReached`, an inner `RetriesExhausted`);
    /// off by default, since retrying them only adds load.
    pub fn retry_stop_signals(mut self, yes: bool) -> Self {
        self.retry_stop_signals = yes;
        self
    }

    builder_telemetry_setters!();

    /// Validates and builds.
    pub fn build(self) -> Result<Retry, ConfigError> {
        self.validate()?;
        // A budget of its own counts the calls too (one counter per call).
        let (budget, calls) = match self.budget {
            Some(chosen) => (chosen, Some(Striped::new())),
            None => {
                let (ratio, floor, max) = DEFAULT_BUDGET;
                let own = RetryBudget::with_clock(ratio, floor, max, self.clock.clone())?;
                (Some(own), None)
            }
        };
        let shared = Arc::new(Shared {
            name: self.name,
            max_attempts: AtomicU32::new(self.max_attempts),
            timing: arc_swap::ArcSwap::from_pointee(Timing {
                backoff: self.backoff,
                jitter: self.jitter,
                max_retry_after: self.max_retry_after,
            }),
            seed: self.seed,
            streams: AtomicU64::new(0),
            deadline: AtomicU64::new(self.deadline.map_or(0, crate::clock::nanos)),
            budget,
            throttle: self.throttle,
            retry_stop_signals: self.retry_stop_signals,
            clock: self.clock,
            listeners: self.listeners,
            calls,
            counts: Default::default(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&shared) as _);
        Ok(Retry { shared })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                &self.name,
                "max_attempts",
                "must be at least 1, got 0",
            ));
        }
        self.backoff.validate(&self.name)?;
        self.jitter.validate(&self.name)?;
        if let Some(d) = self.deadline {
            if d.is_zero() || d > crate::clock::MAX_WAIT {
                return Err(ConfigError::new(
                    &self.name,
                    "deadline",
                    format!("must be in (0, {:?}], got {d:?}", crate::clock::MAX_WAIT),
                ));
            }
        }
        Ok(())
    }
}

/// A snapshot of a retry's counts.
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("inventory").max_attempts(3).no_budget().build()?;
/// let _ = retry
///     .call(|attempt| async move { if attempt < 2 { Err("flaky") } else { Ok(()) } })
///     .await;
/// let m = retry.metrics();
/// assert_eq!((m.calls, m.attempts(), m.retries()), (1, 2, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryMetrics {
    /// Original calls (first attempts).
    pub calls: u64,
    /// Retries after an error. Retries are counted when scheduled, before
    /// their backoff (the budget is spent then too, as gRPC's retry
    /// throttling does): a caller that gives up during a backoff leaves one
    /// retry counted that never reached the dependency.
    pub retries_after_error: u64,
    /// Retries after a response chosen for retry.
    pub retries_after_response: u64,
    /// Retries after being told when to come back (`RateLimited`,
    /// `Retry-After`).
    pub retries_throttled: u64,
    /// Calls that gave up with attempts used up.
    pub gave_up_attempts: u64,
    /// Calls that gave up because the next attempt could not start before
    /// the deadline.
    pub gave_up_deadline: u64,
    /// Calls the budget refused a retry.
    pub gave_up_budget: u64,
    /// Calls the retry throttle refused a retry ([`RetryThrottle`]).
    pub gave_up_throttled: u64,
    /// Calls whose request could not be copied for a retry, so they got one
    /// attempt: a streaming HTTP body, or a gRPC call whose messages
    /// passed the retry buffer's limit. A count that grows with the calls
    /// means retries are off for them.
    pub not_replayable_calls: u64,
    /// Failed attempts that would have been retried but were not, the
    /// request not being idempotent (a POST whose failure may have
    /// reached the server): the answer to "why one attempt?".
    pub not_retried_not_idempotent: u64,
    /// Failed attempts that would have been retried but were not, the
    /// request having no copy (see
    /// [`not_replayable_calls`](Self::not_replayable_calls)).
    pub not_retried_not_replayable: u64,
    /// Retries the budget allows now (`None` without a budget).
    pub budget_balance: Option<u64>,
}

impl RetryMetrics {
    /// Every attempt started or scheduled: calls plus retries (see
    /// [`retries_after_error`](Self::retries_after_error) for a caller that
    /// gives up during a backoff).
    pub fn attempts(&self) -> u64 {
        self.calls + self.retries()
    }
    /// Retries for any reason.
    pub fn retries(&self) -> u64 {
        self.retries_after_error + self.retries_after_response + self.retries_throttled
    }
}

impl Retry {
    /// The retry's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Changes the settings while the retry runs: `f` gets a builder
    /// holding the settings in force and returns the new ones.
    /// `max_attempts`, `backoff`, `jitter`, `deadline` and
    /// `max_retry_after` may change (calls under way take them from their
    /// next attempt); the budget, the throttle, the seed and
    /// `retry_stop_signals` are fixed at build (a budget's own settings
    /// change with [`RetryBudget::reconfigure`]). Changing one of those, or
    /// any invalid value, is a [`ConfigError`] and changes nothing. Each
    /// setting that changed is an [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured) event.
    ///
    /// ```
    /// use seawall::retry::Retry;
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder("inventory").max_attempts(3).build()?;
    /// retry.reconfigure(|b| b.max_attempts(5).deadline(Duration::from_secs(2)))?;
    /// assert!(retry.reconfigure(|b| b.max_attempts(0)).is_err());
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(RetryBuilder) -> RetryBuilder,
    ) -> Result<(), ConfigError> {
        let s = &self.shared;
        let timing = s.timing.load();
        let now = RetryBuilder {
            name: s.name.clone(),
            max_attempts: s.max_attempts(),
            backoff: timing.backoff.clone(),
            jitter: timing.jitter,
            seed: s.seed,
            deadline: s.deadline(),
            max_retry_after: timing.max_retry_after,
            budget: Some(s.budget.clone()),
            throttle: s.throttle.clone(),
            retry_stop_signals: s.retry_stop_signals,
            clock: s.clock.clone(),
            listeners: Listeners::default(),
        };
        let next = f(now);
        let refuse = |field| {
            Err(ConfigError::new(
                &s.name,
                field,
                "cannot change while the retry runs; build a new retry",
            ))
        };
        let same_budget = match (&next.budget, &s.budget) {
            (Some(Some(a)), Some(b)) => a.same(b),
            (Some(None), None) => true,
            _ => false,
        };
        if !same_budget {
            return refuse("budget");
        }
        let same_throttle = match (&next.throttle, &s.throttle) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        };
        if !same_throttle {
            return refuse("throttle");
        }
        if next.seed != s.seed {
            return refuse("seed");
        }
        if next.retry_stop_signals != s.retry_stop_signals {
            return refuse("retry_stop_signals");
        }
        next.validate()?;
        self.put(&next);
        Ok(())
    }

    /// Puts `b`'s waits and attempts (validated) in force.
    pub(crate) fn put(&self, b: &RetryBuilder) {
        let s = &self.shared;
        let old = s.timing.swap(Arc::new(Timing {
            backoff: b.backoff.clone(),
            jitter: b.jitter,
            max_retry_after: b.max_retry_after,
        }));
        let old_attempts = s.max_attempts.swap(b.max_attempts, Ordering::Relaxed);
        let old_deadline = s.deadline();
        s.deadline
            .store(b.deadline.map_or(0, crate::clock::nanos), Ordering::Relaxed);
        let changes = [
            reconfigured("max_attempts", old_attempts, b.max_attempts),
            reconfigured(
                "backoff",
                format!("{:?}", old.backoff),
                format!("{:?}", b.backoff),
            ),
            reconfigured("jitter", old.jitter, b.jitter),
            reconfigured("deadline", old_deadline, b.deadline),
            reconfigured("max_retry_after", old.max_retry_after, b.max_retry_after),
        ];
        for kind in changes.into_iter().flatten() {
            s.emit_event(kind);
        }
    }

    /// Its budget, if it has one.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// Its throttle, if it has one.
    pub fn throttle(&self) -> Option<&RetryThrottle> {
        self.shared.throttle.as_ref()
    }

    /// Counts so far.
    pub fn metrics(&self) -> RetryMetrics {
        let s = &self.shared;
        RetryMetrics {
            calls: s.calls(),
            retries_after_error: s.retries(RetryReason::Error),
            retries_after_response: s.retries(RetryReason::Response),
            retries_throttled: s.retries(RetryReason::Throttled),
            gave_up_attempts: s.gave_up(GaveUp::AttemptsExhausted),
            gave_up_deadline: s.gave_up(GaveUp::DeadlineExceeded),
            gave_up_budget: s.gave_up(GaveUp::BudgetExhausted),
            gave_up_throttled: s.gave_up(GaveUp::Throttled),
            not_replayable_calls: s.not_replayable_calls(),
            not_retried_not_idempotent: s.not_retried_calls(NotRetriedReason::NotIdempotent),
            not_retried_not_replayable: s.not_retried_calls(NotRetriedReason::NotReplayable),
            budget_balance: s.budget.as_ref().map(RetryBudget::balance),
        }
    }

    /// Runs `op(attempt)` (attempt 1, 2, ...) until it succeeds or the retry
    /// gives up. Errors are retried unless they are seawall's stop signals
    /// (`CircuitOpen`, `BulkheadFull`, `FeatureDisabled`, `KeyLimitReached`);
    /// a `RateLimited` error's `retry_after` lengthens the next delay.
    ///
    /// # Panics
    ///
    /// When it backs off outside a tokio runtime with the time driver
    /// (the message names seawall and the fix).
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: 'static,
    {
        self.call_when(op, RetryErrors).await
    }

    /// Like [`call`](Self::call), retrying only errors `retryable` accepts
    /// (seawall's stop signals are never retried).
    pub async fn call_if<F, Fut, T, E, P>(&self, op: F, retryable: P) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: 'static,
        P: Fn(&E) -> bool,
    {
        let verdict = |r: &Result<T, E>| match r {
            Err(e) if retryable(e) => RetryVerdict::Retry,
            _ => RetryVerdict::Accept,
        };
        self.call_when(op, verdict).await
    }

    /// The general form: `verdict` sees each attempt's whole result, so a
    /// value can be retried too (e.g. a "try later" answer). When the retry
    /// gives up on a retried value, that value is returned as `Ok`.
    pub async fn call_when<F, Fut, T, E, P>(
        &self,
        mut op: F,
        verdict: P,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: 'static,
        P: super::ShouldRetry<T, E>,
    {
        let s = &self.shared;
        let (deadline, _) = s.begin(None);
        let mut delays = None;
        let mut attempt = 1;
        loop {
            let result = op(attempt).await;
            let failure = s.judge(&result, verdict.verdict(&result));
            let delay = match failure {
                // Accepted (only an `Ok` is ever accepted).
                Ok(None) => {
                    s.accepted(|| verdict.is_success(&result));
                    return result.map_err(|error| RetryError {
                        error,
                        attempts: attempt,
                        gave_up: GaveUp::NotRetryable,
                    });
                }
                Ok(Some(failure)) => {
                    let delays = delays.get_or_insert_with(|| s.delays());
                    s.schedule(failure, attempt, deadline, delays)
                }
                Err(gave_up) => Err(gave_up),
            };
            match delay {
                Ok(d) => crate::clock::sleep(d, "`Retry::call`'s backoff").await,
                Err(gave_up) => {
                    return result.map_err(|error| RetryError {
                        error,
                        attempts: attempt,
                        gave_up,
                    })
                }
            }
            attempt += 1;
        }
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.shared.name)
            .finish()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Shared {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Retry,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        let calls = self.calls();
        let mut retries = 0;
        for reason in [
            RetryReason::Error,
            RetryReason::Response,
            RetryReason::Throttled,
        ] {
            let n = self.retries(reason);
            retries += n;
            counter!("seawall_retry_retries_total", "name" => name.clone(), "reason" => reason.as_str())
                .absolute(n);
        }
        counter!("seawall_retry_calls_total", "name" => name.clone()).absolute(calls);
        counter!("seawall_retry_attempts_total", "name" => name.clone()).absolute(calls + retries);
        for (why, label) in [
            (GaveUp::AttemptsExhausted, "attempts"),
            (GaveUp::DeadlineExceeded, "deadline"),
            (GaveUp::BudgetExhausted, "budget"),
            (GaveUp::Throttled, "throttled"),
        ] {
            counter!("seawall_retry_gave_up_total", "name" => name.clone(), "reason" => label)
                .absolute(self.gave_up(why));
        }
        for reason in [
            NotRetriedReason::NotIdempotent,
            NotRetriedReason::NotReplayable,
        ] {
            counter!("seawall_retry_not_retried_total", "name" => name.clone(), "reason" => reason.as_str())
                .absolute(self.not_retried_calls(reason));
        }
        if let Some(b) = &self.budget {
            gauge!("seawall_retry_budget_balance", "name" => name).set(b.balance() as f64);
        }
    }
}
