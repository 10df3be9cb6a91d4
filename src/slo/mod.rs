//! Service-level objectives, computed where the calls are: an SLI over any
//! window, the error budget left over the compliance period, burn rates,
//! and the SRE workbook's multi-window, multi-burn-rate alerts — plus the
//! same SLO as Prometheus rules, so dashboards and in-process alerts agree.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::slo::Slo;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let slo = Slo::builder("checkout")
//!     .objective(99.9)                                  // 99.9 % of calls good
//!     .latency_threshold(Duration::from_millis(300))    // good = succeeded within 300 ms
//!     .build()?;
//! let svc = slo.layer().layer(service_fn(|n: u32| async move {
//!     if n % 100 == 0 { Err::<u32, BoxError>("boom".into()) } else { Ok(n) }
//! }));
//! for n in 1..=1000 {
//!     let _ = svc.clone().oneshot(n).await;
//! }
//! let sli = slo.sli(Duration::from_secs(300)).unwrap();
//! assert_eq!(sli, 99.0);                                // 10 of 1000 failed
//! let burn = slo.burn_rate(Duration::from_secs(300));  // 1 % bad / 0.1 % allowed
//! assert!((burn - 10.0).abs() < 1e-9);
//! # Ok(()) }
//! ```
//!
//! **Memory.** Counts live in three rings of time buckets — seconds for the
//! last hour, minutes for the last three days, hours for the period — so an
//! SLO takes the same memory after ten calls or ten billion:
//! [`memory_bytes`](Slo::memory_bytes), 140 KiB (143,152 bytes) for a 30-day period.
//! Windows up to an hour are counted to the second, up to three days to the
//! minute, longer ones to the hour.
//!
//! **Recording** costs a clock read, a test and two stores on this thread's
//! own stripe: no lock, no shared write, no allocation. Once a second each
//! thread folds its counts into the rings with compare-and-swaps.

mod alert;
mod layer;
mod reconfigure;
mod ring;
mod rules;

pub use self::alert::{AlertState, BurnAlert, Severity};
pub use self::layer::{SloFuture, SloLayer, SloService};

use self::ring::{Counts, Rings};
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::outcome::Outcome;
use crate::telemetry::{EventKind, Listeners, Pattern};
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

type Policy = Arc<dyn Fn(bool, &str) + Send + Sync>;

/// An SLO: a cheap `Clone` handle to one shared tracker. Build it with
/// [`Slo::builder`]; feed it with [`layer`](Slo::layer) or
/// [`record`](Slo::record).
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let slo = Slo::builder("checkout").objective(99.0).build()?;
/// for i in 0..100 {
///     let outcome = if i < 2 { Outcome::Failure } else { Outcome::Success };
///     slo.record(outcome, Duration::from_millis(20));
/// }
/// assert_eq!(slo.sli(Duration::from_secs(3600)), Some(98.0)); // percent
/// assert!(slo.burn_rate(Duration::from_secs(3600)) > 1.0); // spending faster than allowed
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Slo {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) name: Arc<str>,
    /// The objective in percent, as `f64` bits (a reconfiguration changes it).
    objective: AtomicU64,
    period: Duration,
    /// Nanoseconds; 0: no latency SLI (fixed at build; its length is not).
    latency: AtomicU64,
    alerts: Vec<BurnAlert>,
    pub(crate) rings: Rings,
    /// Which alerts fire, and whether the budget policy is engaged.
    state: Mutex<(Vec<bool>, bool)>,
    policy: Option<(f64, Policy)>,
    pub(crate) clock: ClockHandle,
    listeners: Listeners,
}

/// The error budget over the compliance period.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let slo = Slo::builder("checkout").objective(90.0).build()?;
/// for i in 0..100 {
///     slo.record(if i < 5 { Outcome::Failure } else { Outcome::Success }, Duration::ZERO);
/// }
/// let budget = slo.budget();
/// assert_eq!((budget.allowed.round(), budget.spent), (10.0, 5)); // 10% of 100 calls, 5 spent
/// assert!((budget.remaining_percent - 50.0).abs() < 1e-6);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Bad calls the objective allows over the period so far: (1 −
    /// objective) × valid calls.
    pub allowed: f64,
    /// Bad calls so far.
    pub spent: u64,
    /// `allowed − spent` (negative once overspent).
    pub remaining: f64,
    /// `remaining / allowed` in percent (100 with no calls yet).
    pub remaining_percent: f64,
}

