//! The tower face of [`Slo`]: time each call, classify its result, count it.

use super::{Inner, Slo};
use crate::outcome::{Classify, DefaultClassifier, Outcome};
use crate::stripes::{Handle, Handles};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records every call through a service in an [`Slo`]; made by
/// [`Slo::layer`]. The result is classified (`Success` good, `Failure` bad,
/// `Ignored` not counted) by `DefaultClassifier` unless
/// [`classify`](Self::classify) says otherwise — with an HTTP classifier a
/// 4xx the caller caused leaves the SLI alone. Results pass unchanged.
///
/// ```
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let slo = Slo::builder("checkout").objective(99.9).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(slo.layer().classify(seawall::http::HttpClassifier::new())) // 5xx are bad
///     .service(tower::service_fn(|_req: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::new()))
///     }));
/// # let _ = svc; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SloLayer<C = DefaultClassifier> {
    slo: Slo,
    handles: Handles<Inner>,
    classifier: C,
}

impl SloLayer {
    /// Records calls in `slo`.
    pub fn new(slo: &Slo) -> Self {
        Self {
            slo: slo.clone(),
            handles: Handles::new(slo.inner.clone()),
            classifier: DefaultClassifier,
        }
    }
}

impl<C> SloLayer<C> {
    /// Classifies results with `classifier` (e.g. `HttpClassifier`: 5xx
    /// bad, 4xx not counted).
    pub fn classify<C2>(self, classifier: C2) -> SloLayer<C2> {
        SloLayer {
            slo: self.slo,
            handles: self.handles,
            classifier,
        }
    }

    /// Its SLO.
    pub fn handle(&self) -> &Slo {
        &self.slo
    }
}

impl<C> fmt::Debug for SloLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SloLayer").field("slo", &self.slo).finish()
    }
}

impl<S, C: Clone> Layer<S> for SloLayer<C> {
    type Service = SloService<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        SloService {
            inner,
            handles: self.handles.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// The service of [`SloLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let slo = Slo::builder("checkout").objective(99.0).build()?;
/// let mut svc = slo.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// svc.ready().await?.call(1).await?;
/// assert_eq!(slo.sli(Duration::from_secs(60)), Some(100.0)); // percent
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SloService<S, C = DefaultClassifier> {
    inner: S,
    handles: Handles<Inner>,
    classifier: C,
}

impl<S: fmt::Debug, C> fmt::Debug for SloService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SloService")
            .field("inner", &self.inner)
            .field("slo", &self.handles.name)
            .finish()
    }
}

impl<S, Req, C> Service<Req> for SloService<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = SloFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let slo = self.handles.get().clone();
        // Timed only when a latency threshold needs it.
        let start = slo.latency().map(|_| slo.clock.now());
        SloFuture {
            inner: self.inner.call(req),
            slo,
            classifier: self.classifier.clone(),
            start,
        }
    }
}

pin_project! {
    /// The response future of [`SloService`].
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let slo = Slo::builder("checkout").objective(99.0).build()?;
    /// let mut svc = slo.layer().layer(service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) }));
    /// let future = svc.ready().await?.call(()); // records the outcome when it finishes
    /// let _ = future.await;
    /// assert_eq!(slo.budget().spent, 1);
    /// # Ok(()) }
    /// ```
    pub struct SloFuture<F, C> {
        #[pin]
        inner: F,
        slo: Arc<Handle<Inner>>,
        classifier: C,
        start: Option<u64>,
    }
}

impl<F, C, T, E> Future for SloFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let slo: &Inner = this.slo;
        let good = match this.classifier.classify(&result) {
            Outcome::Ignored => return Poll::Ready(result),
            Outcome::Success => true,
            Outcome::Failure => false,
        };
        let now = slo.clock.now();
        let fast = match (*this.start, slo.latency()) {
            (Some(start), Some(threshold)) => {
                now.saturating_sub(start) <= threshold.as_nanos() as u64
            }
            _ => true,
        };
        slo.rings.record(now, good && fast);
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for SloFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SloFuture")
    }
}
