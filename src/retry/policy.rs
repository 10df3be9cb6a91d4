//! What decides whether and when to retry, shared by the primitive and the
//! layer: the verdict on one attempt's result, the stop signals, and the
//! order of the limits (attempts, deadline, budget).

use super::{
    Attempt, Backoff, Delays, GaveUp, Jitter, ReplayRequest, RetryBudget, RetryReason,
    RetryThrottle,
};
use crate::clock::ClockHandle;
use crate::error::{find_rejection, RejectionKind};
use crate::stripes::Striped;
use crate::telemetry::{EventKind, EventMask, Listeners, NotRetriedReason, Pattern};
use std::any::Any;
use std::error::Error;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What to do with one attempt's result.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer};
///
/// # fn main() -> Result<(), BoxError> {
/// // Retry 503s after at least the time the answer asks for; keep the rest.
/// let layer = Retry::builder("inventory").build()?.layer().retry_if(|res: &Result<(u16, u64), BoxError>| {
///     match res {
///         Ok((503, secs)) => RetryVerdict::RetryAfter(Duration::from_secs(*secs)),
///         Ok(_) => RetryVerdict::Accept,
///         Err(_) => RetryVerdict::Retry,
///     }
/// });
/// let svc = layer.layer(service_fn(|_: ()| async { Ok::<_, BoxError>((200u16, 0u64)) }));
/// # let _ = svc; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryVerdict {
    /// Keep it: return it to the caller.
    Accept,
    /// Try again after the backoff's delay.
    Retry,
    /// Try again, waiting at least this long (the dependency said when, e.g.
    /// an HTTP `Retry-After`); the longer of this and the backoff is used.
    RetryAfter(Duration),
}

/// Decides on a result of type `Result<Res, E>`: the layer's retry
/// predicate. Implemented for closures `Fn(&Result<Res, E>) -> RetryVerdict`.
/// Seawall's stop signals are never retried, whatever it says.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::retry::ShouldRetry;
///
/// // A named predicate: retry only timeouts.
/// #[derive(Clone)]
/// struct TimeoutsOnly;
/// impl<Res> ShouldRetry<Res, std::io::Error> for TimeoutsOnly {
///     fn verdict(&self, result: &Result<Res, std::io::Error>) -> RetryVerdict {
///         match result {
///             Err(e) if e.kind() == std::io::ErrorKind::TimedOut => RetryVerdict::Retry,
///             _ => RetryVerdict::Accept,
///         }
///     }
/// }
/// let timed_out: Result<(), _> = Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
/// assert_eq!(TimeoutsOnly.verdict(&timed_out), RetryVerdict::Retry);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot decide whether to retry a `Result<{Res}, {E}>`",
    label = "not a retry predicate for this service's result",
    note = "a predicate is a closure `Fn(&Result<{Res}, {E}>) -> RetryVerdict`, or `RetryHttp`/`RetryGrpc` for HTTP and gRPC responses",
    note = "check that the closure's argument names the inner service's own response and error types"
)]
pub trait ShouldRetry<Res, E> {
    /// The verdict on one attempt's result.
    fn verdict(&self, result: &Result<Res, E>) -> RetryVerdict;

    /// Whether an accepted result is a success, which refills a
    /// [`RetryThrottle`] (asked only when the retry has one). Default: it
    /// is `Ok`. `RetryGrpc` says `OK` statuses only, `RetryHttp` responses
    /// below 500 but 429, as gRFC A6 credits successful calls only.
    #[inline]
    fn is_success(&self, result: &Result<Res, E>) -> bool {
        result.is_ok()
    }
}

impl<F, Res, E> ShouldRetry<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> RetryVerdict,
{
    #[inline]
    fn verdict(&self, result: &Result<Res, E>) -> RetryVerdict {
        self(result)
    }
}

/// The default predicate: retry every error, accept every response.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::retry::{RetryErrors, ShouldRetry};
///
/// let failed: Result<u32, &str> = Err("down");
/// assert_eq!(RetryErrors.verdict(&failed), RetryVerdict::Retry);
/// assert_eq!(RetryErrors.verdict(&Ok::<u32, &str>(7)), RetryVerdict::Accept);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryErrors;

impl<Res, E> ShouldRetry<Res, E> for RetryErrors {
    #[inline]
    fn verdict(&self, result: &Result<Res, E>) -> RetryVerdict {
        match result {
            Ok(_) => RetryVerdict::Accept,
            Err(_) => RetryVerdict::Retry,
        }
    }
}

