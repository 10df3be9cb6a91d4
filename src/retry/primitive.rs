//! The retry primitive: `retry.call(|attempt| async { ... }).await`.

use super::{Backoff, Jitter, RetryBudget};
use crate::error::{find_rejection, ConfigError, RejectionKind};
use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a retry loop stopped with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// The error is not one to retry (a stop signal like `CircuitOpen`, or
    /// the predicate said no).
    NotRetryable,
    /// `max_attempts` attempts were made.
    AttemptsExhausted,
    /// The retry budget was empty: retrying would have added too much load.
    BudgetExhausted,
    /// The next attempt could not start before the deadline.
    DeadlineExceeded,
}

/// The last error of a retry loop, with how many attempts were made and why
/// it stopped.
#[derive(Debug)]
pub struct RetryError<E> {
    /// The last attempt's error.
    pub error: E,
    /// Attempts made.
    pub attempts: u32,
    /// Why no further attempt was made.
    pub gave_up: GaveUp,
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (after {} attempts; {:?})",
            self.error, self.attempts, self.gave_up
        )
    }
}

impl<E: Error + 'static> Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// Retries a fallible async operation with backoff, jitter, a deadline and
/// a budget. A cheap `Clone` handle.
///
/// ```
/// use seawall::retry::{Backoff, Retry};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let retry = Retry::builder("inventory")
///     .max_attempts(3)
///     .backoff(Backoff::Exponential { base: Duration::from_millis(10), factor: 2.0, cap: Duration::from_secs(1) })
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
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    policy: Policy,
    /// The next call's jitter stream, for the primitive.
    seed: AtomicU64,
}

/// What decides whether and when to retry: plain data, cloned into each
/// layer future so the first-attempt path touches no shared counter.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    max_attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    seed: u64,
    deadline: Option<Duration>,
    budget: Option<RetryBudget>,
}

/// Builds a [`Retry`].
#[derive(Debug)]
#[must_use]
pub struct RetryBuilder {
    name: Arc<str>,
    max_attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    seed: u64,
    deadline: Option<Duration>,
    budget: Option<RetryBudget>,
}

impl Retry {
    /// Starts configuring a retry; `name` labels it. Defaults: 3 attempts,
    /// exponential backoff from 50 ms doubling to 5 s, full jitter.
    pub fn builder(name: &str) -> RetryBuilder {
        RetryBuilder {
            name: Arc::from(name),
            max_attempts: 3,
            backoff: Backoff::Exponential {
                base: Duration::from_millis(50),
                factor: 2.0,
                cap: Duration::from_secs(5),
            },
            jitter: Jitter::Full,
            seed: 0x5EA_3A11,
            deadline: None,
            budget: None,
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
    /// A total deadline: no sleep runs past it, no attempt starts after it.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }
    /// Spend retries from `budget` (shared with whatever else uses it).
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }
    /// Validates and builds.
    pub fn build(self) -> Result<Retry, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                &self.name,
                "max_attempts",
                "must be at least 1, got 0",
            ));
        }
        self.backoff.validate(&self.name)?;
        Ok(Retry {
            inner: Arc::new(Inner {
                name: self.name,
                seed: AtomicU64::new(self.seed),
                policy: Policy {
                    max_attempts: self.max_attempts,
                    backoff: self.backoff,
                    jitter: self.jitter,
                    seed: self.seed,
                    deadline: self.deadline,
                    budget: self.budget,
                },
            }),
        })
    }
}

impl Retry {
    /// The retry's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `op(attempt)` (attempt 1, 2, ...) until it succeeds or the retry
    /// gives up. Errors are retried unless they are seawall's stop signals
    /// (`CircuitOpen`, `BulkheadFull`, `FeatureDisabled`, `KeyLimitReached`);
    /// a `RateLimited` error's `retry_after` lengthens the next delay.
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: 'static,
    {
        self.call_if(op, |_: &E| true).await
    }

