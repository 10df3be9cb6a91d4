//! The adaptive limiter as tower middleware.

use super::limiter::{Acquire, AdaptiveLimiter, AdaptivePermit, NO_PARTITION};
use crate::future::{AdmitFuture, Settled};
use crate::outcome::{Classify, DefaultClassifier};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Admits a call while fewer than the adaptive limit are in flight, else
/// answers [`Overloaded`](crate::error::Overloaded) at once; when the call
/// ends, its round trip and outcome (by the classifier: a `Failure` is a
/// drop) feed the limit. Every service made shares the one limiter.
///
/// ```
/// use seawall::adaptive::{AdaptiveLimiter, Vegas};
/// use seawall::prelude::*;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("search").algorithm(Vegas::default()).build()?;
/// let mut svc = ServiceBuilder::new()
///     .layer(limiter.layer())
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }));
/// assert_eq!(svc.ready().await?.call(21).await?, 42);
/// assert_eq!(limiter.metrics().permitted_calls, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveLimiterLayer<C = DefaultClassifier, P = ()> {
    limiter: AdaptiveLimiter,
    classify: C,
    partition: P,
}

impl AdaptiveLimiterLayer {
    /// A layer sharing `limiter`.
    pub fn new(limiter: AdaptiveLimiter) -> Self {
        Self {
            limiter,
            classify: DefaultClassifier,
            partition: (),
        }
    }
}

impl<C, P> AdaptiveLimiterLayer<C, P> {
    /// What a drop is: an answer the classifier calls a `Failure`
    /// (default: an `Err`). For HTTP, `HttpClassifier` (5xx, and 429 if
    /// told) — a dependency shedding load answers 503.
    pub fn classify<C2>(self, classify: C2) -> AdaptiveLimiterLayer<C2, P> {
        AdaptiveLimiterLayer {
            limiter: self.limiter,
            classify,
            partition: self.partition,
        }
    }

    /// Which partition a request belongs to (one of the names given to
    /// the builder's `partition`; any other has no reserved share).
    pub fn partition_by<Req, F>(self, f: F) -> AdaptiveLimiterLayer<C, PartitionBy<F>>
    where
        F: Fn(&Req) -> &'static str,
    {
        AdaptiveLimiterLayer {
            limiter: self.limiter,
            classify: self.classify,
            partition: PartitionBy(f),
        }
    }

    /// The shared limiter.
    pub fn handle(&self) -> &AdaptiveLimiter {
        &self.limiter
    }

    /// The same limiter, waiting up to its `max_wait` (arrival order) for
    /// room instead of refusing at once; needs `S: Clone`. Partitions are
    /// not read while waiting: use the primitive's `acquire_in` for that.
    pub fn waiting(self) -> WaitingAdaptiveLimiterLayer<C> {
        crate::waiting::WaitingLayer::new(ClassifiedLimiter {
            limiter: self.limiter,
            classify: self.classify,
        })
    }
}

/// The partition of a request: `F(&request)` names it. Made by
/// [`AdaptiveLimiterLayer::partition_by`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = AdaptiveLimiter::builder("api")
///     .partition("interactive", 0.8)
///     .partition("batch", 0.2)
///     .build()?;
/// // `partition_by` wraps the closure naming each request's partition.
/// let _layer = limiter.layer().partition_by(|path: &&str| {
///     if path.starts_with("/batch") { "batch" } else { "interactive" }
/// });
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct PartitionBy<F>(F);

impl<F> fmt::Debug for PartitionBy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartitionBy")
    }
}

/// How a service finds a request's partition.
///
/// ```
/// use seawall::adaptive::Partitioner;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = AdaptiveLimiter::builder("api").build()?;
/// // No partitioning (`()`): every request shares the whole limit.
/// let _ = <() as Partitioner<u32>>::index(&(), &limiter, &7);
/// # Ok(()) }
/// ```
pub trait Partitioner<Req> {
    /// The partition's index in the limiter, or none.
    fn index(&self, limiter: &AdaptiveLimiter, request: &Req) -> usize;
}

impl<Req> Partitioner<Req> for () {
    #[inline]
    fn index(&self, _: &AdaptiveLimiter, _: &Req) -> usize {
        NO_PARTITION
    }
}

impl<Req, F: Fn(&Req) -> &'static str> Partitioner<Req> for PartitionBy<F> {
    fn index(&self, limiter: &AdaptiveLimiter, request: &Req) -> usize {
        limiter.partition_index((self.0)(request))
    }
}

impl<S, C: Clone, P: Clone> Layer<S> for AdaptiveLimiterLayer<C, P> {
    type Service = AdaptiveLimiterService<S, C, P>;
    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveLimiterService {
            inner,
            limiter: self.limiter.clone(),
            classify: self.classify.clone(),
            partition: self.partition.clone(),
        }
    }
}

