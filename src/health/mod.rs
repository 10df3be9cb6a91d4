//! Health and readiness: seawall's instances and your own checks, each
//! critical or optional, aggregated into liveness and readiness with
//! reasons — and, with the `http` feature, answered on `/health/live` and
//! `/health/ready`.
//!
//! | component | down (critical: not ready) | degraded (ready) |
//! |---|---|---|
//! | circuit breaker | open or forced open | half-open (probing), or open when optional |
//! | bulkhead | — | refused a call since the last check (shedding) |
//! | rate limiter | — | refused a call since the last check |
//! | SLO | — | a page alert fires |
//! | degradation switch | — | a feature is degraded or disabled |
//! | your check | fails or times out (when critical) | fails or times out (when optional) |
//!
//! ```
//! use seawall::health::{Criticality, HealthRegistry};
//! use seawall::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let database = CircuitBreaker::builder("database").build()?;
//! let health = HealthRegistry::new()
//!     .breaker("database", &database, Criticality::Critical)
//!     .check("disk", Criticality::Optional, Duration::from_secs(1), || async {
//!         Ok::<_, String>(()) // e.g. free space above a floor
//!     });
//! assert!(health.report().await.ready);
//! database.force_open();
//! let report = health.report().await;
//! assert!(!report.ready);
//! assert_eq!(report.components[0].reason, "circuit forced open");
//! # Ok(()) }
//! ```

pub mod escalation;
#[cfg(feature = "http")]
mod http;

#[cfg(feature = "http")]
pub use self::http::{HealthFuture, HealthService};

use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::{CircuitBreaker, CircuitState};
use crate::fallback::{DegradationSwitch, FeatureState};
use crate::slo::Slo;
use crate::telemetry::{Event, EventKind, Listeners, Pattern};
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether a component's failure makes the service not ready.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let db = CircuitBreaker::builder("database").build()?;
/// let recs = CircuitBreaker::builder("recommendations").build()?;
/// let _health = HealthRegistry::new()
///     .breaker("database", &db, Criticality::Critical)       // down: not ready
///     .breaker("recommendations", &recs, Criticality::Optional); // down: degraded
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criticality {
    /// Down ⇒ not ready (the service cannot work without it).
    Critical,
    /// Down ⇒ degraded, still ready (the service works without it).
    Optional,
}

/// A component's state, or the service's.
///
/// ```
/// use seawall::health::HealthState;
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let health = HealthRegistry::new();
/// assert_eq!(health.report().await.status, HealthState::Up);
/// assert_eq!(HealthState::Degraded.as_str(), "degraded");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthState {
    /// Working.
    Up,
    /// Working, not fully.
    Degraded,
    /// Not working.
    Down,
}

impl HealthState {
    /// `up`, `degraded`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
        }
    }
}

/// One component in a [`HealthReport`].
///
/// ```
/// use seawall::health::HealthState;
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let db = CircuitBreaker::builder("database").build()?;
/// db.force_open();
/// let report = HealthRegistry::new().breaker("database", &db, Criticality::Critical).report().await;
/// let c = &report.components[0];
/// assert_eq!((c.name.as_str(), c.kind, c.state), ("database", "circuit_breaker", HealthState::Down));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    /// Its name.
    pub name: String,
    /// What it is: `circuit_breaker`, `bulkhead`, `slo`, `degradation_switch`, `check`.
    pub kind: &'static str,
    /// Whether its being down makes the service not ready.
    pub critical: bool,
    /// Its state (an optional component's "down" is reported here as down,
    /// and makes the service degraded).
    pub state: HealthState,
    /// Why, in a few words (`circuit open`, `timed out after 1s`, ...).
    pub reason: String,
}

/// The service's health: liveness, readiness, and each component.
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let recs = CircuitBreaker::builder("recommendations").build()?;
/// recs.force_open();
/// let report = HealthRegistry::new()
///     .breaker("recommendations", &recs, Criticality::Optional)
///     .report()
///     .await;
/// assert!(report.live && report.ready);          // optional: degraded, still ready
/// println!("{}", report.to_json());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// The process should keep running (no liveness check fails).
    pub live: bool,
    /// It should receive traffic (no critical component is down).
    pub ready: bool,
    /// The worst of: up, degraded (something optional down or a critical
    /// one struggling), down (not ready).
    pub status: HealthState,
    /// Each component, in the order registered.
    pub components: Vec<ComponentHealth>,
}