    /// Like [`call`](Self::call), retrying only errors `retryable` accepts
    /// (seawall's stop signals are never retried).
    pub async fn call_if<F, Fut, T, E, P>(
        &self,
        mut op: F,
        retryable: P,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: 'static,
        P: Fn(&E) -> bool,
    {
        let (start, mut delays) = self.begin();
        let mut attempt = 1;
        loop {
            let error = match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay = match self.next_delay(
                rejection_of(&error),
                retryable(&error),
                attempt,
                Some(start),
                &mut delays,
            ) {
                Ok(d) => d,
                Err(gave_up) => {
                    return Err(RetryError {
                        error,
                        attempts: attempt,
                        gave_up,
                    })
                }
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

impl Retry {
    pub(crate) fn begin(&self) -> (Instant, super::Delays) {
        let p = &self.inner.policy;
        p.deposit();
        let seed = self
            .inner
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        (Instant::now(), p.backoff.delays(p.jitter, seed))
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    fn next_delay(
        &self,
        signal: Option<(RejectionKind, Option<Duration>)>,
        retryable: bool,
        attempt: u32,
        start: Option<Instant>,
        delays: &mut super::Delays,
    ) -> Result<Duration, GaveUp> {
        self.inner
            .policy
            .next_delay(signal, retryable, attempt, start, delays)
    }
}

/// Streams handed to layer futures on their first failure (process-wide,
/// so the first attempt needs no shared state).
static LAYER_STREAMS: AtomicU64 = AtomicU64::new(0);

impl Policy {
    /// Credits the budget with one original request.
    #[inline]
    pub(crate) fn deposit(&self) {
        if let Some(b) = &self.budget {
            b.deposit();
        }
    }

    /// Whether a deadline is configured (then the start time is needed).
    #[inline]
    pub(crate) fn has_deadline(&self) -> bool {
        self.deadline.is_some()
    }

    /// A fresh jitter stream for one layer call's retries.
    pub(crate) fn layer_delays(&self) -> super::Delays {
        let stream = LAYER_STREAMS.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.backoff.delays(self.jitter, seed)
    }

    /// After attempt `attempt` failed: the delay before the next, or why
    /// not to make one. Spends from the budget when it says yes.
    pub(crate) fn next_delay(
        &self,
        signal: Option<(RejectionKind, Option<Duration>)>,
        retryable: bool,
        attempt: u32,
        start: Option<Instant>,
        delays: &mut super::Delays,
    ) -> Result<Duration, GaveUp> {
        if matches!(signal, Some((k, _)) if is_stop_signal(k)) || !retryable {
            return Err(GaveUp::NotRetryable);
        }
        if attempt >= self.max_attempts {
            return Err(GaveUp::AttemptsExhausted);
        }
        let mut delay = delays.next().unwrap_or_default();
        if let Some((_, Some(told))) = signal {
            delay = delay.max(told); // the dependency said when
        }
        if let (Some(deadline), Some(start)) = (self.deadline, start) {
            if start.elapsed().saturating_add(delay) >= deadline {
                return Err(GaveUp::DeadlineExceeded);
            }
        }
        if let Some(b) = &self.budget {
            if !b.try_withdraw() {
                return Err(GaveUp::BudgetExhausted);
            }
        }
        Ok(delay)
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.inner.name)
            .finish()
    }
}

fn is_stop_signal(kind: RejectionKind) -> bool {
    matches!(
        kind,
        RejectionKind::CircuitOpen
            | RejectionKind::BulkheadFull
            | RejectionKind::FeatureDisabled
            | RejectionKind::KeyLimitReached
    )
}

/// The seawall rejection in `error` (a `BoxError` or a seawall type), with
/// its `retry_after`.
pub(crate) fn rejection_of<E: 'static>(error: &E) -> Option<(RejectionKind, Option<Duration>)> {
    let any = error as &dyn Any;
    let dyn_err: &(dyn Error + 'static) = if let Some(b) = any.downcast_ref::<tower::BoxError>() {
        &**b
    } else {
        return None;
    };
    find_rejection(dyn_err).map(|r| (r.kind(), r.retry_after()))
}
