//! Fallbacks: when a call fails — an error, a seawall rejection, or a
//! response the classifier calls a failure — answer from a fallback instead:
//! a value, a sync closure, or an async closure given the request and what
//! went wrong; a predicate chooses which failures it answers.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::fallback::{Failed, Fallback};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let recommendations = service_fn(|_user: u32| async {
//!     Err::<Vec<&'static str>, _>(std::io::Error::other("recommender down"))
//! });
//! let mut svc = ServiceBuilder::new()
//!     .layer(Fallback::builder("recommendations").value(vec!["bestsellers"]))
//!     .service(recommendations);
//! assert_eq!(svc.ready().await?.call(7).await?, vec!["bestsellers"]);
//! # Ok(()) }
//! ```
//!
//! **Hot path**: a successful call passes through untouched — no clone of
//! the request (unless the handler asked for it), no allocation, no clock.

mod degradation;
mod future;
mod infallible;

pub use self::degradation::{
    DegradationLayer, DegradationService, DegradationSwitch, DegradationSwitchBuilder,
    FeatureHandle, RouteFuture,
};
pub use self::future::ResponseFuture;
pub use self::infallible::{AlwaysFuture, AlwaysLayer, AlwaysService};
pub use crate::telemetry::FeatureState;

use crate::error::{rejection, Rejection};
use crate::outcome::Outcome;
use crate::stripes::Handles;
use std::fmt;
use std::future::{ready, Future, Ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// What went wrong with a call, handed to the fallback.
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let layer = Fallback::builder("greeting").from_fn(|failed: Failed<String>| match failed {
///     Failed::Error(e) => Ok(format!("hello (offline: {e})")),
///     Failed::Response(bad) => Ok(format!("hello (not {bad})")),
/// });
/// let mut svc = layer.layer(service_fn(|_: ()| async { Err::<String, BoxError>("down".into()) }));
/// assert_eq!(svc.ready().await?.call(()).await?, "hello (offline: down)");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Failed<Res> {
    /// The inner service (or a layer within) returned an error.
    Error(BoxError),
    /// The inner service answered, but the classifier called the answer a
    /// failure (say, an HTTP 503).
    Response(Res),
}

impl<Res> Failed<Res> {
    /// The seawall rejection behind an error, if it was one.
    pub fn rejection(&self) -> Option<&dyn Rejection> {
        match self {
            Failed::Error(e) => rejection(e),
            Failed::Response(_) => None,
        }
    }
}

/// Produces the fallback answer.
///
/// ```
/// use seawall::fallback::{Failed, Fallback, Handler};
/// use seawall::prelude::*;
///
/// use tower::{service_fn, Layer};
///
/// // `value`, `from_fn` and `from_async` make the handlers: given the request
/// // (when kept) and what failed, an answer. A layer takes any of them.
/// fn fallback_of<H: Handler<u32, String>, P, C>(layer: seawall::fallback::FallbackLayer<H, P, C>) {
///     let _ = layer;
/// }
/// fallback_of(Fallback::builder("greeting").from_fn(|_f: Failed<String>| Ok("hello".to_string())));
/// ```
pub trait Handler<Req, Res> {
    /// The answer's future.
    type Future: Future<Output = Result<Res, BoxError>>;
    /// A copy of the request to keep for the fallback, if it needs one.
    fn keep(&self, req: &Req) -> Option<Req>;
    /// Answers in place of the failed call.
    fn handle(&self, req: Option<Req>, failed: Failed<Res>) -> Self::Future;
}

/// Answers with a clone of a value.
///
/// ```
/// use seawall::fallback::Fallback;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = Fallback::builder("recommendations")
///     .value(vec!["bestsellers"])                        // a clone of it, each time
///     .layer(service_fn(|_: u32| async { Err::<Vec<&str>, BoxError>("down".into()) }));
/// assert_eq!(svc.ready().await?.call(7).await?, ["bestsellers"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Value<T>(T);

impl<Req, Res: Clone> Handler<Req, Res> for Value<Res> {
    type Future = Ready<Result<Res, BoxError>>;
    fn keep(&self, _: &Req) -> Option<Req> {
        None
    }
    fn handle(&self, _: Option<Req>, _: Failed<Res>) -> Self::Future {
        ready(Ok(self.0.clone()))
    }
}

/// Answers with a sync closure over what went wrong.
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = Fallback::builder("price")
///     .from_fn(|_failed: Failed<u32>| Ok(0))          // sync: answered at once
///     .layer(service_fn(|_: ()| async { Err::<u32, BoxError>("down".into()) }));
/// assert_eq!(svc.ready().await?.call(()).await?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F, Req, Res> Handler<Req, Res> for FromFn<F>
where
    F: Fn(Failed<Res>) -> Result<Res, BoxError>,
{
    type Future = Ready<Result<Res, BoxError>>;
    fn keep(&self, _: &Req) -> Option<Req> {
        None
    }
    fn handle(&self, _: Option<Req>, failed: Failed<Res>) -> Self::Future {
        ready((self.0)(failed))
    }
}

/// Answers with an async closure given the request and what went wrong.
/// The request is cloned before each call to keep it for the fallback.
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Given the request: look the answer up elsewhere (a cache, a replica).
/// let mut svc = Fallback::builder("profile")
///     .from_async(|user: u32, _failed: Failed<String>| async move { Ok(format!("cached profile {user}")) })
///     .layer(service_fn(|_: u32| async { Err::<String, BoxError>("down".into()) }));
/// assert_eq!(svc.ready().await?.call(7).await?, "cached profile 7");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FromAsync<F>(F);

impl<F, Fut, Req, Res> Handler<Req, Res> for FromAsync<F>
where
    Req: Clone,
    F: Fn(Req, Failed<Res>) -> Fut,
    Fut: Future<Output = Result<Res, BoxError>>,
{
    type Future = Fut;
    fn keep(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
    fn handle(&self, req: Option<Req>, failed: Failed<Res>) -> Fut {
        // `keep` always returns Some for this handler.
        (self.0)(req.expect("request kept for the fallback"), failed)
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F> fmt::Debug for FromAsync<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromAsync")
    }
}

/// Which failures the fallback answers.
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Only seawall's own rejections get the fallback; the dependency's errors pass.
/// let mut svc = Fallback::builder("price")
///     .when(|failed: &Failed<u32>| failed.rejection().is_some())
///     .value(0)
///     .layer(service_fn(|_: ()| async { Err::<u32, BoxError>("bad request".into()) }));
/// assert!(svc.ready().await?.call(()).await.is_err());
/// # Ok(()) }
/// ```
pub trait Predicate<Res> {
    /// Whether to answer `failed` from the fallback (otherwise it passes on).
    fn applies(&self, failed: &Failed<Res>) -> bool;
}

/// Answers every failure (the default).
///
/// ```
/// use seawall::fallback::{Always, Failed, Predicate};
///
/// // The default predicate: every failure gets the fallback.
/// assert!(Always.applies(&Failed::<u32>::Error("down".into())));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Always;

impl<Res> Predicate<Res> for Always {
    fn applies(&self, _: &Failed<Res>) -> bool {
        true
    }
}

impl<F: Fn(&Failed<Res>) -> bool, Res> Predicate<Res> for F {
    fn applies(&self, failed: &Failed<Res>) -> bool {
        self(failed)
    }
}

/// Which responses count as failures.
///
/// ```
/// use seawall::fallback::{Fallback, ResponseClassifier, ResponsesSucceed};
/// use seawall::prelude::*;
///
/// // The default: every answer is a success, only errors fall back.
/// assert_eq!(ResponsesSucceed.classify(&503u16), Outcome::Success);
/// let _layer = Fallback::builder("api")
///     .classify_responses(|status: &u16| if *status >= 500 { Outcome::Failure } else { Outcome::Success })
///     .value(200u16);
/// ```
pub trait ResponseClassifier<Res> {
    /// The verdict on a response.
    fn classify(&self, res: &Res) -> Outcome;
}

/// Every response is a success (the default): only errors fall back.
///
/// ```
/// use seawall::fallback::{ResponseClassifier, ResponsesSucceed};
/// use seawall::prelude::*;
///
/// assert_eq!(ResponsesSucceed.classify(&"anything"), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponsesSucceed;

impl<Res> ResponseClassifier<Res> for ResponsesSucceed {
    #[inline]
    fn classify(&self, _: &Res) -> Outcome {
        Outcome::Success
    }
}

/// A closure over the response.
///
/// ```
/// use seawall::fallback::Fallback;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = Fallback::builder("api")
///     .classify_responses(|status: &u16| if *status >= 500 { Outcome::Failure } else { Outcome::Success })
///     .value(200u16)
///     .layer(service_fn(|_: ()| async { Ok::<u16, BoxError>(503) }));
/// assert_eq!(svc.ready().await?.call(()).await?, 200); // a 503 answered from the fallback
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClassifyWith<F>(F);

impl<F: Fn(&Res) -> Outcome, Res> ResponseClassifier<Res> for ClassifyWith<F> {
    #[inline]
    fn classify(&self, res: &Res) -> Outcome {
        (self.0)(res)
    }
}

pub(crate) struct Stats {
    name: Arc<str>,
    answered: AtomicU64,
}

impl Stats {
    #[cold]
    pub(crate) fn answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "seawall", pattern = "fallback", name = &*self.name, "answered from the fallback");
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Stats {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Fallback,
            name: &self.name,
            listeners: None,
            now: 0,
        }
    }

    fn export(&self) {
        metrics::counter!("seawall_fallback_answered_calls_total", "name" => self.name.clone())
            .absolute(self.answered.load(Ordering::Relaxed));
    }
}

/// Entry point: [`Fallback::builder`].
///
/// ```
/// use seawall::fallback::Fallback;
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(Fallback::builder("recommendations").value(vec!["bestsellers"]))
///     .service(tower::service_fn(|_user: u32| async { Ok::<Vec<&str>, BoxError>(vec!["for you"]) }));
/// # let _ = svc; }
/// ```
#[derive(Debug)]
pub struct Fallback;

impl Fallback {
    /// Starts configuring a fallback; `name` labels its metrics.
    pub fn builder(name: &str) -> FallbackBuilder<Always, ResponsesSucceed> {
        FallbackBuilder {
            name: Arc::from(name),
            predicate: Always,
            classifier: ResponsesSucceed,
        }
    }
}

/// Configures a [`FallbackLayer`]; the handler given last builds it.
///
/// ```
/// use seawall::fallback::{Failed, Fallback};
/// use seawall::prelude::*;
///
/// let layer = Fallback::builder("recommendations")
///     .when(|failed: &Failed<Vec<&str>>| matches!(failed, Failed::Error(_)))
///     .value(vec!["bestsellers"]);
/// # let _ = layer;
/// ```
#[derive(Debug)]
#[must_use]
pub struct FallbackBuilder<P, C> {
    name: Arc<str>,
    predicate: P,
    classifier: C,
}

impl<P, C> FallbackBuilder<P, C> {
    /// Answer only the failures `predicate` selects; the others pass on.
    pub fn when<P2>(self, predicate: P2) -> FallbackBuilder<P2, C> {
        FallbackBuilder {
            name: self.name,
            predicate,
            classifier: self.classifier,
        }
    }

    /// Treat responses `classify` calls a failure (e.g. HTTP 5xx) as failed.
    pub fn classify_responses<F>(self, classify: F) -> FallbackBuilder<P, ClassifyWith<F>> {
        FallbackBuilder {
            name: self.name,
            predicate: self.predicate,
            classifier: ClassifyWith(classify),
        }
    }

    /// Answer with a clone of `value`.
    pub fn value<T>(self, value: T) -> FallbackLayer<Value<T>, P, C> {
        self.handler(Value(value))
    }

    /// Answer with `f(failed)`.
    pub fn from_fn<F>(self, f: F) -> FallbackLayer<FromFn<F>, P, C> {
        self.handler(FromFn(f))
    }

    /// Answer with `f(request, failed).await` (the request is cloned per
    /// call to keep it for the fallback).
    pub fn from_async<F>(self, f: F) -> FallbackLayer<FromAsync<F>, P, C> {
        self.handler(FromAsync(f))
    }

    fn handler<H>(self, handler: H) -> FallbackLayer<H, P, C> {
        FallbackLayer {
            stats: stats(self.name),
            handler,
            predicate: self.predicate,
            classifier: self.classifier,
        }
    }
}

fn stats(name: Arc<str>) -> Arc<Stats> {
    let stats = Arc::new(Stats {
        name,
        answered: AtomicU64::new(0),
    });
    #[cfg(feature = "metrics")]
    crate::telemetry::register(Arc::downgrade(&stats) as _);
    stats
}

impl<C> FallbackBuilder<Always, C> {
    /// Answers every failure with `answer(failed)`, which cannot fail: the
    /// service's error type is `Infallible`, as axum routes require.
    pub fn always<F>(self, answer: F) -> AlwaysLayer<F, C> {
        AlwaysLayer {
            stats: stats(self.name),
            answer,
            classifier: self.classifier,
        }
    }
}

/// Answers failed calls from a fallback; made by [`Fallback::builder`].
///
/// ```
/// use seawall::fallback::Fallback;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let layer = Fallback::builder("price").value(0u32);
/// let mut svc = layer.layer(service_fn(|_: ()| async { Err::<u32, BoxError>("down".into()) }));
/// svc.ready().await?.call(()).await?;
/// assert_eq!(layer.answered_calls(), 1);
/// # Ok(()) }
/// ```
pub struct FallbackLayer<H, P, C> {
    stats: Arc<Stats>,
    handler: H,
    predicate: P,
    classifier: C,
}

impl<H, P, C> FallbackLayer<H, P, C> {
    /// Calls answered from the fallback so far.
    pub fn answered_calls(&self) -> u64 {
        self.stats.answered.load(Ordering::Relaxed)
    }
}

impl<H: Clone, P: Clone, C: Clone> Clone for FallbackLayer<H, P, C> {
    fn clone(&self) -> Self {
        Self {
            stats: self.stats.clone(),
            handler: self.handler.clone(),
            predicate: self.predicate.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<H, P, C> fmt::Debug for FallbackLayer<H, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("name", &self.stats.name)
            .finish()
    }
}

impl<S, H: Clone, P: Clone, C: Clone> Layer<S> for FallbackLayer<H, P, C> {
    type Service = FallbackService<S, H, P, C>;
    fn layer(&self, inner: S) -> Self::Service {
        FallbackService {
            inner,
            parts: Handles::new(Arc::new(self.clone())),
        }
    }
}

/// A service whose failures are answered from a fallback.
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
///     .layer(service_fn(|x: u32| async move { Ok::<u32, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(9).await?, 9); // success passes untouched
/// # Ok(()) }
/// ```
pub struct FallbackService<S, H, P, C> {
    inner: S,
    // Per-thread handles: a call's future takes its reference count on
    // this thread's (see `Handles`).
    parts: Handles<FallbackLayer<H, P, C>>,
}

impl<S: Clone, H, P, C> Clone for FallbackService<S, H, P, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            parts: self.parts.clone(),
        }
    }
}

