//! HTTP integration (feature `http`): a request's deadline travels in its
//! extensions, so an outer total timeout shortens the inner attempt
//! timeouts; a marker says a response came from a fallback; retries speak
//! HTTP ([`RetryHttp`], [`HttpReplay`], `Retry-After` parsing); breakers
//! classify responses ([`HttpClassifier`]); and servers turn seawall's
//! rejections into 429/503/504 responses ([`error_response`]).
//!
//! ```
//! use seawall::http::{Deadline, DeadlineLayer};
//! use seawall::timeout::Timeout;
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let slow = service_fn(|_req: http::Request<()>| async {
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//!     Ok::<_, std::io::Error>(http::Response::new(()))
//! });
//! let svc = ServiceBuilder::new()
//!     .layer(DeadlineLayer::new(Duration::from_secs(2)))          // total budget: 2 s
//!     .layer(Timeout::builder("attempt").duration(Duration::from_secs(5)).build()?.within_deadline())
//!     .service(slow);
//! let start = tokio::time::Instant::now();
//! assert!(svc.oneshot(http::Request::new(())).await.is_err());
//! assert_eq!(start.elapsed(), Duration::from_secs(2));               // the deadline won
//! # Ok(()) }
//! ```

#[cfg(feature = "axum")]
mod axum;
mod body;
mod classify;
mod rate_limit_headers;
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod respond;
mod retry;
mod server;
mod status;
mod stream;

#[cfg(feature = "axum")]
pub use self::axum::Rejected;
pub use self::body::ReplayBody;
pub use self::classify::HttpClassifier;
pub use self::rate_limit_headers::{
    OneLimit, PerKeyLimit, RateLimitHeaderStyle, RateLimitHeaders, RateLimitHeadersFuture,
    RateLimitHeadersLayer, RateLimitHeadersService,
};
pub use self::respond::{
    Refusal, RejectionResponse, RejectionResponseFuture, RejectionResponseLayer,
    RejectionResponseService,
};
pub use self::retry::{parse_retry_after, retry_after, HttpReplay, RetryHttp, RetrySafe};
pub use self::server::error_response;
pub use self::status::StatusSet;
pub use self::stream::{
    GuardedBody, StreamingBulkhead, StreamingBulkheadFuture, StreamingBulkheadLayer,
};

pub use crate::deadline::Deadline;
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// What the HTTP rules read of a response — its status and headers — so
/// [`RetryHttp`] and [`HttpClassifier`] judge any client's responses the
/// same way: `http::Response` (hyper, tonic, axum) and, with feature
/// `reqwest`, `reqwest::Response`.
///
/// ```
/// use seawall::http::HttpResponse;
///
/// // Read the same way from any client's responses.
/// fn is_throttled(res: &impl HttpResponse) -> bool {
///     res.status() == 429 || res.headers().contains_key("retry-after")
/// }
/// let res = http::Response::builder().status(429).body(()).unwrap();
/// assert!(is_throttled(&res));
/// ```
pub trait HttpResponse {
    /// The status code.
    fn status(&self) -> http::StatusCode;
    /// The headers (for `Retry-After`).
    fn headers(&self) -> &http::HeaderMap;
}

impl<B> HttpResponse for http::Response<B> {
    #[inline]
    fn status(&self) -> http::StatusCode {
        self.status()
    }

    #[inline]
    fn headers(&self) -> &http::HeaderMap {
        self.headers()
    }
}

/// Sets each request's [`Deadline`] to now + `budget`, unless it already
/// carries an earlier one. Pair it with a timeout of the same budget (or let
/// inner `within_deadline` timeouts enforce it).
///
/// ```
/// use seawall::http::DeadlineLayer;
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// // The whole call: 2 s, whatever the retries; each attempt's timeout is cut to what is left.
/// let client = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(Duration::from_secs(2)))
///     .layer(Retry::builder("inventory").build()?.layer().for_http())
///     .layer(Timeout::builder("attempt").duration(Duration::from_secs(1)).build()?.within_deadline())
///     .service(tower::service_fn(|_req: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::new()))
///     }));
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    budget: Duration,
}

impl DeadlineLayer {
    /// A layer giving each request `budget` from when it passes through
    /// (at most [`MAX_TIMEOUT`](crate::timeout::MAX_TIMEOUT); longer is
    /// taken as that).
    pub fn new(budget: Duration) -> Self {
        Self {
            budget: budget.min(crate::timeout::MAX_TIMEOUT),
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            budget: self.budget,
        }
    }
}

/// Made by [`DeadlineLayer`].
///
/// ```
/// use seawall::http::DeadlineLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = DeadlineLayer::new(Duration::from_secs(5)).layer(service_fn(|req: http::Request<()>| async move {
///     Ok::<_, BoxError>(Deadline::of(&req).is_some())
/// }));
/// assert!(svc.ready().await?.call(http::Request::new(())).await?); // the request carries it
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    budget: Duration,
}

impl<S, B> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        let ours = Deadline(Instant::now() + self.budget);
        let deadline = Deadline::of(&req).map_or(ours, |d| d.min(ours));
        req.extensions_mut().insert(deadline);
        self.inner.call(req)
    }
}

/// Marks a response as a degraded answer (from a fallback or a degradation
/// switch's degraded path), in its extensions.
///
/// ```
/// use seawall::http::{is_degraded, mark_degraded};
///
/// let answer = mark_degraded(http::Response::new("cached page"));
/// assert!(is_degraded(&answer));   // a client, a test or a metric can tell
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Degraded;

/// Marks `res` degraded and returns it.
pub fn mark_degraded<B>(mut res: http::Response<B>) -> http::Response<B> {
    res.extensions_mut().insert(Degraded);
    res
}

/// Whether `res` was marked degraded.
pub fn is_degraded<B>(res: &http::Response<B>) -> bool {
    res.extensions().get::<Degraded>().is_some()
}

impl fmt::Display for Degraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("degraded")
    }
}
