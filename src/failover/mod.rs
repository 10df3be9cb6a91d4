//! Failover over a set of endpoints, with outlier ejection as Envoy does
//! it: calls go to healthy endpoints, a failed idempotent call moves on to
//! the next one, and an endpoint that fails where its peers do not is
//! taken out of rotation for a while, longer each time.
//!
//! ```
//! use seawall::failover::{Failover, Routing};
//! use seawall::prelude::*;
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! // A primary that is down and a secondary that answers.
//! let endpoint = |up: bool| service_fn(move |x: u32| async move {
//!     if up { Ok::<_, BoxError>(x) } else { Err("connection refused".into()) }
//! });
//! let pair = Failover::builder("inventory")
//!     .routing(Routing::Priority)
//!     .build(vec![endpoint(false), endpoint(true)])?;
//! assert_eq!(pair.clone().oneshot(7).await?, 7); // failed over within the call
//! # Ok(()) }
//! ```
//!
//! **Routing.** [`Routing::Priority`]: the first healthy endpoint in the
//! order given (primary, then secondaries). [`Routing::LeastOutstanding`]:
//! a pool, each call to the less busy of two endpoints drawn at random
//! (power of two choices on outstanding calls, as Envoy's
//! `LEAST_REQUEST`).
//!
//! **Failing over.** A call whose attempt fails (an `Err`, or an answer
//! the classifier calls a failure: a 5xx with
//! [`for_http`](FailoverBuilder::for_http)) goes to the next healthy endpoint it
//! has not tried, if the request is idempotent and can be copied (as the
//! retry's rule); otherwise the failure is the answer.
//!
//! **Ejection** ([`OutlierDetection`], Envoy's defaults): failures in a
//! row eject at once; every `interval` the success rates and failure
//! percentages of the endpoints are compared, and outliers ejected; never
//! more than `max_ejection_percent` at once (one may always be). The
//! interval's counts are judged at the first failure after it ends (a
//! failure-free interval has nothing to eject), so no task runs in the
//! background. Each ejection and each return is an event
//! (`EndpointEjected`, `EndpointReturned`).

mod future;
mod outlier;

pub use self::future::ResponseFuture;
pub use self::outlier::{OutlierDetection, OutlierSettings};

use self::outlier::IntervalCounts;
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::outcome::DefaultClassifier;
use crate::replay::CloneRequests;
use crate::stripes::{Handles, Striped};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::telemetry::{builder_telemetry_setters, EventKind, Listeners, Pattern};
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;

/// How calls are spread over the endpoints.
///
/// ```
/// use seawall::failover::Routing;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let replica = |n: u32| tower::service_fn(move |_: ()| async move { Ok::<_, BoxError>(n) });
/// // Priority: the first endpoint while it is healthy, then the next.
/// let primary_first = Failover::builder("db").routing(Routing::Priority).build(vec![replica(1), replica(2)])?;
/// // LeastOutstanding: the endpoint with the fewest calls in flight.
/// let spread = Failover::builder("db").routing(Routing::LeastOutstanding).build(vec![replica(1), replica(2)])?;
/// # let _ = (primary_first, spread); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Routing {
    /// The first healthy endpoint in order: a primary and its secondaries.
    Priority,
    /// The less busy of two healthy endpoints drawn at random (power of
    /// two choices on outstanding calls).
    LeastOutstanding,
}

/// Why an endpoint was ejected.
///
/// ```
/// use seawall::failover::EjectionReason;
///
/// // The `reason` label of `seawall_failover_ejections_total`.
/// assert_eq!(EjectionReason::ConsecutiveFailures.as_str(), "consecutive_failures");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EjectionReason {
    /// Failures in a row.
    ConsecutiveFailures,
    /// Local failures in a row (connect errors, timeouts), counted apart.
    ConsecutiveLocalOriginFailures,
    /// A success rate far below its peers'.
    SuccessRate,
    /// A failure percentage at or above the threshold.
    FailurePercentage,
}