impl<S: fmt::Debug, H, P, C> fmt::Debug for FallbackService<S, H, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, H, P, C, Req> Service<Req> for FallbackService<S, H, P, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    H: Handler<Req, S::Response>,
    P: Predicate<S::Response>,
    C: ResponseClassifier<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, H::Future, Req, H, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // A service that cannot become ready is a failure too, but tower's
        // contract has no request to answer yet: pass it on.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let parts = self.parts.get();
        let kept = parts.handler.keep(&req);
        ResponseFuture::new(self.inner.call(req), kept, parts.clone())
    }
}

impl<H, P, C> FallbackLayer<H, P, C> {
    pub(crate) fn decide<Res, Req>(
        &self,
        result: Result<Res, BoxError>,
        kept: Option<Req>,
    ) -> Decision<Res, H::Future>
    where
        H: Handler<Req, Res>,
        P: Predicate<Res>,
        C: ResponseClassifier<Res>,
    {
        let failed = match result {
            Ok(res) if self.classifier.classify(&res) != Outcome::Failure => {
                return Decision::Done(Ok(res))
            }
            Ok(res) => Failed::Response(res),
            Err(e) => Failed::Error(e),
        };
        if !self.predicate.applies(&failed) {
            return Decision::Done(match failed {
                Failed::Response(res) => Ok(res),
                Failed::Error(e) => Err(e),
            });
        }
        self.stats.answered();
        Decision::Fallback(self.handler.handle(kept, failed))
    }
}

pub(crate) enum Decision<Res, F> {
    Done(Result<Res, BoxError>),
    Fallback(F),
}
