//! Fleet-wide rate limits on Redis (feature `redis`): one GCRA limit shared
//! by every instance of a service, so 20 instances × "100 a second" is 100
//! a second, not 2,000.
//!
//! ```no_run
//! use seawall::prelude::*;
//! use seawall::redis::{Degraded, Redis};
//!
//! # fn main() -> Result<(), seawall::ConfigError> {
//! let redis = Redis::connect("redis://127.0.0.1:6379")?;   // lazy: no I/O yet
//! let limiter = RateLimiter::builder("payments-api")
//!     .rate(100, Duration::from_secs(1))
//!     .burst(20)
//!     .build_on_redis(&redis)?                            // was: .build()?
//!     .degraded(Degraded::Local { fleet_size: 20 });      // Redis down: 1/20 each
//! // ServiceBuilder::new().layer(limiter.layer()).service(client)
//! # let _ = limiter; Ok(()) }
//! ```
//!
//! **How.** The GCRA update is one Lua script run by Redis, atomic per
//! key, called by its SHA (`EVALSHA`) and loaded again if Redis lost it
//! (`NOSCRIPT`). Time comes from the Redis server (`TIME` in the script),
//! so clock skew between machines never grants extra calls; a key expires
//! when its state is full again, so idle keys cost Redis no memory. Times
//! are kept in microseconds: the emission interval is rounded to a whole
//! microsecond (at most a million calls a second per key).
//!
//! **Connection.** `redis`'s tokio `ConnectionManager`: one multiplexed,
//! auto-reconnecting connection whose commands pipeline, shared by every
//! caller of every limiter made from one [`Redis`]; a timeout on every call
//! (default 50 ms). Decisions that arrive together go to Redis together:
//! while one script call is on its way, the next callers' asks queue, and
//! the next call carries all of them for their key — decided in order, as
//! separate calls would be — so 256 concurrent callers cost Redis one call
//! per few dozen decisions. It connects lazily: building never blocks or fails for
//! an unreachable server — the first calls find out, and decide as
//! [`Degraded`] says.
//!
//! **When Redis is slow or down**, calls are decided as [`Degraded`] says:
//! fail open, fail closed, or a local limiter sized to this instance's
//! share of the fleet. The Redis calls sit behind a circuit breaker (named
//! `{name}.redis`): once it opens, a call costs one local decision, not a
//! timeout; each switch to the degraded mode and each recovery is a
//! `FleetLimitDegraded` event.
//!
//! **Fewer Redis calls.** A refusal is remembered until its `retry_after`
//! (per key), so a flood of over-limit calls is refused locally; an
//! optional local limiter in front ([`precheck`](RedisRateLimiter::precheck))
//! refuses before Redis is asked.
//!
//! **Redis Cluster.** Each limiter key is one Redis key,
//! `{seawall:<name>:<key>}` — the braces are a hash tag, so a key's state
//! always lives in one slot, and the script touches no other key.

mod batch;
mod layer;

pub use self::layer::{
    KeyedBy, KeyedRedisRateLimitLayer, NoKey, RedisRateLimitLayer, RedisRateLimitService,
    RequestKey,
};

use self::batch::Batcher;
use crate::circuit_breaker::{CircuitBreaker, SlidingWindow};
use crate::clock::ClockHandle;
use crate::error::{ConfigError, InsufficientCapacity, RateLimited};
use crate::rate_limit::{LimitError, RateLimiter, RateLimiterBuilder};
use crate::telemetry::{EventKind, Listeners, Pattern};
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::BoxError;

/// The longest limiter key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Refusals remembered per keyed limiter (the oldest forgotten first).
const REMEMBERED: usize = 10_000;

/// A connection to Redis shared by limiters: a cheap `Clone` handle. The
/// connection itself is made on the first call (inside the tokio runtime
/// that makes it), then shared.
///
/// ```
/// use seawall::redis::Redis;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let redis = Redis::connect("redis://127.0.0.1:6379/0")?;   // lazy: nothing sent yet
/// assert!(Redis::connect("not a url").is_err());               // a ConfigError naming `url`
/// # let _ = redis; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    config: redis::aio::ConnectionManagerConfig,
    conn: Arc<tokio::sync::OnceCell<ConnectionManager>>,
    url: Arc<str>,
}

