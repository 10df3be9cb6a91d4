//! Keyed circuit breakers: one breaker per endpoint, host or tenant, all
//! from one builder, bounded in number.
//!
//! Each key's breaker is made on its first call (named `{name}:{key}`, so
//! their metrics and events stay apart) and is a plain
//! [`CircuitBreaker`]. The map is bounded: when it is full, breakers that
//! are closed and unused for `idle_after` are evicted to make room (an open
//! or half-open breaker is never evicted: it is protecting something), and
//! a new key is refused with [`KeyLimitReached`] when none is idle.

use super::config::{CircuitBreakerBuilder, Config};
use super::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use crate::clock::ClockHandle;
use crate::error::{ConfigError, KeyLimitReached};
use crate::telemetry::Listeners;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SHARDS: usize = 16;

/// Breakers per key; a cheap `Clone` handle. Built with
/// [`CircuitBreakerBuilder::build_keyed`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_host = CircuitBreaker::builder("upstream")
///     .minimum_number_of_calls(2)
///     .build_keyed::<String>(1_000)?;
/// for _ in 0..2 {
///     per_host.try_acquire(&"a.internal".to_owned())?.record(Outcome::Failure);
/// }
/// assert!(per_host.try_acquire(&"a.internal".to_owned()).is_err()); // a's breaker is open
/// assert!(per_host.try_acquire(&"b.internal".to_owned()).is_ok());  // b's is not
/// # Ok(()) }
/// ```
pub struct KeyedCircuitBreaker<K, C = crate::DefaultClassifier> {
    inner: Arc<Keyed<K, C>>,
}

impl<K, C> Clone for KeyedCircuitBreaker<K, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, C> fmt::Debug for KeyedCircuitBreaker<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("name", &self.inner.name)
            .field("keys", &self.len())
            .finish()
    }
}

struct Entry<C> {
    breaker: CircuitBreaker<C>,
    /// When it was last asked for (clock ns), for idle eviction.
    last_used: AtomicU64,
}

/// A share of the keys, under its own lock.
type Shard<K, C> = RwLock<HashMap<K, Entry<C>>>;

struct Keyed<K, C> {
    name: Arc<str>,
    /// What a new key's breaker is made with; a reconfiguration changes it
    /// (taken after a shard's lock, never with one held by a reconfiguration).
    config: Mutex<Config>,
    clock: ClockHandle,
    listeners: Listeners,
    classifier: C,
    hasher: RandomState,
    shards: Box<[Shard<K, C>]>,
    keys: AtomicUsize,
    max_keys: usize,
    idle_after: u64,
    evicted: AtomicU64,
}

/// Why a keyed breaker refused a call.
///
/// ```
/// use seawall::circuit_breaker::KeyedBreakerError;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_host = CircuitBreaker::builder("hosts").build_keyed::<String>(1)?;
/// let permit = per_host.try_acquire(&"a.example".to_string())?;
/// // A second host while the first holds the only key:
/// let err = per_host.try_acquire(&"b.example".to_string()).unwrap_err();
/// assert!(matches!(err, KeyedBreakerError::KeyLimitReached(_)));
/// # drop(permit); Ok(()) }
/// ```
#[derive(Debug)]
pub enum KeyedBreakerError {
    /// The key's breaker is open.
    Open(crate::error::CircuitOpen),
    /// The key is new and the map is full of breakers in use.
    KeyLimitReached(KeyLimitReached),
}

impl fmt::Display for KeyedBreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedBreakerError::Open(e) => e.fmt(f),
            KeyedBreakerError::KeyLimitReached(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyedBreakerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyedBreakerError::Open(e) => Some(e),
            KeyedBreakerError::KeyLimitReached(e) => Some(e),
        }
    }
}

impl<C: Clone> CircuitBreakerBuilder<C> {
    /// Builds one breaker per key, each configured as this builder says,
    /// at most `max_keys` of them (idle ones evicted to make room: see
    /// [`KeyedCircuitBreaker`]).
    pub fn build_keyed<K>(self, max_keys: usize) -> Result<KeyedCircuitBreaker<K, C>, ConfigError>
    where
        K: Hash + Eq + Clone + fmt::Display,
    {
        if max_keys == 0 {
            return Err(ConfigError::new(
                &self.name,
                "max_keys",
                "must be at least 1, got 0".to_owned(),
            ));
        }
        let config = self.validate()?;
        let (name, clock, listeners, classifier) = self.into_parts();
        Ok(KeyedCircuitBreaker {
            inner: Arc::new(Keyed {
                name,
                config: Mutex::new(config),
                clock,
                listeners,
                classifier,
                hasher: RandomState::new(),
                shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
                keys: AtomicUsize::new(0),
                max_keys,
                idle_after: crate::clock::nanos(Duration::from_secs(300)),
                evicted: AtomicU64::new(0),
            }),
        })
    }
}

