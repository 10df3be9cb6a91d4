//! The bulkhead as tower middleware.

use super::future::ResponseFuture;
use super::Bulkhead;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Admits a call only when a slot is free; otherwise answers
/// [`BulkheadFull`](crate::error::BulkheadFull) at once. The slot is held
/// until the call completes (or its future is dropped). Every service made
/// shares the one bulkhead.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("reports").max_concurrent_calls(10).build()?;
/// let mut svc = ServiceBuilder::new()
///     .layer(bulkhead.layer())
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer sharing `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self { bulkhead }
    }

    /// The shared bulkhead.
    pub fn handle(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            bulkhead: self.bulkhead.clone(),
        }
    }
}

/// A service behind a rejecting bulkhead; made by [`BulkheadLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("echo").max_concurrent_calls(8).build()?;
/// let mut svc = bulkhead.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S, Req> Service<Req> for BulkheadService<S>
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
        match self.bulkhead.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(crate::future::Guarded::new(self.inner.call(req), permit))
            }
            Err(full) => ResponseFuture::rejected(Box::new(full)),
        }
    }
}

/// Waits up to the bulkhead's `max_wait` (FIFO) for a slot, then calls;
/// see [`WaitingLayer`](crate::waiting::WaitingLayer).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("echo")
///     .max_concurrent_calls(8)
///     .max_wait(Duration::from_millis(100))
///     .build()?;
/// // Full: waits up to 100 ms for a slot (the inner service must be Clone).
/// let mut svc = bulkhead.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
pub type WaitingBulkheadLayer = crate::waiting::WaitingLayer<Bulkhead>;

/// A service behind a waiting bulkhead; made by [`WaitingBulkheadLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("echo").max_concurrent_calls(1).max_wait(Duration::from_millis(100)).build()?;
/// let mut svc = bulkhead.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let held = bulkhead.try_acquire()?;        // someone else holds the only slot
/// let err = svc.ready().await?.call(7).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::BulkheadFull); // after 100 ms
/// # drop(held); Ok(()) }
/// ```
pub type WaitingBulkheadService<S> = crate::waiting::WaitingService<S, Bulkhead>;

impl crate::waiting::Admission for Bulkhead {
    type Guard = super::BulkheadPermit;
    type Error = crate::error::BulkheadFull;
    type Wait = super::Acquire;
    fn admit(&self) -> super::Acquire {
        self.acquire()
    }
}

impl<T> crate::waiting::Settle<T> for super::BulkheadPermit {
    fn settle(self, _: &Result<T, BoxError>) {}
}