/// A failed attempt the predicate wants retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub(crate) reason: RetryReason,
    /// The earliest the dependency (or a limiter) said to come back.
    pub(crate) told: Option<Duration>,
    /// The failure proves the request never left (a local rejection, a
    /// refused connection), so even a non-idempotent request may be resent.
    pub(crate) never_sent: bool,
    /// The retry throttle, having counted this failure, refuses a retry.
    pub(crate) throttled: bool,
}

// Counter slots of `Shared::counts`.
const RETRIES: usize = 0; // + reason: 0..3
const GAVE_UP_ATTEMPTS: usize = 3;
const GAVE_UP_DEADLINE: usize = 4;
const GAVE_UP_BUDGET: usize = 5;
const NOT_REPLAYABLE: usize = 6;
const GAVE_UP_THROTTLED: usize = 7;
const NOT_RETRIED: usize = 8; // + reason: 8..10

/// One retry instance's configuration and counts, behind an `Arc`.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    /// Changed by a reconfiguration: read once per call, one relaxed load.
    pub(crate) max_attempts: AtomicU32,
    /// How long to wait between attempts (read when a call first fails).
    pub(crate) timing: arc_swap::ArcSwap<Timing>,
    pub(crate) seed: u64,
    /// Hands each call its own jitter stream (read on the first failure).
    pub(crate) streams: AtomicU64,
    /// Nanoseconds; 0: none (a deadline is never zero).
    pub(crate) deadline: AtomicU64,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) throttle: Option<RetryThrottle>,
    pub(crate) retry_stop_signals: bool,
    pub(crate) clock: ClockHandle,
    pub(crate) listeners: Listeners,
    /// Original calls, counted per thread (the hot path); `None` when the
    /// budget is this retry's own, whose deposits count the same thing.
    pub(crate) calls: Option<Striped<1>>,
    pub(crate) counts: [AtomicU64; 10],
}

/// A retry's waits: what a reconfiguration swaps whole.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    pub(crate) max_retry_after: Option<Duration>,
}