impl Redis {
    /// A lazy connection to `url` (`redis://host:port/db`, `rediss://` for
    /// TLS if `redis` is built with it): nothing is sent until a limiter
    /// calls. An unparsable URL is a `ConfigError`.
    pub fn connect(url: &str) -> Result<Self, ConfigError> {
        let bad = |e: redis::RedisError| {
            ConfigError::new(&Arc::from("redis"), "url", format!("`{url}`: {e}"))
        };
        let client = redis::Client::open(url).map_err(bad)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Self {
            client,
            config,
            conn: Arc::new(tokio::sync::OnceCell::new()),
            url: Arc::from(url),
        })
    }

    /// The shared connection, made on first use.
    async fn connection(&self) -> Result<ConnectionManager, String> {
        self.conn
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            })
            .await
            .cloned()
            .map_err(|e| format!("redis: {e}"))
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").field("url", &self.url).finish()
    }
}

/// What a limiter decides while Redis cannot answer.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::{Degraded, Redis};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Nothing listens on port 1: every decision is made as `Degraded` says.
/// let redis = Redis::connect("redis://127.0.0.1:1")?;
/// let closed = RateLimiter::builder("payments")
///     .rate(100, Duration::from_secs(1))
///     .build_on_redis(&redis)?
///     .degraded(Degraded::FailClosed);
/// assert!(closed.try_acquire().await.is_err());                // refuse while Redis is away
/// let share = RateLimiter::builder("search")
///     .rate(100, Duration::from_secs(1))
///     .burst(20)
///     .build_on_redis(&redis)?
///     .degraded(Degraded::Local { fleet_size: 4 });            // a quarter of the limit here
/// assert!(share.try_acquire().await.is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degraded {
    /// Admit every call (the dependency's own limits are the last line).
    FailOpen,
    /// Refuse every call.
    FailClosed,
    /// Decide locally, at this instance's share of the fleet's limit: the
    /// rate divided by `fleet_size`, the burst too (at least 1).
    Local {
        /// How many instances share the limit.
        fleet_size: u32,
    },
}

impl Degraded {
    fn as_str(self) -> &'static str {
        match self {
            Degraded::FailOpen => "fail open",
            Degraded::FailClosed => "fail closed",
            Degraded::Local { .. } => "local share",
        }
    }
}

/// Why a keyed call was refused.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::{Degraded, Redis, RedisLimitError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let redis = Redis::connect("redis://127.0.0.1:1")?;
/// let per_client = RateLimiter::builder("per-client")
///     .rate(10, Duration::from_secs(1))
///     .build_on_redis(&redis)?
///     .degraded(Degraded::FailClosed);
/// let too_long = "k".repeat(2000);
/// let err = per_client.try_acquire_key(&too_long).await.unwrap_err();
/// assert!(matches!(err, RedisLimitError::KeyTooLong { len: 2000 }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum RedisLimitError {
    /// Over the limit now; fits after `retry_after`.
    Limited(RateLimited),
    /// More than the burst: never fits.
    Capacity(InsufficientCapacity),
    /// The key is longer than [`MAX_KEY_LEN`].
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
}

impl fmt::Display for RedisLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisLimitError::Limited(e) => e.fmt(f),
            RedisLimitError::Capacity(e) => e.fmt(f),
            RedisLimitError::KeyTooLong { len } => {
                write!(
                    f,
                    "a limiter key of {len} bytes is longer than {MAX_KEY_LEN}"
                )
            }
        }
    }
}

impl std::error::Error for RedisLimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisLimitError::Limited(e) => Some(e),
            RedisLimitError::Capacity(e) => Some(e),
            RedisLimitError::KeyTooLong { .. } => None,
        }
    }
}

impl From<LimitError> for RedisLimitError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => RedisLimitError::Limited(l),
            LimitError::Capacity(c) => RedisLimitError::Capacity(c),
        }
    }
}

