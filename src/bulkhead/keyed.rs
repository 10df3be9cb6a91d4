//! One bulkhead per key (tenant, client, peer) so one key cannot take every
//! slot; memory bounded like the keyed rate limiter.
//!
//! Each key owns a small semaphore (~200 bytes); the map is one
//! `RwLock<HashMap>`. A key is evicted only when none of its slots is taken,
//! so eviction never resets a busy key; when `max_keys` keys are tracked and
//! none is idle, a new key is refused with
//! [`KeyLimitReached`](crate::error::KeyLimitReached). Keyed bulkheads reject
//! at once (no waiting): the decision is taken under the map's read lock, so
//! it can never race an eviction of the same key.

use crate::error::{BulkheadFull, KeyLimitReached};
use crate::semaphore::Semaphore;
use crate::stripes::Striped;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

const PERMITTED: usize = 0;
const REJECTED: usize = 1;

struct Keyed<K, S> {
    name: Arc<str>,
    /// Changed under the map's write lock, with every key's semaphore.
    per_key: AtomicUsize,
    max_keys: usize,
    map: RwLock<HashMap<K, Arc<Semaphore>, S>>,
    counts: Striped<2>,
    evicted: AtomicU64,
}

impl<K, S> Keyed<K, S> {
    fn per_key(&self) -> usize {
        self.per_key.load(Ordering::Acquire)
    }
}

/// A bulkhead per key; a cheap `Clone` handle.
///
/// ```
/// use seawall::bulkhead::KeyedBulkhead;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let per_tenant = KeyedBulkhead::<&str>::new("per-tenant", 2, 10_000)?;
/// let _a = per_tenant.try_acquire(&"acme").unwrap();
/// let _b = per_tenant.try_acquire(&"acme").unwrap();
/// assert!(per_tenant.try_acquire(&"acme").is_err());   // acme is full
/// assert!(per_tenant.try_acquire(&"globex").is_ok());  // globex is not
/// # Ok(()) }
/// ```
pub struct KeyedBulkhead<K, S = RandomState> {
    inner: Arc<Keyed<K, S>>,
}

impl<K, S> Clone for KeyedBulkhead<K, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, S> fmt::Debug for KeyedBulkhead<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBulkhead")
            .field("name", &self.inner.name)
            .finish()
    }
}

/// Why a keyed call was refused.
///
/// ```
/// use seawall::bulkhead::KeyedBulkheadError;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 1, 100)?; // 1 call at once per tenant
/// let _a = per_tenant.try_acquire(&"acme")?;
/// let err = per_tenant.try_acquire(&"acme").unwrap_err();
/// assert!(matches!(err, KeyedBulkheadError::Full(_)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum KeyedBulkheadError {
    /// This key's slots are all taken.
    Full(BulkheadFull),
    /// The key is new and every tracked key is busy.
    KeyLimitReached(KeyLimitReached),
}

impl fmt::Display for KeyedBulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedBulkheadError::Full(e) => e.fmt(f),
            KeyedBulkheadError::KeyLimitReached(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyedBulkheadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyedBulkheadError::Full(e) => Some(e),
            KeyedBulkheadError::KeyLimitReached(e) => Some(e),
        }
    }
}

/// A slot of one key's bulkhead; returned when dropped.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 2, 100)?;
/// let permit = per_tenant.try_acquire(&"acme")?;
/// assert_eq!(per_tenant.in_flight(&"acme"), 1);
/// drop(permit);
/// assert_eq!(per_tenant.in_flight(&"acme"), 0);
/// # Ok(()) }
/// ```
#[must_use = "the slot is returned as soon as the permit is dropped"]
pub struct KeyedBulkheadPermit {
    semaphore: Arc<Semaphore>,
}

impl Drop for KeyedBulkheadPermit {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for KeyedBulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedBulkheadPermit")
    }
}