impl Shared {
    /// Attempts in all, the first included.
    #[inline]
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts.load(Ordering::Relaxed)
    }

    /// The deadline per call, if any.
    #[inline]
    pub(crate) fn deadline(&self) -> Option<Duration> {
        match self.deadline.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Called once per original call: counts it and credits the budget.
    /// Returns when the call must be done by and the time that leaves the
    /// first attempt, when a deadline is set or the request carries the
    /// caller's own `budget` (the earlier wins; one read of tokio's clock,
    /// which the retry's sleeps follow too).
    #[inline]
    pub(crate) fn begin(&self, budget: Option<Duration>) -> (Option<Instant>, Option<Duration>) {
        if let Some(calls) = &self.calls {
            calls.incr(0);
        }
        if let Some(b) = &self.budget {
            b.deposit();
        }
        let left = match (self.deadline(), budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (left.map(|d| Instant::now() + d), left)
    }

    /// A copy of `req` for a later attempt, made before the first consumes
    /// it (and before its marks are added); `None` when only one attempt is
    /// allowed or `replay` cannot copy it.
    #[inline]
    pub(crate) fn copy_for_later<Req, R: ReplayRequest<Req>>(
        &self,
        replay: &R,
        req: &mut Req,
    ) -> Option<Req> {
        if self.max_attempts() == 1 {
            return None;
        }
        replay.prepare(req);
        let copy = replay.replay(req);
        if copy.is_none() {
            self.not_replayable();
        }
        copy
    }

    /// Counts a call that could have been retried but whose request could
    /// not be copied (a streaming body; a gRPC call past the retry
    /// buffer's limit): it gets one attempt.
    #[cold]
    pub(crate) fn not_replayable(&self) {
        self.counts[NOT_REPLAYABLE].fetch_add(1, Ordering::Relaxed);
    }

    /// Marks `req` as a call's first attempt, `(deadline, left)` being
    /// what [`begin`](Self::begin) returned.
    #[inline]
    pub(crate) fn mark_first<Req, R: ReplayRequest<Req>>(
        &self,
        replay: &R,
        req: &mut Req,
        (deadline, left): (Option<Instant>, Option<Duration>),
    ) {
        let attempt = Attempt {
            number: 1,
            remaining: left,
            deadline,
        };
        replay.before_attempt(req, attempt);
    }

    /// The delays for one call's retries, from a stream of its own.
    pub(crate) fn delays(&self) -> Delays {
        let stream = self.streams.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let timing = self.timing.load();
        timing.backoff.delays(timing.jitter, seed)
    }

    /// Time left before `deadline`.
    pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Judges a result: `None` to accept it, or the failure to retry, or
    /// why it must not be retried.
    pub(crate) fn judge<Res, E: 'static>(
        &self,
        result: &Result<Res, E>,
        verdict: RetryVerdict,
    ) -> Result<Option<Failure>, GaveUp> {
        let mut failure = Failure {
            reason: RetryReason::Response,
            told: None,
            never_sent: false,
            throttled: false,
        };
        if let Err(e) = result {
            failure.reason = RetryReason::Error;
            if let Some((kind, retry_after)) = rejection_of(e) {
                if is_stop_signal(kind) && !self.retry_stop_signals {
                    return Err(GaveUp::NotRetryable);
                }
                // A local rejection: the request never reached the dependency.
                // (An injected fault plays a dependency's failure: it may
                // have been sent.)
                failure.never_sent =
                    !matches!(kind, RejectionKind::Elapsed | RejectionKind::Injected);
                if retry_after.is_some() {
                    failure.reason = RetryReason::Throttled;
                    failure.told = retry_after;
                }
            } else {
                failure.never_sent = connection_refused(e);
            }
        }
        match verdict {
            RetryVerdict::Accept if result.is_ok() => return Ok(None),
            RetryVerdict::Accept => return Err(GaveUp::NotRetryable),
            RetryVerdict::Retry => {}
            RetryVerdict::RetryAfter(d) => {
                failure.reason = RetryReason::Throttled;
                failure.told = Some(failure.told.map_or(d, |t| t.max(d)));
            }
        }
        // gRFC A6: every retryable failure takes a token, the last attempt's
        // too, and a retry is refused at half the tokens or below.
        if let Some(t) = &self.throttle {
            failure.throttled = !t.on_failure();
        }
        Ok(Some(failure))
    }

    /// An attempt's result was accepted: refills the throttle, if there is
    /// one and `success` says it succeeded (the hot path: one test without
    /// a throttle).
    #[inline]
    pub(crate) fn accepted(&self, success: impl FnOnce() -> bool) {
        if let Some(t) = &self.throttle {
            if success() {
                t.on_success();
            }
        }
    }

    /// After attempt `attempt` failed with `failure`: the delay before the
    /// next, or why not to make one. Spends from the budget when it says
    /// yes, and reports either way (events, counts).
    pub(crate) fn schedule(
        &self,
        failure: Failure,
        attempt: u32,
        deadline: Option<Instant>,
        delays: &mut Delays,
    ) -> Result<Duration, GaveUp> {
        let decision = self.decide(failure, attempt, deadline, delays);
        match decision {
            Ok(delay) => {
                self.counts[RETRIES + failure.reason as usize].fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                metrics::histogram!("seawall_retry_backoff_seconds", "name" => self.name.clone())
                    .record(delay.as_secs_f64());
                self.emit(|| EventKind::RetryScheduled {
                    attempt: attempt + 1,
                    delay,
                    reason: failure.reason,
                });
            }
            Err(gave_up) => self.report_gave_up(attempt, gave_up),
        }
        decision
    }

    /// Counts and reports a failed attempt that would have been retried
    /// but may not be (not idempotent) or cannot be (no copy).
    #[cold]
    pub(crate) fn not_retried(&self, attempts: u32, reason: NotRetriedReason) {
        self.counts[NOT_RETRIED + reason as usize].fetch_add(1, Ordering::Relaxed);
        self.emit(|| EventKind::NotRetried { attempts, reason });
    }

    /// Failed attempts not retried for `reason`.
    pub(crate) fn not_retried_calls(&self, reason: NotRetriedReason) -> u64 {
        self.counts[NOT_RETRIED + reason as usize].load(Ordering::Relaxed)
    }

    /// Counts and reports a call that stopped retrying after `attempts`
    /// attempts: here, or when its next attempt could not start in time.
    pub(crate) fn report_gave_up(&self, attempts: u32, gave_up: GaveUp) {
        if gave_up == GaveUp::BudgetExhausted {
            self.counts[GAVE_UP_BUDGET].fetch_add(1, Ordering::Relaxed);
            self.emit(|| EventKind::BudgetExhausted { attempts });
            return;
        }
        let slot = match gave_up {
            GaveUp::DeadlineExceeded => GAVE_UP_DEADLINE,
            GaveUp::Throttled => GAVE_UP_THROTTLED,
            _ => GAVE_UP_ATTEMPTS,
        };
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.emit(|| EventKind::RetriesExhausted { attempts, gave_up });
    }

    fn decide(
        &self,
        failure: Failure,
        attempt: u32,
        deadline: Option<Instant>,
        delays: &mut Delays,
    ) -> Result<Duration, GaveUp> {
        if attempt >= self.max_attempts() {
            return Err(GaveUp::AttemptsExhausted);
        }
        let mut delay = delays.next().unwrap_or_default();
        if let Some(told) = failure.told {
            if (self.timing.load().max_retry_after).is_some_and(|max| told > max) {
                return Err(GaveUp::DeadlineExceeded); // longer than we wait
            }
            delay = delay.max(told); // the dependency said when
        }
        if let Some(remaining) = Self::remaining(deadline) {
            // The sleep must end, and the attempt start, before the deadline.
            if delay >= remaining {
                return Err(GaveUp::DeadlineExceeded);
            }
        }
        if failure.throttled {
            return Err(GaveUp::Throttled);
        }
        // Last: the budget is spent only on a retry that will happen.
        if let Some(b) = &self.budget {
            if !b.try_withdraw() {
                return Err(GaveUp::BudgetExhausted);
            }
        }
        Ok(delay)
    }

    /// Emits `kind` to the listeners that want it (a reconfiguration).
    pub(crate) fn emit_event(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Retry, &self.name, &self.clock, kind);
    }

    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        if self.listeners.wants(EventMask::RETRIES) || cfg!(feature = "tracing") {
            self.listeners
                .emit_now(Pattern::Retry, &self.name, &self.clock, kind());
        }
    }

    /// Original calls so far.
    pub(crate) fn calls(&self) -> u64 {
        match (&self.calls, &self.budget) {
            (Some(calls), _) => calls.sum(0),
            (None, Some(b)) => b.deposits(),
            (None, None) => 0,
        }
    }

    /// Retries made, by reason.
    pub(crate) fn retries(&self, reason: RetryReason) -> u64 {
        self.counts[RETRIES + reason as usize].load(Ordering::Relaxed)
    }

    /// Calls whose request could not be copied for a retry.
    pub(crate) fn not_replayable_calls(&self) -> u64 {
        self.counts[NOT_REPLAYABLE].load(Ordering::Relaxed)
    }

    /// Calls that gave up, by why (attempts, deadline, budget, throttle).
    pub(crate) fn gave_up(&self, why: GaveUp) -> u64 {
        let slot = match why {
            GaveUp::AttemptsExhausted => GAVE_UP_ATTEMPTS,
            GaveUp::DeadlineExceeded => GAVE_UP_DEADLINE,
            GaveUp::BudgetExhausted => GAVE_UP_BUDGET,
            GaveUp::Throttled => GAVE_UP_THROTTLED,
            _ => return 0,
        };
        self.counts[slot].load(Ordering::Relaxed)
    }
}

