//! The bulkhead layers' response futures. Each holds its slot until the
//! inner call completes, and returns it when dropped (cancelled) or unwound.

use super::{Acquire, BulkheadPermit};

/// The response future of [`BulkheadService`](super::BulkheadService): a
/// ready [`BulkheadFull`](crate::error::BulkheadFull), or the inner call
/// holding its slot until it ends.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("echo").max_concurrent_calls(1).build()?;
/// let mut svc = bulkhead.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let future = svc.ready().await?.call(7);   // holds the slot until it finishes or is dropped
/// assert_eq!(bulkhead.metrics().in_flight, 1);
/// drop(future);
/// assert_eq!(bulkhead.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
pub type ResponseFuture<F> = crate::future::AdmitFuture<crate::future::Guarded<F, BulkheadPermit>>;

/// The response future of [`WaitingBulkheadService`](super::WaitingBulkheadService):
/// waits (FIFO, up to `max_wait`) for a slot, then drives its own clone of
/// the inner service to readiness and calls it, holding the slot until the
/// call ends.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("echo").max_concurrent_calls(1).max_wait(Duration::from_secs(1)).build()?;
/// let mut svc = bulkhead.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let future = svc.ready().await?.call(7);   // waits for a slot inside the future
/// assert_eq!(future.await?, 7);
/// # Ok(()) }
/// ```
pub type WaitingResponseFuture<S, Req> =
    crate::waiting::WaitThenCall<S, Req, Acquire, BulkheadPermit>;
