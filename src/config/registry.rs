//! Named instances built from a [`SeawallConfig`], and reloads of it.

use super::kinds::{write_into, Entries, Kind, Plan};
use super::SeawallConfig;
use crate::adaptive::{AdaptiveLimiter, AdaptiveThrottle};
use crate::bulkhead::{Bulkhead, KeyedBulkhead};
use crate::chaos::Chaos;
use crate::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker};
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::failover::OutlierSettings;
use crate::hedge::Hedge;
use crate::load_shed::LoadShedder;
use crate::rate_limit::{KeyedRateLimiter, RateLimiter};
use crate::retry::Retry;
use crate::slo::Slo;
use crate::telemetry::{Listeners, Pattern};
use crate::timeout::{Fixed, TimeoutLayer};
use parking_lot::{Mutex, RwLock};
use std::fmt;
use std::sync::Arc;

/// Every instance a file names, built and looked up by name: cheap
/// `Clone` handles, the same instance wherever it is used. A
/// [`reload`](Self::reload) changes them in place, so layers already
/// wired see the new settings.
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let v1 = SeawallConfig::from_toml("[bulkheads.instances.reports]\nmax_concurrent_calls = 8\n")?;
/// let registry = Registry::from_config(&v1)?;
/// let reports = registry.bulkhead("reports").expect("in the file");
/// let v2 = SeawallConfig::from_toml("[bulkheads.instances.reports]\nmax_concurrent_calls = 4\n")?;
/// registry.reload(&v2)?;                                   // the running instance changes
/// assert_eq!(reports.metrics().max_concurrent_calls, 4);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    shared: Arc<Shared>,
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) clock: ClockHandle,
    pub(super) listeners: Listeners,
    /// Held by a whole reload, so reloads apply one at a time.
    reloading: Mutex<()>,
    /// The entries; written only by a reload, briefly, after the instances
    /// took their changes (so a listener may look instances up).
    instances: RwLock<Instances>,
}

#[derive(Default)]
pub(super) struct Instances {
    pub(super) circuit_breakers: Entries<CircuitBreaker>,
    pub(super) rate_limiters: Entries<RateLimiter>,
    pub(super) bulkheads: Entries<Bulkhead>,
    pub(super) timeouts: Entries<TimeoutLayer<Fixed>>,
    pub(super) adaptive_limiters: Entries<AdaptiveLimiter>,
    pub(super) load_shedders: Entries<LoadShedder>,
    pub(super) retries: Entries<Retry>,
    pub(super) chaos: Entries<Chaos>,
    pub(super) keyed_rate_limiters: Entries<KeyedRateLimiter<String>>,
    pub(super) throttles: Entries<AdaptiveThrottle>,
    pub(super) hedges: Entries<Hedge>,
    pub(super) slos: Entries<Slo>,
    pub(super) keyed_circuit_breakers: Entries<KeyedCircuitBreaker<String>>,
    pub(super) keyed_bulkheads: Entries<KeyedBulkhead<String>>,
    pub(super) outlier_detections: Entries<OutlierSettings>,
}

/// Configures a [`Registry`]: the clock and event listeners every instance
/// it builds is given. Made by [`Registry::builder`].
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
/// use seawall::ManualClock;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let config = SeawallConfig::from_toml("[circuit_breakers.instances.payments]\n")?;
/// let registry = Registry::builder()
///     .clock(ManualClock::new())                  // every instance's clock (tests)
///     .on_event(|e| println!("{e:?}"))            // every instance's events, reloads too
///     .build(&config)?;
/// # let _ = registry; Ok(()) }
/// ```
#[must_use]
pub struct RegistryBuilder {
    clock: ClockHandle,
    listeners: Listeners,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder").finish_non_exhaustive()
    }
}

impl RegistryBuilder {
    crate::telemetry::builder_telemetry_setters!();

    /// Builds every instance of `config`; any invalid one is the error
    /// (naming the instance and the field) and nothing is built.
    pub fn build(self, config: &SeawallConfig) -> Result<Registry, ConfigError> {
        let shared = Shared {
            clock: self.clock,
            listeners: self.listeners,
            reloading: Mutex::default(),
            instances: RwLock::default(),
        };
        let mut instances = Instances::default();
        // Nothing runs yet: every instance is new, nothing to put.
        Plans::check(&shared, &instances, config)?.record(&mut instances);
        *shared.instances.write() = instances;
        Ok(Registry {
            shared: Arc::new(shared),
        })
    }
}

