//! A fallback that answers every failure, so its service cannot fail: its
//! error type is `Infallible`, as axum routes require.

use super::{Failed, ResponseClassifier, Stats};
use crate::outcome::Outcome;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Answers every failure with `f(failed)`; made by
/// [`FallbackBuilder::always`](super::FallbackBuilder::always).
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(Fallback::builder("page").always(|_: Failed<String>| "try again soon".to_string()))
///     .service(service_fn(|_: ()| async { Err::<String, _>(std::io::Error::other("down")) }));
/// let answer: Result<String, Infallible> = svc.oneshot(()).await;
/// assert_eq!(answer.unwrap(), "try again soon");
/// # }
/// ```
pub struct AlwaysLayer<F, C> {
    pub(super) stats: Arc<Stats>,
    pub(super) answer: F,
    pub(super) classifier: C,
}

impl<F: Clone, C: Clone> Clone for AlwaysLayer<F, C> {
    fn clone(&self) -> Self {
        Self {
            stats: self.stats.clone(),
            answer: self.answer.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<F, C> fmt::Debug for AlwaysLayer<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlwaysLayer").finish()
    }
}

impl<S, F: Clone, C: Clone> Layer<S> for AlwaysLayer<F, C> {
    type Service = AlwaysService<S, F, C>;
    fn layer(&self, inner: S) -> Self::Service {
        AlwaysService {
            inner,
            parts: Arc::new(self.clone()),
            ready_error: None,
        }
    }
}

/// A service that never fails; made by [`AlwaysLayer`].
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use std::convert::Infallible;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Infallible> {
/// let mut svc = Fallback::builder("page")
///     .always(|_failed: Failed<&str>| "sorry, try later")
///     .layer(service_fn(|_: ()| async { Err::<&str, seawall::BoxError>("down".into()) }));
/// let answer: Result<&str, Infallible> = svc.ready().await?.call(()).await;
/// assert_eq!(answer?, "sorry, try later");
/// # Ok(()) }
/// ```
pub struct AlwaysService<S, F, C> {
    inner: S,
    parts: Arc<AlwaysLayer<F, C>>,
    /// The inner service's readiness error, answered at the next `call`.
    ready_error: Option<BoxError>,
}

impl<S: Clone, F, C> Clone for AlwaysService<S, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            parts: self.parts.clone(),
            ready_error: None,
        }
    }
}

impl<S: fmt::Debug, F, C> fmt::Debug for AlwaysService<S, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlwaysService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, F, C, Req> Service<Req> for AlwaysService<S, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Fn(Failed<S::Response>) -> S::Response,
    C: ResponseClassifier<S::Response>,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = AlwaysFuture<S::Future, F, C>;

    // An inner service that fails to become ready is answered too, at
    // `call` (tower's contract gives no request to answer here).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.ready_error = r.err().map(Into::into);
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let future = match self.ready_error.take() {
            None => Some(self.inner.call(req)),
            Some(e) => {
                return AlwaysFuture {
                    future: None,
                    early: Some(e),
                    parts: self.parts.clone(),
                };
            }
        };
        AlwaysFuture {
            future,
            early: None,
            parts: self.parts.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`AlwaysService`].
    ///
    /// ```
    /// use seawall::fallback::{Failed, Fallback};
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), std::convert::Infallible> {
    /// let mut svc = Fallback::builder("page")
    ///     .always(|_failed: Failed<&str>| "sorry")
    ///     .layer(service_fn(|_: ()| async { Ok::<&str, seawall::BoxError>("page") }));
    /// let future = svc.ready().await?.call(());
    /// assert_eq!(future.await?, "page");
    /// # Ok(()) }
    /// ```
    pub struct AlwaysFuture<Fut, F, C> {
        #[pin]
        future: Option<Fut>,
        early: Option<BoxError>,
        parts: Arc<AlwaysLayer<F, C>>,
    }
}

impl<Fut, F, C, Res, E> Future for AlwaysFuture<Fut, F, C>
where
    Fut: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    F: Fn(Failed<Res>) -> Res,
    C: ResponseClassifier<Res>,
{
    type Output = Result<Res, Infallible>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let failed = match this.future.as_pin_mut() {
            Some(future) => match ready!(future.poll(cx)) {
                Ok(res) if this.parts.classifier.classify(&res) != Outcome::Failure => {
                    return Poll::Ready(Ok(res))
                }
                Ok(res) => Failed::Response(res),
                Err(e) => Failed::Error(e.into()),
            },
            None => Failed::Error(
                this.early
                    .take()
                    .unwrap_or_else(|| "inner service not ready".into()),
            ),
        };
        this.parts.stats.answered();
        Poll::Ready(Ok((this.parts.answer)(failed)))
    }
}

impl<Fut, F, C> fmt::Debug for AlwaysFuture<Fut, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlwaysFuture")
    }
}
