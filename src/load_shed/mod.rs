//! Load shedding by priority: under pressure, refuse the least important
//! calls first, so the critical ones still get through.
//!
//! ```
//! use seawall::load_shed::{LoadShedder, Priority};
//! use seawall::prelude::*;
//!
//! # fn main() -> Result<(), ConfigError> {
//! let shedder = LoadShedder::builder("api").max_in_flight(4).build()?;
//! let held: Vec<_> = (0..2).map(|_| shedder.try_acquire(Priority::SHEDDABLE).unwrap()).collect();
//! // Half the room is all the lowest priority may use ...
//! let shed = shedder.try_acquire(Priority::SHEDDABLE).unwrap_err();
//! assert_eq!(shed.priority(), Some(0));
//! // ... the rest is kept for more important calls.
//! let _critical = shedder.try_acquire(Priority::CRITICAL).unwrap();
//! # drop(held); Ok(()) }
//! ```
//!
//! **Priorities** are numbers, `0` (shed first) to `255` (shed last):
//! [`Priority::SHEDDABLE`], [`Priority::DEFAULT`], [`Priority::CRITICAL`]
//! name three. The layer reads one from each request with a closure.
//!
//! **Pressure is measured two ways.**
//! - *In flight.* Priority `p` is admitted while fewer than
//!   `⌈max_in_flight · (min_share + (1 − min_share) · p / 255)⌉` calls are
//!   in flight: with the default `min_share` of ½, sheddable calls may use
//!   half the room, default ones about three quarters, critical ones all of
//!   it. One CAS decides, against one word.
//! - *Queue time* (with `max_wait`: when every slot is taken, calls wait
//!   in arrival order; a call whose priority has used its share while
//!   slots kept for higher ones are free is shed at once). CoDel's test (a target of 5 ms, an interval of 100 ms): an
//!   interval in which no call got through within the target means a
//!   standing queue, and raises the shed level by a tier (priorities
//!   `0–63`, `64–127`, `128–191`, `192–255`); each tier below the level is
//!   shed at once, without queueing — all but the top one, which is only
//!   ever refused when its wait runs out. An interval in which some call got
//!   through within the target (or no call queued) lowers it a tier: the
//!   level settles where the tiers still admitted fit what the service
//!   can do.
//!
//! The layer also sheds at once, whatever the priority, when the inner
//! service is not ready (tower's `LoadShed`). A shedder without
//! `max_in_flight` does only that, at tower's cost. Every refusal is an
//! [`Overloaded`] carrying the priority shed; the counts per priority are
//! in [`LoadShedder::shed_calls`].

mod codel;
mod layer;
mod reconfigure;

pub use self::layer::{
    LoadShedLayer, LoadShedService, PriorityBy, PriorityOf, ResponseFuture, WaitingLoadShedLayer,
    WaitingLoadShedService, WaitingResponseFuture,
};

use self::codel::{Codel, TIERS};
use crate::clock::ClockHandle;
use crate::error::{ConfigError, Overloaded};
use crate::semaphore::{Semaphore, Slot, SlotWait};
use crate::stripes::{Handles, Striped};
use crate::sync::{AtomicDuration, AtomicI64, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::telemetry::{EventKind, EventMask, Listeners, Pattern};
use crate::waiting::check_max_wait;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How important a call is: `0` is shed first, `255` last.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(2).min_share(0.5).build()?;
/// let _a = shedder.try_acquire(Priority::DEFAULT)?;
/// // Half the room is kept from the lowest priorities.
/// assert!(shedder.try_acquire(Priority::SHEDDABLE).is_err());
/// let _b = shedder.try_acquire(Priority::CRITICAL)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

impl Priority {
    /// Work that may be dropped first (prefetches, batch jobs).
    pub const SHEDDABLE: Priority = Priority(0);
    /// Ordinary calls.
    pub const DEFAULT: Priority = Priority(128);
    /// Calls that must get through while anything does.
    pub const CRITICAL: Priority = Priority(255);

    fn tier(self) -> u8 {
        self.0 / (256 / TIERS as u16) as u8
    }
}

impl From<u8> for Priority {
    fn from(p: u8) -> Self {
        Priority(p)
    }
}

/// The largest `max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1 << 40;

pub(crate) struct Inner {
    semaphore: Semaphore,
    max_in_flight: AtomicUsize,
    /// A `max_in_flight` was set: calls are counted and given room.
    limited: bool,
    /// Permits kept free for priorities above each one, by priority.
    reserve: Box<[AtomicI64; 256]>,
    /// The lowest priority's share; its lock also orders reconfigurations.
    min_share: Mutex<f64>,
    max_wait: AtomicDuration,
    codel: Option<Codel>,
    name: Arc<str>,
    clock: ClockHandle,
    listeners: Listeners,
    admitted: Striped<1>,
    shed: Box<[AtomicU64; 256]>,
}

/// A load shedder: a cheap `Clone` handle; see the [module docs](self).
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(1).build()?;
/// let running = shedder.try_acquire(Priority::DEFAULT)?;
/// assert!(shedder.try_acquire(Priority::DEFAULT).is_err()); // Overloaded
/// assert_eq!(shedder.shed_calls(Priority::DEFAULT), 1);
/// drop(running);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LoadShedder {
    inner: Handles<Inner>,
}

