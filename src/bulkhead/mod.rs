//! A bulkhead: at most `max_concurrent_calls` calls in flight to one
//! dependency, so a slow dependency cannot take every task, connection or
//! thread of the service with it.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::bulkhead::Bulkhead;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let bulkhead = Bulkhead::builder("search")
//!     .max_concurrent_calls(2)
//!     .max_wait(Duration::from_millis(50))
//!     .build()?;
//! let a = bulkhead.try_acquire()?;
//! let _b = bulkhead.acquire().await?;
//! assert!(bulkhead.try_acquire().is_err());      // full
//! drop(a);                                        // a permit returns on drop
//! assert!(bulkhead.try_acquire().is_ok());
//! # Ok(()) }
//! ```
//!
//! **Hot path** (uncontended): one CAS to enter, one CAS to leave,
//! one thread-owned counter store; no lock, no allocation, no clock read.
//! Waiting callers queue FIFO and are handed permits in order; a permit is
//! returned when dropped — on completion, cancellation or panic.

mod future;
mod keyed;
mod layer;
mod registry;

pub use self::future::{ResponseFuture, WaitingResponseFuture};
pub use self::keyed::{
    KeyedBulkhead, KeyedBulkheadError, KeyedBulkheadLayer, KeyedBulkheadPermit,
    KeyedBulkheadService, KeyedCall,
};
pub use self::layer::{
    BulkheadLayer, BulkheadService, WaitingBulkheadLayer, WaitingBulkheadService,
};
pub use self::registry::BulkheadRegistry;

use crate::clock::ClockHandle;
use crate::error::{BulkheadFull, ConfigError};
use crate::semaphore::{Semaphore, Slot, SlotWait};
use crate::stripes::{Handle, Handles, Striped};
use crate::sync::AtomicDuration;
use crate::telemetry::{reconfigured, EventKind, EventMask, Listeners, Pattern};
use crate::waiting::check_max_wait;
use crate::watch::{Occupancy, Watch, Watchable};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The largest `max_concurrent_calls`.
pub const MAX_CONCURRENT_CALLS: usize = 1 << 40;
/// The longest `max_wait`.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(3600);

const PERMITTED: usize = 0;
const REJECTED: usize = 1;
const WAITED: usize = 2;

pub(crate) struct Inner {
    semaphore: Semaphore,
    max: AtomicUsize,
    max_wait: AtomicDuration,
    name: Arc<str>,
    clock: ClockHandle,
    listeners: Listeners,
    /// A listener asked for per-call events (`CallPermitted`,
    /// `CallFinished`): decided once at build, so calls pay one predicted
    /// branch, not a mask test.
    per_call_events: bool,
    counts: Striped<3>,
}

/// A bulkhead: a cheap `Clone` handle to one shared limit on concurrency.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let reports = Bulkhead::builder("reports").max_concurrent_calls(2).build()?;
/// let a = reports.try_acquire()?;
/// let b = reports.try_acquire()?;
/// assert!(reports.try_acquire().is_err());   // BulkheadFull: two calls already run
/// drop(a);                                   // a slot comes back on drop
/// let c = reports.try_acquire()?;
/// # drop((b, c)); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    // The shared state, with per-thread handles for permits.
    inner: Handles<Inner>,
}

/// Calls in flight and the most allowed at once, as [`metrics`](Bulkhead::metrics)
/// counts them (two atomic loads).
impl Watchable<Occupancy> for Bulkhead {
    fn watch(&self) -> Watch<Occupancy> {
        let b = self.clone();
        Watch::new(self.inner.name.clone(), move || b.occupancy().0)
    }
}

/// Builds a [`Bulkhead`]; made by [`Bulkhead::builder`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let search = Bulkhead::builder("search")
///     .max_concurrent_calls(20)
///     .max_wait(Duration::from_millis(100)) // acquire().await and the waiting layer wait this long
///     .build()?;
/// assert!(Bulkhead::builder("search").max_concurrent_calls(0).build().is_err());
/// # let _ = search; Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct BulkheadBuilder {
    name: Arc<str>,
    max_concurrent_calls: usize,
    max_wait: Duration,
    clock: ClockHandle,
    listeners: Listeners,
}