impl<K, C> KeyedCircuitBreaker<K, C>
where
    K: Hash + Eq + Clone + fmt::Display,
    C: Clone,
{
    /// How long a closed breaker must go unused before it may be evicted
    /// to make room (default 5 minutes).
    pub fn idle_after(mut self, idle: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.idle_after = crate::clock::nanos(idle);
        }
        self
    }

    /// `key`'s breaker, made on first use.
    pub fn get(&self, key: &K) -> Result<CircuitBreaker<C>, KeyLimitReached> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let shard = &inner.shards[(inner.hasher.hash_one(key) % SHARDS as u64) as usize];
        if let Some(e) = shard.read().get(key) {
            e.last_used.store(now, Ordering::Relaxed);
            return Ok(e.breaker.clone());
        }
        if inner.keys.load(Ordering::Relaxed) >= inner.max_keys {
            self.evict_idle();
        }
        let mut map = shard.write();
        if let Some(e) = map.get(key) {
            return Ok(e.breaker.clone()); // made meanwhile
        }
        if inner
            .keys
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                (k < inner.max_keys).then_some(k + 1)
            })
            .is_err()
        {
            return Err(KeyLimitReached::new(inner.name.clone(), inner.max_keys));
        }
        let breaker = CircuitBreaker::from_parts(
            Arc::from(format!("{}:{key}", inner.name)),
            inner.config.lock().clone(),
            inner.clock.clone(),
            inner.listeners.clone(),
            inner.classifier.clone(),
        );
        map.insert(
            key.clone(),
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now),
            },
        );
        Ok(breaker)
    }

    /// A permit for a call on `key`'s breaker.
    pub fn try_acquire(&self, key: &K) -> Result<super::OwnedPermit, KeyedBreakerError> {
        self.get(key)
            .map_err(KeyedBreakerError::KeyLimitReached)?
            .try_acquire_owned()
            .map_err(KeyedBreakerError::Open)
    }

    /// `key`'s breaker as a layer: wrap an endpoint with its own breaker
    /// (e.g. each of a `Failover`'s, keyed by its place or host).
    pub fn layer_for(&self, key: &K) -> Result<CircuitBreakerLayer<C>, KeyLimitReached> {
        Ok(self.get(key)?.layer())
    }

    /// Evicts the breakers closed and unused for `idle_after`; returns how
    /// many.
    pub fn evict_idle(&self) -> usize {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut evicted = 0;
        for shard in inner.shards.iter() {
            shard.write().retain(|_, e| {
                let idle = now.saturating_sub(e.last_used.load(Ordering::Relaxed))
                    >= inner.idle_after
                    && matches!(
                        e.breaker.state(),
                        CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly
                    );
                evicted += usize::from(idle);
                !idle
            });
        }
        inner.keys.fetch_sub(evicted, Ordering::AcqRel);
        inner.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }

    /// Changes the settings of every key's breaker, and of those made from
    /// now on, keeping each one's state and window (see
    /// [`CircuitBreaker::reconfigure`]): `f` gets a builder holding the
    /// settings in force.
    pub fn reconfigure(
        &self,
        f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Result<(), ConfigError> {
        let now = self.inner.config.lock().clone();
        let next = f(CircuitBreakerBuilder::new(&self.inner.name).with_config(&now));
        let next = self.checked(&next)?;
        self.put(next);
        Ok(())
    }

    /// `b`'s settings, checked to replace these.
    pub(crate) fn checked<C2>(&self, b: &CircuitBreakerBuilder<C2>) -> Result<Config, ConfigError> {
        let next = b.validate()?;
        let now = self.inner.config.lock().clone();
        now.check_replace(&self.inner.name, &next)?;
        Ok(next)
    }

    /// Puts checked settings in force for the keys there are and to come.
    /// A key made meanwhile read the settings under its shard's lock,
    /// before this visits the shard: it is seen, and changed, too.
    pub(crate) fn put(&self, next: Config) {
        *self.inner.config.lock() = next.clone();
        for shard in self.inner.shards.iter() {
            // Listeners run after the shard's lock is released.
            let breakers: Vec<_> = shard.read().values().map(|e| e.breaker.clone()).collect();
            for b in breakers {
                b.put(next.clone());
            }
        }
    }

    /// The state of every key's breaker.
    pub fn states(&self) -> Vec<(K, CircuitState)> {
        self.inner
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .map(|(k, e)| (k.clone(), e.breaker.state()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl<K, C> KeyedCircuitBreaker<K, C> {
    /// Its name (each key's breaker is `{name}:{key}`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Breakers made and not evicted.
    pub fn len(&self) -> usize {
        self.inner.keys.load(Ordering::Relaxed)
    }

    /// Whether no breaker has been made yet (or all were evicted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Breakers evicted since built.
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }
}
