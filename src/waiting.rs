//! The response future shared by every waiting layer (bulkhead, rate
//! limiter): wait for admission, then drive the layer's own clone of the
//! inner service to readiness and call it, holding the admission's guard
//! (a bulkhead slot, say) until the call completes. Nothing downstream is
//! reserved while waiting.
//!
//! ```
//! use seawall::prelude::*;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let bulkhead = Bulkhead::builder("db").max_concurrent_calls(1).max_wait(Duration::from_secs(1)).build()?;
//! let mut svc = bulkhead.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
//! let held = bulkhead.try_acquire()?;
//! let call = svc.ready().await?.call(7);  // ready at once; the wait is inside the call
//! drop(held);
//! assert_eq!(call.await?, 7);
//! # Ok(()) }
//! ```
use crate::error::ConfigError;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_service::Service;

/// Checks how long a waiting layer may wait against its pattern's
/// `limit`: one rule and one message for every pattern that waits.
pub(crate) fn check_max_wait(
    name: &Arc<str>,
    max_wait: Duration,
    limit: Duration,
) -> Result<(), ConfigError> {
    if max_wait > limit {
        return Err(ConfigError::new(
            name,
            "max_wait",
            format!("must be at most {limit:?}, got {max_wait:?}"),
        ));
    }
    Ok(())
}

pin_project! {
    /// Waits for admission `W`, then calls `S`. Dropped at any point, it
    /// releases whatever it holds (the wait's place, or the guard).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let bulkhead = Bulkhead::builder("db").max_concurrent_calls(1).max_wait(Duration::from_secs(1)).build()?;
    /// let mut svc = bulkhead.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let held = bulkhead.try_acquire()?;
    /// let future = svc.ready().await?.call(7);   // waits for the slot, then calls a clone of the service
    /// drop(held);
    /// assert_eq!(future.await?, 7);
    /// # Ok(()) }
    /// ```
    pub struct WaitThenCall<S, Req, W, G>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, W, G>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, W, G>
    where
        S: Service<Req>,
    {
        Admitting { #[pin] wait: W, service: Option<S>, request: Option<Req> },
        Readying { service: S, request: Option<Req>, guard: Option<G> },
        Calling { #[pin] future: S::Future, guard: Option<G> },
    }
}

impl<S: Service<Req>, Req, W, G> WaitThenCall<S, Req, W, G> {
    pub(crate) fn new(wait: W, service: S, request: Req) -> Self {
        Self {
            state: State::Admitting {
                wait,
                service: Some(service),
                request: Some(request),
            },
        }
    }
}

impl<S, Req, W, G, E> Future for WaitThenCall<S, Req, W, G>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    W: Future<Output = Result<G, E>>,
    E: Into<BoxError>,
    G: Settle<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Admitting {
                    wait,
                    service,
                    request,
                } => {
                    let guard = match ready!(wait.poll(cx)) {
                        Ok(g) => g,
                        Err(e) => return Poll::Ready(Err(e.into())),
                    };
                    let service = service
                        .take()
                        .expect("WaitThenCall polled after completion");
                    let request = request.take();
                    this.state.set(State::Readying {
                        service,
                        request,
                        guard: Some(guard),
                    });
                }
                StateProj::Readying {
                    service,
                    request,
                    guard,
                } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                    let future = service.call(
                        request
                            .take()
                            .expect("WaitThenCall polled after completion"),
                    );
                    let guard = guard.take();
                    this.state.set(State::Calling { future, guard });
                }
                StateProj::Calling { future, guard } => {
                    let out = ready!(future.poll(cx)).map_err(Into::into);
                    // Released as soon as the call ends, told how it went.
                    if let Some(guard) = guard.take() {
                        guard.settle(&out);
                    }
                    return Poll::Ready(out);
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, W, G> fmt::Debug for WaitThenCall<S, Req, W, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitThenCall")
    }
}

