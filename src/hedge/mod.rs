//! Hedged requests: when a call has not answered within a delay, send a
//! copy and take whichever good answer comes first, dropping the rest.
//! Retries mend errors; hedges mend the slow tail.
//!
//! ```
//! use seawall::hedge::{Hedge, HedgeDelay};
//! use seawall::prelude::*;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // A backend whose first answer takes 1 s, and the others 10 ms.
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let backend = service_fn(move |_req: ()| {
//!     let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     async move {
//!         let ms = if n == 0 { 1000 } else { 10 };
//!         tokio::time::sleep(Duration::from_millis(ms)).await;
//!         Ok::<_, BoxError>(ms)
//!     }
//! });
//! let hedge = Hedge::builder("search")
//!     .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
//!     .build()?;
//! let svc = hedge.layer().layer(backend);
//! let start = tokio::time::Instant::now();
//! assert_eq!(svc.oneshot(()).await?, 10);                      // the hedge's answer
//! assert_eq!(start.elapsed(), Duration::from_millis(60));      // 50 ms + 10 ms
//! assert_eq!(hedge.metrics().hedges, 1);
//! # Ok(()) }
//! ```
//!
//! **When.** [`HedgeDelay::Fixed`] waits a set time; [`HedgeDelay::Parallel`]
//! sends every copy at once; [`HedgeDelay::Percentile`] learns the delay as
//! tower's `Hedge` does — the given percentile of the latencies of the last
//! full window (p95 over 10 s by default), no hedging until a window had
//! enough calls — kept in a lock-free histogram and computed once per
//! window, so a call reads one atomic. An attempt that fails (by the
//! classifier) does not wait: the next copy goes at once, as Polly's
//! hedging does.
//!
//! **What.** Only requests the replay calls idempotent are hedged (with
//! [`for_http`](HedgeLayer::for_http): GET, HEAD, OPTIONS, TRACE, PUT,
//! DELETE, or a request marked `RetrySafe`, as the retry's rule); a request
//! it cannot copy is sent once. Each copy carries its
//! [`Attempt`](crate::replay::Attempt) (number 2, 3, ...) as a retry's does.
//!
//! **How much.** Hedges spend from a budget, as retries do (by default 10%
//! of the calls plus 10 a second; share a [`RetryBudget`] with the retry to
//! cap both together); a hedge the budget refuses is not sent, nor one
//! whose request's deadline leaves less time than the first call had
//! before it.
//!
//! **Cancelled.** The first good answer is returned; the other attempts'
//! futures are dropped then, so whatever they held (a bulkhead slot, a
//! breaker's half-open probe) is released. In the standard stack the hedge
//! sits between the retry and the breaker: every copy passes the breaker
//! and the bulkhead like any attempt.

mod future;
mod latency;
mod layer;
mod reconfigure;

pub use self::future::ResponseFuture;
pub use self::layer::{HedgeLayer, HedgeService};
pub use crate::budget::RetryBudget;

use self::latency::Latencies;
use crate::clock::ClockHandle;
use crate::error::ConfigError;
use crate::stripes::Striped;
use crate::sync::{AtomicDuration, AtomicU32, Ordering};
use crate::telemetry::{builder_telemetry_setters, EventKind, EventMask, Listeners, Pattern};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// When a copy is sent.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let fixed = Hedge::builder("a").delay(HedgeDelay::Fixed(Duration::from_millis(50))).build()?;
/// let learned = Hedge::builder("b").delay(HedgeDelay::P95).build()?; // the p95 of recent calls
/// let at_once = Hedge::builder("c").delay(HedgeDelay::Parallel).build()?; // all copies together
/// # let _ = (fixed, learned, at_once); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeDelay {
    /// After the call has waited this long (each further copy as long
    /// again after the last).
    Fixed(Duration),
    /// All copies at once.
    Parallel,
    /// After the `percentile` (0–100, exclusive of 0) of the latencies seen
    /// in the last full `window`, once that window had `min_samples` calls;
    /// until then no copy is sent.
    Percentile {
        /// Which percentile (95.0: p95).
        percentile: f64,
        /// Calls a window needs before its percentile is used.
        min_samples: u64,
        /// How long a window is.
        window: Duration,
    },
}

impl HedgeDelay {
    /// p95 of the last 10 s, from 100 calls on: a copy for the slowest 5%.
    pub const P95: HedgeDelay = HedgeDelay::Percentile {
        percentile: 95.0,
        min_samples: 100,
        window: Duration::from_secs(10),
    };
}

/// The default budget: hedges may add 10% of the calls, plus 10 a second
/// (ratio, floor per second, most banked).
pub const DEFAULT_BUDGET: (f64, u32, u32) = (0.1, 10, 100);

// Counter slots.
const CALLS: usize = 0;
const HEDGES: usize = 1;
const WINS: usize = 2;
const SKIPPED_BUDGET: usize = 3;
const SKIPPED_DEADLINE: usize = 4;
const NOT_HEDGEABLE: usize = 5;

/// How the delay is decided, built.
pub(crate) enum Delay {
    /// Changed by a reconfiguration.
    Fixed(AtomicDuration),
    Parallel,
    Learned(Latencies),
}

/// A hedge's configuration and counts, behind an `Arc`.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    /// Changed by a reconfiguration.
    pub(crate) max_hedges: AtomicU32,
    pub(crate) delay: Delay,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) clock: ClockHandle,
    listeners: Listeners,
    counts: Striped<6>,
}