/// Builds an [`Slo`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::slo::BurnAlert;
///
/// # fn main() -> Result<(), ConfigError> {
/// let slo = Slo::builder("checkout")
///     .objective(99.9)                                   // percent
///     .period(Duration::from_secs(28 * 24 * 3600))       // 28 days
///     .latency_threshold(Duration::from_millis(300))     // slower is bad too
///     .alerts(BurnAlert::workbook())
///     .build()?;
/// assert!(Slo::builder("checkout").objective(100.0).build().is_err());
/// # let _ = slo; Ok(()) }
/// ```
#[must_use]
pub struct SloBuilder {
    name: Arc<str>,
    objective: f64,
    period: Duration,
    latency: Option<Duration>,
    alerts: Vec<BurnAlert>,
    policy: Option<(f64, Policy)>,
    clock: ClockHandle,
    listeners: Listeners,
}

impl Slo {
    /// A builder for an SLO named `name`: 99.9 % over 30 days, availability
    /// only, the workbook's alerts, unless set.
    pub fn builder(name: &str) -> SloBuilder {
        SloBuilder {
            name: Arc::from(name),
            objective: 99.9,
            period: 30 * DAY,
            latency: None,
            alerts: BurnAlert::workbook(),
            policy: None,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The objective, in percent.
    pub fn objective(&self) -> f64 {
        f64::from_bits(self.inner.objective.load(Ordering::Relaxed))
    }

    /// The compliance period.
    pub fn period(&self) -> Duration {
        self.inner.period
    }

    /// The tower layer: times each call and records it through a classifier
    /// (`DefaultClassifier` unless `.classify(..)`).
    pub fn layer(&self) -> SloLayer {
        SloLayer::new(self)
    }

    /// Records one call: `Success` is good (if within the latency
    /// threshold, when there is one), `Failure` bad, `Ignored` not counted
    /// (a 4xx the caller caused). `duration` matters only with a latency
    /// threshold.
    #[inline]
    pub fn record(&self, outcome: Outcome, duration: Duration) {
        let inner = &*self.inner;
        let good = match outcome {
            Outcome::Ignored => return,
            Outcome::Success => inner.latency().is_none_or(|t| duration <= t),
            Outcome::Failure => false,
        };
        inner.rings.record(inner.clock.now(), good);
    }

    /// The SLI over the last `window`: good calls in percent of valid ones
    /// (`None` without calls).
    pub fn sli(&self, window: Duration) -> Option<f64> {
        self.inner.sli(window)
    }

    /// The burn rate over the last `window`: the bad share over the allowed
    /// one (1: the budget lasts exactly the period; 0 without calls).
    pub fn burn_rate(&self, window: Duration) -> f64 {
        self.inner.burn_rate(window)
    }

    /// The error budget over the period up to now.
    pub fn budget(&self) -> Budget {
        self.inner.budget()
    }

    /// Every alert's state now (without telling anyone: see
    /// [`evaluate`](Self::evaluate)).
    pub fn alerts(&self) -> Vec<AlertState> {
        self.inner.alerts()
    }

    /// Checks the alerts now: an alert fires when both its windows burn at
    /// its factor or faster, and resolves when its short window falls
    /// below; each change is an `SloAlert` event (and a `tracing` event at
    /// `error` for a page, `warn` for a ticket). Then the budget policy.
    /// Returns the alerts that fire. Call it every few seconds, or let
    /// [`spawn_evaluator`](Self::spawn_evaluator) do it.
    pub fn evaluate(&self) -> Vec<AlertState> {
        let now = self.alerts();
        let mut changes = Vec::new();
        let (page, policy_change) = {
            let mut state = self.inner.state.lock();
            for (i, a) in now.iter().enumerate() {
                let was = state.0[i];
                let firing = if was {
                    a.burn_rates.1 >= a.factor // holds until the short window falls back
                } else {
                    a.firing
                };
                if firing != was {
                    state.0[i] = firing;
                    changes.push((*a, firing));
                }
            }
            let page = now
                .iter()
                .zip(&state.0)
                .any(|(a, f)| *f && a.alert.severity == Severity::Page);
            let policy_change = self.inner.policy.as_ref().and_then(|(at, _)| {
                let budget = self.inner.budget();
                let engage = page || budget.remaining_percent <= *at;
                (engage != state.1).then(|| {
                    state.1 = engage;
                    let reason = if !engage {
                        format!(
                            "budget recovered ({:.1}% left, no page alert)",
                            budget.remaining_percent
                        )
                    } else if page {
                        "a page alert fires: the budget burns fast".to_owned()
                    } else {
                        format!("{:.1}% of the budget left", budget.remaining_percent)
                    };
                    (engage, reason)
                })
            });
            (page, policy_change)
        };
        let _ = page;
        // Told outside the lock: a listener may query the SLO.
        for (a, firing) in changes {
            self.inner.emit(EventKind::SloAlert {
                severity: a.alert.severity,
                burn_rate: a.burn_rates.0,
                long_window: a.alert.long,
                short_window: a.alert.short,
                firing,
            });
        }
        if let (Some((engaged, reason)), Some((_, policy))) = (policy_change, &self.inner.policy) {
            policy(engaged, &reason);
            self.inner.emit(EventKind::BudgetPolicy {
                engaged,
                reason: reason.into(),
            });
        }
        let state = self.inner.state.lock();
        now.into_iter()
            .zip(state.0.iter())
            .filter(|(_, f)| **f)
            .map(|(mut a, _)| {
                a.firing = true;
                a
            })
            .collect()
    }

    /// Whether any page alert fires (as of the last [`evaluate`](Self::evaluate)).
    pub fn paging(&self) -> bool {
        let state = self.inner.state.lock();
        self.inner
            .alerts
            .iter()
            .zip(&state.0)
            .any(|(a, f)| *f && a.severity == Severity::Page)
    }

    /// Spawns a tokio task calling [`evaluate`](Self::evaluate) every
    /// `every` (it ends when the handle is aborted).
    pub fn spawn_evaluator(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let slo = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                slo.evaluate();
            }
        })
    }

    /// The memory this SLO holds, in bytes: fixed at build, whatever the
    /// traffic.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Inner>() + self.inner.rings.bytes()
    }

    /// Prometheus recording and alerting rules for this SLO over the
    /// crate's exported metrics (`seawall_slo_good_total`,
    /// `seawall_slo_valid_total`), as a rules file: JSON, which Prometheus
    /// reads as YAML (`promtool check rules` accepts it).
    pub fn prometheus_rules(&self) -> String {
        rules::rules(self)
    }
}