/// What an admission's guard does when the call it admitted ends: most
/// are simply released (dropped); an adaptive limiter's permit also learns
/// the call's outcome.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::waiting::Settle;
///
/// // A guard that learns how its call ended (as an adaptive limiter's permit does).
/// struct Tally;
/// impl<T> Settle<T> for Tally {
///     fn settle(self, result: &Result<T, BoxError>) {
///         println!("call ended {}", if result.is_ok() { "well" } else { "badly" });
///     }
/// }
/// Settle::<()>::settle(Tally, &Ok(()));
/// ```
pub trait Settle<T> {
    /// Ends the guard with the call's `result`.
    fn settle(self, result: &Result<T, BoxError>);
}

impl<T> Settle<T> for () {
    fn settle(self, _: &Result<T, BoxError>) {}
}

/// Something a waiting layer waits on before each call: a bulkhead slot, a
/// rate limiter's token.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::waiting::{Admission, Settle, WaitingLayer};
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::Arc;
/// use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// // Your own thing to wait for: a slot of a tokio semaphore.
/// #[derive(Clone)]
/// struct Slots(Arc<Semaphore>);
/// struct Held(#[allow(dead_code)] OwnedSemaphorePermit);
/// impl<T> Settle<T> for Held {
///     fn settle(self, _result: &Result<T, BoxError>) {} // released on drop
/// }
/// impl Admission for Slots {
///     type Guard = Held;
///     type Error = AcquireError;
///     type Wait = Pin<Box<dyn Future<Output = Result<Held, AcquireError>> + Send>>;
///     fn admit(&self) -> Self::Wait {
///         let slots = self.0.clone();
///         Box::pin(async move { slots.acquire_owned().await.map(Held) })
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = WaitingLayer::new(Slots(Arc::new(Semaphore::new(2))))
///     .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
pub trait Admission: Clone {
    /// What is held during the call (released when it ends).
    type Guard;
    /// Why admission was refused.
    type Error: Into<BoxError>;
    /// The wait for one admission.
    type Wait: Future<Output = Result<Self::Guard, Self::Error>>;
    /// Starts waiting for one admission.
    fn admit(&self) -> Self::Wait;
}

/// A layer that waits for an [`Admission`] before each call. Nothing
/// downstream is reserved while waiting: `poll_ready` is always ready, and
/// the response future drives its own clone of the inner service (so
/// `S: Clone`).
///
/// # Panics
///
/// A call that has to wait outside a tokio runtime with the time driver
/// panics, with a message naming seawall and the fix.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::waiting::WaitingLayer;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // A bulkhead's waiting layer is a `WaitingLayer` over the bulkhead.
/// let bulkhead = Bulkhead::builder("db").max_concurrent_calls(4).max_wait(Duration::from_millis(50)).build()?;
/// let mut svc = WaitingLayer::new(bulkhead).layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WaitingLayer<A> {
    admission: A,
}

impl<A> WaitingLayer<A> {
    /// A layer waiting on `admission`.
    pub fn new(admission: A) -> Self {
        Self { admission }
    }

    /// What it waits on.
    pub fn handle(&self) -> &A {
        &self.admission
    }
}

impl<S, A: Clone> tower_layer::Layer<S> for WaitingLayer<A> {
    type Service = WaitingService<S, A>;
    fn layer(&self, inner: S) -> Self::Service {
        WaitingService {
            inner,
            admission: self.admission.clone(),
        }
    }
}

/// A service behind a [`WaitingLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::waiting::{WaitingLayer, WaitingService};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(100, Duration::from_secs(1)).max_wait(Duration::from_secs(1)).build()?;
/// let mut svc = WaitingLayer::new(limiter).layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7); // poll_ready is always ready: it waits in the future
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WaitingService<S, A> {
    inner: S,
    admission: A,
}

impl<S, A, Req> Service<Req> for WaitingService<S, A>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    A: Admission,
    A::Guard: Settle<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = WaitThenCall<S, Req, A::Wait, A::Guard>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        WaitThenCall::new(self.admission.admit(), self.inner.clone(), req)
    }
}
