//! Response futures shared by the admission layers (rate limiter, bulkhead,
//! keyed forms): a decision made in `call` is either a ready rejection or
//! the inner call, optionally holding a guard (a bulkhead slot) until the
//! call ends.

use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;

pin_project! {
    /// A ready rejection, or the inner call.
    pub struct AdmitFuture<F> {
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

impl<F> AdmitFuture<F> {
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

impl<F, T, E> Future for AdmitFuture<F>
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
                .expect("AdmitFuture polled after completion"))),
        }
    }
}

impl<F> fmt::Debug for AdmitFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmitFuture")
    }
}

pin_project! {
    /// The inner call, holding `G` (say, a bulkhead slot) until it ends; a
    /// drop (cancellation, unwinding) releases the guard too.
    pub struct Guarded<F, G> {
        #[pin]
        future: F,
        guard: Option<G>,
    }
}

impl<F, G> Guarded<F, G> {
    pub(crate) fn new(future: F, guard: G) -> Self {
        Self {
            future,
            guard: Some(guard),
        }
    }
}

impl<F: Future, G> Future for Guarded<F, G> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = ready!(this.future.poll(cx));
        drop(this.guard.take()); // released as soon as the call ends
        Poll::Ready(out)
    }
}

impl<F, G> fmt::Debug for Guarded<F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guarded")
    }
}