impl Inner {
    fn counts(&self, window: Duration) -> Counts {
        self.rings.counts(self.clock.now(), window.as_secs().max(1))
    }

    fn sli(&self, window: Duration) -> Option<f64> {
        let c = self.counts(window);
        (c.valid > 0).then(|| c.good as f64 * 100.0 / c.valid as f64)
    }

    fn burn_rate(&self, window: Duration) -> f64 {
        let c = self.counts(window);
        if c.valid == 0 {
            return 0.0;
        }
        (c.valid - c.good) as f64 / c.valid as f64 / self.allowed()
    }

    fn budget(&self) -> Budget {
        let c = self.counts(self.period);
        let allowed = self.allowed() * c.valid as f64;
        let spent = c.valid - c.good;
        let remaining = allowed - spent as f64;
        Budget {
            allowed,
            spent,
            remaining,
            remaining_percent: if c.valid == 0 {
                100.0
            } else {
                remaining * 100.0 / allowed
            },
        }
    }

    fn alerts(&self) -> Vec<AlertState> {
        self.alerts
            .iter()
            .map(|a| {
                let factor = a.factor(self.period);
                let burn_rates = (self.burn_rate(a.long), self.burn_rate(a.short));
                AlertState {
                    alert: *a,
                    factor,
                    burn_rates,
                    firing: burn_rates.0 >= factor && burn_rates.1 >= factor,
                }
            })
            .collect()
    }

    /// The latency threshold, if there is a latency SLI.
    #[inline]
    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.latency.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// The bad share allowed: 1 − objective.
    fn allowed(&self) -> f64 {
        1.0 - f64::from_bits(self.objective.load(Ordering::Relaxed)) / 100.0
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Slo, &self.name, &self.clock, kind);
    }
}

