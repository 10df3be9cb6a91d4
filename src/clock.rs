//! Time, read through one cheap handle.
//!
//! Every primitive reads time as nanoseconds since a fixed origin (so a
//! timestamp fits in an `AtomicU64`). The default clock is chosen when an
//! instance is built ([`ClockHandle::default`]): inside a tokio runtime
//! whose time is paused, [`TokioClock`], so `tokio::time::pause()` makes a
//! whole stack deterministic; elsewhere (with the default `quanta` feature)
//! the CPU's time-stamp counter, as governor reads by default, several
//! times cheaper than the OS clock. [`ManualClock`] is stepped by hand in
//! tests. Each clock has its own origin, so tests running in parallel never
//! share time.
//!
//! ```
//! use seawall::clock::{Clock, ManualClock};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! assert_eq!(clock.now(), 0);
//! clock.advance(Duration::from_millis(1500));
//! assert_eq!(clock.now(), 1_500_000_000);
//! ```

use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A source of time for seawall's primitives.
///
/// ```
/// use seawall::prelude::*;
/// use std::sync::Arc;
///
/// // A clock of your own: nanoseconds since an origin of your choice.
/// struct Frozen;
/// impl Clock for Frozen {
///     fn now(&self) -> u64 {
///         42
///     }
/// }
/// # fn main() -> Result<(), ConfigError> {
/// let clock: Arc<dyn Clock> = Arc::new(Frozen);
/// let breaker = CircuitBreaker::builder("payments").clock(clock).build()?;
/// # let _ = breaker; Ok(()) }
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds elapsed since this clock's origin. Never goes backwards.
    fn now(&self) -> u64;

    /// Wall-clock time, used to read HTTP-date `Retry-After` values.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Converts a duration to nanoseconds, saturating at `u64::MAX` (584 years).
/// The longest wait seawall arms a timer for (a timeout, a hedge's
/// delay): a week.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// tokio's `sleep`, for every wait seawall makes (a waiting limiter or
/// bulkhead, a timeout's timer, a retry's backoff). Outside a tokio runtime
/// tokio panics with "there is no reactor running", naming neither seawall
/// nor the fix; this panics first with a message naming both. `what` is
/// the waiting type, for the message.
#[track_caller]
pub(crate) fn sleep(d: Duration, what: &'static str) -> tokio::time::Sleep {
    need_runtime(what);
    tokio::time::sleep(d)
}

/// [`sleep`] until an instant.
#[track_caller]
pub(crate) fn sleep_until(at: tokio::time::Instant, what: &'static str) -> tokio::time::Sleep {
    need_runtime(what);
    tokio::time::sleep_until(at)
}

#[track_caller]
fn need_runtime(what: &'static str) {
    if tokio::runtime::Handle::try_current().is_err() {
        no_runtime(what)
    }
}

#[cold]
#[track_caller]
fn no_runtime(what: &'static str) -> ! {
    panic!(
        "seawall: {what} waits on tokio's timer, but there is no tokio runtime on this \
         thread. Await it inside one (#[tokio::main], #[tokio::test], Runtime::block_on) \
         built with the time driver (Builder::enable_time or enable_all)."
    )
}

/// Follows `tokio::time::Instant`, so paused tokio time
/// (`tokio::time::pause()`, `#[tokio::test(start_paused = true)]`) drives it:
/// the default for instances built inside a paused runtime. Outside a
/// paused runtime it is the monotonic system clock.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::TokioClock;
///
/// # fn main() -> Result<(), ConfigError> {
/// // Follows tokio's clock, so `tokio::time::pause()` pauses the limiter too.
/// let limiter = RateLimiter::builder("api")
///     .rate(10, Duration::from_secs(1))
///     .clock(TokioClock::new())
///     .build()?;
/// # let _ = limiter; Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> u64 {
        nanos(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }
}

