//! Changing a running shedder's settings.

use super::{reserve, LoadShedder, LoadShedderBuilder, MAX_IN_FLIGHT};
use crate::error::ConfigError;
use crate::sync::Ordering;
use crate::telemetry::reconfigured;
use std::time::Duration;

impl LoadShedder {
    /// Changes the settings while the shedder runs, keeping the calls in
    /// flight and those waiting: `f` gets a builder holding the settings
    /// in force and returns the new ones. A lower `max_in_flight` admits
    /// no new call until enough have finished; a new `min_share` gives
    /// each priority its new room at once. Whether there is a
    /// `max_in_flight` at all, and whether calls may wait (`max_wait` zero
    /// or not), are fixed at build: changing either, or any invalid value,
    /// is a [`ConfigError`] and changes nothing. Each setting that changed
    /// is an [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured) event.
    ///
    /// ```
    /// use seawall::load_shed::LoadShedder;
    ///
    /// let shedder = LoadShedder::builder("api").max_in_flight(64).build()?;
    /// shedder.reconfigure(|b| b.max_in_flight(32).min_share(0.25))?;
    /// assert!(shedder.reconfigure(|b| b.max_in_flight(0)).is_err());
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(LoadShedderBuilder) -> LoadShedderBuilder,
    ) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let mut now = LoadShedder::builder(&inner.name)
            .min_share(*inner.min_share.lock())
            .max_wait(inner.max_wait.get());
        if inner.limited {
            now = now.max_in_flight(inner.max_in_flight.load(Ordering::Acquire));
        }
        if let Some((target, interval)) = inner.codel.as_ref().map(|c| c.params()) {
            now = now.codel(Duration::from_nanos(target), Duration::from_nanos(interval));
        }
        let next = f(now);
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    /// Whether `next` may replace the settings of this running shedder.
    pub(crate) fn check(&self, next: &LoadShedderBuilder) -> Result<(), ConfigError> {
        next.validate()?;
        let inner = &self.inner;
        let refuse = |field, why: &str| Err(ConfigError::new(&inner.name, field, why.to_string()));
        if next.max_in_flight.is_some() != inner.limited {
            return refuse(
                "max_in_flight",
                "cannot be set or unset while the shedder runs; build a new shedder",
            );
        }
        if next.max_wait.is_zero() != inner.codel.is_none() {
            return refuse(
                "max_wait",
                "cannot turn waiting on or off while the shedder runs; build a new shedder",
            );
        }
        Ok(())
    }

    /// Puts `next` (checked) in force.
    pub(crate) fn put(&self, next: &LoadShedderBuilder) {
        let inner = &self.inner;
        let mut events = Vec::new();
        let mut min_share = inner.min_share.lock();
        let n = next.max_in_flight.unwrap_or(MAX_IN_FLIGHT);
        let old = inner.max_in_flight.swap(n, Ordering::AcqRel);
        inner.semaphore.adjust(n as i64 - old as i64);
        for (p, r) in inner.reserve.iter().enumerate() {
            r.store(reserve(n, next.min_share, p), Ordering::Relaxed);
        }
        if inner.limited {
            events.push(reconfigured("max_in_flight", old, n));
        }
        events.push(reconfigured("min_share", *min_share, next.min_share));
        *min_share = next.min_share;
        if let Some(codel) = &inner.codel {
            let (target, interval) = codel.params();
            let (new_target, new_interval) = next.codel;
            codel.set(
                crate::clock::nanos(new_target),
                crate::clock::nanos(new_interval),
            );
            events.push(reconfigured(
                "codel",
                (Duration::from_nanos(target), Duration::from_nanos(interval)),
                next.codel,
            ));
        }
        drop(min_share);
        events.push(reconfigured(
            "max_wait",
            inner.max_wait.set(next.max_wait),
            next.max_wait,
        ));
        for e in events.into_iter().flatten() {
            inner.emit(e);
        }
    }
}
