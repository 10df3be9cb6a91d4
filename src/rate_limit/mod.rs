//! Rate limiting: a GCRA token bucket or a sliding-window counter, direct or
//! keyed (one limit per client, API key or peer), rejecting at once or
//! waiting up to `max_wait`; as primitives and as tower layers.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::rate_limit::RateLimiter;
//!
//! # fn main() -> Result<(), seawall::ConfigError> {
//! let clock = ManualClock::new();
//! let limiter = RateLimiter::builder("api")
//!     .rate(10, Duration::from_secs(1))   // a token every 100 ms
//!     .burst(3)                            // up to 3 at once
//!     .clock(clock.clone())
//!     .build()?;
//! for _ in 0..3 {
//!     limiter.try_acquire().expect("within the burst");
//! }
//! let limited = limiter.try_acquire().unwrap_err();
//! assert_eq!(limited.retry_after(), Some(Duration::from_millis(100)));
//! clock.advance(Duration::from_millis(100));
//! assert!(limiter.try_acquire().is_ok());
//! # Ok(()) }
//! ```
//!
//! **Hot path** (direct limiter): one clock read, one load of the packed
//! parameters, one CAS on the state word, one thread-owned counter store.
//! No lock, no allocation. A keyed limiter adds one hash of the key and a
//! shard read lock (the map is sharded 64 ways); a new key takes the shard's
//! write lock once.

mod config;
#[cfg(feature = "redis")]
pub(crate) use self::config::GcraParts;
mod future;
mod gcra;
mod keyed;
mod layer;
mod sliding_window;
mod table;

pub use self::config::{
    RateLimiterBuilder, LONG_EMISSION_INTERVAL, MAX_BURST, MAX_BURST_AT_LONG_INTERVALS,
    MAX_EMISSION_INTERVAL, MAX_WAIT_LIMIT,
};
pub use self::future::{ResponseFuture, SlotWait, WaitingResponseFuture};
pub use self::keyed::{
    KeyedLimitError, KeyedRateLimitLayer, KeyedRateLimitService, KeyedRateLimiter,
};
pub use self::layer::{
    RateLimitLayer, RateLimitService, WaitingRateLimitLayer, WaitingRateLimitService,
};

pub(crate) use self::config::LimitParams;
use self::config::{gcra_params, sliding_params};
use self::gcra::Gcra;
use self::sliding_window::SlidingWindowCounter;
use crate::clock::ClockHandle;
use crate::error::{ConfigError, InsufficientCapacity, RateLimited};
use crate::stripes::Striped;
use crate::sync::{AtomicDuration, AtomicU64, CachePadded};
use crate::telemetry::{reconfigured, EventKind, EventMask, Listeners, Pattern};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a request does not conform now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// It would conform after this many nanoseconds.
    Wait(u64),
    /// It can never conform: more than this capacity.
    Never(u32),
}

/// The algorithm and its parameters, shared by every cell of a limiter.
pub(crate) enum Limit {
    Gcra(Gcra),
    SlidingWindow(SlidingWindowCounter),
}

impl Limit {
    /// Takes `n` at `now`; `Ok` holds the cell's new state.
    #[inline]
    fn acquire(&self, cell: &AtomicU64, now: u64, n: u32) -> Result<u64, Denied> {
        match self {
            Limit::Gcra(g) => g.acquire(cell, now, n),
            Limit::SlidingWindow(s) => sliding_acquire(s, cell, now, n),
        }
    }

    /// What a cell at `state` would still admit at once at `now`, and the
    /// most it ever admits at once.
    pub(crate) fn snapshot(&self, state: u64, now: u64) -> RateLimitSnapshot {
        let RateLimitPolicy {
            burst_capacity,
            window,
        } = self.policy();
        match self {
            Limit::Gcra(g) => RateLimitSnapshot {
                remaining_burst_capacity: g.remaining(state, now),
                burst_capacity,
                // The bucket is full again at its TAT.
                full_after: Duration::from_nanos(state.saturating_sub(now)),
                window,
            },
            Limit::SlidingWindow(s) => RateLimitSnapshot {
                remaining_burst_capacity: s.remaining(state, now),
                burst_capacity,
                full_after: Duration::from_nanos(s.full_after(state, now)),
                window,
            },
        }
    }