impl<K: Hash + Eq + Clone> KeyedBulkhead<K, RandomState> {
    /// `per_key` slots for each key, at most `max_keys` keys tracked.
    pub fn new(name: &str, per_key: usize, max_keys: usize) -> Result<Self, crate::ConfigError> {
        let name: Arc<str> = Arc::from(name);
        super::check_max(&name, per_key)?;
        if max_keys == 0 {
            return Err(crate::ConfigError::new(
                &name,
                "max_keys",
                "must be at least 1, got 0",
            ));
        }
        Ok(Self {
            inner: Arc::new(Keyed {
                name,
                per_key: AtomicUsize::new(per_key),
                max_keys,
                map: RwLock::new(HashMap::default()),
                counts: Striped::new(),
                evicted: AtomicU64::new(0),
            }),
        })
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> KeyedBulkhead<K, S> {
    /// Takes one of `key`'s slots now.
    pub fn try_acquire(&self, key: &K) -> Result<KeyedBulkheadPermit, KeyedBulkheadError> {
        let inner = &*self.inner;
        if let Some(sem) = inner.map.read().get(key) {
            return self.take(sem);
        }
        let mut map = inner.map.write();
        if !map.contains_key(key) && map.len() >= inner.max_keys {
            let before = map.len();
            // Idle: every slot free (nothing in flight, nobody waiting).
            map.retain(|_, sem| {
                sem.available() < inner.per_key() as i64 || Arc::strong_count(sem) > 1
            });
            let evicted = before - map.len();
            inner.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
            if map.len() >= inner.max_keys {
                inner.counts.incr(REJECTED);
                return Err(KeyedBulkheadError::KeyLimitReached(KeyLimitReached::new(
                    inner.name.clone(),
                    inner.max_keys,
                )));
            }
        }
        let sem = map
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(inner.per_key())));
        self.take(sem)
    }

    fn take(&self, sem: &Arc<Semaphore>) -> Result<KeyedBulkheadPermit, KeyedBulkheadError> {
        if sem.try_acquire() {
            self.inner.counts.incr(PERMITTED);
            Ok(KeyedBulkheadPermit {
                semaphore: sem.clone(),
            })
        } else {
            self.inner.counts.incr(REJECTED);
            Err(KeyedBulkheadError::Full(BulkheadFull::new(
                self.inner.name.clone(),
                self.inner.per_key(),
            )))
        }
    }

    /// Changes every key's slots, and those of keys to come, keeping the
    /// calls in flight: with fewer, a key admits no new call until enough
    /// of its own have finished. Out of range, nothing changes.
    pub fn set_per_key(&self, per_key: usize) -> Result<(), crate::ConfigError> {
        super::check_max(&self.inner.name, per_key)?;
        self.put(per_key);
        Ok(())
    }

    /// Puts a checked `per_key` in force; what it replaced.
    pub(crate) fn put(&self, per_key: usize) -> usize {
        let map = self.inner.map.write();
        let old = self.inner.per_key.swap(per_key, Ordering::AcqRel);
        for sem in map.values() {
            sem.adjust(per_key as i64 - old as i64);
        }
        old
    }

    /// The slots each key has.
    pub fn per_key(&self) -> usize {
        self.inner.per_key()
    }

    /// The most keys tracked at once.
    pub fn max_keys(&self) -> usize {
        self.inner.max_keys
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.inner.map.read().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots of `key` in use now (0 for an unknown key).
    pub fn in_flight(&self, key: &K) -> usize {
        self.inner.map.read().get(key).map_or(0, |s| {
            (self.inner.per_key() as i64 - s.available()).max(0) as usize
        })
    }

    /// (permitted, rejected, evicted keys) since built.
    pub fn counts(&self) -> (u64, u64, u64) {
        let i = &self.inner;
        (
            i.counts.sum(PERMITTED),
            i.counts.sum(REJECTED),
            i.evicted.load(Ordering::Relaxed),
        )
    }

    /// A layer bounding each request's key by the key `key_of` extracts:
    /// the key, an `Option` (`None`: the request is exempt) or a `Result`
    /// (an error is the request's answer), as
    /// [`ExtractedKey`](crate::future::ExtractedKey) says.
    pub fn layer<F>(&self, key_of: F) -> KeyedBulkheadLayer<K, S, F> {
        KeyedBulkheadLayer {
            bulkhead: self.clone(),
            key_of,
        }
    }
}

/// Bounds concurrency per key; made by [`KeyedBulkhead::layer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 4, 10_000)?;
/// let layer = per_tenant.layer(|req: &(String, u32)| req.0.clone()); // the key of a request
/// let mut svc = layer.layer(service_fn(|req: (String, u32)| async move { Ok::<_, BoxError>(req.1) }));
/// assert_eq!(svc.ready().await?.call(("acme".into(), 7)).await?, 7);
/// # Ok(()) }
/// ```
pub struct KeyedBulkheadLayer<K, S, F> {
    bulkhead: KeyedBulkhead<K, S>,
    key_of: F,
}

impl<K, S, F: Clone> Clone for KeyedBulkheadLayer<K, S, F> {
    fn clone(&self) -> Self {
        Self {
            bulkhead: self.bulkhead.clone(),
            key_of: self.key_of.clone(),
        }
    }
}

impl<K, S, F> fmt::Debug for KeyedBulkheadLayer<K, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyedBulkheadLayer")
            .field(&self.bulkhead)
            .finish()
    }
}