impl Shared {
    /// Copies a call may send beside its first.
    #[inline]
    pub(crate) fn max_hedges(&self) -> u32 {
        self.max_hedges.load(Ordering::Relaxed)
    }

    /// Counts a call (and deposits it in the budget).
    #[inline]
    pub(crate) fn begin(&self) {
        self.counts.incr(CALLS);
        if let Some(b) = &self.budget {
            b.deposit();
        }
    }

    /// Whether calls' latencies are to be recorded (a learned delay).
    #[inline]
    pub(crate) fn learns(&self) -> bool {
        matches!(self.delay, Delay::Learned(_))
    }

    /// Records one attempt's latency, for a learned delay.
    #[inline]
    pub(crate) fn record(&self, started_ns: u64) {
        if let Delay::Learned(l) = &self.delay {
            let now = self.clock.now();
            l.record(now, now.saturating_sub(started_ns));
        }
    }

    /// How long to wait before the next copy: `None` for no copy yet.
    #[inline]
    pub(crate) fn delay(&self) -> Option<Duration> {
        match &self.delay {
            Delay::Fixed(d) => Some(d.get()),
            Delay::Parallel => Some(Duration::ZERO),
            Delay::Learned(l) => l.delay_us(self.clock.now()).map(Duration::from_micros),
        }
    }

    /// A hedge may be sent after `attempts` attempts: the budget agrees.
    pub(crate) fn try_hedge(&self, attempts: u32) -> bool {
        if let Some(b) = &self.budget {
            if !b.try_withdraw() {
                self.counts.incr(SKIPPED_BUDGET);
                return false;
            }
        }
        self.counts.incr(HEDGES);
        self.emit(|| EventKind::HedgeSent {
            attempt: attempts + 1,
        });
        true
    }

    /// A hedge not sent: the deadline would not cover it.
    pub(crate) fn skipped_for_deadline(&self) {
        self.counts.incr(SKIPPED_DEADLINE);
    }

    /// A call not hedged: not idempotent, or no copy.
    #[cold]
    pub(crate) fn not_hedgeable(&self) {
        self.counts.incr(NOT_HEDGEABLE);
    }

    /// The answer came from a hedge.
    pub(crate) fn won(&self) {
        self.counts.incr(WINS);
    }

    /// Emits `kind` to the listeners that want it (a reconfiguration).
    pub(crate) fn emit_event(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Hedge, &self.name, &self.clock, kind);
    }

    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        if self.listeners.wants(EventMask::RETRIES) || cfg!(feature = "tracing") {
            self.listeners
                .emit_now(Pattern::Hedge, &self.name, &self.clock, kind());
        }
    }
}

/// Hedged requests: a primitive shared by every service its layer makes.
/// A cheap `Clone` handle.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let hedge = Hedge::builder("search").delay(HedgeDelay::Fixed(Duration::from_millis(50))).build()?;
/// let slow_first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
/// let mut svc = hedge.layer().layer(service_fn(move |q: u32| {
///     let first = slow_first.swap(false, std::sync::atomic::Ordering::SeqCst);
///     async move {
///         if first {
///             tokio::time::sleep(Duration::from_secs(1)).await; // the slow tail
///         }
///         Ok::<_, BoxError>(q)
///     }
/// }));
/// let start = tokio::time::Instant::now();
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(start.elapsed(), Duration::from_millis(50)); // the copy sent at 50 ms won
/// assert_eq!(hedge.metrics().hedge_wins, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hedge {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.shared.name)
            .finish()
    }
}

/// Counts a hedge has kept since it was built.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let hedge = Hedge::builder("search").build()?;
/// let m = hedge.metrics();
/// assert_eq!((m.calls, m.hedges, m.hedge_wins), (0, 0, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HedgeMetrics {
    /// Calls made through it.
    pub calls: u64,
    /// Copies sent.
    pub hedges: u64,
    /// Calls whose answer came from a copy.
    pub hedge_wins: u64,
    /// Copies the budget refused.
    pub skipped_budget: u64,
    /// Copies not sent: the request's deadline would not cover them.
    pub skipped_deadline: u64,
    /// Calls never hedged: not idempotent, or the request had no copy.
    pub not_hedgeable: u64,
}