    /// The most admitted at once, and the window it comes back over.
    pub(crate) fn policy(&self) -> RateLimitPolicy {
        match self {
            Limit::Gcra(g) => {
                let (t, burst) = g.params();
                RateLimitPolicy {
                    burst_capacity: burst,
                    window: Duration::from_nanos(t.saturating_mul(u64::from(burst))),
                }
            }
            Limit::SlidingWindow(s) => {
                let (limit, window) = s.params();
                RateLimitPolicy {
                    burst_capacity: limit,
                    window: Duration::from_nanos(window),
                }
            }
        }
    }

    fn is_idle(&self, cell: &AtomicU64, now: u64) -> bool {
        match self {
            Limit::Gcra(g) => g.is_idle(cell, now),
            Limit::SlidingWindow(s) => s.is_idle(cell, now),
        }
    }
}

/// Out of line, so the token bucket's path stays small; `#[cold]` makes
/// the token bucket's branch the fall-through (a sliding-window limiter
/// pays one predicted branch and a call).
#[cold]
#[inline(never)]
fn sliding_acquire(
    s: &SlidingWindowCounter,
    cell: &AtomicU64,
    now: u64,
    n: u32,
) -> Result<u64, Denied> {
    s.acquire(cell, now, n)
}

// Striped per-call counters.
const PERMITTED: usize = 0;
const REJECTED: usize = 1;
const WAITED: usize = 2;

/// Visits every cell of a limiter with the given function.
type ForEachCell<'a> = dyn FnMut(&mut dyn FnMut(&AtomicU64)) + 'a;

struct Hot {
    limit: Limit,
    /// A direct limiter's state (unused by keyed limiters).
    cell: AtomicU64,
}