impl EjectionReason {
    /// The label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EjectionReason::ConsecutiveFailures => "consecutive_failures",
            EjectionReason::ConsecutiveLocalOriginFailures => "consecutive_local_origin_failures",
            EjectionReason::SuccessRate => "success_rate",
            EjectionReason::FailurePercentage => "failure_percentage",
        }
    }
}

// Per-endpoint counter slots (per-thread stripes).
const SUCCESSES: usize = 0;
const FAILURES: usize = 1;

/// One endpoint's health.
struct Endpoint {
    /// Calls in flight (for least-outstanding routing), per thread: each
    /// thread adds its starts and subtracts its ends (wrapping) on a stripe
    /// of its own, so no line bounces between cores; the sum is the count.
    outstanding: Striped<1>,
    consecutive: AtomicU32,
    consecutive_local: AtomicU32,
    /// Ejected until this clock time (ns); 0: in rotation.
    ejected_until: AtomicU64,
    /// Ejections in a row (each sweep that finds it in rotation the whole
    /// interval takes one off).
    times_ejected: AtomicU32,
    /// When it last came back into rotation (clock ns; 0: never out).
    returned_at: AtomicU64,
    /// Successes and failures since the last sweep.
    counts: Striped<2>,
}

impl Endpoint {
    fn new() -> Self {
        Self {
            outstanding: Striped::new(),
            consecutive: AtomicU32::new(0),
            consecutive_local: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            times_ejected: AtomicU32::new(0),
            returned_at: AtomicU64::new(0),
            counts: Striped::new(),
        }
    }
}

// Counter slots of the set.
const CALLS: usize = 0;
const FAILOVERS: usize = 1;

/// An endpoint set's health, shared by the service and its clones.
pub(crate) struct Health {
    pub(crate) name: Arc<str>,
    routing: Routing,
    /// Read on the failure path only; a reconfiguration swaps it.
    outlier: OutlierSettings,
    endpoints: Box<[Endpoint]>,
    /// Endpoints ejected now.
    ejected: AtomicU32,
    /// When the next sweep is due (clock ns).
    next_sweep: AtomicU64,
    /// The earliest time an ejected endpoint returns (clock ns).
    next_return: AtomicU64,
    /// Sweeps and ejections decide under this (failure path only).
    judging: Mutex<()>,
    counts: Striped<2>,
    ejections: [AtomicU64; 4],
    clock: ClockHandle,
    listeners: Listeners,
}

impl Health {
    /// The endpoint for a call's next attempt, not one of `tried` (a bit
    /// per endpoint), or `None` when every endpoint has been tried.
    #[inline]
    pub(crate) fn pick(&self, tried: u64) -> Option<usize> {
        let n = self.endpoints.len();
        // While some endpoint is out, the clock is read to bring it back.
        if self.ejected.load(Ordering::Relaxed) > 0
            && self.clock.now() >= self.next_return.load(Ordering::Relaxed)
        {
            self.return_expired();
        }
        let open = |i: usize| {
            tried & (1 << i) == 0 && self.endpoints[i].ejected_until.load(Ordering::Relaxed) == 0
        };
        let picked = match self.routing {
            Routing::Priority => (0..n).find(|&i| open(i)),
            Routing::LeastOutstanding => {
                let a = rand::random_range(0..n);
                let b = rand::random_range(0..n);
                let load = |i: usize| self.endpoints[i].outstanding.sum(0) as i64;
                match (open(a), open(b)) {
                    (true, true) => Some(if load(b) < load(a) { b } else { a }),
                    (true, false) => Some(a),
                    (false, true) => Some(b),
                    (false, false) => (0..n).filter(|&i| open(i)).min_by_key(|&i| load(i)),
                }
            }
        };
        // Every endpoint tried or ejected: an ejected one not yet tried
        // rather than none (ejection keeps traffic off, it never refuses).
        picked.or_else(|| (0..n).find(|&i| tried & (1 << i) == 0))
    }

