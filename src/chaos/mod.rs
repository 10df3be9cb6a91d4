//! Fault injection: make a dependency (or your own server) misbehave on
//! purpose — errors, latency, made-up answers, side effects — at rates you
//! set and switch at run time, so you can see your protection work before
//! an outage shows you it does not (Polly's chaos strategies, in one layer).
//!
//! ```
//! use seawall::chaos::{Chaos, FaultKind, Latency};
//! use seawall::prelude::*;
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let chaos = Chaos::builder("inventory")
//!     .error_rate(0.3)                                         // 30 % fail with `Injected`
//!     .latency(0.1, Latency::Fixed(Duration::from_millis(800))) // 10 % wait 800 ms first
//!     .seed(7)                                                 // the same faults every run
//!     .build()?;
//! let svc = chaos.layer().layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
//! let mut failed = 0;
//! for n in 0..1000 {
//!     if let Err(e) = svc.clone().oneshot(n).await {
//!         assert_eq!(seawall::rejection(&e).unwrap().kind(), RejectionKind::Injected);
//!         failed += 1;
//!     }
//! }
//! assert!((250..350).contains(&failed));
//! assert_eq!(chaos.metrics().injected(FaultKind::Error), failed);
//! chaos.disable(); // the operator's switch: nothing is injected now
//! # use tower::Layer;
//! # Ok(()) }
//! ```
//!
//! **Draws.** Each decision is a counter-based draw: the seed, this
//! thread's stream and its call count, mixed — no lock and no shared write
//! per call, and the same seed gives the same faults in the same order on
//! one thread. Delays are sampled with `rand`'s generators and
//! `rand_distr`'s distributions from a seed drawn the same way.
//!
//! **Blast radius.** A game day must not become an outage:
//! [`max_injections_per_sec`](ChaosBuilder::max_injections_per_sec) and
//! [`max_injected_share`](ChaosBuilder::max_injected_share) stop injection
//! by themselves (the instance disables itself and emits
//! `BlastRadiusReached`) once it injects faster, or into a larger share of
//! calls, than you allowed.

pub mod experiment;
mod guard;
mod latency;
mod layer;
mod reconfigure;

pub use self::latency::Latency;
pub use self::layer::{
    ChaosFilter, ChaosFuture, ChaosLayer, ChaosService, Everything, InjectOutcome, NoOutcome,
};
pub use crate::telemetry::FaultKind;

use self::guard::Guard;
use crate::clock::ClockHandle;
use crate::error::{ConfigError, Injected};
use crate::stripes::Striped;
use crate::telemetry::{EventKind, EventMask, Listeners, Pattern};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::BoxError;

/// A user's error to inject instead of [`Injected`].
type MakeError = Arc<dyn Fn() -> BoxError + Send + Sync>;
/// A user's side effect to run before a call.
type Behaviour = Arc<dyn Fn() + Send + Sync>;

/// A fault injector: a cheap `Clone` handle to one shared instance. Build
/// it with [`Chaos::builder`]; put it in front of a service with
/// [`layer`](Chaos::layer), or call [`decide`](Chaos::decide) yourself.
///
/// ```
/// use seawall::chaos::FaultKind;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("inventory").error_rate(1.0).seed(7).build()?;
/// assert!(chaos.decide().error);                 // every call fails
/// chaos.set_rate(FaultKind::Error, 0.0)?;
/// assert!(chaos.decide().is_none());
/// chaos.disable();                               // the operator's switch
/// assert!(!chaos.is_enabled());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chaos {
    inner: Arc<Inner>,
}

/// `Inner::switch` bits: on, and which kinds have a rate above 0.
const ENABLED: u32 = 1;
const fn kind_bit(kind: FaultKind) -> u32 {
    2 << kind as u32
}

struct Inner {
    name: Arc<str>,
    /// [`ENABLED`] and a [`kind_bit`] per kind drawn: one load decides the
    /// passing path (off, or nothing to draw).
    switch: AtomicU32,
    /// Per kind, inject iff a draw is at most this (`rate · 2^64 − 1`;
    /// `u64::MAX`: always; a kind at rate 0 is not drawn at all).
    thresholds: [AtomicU64; 4],
    /// Swapped by a reconfiguration; read only for a call that waits.
    latency: arc_swap::ArcSwap<Latency>,
    error: Option<MakeError>,
    behaviour: Option<Behaviour>,
    seed: u64,
    /// Per thread: field 0 the calls drawn for, field 1 the stream (0:
    /// not yet).
    draws: Striped<2>,
    /// Streams handed out, in order of first use.
    streams: AtomicU64,
    /// Injections per kind.
    counts: Striped<4>,
    guard: Option<Guard>,
    clock: ClockHandle,
    listeners: Listeners,
}

