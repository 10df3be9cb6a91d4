//! The rate-limit layers' response futures.

use super::{Denied, RateLimiter};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tower::BoxError;
use tower_service::Service;

pin_project! {
    /// The response future of the rejecting layers: a ready rejection, or
    /// the inner call.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] future: F },
        Rejected { error: Option<BoxError> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F) -> Self {
        Self {
            kind: Kind::Called { future },
        }
    }
    pub(crate) fn rejected(error: BoxError) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future } => future.poll(cx).map_err(Into::into),
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate_limit::ResponseFuture")
    }
}

pin_project! {
    /// The response future of [`WaitingRateLimitService`](super::WaitingRateLimitService):
    /// waits for a slot (an exact sleep to when it frees, never a polling
    /// loop; consuming nothing until admitted), then drives its own clone of
    /// the inner service to readiness and calls it.
    pub struct WaitingResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        limiter: RateLimiter,
        // Clock time the wait began; `None` until first polled.
        started: Option<u64>,
        #[pin]
        state: WaitState<S, Req>,
    }
}

pin_project! {
    #[project = WaitStateProj]
    enum WaitState<S, Req>
    where
        S: Service<Req>,
    {
        Acquiring { service: Option<S>, request: Option<Req> },
        Sleeping { #[pin] sleep: Sleep, service: Option<S>, request: Option<Req> },
        Readying { service: S, request: Option<Req> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S: Service<Req>, Req> WaitingResponseFuture<S, Req> {
    pub(crate) fn new(limiter: RateLimiter, service: S, request: Req) -> Self {
        Self {
            limiter,
            started: None,
            state: WaitState::Acquiring {
                service: Some(service),
                request: Some(request),
            },
        }
    }
}

impl<S, Req> Future for WaitingResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                WaitStateProj::Acquiring { service, request } => {
                    let shared = &this.limiter.inner.shared;
                    let now = shared.clock.now();
                    let started = *this.started.get_or_insert(now);
                    let waited = now.saturating_sub(started);
                    let (service, request) = (service.take(), request.take());
                    let cell = this.limiter.inner.cell();
                    match shared.limit().acquire(cell, now, 1) {
                        Ok(()) => {
                            shared.permitted((waited > 0).then_some(waited));
                            let service = service.expect("polled after completion");
                            this.state.set(WaitState::Readying { service, request });
                        }
                        Err(Denied::Wait(w)) if waited.saturating_add(w) <= shared.max_wait => {
                            let sleep = tokio::time::sleep(Duration::from_nanos(w));
                            this.state.set(WaitState::Sleeping {
                                sleep,
                                service,
                                request,
                            });
                        }
                        Err(d) => {
                            if let Denied::Wait(w) = d {
                                shared.rejected(w);
                            }
                            return Poll::Ready(Err(shared.limited(d).boxed()));
                        }
                    }
                }
                WaitStateProj::Sleeping {
                    sleep,
                    service,
                    request,
                } => {
                    ready!(sleep.poll(cx));
                    let (service, request) = (service.take(), request.take());
                    this.state.set(WaitState::Acquiring { service, request });
                }
                WaitStateProj::Readying { service, request } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                    let request = request.take().expect("polled after completion");
                    let future = service.call(request);
                    this.state.set(WaitState::Calling { future });
                }
                WaitStateProj::Calling { future } => return future.poll(cx).map_err(Into::into),
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for WaitingResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate_limit::WaitingResponseFuture")
    }
}
