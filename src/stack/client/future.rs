//! The client presets' response future: the first attempt made in place,
//! later ones handed to the retry's own future.

use super::service::{Attempts, Shared};
use crate::circuit_breaker::Ticket;
use crate::retry::{ReplayRequest, RetryVerdict, ShouldRetry};
use crate::stripes::Handle;
use crate::timeout::Timer;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::BoxError;
use tower_service::Service;

type RetryFuture<S, Req, P, R, C> = crate::retry::ResponseFuture<Attempts<S, C>, Req, P, R>;

pin_project! {
    /// The response future of [`ClientService`](super::ClientService).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let mut client = Stack::http_client("inventory")?.layer(service_fn(|_req: http::Request<String>| async {
    ///     Ok::<_, BoxError>(http::Response::new(String::new()))
    /// }));
    /// let future = client.ready().await?.call(http::Request::new(String::new()));
    /// assert_eq!(future.await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<S, Req, P, R, C>
    where
        S: Service<Req>,
        Attempts<S, C>: Service<Req>,
    {
        #[pin]
        phase: Phase<S::Future, RetryFuture<S, Req, P, R, C>>,
        // The total timeout's, armed when the call is first pending.
        #[pin]
        total: Timer,
        // The retry's copy of the request, for a second attempt.
        copy: Option<Req>,
        deadline: Option<Instant>,
        idempotent: bool,
        shared: Arc<Handle<Shared<S, P, R, C>>>,
    }

    impl<S, Req, P, R, C> PinnedDrop for ResponseFuture<S, Req, P, R, C>
    where
        S: Service<Req>,
        Attempts<S, C>: Service<Req>,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let (ticket, slot) = match this.phase.as_mut().project() {
                PhaseProj::First { ticket, slot, .. } => (ticket.take(), std::mem::take(slot)),
                PhaseProj::Rejected { ticket, .. } => (ticket.take(), false),
                PhaseProj::Retrying { .. } => return,
            };
            if ticket.is_none() && !slot {
                return;
            }
            // Cancelled mid-attempt. In the layers' order: the call first,
            // then its bulkhead slot, then its breaker permit (a cancelled
            // call; slow if it ran past the slow-call threshold).
            this.phase.set(Phase::Rejected { error: None, ticket: None });
            if slot {
                this.shared.bulkhead.give_back();
            }
            if let Some(ticket) = ticket {
                this.shared.breaker.core.cancel(ticket);
            }
        }
    }
}

pin_project! {
    /// Where a call is.
    #[project = PhaseProj]
    pub(crate) enum Phase<F, RF> {
        // The first attempt, called: the service's future, the attempt
        // timeout's timer, the breaker's permit and the bulkhead's slot
        // (`false` once given back).
        First {
            #[pin]
            future: F,
            #[pin]
            timer: Timer,
            ticket: Option<Ticket>,
            slot: bool,
        },
        // The first attempt, rejected by the breaker (no permit) or the
        // bulkhead (with the breaker's permit, which records it).
        Rejected {
            error: Option<BoxError>,
            ticket: Option<Ticket>,
        },
        // Retrying: the retry's own future, through the layers. Boxed: it
        // holds a copy of the request and the layers' futures, and a call
        // that never retries should not carry their room through each move.
        Retrying {
            future: Pin<Box<RF>>,
        },
    }
}

impl<F, RF> Phase<F, RF> {
    /// A first attempt under way, holding `ticket` and a bulkhead slot.
    #[inline]
    pub(crate) fn called(
        future: F,
        ticket: Ticket,
        after: Option<Duration>,
        until: Option<Instant>,
    ) -> Self {
        Phase::First {
            future,
            timer: Timer::new(after, until),
            ticket: Some(ticket),
            slot: true,
        }
    }

    /// A first attempt rejected with `error`.
    #[cold]
    pub(crate) fn rejected(ticket: Option<Ticket>, error: BoxError) -> Self {
        Phase::Rejected {
            error: Some(error),
            ticket,
        }
    }
}