impl BulkheadBuilder {
    crate::telemetry::builder_telemetry_setters!();

    /// Calls allowed in flight at once (default 25, like resilience4j).
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// How long a call may wait for a free slot (default zero: reject at
    /// once with [`BulkheadFull`]). Waiters are served in arrival order.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_max(&self.name, self.max_concurrent_calls)?;
        check_max_wait(&self.name, self.max_wait, MAX_WAIT_LIMIT)
    }

    /// Validates and builds the bulkhead.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.validate()?;
        let inner = Arc::new(Inner {
            semaphore: Semaphore::new(self.max_concurrent_calls),
            max: AtomicUsize::new(self.max_concurrent_calls),
            max_wait: AtomicDuration::new(self.max_wait),
            name: self.name,
            clock: self.clock,
            per_call_events: self.listeners.wants(EventMask::SUCCESSES),
            listeners: self.listeners,
            counts: Striped::new(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Ok(Bulkhead {
            inner: Handles::new(inner),
        })
    }
}

fn check_max(name: &Arc<str>, n: usize) -> Result<(), ConfigError> {
    if n == 0 || n > MAX_CONCURRENT_CALLS {
        return Err(ConfigError::new(
            name,
            "max_concurrent_calls",
            format!("must be in 1..={MAX_CONCURRENT_CALLS}, got {n}"),
        ));
    }
    Ok(())
}

impl Bulkhead {
    /// Starts configuring a bulkhead; `name` labels its metrics and events.
    pub fn builder(name: &str) -> BulkheadBuilder {
        BulkheadBuilder {
            name: Arc::from(name),
            max_concurrent_calls: 25,
            max_wait: Duration::ZERO,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Takes a slot now, or fails with [`BulkheadFull`].
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit, BulkheadFull> {
        self.try_take()?;
        Ok(BulkheadPermit {
            inner: self.inner.get().clone(),
        })
    }

    /// [`try_acquire`](Self::try_acquire) without a permit: the caller
    /// holds a reference to the bulkhead already and must
    /// [`give_back`](Self::give_back) the slot (the fused client preset).
    #[inline]
    pub(crate) fn try_take(&self) -> Result<(), BulkheadFull> {
        if self.inner.semaphore.try_acquire() {
            self.inner.counts.incr(PERMITTED);
            if self.inner.per_call_events {
                self.inner.emit(EventKind::CallPermitted { waited: None });
            }
            Ok(())
        } else {
            Err(self.inner.reject())
        }
    }

    /// Returns a slot taken with [`try_take`](Self::try_take).
    #[inline]
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn give_back(&self) {
        self.inner.release();
    }

    /// Takes a slot, waiting up to `max_wait` (FIFO) for one to free.
    /// Cancel-safe: dropping the future gives up its place (and any slot it
    /// was just handed).
    ///
    /// # Panics
    ///
    /// When it has to wait outside a tokio runtime with the time driver
    /// (the message names seawall and the fix).
    pub fn acquire(&self) -> Acquire {
        Acquire {
            inner: self.inner.clone(),
            wait: SlotWait::default(),
            started: None,
        }
    }

    /// Changes the limit at runtime. Calls in flight are not dropped; when
    /// lowered, new calls wait until enough have finished.
    pub fn set_max_concurrent(&self, n: usize) -> Result<(), ConfigError> {
        check_max(&self.inner.name, n)?;
        let old = self.inner.max.swap(n, Ordering::AcqRel);
        self.inner.semaphore.adjust(n as i64 - old as i64);
        self.inner.emit(EventKind::LimitChanged);
        Ok(())
    }

    /// Changes the settings while the bulkhead runs, keeping the calls in
    /// flight and those waiting: `f` gets a builder holding the settings
    /// in force and returns the new ones. An invalid value is a
    /// [`ConfigError`] and changes nothing; each setting that changed is
    /// an [`EventKind::Reconfigured`] event. A lower limit admits no new
    /// call until enough have finished.
    ///
    /// ```
    /// use seawall::bulkhead::Bulkhead;
    /// use std::time::Duration;
    ///
    /// let bulkhead = Bulkhead::builder("reports").max_concurrent_calls(8).build()?;
    /// bulkhead.reconfigure(|b| b.max_concurrent_calls(4).max_wait(Duration::from_millis(50)))?;
    /// assert_eq!(bulkhead.metrics().max_concurrent_calls, 4);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(BulkheadBuilder) -> BulkheadBuilder,
    ) -> Result<(), ConfigError> {
        let next = f(Bulkhead::builder(&self.inner.name)
            .max_concurrent_calls(self.inner.max.load(Ordering::Acquire))
            .max_wait(self.inner.max_wait.get()));
        self.check(&next)?;
        self.put(&next);
        Ok(())
    }

    /// Whether `b`'s settings may replace this bulkhead's (any valid ones may).
    pub(crate) fn check(&self, b: &BulkheadBuilder) -> Result<(), ConfigError> {
        b.validate()
    }

    /// Puts `b`'s settings (validated) in force.
    pub(crate) fn put(&self, b: &BulkheadBuilder) {
        let old = self
            .inner
            .max
            .swap(b.max_concurrent_calls, Ordering::AcqRel);
        self.inner
            .semaphore
            .adjust(b.max_concurrent_calls as i64 - old as i64);
        let old_wait = self.inner.max_wait.set(b.max_wait);
        let changes = [
            reconfigured("max_concurrent_calls", old, b.max_concurrent_calls),
            reconfigured("max_wait", old_wait, b.max_wait),
        ];
        for e in changes.into_iter().flatten() {
            self.inner.emit(e);
        }
    }

    /// Calls in flight and the limit, with the semaphore's count (below
    /// zero while a shrunk limit drains).
    fn occupancy(&self) -> (Occupancy, i64) {
        let max = self.inner.max.load(Ordering::Acquire);
        let available = self.inner.semaphore.available();
        let in_flight = (max as i64 - available).max(0) as usize;
        (Occupancy { in_flight, max }, available)
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A snapshot of the bulkhead.
    pub fn metrics(&self) -> BulkheadMetrics {
        let (Occupancy { in_flight, max }, available) = self.occupancy();
        BulkheadMetrics {
            max_concurrent_calls: max,
            available: available.max(0) as usize,
            in_flight,
            waiting: self.inner.semaphore.waiting(),
            permitted_calls: self.inner.counts.sum(PERMITTED),
            rejected_calls: self.inner.counts.sum(REJECTED),
            waited_calls: self.inner.counts.sum(WAITED),
        }
    }

    /// A tower layer rejecting calls when full.
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer::new(self.clone())
    }

    /// A tower layer waiting up to `max_wait` for a slot (needs `S: Clone`).
    pub fn waiting_layer(&self) -> WaitingBulkheadLayer {
        WaitingBulkheadLayer::new(self.clone())
    }
}

impl Inner {
    /// Gives a finished call's slot back.
    #[inline]
    fn release(&self) {
        self.semaphore.release();
        if self.per_call_events {
            self.emit(EventKind::CallFinished);
        }
    }

    #[cold]
    fn reject(&self) -> BulkheadFull {
        self.counts.incr(REJECTED);
        if self.listeners.wants(EventMask::REJECTIONS) {
            self.emit(EventKind::CallRejected { retry_after: None });
        }
        BulkheadFull::new(self.name.clone(), self.max.load(Ordering::Relaxed))
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Bulkhead, &self.name, &self.clock, kind);
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A slot in the bulkhead; returned when dropped.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("db").max_concurrent_calls(1).build()?;
/// {
///     let _permit = bulkhead.try_acquire()?;
///     assert_eq!(bulkhead.metrics().in_flight, 1);
/// } // dropped: on completion, cancellation or panic alike
/// assert_eq!(bulkhead.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
#[must_use = "the slot is returned as soon as the permit is dropped"]
pub struct BulkheadPermit {
    // This thread's handle: permits taken on several threads do not share
    // one reference count.
    inner: Arc<Handle<Inner>>,
}

impl Drop for BulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.inner.name)
            .finish()
    }
}