/// What a [`Registry::reload`] did, instance by instance (each setting
/// changed is also an [`EventKind::Reconfigured`](crate::telemetry::EventKind::Reconfigured)
/// event on the instance's listeners).
///
/// ```
/// use seawall::config::{Registry, SeawallConfig};
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// let registry = Registry::from_config(&SeawallConfig::from_toml("[bulkheads.instances.a]\n")?)?;
/// let report = registry.reload(&SeawallConfig::from_toml("[bulkheads.instances.b]\n")?)?;
/// assert_eq!(report.added.len(), 1);
/// assert_eq!(report.removed.len(), 1);
/// assert!(report.changed.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Instances whose settings changed, in place.
    pub changed: Vec<(Pattern, String)>,
    /// Instances the new file adds.
    pub added: Vec<(Pattern, String)>,
    /// Instances the new file no longer names: gone from the registry
    /// (handles already taken keep working with their last settings).
    pub removed: Vec<(Pattern, String)>,
}

impl ReloadReport {
    /// Whether the reload changed nothing.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// One plan per kind of instance.
struct Plans {
    circuit_breakers: Plan<CircuitBreaker>,
    rate_limiters: Plan<RateLimiter>,
    bulkheads: Plan<Bulkhead>,
    timeouts: Plan<TimeoutLayer<Fixed>>,
    adaptive_limiters: Plan<AdaptiveLimiter>,
    load_shedders: Plan<LoadShedder>,
    retries: Plan<Retry>,
    chaos: Plan<Chaos>,
    keyed_rate_limiters: Plan<KeyedRateLimiter<String>>,
    throttles: Plan<AdaptiveThrottle>,
    hedges: Plan<Hedge>,
    slos: Plan<Slo>,
    keyed_circuit_breakers: Plan<KeyedCircuitBreaker<String>>,
    keyed_bulkheads: Plan<KeyedBulkhead<String>>,
    outlier_detections: Plan<OutlierSettings>,
}

impl Plans {
    /// Checks every instance of `next` against what runs, changing nothing.
    fn check(shared: &Shared, now: &Instances, next: &SeawallConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            circuit_breakers: Plan::check(shared, &now.circuit_breakers, next)?,
            rate_limiters: Plan::check(shared, &now.rate_limiters, next)?,
            bulkheads: Plan::check(shared, &now.bulkheads, next)?,
            timeouts: Plan::check(shared, &now.timeouts, next)?,
            adaptive_limiters: Plan::check(shared, &now.adaptive_limiters, next)?,
            load_shedders: Plan::check(shared, &now.load_shedders, next)?,
            retries: Plan::check(shared, &now.retries, next)?,
            chaos: Plan::check(shared, &now.chaos, next)?,
            keyed_rate_limiters: Plan::check(shared, &now.keyed_rate_limiters, next)?,
            throttles: Plan::check(shared, &now.throttles, next)?,
            hedges: Plan::check(shared, &now.hedges, next)?,
            slos: Plan::check(shared, &now.slos, next)?,
            keyed_circuit_breakers: Plan::check(shared, &now.keyed_circuit_breakers, next)?,
            keyed_bulkheads: Plan::check(shared, &now.keyed_bulkheads, next)?,
            outlier_detections: Plan::check(shared, &now.outlier_detections, next)?,
        })
    }

    /// Puts every change in force in the running instances.
    fn put(&mut self, shared: &Shared) {
        self.circuit_breakers.put(shared);
        self.rate_limiters.put(shared);
        self.bulkheads.put(shared);
        self.timeouts.put(shared);
        self.adaptive_limiters.put(shared);
        self.load_shedders.put(shared);
        self.retries.put(shared);
        self.chaos.put(shared);
        self.keyed_rate_limiters.put(shared);
        self.throttles.put(shared);
        self.hedges.put(shared);
        self.slos.put(shared);
        self.keyed_circuit_breakers.put(shared);
        self.keyed_bulkheads.put(shared);
        self.outlier_detections.put(shared);
    }

    /// Records every plan in the entries; nothing here can fail.
    fn record(self, now: &mut Instances) -> ReloadReport {
        let mut report = ReloadReport::default();
        self.circuit_breakers
            .record(&mut now.circuit_breakers, &mut report);
        self.rate_limiters
            .record(&mut now.rate_limiters, &mut report);
        self.bulkheads.record(&mut now.bulkheads, &mut report);
        self.timeouts.record(&mut now.timeouts, &mut report);
        self.adaptive_limiters
            .record(&mut now.adaptive_limiters, &mut report);
        self.load_shedders
            .record(&mut now.load_shedders, &mut report);
        self.retries.record(&mut now.retries, &mut report);
        self.chaos.record(&mut now.chaos, &mut report);
        self.keyed_rate_limiters
            .record(&mut now.keyed_rate_limiters, &mut report);
        self.throttles.record(&mut now.throttles, &mut report);
        self.hedges.record(&mut now.hedges, &mut report);
        self.slos.record(&mut now.slos, &mut report);
        self.keyed_circuit_breakers
            .record(&mut now.keyed_circuit_breakers, &mut report);
        self.keyed_bulkheads
            .record(&mut now.keyed_bulkheads, &mut report);
        self.outlier_detections
            .record(&mut now.outlier_detections, &mut report);
        report
    }
}