impl HealthReport {
    /// The report as JSON: `{"status", "live", "ready", "components": [{"name", "kind", "critical", "state", "reason"}]}`.
    pub fn to_json(&self) -> String {
        let components: Vec<_> = self
            .components
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "kind": c.kind,
                    "critical": c.critical,
                    "state": c.state.as_str(),
                    "reason": c.reason,
                })
            })
            .collect();
        serde_json::json!({
            "status": self.status.as_str(),
            "live": self.live,
            "ready": self.ready,
            "components": components,
        })
        .to_string()
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Probe = Arc<dyn Fn() -> Probed + Send + Sync>;

/// A component's reading: at once, or a check to run with a timeout.
enum Probed {
    Now(HealthState, String),
    Check(BoxFuture, Duration),
}

#[derive(Clone)]
struct Component {
    name: String,
    kind: &'static str,
    criticality: Criticality,
    liveness: bool,
    probe: Probe,
}

/// The components a service's health is made of: a cheap `Clone` handle.
/// Register seawall's instances and your own checks, then ask for a
/// [`report`](Self::report) (or serve it: `http_service`).
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let database = CircuitBreaker::builder("database").build()?;
/// let health = HealthRegistry::new().breaker("database", &database, Criticality::Critical);
/// assert!(health.report().await.ready);
/// database.force_open();
/// assert!(!health.report().await.ready);       // a critical dependency is down
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    components: Vec<Component>,
    /// Readiness as of the last report (for events and `last_ready`).
    last: Mutex<Option<bool>>,
    listeners: Listeners,
}

