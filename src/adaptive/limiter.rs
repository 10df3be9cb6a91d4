//! The adaptive concurrency limiter: a semaphore whose size a
//! [`LimitAlgorithm`] moves once a window from what calls measured.

use super::algorithm::{BoxAlgorithm, LimitAlgorithm, Sample};
use crate::clock::ClockHandle;
use crate::error::{ConfigError, Overloaded};
use crate::outcome::Outcome;
use crate::semaphore::{Semaphore, Slot, SlotWait};
use crate::stripes::{Handle, Handles, Striped};
use crate::sync::AtomicDuration;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::telemetry::{reconfigured, EventKind, EventMask, Listeners, Pattern};
use crate::waiting::check_max_wait;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The highest limit any algorithm may set.
pub const MAX_LIMIT: usize = 1 << 30;
/// The longest `max_wait`.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(3600);

// Per-thread counters: calls ignored and refused since build (those
// finished are `CALLS + IGNORED`), and the open window's samples, summed
// except `PEAK`, a per-stripe maximum written as calls are admitted, as
// `MAX_LIMIT − free` (the closer turns it back into calls in flight).
// Each thread times the round trips of its first `ALWAYS_TIMED` calls in a
// window (`WINDOW_TIMED` counts them; reset as the window closes) and one
// in `sample_every` after that (`TIMED` counts the successes timed): a
// clock read costs more than the rest of the path, and a window's mean
// needs a few dozen round trips, not millions. A dropped call counts in
// `CALLS` and `DROPS` but its round trip is not kept: a refusal comes back
// fast and would read as a quiet dependency (as Netflix's
// `addDroppedSample`).
const IGNORED: usize = 0;
const REJECTED: usize = 1;
const CALLS: usize = 2;
const RTT_NS: usize = 3;
const DROPS: usize = 4;
const PEAK: usize = 5;
const TIMED: usize = 6;
const WINDOW_TIMED: usize = 7;

/// Calls a thread times in every window before it samples.
const ALWAYS_TIMED: u64 = 8;

/// A permit's word: its partition in the top byte, the clock (mod 2⁵⁶,
/// 2.28 years; a round trip is the difference, taken mod 2⁵⁶ too) in the
/// rest, or `UNTIMED` for a call whose round trip is not timed. One word
/// keeps the permit at two (it moves with every response future).
const CLOCK_BITS: u64 = (1 << 56) - 1;
const UNTIMED: u64 = CLOCK_BITS;
/// The partition byte of a call in none.
const NO_PARTITION_BYTE: u64 = 255;
/// The most partitions a limiter takes.
const MAX_PARTITIONS: usize = 254;

/// A share of the limit reserved for one partition.
struct Partition {
    name: Arc<str>,
    share: f64,
    busy: AtomicUsize,
}

/// What only the call closing a window touches.
struct Window {
    algorithm: BoxAlgorithm,
    /// `CALLS`, `RTT_NS`, `DROPS`, `TIMED` totals when the last window closed.
    seen: [u64; 4],
    /// The last window's mean round trip, for a window of drops only.
    last_rtt: Duration,
    /// The limit last reported by an event.
    reported: usize,
    window_ns: u64,
    min_window_calls: u64,
    report_share: f64,
}

pub(crate) struct Inner {
    semaphore: Semaphore,
    limit: AtomicUsize,
    max_wait: AtomicDuration,
    name: Arc<str>,
    clock: ClockHandle,
    listeners: Listeners,
    /// Clock time at which the open window may close.
    next_window: AtomicU64,
    /// The last window's mean round trip (ns; 0 before one): about how
    /// soon a slot frees, the refusals' `retry_after`.
    mean_rtt: AtomicU64,
    counts: Striped<8>,
    /// `sample_every − 1` (a power of two, less one).
    sample_mask: u64,
    window: Mutex<Window>,
    partitions: Box<[Partition]>,
}

/// An adaptive concurrency limiter: at most `limit()` calls in flight, the
/// limit moved by its [`LimitAlgorithm`] from the round trips and drops of
/// the calls it admitted. A cheap `Clone` handle; see the
/// [module docs](super).
///
/// ```
/// use seawall::adaptive::{AdaptiveLimiter, Gradient2};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = AdaptiveLimiter::builder("search")
///     .algorithm(Gradient2::default().initial_limit(30).min_limit(5))
///     .build()?;
/// assert_eq!(limiter.limit(), 30);
/// let permit = limiter.try_acquire().expect("room for one");
/// permit.record(Outcome::Success); // its round trip becomes a sample
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdaptiveLimiter {
    inner: Handles<Inner>,
}