impl<S, Req, P, R, C> ResponseFuture<S, Req, P, R, C>
where
    S: Service<Req>,
    Attempts<S, C>: Service<Req>,
{
    #[inline]
    pub(crate) fn new(
        phase: Phase<S::Future, RetryFuture<S, Req, P, R, C>>,
        total: (Option<Duration>, Option<Instant>),
        copy: Option<Req>,
        deadline: Option<Instant>,
        idempotent: bool,
        shared: Arc<Handle<Shared<S, P, R, C>>>,
    ) -> Self {
        Self {
            phase,
            total: Timer::new(total.0, total.1),
            copy,
            deadline,
            idempotent,
            shared,
        }
    }
}

impl<S, Req, P, R, C> Future for ResponseFuture<S, Req, P, R, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError> + 'static,
    Attempts<S, C>: Service<Req, Response = S::Response, Error = BoxError> + Clone,
    P: ShouldRetry<S::Response, BoxError>,
    R: ReplayRequest<Req>,
    C: crate::Classify<S::Response, BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            // The first attempt's result, as the breaker layer would return
            // it to the retry.
            let result = match this.phase.as_mut().project() {
                PhaseProj::First {
                    future,
                    timer,
                    ticket,
                    slot,
                } => {
                    let result = match future.poll(cx) {
                        Poll::Ready(result) => result.map_err(Into::into),
                        Poll::Pending => match timer.poll_elapsed(cx) {
                            Poll::Ready(after) => {
                                Err(Box::new(this.shared.attempt.elapsed(after)) as BoxError)
                            }
                            Poll::Pending => break,
                        },
                    };
                    if std::mem::take(slot) {
                        this.shared.bulkhead.give_back();
                    }
                    record(this.shared, ticket.take(), &result);
                    result
                }
                PhaseProj::Rejected { error, ticket } => {
                    let Some(error) = error.take() else {
                        panic!("client ResponseFuture polled after completion")
                    };
                    let result = Err(error);
                    record(this.shared, ticket.take(), &result);
                    result
                }
                PhaseProj::Retrying { future } => match future.as_mut().poll(cx) {
                    Poll::Ready(out) => return Poll::Ready(out),
                    Poll::Pending => break,
                },
            };
            let verdict = this.shared.retry.predicate.verdict(&result);
            if verdict == RetryVerdict::Accept && result.is_ok() {
                let retry = &this.shared.retry;
                retry
                    .shared
                    .accepted(|| retry.predicate.is_success(&result));
                return Poll::Ready(result); // the hot path
            }
            let stripe = this.shared.retry.get().clone();
            let (copy, deadline) = (this.copy.take(), *this.deadline);
            match RetryFuture::resume(stripe, copy, deadline, *this.idempotent, result, verdict) {
                Ok(future) => this.phase.set(Phase::Retrying {
                    future: Box::pin(future),
                }),
                Err(out) => return Poll::Ready(out),
            }
        }
        let after = ready!(this.total.poll_elapsed(cx));
        Poll::Ready(Err(Box::new(this.shared.total.elapsed(after))))
    }
}

/// Records the first attempt's outcome with the breaker, if it gave a
/// permit.
#[inline]
fn record<S, P, R, C, Res>(
    shared: &Shared<S, P, R, C>,
    ticket: Option<Ticket>,
    result: &Result<Res, BoxError>,
) where
    C: crate::Classify<Res, BoxError>,
{
    if let Some(ticket) = ticket {
        let outcome = shared.breaker.classifier.classify(result);
        shared.breaker.record_classified(ticket, outcome, result);
    }
}

impl<S, Req, P, R, C> fmt::Debug for ResponseFuture<S, Req, P, R, C>
where
    S: Service<Req>,
    Attempts<S, C>: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stack::ClientResponseFuture")
    }
}