/// For each kind: the lookup of one instance by name, and the names.
macro_rules! lookups {
    ($($(#[$doc:meta])* $one:ident, $names:ident, $field:ident: $ty:ty;)+) => {$(
        $(#[$doc])*
        pub fn $one(&self, name: &str) -> Option<$ty> {
            self.get(name, |i| &i.$field)
        }

        #[doc = concat!("The names of the `", stringify!($one), "` instances, in order.")]
        pub fn $names(&self) -> Vec<String> {
            self.names(|i| &i.$field)
        }
    )+};
}

impl Registry {
    /// A registry whose instances read `clock` and tell `on_event`
    /// listeners; [`from_config`](Self::from_config) for neither.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Builds every instance of `config`; any invalid one is the error
    /// (naming the instance and the field) and nothing is built.
    pub fn from_config(config: &SeawallConfig) -> Result<Self, ConfigError> {
        Self::builder().build(config)
    }

    /// Applies `next` to the running instances without losing their state:
    /// a breaker keeps its state and window, a limiter the tokens taken, a
    /// bulkhead or a limiter the calls in flight and those waiting.
    /// Instances `next` adds are built; those it no longer names leave the
    /// registry. All or nothing: every instance is checked first, and the
    /// first invalid one (a value out of range, or a change a running
    /// instance cannot take, such as a breaker's window size) is the error
    /// and nothing changes. Reloads apply one at a time; a listener may
    /// look instances up while one runs, but must not reload from within
    /// one (it would wait for itself).
    ///
    /// ```
    /// use seawall::config::{Registry, SeawallConfig};
    ///
    /// # fn main() -> Result<(), seawall::ConfigError> {
    /// let file = |threshold: &str, window: u32| SeawallConfig::from_toml(&format!(
    ///     "[circuit_breakers.instances.payments]\nfailure_rate_threshold = \"{threshold}\"\n\
    ///      sliding_window_size = {window}\n"
    /// ));
    /// let registry = Registry::from_config(&file("50%", 100)?)?;
    /// let payments = registry.circuit_breaker("payments").unwrap();
    ///
    /// let report = registry.reload(&file("25%", 100)?)?;
    /// assert_eq!(report.changed.len(), 1); // the same breaker, changed in place
    /// // A running breaker keeps its window: refused, and nothing changed.
    /// assert!(registry.reload(&file("50%", 50)?).is_err());
    /// # let _ = payments; Ok(()) }
    /// ```
    pub fn reload(&self, next: &SeawallConfig) -> Result<ReloadReport, ConfigError> {
        let _one_at_a_time = self.shared.reloading.lock();
        let mut plans = Plans::check(&self.shared, &self.shared.instances.read(), next)?;
        plans.put(&self.shared);
        Ok(plans.record(&mut self.shared.instances.write()))
    }

    /// The configuration in force: each instance as merged over its
    /// section's defaults.
    pub fn config(&self) -> SeawallConfig {
        self.shared.instances.read().config()
    }

    lookups! {
        /// The circuit breaker `name`.
        circuit_breaker, circuit_breaker_names, circuit_breakers: CircuitBreaker;
        /// The keyed circuit breaker `name` (`.layer_for(key)`, `.try_acquire(key)`).
        keyed_circuit_breaker, keyed_circuit_breaker_names, keyed_circuit_breakers: KeyedCircuitBreaker<String>;
        /// The rate limiter `name`.
        rate_limiter, rate_limiter_names, rate_limiters: RateLimiter;
        /// The keyed rate limiter `name` (its layer: `.layer(key_fn)`).
        keyed_rate_limiter, keyed_rate_limiter_names, keyed_rate_limiters: KeyedRateLimiter<String>;
        /// The bulkhead `name`.
        bulkhead, bulkhead_names, bulkheads: Bulkhead;
        /// The keyed bulkhead `name` (its layer: `.layer(key_fn)`).
        keyed_bulkhead, keyed_bulkhead_names, keyed_bulkheads: KeyedBulkhead<String>;
        /// The timeout layer `name` (its duration follows reloads).
        timeout, timeout_names, timeouts: TimeoutLayer<Fixed>;
        /// The retry `name` (its layer: `.layer()`, or `.layer().for_http()`).
        retry, retry_names, retries: Retry;
        /// The hedge `name` (its layer: `.layer()`, or `.layer().for_http()`).
        hedge, hedge_names, hedges: Hedge;
        /// The adaptive limiter `name`.
        adaptive_limiter, adaptive_limiter_names, adaptive_limiters: AdaptiveLimiter;
        /// The load shedder `name`.
        load_shedder, load_shedder_names, load_shedders: LoadShedder;
        /// The client-side adaptive throttle `name` (its layer: `.layer()`).
        throttle, throttle_names, throttles: AdaptiveThrottle;
        /// The outlier detection of failover set `name`, for
        /// `Failover::builder(name).outlier_settings(..)`: reloads reach the set.
        outlier_detection, outlier_detection_names, outlier_detections: OutlierSettings;
        /// The SLO `name` (its layer: `.layer()`).
        slo, slo_names, slos: Slo;
        /// The fault injector `name` (its layer: `.layer()`).
        chaos, chaos_names, chaos: Chaos;
    }

    fn get<K: Kind>(&self, name: &str, of: impl Fn(&Instances) -> &Entries<K>) -> Option<K> {
        of(&self.shared.instances.read())
            .get(name)
            .map(|e| e.instance.clone())
    }

    fn names<K: Kind>(&self, of: impl Fn(&Instances) -> &Entries<K>) -> Vec<String> {
        of(&self.shared.instances.read()).keys().cloned().collect()
    }
}

impl Shared {
    /// Tells the registry's listeners of `kind` at instance `name` (for
    /// instances with no listeners of their own).
    pub(super) fn emit(&self, pattern: Pattern, name: &str, kind: crate::telemetry::EventKind) {
        self.listeners.emit(crate::telemetry::Event {
            pattern,
            name: name.into(),
            at: std::time::Duration::from_nanos(self.clock.now()),
            kind,
        });
    }
}

impl Instances {
    /// Each instance's merged settings, as one file.
    fn config(&self) -> SeawallConfig {
        let mut c = SeawallConfig::default();
        write_into(&self.circuit_breakers, &mut c);
        write_into(&self.rate_limiters, &mut c);
        write_into(&self.bulkheads, &mut c);
        write_into(&self.timeouts, &mut c);
        write_into(&self.adaptive_limiters, &mut c);
        write_into(&self.load_shedders, &mut c);
        write_into(&self.retries, &mut c);
        write_into(&self.chaos, &mut c);
        write_into(&self.keyed_rate_limiters, &mut c);
        write_into(&self.throttles, &mut c);
        write_into(&self.hedges, &mut c);
        write_into(&self.slos, &mut c);
        write_into(&self.keyed_circuit_breakers, &mut c);
        write_into(&self.keyed_bulkheads, &mut c);
        write_into(&self.outlier_detections, &mut c);
        c
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.shared.instances.read();
        f.debug_struct("Registry")
            .field("circuit_breakers", &i.circuit_breakers.keys())
            .field("rate_limiters", &i.rate_limiters.keys())
            .field("bulkheads", &i.bulkheads.keys())
            .field("timeouts", &i.timeouts.keys())
            .field("adaptive_limiters", &i.adaptive_limiters.keys())
            .field("load_shedders", &i.load_shedders.keys())
            .field("retries", &i.retries.keys())
            .field("chaos", &i.chaos.keys())
            .field("keyed_rate_limiters", &i.keyed_rate_limiters.keys())
            .field("throttles", &i.throttles.keys())
            .field("hedges", &i.hedges.keys())
            .field("slos", &i.slos.keys())
            .field("keyed_circuit_breakers", &i.keyed_circuit_breakers.keys())
            .field("keyed_bulkheads", &i.keyed_bulkheads.keys())
            .field("outlier_detections", &i.outlier_detections.keys())
            .finish()
    }
}
