//! Response futures shared by the admission layers (rate limiter, bulkhead,
//! keyed forms): a decision made in `call` is either a ready rejection or
//! the inner call, optionally holding a guard (a bulkhead slot) until the
//! call ends.
//!
//! ```
//! use seawall::prelude::*;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let bulkhead = Bulkhead::builder("db").build()?;
//! let mut svc = bulkhead.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
//! let call = svc.ready().await?.call(7);     // a ready refusal, or the call holding its slot
//! assert_eq!(call.await?, 7);
//! # Ok(()) }
//! ```

use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;

pin_project! {
    /// A ready rejection, or the inner call.
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// // The future of a rejecting limiter: ready at once when refused.
    /// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(60)).build()?;
    /// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// assert_eq!(svc.ready().await?.call(1).await?, 1);
    /// assert!(svc.ready().await?.call(2).await.is_err());
    /// # Ok(()) }
    /// ```
    pub struct AdmitFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] future: F },
        Rejected { error: ColdError },
    }
}

/// A value a future holds only on its rare paths (a rejection waiting to
/// be returned, a guard still held when the call is cancelled), dropped
/// out of line: the future's drop glue stays small enough to inline on
/// the common path, where it holds nothing by then.
pub(crate) struct Cold<T>(std::mem::ManuallyDrop<Option<T>>);

impl<T> Cold<T> {
    pub(crate) fn new(value: Option<T>) -> Self {
        Self(std::mem::ManuallyDrop::new(value))
    }

    #[inline]
    pub(crate) fn take(&mut self) -> Option<T> {
        self.0.take()
    }

    #[inline]
    pub(crate) fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl<T> Drop for Cold<T> {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            drop_cold(self.0.take());
        }
    }
}

#[cold]
#[inline(never)]
fn drop_cold<T>(value: T) {
    drop(value);
}

type ColdError = Cold<BoxError>;

impl<F> AdmitFuture<F> {
    pub(crate) fn called(future: F) -> Self {
        Self {
            kind: Kind::Called { future },
        }
    }
    pub(crate) fn rejected(error: BoxError) -> Self {
        Self {
            kind: Kind::Rejected {
                error: ColdError::new(Some(error)),
            },
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
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// // A bulkhead's admitted call holds its slot until it ends or is dropped.
    /// let bulkhead = Bulkhead::builder("db").build()?;
    /// let mut svc = bulkhead.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let call = svc.ready().await?.call(7);
    /// assert_eq!(bulkhead.metrics().in_flight, 1);
    /// drop(call);
    /// assert_eq!(bulkhead.metrics().in_flight, 0);
    /// # Ok(()) }
    /// ```
    pub struct Guarded<F, G> {
        #[pin]
        future: F,
        guard: Cold<G>,
    }
}

impl<F, G> Guarded<F, G> {
    pub(crate) fn new(future: F, guard: G) -> Self {
        Self {
            future,
            guard: Cold::new(Some(guard)),
        }
    }

    /// The call, holding nothing (a request exempt from a keyed limit).
    pub(crate) fn unguarded(future: F) -> Self {
        Self {
            future,
            guard: Cold::new(None),
        }
    }
}

/// What a keyed layer's key function may return: the key itself; an
/// `Option` — `None` exempts the request (no limit applies: a health
/// check, an internal caller); a `Result` — an error answers the
/// request with that error and the inner service is not called (no
/// credential: map it to 401 where you turn errors into responses); or
/// a `Result<Option<K>, E>`, both.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_client = RateLimiter::builder("per-client")
///     .rate(1, Duration::from_secs(60))
///     .build_keyed::<String>()?;
/// // No API key: exempt here (say, another layer answers 401).
/// let layer = per_client.layer(|req: &(Option<&str>, u32)| req.0.map(str::to_owned));
/// let svc = layer.layer(service_fn(|req: (Option<&str>, u32)| async move { Ok::<_, BoxError>(req.1) }));
/// assert_eq!(svc.clone().oneshot((Some("alice"), 1)).await?, 1);
/// assert!(svc.clone().oneshot((Some("alice"), 2)).await.is_err()); // over alice's limit
/// assert_eq!(svc.clone().oneshot((None, 3)).await?, 3); // no key: no limit
/// assert_eq!(svc.oneshot((None, 4)).await?, 4);
/// # Ok(()) }
/// ```
pub trait ExtractedKey<K> {
    /// The key, `None` to exempt the request, or the error to answer.
    fn into_key(self) -> Result<Option<K>, BoxError>;
}

impl<K> ExtractedKey<K> for K {
    #[inline]
    fn into_key(self) -> Result<Option<K>, BoxError> {
        Ok(Some(self))
    }
}

impl<K> ExtractedKey<K> for Option<K> {
    #[inline]
    fn into_key(self) -> Result<Option<K>, BoxError> {
        Ok(self)
    }
}

impl<K, E: Into<BoxError>> ExtractedKey<K> for Result<K, E> {
    #[inline]
    fn into_key(self) -> Result<Option<K>, BoxError> {
        self.map(Some).map_err(Into::into)
    }
}

impl<K, E: Into<BoxError>> ExtractedKey<K> for Result<Option<K>, E> {
    #[inline]
    fn into_key(self) -> Result<Option<K>, BoxError> {
        self.map_err(Into::into)
    }
}

impl<F: Future, G> Future for Guarded<F, G> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = ready!(this.future.poll(cx));
        // Released as soon as the call ends; the test keeps an unguarded
        // call from paying for an out-of-line drop of nothing.
        if this.guard.is_some() {
            drop(this.guard.take());
        }
        Poll::Ready(out)
    }
}

pin_project! {
    /// The inner call, whose guard is settled with its result when it ends
    /// (an adaptive limiter's permit learns the outcome); dropped before,
    /// the guard is dropped unsettled.
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// // An adaptive limiter's call: its permit learns the outcome when it ends.
    /// let limiter = AdaptiveLimiter::builder("api").build()?;
    /// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// assert_eq!(svc.ready().await?.call(7).await?, 7);
    /// assert_eq!(limiter.metrics().in_flight, 0);
    /// # Ok(()) }
    /// ```
    pub struct Settled<F, G> {
        #[pin]
        future: F,
        guard: Cold<G>,
    }
}

impl<F, G> Settled<F, G> {
    pub(crate) fn new(future: F, guard: G) -> Self {
        Self {
            future,
            guard: Cold::new(Some(guard)),
        }
    }
}

impl<F, G, T, E> Future for Settled<F, G>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    G: crate::waiting::Settle<T>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.future.poll(cx)).map_err(Into::into);
        if let Some(guard) = this.guard.take() {
            guard.settle(&out);
        }
        Poll::Ready(out)
    }
}

impl<F, G> fmt::Debug for Settled<F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Settled")
    }
}

impl<F, G> fmt::Debug for Guarded<F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guarded")
    }
}