/// The faults decided for one call.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("inventory")
///     .latency(1.0, Latency::Fixed(Duration::from_millis(200)))
///     .build()?;
/// let faults = chaos.decide();                   // what to do to one call
/// assert_eq!(faults.latency, Some(Duration::from_millis(200)));
/// assert!(!faults.error);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Fail the call with the injected error.
    pub error: bool,
    /// Wait this long before the call.
    pub latency: Option<Duration>,
    /// Answer with the layer's made-up response instead of calling.
    pub outcome: bool,
    /// Run the behaviour before the call.
    pub behaviour: bool,
}

impl Faults {
    /// Whether nothing is injected.
    #[inline]
    pub fn is_none(&self) -> bool {
        !self.error && self.latency.is_none() && !self.outcome && !self.behaviour
    }
}

/// A snapshot of a [`Chaos`]'s counts.
///
/// ```
/// use seawall::chaos::FaultKind;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("inventory").error_rate(1.0).build()?;
/// let _ = chaos.decide();
/// let m = chaos.metrics();
/// assert_eq!((m.calls, m.injected(FaultKind::Error)), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosMetrics {
    /// Whether it injects now.
    pub enabled: bool,
    /// Calls drawn for: made while it was enabled with some rate above 0
    /// (and, through a layer, picked by its filter).
    pub calls: u64,
    /// Errors, delays, outcomes and behaviours injected, by
    /// [`FaultKind`] order.
    pub injected: [u64; 4],
}

impl ChaosMetrics {
    /// Faults of `kind` injected so far.
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.injected[kind as usize]
    }
}

/// Builds a [`Chaos`]; every rate is 0 and injection enabled unless set.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let chaos = Chaos::builder("inventory")
///     .error_rate(0.05)
///     .latency(0.1, Latency::Fixed(Duration::from_millis(300)))
///     .max_injections_per_sec(50)      // blast radius
///     .seed(42)                        // the same faults every run
///     .enabled(false)                  // armed, not firing
///     .build()?;
/// assert!(Chaos::builder("x").error_rate(1.5).build().is_err());
/// # let _ = chaos; Ok(()) }
/// ```
#[must_use]
pub struct ChaosBuilder {
    name: Arc<str>,
    enabled: bool,
    rates: [f64; 4],
    latency: Latency,
    error: Option<MakeError>,
    behaviour: Option<Behaviour>,
    seed: Option<u64>,
    max_per_sec: Option<u32>,
    max_share: Option<(f64, Duration)>,
    clock: ClockHandle,
    listeners: Listeners,
}