/// Configures a [`LoadShedder`]; made by [`LoadShedder::builder`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let shedder = LoadShedder::builder("api")
///     .max_in_flight(256)                        // room for everyone
///     .min_share(0.25)                           // the lowest priority gets a quarter of it
///     .max_wait(Duration::from_millis(50))       // past the room, wait a little
///     .codel(Duration::from_millis(5), Duration::from_millis(100)) // shed when a queue stands
///     .build()?;
/// # let _ = shedder; Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct LoadShedderBuilder {
    name: Arc<str>,
    max_in_flight: Option<usize>,
    min_share: f64,
    max_wait: Duration,
    codel: (Duration, Duration),
    clock: ClockHandle,
    listeners: Listeners,
}

impl LoadShedderBuilder {
    crate::telemetry::builder_telemetry_setters!();

    /// Calls in flight at which even critical ones are shed; lower
    /// priorities get less of it (see `min_share`). Unset (the default),
    /// the shedder sheds only when the inner service is not ready, as
    /// tower's `LoadShed`, and its layer adds nothing to a call it lets
    /// through (it counts only the calls it sheds).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// The share of `max_in_flight` the lowest priority may use (default
    /// ½; in (0, 1]); higher priorities get more, in proportion.
    pub fn min_share(mut self, share: f64) -> Self {
        self.min_share = share;
        self
    }

