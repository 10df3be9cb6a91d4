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

/// The response future of [`WaitingBulkheadService`](super::WaitingBulkheadService):
/// waits (FIFO, up to `max_wait`) for a slot, then drives its own clone of
/// the inner service to readiness and calls it, holding the slot until the
/// call ends.
pub type WaitingResponseFuture<S, Req> =
    crate::waiting::WaitThenCall<S, Req, Acquire, BulkheadPermit>;
