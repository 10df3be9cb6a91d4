//! Server side: errors out of a protected stack as HTTP answers, with a
//! body that gives nothing away unless you write it to.

use crate::error::{rejection, Rejection, RejectionKind};
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// What the body hook is told about an error it answers.
///
/// ```
/// use seawall::http::RejectionResponse;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// // A JSON problem-details body, from what the refusal says.
/// let responses = RejectionResponse::new().body(|refusal| {
///     let kind = refusal.rejection.map(|r| format!("{:?}", r.kind())).unwrap_or_default();
///     let json = format!(r#"{{"status":{},"kind":"{kind}"}}"#, refusal.status.as_u16());
///     ("application/problem+json", json)
/// });
/// let err: BoxError = Box::new(seawall::RateLimited::new("api".into(), Duration::from_secs(1)));
/// let res: http::Response<bytes::Bytes> = responses.response(&err);
/// assert_eq!(&res.body()[..], br#"{"status":429,"kind":"RateLimited"}"#);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Refusal<'a> {
    /// The status the answer has.
    pub status: StatusCode,
    /// seawall's rejection, if the error is one (its kind, its instance's
    /// name, its `retry_after`).
    pub rejection: Option<&'a dyn Rejection>,
    /// The error itself.
    pub error: &'a BoxError,
}

type BodyFn = dyn Fn(&Refusal<'_>) -> (&'static str, Bytes) + Send + Sync;
type StatusFn = dyn Fn(&BoxError) -> Option<StatusCode> + Send + Sync;

/// How errors become responses: a status per rejection, `Retry-After`
/// when the wait is known, and a body — by default the status's reason
/// phrase alone (`Too Many Requests`), which names no instance and tells
/// no timing; [`body`](Self::body) writes your own (JSON problem details,
/// say).
///
/// | error | status |
/// |---|---|
/// | `RateLimited`, `KeyLimitReached` | 429 Too Many Requests |
/// | `BulkheadFull`, `CircuitOpen`, `FeatureDisabled`, `RetriesExhausted`, `Injected`, shed | 503 Service Unavailable |
/// | `Elapsed` (seawall's timeout) | 504 Gateway Timeout |
/// | anything else | 500, or what [`error_status`](Self::error_status) says |
///
/// `Retry-After` is in whole seconds, rounded up, never 0 (a client told
/// "0" comes straight back).
///
/// ```
/// use seawall::http::RejectionResponse;
/// use seawall::prelude::*;
///
/// let responses = RejectionResponse::new().body(|refusal| {
///     let title = refusal.status.canonical_reason().unwrap_or("error");
///     ("application/problem+json", format!(r#"{{"status":{},"title":"{title}"}}"#, refusal.status.as_u16()))
/// });
/// let err: BoxError = Box::new(RateLimited::new("api".into(), Duration::from_millis(1500)));
/// let res: http::Response<bytes::Bytes> = responses.response(&err);
/// assert_eq!(res.status(), 429);
/// assert_eq!(res.headers()["retry-after"], "2");
/// assert_eq!(res.body(), r#"{"status":429,"title":"Too Many Requests"}"#);
/// ```
///
/// As a layer ([`layer`](Self::layer)), it answers every error of the
/// service inside it, so an axum router needs no `HandleErrorLayer`.
#[derive(Clone, Default)]
pub struct RejectionResponse {
    body: Option<Arc<BodyFn>>,
    status: Option<Arc<StatusFn>>,
}

impl fmt::Debug for RejectionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectionResponse")
            .field("custom_body", &self.body.is_some())
            .finish()
    }
}

impl RejectionResponse {
    /// The default answers: statuses as in the table, the reason phrase as
    /// a plain-text body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes each answer's body: `body(&refusal)` returns its content type
    /// and its bytes.
    pub fn body<F, B>(mut self, body: F) -> Self
    where
        F: Fn(&Refusal<'_>) -> (&'static str, B) + Send + Sync + 'static,
        B: Into<Bytes>,
    {
        self.body = Some(Arc::new(move |r: &Refusal<'_>| {
            let (content_type, bytes) = body(r);
            (content_type, bytes.into())
        }));
        self
    }

    /// The status of an error that is not seawall's (a key function's
    /// "no credential", say): `status(err)`, or 500 when it says `None`.
    pub fn error_status<F>(mut self, status: F) -> Self
    where
        F: Fn(&BoxError) -> Option<StatusCode> + Send + Sync + 'static,
    {
        self.status = Some(Arc::new(status));
        self
    }

    /// The status `err` is answered with.
    pub fn status_of(&self, err: &BoxError) -> StatusCode {
        match rejection(err) {
            Some(r) => status_for(r.kind()),
            None => self
                .status
                .as_ref()
                .and_then(|s| s(err))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The answer to `err`.
    pub fn response<B: From<Bytes>>(&self, err: &BoxError) -> Response<B> {
        let refusal = Refusal {
            status: self.status_of(err),
            rejection: rejection(err),
            error: err,
        };
        let (content_type, body) = match &self.body {
            Some(body) => body(&refusal),
            None => (
                "text/plain; charset=utf-8",
                Bytes::from_static(
                    refusal
                        .status
                        .canonical_reason()
                        .unwrap_or("Error")
                        .as_bytes(),
                ),
            ),
        };
        let mut res = Response::new(B::from(body));
        *res.status_mut() = refusal.status;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(after) = refusal.rejection.and_then(|r| r.retry_after()) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(after)));
        }
        res
    }

    /// A layer answering every error of the service inside it with
    /// [`response`](Self::response): its error type becomes `Infallible`,
    /// as axum's routers ask.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use seawall::http::RejectionResponse;
    /// use seawall::stack::Stack;
    /// use tower::ServiceBuilder;
    ///
    /// # fn main() -> Result<(), seawall::ConfigError> {
    /// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
    ///     ServiceBuilder::new()
    ///         .layer(RejectionResponse::new().layer()) // no HandleErrorLayer
    ///         .layer(Stack::server("api")?),
    /// );
    /// # Ok(()) }
    /// ```
    pub fn layer(&self) -> RejectionResponseLayer {
        RejectionResponseLayer {
            responses: self.clone(),
        }
    }
}

