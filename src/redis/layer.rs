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