    /// A call starts on endpoint `i`.
    #[inline]
    pub(crate) fn begin(&self, i: usize, first: bool) {
        if first {
            self.counts.incr(CALLS);
        } else {
            self.counts.incr(FAILOVERS);
        }
        if self.routing == Routing::LeastOutstanding {
            self.endpoints[i].outstanding.add(0, 1);
        }
    }

    /// A call on endpoint `i` ended (or was dropped: `failure` is `None`).
    #[inline]
    pub(crate) fn end(&self, i: usize, failure: Option<Failure>) {
        let e = &self.endpoints[i];
        if self.routing == Routing::LeastOutstanding {
            e.outstanding.add(0, u64::MAX); // −1, wrapping
        }
        match failure {
            None => {}
            Some(Failure::None) => {
                e.counts.incr(SUCCESSES);
                // Written only when it was not 0: a success costs no shared write.
                if e.consecutive.load(Ordering::Relaxed) != 0 {
                    e.consecutive.store(0, Ordering::Relaxed);
                }
                if e.consecutive_local.load(Ordering::Relaxed) != 0 {
                    e.consecutive_local.store(0, Ordering::Relaxed);
                }
            }
            Some(Failure::Neutral) => {}
            Some(f) => self.failed(i, f),
        }
    }

    #[cold]
    fn failed(&self, i: usize, failure: Failure) {
        let e = &self.endpoints[i];
        let local = failure == Failure::Local;
        let outlier = self.outlier.load();
        if local && outlier.split_local_origin {
            let n = e.consecutive_local.fetch_add(1, Ordering::Relaxed) + 1;
            if outlier.consecutive_local_origin_failures > 0
                && n >= outlier.consecutive_local_origin_failures
            {
                self.eject(i, EjectionReason::ConsecutiveLocalOriginFailures);
            }
        } else {
            e.counts.incr(FAILURES);
            let n = e.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
            if outlier.consecutive_failures > 0 && n >= outlier.consecutive_failures {
                self.eject(i, EjectionReason::ConsecutiveFailures);
            }
        }
        let now = self.clock.now();
        if now >= self.next_sweep.load(Ordering::Relaxed) {
            self.sweep(now);
        }
    }

    /// Ejects endpoint `i` if it is in rotation and the cap allows.
    fn eject(&self, i: usize, reason: EjectionReason) {
        let until = {
            let _judging = self.judging.lock();
            let e = &self.endpoints[i];
            let n = self.endpoints.len();
            if e.ejected_until.load(Ordering::Relaxed) != 0
                || self.ejected.load(Ordering::Relaxed) as usize
                    >= self.outlier.load().max_ejected(n)
            {
                return;
            }
            let times = e.times_ejected.load(Ordering::Relaxed) + 1;
            e.times_ejected.store(times, Ordering::Relaxed);
            let now = self.clock.now();
            let jitter = rand::random::<u64>();
            let time = self.outlier.load().ejection_time(times, jitter);
            let until = now.saturating_add(crate::clock::nanos(time)).max(1);
            e.ejected_until.store(until, Ordering::Relaxed);
            if self.ejected.load(Ordering::Relaxed) == 0
                || until < self.next_return.load(Ordering::Relaxed)
            {
                self.next_return.store(until, Ordering::Relaxed);
            }
            e.consecutive.store(0, Ordering::Relaxed);
            e.consecutive_local.store(0, Ordering::Relaxed);
            self.ejected.fetch_add(1, Ordering::Relaxed);
            self.ejections[reason as usize].fetch_add(1, Ordering::Relaxed);
            time
        };
        self.emit(EventKind::EndpointEjected {
            endpoint: i,
            reason: reason.as_str(),
            duration: until,
        });
    }