/// A rate limiter shared by every instance through Redis: the same limit
/// as [`RateLimiter`]'s token bucket, for the whole fleet. A cheap `Clone`
/// handle; built with [`RateLimiterBuilder::build_on_redis`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::redis::Redis;
///
/// # fn main() -> Result<(), BoxError> {
/// let redis = Redis::connect("redis://127.0.0.1:6379")?;
/// let limiter = RateLimiter::builder("payments-api")
///     .rate(100, Duration::from_secs(1))
///     .burst(20)
///     .build_on_redis(&redis)?          // the same bucket, shared by every instance
///     .timeout(Duration::from_millis(20));
/// assert_eq!(limiter.name(), "payments-api");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    /// The direct limiter's Redis key.
    direct_key: String,
    /// How long `acquire_n` and the waiting layer may wait.
    max_wait: Duration,
    /// The emission interval in µs; the burst.
    t_us: u64,
    burst: u32,
    /// The Redis calls, batched.
    batcher: Arc<Batcher>,
    degraded: Degraded,
    /// The local share, for `Degraded::Local`.
    local: Option<RateLimiter>,
    precheck: Option<RateLimiter>,
    breaker: CircuitBreaker,
    /// Whether the last decision was degraded (to tell each switch once).
    degraded_now: AtomicBool,
    /// Refusals remembered until their retry_after: the direct limiter's,
    /// and per key (on the local clock, ns).
    refused_until: AtomicU64,
    refused: Mutex<HashMap<String, u64>>,
    clock: ClockHandle,
    listeners: Listeners,
}

/// A decision from Redis.
#[derive(Debug, Clone, Copy)]
struct Answer {
    admitted: bool,
    /// When refused: until these calls would conform.
    retry_after: Duration,
    /// Until one more call would conform (zero if one would now).
    next: Duration,
    /// Redis's clock, µs.
    now_us: u64,
}

impl RateLimiterBuilder {
    /// Builds the same token bucket on Redis, shared by every instance
    /// using the same name: one line changed from [`build`](Self::build).
    /// Only a token bucket (rate, burst) moves to Redis; a sliding window
    /// is a `ConfigError`. Builds without I/O (see [`Redis::connect`]).
    pub fn build_on_redis(self, redis: &Redis) -> Result<RedisRateLimiter, ConfigError> {
        let crate::rate_limit::GcraParts {
            name,
            t_ns,
            burst,
            max_wait,
            clock,
            listeners,
        } = self.gcra_parts()?;
        let t_us = (t_ns / 1000).max(1);
        let local = RateLimiter::builder(&format!("{name}.local"))
            .rate(1, Duration::from_micros(t_us))
            .burst(burst)
            .clock(clock.clone())
            .build()?;
        let breaker = CircuitBreaker::builder(&format!("{name}.redis"))
            .sliding_window(SlidingWindow::count(20))
            .minimum_number_of_calls(5)
            .failure_rate_threshold(50.0)
            .wait_duration_in_open_state(Duration::from_secs(2))
            .permitted_number_of_calls_in_half_open_state(1)
            .clock(clock.clone())
            .build()?;
        Ok(RedisRateLimiter {
            inner: Arc::new(Inner {
                max_wait,
                t_us,
                burst,
                batcher: Arc::new(Batcher::new(
                    redis.clone(),
                    t_us,
                    t_us * u64::from(burst - 1),
                )),
                degraded: Degraded::FailOpen,
                local: Some(local),
                precheck: None,
                breaker,
                degraded_now: AtomicBool::new(false),
                refused_until: AtomicU64::new(0),
                refused: Mutex::new(HashMap::new()),
                clock,
                listeners,
                direct_key: format!("{{seawall:{name}}}"),
                name,
            }),
        })
    }
}