/// A snapshot of a bulkhead.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("db").max_concurrent_calls(4).build()?;
/// let _permit = bulkhead.try_acquire()?;
/// let m = bulkhead.metrics();
/// assert_eq!((m.max_concurrent_calls, m.in_flight, m.available), (4, 1, 3));
/// assert_eq!((m.permitted_calls, m.rejected_calls), (1, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// The limit.
    pub max_concurrent_calls: usize,
    /// Free slots.
    pub available: usize,
    /// Calls holding a slot.
    pub in_flight: usize,
    /// Calls queued for a slot.
    pub waiting: usize,
    /// Calls admitted since build.
    pub permitted_calls: u64,
    /// Calls refused since build.
    pub rejected_calls: u64,
    /// Admitted calls that had to wait.
    pub waited_calls: u64,
}

/// The future of [`Bulkhead::acquire`].
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("db")
///     .max_concurrent_calls(1)
///     .max_wait(Duration::from_secs(1))
///     .build()?;
/// let first = bulkhead.acquire().await?;
/// let waiting = bulkhead.acquire();          // an `Acquire`: waits in line (FIFO)
/// drop(first);
/// let _second = waiting.await?;              // the freed slot
/// # Ok(()) }
/// ```
pub struct Acquire {
    inner: Handles<Inner>,
    wait: SlotWait,
    started: Option<u64>,
}