    /// Returns the endpoints whose ejection is over.
    #[cold]
    fn return_expired(&self) {
        let now = self.clock.now();
        let mut returned = Vec::new();
        {
            let _judging = self.judging.lock();
            let mut next = u64::MAX;
            for (i, e) in self.endpoints.iter().enumerate() {
                let until = e.ejected_until.load(Ordering::Relaxed);
                if until != 0 && now >= until {
                    e.ejected_until.store(0, Ordering::Relaxed);
                    e.returned_at.store(now, Ordering::Relaxed);
                    self.ejected.fetch_sub(1, Ordering::Relaxed);
                    returned.push(i);
                } else if until != 0 {
                    next = next.min(until);
                }
            }
            self.next_return.store(next, Ordering::Relaxed);
        }
        for i in returned {
            self.emit(EventKind::EndpointReturned { endpoint: i });
        }
    }

    /// Judges the interval's counts and starts the next interval.
    #[cold]
    fn sweep(&self, now: u64) {
        let due = self.next_sweep.load(Ordering::Relaxed);
        let outlier = self.outlier.load();
        let interval = crate::clock::nanos(outlier.interval);
        let next = now.saturating_add(interval);
        // The interval being judged began an interval before it was due.
        let began = due.saturating_sub(interval);
        if self
            .next_sweep
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // another caller sweeps
        }
        let (counts, ejected): (Vec<IntervalCounts>, Vec<bool>) = {
            let _judging = self.judging.lock();
            self.endpoints
                .iter()
                .map(|e| {
                    let c = IntervalCounts {
                        successes: take(&e.counts, SUCCESSES),
                        failures: take(&e.counts, FAILURES),
                    };
                    let out = e.ejected_until.load(Ordering::Relaxed) != 0;
                    // In rotation through the interval: one ejection forgiven.
                    if !out && e.returned_at.load(Ordering::Relaxed) <= began {
                        let t = e.times_ejected.load(Ordering::Relaxed);
                        e.times_ejected
                            .store(t.saturating_sub(1), Ordering::Relaxed);
                    }
                    (c, out)
                })
                .unzip()
        };
        for i in self::outlier::sweep(&outlier, &counts, &ejected) {
            let c = counts[i];
            let reason = if 100 * c.failures
                >= u64::from(outlier.failure_percentage_threshold) * (c.successes + c.failures)
                && c.successes + c.failures >= outlier.failure_percentage_request_volume
            {
                EjectionReason::FailurePercentage
            } else {
                EjectionReason::SuccessRate
            };
            self.eject(i, reason);
        }
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Failover, &self.name, &self.clock, kind);
    }
}

/// Reads and zeroes one per-thread counter across its stripes (a count
/// racing the reset may be lost: the interval's counts are an estimate).
fn take(counts: &Striped<2>, field: usize) -> u64 {
    counts
        .all()
        .map(|s| s[field].swap(0, std::sync::atomic::Ordering::Relaxed))
        .sum()
}

/// What an attempt's outcome was, for the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It answered well.
    None,
    /// It answered badly (a 5xx).
    Answer,
    /// It failed locally on the way (an error: connect, timeout).
    Local,
    /// Refused by something local that says nothing of the endpoint (a
    /// full bulkhead in front of it): moved on, counted for nothing.
    Neutral,
}

/// What a set's calls share: the endpoints, their health, how to copy a
/// request and judge an answer.
pub(crate) struct Set<S, R, C> {
    pub(crate) endpoints: Box<[S]>,
    pub(crate) health: Arc<Health>,
    pub(crate) replay: R,
    pub(crate) classify: C,
}

/// A set of endpoints as one service: routing, failover within a call,
/// outlier ejection. A cheap `Clone`; built with [`Failover::builder`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let down = tower::service_fn(|_: ()| async { Err::<&str, BoxError>("refused".into()) });
/// let up = tower::service_fn(|_: ()| async { Ok::<&str, BoxError>("from the replica") });
/// let mut db = Failover::builder("db").build(vec![
///     tower::util::BoxCloneService::new(down),
///     tower::util::BoxCloneService::new(up),
/// ])?;
/// assert_eq!(db.ready().await?.call(()).await?, "from the replica"); // moved on
/// assert_eq!(db.metrics().failovers, 1);
/// # Ok(()) }
/// ```
pub struct Failover<S, R = CloneRequests, C = DefaultClassifier> {
    // Per-thread handles: a call's reference count stays on its own core.
    pub(crate) set: Handles<Set<S, R, C>>,
}

