//! The load shedder as tower middleware.

use super::{Acquire, LoadShedPermit, LoadShedder, Priority};
use crate::future::{AdmitFuture, Guarded};
use std::fmt;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

const NOT_READY: &str = "load shed: the inner service is not ready";

/// Sheds a call at once when the inner service is not ready (as tower's
/// `LoadShed`) or its priority has no room; otherwise calls, holding the
/// room until the call ends. Every service made shares one shedder.
///
/// ```
/// use seawall::load_shed::{LoadShedder, Priority};
/// use seawall::prelude::*;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(64).build()?;
/// let mut svc = ServiceBuilder::new()
///     .layer(shedder.layer().priority_by(|path: &String| {
///         if path.starts_with("/batch") { Priority::SHEDDABLE } else { Priority::DEFAULT }
///     }))
///     .service(service_fn(|path: String| async move { Ok::<_, BoxError>(path.len()) }));
/// assert_eq!(svc.ready().await?.call("/orders".to_string()).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LoadShedLayer<P = ()> {
    shedder: LoadShedder,
    priority: P,
}

impl LoadShedLayer {
    /// A layer sharing `shedder`; every call has [`Priority::DEFAULT`]
    /// until [`priority_by`](Self::priority_by) says otherwise.
    pub fn new(shedder: LoadShedder) -> Self {
        Self {
            shedder,
            priority: (),
        }
    }
}

impl<P> LoadShedLayer<P> {
    /// How important a request is.
    pub fn priority_by<Req, F>(self, f: F) -> LoadShedLayer<PriorityBy<F>>
    where
        F: Fn(&Req) -> Priority,
    {
        LoadShedLayer {
            shedder: self.shedder,
            priority: PriorityBy(f),
        }
    }

    /// The shared shedder.
    pub fn handle(&self) -> &LoadShedder {
        &self.shedder
    }

    /// The same shedder, letting a call without room wait up to its
    /// `max_wait` (with CoDel cutting waits while a queue stands) instead
    /// of shedding it at once; needs `S: Clone`, and waits for the inner
    /// service to be ready rather than shedding.
    pub fn waiting(self) -> WaitingLoadShedLayer<P> {
        WaitingLoadShedLayer {
            shedder: self.shedder,
            priority: self.priority,
        }
    }
}

/// A request's priority: `F(&request)`. Made by
/// [`LoadShedLayer::priority_by`].
///
/// ```
/// use seawall::load_shed::{PriorityBy, PriorityOf};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let shedder = LoadShedder::builder("api").build()?;
/// // `priority_by` wraps the closure in a `PriorityBy`.
/// let _layer = shedder.layer().priority_by(|n: &u8| Priority(*n));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct PriorityBy<F>(F);

impl<F> fmt::Debug for PriorityBy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PriorityBy")
    }
}

/// How a service finds a request's priority.
///
/// ```
/// use seawall::load_shed::PriorityOf;
/// use seawall::prelude::*;
///
/// // A request type that knows its own priority.
/// struct Job { urgent: bool }
/// struct ByUrgency;
/// impl PriorityOf<Job> for ByUrgency {
///     fn priority_of(&self, job: &Job) -> Priority {
///         if job.urgent { Priority::CRITICAL } else { Priority::SHEDDABLE }
///     }
/// }
/// assert_eq!(ByUrgency.priority_of(&Job { urgent: true }), Priority::CRITICAL);
/// ```
pub trait PriorityOf<Req> {
    /// The priority of `request`.
    fn priority_of(&self, request: &Req) -> Priority;
}

impl<Req> PriorityOf<Req> for () {
    #[inline]
    fn priority_of(&self, _: &Req) -> Priority {
        Priority::DEFAULT
    }
}

impl<Req, F: Fn(&Req) -> Priority> PriorityOf<Req> for PriorityBy<F> {
    #[inline]
    fn priority_of(&self, request: &Req) -> Priority {
        (self.0)(request)
    }
}

impl<S, P: Clone> Layer<S> for LoadShedLayer<P> {
    type Service = LoadShedService<S, P>;
    fn layer(&self, inner: S) -> Self::Service {
        LoadShedService {
            inner,
            shedder: self.shedder.clone(),
            priority: self.priority.clone(),
            ready: false,
            limited: self.shedder.inner.limited,
        }
    }
}