    /// How long a call past its room may wait, in arrival order (default
    /// zero: shed at once). Turns on the CoDel queue-time test.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// CoDel's target queue time and interval (default 5 ms and 100 ms).
    pub fn codel(mut self, target: Duration, interval: Duration) -> Self {
        self.codel = (target, interval);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<LoadShedder, ConfigError> {
        self.validate()?;
        let limited = self.max_in_flight.is_some();
        let n = self.max_in_flight.unwrap_or(MAX_IN_FLIGHT);
        let (target, interval) = self.codel;
        let codel = (!self.max_wait.is_zero()).then(|| {
            Codel::new(
                crate::clock::nanos(target),
                crate::clock::nanos(interval),
                self.clock.now(),
            )
        });
        let inner = Arc::new(Inner {
            semaphore: Semaphore::new(n),
            max_in_flight: AtomicUsize::new(n),
            limited,
            reserve: Box::new(std::array::from_fn(|p| {
                AtomicI64::new(reserve(n, self.min_share, p))
            })),
            min_share: Mutex::new(self.min_share),
            max_wait: AtomicDuration::new(self.max_wait),
            codel,
            name: self.name,
            clock: self.clock,
            listeners: self.listeners,
            admitted: Striped::new(),
            shed: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Ok(LoadShedder {
            inner: Handles::new(inner),
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: String| Err(ConfigError::new(&self.name, field, why));
        let limited = self.max_in_flight.is_some();
        let n = self.max_in_flight.unwrap_or(MAX_IN_FLIGHT);
        if n == 0 || n > MAX_IN_FLIGHT {
            return bad(
                "max_in_flight",
                format!("must be in 1..={MAX_IN_FLIGHT}, got {n}"),
            );
        }
        if !(self.min_share > 0.0 && self.min_share <= 1.0) {
            return bad(
                "min_share",
                format!("must be in (0, 1], got {}", self.min_share),
            );
        }
        check_max_wait(&self.name, self.max_wait, crate::clock::MAX_WAIT)?;
        if !limited && !self.max_wait.is_zero() {
            return bad(
                "max_wait",
                "needs a max_in_flight: only a call past its room waits".into(),
            );
        }
        let (target, interval) = self.codel;
        if target.is_zero() || interval < target {
            return bad(
                "codel",
                format!("needs 0 < target <= interval, got {target:?} and {interval:?}"),
            );
        }
        Ok(())
    }
}

/// Permits kept free for priorities above `p`: `p` may use
/// `⌈n · (min_share + (1 − min_share) · p / 255)⌉` of `n`.
fn reserve(n: usize, min_share: f64, p: usize) -> i64 {
    let share = min_share + (1.0 - min_share) * p as f64 / 255.0;
    let room = ((n as f64 * share).ceil() as usize).clamp(1, n);
    (n - room) as i64
}

impl LoadShedder {
    /// Starts configuring a shedder; `name` labels its metrics and events.
    pub fn builder(name: &str) -> LoadShedderBuilder {
        LoadShedderBuilder {
            name: Arc::from(name),
            max_in_flight: None,
            min_share: 0.5,
            max_wait: Duration::ZERO,
            codel: (Duration::from_millis(5), Duration::from_millis(100)),
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Admits a call of `priority` now, or sheds it.
    #[inline]
    pub fn try_acquire(&self, priority: impl Into<Priority>) -> Result<LoadShedPermit, Overloaded> {
        let p = priority.into();
        match self.inner.admit_now(p) {
            Ok(()) => Ok(self.permit()),
            Err(why) => Err(self.inner.shed(p, why)),
        }
    }

    /// Admits a call of `priority`, waiting up to `max_wait` when it has
    /// no room now (unless a standing queue sheds its tier at once).
    /// Cancel-safe: dropping the future gives up its place.
    ///
    /// # Panics
    ///
    /// When it has to wait outside a tokio runtime with the time driver.
    pub fn acquire(&self, priority: impl Into<Priority>) -> Acquire {
        Acquire {
            shedder: self.clone(),
            priority: priority.into(),
            wait: SlotWait::default(),
            started: None,
        }
    }

    #[inline]
    fn permit(&self) -> LoadShedPermit {
        self.inner.admitted.incr(0);
        LoadShedPermit {
            inner: self.inner.get().clone(),
        }
    }

    /// Calls of `priority` shed since build.
    pub fn shed_calls(&self, priority: impl Into<Priority>) -> u64 {
        self.inner.shed[priority.into().0 as usize].load(Ordering::Relaxed)
    }

    /// Priorities below this are shed at once because a queue stands
    /// (CoDel): 0 when none stands, then 64, 128, and at most 192 —
    /// critical calls are never shed at once, only when their wait runs
    /// out.
    pub fn shed_below(&self) -> u16 {
        self.inner
            .codel
            .as_ref()
            .map_or(0, |c| c.level() as u16 * (256 / TIERS as u16))
    }

    /// The shedder's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A snapshot.
    pub fn metrics(&self) -> LoadShedderMetrics {
        let inner = &self.inner;
        LoadShedderMetrics {
            in_flight: (inner.max_in_flight.load(Ordering::Relaxed) as i64
                - inner.semaphore.available())
            .max(0) as usize,
            waiting: inner.semaphore.waiting(),
            admitted_calls: inner.admitted.sum(0),
            shed_calls: inner.shed.iter().map(|c| c.load(Ordering::Relaxed)).sum(),
            shed_below: self.shed_below(),
        }
    }

    /// A tower layer shedding at once (see [`LoadShedLayer`]).
    pub fn layer(&self) -> LoadShedLayer {
        LoadShedLayer::new(self.clone())
    }
}

const NO_ROOM: &str = "load shed: no room for its priority";
const QUEUE_STANDS: &str = "load shed: a queue stands and its priority is shed first";
const WAITED: &str = "load shed: no room within the wait";

impl Inner {
    /// Room now for `p`, or why not.
    #[inline]
    fn admit_now(&self, p: Priority) -> Result<(), &'static str> {
        if let Some(codel) = &self.codel {
            let now = self.clock.now();
            codel.tick(now);
            if p.tier() < codel.level() {
                return Err(QUEUE_STANDS);
            }
            if self
                .semaphore
                .try_acquire_leaving(self.reserve[p.0 as usize].load(Ordering::Relaxed))
            {
                codel.observe(now, 0);
                return Ok(());
            }
            return Err(NO_ROOM);
        }
        if self
            .semaphore
            .try_acquire_leaving(self.reserve[p.0 as usize].load(Ordering::Relaxed))
        {
            Ok(())
        } else {
            Err(NO_ROOM)
        }
    }

    #[cold]
    fn shed(&self, p: Priority, why: &'static str) -> Overloaded {
        self.shed[p.0 as usize].fetch_add(1, Ordering::Relaxed);
        if self.listeners.wants(EventMask::REJECTIONS) {
            self.emit(EventKind::CallShed { priority: p.0 });
        }
        Overloaded::new(self.name.clone(), why).with_priority(p.0)
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::LoadShedder, &self.name, &self.clock, kind);
    }
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedder")
            .field("name", &self.inner.name)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A call admitted by a [`LoadShedder`]; its room returns when dropped.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(4).build()?;
/// let permit = shedder.try_acquire(Priority::DEFAULT)?;
/// assert_eq!(shedder.metrics().in_flight, 1);
/// drop(permit);                                  // the call finished
/// assert_eq!(shedder.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
#[must_use = "the room is given back as soon as the permit is dropped"]
pub struct LoadShedPermit {
    inner: Arc<crate::stripes::Handle<Inner>>,
}

impl Drop for LoadShedPermit {
    #[inline]
    fn drop(&mut self) {
        self.inner.semaphore.release();
    }
}

impl fmt::Debug for LoadShedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedPermit")
            .field("shedder", &self.inner.name)
            .finish()
    }
}

impl<T> crate::waiting::Settle<T> for LoadShedPermit {
    fn settle(self, _: &Result<T, tower::BoxError>) {}
}

/// A snapshot of a [`LoadShedder`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(1).build()?;
/// let _p = shedder.try_acquire(Priority::DEFAULT)?;
/// let _ = shedder.try_acquire(Priority::DEFAULT);
/// let m = shedder.metrics();
/// assert_eq!((m.admitted_calls, m.shed_calls), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadShedderMetrics {
    /// Calls admitted and not yet finished.
    pub in_flight: usize,
    /// Calls waiting for room.
    pub waiting: usize,
    /// Calls admitted since build. The layer of a shedder without
    /// `max_in_flight` counts only what it sheds: the calls it lets
    /// through pay nothing, and are not counted here.
    pub admitted_calls: u64,
    /// Calls shed since build, all priorities.
    pub shed_calls: u64,
    /// Priorities below this are shed at once (CoDel).
    pub shed_below: u16,
}

/// The future of [`LoadShedder::acquire`].
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api")
///     .max_in_flight(1)
///     .max_wait(Duration::from_millis(100))
///     .build()?;
/// let first = shedder.acquire(Priority::DEFAULT).await?;
/// let second = shedder.acquire(Priority::CRITICAL);  // waits, the most important first
/// drop(first);
/// let _p = second.await?;
/// # Ok(()) }
/// ```
pub struct Acquire {
    shedder: LoadShedder,
    priority: Priority,
    wait: SlotWait,
    started: Option<u64>,
}

impl Future for Acquire {
    type Output = Result<LoadShedPermit, Overloaded>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let inner = this.shedder.inner.clone();
        let Some(started) = this.started else {
            match inner.admit_now(this.priority) {
                Ok(()) => return Poll::Ready(Ok(this.shedder.permit())),
                Err(QUEUE_STANDS) => {
                    return Poll::Ready(Err(inner.shed(this.priority, QUEUE_STANDS)))
                }
                // Room left, but kept for higher priorities: this priority
                // has used its share, and waiting would take theirs.
                Err(_) if inner.max_wait.get().is_zero() || inner.semaphore.available() > 0 => {
                    return Poll::Ready(Err(inner.shed(this.priority, NO_ROOM)))
                }
                // Every slot is taken: wait in arrival order.
                Err(_) => {}
            }
            this.started = Some(inner.clock.now());
            return self.poll(cx);
        };
        let codel = inner
            .codel
            .as_ref()
            .expect("a shedder that waits has CoDel");
        let slot = std::task::ready!(this.wait.poll(
            &inner.semaphore,
            inner.max_wait.get(),
            "a waiting load shedder",
            cx
        ));
        let now = inner.clock.now();
        codel.observe(now, now.saturating_sub(started));
        match slot {
            Slot::Granted(_) => Poll::Ready(Ok(this.shedder.permit())),
            Slot::Refused => Poll::Ready(Err(inner.shed(this.priority, WAITED))),
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        self.wait.abandon(&self.shedder.inner.semaphore);
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("shedder", &self.shedder.inner.name)
            .field("priority", &self.priority)
            .finish()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: Pattern::LoadShedder,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        if self.limited {
            gauge!("seawall_load_shedder_in_flight", "name" => name.clone()).set(
                (self.max_in_flight.load(Ordering::Relaxed) as i64 - self.semaphore.available())
                    .max(0) as f64,
            );
            counter!("seawall_load_shedder_admitted_calls_total", "name" => name.clone())
                .absolute(self.admitted.sum(0));
        }
        let level = self.codel.as_ref().map_or(0, |c| c.level()) as f64;
        gauge!("seawall_load_shedder_shed_below", "name" => name.clone())
            .set(level * (256 / TIERS as u16) as f64);
        // One series per priority ever shed (at most 256).
        let mut any = false;
        for (p, c) in self.shed.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                any = true;
                counter!("seawall_load_shedder_shed_calls_total", "name" => name.clone(), "priority" => p.to_string())
                    .absolute(n);
            }
        }
        if !any {
            counter!("seawall_load_shedder_shed_calls_total", "name" => name, "priority" => Priority::DEFAULT.0.to_string())
                .absolute(0);
        }
    }
}