impl<S, R, C> Clone for Failover<S, R, C> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
        }
    }
}

impl<S, R, C> fmt::Debug for Failover<S, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field("name", &self.set.health.name)
            .field("endpoints", &self.set.endpoints.len())
            .field("routing", &self.set.health.routing)
            .finish()
    }
}

/// Counts an endpoint set has kept since it was built.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let replica = tower::service_fn(|_: ()| async { Ok::<_, BoxError>(()) });
/// let mut db = Failover::builder("db").build(vec![replica.clone(), replica])?;
/// db.ready().await?.call(()).await?;
/// let m = db.metrics();
/// assert_eq!((m.calls, m.failovers), (1, 0));
/// assert_eq!(m.ejected, [false, false]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailoverMetrics {
    /// Calls made.
    pub calls: u64,
    /// Attempts moved to another endpoint within a call.
    pub failovers: u64,
    /// Ejections, by why: consecutive failures, consecutive local
    /// failures, success rate, failure percentage.
    pub ejections: [u64; 4],
    /// Which endpoints are ejected now, in the order given.
    pub ejected: Vec<bool>,
}

impl Failover<()> {
    /// Starts configuring an endpoint set; `name` labels its metrics and
    /// events.
    pub fn builder(name: &str) -> FailoverBuilder {
        FailoverBuilder {
            name: Arc::from(name),
            routing: Routing::Priority,
            outlier: OutlierDetection::default(),
            shared: None,
            replay: CloneRequests,
            classify: DefaultClassifier,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }
}

impl<S, R, C> Failover<S, R, C> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.set.health.name
    }

    /// Its outlier-detection settings, to change while it runs.
    pub fn outlier_settings(&self) -> OutlierSettings {
        self.set.health.outlier.clone()
    }

    /// Counts so far, and which endpoints are out.
    pub fn metrics(&self) -> FailoverMetrics {
        let h = &*self.set.health;
        FailoverMetrics {
            calls: h.counts.sum(CALLS),
            failovers: h.counts.sum(FAILOVERS),
            ejections: std::array::from_fn(|i| h.ejections[i].load(Ordering::Relaxed)),
            ejected: h
                .endpoints
                .iter()
                .map(|e| e.ejected_until.load(Ordering::Relaxed) != 0)
                .collect(),
        }
    }
}

/// Configures a [`Failover`]: `R` copies requests to move them to
/// another endpoint, `C` judges answers.
///
/// ```
/// use seawall::failover::{OutlierDetection, Routing};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let replica = tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::new(String::new()))
/// });
/// let inventory = Failover::builder("inventory")
///     .routing(Routing::LeastOutstanding)
///     .outlier_detection(OutlierDetection::new().consecutive_failures(3))
///     .for_http()                                 // idempotent requests move; 5xx fail
///     .build(vec![replica.clone(), replica.clone(), replica])?;
/// # let _ = inventory; Ok(()) }
/// ```
pub struct FailoverBuilder<R = CloneRequests, C = DefaultClassifier> {
    name: Arc<str>,
    routing: Routing,
    outlier: OutlierDetection,
    /// Settings shared with others (a registry's), instead of `outlier`.
    shared: Option<OutlierSettings>,
    replay: R,
    classify: C,
    clock: ClockHandle,
    listeners: Listeners,
}

impl<R, C> fmt::Debug for FailoverBuilder<R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverBuilder")
            .field("name", &self.name)
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

/// The most endpoints a set may have (a call's tried endpoints are bits of
/// a `u64`).
pub const MAX_ENDPOINTS: usize = 64;

