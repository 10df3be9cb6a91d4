//! Timeouts: abandon a call that runs too long, with an [`Elapsed`] error
//! naming the timeout and its duration. The duration is fixed or chosen per
//! request (for example from a deadline the request carries, so an outer
//! total timeout shortens inner ones).
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::timeout::Timeout;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let slow = service_fn(|_: ()| async {
//!     tokio::time::sleep(Duration::from_secs(5)).await;
//!     Ok::<_, std::io::Error>("late")
//! });
//! let mut svc = ServiceBuilder::new()
//!     .layer(Timeout::builder("inventory").duration(Duration::from_secs(1)).build()?)
//!     .service(slow);
//! let err = svc.ready().await?.call(()).await.unwrap_err();
//! assert_eq!(err.to_string(), "timeout `inventory` elapsed after 1s");
//! # Ok(()) }
//! ```
//!
//! **Hot path**: a call that completes on its first poll never creates a
//! timer; the `Sleep` is made only when the inner future first returns
//! `Pending`. An enclosing circuit breaker's default classifier counts an
//! `Elapsed` as a failure.

mod future;

pub use self::future::ResponseFuture;
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use self::future::Timer;

use crate::error::{ConfigError, Elapsed};
use crate::stripes::Handles;
use crate::sync::AtomicDuration;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// The longest timeout accepted.
pub const MAX_TIMEOUT: Duration = crate::clock::MAX_WAIT;

/// Chooses a request's timeout; `None` means no timeout for it.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::timeout::TimeoutFor;
///
/// // Fixed, WithinDeadline and per-request closures implement it; so can yours.
/// struct FromRequest;
/// impl TimeoutFor<Duration> for FromRequest {
///     fn timeout_for(&self, req: &Duration) -> Option<Duration> {
///         Some(*req)
///     }
/// }
/// assert_eq!(FromRequest.timeout_for(&Duration::from_secs(3)), Some(Duration::from_secs(3)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot choose a timeout for a `{Req}`",
    label = "no timeout for this request type",
    note = "`.duration(d)` (Fixed) times any request; `.within_deadline()` needs an `http::Request<B>`; `.per_request(|req: &{Req}| Some(d))` chooses per request"
)]
pub trait TimeoutFor<Req> {
    /// The timeout for `req`.
    fn timeout_for(&self, req: &Req) -> Option<Duration>;

    /// An instant `req` must be done by in any case (the timer fires at the
    /// earlier of this and the timeout). Read at the call, compared with
    /// the clock only once the call is found pending. Default: none.
    fn deadline_for(&self, _req: &Req) -> Option<tokio::time::Instant> {
        None
    }
}

/// The same timeout for every request: one duration the layer, every
/// service it made and its [`within_deadline`](TimeoutLayer::within_deadline)
/// form share, so [`TimeoutLayer::reconfigure`] reaches them all.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::timeout::{Fixed, TimeoutLayer};
///
/// # fn main() -> Result<(), ConfigError> {
/// let layer: TimeoutLayer<Fixed> = Timeout::builder("db").duration(Duration::from_millis(250)).build()?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Fixed(Arc<AtomicDuration>);

impl<Req> TimeoutFor<Req> for Fixed {
    #[inline]
    fn timeout_for(&self, _: &Req) -> Option<Duration> {
        Some(self.0.get())
    }
}

/// A fixed timeout, shortened to the request's remaining
/// [`Deadline`](crate::deadline::Deadline) when it carries one (feature `http`).
///
/// ```
/// use seawall::prelude::*;
/// use seawall::http::DeadlineLayer;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(Duration::from_secs(1)))            // the whole call: 1 s
///     .layer(Timeout::builder("attempt").duration(Duration::from_secs(5)).build()?.within_deadline())
///     .service(service_fn(|_req: http::Request<()>| async {
///         tokio::time::sleep(Duration::from_secs(3)).await;
///         Ok::<_, BoxError>(())
///     }));
/// let start = tokio::time::Instant::now();
/// assert!(svc.ready().await?.call(http::Request::new(())).await.is_err());
/// assert_eq!(start.elapsed(), Duration::from_secs(1));                  // the deadline won
/// # Ok(()) }
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone)]
pub struct WithinDeadline(Arc<AtomicDuration>);

#[cfg(feature = "http")]
impl WithinDeadline {
    /// The fixed timeout, before any deadline shortens it.
    #[cfg(feature = "reqwest")]
    pub(crate) fn duration(&self) -> Duration {
        self.0.get()
    }
}

