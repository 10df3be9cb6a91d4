//! Changing a running injector's rates, latency and switch.

use super::{Chaos, ChaosBuilder, FaultKind};
use crate::error::ConfigError;
use crate::telemetry::reconfigured;
use std::sync::Arc;

/// Whether both are the same function, or both none.
fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Chaos {
    /// Changes the settings while the injector runs (an operator's game
    /// day turned up or down): `f` gets a builder holding the settings in
    /// force and returns the new ones. The rates, the latency and whether
    /// it is enabled may change; the error and behaviour functions, the
    /// seed and the blast-radius limits are fixed at build. Changing one of
    /// those, or any invalid value, is a [`ConfigError`] and changes
    /// nothing. Each setting that changed is an
    /// [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured)
    /// event (and switching is `ChaosEnabled` / `ChaosDisabled`).
    ///
    /// ```
    /// use seawall::chaos::{Chaos, FaultKind};
    ///
    /// let chaos = Chaos::builder("inventory").error_rate(0.1).build()?;
    /// chaos.reconfigure(|b| b.error_rate(0.3))?;
    /// assert_eq!(chaos.rate(FaultKind::Error), 0.3);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(ChaosBuilder) -> ChaosBuilder,
    ) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let limits = inner.guard.as_ref().map(|g| g.limits()).unwrap_or_default();
        let mut now = Chaos::builder(&inner.name);
        now.enabled = self.is_enabled();
        now.rates = FaultKind::ALL.map(|k| self.rate(k));
        now.latency = **inner.latency.load();
        now.error = inner.error.clone();
        now.behaviour = inner.behaviour.clone();
        now.seed = Some(inner.seed);
        (now.max_per_sec, now.max_share) = limits;
        let next = f(now);
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    /// Whether `next` may replace the settings of this running injector.
    pub(crate) fn check(&self, next: &ChaosBuilder) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let refuse = |field| {
            Err(ConfigError::new(
                &inner.name,
                field,
                "cannot change while the injector runs; build a new one",
            ))
        };
        if !same(&next.error, &inner.error) {
            return refuse("error_with");
        }
        if !same(&next.behaviour, &inner.behaviour) {
            return refuse("behaviour");
        }
        if next.seed.is_some_and(|s| s != inner.seed) {
            return refuse("seed");
        }
        let limits = inner.guard.as_ref().map(|g| g.limits()).unwrap_or_default();
        if (next.max_per_sec, next.max_share) != limits {
            return refuse(if next.max_per_sec != limits.0 {
                "max_injections_per_sec"
            } else {
                "max_injected_share"
            });
        }
        next.validate()?;
        Ok(())
    }

    /// Puts `next` (checked) in force.
    pub(crate) fn put(&self, next: &ChaosBuilder) {
        let mut events = Vec::new();
        let old_latency = self.inner.latency.swap(Arc::new(next.latency));
        events.push(reconfigured(
            "latency",
            format!("{:?}", old_latency),
            format!("{:?}", next.latency),
        ));
        for kind in FaultKind::ALL {
            let (old, new) = (self.rate(kind), next.rates[kind as usize]);
            // In range: checked.
            let _ = self.set_rate(kind, new);
            events.push(reconfigured(kind.rate_field(), old, new));
        }
        for e in events.into_iter().flatten() {
            self.inner.emit(e);
        }
        match (self.is_enabled(), next.enabled) {
            (false, true) => self.enable(),
            (true, false) => self.disable(),
            _ => {}
        }
    }
}
