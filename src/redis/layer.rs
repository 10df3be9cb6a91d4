//! The tower face of [`RedisRateLimiter`]: ask the fleet's limit, then call.

use super::RedisRateLimiter;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Refuses calls over the fleet's limit with `RateLimited` (its
/// `retry_after` exact); made by [`RedisRateLimiter::layer`]. The decision
/// needs a Redis round trip, so the call is made from the response future:
/// the ready service goes with it and a clone stays (tower's idiom).
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::Redis;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let redis = Redis::connect("redis://127.0.0.1:6379")?;
/// let limiter = RateLimiter::builder("payments-api").rate(100, Duration::from_secs(1)).build_on_redis(&redis)?;
/// let client = ServiceBuilder::new()
///     .layer(limiter.layer())            // or .waiting_layer(): wait up to max_wait
///     .service(tower::service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisRateLimitLayer {
    limiter: RedisRateLimiter,
    waiting: bool,
}

impl RedisRateLimitLayer {
    pub(crate) fn new(limiter: &RedisRateLimiter, waiting: bool) -> Self {
        Self {
            limiter: limiter.clone(),
            waiting,
        }
    }
}

/// One limit per key, `key(&request)`; made by
/// [`RedisRateLimiter::keyed_layer`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::Redis;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let redis = Redis::connect("redis://127.0.0.1:6379")?;
/// let limiter = RateLimiter::builder("per-client").rate(10, Duration::from_secs(1)).build_on_redis(&redis)?;
/// let server = ServiceBuilder::new()
///     .layer(limiter.keyed_layer(|req: &http::Request<String>| {
///         req.headers().get("x-client").and_then(|v| v.to_str().ok()).map(str::to_owned) // None: exempt
///     }))
///     .service(tower::service_fn(|_req: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::new()))
///     }));
/// # let _ = server; Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeyedRedisRateLimitLayer<F> {
    limiter: RedisRateLimiter,
    key: F,
}

impl<F> KeyedRedisRateLimitLayer<F> {
    pub(crate) fn new(limiter: &RedisRateLimiter, key: F) -> Self {
        Self {
            limiter: limiter.clone(),
            key,
        }
    }
}

impl<F> fmt::Debug for KeyedRedisRateLimitLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRedisRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish()
    }
}

/// No key: the limiter's one limit.
///
/// ```
/// use seawall::redis::{KeyedBy, NoKey, RequestKey};
///
/// // The plain layer's key: every request counts against the one limit.
/// assert_eq!(RequestKey::<()>::key(&NoKey, &()).unwrap(), KeyedBy::Limiter);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct NoKey;

impl<S> Layer<S> for RedisRateLimitLayer {
    type Service = RedisRateLimitService<S, NoKey>;
    fn layer(&self, inner: S) -> Self::Service {
        RedisRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key: NoKey,
            waiting: self.waiting,
        }
    }
}

impl<S, F: Clone> Layer<S> for KeyedRedisRateLimitLayer<F> {
    type Service = RedisRateLimitService<S, F>;
    fn layer(&self, inner: S) -> Self::Service {
        RedisRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
            waiting: false,
        }
    }
}

/// The service of both Redis rate-limit layers.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::{Degraded, Redis};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let redis = Redis::connect("redis://127.0.0.1:1")?;       // away: fail open (the default)
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).build_on_redis(&redis)?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # let _ = Degraded::FailOpen; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimitService<S, K = NoKey> {
    inner: S,
    limiter: RedisRateLimiter,
    key: K,
    waiting: bool,
}

impl<S, K> fmt::Debug for RedisRateLimitService<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitService")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// Which limit a request counts against.
///
/// ```
/// use seawall::redis::{KeyedBy, RequestKey};
///
/// let by_tenant = |req: &(Option<&str>, u32)| req.0.map(str::to_owned);
/// assert_eq!(by_tenant.key(&(Some("acme"), 1)).unwrap(), KeyedBy::Key("acme".into()));
/// assert_eq!(by_tenant.key(&(None, 1)).unwrap(), KeyedBy::Exempt);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedBy {
    /// The limiter's one limit.
    Limiter,
    /// This key's limit.
    Key(String),
    /// None: the request is exempt.
    Exempt,
}

/// How a service finds a request's key: none (the limiter's one limit),
/// or a closure returning the key, an `Option` (`None`: exempt) or a
/// `Result` (an error is the request's answer), as
/// [`ExtractedKey`](crate::future::ExtractedKey) says.
///
/// ```
/// use seawall::redis::{KeyedBy, RequestKey};
///
/// // A closure returning the key is a `RequestKey`; so is one returning an
/// // `Option` (None: exempt) or a `Result` (an error answers the request).
/// let by_path = |req: &http::Request<()>| req.uri().path().to_owned();
/// let req = http::Request::get("/items").body(()).unwrap();
/// assert_eq!(by_path.key(&req).unwrap(), KeyedBy::Key("/items".into()));
/// ```
pub trait RequestKey<Req> {
    /// The limit `req` counts against, or the error to answer it with.
    fn key(&self, req: &Req) -> Result<KeyedBy, BoxError>;
}

impl<Req> RequestKey<Req> for NoKey {
    fn key(&self, _: &Req) -> Result<KeyedBy, BoxError> {
        Ok(KeyedBy::Limiter)
    }
}

impl<Req, F, K> RequestKey<Req> for F
where
    F: Fn(&Req) -> K,
    K: crate::future::ExtractedKey<String>,
{
    fn key(&self, req: &Req) -> Result<KeyedBy, BoxError> {
        Ok(match self(req).into_key()? {
            Some(key) => KeyedBy::Key(key),
            None => KeyedBy::Exempt,
        })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, Req, K> Service<Req> for RedisRateLimitService<S, K>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Send + 'static,
    K: RequestKey<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = match self.key.key(&req) {
            Ok(KeyedBy::Limiter) => None,
            Ok(KeyedBy::Key(key)) => Some(key),
            Ok(KeyedBy::Exempt) => {
                let called = self.inner.call(req);
                return Box::pin(async move { called.await.map_err(Into::into) });
            }
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let waiting = self.waiting;
        let limiter = self.limiter.clone();
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            limiter.admit(key.as_deref(), waiting).await?;
            ready.call(req).await.map_err(Into::into)
        })
    }
}
