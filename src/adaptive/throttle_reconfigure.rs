//! Changing a running throttle's settings.

use super::throttle::{AdaptiveThrottle, AdaptiveThrottleBuilder, BINS};
use crate::error::ConfigError;
use crate::sync::Ordering;
use crate::telemetry::{reconfigured, EventKind};
use std::time::Duration;

impl AdaptiveThrottle {
    /// Changes `k` and `max_reject` while the throttle runs, keeping its
    /// window of requests and accepts: `f` gets a builder holding the
    /// settings in force. The window and the seed are fixed at build:
    /// changing either, or an invalid value, is a [`ConfigError`] and
    /// changes nothing. The drop probability follows within 64 calls per
    /// thread.
    ///
    /// ```
    /// use seawall::adaptive::AdaptiveThrottle;
    ///
    /// let throttle = AdaptiveThrottle::builder("search").build()?;
    /// throttle.reconfigure(|b| b.k(1.5).max_reject(0.5))?;
    /// assert!(throttle.reconfigure(|b| b.k(0.5)).is_err());
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(AdaptiveThrottleBuilder) -> AdaptiveThrottleBuilder,
    ) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let (k, max_reject) = self.settings();
        let now = AdaptiveThrottle::builder(&inner.name)
            .k(k)
            .max_reject(max_reject)
            .window(Duration::from_nanos(inner.bin_ns * BINS as u64))
            .seed(inner.seed);
        let next = f(now);
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    /// `(k, max_reject)` in force.
    pub fn settings(&self) -> (f64, f64) {
        let load = |a: &crate::sync::AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        (load(&self.inner.k), load(&self.inner.max_reject))
    }

    /// Whether `next` may replace the settings of this running throttle.
    pub(crate) fn check(&self, next: &AdaptiveThrottleBuilder) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let refuse = |field| {
            Err(ConfigError::new(
                &inner.name,
                field,
                "cannot change while the throttle runs; build a new throttle",
            ))
        };
        if next.validate()? != inner.bin_ns {
            return refuse("window");
        }
        if next.seed.is_some_and(|s| s != inner.seed) {
            return refuse("seed");
        }
        Ok(())
    }

    /// Puts `next` (checked) in force; the settings that changed, as events
    /// (a throttle has no listeners of its own: a registry reports them).
    pub(crate) fn put(&self, next: &AdaptiveThrottleBuilder) -> Vec<EventKind> {
        let (k, max_reject) = self.settings();
        self.inner.k.store(next.k.to_bits(), Ordering::Relaxed);
        (self.inner.max_reject).store(next.max_reject.to_bits(), Ordering::Relaxed);
        [
            reconfigured("k", k, next.k),
            reconfigured("max_reject", max_reject, next.max_reject),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
