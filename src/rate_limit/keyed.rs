//! One limit per key, over a sharded map with bounded memory.
//!
//! Each key's whole state is one `AtomicU64` (the GCRA's TAT or the sliding
//! window's packed counts). The map is split into 64 shards, each a
//! `parking_lot::RwLock` over a linear-probing [`Table`] whose entries hold
//! hash, key and state side by side (one cache line read per lookup, where
//! a SwissTable reads two: see `table.rs`); a known key costs one hash and
//! a shard read lock, a new key the shard's write lock once.
//!
//! Memory is bounded by `max_keys`. A key is evicted only when its state has
//! returned to full (GCRA: TAT <= now; window: nothing counted in the last
//! two windows), so churning keys never earns a free burst. When the map is
//! full and nothing can be evicted, a new key is refused with
//! [`KeyLimitReached`]. Call [`KeyedRateLimiter::evict_idle`] periodically
//! to give memory back early.

use super::future::ResponseFuture;
use super::table::Table;
use super::{LimitError, RateLimitSnapshot, RateLimiterMetrics, Shared};
use crate::error::KeyLimitReached;
use crate::future::ExtractedKey;
use crate::sync::{AtomicU64, CachePadded, Ordering};
use crate::telemetry::EventKind;
use parking_lot::RwLock;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

const SHARDS: usize = 64;

/// A shard: a [`Table`] probed with the precomputed hash and a typed
/// comparison (no key clone, no dynamic dispatch per lookup).
type Shard<K> = CachePadded<RwLock<Table<K>>>;

pub(crate) struct Keyed<K, S> {
    shared: Shared,
    shards: Box<[Shard<K>]>,
    hasher: S,
    keys: CachePadded<AtomicUsize>,
    max_keys: usize,
}

/// A rate limiter with one independent limit per key. A cheap `Clone`
/// handle; build with [`RateLimiterBuilder::build_keyed`](super::RateLimiterBuilder::build_keyed).
///
/// ```
/// use seawall::prelude::*;
/// use seawall::rate_limit::RateLimiter;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let per_client = RateLimiter::builder("per-client")
///     .rate(1, Duration::from_secs(1))
///     .burst(2)
///     .max_keys(10_000)
///     .build_keyed::<String>()?;
/// assert!(per_client.try_acquire(&"alice".to_string()).is_ok());
/// assert!(per_client.try_acquire(&"alice".to_string()).is_ok());
/// assert!(per_client.try_acquire(&"alice".to_string()).is_err());
/// assert!(per_client.try_acquire(&"bob".to_string()).is_ok()); // independent
/// # Ok(()) }
/// ```
pub struct KeyedRateLimiter<K, S = RandomState> {
    inner: Arc<Keyed<K, S>>,
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, S> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.inner.shared.name)
            .field("keys", &self.inner.keys.load(Ordering::Relaxed))
            .finish()
    }
}

/// Why a keyed call was refused.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::rate_limit::KeyedLimitError;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_client = RateLimiter::builder("per-client")
///     .rate(1, Duration::from_secs(1))
///     .build_keyed::<String>()?;
/// per_client.try_acquire(&"alice".to_string())?;
/// let err = per_client.try_acquire(&"alice".to_string()).unwrap_err();
/// assert!(matches!(err, KeyedLimitError::Limit(_)));
/// per_client.try_acquire(&"bob".to_string())?;   // each key its own limit
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum KeyedLimitError {
    /// The key is over its limit, or asked for more than its burst.
    Limit(LimitError),
    /// The key is new and the map is full of keys that are not idle.
    KeyLimitReached(KeyLimitReached),
}

impl fmt::Display for KeyedLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedLimitError::Limit(e) => e.fmt(f),
            KeyedLimitError::KeyLimitReached(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyedLimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyedLimitError::Limit(e) => Some(e),
            KeyedLimitError::KeyLimitReached(e) => Some(e),
        }
    }
}

impl KeyedLimitError {
    fn boxed(self) -> BoxError {
        match self {
            KeyedLimitError::Limit(e) => e.boxed(),
            KeyedLimitError::KeyLimitReached(e) => Box::new(e),
        }
    }
}