impl Chaos {
    /// A builder for an injector named `name`.
    pub fn builder(name: &str) -> ChaosBuilder {
        ChaosBuilder {
            name: Arc::from(name),
            enabled: true,
            rates: [0.0; 4],
            latency: Latency::Fixed(Duration::ZERO),
            error: None,
            behaviour: None,
            seed: None,
            max_per_sec: None,
            max_share: None,
            clock: ClockHandle::default(),
            listeners: Listeners::default(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Starts injecting (emits `ChaosEnabled` if it was off).
    pub fn enable(&self) {
        if self.inner.switch.fetch_or(ENABLED, Ordering::AcqRel) & ENABLED == 0 {
            if let Some(g) = &self.inner.guard {
                g.restart(self.inner.clock.now(), self.calls());
            }
            self.inner.emit(EventKind::ChaosEnabled);
        }
    }

    /// Stops injecting (emits `ChaosDisabled` if it was on).
    pub fn disable(&self) {
        if self.inner.disable() {
            self.inner.emit(EventKind::ChaosDisabled);
        }
    }

    /// Whether it injects now.
    pub fn is_enabled(&self) -> bool {
        self.inner.switch.load(Ordering::Relaxed) & ENABLED != 0
    }

    /// Changes the rate of `kind` at run time (in `[0, 1]`).
    pub fn set_rate(&self, kind: FaultKind, rate: f64) -> Result<(), ConfigError> {
        let t = threshold(&self.inner.name, kind, rate)?;
        self.inner.thresholds[kind as usize].store(t, Ordering::Relaxed);
        // Published after the threshold: a call that sees the bit reads it.
        if rate == 0.0 {
            self.inner
                .switch
                .fetch_and(!kind_bit(kind), Ordering::Release);
        } else {
            self.inner
                .switch
                .fetch_or(kind_bit(kind), Ordering::Release);
        }
        Ok(())
    }

    /// The rate of `kind` now.
    pub fn rate(&self, kind: FaultKind) -> f64 {
        if self.inner.switch.load(Ordering::Relaxed) & kind_bit(kind) == 0 {
            return 0.0;
        }
        match self.inner.thresholds[kind as usize].load(Ordering::Relaxed) {
            u64::MAX => 1.0,
            t => (t as f64 + 1.0) / 2f64.powi(64),
        }
    }

    /// The tower layer.
    pub fn layer(&self) -> ChaosLayer {
        ChaosLayer::new(self)
    }

    /// The faults for one call: draws each kind whose rate is above 0,
    /// counts what it injects and keeps to the blast-radius limits. Apply
    /// them yourself when not using the layer: run
    /// [`run_behaviour`](Self::run_behaviour), sleep `latency`, then fail
    /// with [`error`](Self::error) or answer your made-up response.
    #[inline]
    pub fn decide(&self) -> Faults {
        self.decide_for(true)
    }

    /// [`decide`](Self::decide), drawing outcomes only when the caller can
    /// answer one.
    #[inline]
    pub(crate) fn decide_for(&self, outcomes: bool) -> Faults {
        let inner = &*self.inner;
        let switch = inner.switch.load(Ordering::Acquire);
        // Off, or on with nothing to draw: nothing to do.
        if switch & ENABLED == 0 || switch == ENABLED {
            return Faults::default();
        }
        inner.decide(switch, outcomes)
    }

    /// The error an injected failure returns: the builder's
    /// [`error_with`](ChaosBuilder::error_with), or [`Injected`].
    pub fn error(&self) -> BoxError {
        match &self.inner.error {
            Some(make) => make(),
            None => Box::new(Injected::new(self.inner.name.clone())),
        }
    }

    /// Runs the builder's [`behaviour`](ChaosBuilder::behaviour), if any.
    pub fn run_behaviour(&self) {
        if let Some(b) = &self.inner.behaviour {
            b();
        }
    }

    /// Counts so far.
    pub fn metrics(&self) -> ChaosMetrics {
        let c = &self.inner.counts;
        ChaosMetrics {
            enabled: self.is_enabled(),
            calls: self.inner.calls(),
            injected: std::array::from_fn(|k| c.sum(k)),
        }
    }

    fn calls(&self) -> u64 {
        self.inner.calls()
    }
}

impl Inner {
    /// Calls drawn for (the draw counters, which count them anyway).
    fn calls(&self) -> u64 {
        self.draws.sum(0)
    }

    /// Turns it off; whether it was on.
    fn disable(&self) -> bool {
        self.switch.fetch_and(!ENABLED, Ordering::AcqRel) & ENABLED != 0
    }

    #[inline]
    fn decide(&self, switch: u32, outcomes: bool) -> Faults {
        let key = self.next_draw();
        let outcome_bit = kind_bit(FaultKind::Outcome);
        let mut kinds = switch & !ENABLED & if outcomes { !0 } else { !outcome_bit };
        // One draw per kind with a rate, each against its threshold.
        let mut hits = 0;
        while kinds != 0 {
            let bit = kinds & kinds.wrapping_neg();
            kinds ^= bit;
            let k = bit.trailing_zeros() - 1;
            if draw(key, u64::from(k)) <= self.thresholds[k as usize].load(Ordering::Relaxed) {
                hits |= bit;
            }
        }
        if hits == 0 {
            return Faults::default();
        }
        self.injected(hits, key)
    }

    /// The faults of a call some draw hit: what they are (a delay's length
    /// drawn too), kept to the blast radius, counted and told.
    #[cold]
    #[inline(never)]
    fn injected(&self, hits: u32, key: u64) -> Faults {
        let hit = |kind| hits & kind_bit(kind) != 0;
        let faults = Faults {
            error: hit(FaultKind::Error),
            latency: hit(FaultKind::Latency).then(|| self.latency.load().sample(draw(key, 4))),
            outcome: hit(FaultKind::Outcome),
            behaviour: hit(FaultKind::Behaviour) && self.behaviour.is_some(),
        };
        if faults.is_none() {
            return faults;
        }
        self.admit(faults)
    }

    /// The key of this thread's next draw: its stream's base (the seed and
    /// stream, mixed once per stripe) and its call number, combined.
    #[inline]
    fn next_draw(&self) -> u64 {
        let (base, n) = match self.draws.mine() {
            Some(stripe) => {
                let n = stripe[0].load(Ordering::Relaxed);
                stripe[0].store(n.wrapping_add(1), Ordering::Relaxed);
                let mut base = stripe[1].load(Ordering::Relaxed);
                if base == 0 {
                    base = self.new_stream();
                    stripe[1].store(base, Ordering::Relaxed);
                }
                (base, n)
            }
            // Threads past the last stripe share one stream.
            None => (
                stream_base(self.seed, u64::MAX),
                self.draws.shared(0).fetch_add(1, Ordering::Relaxed),
            ),
        };
        base.wrapping_add(n.wrapping_mul(WYRAND_STEP))
    }

    /// First draw on a stripe: streams go in order of first use, so a
    /// one-thread run repeats exactly.
    #[cold]
    fn new_stream(&self) -> u64 {
        let stream = self.streams.fetch_add(1, Ordering::Relaxed) + 1;
        stream_base(self.seed, stream)
    }

    /// Faults drawn for a call: kept to the blast radius, counted, told.
    fn admit(&self, faults: Faults) -> Faults {
        if let Some(g) = &self.guard {
            if let Err(reason) = g.admit(self.clock.now(), self.calls()) {
                // Off by itself, once: later calls find it disabled.
                if self.disable() {
                    self.emit(EventKind::BlastRadiusReached { reason });
                }
                return Faults::default();
            }
        }
        for (kind, on) in [
            (FaultKind::Error, faults.error),
            (FaultKind::Latency, faults.latency.is_some()),
            (FaultKind::Outcome, faults.outcome),
            (FaultKind::Behaviour, faults.behaviour),
        ] {
            if on {
                self.counts.incr(kind as usize);
                if self.listeners.wants(EventMask::FAULTS) {
                    self.emit(EventKind::FaultInjected { kind });
                }
            }
        }
        faults
    }

    fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::Chaos, &self.name, &self.clock, kind);
    }
}

/// A stream's base: the seed and the stream spread by an odd constant
/// (never 0, which marks a stripe without a stream).
fn stream_base(seed: u64, stream: u64) -> u64 {
    (seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1)
}

/// wyrand's increment: call `n` of a stream is the `n`-th state of a
/// wyrand generator seeded with the stream's base.
const WYRAND_STEP: u64 = 0xA076_1D64_78BD_642F;

/// A uniform 64-bit draw for fault `kind` of the call whose key is `key`:
/// wyrand's output function (Wang Yi; one 64×64→128 multiply, folded) on
/// the call's state, offset per kind — a counter-based generator, so no
/// state is shared between calls, and one multiply a draw.
#[inline(always)]
fn draw(key: u64, kind: u64) -> u64 {
    let s = key.wrapping_add(kind.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let t = u128::from(s) * u128::from(s ^ 0xE703_7ED1_A0B4_28DB);
    (t >> 64) as u64 ^ t as u64
}

/// `rate` as a draw threshold, or the error naming `kind`'s rate.
fn threshold(name: &Arc<str>, kind: FaultKind, rate: f64) -> Result<u64, ConfigError> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(ConfigError::new(
            name,
            kind.rate_field(),
            format!("must be in [0, 1], got {rate}"),
        ));
    }
    Ok(if rate >= 1.0 {
        u64::MAX
    } else if rate <= 0.0 {
        0
    } else {
        // P(draw ≤ t) = (t + 1) / 2^64 = rate.
        ((rate * 2f64.powi(64)) as u64).saturating_sub(1)
    })
}