impl SloBuilder {
    /// The objective: the share of valid calls that must be good, in
    /// percent, in (0, 100). Default 99.9.
    pub fn objective(mut self, percent: f64) -> Self {
        self.objective = percent;
        self
    }

    /// The compliance period (default 30 days), from one hour to 366 days.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Adds a latency SLI: a call is good only when it succeeded within
    /// `threshold`.
    pub fn latency_threshold(mut self, threshold: Duration) -> Self {
        self.latency = Some(threshold);
        self
    }

    /// The burn-rate alerts (default: [`BurnAlert::workbook`]; add
    /// [`BurnAlert::sloth_ticket`] for Sloth's extra ticket).
    pub fn alerts(mut self, alerts: impl IntoIterator<Item = BurnAlert>) -> Self {
        self.alerts = alerts.into_iter().collect();
        self
    }

    /// The error-budget policy, in code: `engage(true, reason)` once a
    /// page alert fires or at most `remaining_percent` of the budget is
    /// left, `engage(false, reason)` once neither holds — e.g. switch a
    /// `DegradationSwitch` feature off and back on. Checked by
    /// [`Slo::evaluate`]; each change is a `BudgetPolicy` event.
    pub fn budget_policy(
        mut self,
        remaining_percent: f64,
        engage: impl Fn(bool, &str) + Send + Sync + 'static,
    ) -> Self {
        self.policy = Some((remaining_percent, Arc::new(engage)));
        self
    }

    crate::telemetry::builder_telemetry_setters!();

    /// Validates and builds.
    pub fn build(self) -> Result<Slo, ConfigError> {
        self.validate()?;
        let inner = Arc::new(Inner {
            objective: AtomicU64::new(self.objective.to_bits()),
            period: self.period,
            latency: AtomicU64::new(self.latency.map_or(0, crate::clock::nanos)),
            rings: Rings::new(self.period.as_secs()),
            state: Mutex::new((vec![false; self.alerts.len()], false)),
            alerts: self.alerts,
            policy: self.policy,
            clock: self.clock,
            listeners: self.listeners,
            name: self.name,
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Ok(Slo { inner })
    }

    /// Checks the settings as `build` does, building nothing.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        if !(self.objective > 0.0 && self.objective < 100.0) {
            return Err(ConfigError::new(
                name,
                "objective",
                format!("must be a percentage in (0, 100), got {}", self.objective),
            ));
        }
        if !(Duration::from_secs(3600)..=366 * DAY).contains(&self.period) {
            return Err(ConfigError::new(
                name,
                "period",
                format!("must be from 1 hour to 366 days, got {:?}", self.period),
            ));
        }
        if self.latency == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                name,
                "latency_threshold",
                "must be above zero",
            ));
        }
        for a in &self.alerts {
            a.validate(name, self.period)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slo")
            .field("name", &self.inner.name)
            .field("objective", &self.objective())
            .field("period", &self.inner.period)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SloBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SloBuilder")
            .field("name", &self.name)
            .field("objective", &self.objective)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Slo,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        let (valid, good) = self.rings.totals();
        counter!("seawall_slo_valid_total", "name" => name.clone()).absolute(valid);
        counter!("seawall_slo_good_total", "name" => name.clone()).absolute(good);
        if let Some(sli) = self.sli(self.period) {
            gauge!("seawall_slo_sli_ratio", "name" => name.clone()).set(sli / 100.0);
        }
        gauge!("seawall_slo_budget_remaining_ratio", "name" => name.clone())
            .set(self.budget().remaining_percent / 100.0);
        let firing = self.state.lock().0.clone();
        for (a, firing) in self.alerts.iter().zip(firing) {
            for w in [a.long, a.short] {
                gauge!("seawall_slo_burn_rate", "name" => name.clone(), "window" => rules::window(w))
                    .set(self.burn_rate(w));
            }
            gauge!(
                "seawall_slo_alert_firing",
                "name" => name.clone(),
                "severity" => a.severity.as_str(),
                "window" => rules::window(a.long)
            )
            .set(f64::from(u8::from(firing)));
        }
    }
}
