//! The retry layer's response future: call, judge, sleep, ready, call again.

use super::layer::{Backup, Stripe};
use super::policy::Shared;
use super::{Delays, GaveUp, RetriesExhausted, RetryVerdict, ShouldRetry};
use crate::replay::{Attempt, ReplayRequest};
use crate::telemetry::NotRetriedReason;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::BoxError;
use tower_service::Service;

pin_project! {
    /// The response future of [`RetryService`](super::RetryService).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let retry = Retry::builder("echo").max_attempts(2).no_budget().build()?;
    /// let mut svc = retry.layer().layer(service_fn(|_x: u32| async { Err::<u32, BoxError>("down".into()) }));
    /// let err = svc.ready().await?.call(7).await.unwrap_err();
    /// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::RetriesExhausted);
    /// # Ok(()) }
    /// ```
    #[project = FutureProj]
    pub struct ResponseFuture<S, Req, P, R>
    where
        S: Service<Req>,
    {
        stripe: Arc<Stripe<S, P, R>>,
        // A copy for the next attempt; `None`: no further attempt possible.
        request: Option<Req>,
        attempt: u32,
        deadline: Option<Instant>,
        idempotent: bool,
        // Boxed so the first-attempt future stays small; made on the first
        // failure only.
        retrying: Later<S>,
        #[pin]
        state: State<S::Future>,
    }
}

/// What a call needs once it retries: its delays and its own copy of the
/// inner service. Its own, not one shared by every call's retries: a
/// service keeps one waker per copy, so calls waiting on one copy for
/// readiness (a concurrency limit, a `Buffer`, a connecting channel) would
/// overwrite each other's and all but the last would never be woken.
struct Retrying<S> {
    delays: Delays,
    // Cloned from the layer's copy when the first retry is sent.
    service: Option<S>,
    // The error that made the call retry, kept in case the next attempt
    // cannot start (a response that made it retry is not kept: its body may
    // hold a connection).
    last_error: Option<BoxError>,
    // Fires at the retry's deadline while the service is not ready.
    deadline_timer: Option<Pin<Box<Sleep>>>,
}

/// The [`Retrying`] state of a call that has retried, if it has. Dropped
/// out of line, so a first attempt that succeeds pays one test for it.
struct Later<S>(Option<Box<Retrying<S>>>);

impl<S> Drop for Later<S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            drop_retrying(state);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_retrying<S>(state: Box<Retrying<S>>) {
    drop(state);
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        // Boxed: a `Sleep` is large, and only a retry needs one.
        Sleeping { sleep: Pin<Box<Sleep>> },
        Readying,
    }
}

impl<S: Service<Req>, Req, P, R: ReplayRequest<Req>> ResponseFuture<S, Req, P, R> {
    /// Makes the first attempt: `inner.call(req)`, keeping a copy of `req`
    /// for later ones. Built as one struct expression so the copy and the
    /// inner future are written where the future lives, not moved there.
    #[inline]
    pub(crate) fn start(
        inner: &mut S,
        shared: &Shared,
        stripe: &Arc<Stripe<S, P, R>>,
        mut req: Req,
    ) -> Self {
        // The reference count first: its locked instruction waits for the
        // store buffer to drain, which is cheapest before the copies below.
        let handle = stripe.clone();
        let b: &Backup<S, P, R> = stripe;
        let start = shared.begin(b.replay.budget(&req));
        let deadline = start.0;
        let idempotent = b.replay.is_idempotent(&req);
        Self {
            // Cheap for `Bytes` bodies and `Arc`s.
            request: shared.copy_for_later(&b.replay, &mut req),
            state: State::Calling {
                future: {
                    shared.mark_first(&b.replay, &mut req, start);
                    inner.call(req)
                },
            },
            stripe: handle,
            attempt: 1,
            deadline,
            idempotent,
            retrying: Later(None),
        }
    }
}