impl ChaosBuilder {
    /// Fail this share of calls (in `[0, 1]`) with [`Injected`] (or
    /// [`error_with`](Self::error_with)'s error).
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.rates[FaultKind::Error as usize] = rate;
        self
    }

    /// The error injected failures return instead of [`Injected`]; make
    /// it look like what your dependency fails with.
    pub fn error_with(mut self, make: impl Fn() -> BoxError + Send + Sync + 'static) -> Self {
        self.error = Some(Arc::new(make));
        self
    }

    /// Delay this share of calls by `latency` before they are made.
    pub fn latency(mut self, rate: f64, latency: Latency) -> Self {
        self.rates[FaultKind::Latency as usize] = rate;
        self.latency = latency;
        self
    }

    /// Answer this share of calls with the layer's made-up response
    /// ([`ChaosLayer::outcome`]) instead of calling.
    pub fn outcome_rate(mut self, rate: f64) -> Self {
        self.rates[FaultKind::Outcome as usize] = rate;
        self
    }

    /// Run `behaviour` before this share of calls (drop a connection, fill
    /// a disk, flip a flag).
    pub fn behaviour(mut self, rate: f64, behaviour: impl Fn() + Send + Sync + 'static) -> Self {
        self.rates[FaultKind::Behaviour as usize] = rate;
        self.behaviour = Some(Arc::new(behaviour));
        self
    }

    /// The seed of every draw (default: a random one). The same seed
    /// injects the same faults in the same order on one thread.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether it starts injecting (default: yes).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Stop injecting by itself (disable, emit `BlastRadiusReached`) once
    /// more than `n` calls would be injected within one second of its
    /// clock.
    pub fn max_injections_per_sec(mut self, n: u32) -> Self {
        self.max_per_sec = Some(n);
        self
    }

    /// Stop injecting by itself once more than `share` of the calls in a
    /// `window` were injected (judged from the window's 100th call on, so
    /// the first calls cannot trip it by chance alone). Windows follow each
    /// other end to end.
    pub fn max_injected_share(mut self, share: f64, window: Duration) -> Self {
        self.max_share = Some((share, window));
        self
    }

    crate::telemetry::builder_telemetry_setters!();

    /// Validates and builds.
    pub fn build(self) -> Result<Chaos, ConfigError> {
        self.validate()?;
        let name = self.name;
        let mut thresholds = [0u64; 4];
        for kind in FaultKind::ALL {
            thresholds[kind as usize] = threshold(&name, kind, self.rates[kind as usize])?;
        }
        if self.rates[FaultKind::Latency as usize] > 0.0 {
            self.latency.validate(&name)?;
        }
        let guard = Guard::new(&name, self.max_per_sec, self.max_share)?;
        let seed = self.seed.unwrap_or_else(rand::random);
        let switch = FaultKind::ALL
            .iter()
            .filter(|k| self.rates[**k as usize] > 0.0)
            .fold(u32::from(self.enabled), |s, k| s | kind_bit(*k));
        let inner = Arc::new(Inner {
            switch: AtomicU32::new(switch),
            thresholds: thresholds.map(AtomicU64::new),
            latency: arc_swap::ArcSwap::from_pointee(self.latency),
            error: self.error,
            behaviour: self.behaviour,
            seed,
            draws: Striped::new(),
            streams: AtomicU64::new(0),
            counts: Striped::new(),
            guard,
            clock: self.clock,
            listeners: self.listeners,
            name,
        });
        if let Some(g) = &inner.guard {
            g.restart(inner.clock.now(), 0);
        }
        #[cfg(feature = "metrics")]
        crate::telemetry::register(Arc::downgrade(&inner) as _);
        Ok(Chaos { inner })
    }
}