impl<R, C> FailoverBuilder<R, C> {
    /// How requests are copied to move to another endpoint, and which may
    /// be ([`ReplayRequest::is_idempotent`](crate::replay::ReplayRequest::is_idempotent));
    /// default: `Clone`, every request.
    pub fn replay<R2>(self, replay: R2) -> FailoverBuilder<R2, C> {
        FailoverBuilder {
            name: self.name,
            routing: self.routing,
            outlier: self.outlier,
            shared: self.shared,
            replay,
            classify: self.classify,
            clock: self.clock,
            listeners: self.listeners,
        }
    }

    /// What a failed attempt is (default: an `Err`).
    pub fn classify<C2>(self, classify: C2) -> FailoverBuilder<R, C2> {
        FailoverBuilder {
            name: self.name,
            routing: self.routing,
            outlier: self.outlier,
            shared: self.shared,
            replay: self.replay,
            classify,
            clock: self.clock,
            listeners: self.listeners,
        }
    }

    /// How calls are spread (default [`Routing::Priority`]).
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// When endpoints are ejected (default: Envoy's).
    pub fn outlier_detection(mut self, outlier: OutlierDetection) -> Self {
        self.outlier = outlier;
        self.shared = None;
        self
    }

    /// Ejects by `settings`, shared: a change to them (their
    /// [`reconfigure`](OutlierSettings::reconfigure), a registry's reload)
    /// reaches the running set (a configuration registry hands out a
    /// file's: `registry.outlier_detection(name)`).
    pub fn outlier_settings(mut self, settings: OutlierSettings) -> Self {
        self.shared = Some(settings);
        self
    }

    builder_telemetry_setters!();

    /// Builds the set over `endpoints` (in priority order for
    /// [`Routing::Priority`]).
    pub fn build<S>(self, endpoints: Vec<S>) -> Result<Failover<S, R, C>, ConfigError> {
        if endpoints.is_empty() || endpoints.len() > MAX_ENDPOINTS {
            return Err(ConfigError::new(
                &self.name,
                "endpoints",
                format!("must be 1 to {MAX_ENDPOINTS}, got {}", endpoints.len()),
            ));
        }
        let outlier = match self.shared {
            Some(shared) => shared,
            None => OutlierSettings::new(&self.name, self.outlier)?,
        };
        let interval = outlier.load().interval;
        let now = self.clock.now();
        let health = Arc::new(Health {
            routing: self.routing,
            endpoints: endpoints.iter().map(|_| Endpoint::new()).collect(),
            ejected: AtomicU32::new(0),
            next_sweep: AtomicU64::new(now.saturating_add(crate::clock::nanos(interval))),
            next_return: AtomicU64::new(u64::MAX),
            judging: Mutex::new(()),
            counts: Striped::new(),
            ejections: Default::default(),
            outlier,
            clock: self.clock,
            listeners: self.listeners,
            name: self.name,
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&health) as _);
        Ok(Failover {
            set: Handles::new(Arc::new(Set {
                endpoints: endpoints.into(),
                health,
                replay: self.replay,
                classify: self.classify,
            })),
        })
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Health {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: Pattern::Failover,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        counter!("seawall_failover_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(CALLS));
        counter!("seawall_failover_failovers_total", "name" => name.clone())
            .absolute(self.counts.sum(FAILOVERS));
        for reason in [
            EjectionReason::ConsecutiveFailures,
            EjectionReason::ConsecutiveLocalOriginFailures,
            EjectionReason::SuccessRate,
            EjectionReason::FailurePercentage,
        ] {
            counter!("seawall_failover_ejections_total", "name" => name.clone(), "reason" => reason.as_str())
                .absolute(self.ejections[reason as usize].load(Ordering::Relaxed));
        }
        gauge!("seawall_failover_ejected_endpoints", "name" => name)
            .set(f64::from(self.ejected.load(Ordering::Relaxed)));
    }
}
