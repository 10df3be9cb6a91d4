//! The breaker layer's response future.

use super::core::Ticket;
use super::CircuitBreaker;
use crate::error::CircuitOpen;
use crate::outcome::Classify;
use crate::stripes::Handle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::BoxError;

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService):
    /// either a ready rejection or the inner call, whose outcome it records.
    /// Dropped before completion, it records a cancelled call.
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let breaker = CircuitBreaker::builder("echo").build()?;
    /// let mut svc = breaker.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let future = svc.ready().await?.call(7);  // holds the permit
    /// drop(future);                             // dropped unfinished: recorded as cancelled
    /// assert_eq!(breaker.metrics().total_cancelled, 1);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            future: F,
            permit: LayerPermit<C>,
        },
        Rejected {
            error: Option<CircuitOpen>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(
        future: F,
        breaker: Arc<Handle<CircuitBreaker<C>>>,
        ticket: Ticket,
    ) -> Self {
        Self {
            kind: Kind::Called {
                future,
                permit: LayerPermit {
                    breaker: Some(breaker),
                    ticket,
                },
            },
        }
    }

    pub(crate) fn rejected(error: CircuitOpen) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }
}

impl<F, C, Res, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    C: Classify<Res, E>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future, permit } => {
                let result = ready!(future.poll(cx));
                // Classified before the permit lets go of the breaker, so a
                // classifier that panics leaves it to `Drop` (cancelled, the
                // half-open slot returned), not leaked.
                let outcome = permit
                    .breaker
                    .as_ref()
                    .map(|b| b.classifier.classify(&result));
                if let (Some(outcome), Some(breaker)) = (outcome, permit.breaker.take()) {
                    breaker.record_classified(permit.ticket, outcome, &result);
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { error } => match error.take() {
                Some(e) => Poll::Ready(Err(Box::new(e))),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

/// The layer's permit: the breaker (through this thread's handle, which
/// also reaches the classifier) and the admission ticket. Dropped
/// unrecorded — the call's future dropped before it finished — it counts as
/// cancelled and returns any half-open slot.
struct LayerPermit<C> {
    /// `None` once recorded.
    breaker: Option<Arc<Handle<CircuitBreaker<C>>>>,
    ticket: Ticket,
}

impl<C> Drop for LayerPermit<C> {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.core.cancel(self.ticket);
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit_breaker::ResponseFuture")
    }
}