impl ChaosBuilder {
    /// Checks the settings as `build` does, building nothing.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for kind in FaultKind::ALL {
            threshold(&self.name, kind, self.rates[kind as usize])?;
        }
        if self.rates[FaultKind::Latency as usize] > 0.0 {
            self.latency.validate(&self.name)?;
        }
        Guard::new(&self.name, self.max_per_sec, self.max_share).map(drop)
    }
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.inner.name)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ChaosBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosBuilder")
            .field("name", &self.name)
            .field("rates", &self.rates)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "metrics")]
impl crate::telemetry::ExportMetrics for Inner {
    fn identity(&self) -> crate::telemetry::Identity<'_> {
        crate::telemetry::Identity {
            pattern: crate::telemetry::Pattern::Chaos,
            name: &self.name,
            listeners: Some(&self.listeners),
            now: self.clock.now(),
        }
    }

    fn export(&self) {
        let name = self.name.to_string();
        for kind in FaultKind::ALL {
            metrics::counter!("seawall_chaos_injected_total", "name" => name.clone(), "kind" => kind.as_str())
                .absolute(self.counts.sum(kind as usize));
        }
        metrics::gauge!("seawall_chaos_enabled", "name" => name)
            .set(f64::from(self.switch.load(Ordering::Relaxed) & ENABLED));
    }
}