impl<S, Req, P, R> ResponseFuture<S, Req, P, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError> + 'static,
    R: ReplayRequest<Req>,
{
    /// Takes over a call whose first attempt was made elsewhere (the fused
    /// client preset) and did not end in an accepted response: `request`
    /// is the copy kept for later attempts, `deadline` and `idempotent`
    /// what [`start`](Self::start) would have found. The retry's future,
    /// sleeping before the second attempt, or the result to return.
    #[cold]
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn resume(
        stripe: Arc<Stripe<S, P, R>>,
        mut request: Option<Req>,
        deadline: Option<Instant>,
        idempotent: bool,
        result: Result<S::Response, S::Error>,
        verdict: RetryVerdict,
    ) -> Result<Self, Result<S::Response, BoxError>> {
        let mut retrying = Later(None);
        let delay = Call {
            backup: &stripe.0,
            request: &mut request,
            attempt: 1,
            deadline,
            idempotent,
            retrying: &mut retrying,
        }
        .failed(result, verdict)?;
        Ok(Self {
            stripe,
            request,
            attempt: 1,
            deadline,
            idempotent,
            retrying,
            state: State::Sleeping {
                sleep: Box::pin(crate::clock::sleep(delay, "a retry's backoff")),
            },
        })
    }
}

impl<S, Req, P, R> Future for ResponseFuture<S, Req, P, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError> + 'static,
    P: ShouldRetry<S::Response, S::Error>,
    R: ReplayRequest<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    let verdict = this.stripe.predicate.verdict(&result);
                    if verdict == RetryVerdict::Accept && result.is_ok() {
                        let predicate = &this.stripe.predicate;
                        this.stripe
                            .0
                            .shared
                            .accepted(|| predicate.is_success(&result));
                        return Poll::Ready(result.map_err(Into::into)); // the hot path
                    }
                    match this.call().failed(result, verdict) {
                        Ok(delay) => this.state.set(State::Sleeping {
                            sleep: Box::pin(crate::clock::sleep(delay, "a retry's backoff")),
                        }),
                        Err(out) => return Poll::Ready(out),
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let future = match ready!(this.call().next_attempt(cx)) {
                        Ok(future) => future,
                        Err(e) => return Poll::Ready(Err(e)),
                    };
                    *this.attempt += 1;
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, P, R> FutureProj<'_, S, Req, P, R> {
    /// The fields the slow paths need, borrowed.
    fn call(&mut self) -> Call<'_, S, Req, P, R> {
        Call {
            backup: &self.stripe.0,
            request: self.request,
            attempt: *self.attempt,
            deadline: *self.deadline,
            idempotent: *self.idempotent,
            retrying: self.retrying,
        }
    }
}

/// The response future's fields the slow paths need, borrowed.
struct Call<'a, S: Service<Req>, Req, P, R> {
    backup: &'a Arc<Backup<S, P, R>>,
    request: &'a mut Option<Req>,
    attempt: u32,
    deadline: Option<Instant>,
    idempotent: bool,
    retrying: &'a mut Later<S>,
}