/// A clock reading the CPU's time-stamp counter through `quanta` (feature
/// `quanta`, on by default): about 7 ns a read against ~20 ns for the OS
/// monotonic clock on a typical VM. The default clock outside paused tokio
/// time. It does not follow paused tokio time: instances built in a paused
/// runtime get [`TokioClock`] instead.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::QuantaClock;
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = RateLimiter::builder("api")
///     .rate(10_000, Duration::from_secs(1))
///     .clock(QuantaClock::new())     // the TSC: a few ns a read
///     .build()?;
/// # let _ = limiter; Ok(()) }
/// ```
#[cfg(feature = "quanta")]
#[derive(Clone, Debug)]
pub struct QuantaClock {
    clock: quanta::Clock,
    origin: u64,
    /// Nanoseconds per tick in 32.32 fixed point (quanta's own calibration,
    /// read once).
    ns_per_tick: u64,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        // What 2^32 ticks last, in nanoseconds: the scale in 32.32 fixed
        // point (2^32 exactly when quanta falls back to the OS clock, whose
        // ticks are nanoseconds).
        let ns_per_tick = clock.delta_as_nanos(0, 1 << 32);
        Self {
            clock,
            origin,
            ns_per_tick,
        }
    }

    /// Nanoseconds since the origin at raw reading `raw`:
    /// `(raw - origin) · ns_per_tick / 2^32`, the product in 128 bits. A
    /// constant shift, where quanta's own scaling shifts by a stored amount:
    /// one multiply and one shift on the path of every decision (the direct
    /// rate-limit check 10.7 → 9.7 ns, `cargo bench --all-features --bench
    /// rate_limit`). The truncated scale drifts
    /// from quanta's by under 1 ns per 2^32 ticks (~1.5 s at 3 GHz).
    #[inline]
    fn nanos_at(&self, raw: u64) -> u64 {
        let ticks = raw.saturating_sub(self.origin);
        ((u128::from(ticks) * u128::from(self.ns_per_tick)) >> 32) as u64
    }
}

#[cfg(feature = "quanta")]
impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    #[inline]
    fn now(&self) -> u64 {
        self.nanos_at(self.clock.raw())
    }
}

/// A clock that only moves when told to. Starts at 0; clones share the time.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let clock = ManualClock::new();
/// let limiter = RateLimiter::builder("api")
///     .rate(1, Duration::from_secs(1))
///     .clock(clock.clone())
///     .build()?;
/// limiter.try_acquire()?;
/// assert!(limiter.try_acquire().is_err());
/// clock.advance(Duration::from_secs(1));      // time moves when the test says
/// limiter.try_acquire()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    nanos: AtomicU64,
    wall_origin: SystemTime,
}

impl ManualClock {
    /// A clock at 0 whose wall time starts at the current system time.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(ManualInner {
                nanos: AtomicU64::new(0),
                wall_origin: SystemTime::now(),
            }),
        }
    }

    /// Moves time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        let _ = self
            .inner
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(by))
            });
    }

    /// Sets the time to `at` since the origin, if that is not in the past:
    /// a clock never goes backwards.
    pub fn set(&self, at: Duration) {
        self.inner.nanos.fetch_max(nanos(at), Ordering::AcqRel);
    }

    /// The time since the origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.inner.nanos.load(Ordering::Acquire)
    }

    fn wall(&self) -> SystemTime {
        self.inner.wall_origin + Duration::from_nanos(self.now())
    }
}

/// The clock handle every primitive holds: an enum rather than a generic
/// parameter, so the clock does not leak into every type, and the common
/// case (tokio) is a predictable branch rather than a virtual call.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::ClockHandle;
///
/// let manual = ManualClock::new();
/// let handle: ClockHandle = manual.clone().into(); // what every builder's `.clock(..)` takes
/// manual.advance(Duration::from_millis(5));
/// assert_eq!(handle.now(), 5_000_000);
/// ```
#[derive(Clone)]
pub struct ClockHandle(Kind);

#[derive(Clone)]
enum Kind {
    // The default outside paused tokio time first: the first arm tested.
    #[cfg(feature = "quanta")]
    Quanta(QuantaClock),
    Tokio(TokioClock),
    Manual(ManualClock),
    Custom(Arc<dyn Clock>),
}

impl ClockHandle {
    /// A handle to a user's own clock.
    pub fn custom(clock: Arc<dyn Clock>) -> Self {
        Self(Kind::Custom(clock))
    }

    /// Nanoseconds since this clock's origin.
    #[inline]
    pub fn now(&self) -> u64 {
        match &self.0 {
            #[cfg(feature = "quanta")]
            Kind::Quanta(c) => c.now(),
            Kind::Tokio(c) => c.now(),
            Kind::Manual(c) => c.now(),
            Kind::Custom(c) => c.now(),
        }
    }

