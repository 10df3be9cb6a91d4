//! Changing a running hedge's settings.

use super::{Delay, Hedge, HedgeBuilder, HedgeDelay};
use crate::error::ConfigError;
use crate::sync::Ordering;
use crate::telemetry::{reconfigured, Listeners};

impl Hedge {
    /// Changes the settings while the hedge runs: `f` gets a builder
    /// holding the settings in force. `max_hedges` and a fixed delay may
    /// change (calls under way take them from their next copy); the kind
    /// of delay (fixed, parallel, learned), a learned delay's percentile
    /// and windows, and the budget are fixed at build (a budget's own
    /// settings change with [`RetryBudget::reconfigure`](crate::budget::RetryBudget::reconfigure)).
    /// Changing one of those, or an invalid value, is a [`ConfigError`] and
    /// changes nothing. Each setting that changed is an
    /// [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured) event.
    ///
    /// ```
    /// use seawall::hedge::{Hedge, HedgeDelay};
    /// use std::time::Duration;
    ///
    /// let hedge = Hedge::builder("search").delay(HedgeDelay::Fixed(Duration::from_millis(50))).build()?;
    /// hedge.reconfigure(|b| b.delay(HedgeDelay::Fixed(Duration::from_millis(20))).max_hedges(2))?;
    /// assert_eq!(hedge.current_delay(), Some(Duration::from_millis(20)));
    /// assert!(hedge.reconfigure(|b| b.delay(HedgeDelay::Parallel)).is_err());
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(HedgeBuilder) -> HedgeBuilder,
    ) -> Result<(), ConfigError> {
        let s = &self.shared;
        let now = HedgeBuilder {
            name: s.name.clone(),
            max_hedges: s.max_hedges(),
            delay: self.delay_in_force(),
            budget: Some(s.budget.clone()),
            clock: s.clock.clone(),
            listeners: Listeners::default(),
        };
        let next = f(now);
        let same_budget = match (&next.budget, &s.budget) {
            (Some(Some(a)), Some(b)) => a.same(b),
            (Some(None), None) => true,
            _ => false,
        };
        if !same_budget {
            return Err(ConfigError::new(
                &s.name,
                "budget",
                "cannot change while the hedge runs; build a new hedge",
            ));
        }
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    /// The delay in force, as a builder takes it.
    fn delay_in_force(&self) -> HedgeDelay {
        match &self.shared.delay {
            Delay::Fixed(d) => HedgeDelay::Fixed(d.get()),
            Delay::Parallel => HedgeDelay::Parallel,
            Delay::Learned(l) => {
                let (percentile, min_samples, window) = l.params();
                HedgeDelay::Percentile {
                    percentile,
                    min_samples,
                    window,
                }
            }
        }
    }

    /// Whether `next`'s settings (its budget aside) may replace these.
    pub(crate) fn check(&self, next: &HedgeBuilder) -> Result<(), ConfigError> {
        next.validate()?;
        let same_kind = match (self.delay_in_force(), next.delay) {
            (HedgeDelay::Fixed(_), HedgeDelay::Fixed(_)) => true,
            (a, b) => a == b,
        };
        if !same_kind {
            return Err(ConfigError::new(
                &self.shared.name,
                "delay",
                "only a fixed delay's length can change while the hedge runs; build a new hedge",
            ));
        }
        Ok(())
    }

    /// Puts `next` (checked) in force.
    pub(crate) fn put(&self, next: &HedgeBuilder) {
        let s = &self.shared;
        let old = s.max_hedges.swap(next.max_hedges, Ordering::Relaxed);
        let mut events = vec![reconfigured("max_hedges", old, next.max_hedges)];
        if let (Delay::Fixed(d), HedgeDelay::Fixed(to)) = (&s.delay, next.delay) {
            events.push(reconfigured("delay", d.set(to), to));
        }
        for e in events.into_iter().flatten() {
            s.emit_event(e);
        }
    }
}