/// A service behind an adaptive limit; made by [`AdaptiveLimiterLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").build()?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(limiter.metrics().permitted_calls, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveLimiterService<S, C = DefaultClassifier, P = ()> {
    inner: S,
    limiter: AdaptiveLimiter,
    classify: C,
    partition: P,
}

impl<S, Req, C, P> Service<Req> for AdaptiveLimiterService<S, C, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
    P: Partitioner<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let index = self.partition.index(&self.limiter, &req);
        let admitted = if index == NO_PARTITION {
            self.limiter.try_acquire()
        } else {
            self.limiter.try_acquire_at(index)
        };
        match admitted {
            Ok(permit) => AdmitFuture::called(Settled::new(
                self.inner.call(req),
                Settling {
                    permit,
                    classify: self.classify.clone(),
                },
            )),
            Err(refused) => AdmitFuture::rejected(Box::new(refused)),
        }
    }
}

/// A permit and the classifier that will judge its call.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").build()?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// // The response future holds the permit and its classifier until the call ends.
/// let future = svc.ready().await?.call(7);
/// assert_eq!(limiter.metrics().in_flight, 1);
/// future.await?;
/// assert_eq!(limiter.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
pub struct Settling<C> {
    permit: AdaptivePermit,
    classify: C,
}

impl<T, C: Classify<T, BoxError>> crate::waiting::Settle<T> for Settling<C> {
    #[inline]
    fn settle(self, result: &Result<T, BoxError>) {
        self.permit.record(self.classify.classify(result));
    }
}

impl<C> fmt::Debug for Settling<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.permit.fmt(f)
    }
}

/// The response future of [`AdaptiveLimiterService`]: a ready refusal, or
/// the call holding its slot until it ends (or is dropped, which frees the
/// slot and records nothing).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("api").build()?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let future = svc.ready().await?.call(7);
/// drop(future);                               // dropped: the slot is freed, nothing recorded
/// assert_eq!(limiter.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
pub type ResponseFuture<F, C> = AdmitFuture<Settled<F, Settling<C>>>;

/// The limiter with its classifier, as a waiting layer's admission.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // The waiting layer's admission: the limiter and the classifier together.
/// let limiter = AdaptiveLimiter::builder("inventory").max_wait(Duration::from_millis(20)).build()?;
/// let mut svc = limiter.layer().waiting().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClassifiedLimiter<C> {
    limiter: AdaptiveLimiter,
    classify: C,
}

/// The future of a [`ClassifiedLimiter`]'s admission.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").max_wait(Duration::from_millis(20)).build()?;
/// let mut svc = limiter.layer().waiting().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let future = svc.ready().await?.call(7); // waits for a slot inside, then calls
/// assert_eq!(future.await?, 7);
/// # Ok(()) }
/// ```
pub struct ClassifiedAcquire<C> {
    acquire: Acquire,
    classify: Option<C>,
}

impl<C> Future for ClassifiedAcquire<C> {
    type Output = Result<Settling<C>, crate::error::Overloaded>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both fields are `Unpin`.
        let this = &mut *self;
        let permit = ready!(Pin::new(&mut this.acquire).poll(cx))?;
        Poll::Ready(Ok(Settling {
            permit,
            classify: this
                .classify
                .take()
                .expect("ClassifiedAcquire polled after it completed"),
        }))
    }
}

impl<C> Unpin for ClassifiedAcquire<C> {}

impl<C> fmt::Debug for ClassifiedAcquire<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.acquire.fmt(f)
    }
}

impl<C: Clone> crate::waiting::Admission for ClassifiedLimiter<C> {
    type Guard = Settling<C>;
    type Error = crate::error::Overloaded;
    type Wait = ClassifiedAcquire<C>;
    fn admit(&self) -> ClassifiedAcquire<C> {
        ClassifiedAcquire {
            acquire: self.limiter.acquire(),
            classify: Some(self.classify.clone()),
        }
    }
}

/// Waits up to the limiter's `max_wait` for room, then calls; made by
/// [`AdaptiveLimiterLayer::waiting`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::adaptive::WaitingAdaptiveLimiterLayer;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = AdaptiveLimiter::builder("api").max_wait(Duration::from_millis(20)).build()?;
/// let layer: WaitingAdaptiveLimiterLayer = limiter.layer().waiting();
/// # let _ = layer; Ok(()) }
/// ```
pub type WaitingAdaptiveLimiterLayer<C = DefaultClassifier> =
    crate::waiting::WaitingLayer<ClassifiedLimiter<C>>;

/// A service behind a [`WaitingAdaptiveLimiterLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("api").max_wait(Duration::from_millis(20)).build()?;
/// let mut svc = limiter.layer().waiting().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
pub type WaitingAdaptiveLimiterService<S, C = DefaultClassifier> =
    crate::waiting::WaitingService<S, ClassifiedLimiter<C>>;
