//! The bulkhead layers' response futures. Each holds its slot until the
//! inner call completes, and returns it when dropped (cancelled) or unwound.

use super::{Acquire, BulkheadPermit};
use crate::error::BulkheadFull;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_service::Service;

pin_project! {
    /// The response future of [`BulkheadService`](super::BulkheadService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] future: F, permit: Option<BulkheadPermit> },
        Rejected { error: Option<BulkheadFull> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F, permit: BulkheadPermit) -> Self {
        Self {
            kind: Kind::Called {
                future,
                permit: Some(permit),
            },
        }
    }
    pub(crate) fn rejected(error: BulkheadFull) -> Self {
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
            KindProj::Called { future, permit } => {
                let out = ready!(future.poll(cx));
                drop(permit.take()); // the slot frees as soon as the call ends
                Poll::Ready(out.map_err(Into::into))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(Box::new(
                error
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ))),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bulkhead::ResponseFuture")
    }
}

pin_project! {
    /// The response future of [`WaitingBulkheadService`](super::WaitingBulkheadService):
    /// waits (FIFO, up to `max_wait`) for a slot, then drives its own clone
    /// of the inner service to readiness and calls it.
    pub struct WaitingResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
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
        Acquiring { acquire: Acquire, service: Option<S>, request: Option<Req> },
        Readying { service: S, request: Option<Req>, permit: Option<BulkheadPermit> },
        Calling { #[pin] future: S::Future, permit: Option<BulkheadPermit> },
    }
}

impl<S: Service<Req>, Req> WaitingResponseFuture<S, Req> {
    pub(crate) fn new(acquire: Acquire, service: S, request: Req) -> Self {
        Self {
            state: WaitState::Acquiring {
                acquire,
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
                WaitStateProj::Acquiring {
                    acquire,
                    service,
                    request,
                } => {
                    let permit = match ready!(Pin::new(acquire).poll(cx)) {
                        Ok(p) => p,
                        Err(full) => return Poll::Ready(Err(Box::new(full))),
                    };
                    let service = service.take().expect("polled after completion");
                    let request = request.take();
                    this.state.set(WaitState::Readying {
                        service,
                        request,
                        permit: Some(permit),
                    });
                }
                WaitStateProj::Readying {
                    service,
                    request,
                    permit,
                } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                    let future = service.call(request.take().expect("polled after completion"));
                    let permit = permit.take();
                    this.state.set(WaitState::Calling { future, permit });
                }
                WaitStateProj::Calling { future, permit } => {
                    let out = ready!(future.poll(cx));
                    drop(permit.take());
                    return Poll::Ready(out.map_err(Into::into));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for WaitingResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bulkhead::WaitingResponseFuture")
    }
}