impl<Svc, K, S, F: Clone> Layer<Svc> for KeyedBulkheadLayer<K, S, F> {
    type Service = KeyedBulkheadService<Svc, K, S, F>;
    fn layer(&self, inner: Svc) -> Self::Service {
        KeyedBulkheadService {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service bounded per key; made by [`KeyedBulkheadLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 1, 10_000)?;
/// let mut svc = per_tenant
///     .layer(|req: &(String, u32)| req.0.clone())
///     .layer(service_fn(|req: (String, u32)| async move { Ok::<_, BoxError>(req.1) }));
/// let _busy = per_tenant.try_acquire(&"acme".to_string())?;
/// let err = svc.ready().await?.call(("acme".into(), 7)).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::BulkheadFull);
/// assert_eq!(svc.ready().await?.call(("globex".into(), 8)).await?, 8); // other tenants pass
/// # Ok(()) }
/// ```
pub struct KeyedBulkheadService<Svc, K, S, F> {
    inner: Svc,
    layer: KeyedBulkheadLayer<K, S, F>,
}

impl<Svc: Clone, K, S, F: Clone> Clone for KeyedBulkheadService<Svc, K, S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<Svc: fmt::Debug, K, S, F> fmt::Debug for KeyedBulkheadService<Svc, K, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBulkheadService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<Svc, K, S, F, Req, Key> Service<Req> for KeyedBulkheadService<Svc, K, S, F>
where
    Svc: Service<Req>,
    Svc::Error: Into<BoxError>,
    K: Hash + Eq + Clone,
    S: BuildHasher,
    F: Fn(&Req) -> Key,
    Key: crate::future::ExtractedKey<K>,
{
    type Response = Svc::Response;
    type Error = BoxError;
    type Future = crate::future::AdmitFuture<KeyedCall<Svc::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = match crate::future::ExtractedKey::into_key((self.layer.key_of)(&req)) {
            Ok(Some(key)) => key,
            Ok(None) => {
                return crate::future::AdmitFuture::called(crate::future::Guarded::unguarded(
                    self.inner.call(req),
                ))
            }
            Err(e) => return crate::future::AdmitFuture::rejected(e),
        };
        match self.layer.bulkhead.try_acquire(&key) {
            Ok(permit) => crate::future::AdmitFuture::called(crate::future::Guarded::new(
                self.inner.call(req),
                permit,
            )),
            Err(KeyedBulkheadError::Full(e)) => crate::future::AdmitFuture::rejected(Box::new(e)),
            Err(KeyedBulkheadError::KeyLimitReached(e)) => {
                crate::future::AdmitFuture::rejected(Box::new(e))
            }
        }
    }
}

/// The inner call of a keyed bulkhead, holding its key's slot until done.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 2, 100)?;
/// let mut svc = per_tenant
///     .layer(|req: &(String, u32)| req.0.clone())
///     .layer(service_fn(|req: (String, u32)| async move { Ok::<_, BoxError>(req.1) }));
/// let call = svc.ready().await?.call(("acme".into(), 7)); // holds acme's slot
/// assert_eq!(per_tenant.in_flight(&"acme".to_string()), 1);
/// assert_eq!(call.await?, 7);
/// # Ok(()) }
/// ```
pub type KeyedCall<F> = crate::future::Guarded<F, KeyedBulkheadPermit>;