impl<K, S> KeyedRateLimiter<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    pub(crate) fn from_shared(shared: Shared, max_keys: usize, hasher: S) -> Self {
        let shards = (0..SHARDS)
            .map(|_| CachePadded(RwLock::new(Table::new())))
            .collect();
        let inner = Arc::new(Keyed {
            shared,
            shards,
            hasher,
            keys: CachePadded(AtomicUsize::new(0)),
            max_keys,
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Self { inner }
    }

    /// Takes one token for `key` now, or says why not.
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<(), KeyedLimitError> {
        self.try_acquire_n(key, 1)
    }

    /// Takes `n` tokens for `key` now.
    pub fn try_acquire_n(&self, key: &K, n: u32) -> Result<(), KeyedLimitError> {
        // Read before the shard lock, so the lock is held for the lookup
        // and the update only.
        let now = self.inner.shared.clock.now();
        self.acquire_at(key, now, n).map(drop)
    }

    /// Takes `n` tokens for `key` now and says how many more `key` could
    /// take at once right after (see
    /// [`RateLimiter::try_acquire_snapshot`](super::RateLimiter::try_acquire_snapshot)).
    pub fn try_acquire_snapshot(
        &self,
        key: &K,
        n: u32,
    ) -> Result<RateLimitSnapshot, KeyedLimitError> {
        let now = self.inner.shared.clock.now();
        let state = self.acquire_at(key, now, n)?;
        Ok(self.inner.shared.limit().snapshot(state, now))
    }

    /// One decision for `key` at `now`; `Ok` holds its cell's new state.
    #[inline]
    fn acquire_at(&self, key: &K, now: u64, n: u32) -> Result<u64, KeyedLimitError> {
        let inner = &*self.inner;
        let hash = inner.hasher.hash_one(key);
        // Shard by a remix of the hash, so keys within a shard still spread
        // over all of the map's hash bits.
        let shard = &inner.shards[(hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize];
        {
            let map = shard.read();
            if let Some(cell) = map.find(hash, key) {
                return self.decide(cell, now, n);
            }
        }
        self.insert_and_acquire(shard, hash, key, now, n)
    }

    #[inline]
    fn decide(&self, cell: &AtomicU64, now: u64, n: u32) -> Result<u64, KeyedLimitError> {
        let shared = &self.inner.shared;
        shared
            .try_acquire_at(cell, now, n)
            .map_err(|d| KeyedLimitError::Limit(shared.limited(d).with_requested(n)))
    }

    /// A key not found under the read lock: insert it (reserving its
    /// place in `max_keys`) and decide.
    ///
    /// The reservation is made under the shard's write lock, after looking
    /// the key up again there: threads racing to insert the same key then
    /// reserve once between them, so `keys` never counts a key twice and a
    /// key that fits is never refused as "map full".
    #[cold]
    fn insert_and_acquire(
        &self,
        shard: &Shard<K>,
        hash: u64,
        key: &K,
        now: u64,
        n: u32,
    ) -> Result<u64, KeyedLimitError> {
        let inner = &*self.inner;
        let mut evicted = false;
        let map = loop {
            let mut map = shard.write();
            if map.find(hash, key).is_some() {
                break map; // inserted by another thread meanwhile
            }
            if inner.reserve_key().is_ok() {
                map.insert(hash, key.clone());
                break map;
            }
            // Full: make room from idle keys (never from limited ones), once.
            // Eviction takes every shard's lock, so this one is let go.
            drop(map);
            if evicted {
                inner.shared.key_limit_reached();
                return Err(KeyedLimitError::KeyLimitReached(KeyLimitReached::new(
                    inner.shared.name.clone(),
                    inner.max_keys,
                )));
            }
            self.evict_idle();
            evicted = true;
        };
        let map = parking_lot::RwLockWriteGuard::downgrade(map);
        match map.find(hash, key) {
            Some(cell) => self.decide(cell, now, n),
            // Unreachable (present under this lock); answer as full.
            None => Err(KeyedLimitError::KeyLimitReached(KeyLimitReached::new(
                inner.shared.name.clone(),
                inner.max_keys,
            ))),
        }
    }

    /// Forgets every key whose state has returned to full. Returns how many
    /// were evicted. Cheap to call periodically (one write lock per shard).
    pub fn evict_idle(&self) -> usize {
        let inner = &*self.inner;
        let now = inner.shared.clock.now();
        let mut evicted = 0;
        for shard in inner.shards.iter() {
            let mut map = shard.write();
            let removed = map.retain(|e| !inner.shared.is_idle(&e.cell, now));
            if removed > 0 {
                // Given back under the shard's lock: a thread whose own
                // pass finds this shard already evicted then also finds
                // the room counted, so a key that fits is never refused.
                inner.keys.fetch_sub(removed, Ordering::AcqRel);
                evicted += removed;
            }
        }
        if evicted > 0 {
            inner
                .shared
                .evicted
                .fetch_add(evicted as u64, Ordering::Relaxed);
            inner.shared.emit(EventKind::KeysEvicted { count: evicted });
        }
        evicted
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.inner.keys.load(Ordering::Acquire)
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The heap the key map occupies now, in bytes: for each shard, its
    /// slots (empty ones included) times one slot (hash + key + 8-byte
    /// state).
    pub fn memory_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.read().capacity() * Table::<K>::SLOT_BYTES)
            .sum()
    }

    /// Changes every key's rate at runtime without losing state (see
    /// [`RateLimiter::set_rate`](super::RateLimiter::set_rate)).
    pub fn set_rate(
        &self,
        count: u32,
        per: Duration,
        burst: Option<u32>,
    ) -> Result<(), crate::ConfigError> {
        let shards = &self.inner.shards;
        self.inner.shared.set_rate(count, per, burst, &mut |f| {
            for shard in shards.iter() {
                for e in shard.read().iter() {
                    f(&e.cell);
                }
            }
        })
    }

    /// Changes the settings while the limiter runs, for every key, keeping
    /// each key's tokens taken (see [`RateLimiter::reconfigure`](super::RateLimiter::reconfigure)).
    /// `max_keys` is fixed at build: changing it is a [`ConfigError`](crate::ConfigError).
    pub fn reconfigure(
        &self,
        f: impl FnOnce(super::RateLimiterBuilder) -> super::RateLimiterBuilder,
    ) -> Result<(), crate::ConfigError> {
        let shared = &self.inner.shared;
        let now = super::RateLimiter::builder(&shared.name)
            .with_params(shared.params(), shared.max_wait.get())
            .max_keys(self.inner.max_keys);
        let (params, max_wait) = self.checked(&f(now))?;
        self.put(params, max_wait);
        Ok(())
    }

    /// `b`'s settings, checked to replace this limiter's.
    pub(crate) fn checked(
        &self,
        b: &super::RateLimiterBuilder,
    ) -> Result<(super::LimitParams, Duration), crate::ConfigError> {
        if b.keys() != self.inner.max_keys {
            return Err(crate::ConfigError::new(
                &self.inner.shared.name,
                "max_keys",
                "cannot change while the limiter runs; build a new limiter",
            ));
        }
        let (params, max_wait) = b.checked()?;
        self.inner.shared.check_kind(params)?;
        Ok((params, max_wait))
    }

    /// Puts checked parameters in force for every key.
    pub(crate) fn put(&self, params: super::LimitParams, max_wait: Duration) {
        let shards = &self.inner.shards;
        self.inner.shared.put(params, max_wait, &mut |f| {
            for shard in shards.iter() {
                for e in shard.read().iter() {
                    f(&e.cell);
                }
            }
        })
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// Each key's policy: the most it admits at once and the window that
    /// comes back over.
    pub fn policy(&self) -> super::RateLimitPolicy {
        self.inner.shared.limit().policy()
    }

    /// Counts since the limiter was built.
    pub fn metrics(&self) -> RateLimiterMetrics {
        let (permitted_calls, rejected_calls, waited_calls) = self.inner.shared.counts();
        RateLimiterMetrics {
            permitted_calls,
            rejected_calls,
            waited_calls,
            keys: self.len(),
            evicted_keys: self.inner.shared.evicted.load(Ordering::Relaxed),
        }
    }

    /// A tower layer limiting each request by the key `key_of` extracts
    /// from it (a client id, an API key, the peer address...). `key_of`
    /// returns the key, an `Option` (`None`: the request is exempt) or a
    /// `Result` (an error is the request's answer): see [`ExtractedKey`].
    pub fn layer<F>(&self, key_of: F) -> KeyedRateLimitLayer<K, S, F> {
        KeyedRateLimitLayer {
            limiter: self.clone(),
            key_of,
        }
    }
}

impl<K, S> Keyed<K, S> {
    /// Counts one more key if under `max_keys`.
    fn reserve_key(&self) -> Result<usize, usize> {
        self.keys
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                (k < self.max_keys).then_some(k + 1)
            })
    }
}

