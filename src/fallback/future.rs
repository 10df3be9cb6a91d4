//! The fallback layer's response future.

use super::{Decision, FallbackLayer, Handler, Predicate, ResponseClassifier};
use crate::stripes::Handle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::BoxError;

pin_project! {
    /// The response future of [`FallbackService`](super::FallbackService).
    ///
    /// ```
    /// use seawall::fallback::Fallback;
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let mut svc = Fallback::builder("price")
    ///     .value(0u32)
    ///     .layer(service_fn(|_: ()| async { Err::<u32, BoxError>("down".into()) }));
    /// let future = svc.ready().await?.call(());
    /// assert_eq!(future.await?, 0);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<F, G, Req, H, P, C> {
        #[pin]
        state: State<F, G, Req>,
        parts: Arc<Handle<FallbackLayer<H, P, C>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, G, Req> {
        Inner { #[pin] future: F, kept: Option<Req> },
        Fallback { #[pin] future: G },
    }
}

impl<F, G, Req, H, P, C> ResponseFuture<F, G, Req, H, P, C> {
    pub(crate) fn new(
        future: F,
        kept: Option<Req>,
        parts: Arc<Handle<FallbackLayer<H, P, C>>>,
    ) -> Self {
        Self {
            state: State::Inner { future, kept },
            parts,
        }
    }
}

impl<F, G, Req, H, P, C, Res, E> Future for ResponseFuture<F, G, Req, H, P, C>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    G: Future<Output = Result<Res, BoxError>>,
    H: Handler<Req, Res, Future = G>,
    P: Predicate<Res>,
    C: ResponseClassifier<Res>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, kept } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    match this.parts.decide(result, kept.take()) {
                        Decision::Done(out) => return Poll::Ready(out),
                        Decision::Fallback(future) => this.state.set(State::Fallback { future }),
                    }
                }
                StateProj::Fallback { future } => return future.poll(cx),
            }
        }
    }
}

impl<F, G, Req, H, P, C> fmt::Debug for ResponseFuture<F, G, Req, H, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fallback::ResponseFuture")
    }
}