/// What direct and keyed limiters share: name, limit, clock, telemetry.
pub(crate) struct Shared {
    /// The parameters and, for a direct limiter, its one cell: on one cache
    /// line, so a decision touches a single line.
    hot: CachePadded<Hot>,
    pub(crate) name: Arc<str>,
    pub(crate) max_wait: AtomicDuration,
    pub(crate) clock: ClockHandle,
    listeners: Listeners,
    counts: Striped<3>,
    pub(crate) evicted: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        name: Arc<str>,
        limit: Limit,
        max_wait: Duration,
        clock: ClockHandle,
        listeners: Listeners,
    ) -> Self {
        Self {
            hot: CachePadded(Hot {
                limit,
                cell: AtomicU64::new(0),
            }),
            name,
            max_wait: AtomicDuration::new(max_wait),
            clock,
            listeners,
            counts: Striped::new(),
            evicted: Default::default(),
        }
    }

    pub(crate) fn limit(&self) -> &Limit {
        &self.hot.limit
    }

    /// One decision, counted, with one clock read.
    #[inline(always)]
    pub(crate) fn try_acquire(&self, cell: &AtomicU64, n: u32) -> Result<(), Denied> {
        self.try_acquire_at(cell, self.clock.now(), n).map(drop)
    }

    /// A decision that also says what is left: the snapshot after it.
    pub(crate) fn try_acquire_snapshot(
        &self,
        cell: &AtomicU64,
        now: u64,
        n: u32,
    ) -> Result<RateLimitSnapshot, Denied> {
        let state = self.try_acquire_at(cell, now, n)?;
        Ok(self.hot.limit.snapshot(state, now))
    }

    /// One decision at `now` (read by the caller: a keyed limiter reads the
    /// clock before taking its shard's lock, so the lock is held for less).
    #[inline(always)]
    pub(crate) fn try_acquire_at(&self, cell: &AtomicU64, now: u64, n: u32) -> Result<u64, Denied> {
        match self.decide(cell, now, n) {
            Ok(state) => {
                self.counts.incr(PERMITTED);
                if self.listeners.wants(EventMask::SUCCESSES) {
                    self.permitted_event(None);
                }
                Ok(state)
            }
            Err(d) => Err(self.denied(d)),
        }
    }

    /// One decision at `now`, uncounted. A refusal stands only if a second
    /// decision, on a clock read taken after the state it judges was
    /// loaded, refuses too: a thread preempted between its clock read and its decision (or
    /// whose read came just before another thread's) would otherwise judge
    /// a stale `now` against a state others have moved up to the present,
    /// and refuse a call far under the limit. The second read is on the
    /// refusing path only, so admission costs nothing more.
    #[inline(always)]
    pub(crate) fn decide(&self, cell: &AtomicU64, now: u64, n: u32) -> Result<u64, Denied> {
        match self.hot.limit.acquire(cell, now, n) {
            Ok(state) => Ok(state),
            Err(first) => self.confirm(cell, n, first),
        }
    }

    /// The second decision of [`decide`](Self::decide): the state loaded
    /// first and the clock read after it, so the refusal, if it stands, is
    /// judged at a time no earlier than any that moved the state.
    #[cold]
    #[inline(never)]
    fn confirm(&self, cell: &AtomicU64, n: u32, first: Denied) -> Result<u64, Denied> {
        if matches!(first, Denied::Never(_)) {
            return Err(first); // more than the burst: no time changes that
        }
        match &self.hot.limit {
            Limit::Gcra(g) => {
                let (increment, tau) = g.costs(n)?;
                self.confirmed(cell, |state, now| Gcra::step(state, now, increment, tau))
            }
            Limit::SlidingWindow(s) => {
                let (limit, window) = s.costs(n)?;
                self.confirmed(cell, |state, now| {
                    SlidingWindowCounter::step(state, now, limit, window, u64::from(n))
                })
            }
        }
    }

    /// Runs `step` (a decision on a state at a time) with the clock read
    /// *after* each load of the state: every time that moved the state was
    /// read before that load, so on a clock that agrees across threads
    /// `now` is at least each of them, and a refusal is true at `now`.
    fn confirmed(
        &self,
        cell: &AtomicU64,
        step: impl Fn(u64, u64) -> Result<u64, Denied>,
    ) -> Result<u64, Denied> {
        loop {
            let state = cell.load(crate::sync::Ordering::Acquire);
            let next = step(state, self.clock.now())?;
            if cell
                .compare_exchange(
                    state,
                    next,
                    crate::sync::Ordering::AcqRel,
                    crate::sync::Ordering::Acquire,
                )
                .is_ok()
            {
                return Ok(next);
            }
        }
    }

    /// Counts a refusal. Out of line, so the admitting path stays small.
    #[cold]
    #[inline(never)]
    fn denied(&self, d: Denied) -> Denied {
        match d {
            Denied::Wait(w) => self.rejected(Some(w)),
            // More than the burst: refused too, with no time that would help.
            Denied::Never(_) => self.rejected(None),
        }
        d
    }

    pub(crate) fn permitted(&self, waited: Option<u64>) {
        self.counts.incr(PERMITTED);
        if let Some(_w) = waited {
            self.counts.incr(WAITED);
            #[cfg(feature = "metrics")]
            metrics::histogram!("seawall_rate_limiter_wait_seconds", "name" => self.name.clone())
                .record(_w as f64 / 1e9);
        }
        if self.listeners.wants(EventMask::SUCCESSES) {
            self.permitted_event(waited);
        }
    }

    #[cold]
    fn permitted_event(&self, waited: Option<u64>) {
        self.emit(EventKind::CallPermitted {
            waited: waited.map(Duration::from_nanos),
        });
    }

    #[cold]
    fn rejected(&self, wait: Option<u64>) {
        self.counts.incr(REJECTED);
        if self.listeners.wants(EventMask::REJECTIONS) {
            self.emit(EventKind::CallRejected {
                retry_after: wait.map(Duration::from_nanos),
            });
        }
    }

    /// Counts a new key refused because a keyed limiter's map is full.
    #[cold]
    pub(crate) fn key_limit_reached(&self) {
        self.rejected(None);
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::RateLimiter, &self.name, &self.clock, kind);
    }

    pub(crate) fn limited(&self, d: Denied) -> LimitError {
        match d {
            Denied::Wait(w) => {
                LimitError::Limited(RateLimited::new(self.name.clone(), Duration::from_nanos(w)))
            }
            Denied::Never(capacity) => LimitError::Capacity(InsufficientCapacity {
                requested: 0,
                capacity,
            }),
        }
    }

    /// Changes the rate (and burst) of a token bucket, or the limit and
    /// window of a sliding window; `cells` visits each cell to convert.
    fn set_rate(
        &self,
        count: u32,
        per: Duration,
        burst: Option<u32>,
        cells: &mut ForEachCell<'_>,
    ) -> Result<(), ConfigError> {
        let err = |(f, m): (&'static str, String)| ConfigError::new(&self.name, f, m);
        let params = match &self.hot.limit {
            Limit::Gcra(g) => {
                let burst = burst.unwrap_or(g.params().1);
                let (t, burst) = gcra_params(count, per, Some(burst)).map_err(err)?;
                LimitParams::Gcra { t, burst }
            }
            Limit::SlidingWindow(_) if burst.is_some() => {
                return Err(err((
                    "burst",
                    "a sliding window has no burst: pass None".into(),
                )))
            }
            Limit::SlidingWindow(_) => LimitParams::SlidingWindow {
                limit: count,
                window: sliding_params(count, per).map_err(err)?,
            },
        };
        self.put(params, self.max_wait.get(), cells);
        self.emit(EventKind::LimitChanged);
        Ok(())
    }

    /// The limit's parameters now.
    pub(crate) fn params(&self) -> LimitParams {
        match &self.hot.limit {
            Limit::Gcra(g) => {
                let (t, burst) = g.params();
                LimitParams::Gcra { t, burst }
            }
            Limit::SlidingWindow(s) => {
                let (limit, window) = s.params();
                LimitParams::SlidingWindow { limit, window }
            }
        }
    }

    /// Whether `params` may replace this limiter's: a token bucket stays
    /// one, and so does a sliding window.
    pub(crate) fn check_kind(&self, params: LimitParams) -> Result<(), ConfigError> {
        match (&self.hot.limit, params) {
            (Limit::Gcra(_), LimitParams::Gcra { .. })
            | (Limit::SlidingWindow(_), LimitParams::SlidingWindow { .. }) => Ok(()),
            _ => Err(ConfigError::new(
                &self.name,
                "sliding_window",
                "a running limiter cannot change between token bucket and sliding window; \
                 build a new one",
            )),
        }
    }

    /// Puts checked parameters in force, keeping every cell's state: the
    /// tokens already taken stay taken. One event per setting changed.
    pub(crate) fn put(&self, params: LimitParams, max_wait: Duration, cells: &mut ForEachCell<'_>) {
        let now = self.clock.now();
        let mut events = Vec::new();
        match (&self.hot.limit, params) {
            (Limit::Gcra(g), LimitParams::Gcra { t, burst }) => {
                let (old_t, old_burst) = g.params();
                g.set(t, burst);
                if old_t != t {
                    cells(&mut |cell| Gcra::convert(cell, now, old_t, t));
                }
                events.push(reconfigured(
                    "emission_interval",
                    Duration::from_nanos(old_t),
                    Duration::from_nanos(t),
                ));
                events.push(reconfigured("burst", old_burst, burst));
            }
            (Limit::SlidingWindow(s), LimitParams::SlidingWindow { limit, window }) => {
                let (old_limit, old_window) = s.params();
                s.set(limit, window);
                if old_window != window {
                    cells(&mut |cell| SlidingWindowCounter::convert(cell, now, old_window, window));
                }
                events.push(reconfigured("limit", old_limit, limit));
                events.push(reconfigured(
                    "window",
                    Duration::from_nanos(old_window),
                    Duration::from_nanos(window),
                ));
            }
            _ => unreachable!("the kind is checked before"),
        }
        events.push(reconfigured(
            "max_wait",
            self.max_wait.set(max_wait),
            max_wait,
        ));
        for e in events.into_iter().flatten() {
            self.emit(e);
        }
    }

    pub(crate) fn is_idle(&self, cell: &AtomicU64, now: u64) -> bool {
        self.hot.limit.is_idle(cell, now)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn export(&self, keys: Option<usize>) {
        use metrics::{counter, gauge};
        let name = self.name.to_string();
        counter!("seawall_rate_limiter_permitted_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(PERMITTED));
        counter!("seawall_rate_limiter_rejected_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(REJECTED));
        counter!("seawall_rate_limiter_waited_calls_total", "name" => name.clone())
            .absolute(self.counts.sum(WAITED));
        if let Some(keys) = keys {
            gauge!("seawall_rate_limiter_keys", "name" => name.clone()).set(keys as f64);
            counter!("seawall_rate_limiter_evicted_keys_total", "name" => name)
                .absolute(self.evicted.load(std::sync::atomic::Ordering::Relaxed));
        }
    }

    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (
            self.counts.sum(PERMITTED),
            self.counts.sum(REJECTED),
            self.counts.sum(WAITED),
        )
    }
}

/// Either a rejection (try later) or a request that can never fit.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::rate_limit::LimitError;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).burst(5).build()?;
/// // More than the burst can ever give: an error at once, never a wait.
/// assert!(matches!(limiter.try_acquire_n(6), Err(LimitError::Capacity(_))));
/// limiter.try_acquire_n(5)?;
/// assert!(matches!(limiter.try_acquire_n(1), Err(LimitError::Limited(_))));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum LimitError {
    /// Over the limit now; fits after `retry_after`.
    Limited(RateLimited),
    /// Larger than the burst (or window limit): will never fit.
    Capacity(InsufficientCapacity),
}

impl LimitError {
    pub(crate) fn with_requested(self, n: u32) -> Self {
        match self {
            LimitError::Capacity(c) => {
                LimitError::Capacity(InsufficientCapacity { requested: n, ..c })
            }
            other => other,
        }
    }

    /// Boxes the inner error, for layers.
    pub(crate) fn boxed(self) -> tower::BoxError {
        match self {
            LimitError::Limited(e) => Box::new(e),
            LimitError::Capacity(e) => Box::new(e),
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Limited(e) => e.fmt(f),
            LimitError::Capacity(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LimitError::Limited(e) => Some(e),
            LimitError::Capacity(e) => Some(e),
        }
    }
}

/// What a limiter would still admit at once, right after an admission:
/// what a server tells its callers (`RateLimit-Remaining`). Exact for both
/// algorithms: the token bucket's tokens left, the sliding window's room
/// left under its estimate. governor's `StateSnapshot`.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).burst(5).build()?;
/// let snapshot = limiter.try_acquire_snapshot(2)?;  // what a server tells its callers
/// assert_eq!((snapshot.remaining_burst_capacity, snapshot.burst_capacity), (3, 5));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitSnapshot {
    /// Calls that could be admitted at once now (governor's
    /// `remaining_burst_capacity`).
    pub remaining_burst_capacity: u32,
    /// The most ever admitted at once: the burst, or the window's limit.
    pub burst_capacity: u32,
    /// How long until the whole `burst_capacity` is back (`RateLimit`'s
    /// reset).
    pub full_after: Duration,
    /// The policy's window: the time the whole burst takes to come back
    /// from empty (the token bucket's burst × emission interval), or the
    /// sliding window's length (`RateLimit-Policy`'s `w`).
    pub window: Duration,
}

/// A limiter's policy, as a server states it (`RateLimit-Policy`): the
/// most it admits at once, and the window that much comes back over.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).burst(5).build()?;
/// let policy = limiter.policy();
/// assert_eq!(policy.burst_capacity, 5);
/// assert_eq!(policy.window, Duration::from_millis(500)); // 5 tokens at one per 100 ms
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitPolicy {
    /// The burst, or the sliding window's limit (`q`).
    pub burst_capacity: u32,
    /// The token bucket's burst × emission interval, or the sliding
    /// window's length (`w`).
    pub window: Duration,
}

/// Counts a limiter has kept since it was built.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(1)).build()?;
/// limiter.try_acquire()?;
/// let _ = limiter.try_acquire();
/// let m = limiter.metrics();
/// assert_eq!((m.permitted_calls, m.rejected_calls), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterMetrics {
    /// Calls admitted.
    pub permitted_calls: u64,
    /// Calls refused: over the limit, asking for more than the burst, or
    /// (keyed) a new key while the map is full.
    pub rejected_calls: u64,
    /// Admitted calls that had to wait for their slot.
    pub waited_calls: u64,
    /// Keys tracked now (keyed limiters).
    pub keys: usize,
    /// Idle keys evicted (keyed limiters).
    pub evicted_keys: u64,
}

