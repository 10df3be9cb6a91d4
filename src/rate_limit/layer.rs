//! The direct limiter as tower middleware.

use super::future::{ResponseFuture, SlotWait};
use super::RateLimiter;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Rejects calls over the limit at once with
/// [`RateLimited`](crate::error::RateLimited) (its `retry_after` says when
/// one would fit). Every service it makes shares the one limiter.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::rate_limit::RateLimiter;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("outbound").rate(100, Duration::from_secs(1)).burst(1).build()?;
/// let mut svc = ServiceBuilder::new()
///     .layer(limiter.layer())
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.ready().await?.call(1).await?, 1);
/// let err = svc.ready().await?.call(2).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::RateLimited);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
}

impl RateLimitLayer {
    /// A layer sharing `limiter`.
    pub fn new(limiter: RateLimiter) -> Self {
        Self { limiter }
    }

    /// The shared limiter.
    pub fn handle(&self) -> &RateLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// A service behind a rejecting rate limit; made by [`RateLimitLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(100, Duration::from_secs(1)).build()?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(limiter.metrics().permitted_calls, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: RateLimiter,
}

impl<S, Req> Service<Req> for RateLimitService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.limiter.try_acquire() {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(e) => ResponseFuture::rejected(Box::new(e)),
        }
    }
}

/// Waits up to the limiter's `max_wait` for a slot, then calls; rejects
/// with [`RateLimited`](crate::error::RateLimited) when the slot is further
/// off than that. See [`WaitingLayer`](crate::waiting::WaitingLayer).
///
/// ```
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api")
///     .rate(100, Duration::from_secs(1))
///     .max_wait(Duration::from_millis(250))
///     .build()?;
/// let svc = ServiceBuilder::new()
///     .layer(limiter.waiting_layer())             // waits up to 250 ms for a token
///     .service(tower::service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// # let _ = svc; Ok(()) }
/// ```
pub type WaitingRateLimitLayer = crate::waiting::WaitingLayer<RateLimiter>;

/// A service behind a waiting rate limit; made by [`WaitingRateLimitLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api")
///     .rate(1, Duration::from_secs(10))
///     .max_wait(Duration::from_secs(1))
///     .build()?;
/// let mut svc = limiter.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// svc.ready().await?.call(1).await?;
/// // The next token is 10 s away, past max_wait: refused at once, not after a second.
/// let err = svc.ready().await?.call(2).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::RateLimited);
/// # Ok(()) }
/// ```
pub type WaitingRateLimitService<S> = crate::waiting::WaitingService<S, RateLimiter>;

impl crate::waiting::Admission for RateLimiter {
    type Guard = ();
    type Error = super::LimitError;
    type Wait = SlotWait;
    fn admit(&self) -> SlotWait {
        SlotWait::new(self.clone(), 1)
    }
}