#[cfg(feature = "metrics")]
impl<K: Send + Sync, S: Send + Sync> crate::telemetry::ExportMetrics for Keyed<K, S> {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::RateLimiter,
            name: &self.shared.name,
            listeners: Some(&self.shared.listeners),
            now: self.shared.clock.now(),
        }
    }

    fn export(&self) {
        self.shared.export(Some(self.keys.load(Ordering::Relaxed)));
    }
}

/// Limits each request by its key; made by [`KeyedRateLimiter::layer`].
/// Over-limit calls are rejected at once with
/// [`RateLimited`](crate::error::RateLimited) (or
/// [`KeyLimitReached`]).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_client = RateLimiter::builder("per-client")
///     .rate(1, Duration::from_secs(1))
///     .build_keyed::<String>()?;
/// let layer = per_client.layer(|req: &(String, u32)| req.0.clone());
/// let mut svc = layer.layer(service_fn(|req: (String, u32)| async move { Ok::<_, BoxError>(req.1) }));
/// assert_eq!(svc.ready().await?.call(("alice".into(), 1)).await?, 1);
/// assert!(svc.ready().await?.call(("alice".into(), 2)).await.is_err()); // alice is over
/// assert_eq!(svc.ready().await?.call(("bob".into(), 3)).await?, 3);     // bob is not
/// # Ok(()) }
/// ```
pub struct KeyedRateLimitLayer<K, S, F> {
    limiter: KeyedRateLimiter<K, S>,
    key_of: F,
}