/// A service behind a [`LoadShedLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(1).build()?;
/// let mut svc = shedder.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let _busy = shedder.try_acquire(Priority::DEFAULT)?;
/// let err = svc.ready().await?.call(7).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::Overloaded);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoadShedService<S, P = ()> {
    inner: S,
    shedder: LoadShedder,
    priority: P,
    /// The inner service said it was ready at the last `poll_ready`.
    ready: bool,
    /// The shedder has a `max_in_flight` (kept here: no pointer to follow).
    limited: bool,
}

impl<S: Clone, P: Clone> Clone for LoadShedService<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shedder: self.shedder.clone(),
            priority: self.priority.clone(),
            // A clone has not been polled.
            ready: false,
            limited: self.limited,
        }
    }
}

/// The response future of [`LoadShedService`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(4).build()?;
/// let mut svc = shedder.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let future = svc.ready().await?.call(7);  // holds its room until done or dropped
/// assert_eq!(shedder.metrics().in_flight, 1);
/// assert_eq!(future.await?, 7);
/// assert_eq!(shedder.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
pub type ResponseFuture<F> = AdmitFuture<Guarded<F, LoadShedPermit>>;

impl<S, Req, P> Service<Req> for LoadShedService<S, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: PriorityOf<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    /// Always ready: a call made while the inner service is not is shed.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.ready = match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => false,
        };
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if !std::mem::take(&mut self.ready) {
            let p = self.priority.priority_of(&req);
            return AdmitFuture::rejected(Box::new(self.shedder.inner.shed(p, NOT_READY)));
        }
        if !self.limited {
            // Only readiness is judged: nothing to count or hold.
            return AdmitFuture::called(Guarded::unguarded(self.inner.call(req)));
        }
        let p = self.priority.priority_of(&req);
        match self.shedder.try_acquire(p) {
            Ok(permit) => AdmitFuture::called(Guarded::new(self.inner.call(req), permit)),
            Err(shed) => AdmitFuture::rejected(Box::new(shed)),
        }
    }
}

/// Waits up to the shedder's `max_wait` for room; made by
/// [`LoadShedLayer::waiting`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api")
///     .max_in_flight(64)
///     .max_wait(Duration::from_millis(50))
///     .build()?;
/// let app = ServiceBuilder::new()
///     .layer(shedder.layer().waiting())     // past the room: wait up to 50 ms, by priority
///     .service(tower::service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WaitingLoadShedLayer<P = ()> {
    shedder: LoadShedder,
    priority: P,
}

impl<S, P: Clone> Layer<S> for WaitingLoadShedLayer<P> {
    type Service = WaitingLoadShedService<S, P>;
    fn layer(&self, inner: S) -> Self::Service {
        WaitingLoadShedService {
            inner,
            shedder: self.shedder.clone(),
            priority: self.priority.clone(),
        }
    }
}

/// A service behind a [`WaitingLoadShedLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(8).max_wait(Duration::from_millis(50)).build()?;
/// let mut svc = shedder.layer().waiting().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WaitingLoadShedService<S, P = ()> {
    inner: S,
    shedder: LoadShedder,
    priority: P,
}

/// The response future of [`WaitingLoadShedService`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(1).max_wait(Duration::from_millis(50)).build()?;
/// let mut svc = shedder.layer().waiting().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let busy = shedder.try_acquire(Priority::DEFAULT)?;
/// let future = svc.ready().await?.call(7);  // waits inside the future
/// drop(busy);
/// assert_eq!(future.await?, 7);
/// # Ok(()) }
/// ```
pub type WaitingResponseFuture<S, Req> =
    crate::waiting::WaitThenCall<S, Req, Acquire, LoadShedPermit>;

impl<S, Req, P> Service<Req> for WaitingLoadShedService<S, P>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    P: PriorityOf<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = WaitingResponseFuture<S, Req>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let p = self.priority.priority_of(&req);
        crate::waiting::WaitThenCall::new(self.shedder.acquire(p), self.inner.clone(), req)
    }
}