impl Acquire {
    fn granted(&mut self, waited: bool) -> BulkheadPermit {
        self.inner.counts.incr(PERMITTED);
        if self.inner.per_call_events {
            let waited = self
                .started
                .filter(|_| waited)
                .map(|start| Duration::from_nanos(self.inner.clock.now().saturating_sub(start)));
            self.inner.emit(EventKind::CallPermitted { waited });
        }
        if waited {
            self.inner.counts.incr(WAITED);
            #[cfg(feature = "metrics")]
            if let Some(start) = self.started {
                let secs = self.inner.clock.now().saturating_sub(start) as f64 / 1e9;
                metrics::histogram!("seawall_bulkhead_wait_seconds", "name" => self.inner.name.clone())
                    .record(secs);
            }
        }
        BulkheadPermit {
            inner: self.inner.get().clone(),
        }
    }
}

impl Future for Acquire {
    type Output = Result<BulkheadPermit, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.started.is_none() && !this.inner.max_wait.get().is_zero() {
            // Only a bulkhead that may wait reads the clock.
            this.started = Some(this.inner.clock.now());
        }
        let inner = this.inner.clone();
        match std::task::ready!(this.wait.poll(
            &inner.semaphore,
            inner.max_wait.get(),
            "a waiting bulkhead",
            cx
        )) {
            Slot::Granted(waited) => Poll::Ready(Ok(this.granted(waited))),
            Slot::Refused => Poll::Ready(Err(this.inner.reject())),
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        self.wait.abandon(&self.inner.semaphore);
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("bulkhead", &self.inner.name)
            .finish()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Bulkhead,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        let max = self.max.load(Ordering::Acquire) as i64;
        let available = self.semaphore.available();
        gauge!("seawall_bulkhead_in_flight", "name" => name.clone())
            .set((max - available).max(0) as f64);
        gauge!("seawall_bulkhead_max_concurrent_calls", "name" => name.clone()).set(max as f64);
        gauge!("seawall_bulkhead_waiting", "name" => name.clone())
            .set(self.semaphore.waiting() as f64);
        counter!("seawall_bulkhead_permitted_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(PERMITTED));
        counter!("seawall_bulkhead_rejected_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(REJECTED));
        counter!("seawall_bulkhead_waited_calls_total", "name" => name)
            .absolute(self.counts.sum(WAITED));
    }
}