impl<K, S, F: Clone> Clone for KeyedRateLimitLayer<K, S, F> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            key_of: self.key_of.clone(),
        }
    }
}

impl<K, S, F> fmt::Debug for KeyedRateLimitLayer<K, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyedRateLimitLayer")
            .field(&self.limiter)
            .finish()
    }
}

impl<Svc, K, S, F: Clone> Layer<Svc> for KeyedRateLimitLayer<K, S, F> {
    type Service = KeyedRateLimitService<Svc, K, S, F>;
    fn layer(&self, inner: Svc) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key_of: self.key_of.clone(),
        }
    }
}

/// A service limited per key; made by [`KeyedRateLimitLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_client = RateLimiter::builder("per-client")
///     .rate(10, Duration::from_secs(1))
///     .build_keyed::<String>()?;
/// // `None`: the request is exempt.
/// let mut svc = per_client
///     .layer(|req: &Option<String>| req.clone())
///     .layer(service_fn(|_req: Option<String>| async { Ok::<_, BoxError>("ok") }));
/// assert_eq!(svc.ready().await?.call(None).await?, "ok");
/// # Ok(()) }
/// ```
pub struct KeyedRateLimitService<Svc, K, S, F> {
    inner: Svc,
    limiter: KeyedRateLimiter<K, S>,
    key_of: F,
}

impl<Svc: Clone, K, S, F: Clone> Clone for KeyedRateLimitService<Svc, K, S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key_of: self.key_of.clone(),
        }
    }
}

impl<Svc: fmt::Debug, K, S, F> fmt::Debug for KeyedRateLimitService<Svc, K, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<Svc, K, S, F, Req, Key> Service<Req> for KeyedRateLimitService<Svc, K, S, F>
where
    Svc: Service<Req>,
    Svc::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
    F: Fn(&Req) -> Key,
    Key: ExtractedKey<K>,
{
    type Response = Svc::Response;
    type Error = BoxError;
    type Future = ResponseFuture<Svc::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = match (self.key_of)(&req).into_key() {
            Ok(Some(key)) => key,
            Ok(None) => return ResponseFuture::called(self.inner.call(req)),
            Err(e) => return ResponseFuture::rejected(e),
        };
        match self.limiter.try_acquire(&key) {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(e) => ResponseFuture::rejected(e.boxed()),
        }
    }
}
