//! Named bulkheads, one per dependency, from one place.

use super::{Bulkhead, BulkheadBuilder};
use crate::error::ConfigError;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Hands out one shared [`Bulkhead`] per name, created on first use from
/// the registry's defaults (or a configuration given then).
///
/// ```
/// use seawall::bulkhead::BulkheadRegistry;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let registry = BulkheadRegistry::new(10, Duration::ZERO)?;
/// let payments = registry.bulkhead("payments");
/// let search = registry.bulkhead_with("search", |b| b.max_concurrent_calls(50))?;
/// assert_eq!(registry.bulkhead("payments").metrics().max_concurrent_calls, 10); // the same one
/// assert_eq!(search.metrics().max_concurrent_calls, 50);
/// assert_eq!(registry.names(), vec!["payments", "search"]);
/// # drop(payments); Ok(()) }
/// ```
#[derive(Clone)]
pub struct BulkheadRegistry {
    inner: Arc<Registry>,
}

struct Registry {
    max_concurrent_calls: usize,
    max_wait: Duration,
    bulkheads: Mutex<BTreeMap<String, Bulkhead>>,
}

impl BulkheadRegistry {
    /// A registry whose bulkheads default to these settings (validated now).
    pub fn new(max_concurrent_calls: usize, max_wait: Duration) -> Result<Self, ConfigError> {
        Bulkhead::builder("registry-defaults")
            .max_concurrent_calls(max_concurrent_calls)
            .max_wait(max_wait)
            .validate()?;
        Ok(Self {
            inner: Arc::new(Registry {
                max_concurrent_calls,
                max_wait,
                bulkheads: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    fn defaults(&self, name: &str) -> BulkheadBuilder {
        Bulkhead::builder(name)
            .max_concurrent_calls(self.inner.max_concurrent_calls)
            .max_wait(self.inner.max_wait)
    }

    /// The bulkhead `name`, created from the defaults if new.
    pub fn bulkhead(&self, name: &str) -> Bulkhead {
        let mut map = self.inner.bulkheads.lock();
        if let Some(b) = map.get(name) {
            return b.clone();
        }
        // The defaults were validated in `new`, so this cannot fail.
        let b = self
            .defaults(name)
            .build()
            .unwrap_or_else(|_| unreachable_defaults());
        map.insert(name.to_string(), b.clone());
        b
    }

    /// The bulkhead `name`; if new, built from the defaults as `configure`
    /// adjusts them.
    pub fn bulkhead_with(
        &self,
        name: &str,
        configure: impl FnOnce(BulkheadBuilder) -> BulkheadBuilder,
    ) -> Result<Bulkhead, ConfigError> {
        let mut map = self.inner.bulkheads.lock();
        if let Some(b) = map.get(name) {
            return Ok(b.clone());
        }
        let b = configure(self.defaults(name)).build()?;
        map.insert(name.to_string(), b.clone());
        Ok(b)
    }

    /// The names registered so far, sorted.
    pub fn names(&self) -> Vec<String> {
        self.inner.bulkheads.lock().keys().cloned().collect()
    }
}

#[cold]
fn unreachable_defaults() -> Bulkhead {
    // Validated defaults always build; fall back to a minimal bulkhead
    // rather than panic.
    Bulkhead::builder("registry")
        .max_concurrent_calls(1)
        .build()
        .expect("1 is a valid limit")
}

impl fmt::Debug for BulkheadRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadRegistry")
            .field("names", &self.names())
            .finish()
    }
}
