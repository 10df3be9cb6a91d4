//! Changing a running SLO's objective and latency threshold.

use super::{Slo, SloBuilder};
use crate::error::ConfigError;
use crate::telemetry::reconfigured;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Slo {
    /// Changes the objective, or the latency threshold's length, while the
    /// SLO runs, keeping its record of calls: `f` gets a builder holding
    /// the settings in force. The period, the alerts, the budget policy
    /// and whether there is a latency SLI are fixed at build; changing one,
    /// or an invalid value, is a [`ConfigError`] and changes nothing. The
    /// budget and the burn rates read the new objective at once (over the
    /// calls already recorded). Each setting that changed is an
    /// [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured) event.
    ///
    /// ```
    /// use seawall::slo::Slo;
    ///
    /// let slo = Slo::builder("checkout").objective(99.9).build()?;
    /// slo.reconfigure(|b| b.objective(99.5))?;
    /// assert_eq!(slo.objective(), 99.5);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(&self, f: impl FnOnce(SloBuilder) -> SloBuilder) -> Result<(), ConfigError> {
        let inner = &self.inner;
        let mut now = Slo::builder(&inner.name)
            .objective(self.objective())
            .period(inner.period)
            .alerts(inner.alerts.iter().copied());
        now.latency = inner.latency();
        now.policy = inner.policy.clone();
        let next = f(now);
        let same_policy = match (&next.policy, &inner.policy) {
            (Some((a, f)), Some((b, g))) => a == b && Arc::ptr_eq(f, g),
            (None, None) => true,
            _ => false,
        };
        if !same_policy {
            return self.refuse("budget_policy");
        }
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    fn refuse(&self, field: &'static str) -> Result<(), ConfigError> {
        Err(ConfigError::new(
            &self.inner.name,
            field,
            "cannot change while the SLO runs; build a new SLO",
        ))
    }

    /// Whether `next`'s settings (its policy aside) may replace these.
    pub(crate) fn check(&self, next: &SloBuilder) -> Result<(), ConfigError> {
        next.validate()?;
        let inner = &self.inner;
        if next.period != inner.period {
            return self.refuse("period");
        }
        if next.alerts != inner.alerts {
            return self.refuse("alerts");
        }
        if next.latency.is_some() != inner.latency().is_some() {
            return self.refuse("latency_threshold");
        }
        Ok(())
    }

    /// Puts `next`'s objective and threshold (checked) in force.
    pub(crate) fn put(&self, next: &SloBuilder) {
        let inner = &self.inner;
        let objective = self.objective();
        inner
            .objective
            .store(next.objective.to_bits(), Ordering::Relaxed);
        let latency = inner.latency();
        (inner.latency).store(
            next.latency.map_or(0, crate::clock::nanos),
            Ordering::Relaxed,
        );
        let changes = [
            reconfigured("objective", objective, next.objective),
            reconfigured("latency_threshold", latency, next.latency),
        ];
        for e in changes.into_iter().flatten() {
            inner.emit(e);
        }
    }
}