/// A wait in whole seconds, rounded up, at least 1; saturating, so a wait
/// of `Duration::MAX` is "much later", never "1".
pub(crate) fn whole_seconds(after: Duration) -> u64 {
    after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0))
        .max(1)
}

/// The status for a rejection of `kind`.
pub(crate) fn status_for(kind: RejectionKind) -> StatusCode {
    match kind {
        RejectionKind::RateLimited | RejectionKind::KeyLimitReached => {
            StatusCode::TOO_MANY_REQUESTS
        }
        RejectionKind::Elapsed => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Answers the errors of the service inside it; made by
/// [`RejectionResponse::layer`].
///
/// ```
/// use seawall::http::RejectionResponse;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Errors become answers: a router takes the stack as it is, no HandleErrorLayer.
/// let mut app = RejectionResponse::new().layer().layer(service_fn(|_req: http::Request<()>| async {
///     Err::<http::Response<bytes::Bytes>, BoxError>(Box::new(seawall::BulkheadFull::new("api".into(), 8)))
/// }));
/// let res = app.ready().await?.call(http::Request::new(())).await?;
/// assert_eq!(res.status(), 503);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RejectionResponseLayer {
    responses: RejectionResponse,
}

impl<S> Layer<S> for RejectionResponseLayer {
    type Service = RejectionResponseService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RejectionResponseService {
            inner,
            responses: self.responses.clone(),
            broken: None,
        }
    }
}

/// Made by [`RejectionResponseLayer`].
///
/// ```
/// use seawall::http::RejectionResponse;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut app = RejectionResponse::new().layer().layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, BoxError>(http::Response::new(bytes::Bytes::from("hello")))
/// }));
/// let res = app.ready().await?.call(http::Request::new(())).await?;
/// assert_eq!(&res.body()[..], b"hello"); // answers pass untouched
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RejectionResponseService<S> {
    inner: S,
    responses: RejectionResponse,
    /// The inner service's readiness error, answered to the next call.
    broken: Option<BoxError>,
}

impl<S: Clone> Clone for RejectionResponseService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            responses: self.responses.clone(),
            broken: None,
        }
    }
}

impl<S, Req, B> Service<Req> for RejectionResponseService<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: From<Bytes>,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = RejectionResponseFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // An inner service that cannot take calls any more is answered
        // call by call (its error, as a response), never surfaced here.
        if let Err(e) = ready!(self.inner.poll_ready(cx)) {
            self.broken = Some(e.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let kind = match self.broken.take() {
            Some(e) => Kind::Answered {
                response: Some(self.responses.response(&e)),
            },
            None => Kind::Called {
                future: self.inner.call(req),
            },
        };
        RejectionResponseFuture {
            kind,
            responses: self.responses.clone(),
        }
    }
}

pin_project! {
    /// The future of [`RejectionResponseService`].
    ///
    /// ```
    /// use seawall::http::RejectionResponse;
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let mut app = RejectionResponse::new().layer().layer(service_fn(|_req: http::Request<()>| async {
    ///     Err::<http::Response<bytes::Bytes>, BoxError>("boom".into())
    /// }));
    /// let future = app.ready().await?.call(http::Request::new(()));
    /// assert_eq!(future.await?.status(), 500); // not seawall's: a 500
    /// # Ok(()) }
    /// ```
    pub struct RejectionResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        responses: RejectionResponse,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Called { #[pin] future: F },
        Answered { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for RejectionResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: From<Bytes>,
{
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match this.kind.project() {
            KindProj::Called { future } => match ready!(future.poll(cx)) {
                Ok(res) => res,
                Err(e) => this.responses.response(&e.into()),
            },
            KindProj::Answered { response } => response
                .take()
                .expect("RejectionResponseFuture polled after it completed"),
        }))
    }
}

impl<F, B> fmt::Debug for RejectionResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RejectionResponseFuture")
    }
}