impl<S, Req, P, R> Call<'_, S, Req, P, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError> + 'static,
    R: ReplayRequest<Req>,
{
    /// After a failed attempt: the delay before the next, or the result to
    /// return. Kept out of line: the success path stays small.
    #[inline(never)]
    fn failed(
        self,
        result: Result<S::Response, S::Error>,
        verdict: RetryVerdict,
    ) -> Result<Duration, Result<S::Response, BoxError>> {
        let shared = &*self.backup.shared;
        let failure = match shared.judge(&result, verdict) {
            Ok(Some(failure)) => failure,
            // Accepted, or never to be retried: as it came.
            Ok(None) | Err(_) => return Err(result.map_err(Into::into)),
        };
        // Not replayable (no copy while attempts remain) or not safe to
        // resend: one attempt only, result as it came.
        let last = self.attempt >= shared.max_attempts();
        if let Some(copy) = self.request.as_ref() {
            if !last && !self.backup.replay.can_replay(copy) {
                // Its recording let some of the body go: no more attempts.
                *self.request = None;
                shared.not_replayable();
            }
        }
        let not_retried = if self.request.is_none() && !last {
            Some(NotRetriedReason::NotReplayable)
        } else if !self.idempotent && !failure.never_sent {
            Some(NotRetriedReason::NotIdempotent)
        } else {
            None
        };
        if let Some(reason) = not_retried {
            // Counted only where a retry was still possible.
            if !last {
                shared.not_retried(self.attempt, reason);
            }
            return Err(result.map_err(Into::into));
        }
        let retrying = self.retrying.0.get_or_insert_with(|| {
            Box::new(Retrying {
                delays: shared.delays(),
                service: None,
                last_error: None,
                deadline_timer: None,
            })
        });
        match shared.schedule(failure, self.attempt, self.deadline, &mut retrying.delays) {
            Ok(delay) => {
                retrying.last_error = result.err().map(Into::into);
                Ok(delay)
            }
            Err(gave_up) => Err(give_up(shared, self.attempt, gave_up, result)),
        }
    }

    /// Readies this call's copy of the service and calls it with the next
    /// attempt's request.
    #[inline(never)]
    fn next_attempt(self, cx: &mut Context<'_>) -> Poll<Result<S::Future, BoxError>>
    where
        S: Clone,
    {
        let backup = &**self.backup;
        // Made in `failed` before any retry is scheduled.
        let Some(retrying) = self.retrying.0.as_deref_mut() else {
            return Poll::Ready(Err("retry: no retry scheduled".into()));
        };
        let service = retrying
            .service
            .get_or_insert_with(|| backup.service.lock().clone());
        match service.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            // Not ready: wait, but not past the deadline.
            Poll::Pending => {
                let Some(deadline) = self.deadline else {
                    return Poll::Pending;
                };
                let timer = retrying.deadline_timer.get_or_insert_with(|| {
                    Box::pin(crate::clock::sleep_until(deadline, "a retry's deadline"))
                });
                ready!(timer.as_mut().poll(cx));
                return Poll::Ready(Err(not_started(backup, self.attempt, retrying)));
            }
        }
        let remaining = Shared::remaining(self.deadline);
        if remaining == Some(Duration::ZERO) {
            // Ready only once the deadline had passed: no attempt starts late.
            return Poll::Ready(Err(not_started(backup, self.attempt, retrying)));
        }
        let number = self.attempt + 1;
        // Keep a copy only while another attempt may follow.
        let next = if number < backup.shared.max_attempts() {
            match self.request.as_ref().and_then(|r| backup.replay.replay(r)) {
                Some(copy) => Some(copy),
                None => self.request.take(),
            }
        } else {
            self.request.take()
        };
        // A retry is scheduled only while a copy is held.
        let Some(mut req) = next else {
            return Poll::Ready(Err("retry: no request left to send".into()));
        };
        backup.replay.before_attempt(
            &mut req,
            Attempt {
                number,
                remaining,
                deadline: self.deadline,
            },
        );
        Poll::Ready(Ok(service.call(req)))
    }
}

/// The error of a call whose next attempt could not start before the
/// retry's deadline because the service was not ready: `RetriesExhausted`
/// with the error that made it retry, or saying so when a response did.
#[cold]
fn not_started<S, P, R>(
    backup: &Backup<S, P, R>,
    attempts: u32,
    retrying: &mut Retrying<S>,
) -> BoxError {
    let shared = &*backup.shared;
    shared.report_gave_up(attempts, GaveUp::DeadlineExceeded);
    let source = retrying.last_error.take().unwrap_or_else(|| {
        format!(
            "retry `{}`: the service was not ready for the next attempt",
            shared.name
        )
        .into()
    });
    exhausted(shared, attempts, GaveUp::DeadlineExceeded, source)
}

/// The result of a call the retry gave up on: a response as it came, an
/// error wrapped in `RetriesExhausted`.
fn give_up<Res, E: Into<BoxError>>(
    shared: &Shared,
    attempts: u32,
    gave_up: GaveUp,
    result: Result<Res, E>,
) -> Result<Res, BoxError> {
    result.map_err(|e| exhausted(shared, attempts, gave_up, e.into()))
}

fn exhausted(shared: &Shared, attempts: u32, gave_up: GaveUp, source: BoxError) -> BoxError {
    Box::new(RetriesExhausted::new(
        shared.name.clone(),
        attempts,
        gave_up,
        source,
    ))
}

impl<S: Service<Req>, Req, P, R> fmt::Debug for ResponseFuture<S, Req, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("retry::ResponseFuture")
            .field("name", &self.stripe.shared.name)
            .field("attempt", &self.attempt)
            .finish()
    }
}
