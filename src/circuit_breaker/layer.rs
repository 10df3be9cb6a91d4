//! The breaker as tower middleware.

use super::future::ResponseFuture;
use super::CircuitBreaker;
use crate::outcome::Classify;
use crate::stripes::Handles;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Wraps services with a [`CircuitBreaker`]; every service it makes shares
/// the one breaker.
///
/// Admission is decided in `call`, not `poll_ready` (which only forwards to
/// the inner service): a rejection is a ready [`CircuitOpen`](crate::CircuitOpen)
/// error, an admission calls the inner service at once. Errors are boxed,
/// like tower's own middleware; the classifier sees the typed result first.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("inventory")
///     .classify(|r: &Result<u16, std::io::Error>| match r {
///         Ok(status) if *status >= 500 => Outcome::Failure,
///         Ok(_) => Outcome::Success,
///         Err(_) => Outcome::Failure,
///     })
///     .build()?;
/// let mut svc = ServiceBuilder::new()
///     .layer(breaker.layer())
///     .service(service_fn(|_req: ()| async { Ok::<u16, std::io::Error>(200) }));
/// assert_eq!(svc.ready().await?.call(()).await?, 200);
/// # Ok(()) }
/// ```
pub struct CircuitBreakerLayer<C> {
    // The breaker (classifier included) behind per-thread handles: a call's
    // future holds one reference count, taken on this thread's handle, and
    // reaches the classifier through it instead of carrying a copy.
    breaker: Handles<CircuitBreaker<C>>,
}

impl<C> CircuitBreakerLayer<C> {
    /// A layer sharing `breaker`.
    pub fn new(breaker: CircuitBreaker<C>) -> Self {
        Self {
            breaker: Handles::new(Arc::new(breaker)),
        }
    }

    /// The shared breaker, for inspection and control.
    pub fn handle(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }

    /// The shared breaker (for the fused client preset).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn breaker(&self) -> &Arc<CircuitBreaker<C>> {
        &self.breaker
    }
}

impl<C> Clone for CircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CircuitBreakerLayer")
            .field(self.handle())
            .finish()
    }
}

impl<S, C> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
        }
    }
}

/// A service guarded by a circuit breaker; made by [`CircuitBreakerLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("echo").build()?;
/// let mut svc = breaker.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(breaker.metrics().total_successes, 1);
/// # Ok(()) }
/// ```
pub struct CircuitBreakerService<S, C> {
    inner: S,
    breaker: Handles<CircuitBreaker<C>>,
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The shared breaker, for inspection and control.
    pub fn handle(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", self.handle())
            .finish()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = self.breaker.get();
        match breaker.core.try_acquire() {
            Ok(ticket) => {
                // The reference count before the call (see the timeout's).
                let breaker = breaker.clone();
                ResponseFuture::called(self.inner.call(req), breaker, ticket)
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