/// Configures an [`AdaptiveLimiter`]; made by [`AdaptiveLimiter::builder`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = AdaptiveLimiter::builder("inventory")
///     .algorithm(Vegas::default())              // or Gradient2::default(), Aimd::default()
///     .max_wait(Duration::from_millis(20))      // past the limit, wait a little
///     .partition("interactive", 0.8)            // batch traffic cannot take these
///     .partition("batch", 0.2)
///     .build()?;
/// # let _ = limiter; Ok(()) }
/// ```
#[must_use]
pub struct AdaptiveLimiterBuilder {
    name: Arc<str>,
    algorithm: BoxAlgorithm,
    /// `algorithm` was set (a reconfiguration replaces it only then).
    algorithm_given: bool,
    max_wait: Duration,
    window: Duration,
    min_window_calls: u64,
    sample_every: u64,
    report_share: f64,
    partitions: Vec<(Arc<str>, f64)>,
    clock: ClockHandle,
    listeners: Listeners,
}

impl fmt::Debug for AdaptiveLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiterBuilder")
            .field("name", &self.name)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl AdaptiveLimiterBuilder {
    crate::telemetry::builder_telemetry_setters!();

    /// The rule that moves the limit (default [`Gradient2`](super::Gradient2)
    /// with Netflix's defaults).
    pub fn algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.algorithm = Box::new(algorithm);
        self.algorithm_given = true;
        self
    }

    /// How long a call may wait for room (default zero: refuse at once
    /// with [`Overloaded`]). Waiters are served in arrival order.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// How often the limit is recomputed (default 100 ms, as Envoy's
    /// `concurrency_update_interval`): each window's calls make one
    /// [`Sample`].
    pub fn window(mut self, d: Duration) -> Self {
        self.window = d;
        self
    }

    /// The fewest calls a window needs before it makes a sample (default
    /// 10, as Netflix's `WindowedLimit`); a quieter window stays open.
    pub fn min_window_calls(mut self, n: u64) -> Self {
        self.min_window_calls = n;
        self
    }

    /// Past its first 8 calls of a window, each thread times the round
    /// trip of one call in `n` (default 16; a power of two): reading the
    /// clock costs more than the rest of the path, and a window's mean
    /// needs a few dozen round trips, not millions. Drops and in-flight
    /// counts are taken from every call. `1` times them all.
    pub fn sample_every(mut self, n: u64) -> Self {
        self.sample_every = n;
        self
    }

    /// Emit [`EventKind::LimitMoved`] when the limit has moved by more
    /// than this share of the last reported one (default 0.1).
    pub fn report_share(mut self, share: f64) -> Self {
        self.report_share = share;
        self
    }

    /// Reserves `share` of the limit for partition `name` (Netflix's
    /// partitioned limiter): while the limit is reached, a call of a
    /// partition using less than its share is still admitted, so one kind
    /// of traffic (batch) cannot starve another (interactive). Under the
    /// limit any partition may use the whole of it. Shares sum to at most 1.
    pub fn partition(mut self, name: &str, share: f64) -> Self {
        self.partitions.push((Arc::from(name), share));
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<AdaptiveLimiter, ConfigError> {
        self.validate()?;
        let initial = self.algorithm.initial_limit();
        let now = self.clock.now();
        let window_ns = crate::clock::nanos(self.window);
        let inner = Arc::new(Inner {
            semaphore: Semaphore::new(initial),
            limit: AtomicUsize::new(initial),
            max_wait: AtomicDuration::new(self.max_wait),
            name: self.name,
            clock: self.clock,
            listeners: self.listeners,
            sample_mask: self.sample_every - 1,
            next_window: AtomicU64::new(now.saturating_add(window_ns)),
            mean_rtt: AtomicU64::new(0),
            counts: Striped::new(),
            window: Mutex::new(Window {
                algorithm: self.algorithm,
                seen: [0; 4],
                last_rtt: Duration::ZERO,
                reported: initial,
                window_ns,
                min_window_calls: self.min_window_calls.max(1),
                report_share: self.report_share,
            }),
            partitions: self
                .partitions
                .into_iter()
                .map(|(name, share)| Partition {
                    name,
                    share,
                    busy: AtomicUsize::new(0),
                })
                .collect(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Ok(AdaptiveLimiter {
            inner: Handles::new(inner),
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: String| Err(ConfigError::new(&self.name, field, why));
        if let Err((field, why)) = self.algorithm.validate() {
            return bad(field, why);
        }
        let initial = self.algorithm.initial_limit();
        if initial == 0 || initial > MAX_LIMIT {
            return bad(
                "initial_limit",
                format!("must be in 1..={MAX_LIMIT}, got {initial}"),
            );
        }
        check_max_wait(&self.name, self.max_wait, MAX_WAIT_LIMIT)?;
        if !self.sample_every.is_power_of_two() {
            return bad(
                "sample_every",
                format!("must be a power of two, got {}", self.sample_every),
            );
        }
        if self.window.is_zero() {
            return bad("window", "must be positive, got 0".into());
        }
        if !(self.report_share.is_finite() && self.report_share >= 0.0) {
            return bad(
                "report_share",
                format!("must be at least 0, got {}", self.report_share),
            );
        }
        if self.partitions.len() > MAX_PARTITIONS {
            return bad(
                "partition",
                format!(
                    "at most {MAX_PARTITIONS} partitions, got {}",
                    self.partitions.len()
                ),
            );
        }
        let mut total = 0.0;
        for (name, share) in &self.partitions {
            if !(*share > 0.0 && *share <= 1.0) {
                return bad(
                    "partition",
                    format!("share of `{name}` must be in (0, 1], got {share}"),
                );
            }
            total += share;
        }
        if total > 1.0 + 1e-9 {
            return bad(
                "partition",
                format!("shares must sum to at most 1, got {total}"),
            );
        }
        Ok(())
    }
}

impl AdaptiveLimiter {
    /// Starts configuring a limiter; `name` labels its metrics and events.
    pub fn builder(name: &str) -> AdaptiveLimiterBuilder {
        AdaptiveLimiterBuilder {
            name: Arc::from(name),
            algorithm: Box::new(super::Gradient2::default()),
            algorithm_given: false,
            max_wait: Duration::ZERO,
            window: Duration::from_millis(100),
            min_window_calls: 10,
            sample_every: 16,
            report_share: 0.1,
            partitions: Vec::new(),
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Changes the settings while the limiter runs, keeping its limit,
    /// the calls in flight and those waiting: `f` gets a builder holding
    /// the settings in force (all but the algorithm, which a builder cannot
    /// copy) and returns the new ones. A new [`algorithm`](AdaptiveLimiterBuilder::algorithm)
    /// takes over from the limit in force, moved at once into its
    /// `min_limit..=max_limit`; its own estimates start afresh. The
    /// partitions and `sample_every` are fixed at build: changing them, or
    /// any invalid value, is a [`ConfigError`] and changes nothing. Each
    /// setting that changed is an [`EventKind::Reconfigured`] event.
    ///
    /// ```
    /// use seawall::adaptive::{AdaptiveLimiter, Aimd};
    ///
    /// let limiter = AdaptiveLimiter::builder("search").build()?;
    /// // The limit in force (20) is kept, moved into the new bounds.
    /// limiter.reconfigure(|b| b.algorithm(Aimd::default().initial_limit(8).min_limit(5).max_limit(10)))?;
    /// assert_eq!(limiter.limit(), 10);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(AdaptiveLimiterBuilder) -> AdaptiveLimiterBuilder,
    ) -> Result<(), ConfigError> {
        let next = f(self.builder_now());
        self.check(&next)?;
        self.put(next);
        Ok(())
    }

    /// A builder holding the settings in force, but the algorithm.
    fn builder_now(&self) -> AdaptiveLimiterBuilder {
        let inner = &self.inner;
        let w = inner.window.lock();
        let mut b = AdaptiveLimiter::builder(&inner.name)
            .max_wait(inner.max_wait.get())
            .window(Duration::from_nanos(w.window_ns))
            .min_window_calls(w.min_window_calls)
            .sample_every(inner.sample_mask + 1)
            .report_share(w.report_share);
        for p in inner.partitions.iter() {
            b = b.partition(&p.name, p.share);
        }
        b
    }

    /// Whether `next` may replace the settings of this running limiter.
    pub(crate) fn check(&self, next: &AdaptiveLimiterBuilder) -> Result<(), ConfigError> {
        next.validate()?;
        let inner = &self.inner;
        let refuse = |field, why: &str| Err(ConfigError::new(&inner.name, field, why.to_string()));
        if next.sample_every != inner.sample_mask + 1 {
            return refuse(
                "sample_every",
                "cannot change while the limiter runs; build a new limiter",
            );
        }
        let same = next.partitions.len() == inner.partitions.len()
            && (next.partitions.iter().zip(inner.partitions.iter()))
                .all(|((name, share), p)| *name == p.name && *share == p.share);
        if !same {
            return refuse(
                "partition",
                "cannot change while the limiter runs; build a new limiter",
            );
        }
        Ok(())
    }

    /// Puts `next` (checked) in force.
    pub(crate) fn put(&self, next: AdaptiveLimiterBuilder) {
        let inner = &self.inner;
        let mut events = Vec::new();
        let mut w = inner.window.lock();
        let window_ns = crate::clock::nanos(next.window);
        let min_calls = next.min_window_calls.max(1);
        events.push(reconfigured(
            "window",
            Duration::from_nanos(w.window_ns),
            next.window,
        ));
        events.push(reconfigured(
            "min_window_calls",
            w.min_window_calls,
            min_calls,
        ));
        events.push(reconfigured(
            "report_share",
            w.report_share,
            next.report_share,
        ));
        (w.window_ns, w.min_window_calls, w.report_share) =
            (window_ns, min_calls, next.report_share);
        if next.algorithm_given {
            events.push(Some(EventKind::Reconfigured {
                setting: "algorithm",
                from: w.algorithm.name().to_string(),
                to: next.algorithm.name().to_string(),
            }));
            let (low, high) = next.algorithm.limit_bounds();
            w.algorithm = next.algorithm;
            // The limit moves only under this lock (the window's closer
            // holds it too), so it cannot change between load and store.
            let old = inner.limit.load(Ordering::Acquire);
            let new = old.clamp(low.max(1), high.clamp(1, MAX_LIMIT));
            if new != old {
                inner.limit.store(new, Ordering::Release);
                inner.semaphore.adjust(new as i64 - old as i64);
                events.push(Some(EventKind::LimitMoved { from: old, to: new }));
                w.reported = new;
            }
        }
        drop(w);
        let old_wait = inner.max_wait.set(next.max_wait);
        events.push(reconfigured("max_wait", old_wait, next.max_wait));
        for e in events.into_iter().flatten() {
            inner.emit(e);
        }
    }

    /// Admits a call now if fewer than `limit()` are in flight, or refuses
    /// it with [`Overloaded`].
    #[inline]
    pub fn try_acquire(&self) -> Result<AdaptivePermit, Overloaded> {
        match self.inner.semaphore.try_acquire_counted() {
            Some(free) => Ok(self.admitted(NO_PARTITION, free)),
            None => Err(self.inner.reject()),
        }
    }

    /// [`try_acquire`](Self::try_acquire) for a call of partition `name`:
    /// admitted past the limit while its partition uses less than its
    /// share. An unknown name has no share.
    pub fn try_acquire_in(&self, partition: &str) -> Result<AdaptivePermit, Overloaded> {
        let index = self.partition_index(partition);
        self.try_acquire_at(index)
    }

    pub(crate) fn partition_index(&self, name: &str) -> usize {
        self.inner
            .partitions
            .iter()
            .position(|p| &*p.name == name)
            .unwrap_or(NO_PARTITION)
    }

    pub(crate) fn try_acquire_at(&self, index: usize) -> Result<AdaptivePermit, Overloaded> {
        self.try_admit(index).ok_or_else(|| self.inner.reject())
    }

    /// A slot under the limit, or past it on the partition's share.
    fn try_admit(&self, index: usize) -> Option<AdaptivePermit> {
        if let Some(free) = self.inner.semaphore.try_acquire_counted() {
            self.inner.enter(index);
            return Some(self.admitted(index, free));
        }
        if self.inner.reserve(index) {
            self.inner.semaphore.force_acquire();
            return Some(self.admitted(index, self.inner.semaphore.available()));
        }
        None
    }

    #[inline]
    fn admitted(&self, partition: usize, free: i64) -> AdaptivePermit {
        let inner = &*self.inner;
        // In flight is `limit − free`; the limit only moves as a window
        // closes, so `MAX_LIMIT − free` ranks the same and the closer adds
        // the limit back (no second load here).
        let level = (MAX_LIMIT as i64 - free).max(0) as u64;
        // The window's peak, and whether to time this call's round trip:
        // this thread's first calls of a window, then one in `sample_every`.
        let timed = match inner.counts.mine() {
            Some(s) => {
                if s[PEAK].load(Ordering::Relaxed) < level {
                    s[PEAK].store(level, Ordering::Relaxed);
                }
                s[WINDOW_TIMED].load(Ordering::Relaxed) < ALWAYS_TIMED
                    || s[CALLS].load(Ordering::Relaxed) & inner.sample_mask == 0
            }
            None => {
                inner
                    .counts
                    .shared(PEAK)
                    .fetch_max(level, Ordering::Relaxed);
                true
            }
        };
        let partition = if partition < MAX_PARTITIONS {
            partition as u64
        } else {
            NO_PARTITION_BYTE
        };
        let started = if timed {
            inner.clock.now() & CLOCK_BITS
        } else {
            UNTIMED
        };
        AdaptivePermit {
            inner: Some(self.inner.get().clone()),
            word: partition << 56 | started,
        }
    }

    /// Admits a call, waiting up to `max_wait` (in arrival order) for
    /// room. Cancel-safe: dropping the future gives up its place.
    ///
    /// # Panics
    ///
    /// When it has to wait outside a tokio runtime with the time driver.
    pub fn acquire(&self) -> Acquire {
        Acquire {
            limiter: self.clone(),
            wait: SlotWait::default(),
            partition: NO_PARTITION,
            tried: false,
        }
    }

    /// [`acquire`](Self::acquire) for a call of `partition` (see
    /// [`try_acquire_in`](Self::try_acquire_in)).
    pub fn acquire_in(&self, partition: &str) -> Acquire {
        Acquire {
            limiter: self.clone(),
            wait: SlotWait::default(),
            partition: self.partition_index(partition),
            tried: false,
        }
    }

    /// The limit now.
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Acquire)
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A snapshot.
    pub fn metrics(&self) -> AdaptiveLimiterMetrics {
        let limit = self.limit();
        let in_flight = (limit as i64 - self.inner.semaphore.available()).max(0) as usize;
        AdaptiveLimiterMetrics {
            limit,
            in_flight,
            waiting: self.inner.semaphore.waiting(),
            permitted_calls: self.inner.counts.sum(CALLS)
                + self.inner.counts.sum(IGNORED)
                + in_flight as u64,
            rejected_calls: self.inner.counts.sum(REJECTED),
        }
    }

    /// Calls in flight in partition `name` (0 for an unknown one).
    pub fn partition_in_flight(&self, name: &str) -> usize {
        self.inner
            .partitions
            .get(self.partition_index(name))
            .map_or(0, |p| p.busy.load(Ordering::Acquire))
    }

    /// A tower layer refusing calls past the limit (or waiting up to
    /// `max_wait`, for a service that is `Clone`: see
    /// [`AdaptiveLimiterLayer`](super::AdaptiveLimiterLayer)).
    pub fn layer(&self) -> super::AdaptiveLimiterLayer {
        super::AdaptiveLimiterLayer::new(self.clone())
    }
}

/// No partition: the global limit only.
pub(crate) const NO_PARTITION: usize = usize::MAX;

impl Inner {
    fn enter(&self, partition: usize) {
        if let Some(p) = self.partitions.get(partition) {
            p.busy.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Takes a place past the limit if `partition` is under its share.
    fn reserve(&self, partition: usize) -> bool {
        let Some(p) = self.partitions.get(partition) else {
            return false;
        };
        let share = ((self.limit.load(Ordering::Acquire) as f64 * p.share).ceil() as usize).max(1);
        p.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b < share).then_some(b + 1)
            })
            .is_ok()
    }

    #[cold]
    fn reject(&self) -> Overloaded {
        self.counts.incr(REJECTED);
        let retry_after = match self.mean_rtt.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        };
        if self.listeners.wants(EventMask::REJECTIONS) {
            self.emit(EventKind::CallRejected { retry_after });
        }
        let refused = Overloaded::new(
            self.name.clone(),
            "the adaptive concurrency limit is reached",
        );
        match retry_after {
            Some(d) => refused.with_retry_after(d),
            None => refused,
        }
    }

    /// Ends a call: its slot back, and its sample into this thread's stripe.
    #[inline]
    fn finish(&self, word: u64, outcome: Outcome) {
        if let Some(p) = self.partitions.get((word >> 56) as usize) {
            p.busy.fetch_sub(1, Ordering::AcqRel);
        }
        self.semaphore.release();
        let sampled = (outcome != Outcome::Ignored) as u64;
        let dropped = (outcome == Outcome::Failure) as u64;
        let started = word & CLOCK_BITS;
        let timed = started != UNTIMED;
        let now = if timed { self.clock.now() } else { 0 };
        // A timed success's round trip; nothing for the rest.
        let (rtt, kept) = if timed && outcome == Outcome::Success {
            (now.wrapping_sub(started) & CLOCK_BITS, 1)
        } else {
            (0, 0)
        };
        match self.counts.mine() {
            Some(s) => {
                // This thread's own stripe: plain loads and stores.
                let bump = |i: usize, n: u64| {
                    s[i].store(
                        s[i].load(Ordering::Relaxed).wrapping_add(n),
                        Ordering::Relaxed,
                    )
                };
                if sampled != 0 {
                    bump(CALLS, 1);
                } else {
                    bump(IGNORED, 1);
                }
                if dropped != 0 {
                    bump(DROPS, 1);
                }
                if timed {
                    bump(WINDOW_TIMED, 1);
                    bump(RTT_NS, rtt);
                    bump(TIMED, kept);
                }
            }
            None => {
                let s = |i| self.counts.shared(i);
                s(IGNORED).fetch_add(1 - sampled, Ordering::Relaxed);
                s(CALLS).fetch_add(sampled, Ordering::Relaxed);
                s(DROPS).fetch_add(dropped, Ordering::Relaxed);
                s(RTT_NS).fetch_add(rtt, Ordering::Relaxed);
                s(TIMED).fetch_add(kept, Ordering::Relaxed);
                s(WINDOW_TIMED).fetch_add(timed as u64, Ordering::Relaxed);
            }
        }
        if timed && now >= self.next_window.load(Ordering::Relaxed) {
            self.close_window(now);
        }
    }

    /// Turns the open window into a sample and moves the limit, if no
    /// other call is doing so already (none ever waits for it).
    #[cold]
    fn close_window(&self, now: u64) {
        let Some(mut window) = self.window.try_lock() else {
            return;
        };
        if now < self.next_window.load(Ordering::Acquire) {
            return; // closed by another call meanwhile
        }
        let totals = [
            self.counts.sum(CALLS),
            self.counts.sum(RTT_NS),
            self.counts.sum(DROPS),
            self.counts.sum(TIMED),
        ];
        let calls = totals[0].wrapping_sub(window.seen[0]);
        if calls < window.min_window_calls {
            // Too quiet to judge: keep the window open a while longer.
            self.next_window
                .store(now.saturating_add(window.window_ns), Ordering::Release);
            return;
        }
        // The peak is reset as it is read; a call finishing in between may
        // carry its in-flight count into the next window, which is harmless.
        let peak = self
            .counts
            .all()
            .map(|s| {
                // Each thread times its first calls of the next window.
                s[WINDOW_TIMED].store(0, Ordering::Relaxed);
                s[PEAK].swap(0, Ordering::Relaxed)
            })
            .max()
            .unwrap_or(0);
        // Stored as `MAX_LIMIT − free`: back to calls in flight.
        let limit_now = self.limit.load(Ordering::Acquire) as u64;
        let peak = (peak + limit_now).saturating_sub(MAX_LIMIT as u64);
        let drops = totals[2].wrapping_sub(window.seen[2]);
        let timed = totals[3].wrapping_sub(window.seen[3]);
        if let Some(mean) = totals[1].wrapping_sub(window.seen[1]).checked_div(timed) {
            window.last_rtt = Duration::from_nanos(mean);
            self.mean_rtt.store(mean, Ordering::Relaxed);
        }
        let sample = Sample {
            rtt: window.last_rtt,
            in_flight: peak as usize,
            did_drop: drops > 0,
            calls,
        };
        window.seen = totals;
        let old = self.limit.load(Ordering::Acquire);
        let new = window.algorithm.update(old, &sample).clamp(1, MAX_LIMIT);
        if new != old {
            self.limit.store(new, Ordering::Release);
            self.semaphore.adjust(new as i64 - old as i64);
        }
        self.next_window
            .store(now.saturating_add(window.window_ns), Ordering::Release);
        let reported = window.reported;
        let moved = (new as f64 - reported as f64).abs() > window.report_share * reported as f64;
        if moved {
            window.reported = new;
        }
        drop(window);
        if moved {
            self.emit(EventKind::LimitMoved {
                from: reported,
                to: new,
            });
        }
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::AdaptiveLimiter, &self.name, &self.clock, kind);
    }
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("name", &self.inner.name)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A call admitted by an [`AdaptiveLimiter`]. [`record`](Self::record) its
/// outcome: a success's round trip is a sample, a failure is a drop (the
/// limit backs off). Dropped unrecorded (cancelled), it frees its slot
/// and says nothing, as Netflix's `onIgnore`.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").build()?;
/// let permit = limiter.try_acquire()?;
/// // ... make the call, then say how it went: its round trip feeds the limit.
/// permit.record(Outcome::Success);
/// assert_eq!(limiter.metrics().in_flight, 0);
/// # Ok(()) }
/// ```
#[must_use = "record the call's outcome, or the limit learns nothing from it"]
pub struct AdaptivePermit {
    // `None` once recorded.
    inner: Option<Arc<Handle<Inner>>>,
    /// Partition and start: see `CLOCK_BITS`.
    word: u64,
}

impl AdaptivePermit {
    /// Ends the call: `Success` and `Failure` are samples (a failure a
    /// drop), `Ignored` is none.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    #[inline]
    fn end(&mut self, outcome: Outcome) {
        if let Some(inner) = self.inner.take() {
            inner.finish(self.word, outcome);
        }
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        self.end(Outcome::Ignored);
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("limiter", &self.inner.as_ref().map(|i| i.name.clone()))
            .field("partition", &(self.word >> 56))
            .finish()
    }
}

/// A snapshot of an [`AdaptiveLimiter`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").build()?;
/// let _permit = limiter.try_acquire()?;
/// let m = limiter.metrics();
/// assert_eq!((m.in_flight, m.permitted_calls), (1, 1));
/// assert_eq!(m.limit, limiter.limit());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveLimiterMetrics {
    /// The limit now.
    pub limit: usize,
    /// Calls holding a slot.
    pub in_flight: usize,
    /// Calls queued for one.
    pub waiting: usize,
    /// Calls admitted since build.
    pub permitted_calls: u64,
    /// Calls refused since build.
    pub rejected_calls: u64,
}

/// The future of [`AdaptiveLimiter::acquire`].
///
/// ```
/// use seawall::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = AdaptiveLimiter::builder("inventory").max_wait(Duration::from_millis(50)).build()?;
/// let permit = limiter.acquire().await?;       // waits up to 50 ms past the limit
/// permit.record(Outcome::Success);
/// # Ok(()) }
/// ```
pub struct Acquire {
    limiter: AdaptiveLimiter,
    wait: SlotWait,
    partition: usize,
    tried: bool,
}

impl Future for Acquire {
    type Output = Result<AdaptivePermit, Overloaded>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.tried {
            // Room now, or a partition's reserved share, before any queue.
            this.tried = true;
            if let Some(permit) = this.limiter.try_admit(this.partition) {
                return Poll::Ready(Ok(permit));
            }
        }
        let inner = this.limiter.inner.clone();
        let slot = std::task::ready!(this.wait.poll(
            &inner.semaphore,
            inner.max_wait.get(),
            "a waiting adaptive limiter",
            cx
        ));
        match slot {
            Slot::Granted(_) => {
                inner.enter(this.partition);
                let free = inner.semaphore.available();
                Poll::Ready(Ok(this.limiter.admitted(this.partition, free)))
            }
            Slot::Refused => Poll::Ready(Err(inner.reject())),
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        self.wait.abandon(&self.limiter.inner.semaphore);
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("limiter", &self.limiter.inner.name)
            .finish()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: Pattern::AdaptiveLimiter,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        let limit = self.limit.load(Ordering::Acquire) as i64;
        gauge!("seawall_adaptive_limit", "name" => name.clone()).set(limit as f64);
        gauge!("seawall_adaptive_in_flight", "name" => name.clone())
            .set((limit - self.semaphore.available()).max(0) as f64);
        counter!("seawall_adaptive_permitted_calls_total", "name" => name.clone()).absolute(
            self.counts.sum(CALLS)
                + self.counts.sum(IGNORED)
                + (self.limit.load(Ordering::Acquire) as i64 - self.semaphore.available()).max(0)
                    as u64,
        );
        counter!("seawall_adaptive_rejected_calls_total", "name" => name)
            .absolute(self.counts.sum(REJECTED));
    }
}