impl HealthRegistry {
    /// An empty registry: live and ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry to add to: its own, or a copy when it is shared
    /// already (registration happens before a registry is handed out).
    fn make_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            let last = *self.inner.last.lock();
            self.inner = Arc::new(Inner {
                components: self.inner.components.clone(),
                last: Mutex::new(last),
                listeners: self.inner.listeners.clone(),
            });
        }
        Arc::get_mut(&mut self.inner).expect("just made unique")
    }

    fn with(mut self, c: Component) -> Self {
        self.make_mut().components.push(c);
        self
    }

    /// A circuit breaker: open or forced open is down, half-open degraded.
    pub fn breaker<C: Send + Sync + 'static>(
        self,
        name: &str,
        breaker: &CircuitBreaker<C>,
        criticality: Criticality,
    ) -> Self
    where
        CircuitBreaker<C>: Clone,
    {
        let breaker = breaker.clone();
        self.with(Component {
            name: name.to_owned(),
            kind: "circuit_breaker",
            criticality,
            liveness: false,
            probe: Arc::new(move || match breaker.state() {
                CircuitState::Open => Probed::Now(HealthState::Down, "circuit open".into()),
                CircuitState::ForcedOpen => {
                    Probed::Now(HealthState::Down, "circuit forced open".into())
                }
                CircuitState::HalfOpen => {
                    Probed::Now(HealthState::Degraded, "circuit half-open: probing".into())
                }
                _ => Probed::Now(HealthState::Up, "circuit closed".into()),
            }),
        })
    }

    /// A bulkhead: degraded while it sheds (it refused a call since the
    /// last report).
    pub fn bulkhead(self, name: &str, bulkhead: &Bulkhead) -> Self {
        let b = bulkhead.clone();
        self.refusing(name, "bulkhead", "shedding", move || {
            let m = b.metrics();
            let up = format!("{} of {} in flight", m.in_flight, m.max_concurrent_calls);
            (m.rejected_calls, up)
        })
    }

    /// A rate limiter: degraded while it refuses calls (it refused one
    /// since the last report).
    pub fn rate_limiter(self, name: &str, limiter: &crate::rate_limit::RateLimiter) -> Self {
        let l = limiter.clone();
        self.refusing(name, "rate_limiter", "limiting", move || {
            (l.metrics().rejected_calls, "under its limit".to_owned())
        })
    }

    /// A component degraded while its refusals grow: `read` gives the
    /// refusals so far and the reason to give when there were none.
    fn refusing(
        self,
        name: &str,
        kind: &'static str,
        doing: &'static str,
        read: impl Fn() -> (u64, String) + Send + Sync + 'static,
    ) -> Self {
        let seen = AtomicU64::new(read().0);
        self.with(Component {
            name: name.to_owned(),
            kind,
            criticality: Criticality::Optional,
            liveness: false,
            probe: Arc::new(move || {
                let (refused, up) = read();
                let before = seen.swap(refused, Ordering::Relaxed);
                if refused > before {
                    Probed::Now(
                        HealthState::Degraded,
                        format!("{doing}: {} calls refused", refused - before),
                    )
                } else {
                    Probed::Now(HealthState::Up, up)
                }
            }),
        })
    }

    /// A fleet-wide limiter on Redis (feature `redis`): degraded while it
    /// decides without Redis.
    #[cfg(feature = "redis")]
    pub fn fleet_limiter(self, name: &str, limiter: &crate::redis::RedisRateLimiter) -> Self {
        let limiter = limiter.clone();
        self.degraded_while(
            name,
            "fleet_rate_limiter",
            move || limiter.is_degraded(),
            ("redis unavailable: deciding locally", "redis answers"),
        )
    }

    /// An endpoint set: degraded while any endpoint is ejected (the
    /// reason says which), up otherwise. Ejection keeps calls off an
    /// endpoint without refusing them, so the set never reads down.
    pub fn failover<S, R, C>(self, name: &str, set: &crate::failover::Failover<S, R, C>) -> Self
    where
        S: Send + Sync + 'static,
        R: Send + Sync + 'static,
        C: Send + Sync + 'static,
    {
        let set = set.clone();
        self.with(Component {
            name: name.to_owned(),
            kind: "failover",
            criticality: Criticality::Optional,
            liveness: false,
            probe: Arc::new(move || {
                let ejected = set.metrics().ejected;
                let out: Vec<String> = ejected
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| **e)
                    .map(|(i, _)| i.to_string())
                    .collect();
                if out.is_empty() {
                    Probed::Now(
                        HealthState::Up,
                        format!("{} endpoints in rotation", ejected.len()),
                    )
                } else {
                    Probed::Now(
                        HealthState::Degraded,
                        format!("endpoints ejected: {}", out.join(", ")),
                    )
                }
            }),
        })
    }

    /// An SLO: degraded while a page alert fires (as of its last
    /// `evaluate`).
    pub fn slo(self, slo: &Slo) -> Self {
        let name = slo.name().to_owned();
        let slo = slo.clone();
        self.degraded_while(
            &name,
            "slo",
            move || slo.paging(),
            (
                "a page alert fires: the error budget burns fast",
                "within its error budget",
            ),
        )
    }

    /// An optional component, degraded while `degraded()` says so; `reasons`
    /// are what it reports then and otherwise.
    fn degraded_while(
        self,
        name: &str,
        kind: &'static str,
        degraded: impl Fn() -> bool + Send + Sync + 'static,
        (when_degraded, when_up): (&'static str, &'static str),
    ) -> Self {
        self.with(Component {
            name: name.to_owned(),
            kind,
            criticality: Criticality::Optional,
            liveness: false,
            probe: Arc::new(move || {
                if degraded() {
                    Probed::Now(HealthState::Degraded, when_degraded.into())
                } else {
                    Probed::Now(HealthState::Up, when_up.into())
                }
            }),
        })
    }

    /// A degradation switch: degraded while any feature is degraded or
    /// disabled.
    pub fn degradation(self, name: &str, switch: &DegradationSwitch) -> Self {
        let switch = switch.clone();
        self.with(Component {
            name: name.to_owned(),
            kind: "degradation_switch",
            criticality: Criticality::Optional,
            liveness: false,
            probe: Arc::new(move || {
                let off: Vec<String> = switch
                    .states()
                    .into_iter()
                    .filter(|(_, s)| *s != FeatureState::Enabled)
                    .map(|(f, s)| format!("{f} {s:?}"))
                    .collect();
                if off.is_empty() {
                    Probed::Now(HealthState::Up, "every feature enabled".into())
                } else {
                    Probed::Now(HealthState::Degraded, off.join(", ").to_lowercase())
                }
            }),
        })
    }

    /// A check of your own, run at each report with `timeout`: `Ok` is up;
    /// an `Err(reason)` or running past the timeout is down (not ready if
    /// critical, degraded if optional).
    pub fn check<F, Fut>(
        self,
        name: &str,
        criticality: Criticality,
        timeout: Duration,
        check: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.user_check(name, criticality, false, timeout, check)
    }

    /// A liveness check: failing or timing out makes the process not live
    /// (restart it), and not ready.
    pub fn liveness_check<F, Fut>(self, name: &str, timeout: Duration, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.user_check(name, Criticality::Critical, true, timeout, check)
    }

    fn user_check<F, Fut>(
        self,
        name: &str,
        criticality: Criticality,
        liveness: bool,
        timeout: Duration,
        check: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.with(Component {
            name: name.to_owned(),
            kind: "check",
            criticality,
            liveness,
            probe: Arc::new(move || Probed::Check(Box::pin(check()), timeout)),
        })
    }

    /// Calls `f` with each readiness change (a `ReadinessChanged` event).
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.make_mut()
            .listeners
            .push(crate::telemetry::EventMask::ALL, Arc::new(f));
        self
    }

    /// Reads every component (your checks concurrently, each within its
    /// timeout) into a report; a change of readiness since the last report
    /// is a `ReadinessChanged` event.
    pub async fn report(&self) -> HealthReport {
        let mut components = Vec::with_capacity(self.inner.components.len());
        let mut pending = Vec::new();
        for (i, c) in self.inner.components.iter().enumerate() {
            match (c.probe)() {
                Probed::Now(state, reason) => components.push((i, state, reason)),
                Probed::Check(fut, timeout) => pending.push((i, fut, timeout)),
            }
        }
        // Your checks run concurrently, each on a task of its own.
        let mut checks = tokio::task::JoinSet::new();
        let mut ids = Vec::new();
        for (i, fut, timeout) in pending {
            let task = checks.spawn(async move {
                match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(())) => (HealthState::Up, "ok".to_owned()),
                    Ok(Err(why)) => (HealthState::Down, why),
                    Err(_) => (HealthState::Down, format!("timed out after {timeout:?}")),
                }
            });
            ids.push((task.id(), i));
        }
        while let Some(done) = checks.join_next_with_id().await {
            let (id, (state, reason)) = match done {
                Ok((id, answer)) => (id, answer),
                Err(e) => (e.id(), (HealthState::Down, "the check panicked".to_owned())),
            };
            if let Some(&(_, i)) = ids.iter().find(|(t, _)| *t == id) {
                components.push((i, state, reason));
            }
        }
        components.sort_by_key(|c| c.0);
        let mut report = HealthReport {
            live: true,
            ready: true,
            status: HealthState::Up,
            components: Vec::with_capacity(components.len()),
        };
        for (i, state, reason) in components {
            let c = &self.inner.components[i];
            let critical = c.criticality == Criticality::Critical;
            if state == HealthState::Down && c.liveness {
                report.live = false;
            }
            let effect = match (state, critical) {
                (HealthState::Down, true) => {
                    report.ready = false;
                    HealthState::Down
                }
                (HealthState::Up, _) => HealthState::Up,
                _ => HealthState::Degraded,
            };
            report.status = report.status.max(effect);
            report.components.push(ComponentHealth {
                name: c.name.clone(),
                kind: c.kind,
                critical,
                state,
                reason,
            });
        }
        let changed = {
            let mut last = self.inner.last.lock();
            let changed = *last != Some(report.ready);
            *last = Some(report.ready);
            changed
        };
        if changed {
            let reason: Vec<_> = report
                .components
                .iter()
                .filter(|c| c.state != HealthState::Up)
                .map(|c| format!("{}: {}", c.name, c.reason))
                .collect();
            self.inner.listeners.emit(Event {
                pattern: Pattern::Health,
                name: Arc::from("health"),
                at: Duration::ZERO,
                kind: EventKind::ReadinessChanged {
                    ready: report.ready,
                    reason: Arc::from(reason.join("; ")),
                },
            });
        }
        report
    }

    /// Readiness as of the last [`report`](Self::report) (`true` before
    /// any): for a synchronous reader such as a gRPC health watch.
    pub fn last_ready(&self) -> bool {
        self.inner.last.lock().unwrap_or(true)
    }
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistry")
            .field(
                "components",
                &self
                    .inner
                    .components
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
