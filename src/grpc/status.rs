//! seawall's rejections as gRPC statuses, for tonic clients and servers.

use crate::error::{rejection, Rejection, RejectionKind};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tonic::{Code, Status};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// The gRPC status a caller should see for `err`, when it is (or holds)
/// one of seawall's rejections; `None` for any other error.
///
/// | rejection | status |
/// |---|---|
/// | `CircuitOpen`, `BulkheadFull`, `FeatureDisabled` | `UNAVAILABLE` (a local decision: try again later, elsewhere) |
/// | `RateLimited`, `KeyLimitReached` | `RESOURCE_EXHAUSTED`, with `grpc-retry-pushback-ms` from `retry_after` |
/// | `Elapsed` | `DEADLINE_EXCEEDED` |
/// | `RetriesExhausted` | the status of its last error, `UNAVAILABLE` if it has none |
/// | `Injected` (chaos) | `UNAVAILABLE` |
///
/// The message says what happened and when to come back, not which
/// instance refused (`with_details` adds the instance's own message).
///
/// ```
/// use seawall::grpc::status_of;
/// use seawall::{BoxError, RateLimited};
/// use std::time::Duration;
///
/// let err: BoxError = Box::new(RateLimited::new("api".into(), Duration::from_millis(1500)));
/// let status = status_of(&err, false).unwrap();
/// assert_eq!(status.code(), tonic::Code::ResourceExhausted);
/// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1500");
/// ```
pub fn status_of(err: &BoxError, with_details: bool) -> Option<Status> {
    let r = rejection(err)?;
    if r.kind() == RejectionKind::RetriesExhausted {
        let last = err
            .downcast_ref::<crate::retry::RetriesExhausted>()
            .map(|e| e.last_error());
        if let Some(status) = last.and_then(|e| e.downcast_ref::<Status>()) {
            return Some(status.clone());
        }
        if let Some(status) = last.and_then(|e| status_of(e, with_details)) {
            return Some(status);
        }
    }
    Some(status_for(r, with_details))
}

fn status_for(r: &dyn Rejection, with_details: bool) -> Status {
    let (code, what) = match r.kind() {
        RejectionKind::CircuitOpen => (Code::Unavailable, "dependency unavailable (circuit open)"),
        RejectionKind::BulkheadFull => (Code::Unavailable, "too many calls in flight"),
        RejectionKind::FeatureDisabled => (Code::Unavailable, "feature disabled"),
        RejectionKind::RateLimited => (Code::ResourceExhausted, "rate limited"),
        RejectionKind::KeyLimitReached => (Code::ResourceExhausted, "too many clients"),
        RejectionKind::Elapsed => (Code::DeadlineExceeded, "deadline exceeded"),
        RejectionKind::RetriesExhausted => (Code::Unavailable, "dependency unavailable"),
        RejectionKind::Injected => (Code::Unavailable, "injected fault"),
        RejectionKind::Overloaded => (Code::Unavailable, "overloaded"),
    };
    let message = if with_details {
        format!("{what}: {r}")
    } else {
        what.to_string()
    };
    let mut status = Status::new(code, message);
    if let Some(after) = r.retry_after() {
        // gRPC's pushback: whole milliseconds, rounded up (never "now").
        let ms = after
            .as_millis()
            .saturating_add(u128::from(after.subsec_nanos() % 1_000_000 > 0));
        if let Ok(v) = ms.max(1).to_string().parse() {
            status.metadata_mut().insert("grpc-retry-pushback-ms", v);
        }
    }
    status
}

/// Turns seawall's rejections from the service inside into gRPC statuses
/// (see [`status_of`]), answered as trailers-only responses: put it
/// outermost. On a client, tonic then reports `UNAVAILABLE` for an open
/// breaker instead of `Unknown`; on a server, a full bulkhead answers
/// `UNAVAILABLE` instead of resetting the stream (tonic recovers only a
/// `tonic::Status`). Other errors pass through unchanged.
///
/// ```no_run
/// use seawall::grpc::GrpcStatusLayer;
/// use seawall::prelude::*;
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let bulkhead = Bulkhead::builder("api").max_concurrent_calls(256).build()?;
/// let server = tonic::transport::Server::builder()
///     .layer(GrpcStatusLayer::new())
///     .layer(bulkhead.layer());
/// # let _ = server; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatusLayer {
    with_details: bool,
}

impl GrpcStatusLayer {
    /// A layer whose statuses say what happened, not which instance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the instance's own message ("circuit breaker `inventory` is
    /// open; retry after 29.9 s") to each status: for callers you trust.
    pub fn with_details(mut self, yes: bool) -> Self {
        self.with_details = yes;
        self
    }
}

impl<S> Layer<S> for GrpcStatusLayer {
    type Service = GrpcStatus<S>;
    fn layer(&self, inner: S) -> GrpcStatus<S> {
        GrpcStatus {
            inner,
            with_details: self.with_details,
        }
    }
}

/// The service of [`GrpcStatusLayer`].
///
/// ```
/// use seawall::grpc::GrpcStatusLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = GrpcStatusLayer::new().layer(service_fn(|_req: http::Request<tonic::body::Body>| async {
///     Err::<http::Response<tonic::body::Body>, BoxError>(Box::new(seawall::BulkheadFull::new("api".into(), 8)))
/// }));
/// let res = svc.ready().await?.call(http::Request::new(tonic::body::Body::empty())).await?;
/// assert_eq!(res.headers()["grpc-status"], "14"); // UNAVAILABLE, as a gRPC client expects
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GrpcStatus<S> {
    inner: S,
    with_details: bool,
}

impl<S, Req, B> Service<Req> for GrpcStatus<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = GrpcStatusFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        GrpcStatusFuture {
            inner: self.inner.call(req),
            with_details: self.with_details,
        }
    }
}

pin_project! {
    /// The response future of [`GrpcStatus`].
    ///
    /// ```
    /// use seawall::grpc::GrpcStatusLayer;
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let mut svc = GrpcStatusLayer::new().layer(service_fn(|_req: http::Request<tonic::body::Body>| async {
    ///     Ok::<_, BoxError>(http::Response::new(tonic::body::Body::empty()))
    /// }));
    /// let future = svc.ready().await?.call(http::Request::new(tonic::body::Body::empty()));
    /// assert_eq!(future.await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub struct GrpcStatusFuture<F> {
        #[pin]
        inner: F,
        with_details: bool,
    }
}

impl<F, B, E> Future for GrpcStatusFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Default,
{
    type Output = Result<http::Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let err = match ready!(this.inner.poll(cx)) {
            Ok(res) => return Poll::Ready(Ok(res)),
            Err(e) => e.into(),
        };
        Poll::Ready(match status_of(&err, *this.with_details) {
            Some(status) => Ok(status.into_http()),
            None => Err(err),
        })
    }
}

impl<F> std::fmt::Debug for GrpcStatusFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrpcStatusFuture")
    }
}