impl Hedge {
    /// Starts configuring a hedge; `name` labels its metrics and events.
    pub fn builder(name: &str) -> HedgeBuilder {
        HedgeBuilder {
            name: Arc::from(name),
            max_hedges: 1,
            delay: HedgeDelay::P95,
            budget: None,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The delay before a copy now: fixed, zero, or learned (`None` until a
    /// window had enough calls).
    pub fn current_delay(&self) -> Option<Duration> {
        self.shared.delay()
    }

    /// Its budget, if it has one.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// Counts so far.
    pub fn metrics(&self) -> HedgeMetrics {
        let c = &self.shared.counts;
        HedgeMetrics {
            calls: c.sum(CALLS),
            hedges: c.sum(HEDGES),
            hedge_wins: c.sum(WINS),
            skipped_budget: c.sum(SKIPPED_BUDGET),
            skipped_deadline: c.sum(SKIPPED_DEADLINE),
            not_hedgeable: c.sum(NOT_HEDGEABLE),
        }
    }

    /// The tower layer: requests copied with `Clone`, every one taken as
    /// idempotent, an `Err` a failed attempt. With HTTP,
    /// [`for_http`](HedgeLayer::for_http).
    pub fn layer(&self) -> HedgeLayer {
        HedgeLayer::new(self.clone())
    }
}

/// Configures a [`Hedge`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let hedge = Hedge::builder("search")
///     .delay(HedgeDelay::P95)
///     .max_hedges(1)                              // copies beside the first
///     .budget(RetryBudget::new(0.1, 10, 100)?)    // at most 10% more load
///     .build()?;
/// # let _ = hedge; Ok(()) }
/// ```
pub struct HedgeBuilder {
    name: Arc<str>,
    max_hedges: u32,
    delay: HedgeDelay,
    budget: Option<Option<RetryBudget>>,
    clock: ClockHandle,
    listeners: Listeners,
}

impl fmt::Debug for HedgeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeBuilder")
            .field("name", &self.name)
            .field("max_hedges", &self.max_hedges)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl HedgeBuilder {
    /// Copies sent at most per call, beside the first (default 1).
    pub fn max_hedges(mut self, n: u32) -> Self {
        self.max_hedges = n;
        self
    }

    /// When copies are sent (default [`HedgeDelay::P95`]).
    pub fn delay(mut self, delay: HedgeDelay) -> Self {
        self.delay = delay;
        self
    }

    /// Spend hedges from `budget` (share the retry's to cap both
    /// together) instead of a budget of its own.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(Some(budget));
        self
    }

    /// No budget: every slow call may be hedged `max_hedges` times.
    pub fn no_budget(mut self) -> Self {
        self.budget = Some(None);
        self
    }

    builder_telemetry_setters!();

    /// Validates and builds.
    pub fn build(self) -> Result<Hedge, ConfigError> {
        self.validate()?;
        let delay = match self.delay {
            HedgeDelay::Fixed(d) => Delay::Fixed(AtomicDuration::new(d)),
            HedgeDelay::Parallel => Delay::Parallel,
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                window,
            } => Delay::Learned(Latencies::new(
                percentile,
                min_samples.max(1),
                crate::clock::nanos(window),
            )),
        };
        let budget = match self.budget {
            Some(chosen) => chosen,
            None => {
                let (ratio, floor, max) = DEFAULT_BUDGET;
                Some(RetryBudget::with_clock(
                    ratio,
                    floor,
                    max,
                    self.clock.clone(),
                )?)
            }
        };
        let shared = Arc::new(Shared {
            name: self.name,
            max_hedges: AtomicU32::new(self.max_hedges),
            delay,
            budget,
            clock: self.clock,
            listeners: self.listeners,
            counts: Striped::new(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&shared) as _);
        Ok(Hedge { shared })
    }

    /// Checks the settings as `build` does, building nothing.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: String| Err(ConfigError::new(&self.name, field, why));
        if self.max_hedges == 0 {
            return bad("max_hedges", "must be at least 1, got 0".into());
        }
        match self.delay {
            HedgeDelay::Fixed(d) if d.is_zero() => {
                return bad(
                    "delay",
                    "a fixed delay of 0 sends every copy at once: say HedgeDelay::Parallel".into(),
                )
            }
            HedgeDelay::Fixed(d) if d > crate::clock::MAX_WAIT => {
                return bad(
                    "delay",
                    format!("must be at most {:?}, got {d:?}", crate::clock::MAX_WAIT),
                )
            }
            HedgeDelay::Fixed(_) | HedgeDelay::Parallel => {}
            HedgeDelay::Percentile {
                percentile, window, ..
            } => {
                if !(percentile > 0.0 && percentile < 100.0) {
                    return bad(
                        "percentile",
                        format!("must be in (0, 100), got {percentile}"),
                    );
                }
                if window.is_zero() {
                    return bad("window", "must be longer than 0".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Shared {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: Pattern::Hedge,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        let c = &self.counts;
        counter!("seawall_hedge_calls_total", "name" => name.clone()).absolute(c.sum(CALLS));
        counter!("seawall_hedge_hedges_total", "name" => name.clone()).absolute(c.sum(HEDGES));
        counter!("seawall_hedge_wins_total", "name" => name.clone()).absolute(c.sum(WINS));
        for (slot, reason) in [(SKIPPED_BUDGET, "budget"), (SKIPPED_DEADLINE, "deadline")] {
            counter!("seawall_hedge_skipped_total", "name" => name.clone(), "reason" => reason)
                .absolute(c.sum(slot));
        }
        let delay = self.delay().map_or(-1.0, |d| d.as_secs_f64());
        gauge!("seawall_hedge_delay_seconds", "name" => name).set(delay);
    }
}
