//! A server's rate limit, told to its callers in headers: the IETF
//! httpapi draft's `RateLimit-Policy` and `RateLimit`, and the legacy
//! `X-RateLimit-*`, on admitted and refused answers alike.

use super::respond::whole_seconds;
use super::{RejectionResponse, RejectionResponseService};
use crate::error::RateLimited;
use crate::future::ExtractedKey;
use crate::rate_limit::{
    KeyedLimitError, KeyedRateLimiter, LimitError, RateLimitPolicy, RateLimiter,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Which headers to write.
///
/// ```
/// use seawall::http::{RateLimitHeaderStyle, RateLimitHeadersLayer};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).build()?;
/// let layer = RateLimitHeadersLayer::new(limiter).style(RateLimitHeaderStyle::Legacy); // X-RateLimit-*
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitHeaderStyle {
    /// `RateLimit-Policy: "name";q=100;w=60` and `RateLimit:
    /// "name";r=42;t=35` (draft-ietf-httpapi-ratelimit-headers).
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
    /// (seconds), as GitHub and tower_governor send.
    Legacy,
    /// Both.
    Both,
}

/// How a layer decides (one limit, or one per key): sealed, its decision
/// a type of its own.
mod sealed {
    use crate::rate_limit::RateLimitPolicy;
    use std::time::Duration;
    use tower::BoxError;

    /// What one decision says: the policy, what is left, when it is all
    /// back.
    #[derive(Debug, Clone, Copy)]
    pub struct Quota {
        pub policy: RateLimitPolicy,
        pub remaining: u32,
        pub reset: Duration,
    }

    /// A decision with what it tells the caller.
    pub enum Decision {
        Admitted(Quota),
        Refused(Quota, BoxError),
        /// Exempt from the limit: no headers.
        Exempt,
        /// Not decided (the key function failed, the key map is full):
        /// the call's error.
        Failed(BoxError),
    }

    pub trait DecideQuota<Req> {
        fn decide(&self, req: &Req) -> Decision;
    }
}

use sealed::{DecideQuota, Decision, Quota};

/// The headers a decision writes, kept by the call's future until the
/// answer comes.
#[derive(Debug, Clone)]
struct Headers {
    quota: Quota,
    style: RateLimitHeaderStyle,
    policy_name: HeaderValue,
}

// Names made once (a `&str` name is parsed at every insert).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// A header value written on the stack, then copied once.
fn value(args: fmt::Arguments<'_>) -> HeaderValue {
    use std::io::Write;
    let mut buf = [0u8; 96];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // A policy name is at most 64 bytes and each number 20 digits: it fits.
    let _ = cursor.write_fmt(args);
    let len = cursor.position() as usize;
    HeaderValue::from_bytes(&buf[..len]).expect("a quoted token and digits")
}

impl Headers {
    fn write(&self, headers: &mut HeaderMap) {
        let secs = |d: Duration| if d.is_zero() { 0 } else { whole_seconds(d) };
        let quota = &self.quota;
        let (q, w) = (quota.policy.burst_capacity, secs(quota.policy.window));
        let (r, t) = (quota.remaining, secs(quota.reset));
        headers.reserve(5);
        if self.style != RateLimitHeaderStyle::Legacy {
            let name = self.policy_name.as_bytes();
            let name = std::str::from_utf8(name).unwrap_or("\"default\"");
            headers.insert(RATELIMIT_POLICY, value(format_args!("{name};q={q};w={w}")));
            headers.insert(RATELIMIT, value(format_args!("{name};r={r};t={t}")));
        }
        if self.style != RateLimitHeaderStyle::Ietf {
            headers.insert(X_LIMIT, HeaderValue::from(q));
            headers.insert(X_REMAINING, HeaderValue::from(r));
            headers.insert(X_RESET, HeaderValue::from(t));
        }
    }
}

/// A rate limit in front of an HTTP service that tells callers where they
/// stand: admitted answers carry the limit, what is left and when it is
/// all back; refused calls are answered 429 with the same headers and
/// `Retry-After`. Per key with [`keyed`](Self::keyed), where the key
/// function may exempt a request or fail it ([`ExtractedKey`]). Every
/// error — a refusal, a key function's, the inner service's — is answered
/// as its [`RejectionResponse`] says ([`responses`](Self::responses)), so
/// the service's error type is `Infallible`, as axum's routers ask.
///
/// `q` is the burst, `w` the seconds the whole burst takes to come back,
/// `r` what is left right after this call, `t` the seconds until all of
/// it is back (on a refusal: until the next call fits).
///
/// ```
/// use seawall::http::RateLimitHeadersLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(2, Duration::from_secs(10)).burst(2).build()?;
/// let svc = RateLimitHeadersLayer::new(limiter)
///     .layer(service_fn(|_req: http::Request<()>| async {
///         Ok::<_, BoxError>(http::Response::new(bytes::Bytes::from("hi")))
///     }));
/// let res = svc.clone().oneshot(http::Request::new(())).await?;
/// assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=2;w=10"#);
/// assert_eq!(res.headers()["ratelimit"], r#""default";r=1;t=5"#);
/// assert_eq!(res.headers()["x-ratelimit-remaining"], "1");
/// svc.clone().oneshot(http::Request::new(())).await?;
/// let refused = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(refused.status(), 429);
/// assert_eq!(refused.headers()["ratelimit"], r#""default";r=0;t=5"#);
/// assert_eq!(refused.headers()["retry-after"], "5");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimitHeadersLayer<D> {
    decide: D,
    policy_name: HeaderValue,
    style: RateLimitHeaderStyle,
    responses: RejectionResponse,
}