#[cfg(feature = "http")]
impl<B> TimeoutFor<http::Request<B>> for WithinDeadline {
    #[inline]
    fn timeout_for(&self, _req: &http::Request<B>) -> Option<Duration> {
        Some(self.0.get())
    }

    #[inline]
    fn deadline_for(&self, req: &http::Request<B>) -> Option<tokio::time::Instant> {
        crate::deadline::Deadline::of(req).map(|d| d.0)
    }
}

/// A per-request timeout from a closure.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// // Reports may take a minute, everything else a second.
/// let layer = Timeout::builder("api").per_request(|path: &&str| {
///     Some(if path.starts_with("/reports") { Duration::from_secs(60) } else { Duration::from_secs(1) })
/// });
/// let mut svc = layer.layer(service_fn(|_path: &str| async {
///     tokio::time::sleep(Duration::from_secs(2)).await;
///     Ok::<_, BoxError>(())
/// }));
/// assert!(svc.ready().await?.call("/reports/q3").await.is_ok());
/// assert!(svc.ready().await?.call("/items").await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct PerRequest<F>(F);

impl<F, Req> TimeoutFor<Req> for PerRequest<F>
where
    F: Fn(&Req) -> Option<Duration>,
{
    #[inline]
    fn timeout_for(&self, req: &Req) -> Option<Duration> {
        (self.0)(req).map(|d| d.min(MAX_TIMEOUT))
    }
}

impl<F> fmt::Debug for PerRequest<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PerRequest")
    }
}

pub(crate) struct Inner {
    name: Arc<str>,
    elapsed: AtomicU64,
}

/// Entry point: [`Timeout::builder`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let timeout = Timeout::builder("inventory").duration(Duration::from_millis(300)).build()?;
/// let mut svc = timeout.layer(service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<_, BoxError>(())
/// }));
/// let err = svc.ready().await?.call(()).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::Elapsed);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Timeout;

impl Timeout {
    /// Starts configuring a timeout; `name` labels its errors and metrics.
    pub fn builder(name: &str) -> TimeoutBuilder {
        TimeoutBuilder {
            name: Arc::from(name),
            duration: Duration::from_secs(30),
        }
    }
}

/// Builds a [`TimeoutLayer`]. Without [`duration`](Self::duration) the
/// timeout is 30 s; at most [`MAX_TIMEOUT`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let fixed = Timeout::builder("inventory").duration(Duration::from_secs(2)).build()?;
/// let per_request = Timeout::builder("inventory").per_request(|req: &(u32, Duration)| Some(req.1));
/// assert!(Timeout::builder("inventory").duration(Duration::ZERO).build().is_err());
/// # let _ = (fixed, per_request); Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct TimeoutBuilder {
    name: Arc<str>,
    duration: Duration,
}

impl TimeoutBuilder {
    /// The timeout for every request (default 30 s).
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }

    /// Validates and builds a layer with a fixed timeout.
    pub fn build(self) -> Result<TimeoutLayer<Fixed>, ConfigError> {
        self.validate()?;
        let duration = Fixed(Arc::new(AtomicDuration::new(self.duration)));
        Ok(TimeoutLayer::with(self.name, duration))
    }

    pub(crate) fn validate(&self) -> Result<Duration, ConfigError> {
        if self.duration.is_zero() || self.duration > MAX_TIMEOUT {
            return Err(ConfigError::new(
                &self.name,
                "duration",
                format!("must be in (0, {MAX_TIMEOUT:?}], got {:?}", self.duration),
            ));
        }
        Ok(self.duration)
    }

    /// Builds a layer whose timeout `f` chooses per request (`None`: no
    /// timeout). Durations beyond a week are capped at a week.
    pub fn per_request<F>(self, f: F) -> TimeoutLayer<PerRequest<F>> {
        TimeoutLayer::with(self.name, PerRequest(f))
    }
}

/// Applies a timeout to every call; every service made shares one counter
/// of timeouts. Made by [`Timeout::builder`].
///
/// # Panics
///
/// A call still pending when first polled starts tokio's timer: outside a
/// tokio runtime with the time driver that panics, with a message naming
/// seawall and the fix.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let attempt = Timeout::builder("inventory").duration(Duration::from_secs(2)).build()?;
/// assert_eq!(attempt.duration(), Duration::from_secs(2));
/// // Live: every service this layer made times out at 1 s from now on.
/// attempt.reconfigure(|b| b.duration(Duration::from_secs(1)))?;
/// assert_eq!(attempt.duration(), Duration::from_secs(1));
/// # Ok(()) }
/// ```
pub struct TimeoutLayer<D> {
    inner: Handles<Inner>,
    duration: D,
}

