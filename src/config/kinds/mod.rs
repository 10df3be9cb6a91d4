//! What the registry does with each kind of instance: build it from its
//! section of a file, check new settings against it, put them in force.
//! A reload checks every instance first ([`Plan::check`], which changes
//! nothing), then puts the changes in the running instances
//! ([`Plan::put`]) and records them ([`Plan::record`]); neither can fail.
//! Each kind's own part is in `impls.rs`.

use super::registry::{ReloadReport, Shared};
use super::{SeawallConfig, Section};
use crate::adaptive::{AdaptiveLimiter, AdaptiveThrottle};
use crate::bulkhead::{Bulkhead, KeyedBulkhead};
use crate::chaos::Chaos;
use crate::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
use crate::error::ConfigError;
use crate::failover::OutlierSettings;
use crate::hedge::Hedge;
use crate::load_shed::LoadShedder;
use crate::rate_limit::{KeyedRateLimiter, RateLimiter};
use crate::retry::Retry;
use crate::slo::Slo;
use crate::telemetry::Pattern;
use crate::timeout::{Fixed, TimeoutLayer};
use std::collections::BTreeMap;

mod impls;

/// An instance and the settings (merged over its section's defaults) it
/// was built or last reloaded with.
pub(crate) struct Entry<I: Kind> {
    pub(crate) config: I::Config,
    pub(crate) instance: I,
}

/// One kind's instances, by name.
pub(crate) type Entries<I> = BTreeMap<String, Entry<I>>;

/// One kind of instance a file configures.
pub(crate) trait Kind: Clone + Sized {
    /// Its section's settings.
    type Config: Clone + PartialEq;
    /// New settings, checked for a running instance.
    type Checked;
    const PATTERN: Pattern;
    /// Its section's key in a file.
    const SECTION: &'static str;
    fn section(c: &SeawallConfig) -> &Section<Self::Config>;
    fn section_mut(c: &mut SeawallConfig) -> &mut Section<Self::Config>;
    fn merged(defaults: &Self::Config, own: &Self::Config) -> Self::Config;
    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError>;
    /// Checks `c` as `build` would, building nothing.
    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError>;
    /// Whether `next` may replace `now`, the settings this instance runs with.
    fn check(
        &self,
        now: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError>;
    fn put(&self, checked: Self::Checked, shared: &Shared, name: &str);
}

/// What a reload would do to one kind's instances.
pub(crate) struct Plan<I: Kind> {
    changed: Vec<Change<I>>,
    added: Vec<(String, I::Config, I)>,
    removed: Vec<String>,
}

/// A running instance's change: its name, new settings, the checked
/// change (taken when put) and the instance.
type Change<I> = (String, <I as Kind>::Config, Option<<I as Kind>::Checked>, I);

impl<I: Kind> Plan<I> {
    /// Checks `next`'s instances of this kind against those running; the
    /// first that cannot be applied is the error. Changes nothing (an
    /// added instance is built, but not yet registered).
    pub(crate) fn check(
        shared: &Shared,
        now: &Entries<I>,
        next: &SeawallConfig,
    ) -> Result<Self, ConfigError> {
        let section = I::section(next);
        let mut plan = Plan {
            changed: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
        };
        for (name, own) in &section.instances {
            let config = I::merged(&section.defaults, own);
            match now.get(name) {
                Some(e) if e.config == config => {}
                Some(e) => {
                    let checked = e.instance.check(&e.config, &config, name)?;
                    let instance = e.instance.clone();
                    plan.changed
                        .push((name.clone(), config, Some(checked), instance));
                }
                None => {
                    let instance = I::build(&config, name, shared)?;
                    plan.added.push((name.clone(), config, instance));
                }
            }
        }
        plan.removed = (now.keys())
            .filter(|name| !section.instances.contains_key(*name))
            .cloned()
            .collect();
        Ok(plan)
    }

    /// Puts the changes in force in the running instances (their events
    /// fire here: no lock of the registry is held).
    pub(crate) fn put(&mut self, shared: &Shared) {
        for (name, _, checked, instance) in &mut self.changed {
            if let Some(checked) = checked.take() {
                instance.put(checked, shared, name);
            }
        }
    }

    /// Records the plan in the registry's entries: new settings, instances
    /// added and removed.
    pub(crate) fn record(self, now: &mut Entries<I>, report: &mut ReloadReport) {
        for (name, config, _, _) in self.changed {
            // Present: reloads run one at a time, and only they change entries.
            if let Some(e) = now.get_mut(&name) {
                e.config = config;
                report.changed.push((I::PATTERN, name));
            }
        }
        for (name, config, instance) in self.added {
            now.insert(name.clone(), Entry { config, instance });
            report.added.push((I::PATTERN, name));
        }
        for name in self.removed {
            now.remove(&name);
            report.removed.push((I::PATTERN, name));
        }
    }
}

/// Checks each instance of `I`'s section of `c`.
fn validate<I: Kind>(c: &SeawallConfig) -> Result<(), (&'static str, ConfigError)> {
    let section = I::section(c);
    for (name, own) in &section.instances {
        I::validate(&I::merged(&section.defaults, own), name).map_err(|e| (I::SECTION, e))?;
    }
    Ok(())
}

/// Checks every instance of `c`, section by section.
pub(crate) fn validate_all(c: &SeawallConfig) -> Result<(), (&'static str, ConfigError)> {
    validate::<CircuitBreaker>(c)?;
    validate::<RateLimiter>(c)?;
    validate::<Bulkhead>(c)?;
    validate::<TimeoutLayer<Fixed>>(c)?;
    validate::<AdaptiveLimiter>(c)?;
    validate::<LoadShedder>(c)?;
    validate::<Retry>(c)?;
    validate::<Chaos>(c)?;
    validate::<KeyedRateLimiter<String>>(c)?;
    validate::<AdaptiveThrottle>(c)?;
    validate::<Hedge>(c)?;
    validate::<Slo>(c)?;
    validate::<KeyedCircuitBreaker<String>>(c)?;
    validate::<KeyedBulkhead<String>>(c)?;
    validate::<OutlierSettings>(c)
}

/// Writes each entry's settings into `c` (as instances, no defaults).
pub(crate) fn write_into<I: Kind>(entries: &Entries<I>, c: &mut SeawallConfig) {
    let section = I::section_mut(c);
    for (name, e) in entries {
        section.instances.insert(name.clone(), e.config.clone());
    }
}