/// Seawall's rejections that mean "stop": retrying cannot help and would
/// add load (an inner retry that gave up is not retried again either).
fn is_stop_signal(kind: RejectionKind) -> bool {
    matches!(
        kind,
        RejectionKind::CircuitOpen
            | RejectionKind::BulkheadFull
            | RejectionKind::FeatureDisabled
            | RejectionKind::KeyLimitReached
            | RejectionKind::RetriesExhausted
            | RejectionKind::Overloaded
    )
}

/// The error as a `dyn Error`, when it is a `BoxError` or an `io::Error`.
fn as_dyn_error<E: 'static>(error: &E) -> Option<&(dyn Error + 'static)> {
    let any = error as &dyn Any;
    if let Some(b) = any.downcast_ref::<tower::BoxError>() {
        Some(&**b)
    } else {
        any.downcast_ref::<std::io::Error>()
            .map(|e| e as &(dyn Error + 'static))
    }
}

/// The seawall rejection in `error`, with its `retry_after`.
pub(crate) fn rejection_of<E: 'static>(error: &E) -> Option<(RejectionKind, Option<Duration>)> {
    find_rejection(as_dyn_error(error)?).map(|r| (r.kind(), r.retry_after()))
}

/// Whether a refused connection is in `error`'s source chain: the request
/// was never sent.
fn connection_refused<E: 'static>(error: &E) -> bool {
    let mut current = as_dyn_error(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        current = e.source();
    }
    false
}