    /// Wall-clock time.
    pub fn wall(&self) -> SystemTime {
        match &self.0 {
            Kind::Tokio(c) => c.wall(),
            Kind::Manual(c) => c.wall(),
            #[cfg(feature = "quanta")]
            Kind::Quanta(c) => c.wall(),
            Kind::Custom(c) => c.wall(),
        }
    }
}

impl Default for ClockHandle {
    /// The clock every builder starts with. Built inside a tokio runtime
    /// whose clock is paused (`#[tokio::test(start_paused = true)]`,
    /// `tokio::time::pause()`), a [`TokioClock`], so paused time drives
    /// the instance; otherwise, with the `quanta` feature (on by default),
    /// a `QuantaClock` reading the CPU's time-stamp counter
    /// as governor does by default (a read costs a few ns where the OS
    /// clock costs ~20), and a [`TokioClock`] without it.
    ///
    /// An instance built *before* its test pauses tokio's clock does not
    /// follow the pause: build it after, or give it `.clock(TokioClock::new())`.
    fn default() -> Self {
        #[cfg(feature = "quanta")]
        if !tokio_time_is_paused() {
            return Self(Kind::Quanta(QuantaClock::new()));
        }
        Self(Kind::Tokio(TokioClock::new()))
    }
}

/// Whether this thread is inside a tokio runtime whose clock is paused:
/// tokio's time stands still there until advanced, while the OS clock
/// moves. (Nothing can advance a paused clock between the two reads: that
/// takes this thread's own `advance` or the runtime parking, and a paused
/// clock needs the single-threaded runtime.) Read once, at build.
#[cfg(feature = "quanta")]
fn tokio_time_is_paused() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let tokio_then = tokio::time::Instant::now();
    let os_then = std::time::Instant::now();
    // Until the OS clock has visibly moved (a few ns to a few µs).
    while std::time::Instant::now() == os_then {
        std::hint::spin_loop();
    }
    tokio::time::Instant::now() == tokio_then
}

impl fmt::Debug for ClockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Tokio(_) => f.write_str("ClockHandle(tokio)"),
            Kind::Manual(c) => write!(f, "ClockHandle({c:?})"),
            #[cfg(feature = "quanta")]
            Kind::Quanta(_) => f.write_str("ClockHandle(quanta)"),
            Kind::Custom(_) => f.write_str("ClockHandle(custom)"),
        }
    }
}

impl From<TokioClock> for ClockHandle {
    fn from(c: TokioClock) -> Self {
        Self(Kind::Tokio(c))
    }
}

impl From<ManualClock> for ClockHandle {
    fn from(c: ManualClock) -> Self {
        Self(Kind::Manual(c))
    }
}

#[cfg(feature = "quanta")]
impl From<QuantaClock> for ClockHandle {
    fn from(c: QuantaClock) -> Self {
        Self(Kind::Quanta(c))
    }
}

impl From<Arc<dyn Clock>> for ClockHandle {
    fn from(c: Arc<dyn Clock>) -> Self {
        Self(Kind::Custom(c))
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[cfg(feature = "quanta")]
    #[test]
    fn quanta_clock_scales_as_quanta_does() {
        let c = QuantaClock::new();
        for ticks in [0u64, 1, 1_000, 1 << 32, 1_000_000_000_000, 1 << 50] {
            let raw = c.origin + ticks;
            let theirs = c.clock.delta_as_nanos(c.origin, raw);
            let ours = c.nanos_at(raw);
            let allowed = 2 + (ticks >> 32);
            assert!(
                ours.abs_diff(theirs) <= allowed,
                "{ticks} ticks: {ours} ns against quanta's {theirs}"
            );
        }
        // A reading before the origin (another core's TSC) is time zero.
        assert_eq!(c.nanos_at(c.origin.saturating_sub(5)), 0);
    }

    #[test]
    fn manual_clock_never_goes_backwards() {
        let c = ManualClock::new();
        c.set(Duration::from_secs(5));
        c.set(Duration::from_secs(1));
        assert_eq!(c.elapsed(), Duration::from_secs(5));
        c.advance(Duration::MAX);
        assert_eq!(c.now(), u64::MAX);
    }

    #[test]
    fn manual_wall_time_follows_manual_time() {
        let c = ManualClock::new();
        let before = c.wall();
        c.advance(Duration::from_secs(3));
        assert_eq!(
            c.wall().duration_since(before).unwrap(),
            Duration::from_secs(3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let h = ClockHandle::default();
        let t0 = h.now();
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(h.now() - t0, 250_000_000);
    }
}