impl RedisRateLimiter {
    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configured before it is shared")
    }

    /// What to decide while Redis cannot answer (default: fail open).
    /// `Local { fleet_size }` decides at `1 / fleet_size` of the limit.
    pub fn degraded(mut self, mode: Degraded) -> Self {
        if let Degraded::Local { fleet_size } = mode {
            let fleet = u64::from(fleet_size.max(1));
            let inner = &*self.inner;
            let local = RateLimiter::builder(&format!("{}.local", inner.name))
                .rate(1, Duration::from_micros(inner.t_us * fleet))
                .burst((inner.burst / fleet as u32).max(1))
                .clock(inner.clock.clone())
                .build()
                .ok();
            self.inner_mut().local = local;
        }
        self.inner_mut().degraded = mode;
        self
    }

    /// The timeout of each Redis call (default 50 ms): past it the call is
    /// decided as [`degraded`](Self::degraded) says.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        Arc::get_mut(&mut self.inner_mut().batcher)
            .expect("configured before it is shared")
            .set_timeout(timeout);
        self
    }

    /// A local limiter asked first: a call it refuses never reaches Redis
    /// (give it this instance's share, or a little more).
    pub fn precheck(mut self, local: RateLimiter) -> Self {
        self.inner_mut().precheck = Some(local);
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Calls sent to Redis so far.
    pub fn redis_calls(&self) -> u64 {
        self.inner.batcher.calls()
    }

    /// The breaker guarding the Redis calls (for its metrics).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breaker
    }

    /// One call, if the fleet's limit allows it now.
    pub async fn try_acquire(&self) -> Result<(), RateLimited> {
        match self.try_acquire_n(1).await {
            Ok(()) => Ok(()),
            Err(LimitError::Limited(l)) => Err(l),
            // One call always fits a burst of at least 1.
            Err(LimitError::Capacity(_)) => {
                Err(RateLimited::new(self.inner.name.clone(), Duration::MAX))
            }
        }
    }

    /// `n` calls at once (a weighted call), if the limit allows them now.
    pub async fn try_acquire_n(&self, n: u32) -> Result<(), LimitError> {
        let inner = &self.inner;
        inner
            .decide(&inner.direct_key, None, n)
            .await
            .map_err(|e| match e {
                RedisLimitError::Limited(l) => LimitError::Limited(l),
                RedisLimitError::Capacity(c) => LimitError::Capacity(c),
                // The direct limiter's key is its name: never checked.
                RedisLimitError::KeyTooLong { .. } => LimitError::Capacity(InsufficientCapacity {
                    requested: n,
                    capacity: 0,
                }),
            })
    }

    /// `n` calls, waiting for them up to the builder's `max_wait`: refused
    /// at once when even that is too short (as the local limiter's
    /// `acquire_n`).
    pub async fn acquire_n(&self, n: u32) -> Result<(), LimitError> {
        let deadline = tokio::time::Instant::now() + self.inner.max_wait;
        loop {
            match self.try_acquire_n(n).await {
                Err(LimitError::Limited(l)) => {
                    let wait = crate::error::Rejection::retry_after(&l).unwrap_or(Duration::MAX);
                    if wait > deadline.saturating_duration_since(tokio::time::Instant::now()) {
                        return Err(LimitError::Limited(l));
                    }
                    crate::clock::sleep(wait, "a fleet limiter's wait").await;
                }
                other => return other,
            }
        }
    }

    /// One call for the layers: `key`'s limit or the limiter's, waiting up
    /// to `max_wait` if `waiting`; a refusal as a `BoxError` (`RateLimited`
    /// when over the limit, found by `seawall::rejection`).
    pub(crate) async fn admit(&self, key: Option<&str>, waiting: bool) -> Result<(), BoxError> {
        let refused = match key {
            None if waiting => self.acquire_n(1).await.map_err(RedisLimitError::from),
            None => self.try_acquire_n(1).await.map_err(RedisLimitError::from),
            Some(k) => self.try_acquire_key(k).await,
        };
        refused.map_err(|e| match e {
            RedisLimitError::Limited(l) => Box::new(l) as BoxError,
            other => Box::new(other),
        })
    }

    /// Whether calls are decided without Redis now (it was slow or down
    /// at the last call).
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded_now.load(Ordering::Relaxed)
    }

    /// One call for `key` (an API key, a tenant), each key its own limit.
    pub async fn try_acquire_key(&self, key: &str) -> Result<(), RedisLimitError> {
        self.try_acquire_key_n(key, 1).await
    }

    /// `n` calls for `key`.
    pub async fn try_acquire_key_n(&self, key: &str, n: u32) -> Result<(), RedisLimitError> {
        if key.len() > MAX_KEY_LEN {
            return Err(RedisLimitError::KeyTooLong { len: key.len() });
        }
        let redis_key = format!("{{seawall:{}:{key}}}", self.inner.name);
        self.inner.decide(&redis_key, Some(key), n).await
    }

    /// The tower layer: refuses over-limit calls with `RateLimited`.
    pub fn layer(&self) -> RedisRateLimitLayer {
        RedisRateLimitLayer::new(self, false)
    }

    /// The tower layer that waits for the limit up to the builder's
    /// `max_wait` (refusing at once when that is too short).
    pub fn waiting_layer(&self) -> RedisRateLimitLayer {
        RedisRateLimitLayer::new(self, true)
    }

    /// A tower layer with one limit per key, `key(&request)`: the key, an
    /// `Option` (`None`: the request is exempt) or a `Result` (an error is
    /// the request's answer).
    pub fn keyed_layer<F>(&self, key: F) -> KeyedRedisRateLimitLayer<F> {
        KeyedRedisRateLimitLayer::new(self, key)
    }

    /// Test support: a decision as Redis made it (admitted, wait, server
    /// time in µs), without the local shortcuts.
    #[doc(hidden)]
    pub async fn decide_on_redis(&self, key: &str) -> Option<(bool, Duration, u64)> {
        self.inner
            .batcher
            .ask(&format!("{{seawall:{}:{key}}}", self.inner.name), 1)
            .await
            .ok()
            .map(|a| (a.admitted, a.retry_after.max(a.next), a.now_us))
    }
}