impl<D> fmt::Debug for RateLimitHeadersLayer<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitHeadersLayer")
            .field("policy_name", &self.policy_name)
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

/// One limit for every request.
///
/// ```
/// use seawall::http::{OneLimit, RateLimitHeadersLayer};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).build()?;
/// let layer: RateLimitHeadersLayer<OneLimit> = RateLimitHeadersLayer::new(limiter);
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OneLimit(RateLimiter);

/// A limit per key.
///
/// ```
/// use seawall::http::RateLimitHeadersLayer;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_client = RateLimiter::builder("per-client").rate(5, Duration::from_secs(1)).build_keyed::<String>()?;
/// let layer = RateLimitHeadersLayer::keyed(per_client, |req: &http::Request<String>| {
///     req.headers().get("x-client").and_then(|v| v.to_str().ok()).map(str::to_owned) // None: exempt
/// });
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PerKeyLimit<K, S, F> {
    limiter: KeyedRateLimiter<K, S>,
    key_of: F,
}

impl<K, S, F> fmt::Debug for PerKeyLimit<K, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerKeyLimit").finish_non_exhaustive()
    }
}

fn refused(policy: RateLimitPolicy, limited: RateLimited) -> Decision {
    let reset = crate::error::Rejection::retry_after(&limited).unwrap_or(policy.window);
    Decision::Refused(
        Quota {
            policy,
            remaining: 0,
            reset,
        },
        Box::new(limited),
    )
}

impl<Req> DecideQuota<Req> for OneLimit {
    fn decide(&self, _req: &Req) -> Decision {
        match self.0.try_acquire_snapshot(1) {
            Ok(s) => Decision::Admitted(Quota {
                policy: self.0.policy(),
                remaining: s.remaining_burst_capacity,
                reset: s.full_after,
            }),
            Err(LimitError::Limited(l)) => refused(self.0.policy(), l),
            Err(e) => Decision::Failed(e.into()),
        }
    }
}

impl<Req, K, S, F, Key> DecideQuota<Req> for PerKeyLimit<K, S, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
    F: Fn(&Req) -> Key,
    Key: ExtractedKey<K>,
{
    fn decide(&self, req: &Req) -> Decision {
        let key = match (self.key_of)(req).into_key() {
            Ok(Some(key)) => key,
            Ok(None) => return Decision::Exempt,
            Err(e) => return Decision::Failed(e),
        };
        match self.limiter.try_acquire_snapshot(&key, 1) {
            Ok(s) => Decision::Admitted(Quota {
                policy: self.limiter.policy(),
                remaining: s.remaining_burst_capacity,
                reset: s.full_after,
            }),
            Err(KeyedLimitError::Limit(LimitError::Limited(l))) => {
                refused(self.limiter.policy(), l)
            }
            Err(e) => Decision::Failed(e.into()),
        }
    }
}

impl RateLimitHeadersLayer<OneLimit> {
    /// One limit for every request, told in both header styles under the
    /// policy name `default`.
    pub fn new(limiter: RateLimiter) -> Self {
        Self::with(OneLimit(limiter))
    }
}

impl<K, S, F> RateLimitHeadersLayer<PerKeyLimit<K, S, F>> {
    /// A limit per key, `key_of(&request)`: the key, an `Option` (`None`:
    /// exempt, no headers) or a `Result` (an error is the call's error).
    pub fn keyed(limiter: KeyedRateLimiter<K, S>, key_of: F) -> Self {
        Self::with(PerKeyLimit { limiter, key_of })
    }
}

impl<D> RateLimitHeadersLayer<D> {
    fn with(decide: D) -> Self {
        Self {
            decide,
            policy_name: HeaderValue::from_static("\"default\""),
            style: RateLimitHeaderStyle::Both,
            responses: RejectionResponse::new(),
        }
    }

    /// The policy's name in the IETF headers (default `default`; letters,
    /// digits, `-`, `_`, `.` are kept, anything else dropped, and at most
    /// 64 of them).
    pub fn policy_name(mut self, name: &str) -> Self {
        let kept: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(64)
            .collect();
        self.policy_name =
            HeaderValue::from_str(&format!("\"{kept}\"")).expect("quoted ASCII is a header value");
        self
    }