impl<D> TimeoutLayer<D> {
    fn with(name: Arc<str>, duration: D) -> Self {
        let inner = Arc::new(Inner {
            name,
            elapsed: AtomicU64::new(0),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Self {
            inner: Handles::new(inner),
            duration,
        }
    }

    /// The shared state (its name and count of timeouts), for a service
    /// that times calls out itself (the fused client preset).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// How long calls get.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn timeout(&self) -> &D {
        &self.duration
    }

    /// Calls abandoned so far.
    pub fn elapsed_calls(&self) -> u64 {
        self.inner.elapsed.load(Ordering::Relaxed)
    }
}

impl TimeoutLayer<Fixed> {
    /// How long each call gets.
    pub fn duration(&self) -> Duration {
        self.duration.0.get()
    }
}

impl TimeoutLayer<Fixed> {
    /// Changes the timeout of this layer, of every service it made and of
    /// its [`within_deadline`](Self::within_deadline) form, for calls that
    /// start from now on: `f` gets a builder holding the timeout in force.
    /// An invalid one is a [`ConfigError`] and changes nothing.
    ///
    /// ```
    /// use seawall::timeout::Timeout;
    /// use std::time::Duration;
    ///
    /// let timeout = Timeout::builder("inventory").duration(Duration::from_secs(1)).build()?;
    /// timeout.reconfigure(|b| b.duration(Duration::from_millis(250)))?;
    /// assert_eq!(timeout.duration(), Duration::from_millis(250));
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(TimeoutBuilder) -> TimeoutBuilder,
    ) -> Result<(), ConfigError> {
        let next = f(Timeout::builder(&self.inner.name).duration(self.duration())).validate()?;
        self.put(next);
        Ok(())
    }

    /// Puts a validated duration in force; what it replaced.
    pub(crate) fn put(&self, d: Duration) -> Duration {
        self.duration.0.set(d)
    }
}

#[cfg(feature = "http")]
impl TimeoutLayer<WithinDeadline> {
    /// How long each call gets at most (less when its deadline is nearer).
    pub fn duration(&self) -> Duration {
        self.duration.0.get()
    }
}

#[cfg(feature = "http")]
impl TimeoutLayer<Fixed> {
    /// The same timeout, shortened for `http::Request`s carrying a
    /// [`Deadline`](crate::deadline::Deadline) to what remains of it (one clock
    /// read per call).
    pub fn within_deadline(self) -> TimeoutLayer<WithinDeadline> {
        TimeoutLayer {
            inner: self.inner,
            duration: WithinDeadline(self.duration.0),
        }
    }
}

impl<D: Clone> Clone for TimeoutLayer<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            duration: self.duration.clone(),
        }
    }
}

impl<D> fmt::Debug for TimeoutLayer<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl<S, D: Clone> Layer<S> for TimeoutLayer<D> {
    type Service = TimeoutService<S, D>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            shared: self.inner.clone(),
            duration: self.duration.clone(),
        }
    }
}

/// A service with a timeout; made by [`TimeoutLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let timeout = Timeout::builder("echo").duration(Duration::from_secs(1)).build()?;
/// let mut svc = timeout.layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(timeout.elapsed_calls(), 0);
/// # Ok(()) }
/// ```
pub struct TimeoutService<S, D> {
    inner: S,
    shared: Handles<Inner>,
    duration: D,
}

impl<S: Clone, D: Clone> Clone for TimeoutService<S, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            duration: self.duration.clone(),
        }
    }
}

impl<S: fmt::Debug, D> fmt::Debug for TimeoutService<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("inner", &self.inner)
            .field("name", &self.shared.name)
            .finish()
    }
}

impl<S, D, Req> Service<Req> for TimeoutService<S, D>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    D: TimeoutFor<Req>,
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
        // The reference count before the call: its locked instruction waits
        // for pending stores, fewer before the inner call writes its future.
        let shared = self.shared.get().clone();
        let after = self.duration.timeout_for(&req);
        let until = self.duration.deadline_for(&req);
        ResponseFuture::new(self.inner.call(req), after, until, shared)
    }
}

impl Inner {
    #[cold]
    pub(crate) fn elapsed(&self, after: Duration) -> Elapsed {
        self.elapsed.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "seawall", pattern = "timeout", name = &*self.name, ?after, "call timed out");
        Elapsed::new(self.name.clone(), after)
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Timeout,
            name: &self.name,
            listeners: None,
            now: 0,
        }
    }

    fn export(&self) {
        metrics::counter!("seawall_timeout_elapsed_calls_total", "name" => self.name.to_string())
            .absolute(self.elapsed.load(Ordering::Relaxed));
    }
}