impl Inner {
    async fn decide(
        &self,
        redis_key: &str,
        key: Option<&str>,
        n: u32,
    ) -> Result<(), RedisLimitError> {
        if n > self.burst {
            return Err(RedisLimitError::Capacity(InsufficientCapacity {
                requested: n,
                capacity: self.burst,
            }));
        }
        let now = self.clock.now();
        // Redis said no call conforms until `until`: refused here. `n`
        // calls conform (n - 1)·T after one does.
        let until = match key {
            None => self.refused_until.load(Ordering::Relaxed),
            Some(k) => self.refused.lock().get(k).copied().unwrap_or(0),
        };
        if until > now {
            let more = Duration::from_micros(self.t_us * u64::from(n.saturating_sub(1)));
            return Err(self.limited(Duration::from_nanos(until - now) + more));
        }
        if let Some(pre) = &self.precheck {
            pre.try_acquire_n(n)?;
        }
        let Ok(permit) = self.breaker.try_acquire() else {
            return self.fallback(n);
        };
        match self.batcher.ask(redis_key, n).await {
            Ok(answer) => {
                permit.record(crate::outcome::Outcome::Success);
                self.recovered();
                // Until `next` passes no call conforms (the bucket is
                // empty), so none goes to Redis.
                if !answer.next.is_zero() {
                    let until = self
                        .clock
                        .now()
                        .saturating_add(answer.next.as_nanos() as u64);
                    match key {
                        None => self.refused_until.store(until, Ordering::Relaxed),
                        Some(k) => self.remember(k, until),
                    }
                }
                if answer.admitted {
                    return Ok(());
                }
                Err(self.limited(answer.retry_after))
            }
            Err(why) => {
                permit.record(crate::outcome::Outcome::Failure);
                self.switched(&why);
                self.fallback(n)
            }
        }
    }

    fn remember(&self, key: &str, until: u64) {
        let mut refused = self.refused.lock();
        if refused.len() >= REMEMBERED {
            let now = self.clock.now();
            refused.retain(|_, u| *u > now);
            if refused.len() >= REMEMBERED {
                refused.clear(); // all still refused: forget rather than grow
            }
        }
        refused.insert(key.to_owned(), until);
    }

    fn limited(&self, wait: Duration) -> RedisLimitError {
        RedisLimitError::Limited(RateLimited::new(self.name.clone(), wait))
    }

    /// Redis could not answer: the degraded decision.
    fn fallback(&self, n: u32) -> Result<(), RedisLimitError> {
        match self.degraded {
            Degraded::FailOpen => Ok(()),
            // Come back once the breaker may try Redis again.
            Degraded::FailClosed => Err(self.limited(Duration::from_secs(2))),
            Degraded::Local { .. } => match &self.local {
                Some(local) => local.try_acquire_n(n).map_err(Into::into),
                None => Ok(()),
            },
        }
    }

    fn switched(&self, why: &str) {
        if !self.degraded_now.swap(true, Ordering::AcqRel) {
            self.emit(true, format!("{why}; deciding {}", self.degraded.as_str()));
        }
    }

    fn recovered(&self) {
        if self.degraded_now.swap(false, Ordering::AcqRel) {
            self.emit(false, "redis answers again".to_owned());
        }
    }

    fn emit(&self, degraded: bool, reason: String) {
        self.listeners.emit_now(
            Pattern::RateLimiter,
            &self.name,
            &self.clock,
            EventKind::FleetLimitDegraded {
                degraded,
                reason: reason.into(),
            },
        );
    }
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("name", &self.inner.name)
            .field("redis", &self.inner.batcher.redis())
            .field("degraded", &self.inner.degraded)
            .finish_non_exhaustive()
    }
}