    /// Which headers to write (default: both styles).
    pub fn style(mut self, style: RateLimitHeaderStyle) -> Self {
        self.style = style;
        self
    }

    /// How refusals and errors are answered (default: the reason phrase;
    /// give one with [`error_status`](RejectionResponse::error_status) to
    /// answer a key function's error 401).
    pub fn responses(mut self, responses: RejectionResponse) -> Self {
        self.responses = responses;
        self
    }

    fn headers(&self, quota: Quota) -> Headers {
        Headers {
            quota,
            style: self.style,
            policy_name: self.policy_name.clone(),
        }
    }
}

impl<Svc, D: Clone> Layer<Svc> for RateLimitHeadersLayer<D> {
    type Service = RateLimitHeaders<Svc, D>;
    fn layer(&self, inner: Svc) -> Self::Service {
        self.responses.layer().layer(RateLimitHeadersService {
            inner,
            layer: self.clone(),
        })
    }
}

/// Made by [`RateLimitHeadersLayer`]: the limit and its headers, every
/// error answered as the layer's [`RejectionResponse`] says.
///
/// ```
/// use seawall::http::RateLimitHeadersLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(1)).burst(1).build()?;
/// let mut app = RateLimitHeadersLayer::new(limiter).layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::new(bytes::Bytes::new()))
/// }));
/// let ok = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert!(ok.headers().contains_key("ratelimit"));
/// let refused = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(refused.status(), 429);          // answered, with Retry-After
/// # Ok(()) }
/// ```
pub type RateLimitHeaders<Svc, D> = RejectionResponseService<RateLimitHeadersService<Svc, D>>;

/// The limit and its headers, inside [`RateLimitHeaders`]: refusals are
/// answered here (429 and the headers); other errors go out as errors.
///
/// ```
/// use seawall::http::RateLimitHeadersLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).burst(5).build()?;
/// let mut app = RateLimitHeadersLayer::new(limiter).layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::new(bytes::Bytes::new()))
/// }));
/// let res = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(res.headers()["x-ratelimit-remaining"], "4");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimitHeadersService<Svc, D> {
    inner: Svc,
    layer: RateLimitHeadersLayer<D>,
}

impl<Svc: fmt::Debug, D> fmt::Debug for RateLimitHeadersService<Svc, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitHeadersService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<Svc, D, ReqBody, B> Service<Request<ReqBody>> for RateLimitHeadersService<Svc, D>
where
    Svc: Service<Request<ReqBody>, Response = Response<B>>,
    Svc::Error: Into<BoxError>,
    D: DecideQuota<Request<ReqBody>>,
    B: From<Bytes>,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = RateLimitHeadersFuture<Svc::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let state = match self.layer.decide.decide(&req) {
            Decision::Admitted(quota) => State::Called {
                future: self.inner.call(req),
                headers: Some(self.layer.headers(quota)),
            },
            Decision::Exempt => State::Called {
                future: self.inner.call(req),
                headers: None,
            },
            Decision::Refused(quota, e) => {
                let mut res = self.layer.responses.response::<B>(&e);
                self.layer.headers(quota).write(res.headers_mut());
                State::Done {
                    answer: Some(Ok(res)),
                }
            }
            Decision::Failed(e) => State::Done {
                answer: Some(Err(e)),
            },
        };
        RateLimitHeadersFuture { state }
    }
}

pin_project! {
    /// The future of [`RateLimitHeadersService`].
    ///
    /// ```
    /// use seawall::http::RateLimitHeadersLayer;
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).build()?;
    /// let mut app = RateLimitHeadersLayer::new(limiter).layer(service_fn(|_req: http::Request<String>| async {
    ///     Ok::<_, BoxError>(http::Response::new(bytes::Bytes::new()))
    /// }));
    /// let future = app.ready().await?.call(http::Request::new(String::new())); // adds the headers on its way out
    /// assert_eq!(future.await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub struct RateLimitHeadersFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Called {
            #[pin]
            future: F,
            headers: Option<Headers>,
        },
        Done { answer: Option<Result<Response<B>, BoxError>> },
    }
}

impl<F, B, E> Future for RateLimitHeadersFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, headers } => {
                let mut res = ready!(future.poll(cx)).map_err(Into::into)?;
                if let Some(headers) = headers.take() {
                    headers.write(res.headers_mut());
                }
                Poll::Ready(Ok(res))
            }
            StateProj::Done { answer } => Poll::Ready(
                answer
                    .take()
                    .expect("RateLimitHeadersFuture polled after it completed"),
            ),
        }
    }
}

impl<F, B> fmt::Debug for RateLimitHeadersFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateLimitHeadersFuture")
    }
}