pub(crate) struct Direct {
    pub(crate) shared: Shared,
}

impl Direct {
    #[inline]
    pub(crate) fn cell(&self) -> &AtomicU64 {
        &self.shared.hot.cell
    }
}

/// A direct (unkeyed) rate limiter: a cheap `Clone` handle to one shared
/// limit. Build with [`RateLimiter::builder`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("payments-api")
///     .rate(100, Duration::from_secs(1))
///     .burst(3)
///     .build()?;
/// for _ in 0..3 {
///     limiter.try_acquire()?;                     // the burst
/// }
/// let refused = limiter.try_acquire().unwrap_err();
/// assert!(refused.retry_after() <= Some(Duration::from_millis(10))); // one token every 10 ms
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    pub(crate) inner: Arc<Direct>,
}

impl RateLimiter {
    /// Starts configuring a limiter; `name` labels its metrics and events.
    pub fn builder(name: &str) -> RateLimiterBuilder {
        RateLimiterBuilder::new(name)
    }

    pub(crate) fn from_shared(shared: Shared) -> Self {
        let inner = Arc::new(Direct { shared });
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Self { inner }
    }

    /// Takes one token now, or says when it would be available.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        match self.inner.shared.try_acquire(self.inner.cell(), 1) {
            Ok(()) => Ok(()),
            Err(d) => Err(self.refusal(d)),
        }
    }

    /// The error for a refused single token. Out of line: the admitting
    /// path stays small.
    #[cold]
    #[inline(never)]
    fn refusal(&self, d: Denied) -> RateLimited {
        match self.inner.shared.limited(d) {
            LimitError::Limited(e) => e,
            // Validation keeps the burst at least 1, so this cannot
            // happen; answer "never" rather than panic.
            LimitError::Capacity(_) => {
                RateLimited::new(self.inner.shared.name.clone(), Duration::MAX)
            }
        }
    }

    /// Takes `n` tokens now (a weighted call). `n` larger than the burst is
    /// [`LimitError::Capacity`]: it could never fit, so it fails at once.
    pub fn try_acquire_n(&self, n: u32) -> Result<(), LimitError> {
        self.inner
            .shared
            .try_acquire(self.inner.cell(), n)
            .map_err(|d| self.inner.shared.limited(d).with_requested(n))
    }

    /// Takes `n` tokens now, like [`try_acquire_n`](Self::try_acquire_n),
    /// and says how many more could be taken at once right after: the
    /// remaining burst a server reports to its callers.
    ///
    /// ```
    /// use seawall::prelude::*;
    ///
    /// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).build()?;
    /// let after = limiter.try_acquire_snapshot(3).unwrap();
    /// assert_eq!((after.remaining_burst_capacity, after.burst_capacity), (7, 10));
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn try_acquire_snapshot(&self, n: u32) -> Result<RateLimitSnapshot, LimitError> {
        let shared = &self.inner.shared;
        shared
            .try_acquire_snapshot(self.inner.cell(), shared.clock.now(), n)
            .map_err(|d| shared.limited(d).with_requested(n))
    }

    /// Its policy: the most it admits at once and the window that comes
    /// back over (a `set_rate` changes it).
    pub fn policy(&self) -> RateLimitPolicy {
        self.inner.shared.limit().policy()
    }

    /// Waits for `n` tokens, up to the configured `max_wait` (an exact sleep
    /// to when they will be available, on tokio's timer). Dropping the
    /// future consumes nothing. Resolves to `Result<(), LimitError>`.
    ///
    /// # Panics
    ///
    /// When it has to wait outside a tokio runtime with the time driver
    /// (the message names seawall and the fix).
    pub fn acquire_n(&self, n: u32) -> SlotWait {
        SlotWait::new(self.clone(), n)
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// Changes the rate at runtime without losing state: tokens already
    /// taken stay taken. For a token bucket `count` per `per` (burst kept
    /// unless given), within the builder's bounds; for a sliding window the
    /// limit and window, with `burst` `None`. Out of bounds, nothing
    /// changes and the [`ConfigError`] names the field.
    pub fn set_rate(
        &self,
        count: u32,
        per: Duration,
        burst: Option<u32>,
    ) -> Result<(), ConfigError> {
        let cell = self.inner.cell();
        self.inner
            .shared
            .set_rate(count, per, burst, &mut |f| f(cell))
    }

    /// Changes the settings while the limiter runs, keeping its state:
    /// tokens already taken stay taken, waiting calls keep waiting. `f`
    /// gets a builder holding the settings in force (a token bucket's
    /// `rate` and `burst`, or the sliding window, and `max_wait`) and
    /// returns the new ones. A token bucket stays a token bucket and a
    /// sliding window a sliding window; that, or an invalid value, is a
    /// [`ConfigError`] and changes nothing. Each setting that changed is
    /// an [`EventKind::Reconfigured`] event.
    ///
    /// ```
    /// use seawall::rate_limit::RateLimiter;
    /// use std::time::Duration;
    ///
    /// let limiter = RateLimiter::builder("search").rate(100, Duration::from_secs(1)).build()?;
    /// limiter.reconfigure(|b| b.rate(50, Duration::from_secs(1)).burst(10))?;
    /// assert_eq!(limiter.policy().burst_capacity, 10);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn reconfigure(
        &self,
        f: impl FnOnce(RateLimiterBuilder) -> RateLimiterBuilder,
    ) -> Result<(), ConfigError> {
        let shared = &self.inner.shared;
        let now =
            RateLimiter::builder(&shared.name).with_params(shared.params(), shared.max_wait.get());
        let (params, max_wait) = self.checked(&f(now))?;
        self.put(params, max_wait);
        Ok(())
    }

    /// `b`'s settings, checked to replace this limiter's.
    pub(crate) fn checked(
        &self,
        b: &RateLimiterBuilder,
    ) -> Result<(LimitParams, Duration), ConfigError> {
        let (params, max_wait) = b.checked()?;
        self.inner.shared.check_kind(params)?;
        Ok((params, max_wait))
    }

    /// Puts checked parameters (of this limiter's kind) in force.
    pub(crate) fn put(&self, params: LimitParams, max_wait: Duration) {
        let cell = self.inner.cell();
        self.inner.shared.put(params, max_wait, &mut |f| f(cell));
    }

    /// Counts since the limiter was built.
    pub fn metrics(&self) -> RateLimiterMetrics {
        let (permitted_calls, rejected_calls, waited_calls) = self.inner.shared.counts();
        RateLimiterMetrics {
            permitted_calls,
            rejected_calls,
            waited_calls,
            keys: 0,
            evicted_keys: 0,
        }
    }

    /// A tower layer that rejects over-limit calls at once.
    pub fn layer(&self) -> RateLimitLayer {
        RateLimitLayer::new(self.clone())
    }

    /// A tower layer that waits up to `max_wait` for a slot (requires the
    /// inner service to be `Clone`).
    pub fn waiting_layer(&self) -> WaitingRateLimitLayer {
        WaitingRateLimitLayer::new(self.clone())
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.shared.name)
            .finish()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Direct {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::RateLimiter,
            name: &self.shared.name,
            listeners: Some(&self.shared.listeners),
            now: self.shared.clock.now(),
        }
    }

    fn export(&self) {
        self.shared.export(None);
    }
}
