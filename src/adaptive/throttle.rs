//! Client-side adaptive throttling: see the [module docs](super).

use crate::clock::ClockHandle;
use crate::error::{ConfigError, Overloaded};
use crate::future::{AdmitFuture, Settled};
use crate::outcome::{Classify, DefaultClassifier, Outcome};
use crate::stripes::{Handle, Handles, Striped};
use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Bins the window is kept in.
pub(super) const BINS: usize = 20;

/// A thread recomputes the drop probability on its first call in a bin and
/// every `REFRESH` calls after: summing the window (every bin of every
/// thread's stripe) costs far more than a call, and `p` moves by about
/// `1 / requests` a call.
const REFRESH: u64 = 64;

pub(super) struct Inner {
    pub(super) name: Arc<str>,
    /// `f64` bits: changed by a reconfiguration, read when `p` is recomputed.
    pub(super) k: AtomicU64,
    /// `f64` bits, as `k`.
    pub(super) max_reject: AtomicU64,
    pub(super) bin_ns: u64,
    /// The window number each bin holds (`u64::MAX`: none yet).
    epochs: [AtomicU64; BINS],
    /// Per thread: requests of bin `b` at `2b`, accepts at `2b + 1`.
    counts: Striped<{ 2 * BINS }>,
    /// The drop probability last computed, as `f64` bits.
    p_bits: AtomicU64,
    draws: AtomicU64,
    pub(super) seed: u64,
    dropped: AtomicU64,
    clock: ClockHandle,
}

/// Client-side adaptive throttling (see the [module docs](super)); a
/// cheap `Clone` handle shared by every service its layer makes.
///
/// ```
/// use seawall::adaptive::AdaptiveThrottle;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let throttle = AdaptiveThrottle::builder("search").seed(7).build()?;
/// // The dependency refused the last 100 calls: most are now dropped here.
/// for _ in 0..100 {
///     throttle.try_acquire().map(|t| t.record(false)).ok();
/// }
/// assert!(throttle.reject_probability() > 0.8);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdaptiveThrottle {
    // Shared state, with per-thread handles for the tickets.
    pub(super) inner: Handles<Inner>,
}

impl fmt::Debug for AdaptiveThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottle")
            .field("name", &self.inner.name)
            .field("reject_probability", &self.reject_probability())
            .finish()
    }
}

/// A call let through, to be told whether the dependency accepted it.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let throttle = AdaptiveThrottle::builder("backend").build()?;
/// let ticket = throttle.try_acquire()?;
/// ticket.record(true);                         // the backend accepted the call
/// assert_eq!(throttle.window_counts(), (1, 1)); // requests, accepts
/// # Ok(()) }
/// ```
#[must_use = "record whether the dependency accepted the call"]
pub struct Ticket {
    inner: Arc<Handle<Inner>>,
    at: u64,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("throttle", &self.inner.name)
            .field("at", &self.at)
            .finish()
    }
}

impl Ticket {
    /// The dependency accepted the call (`true`) or refused it.
    pub fn record(self, accepted: bool) {
        let inner = &self.inner;
        let epoch = self.at / inner.bin_ns;
        let b = (epoch % BINS as u64) as usize;
        // An answer that outlived its bin counts for nothing.
        if accepted && inner.epochs[b].load(Ordering::Acquire) == epoch {
            inner.counts.add(2 * b + 1, 1);
        }
    }
}

impl Inner {
    /// The bin for clock time `at` (its window number and index), cleared
    /// if it held an older window.
    #[inline]
    fn bin(&self, at: u64) -> (u64, usize) {
        let epoch = at / self.bin_ns;
        let b = (epoch % BINS as u64) as usize;
        let seen = self.epochs[b].load(Ordering::Acquire);
        if seen != epoch {
            self.rotate(b, seen, epoch);
        }
        (epoch, b)
    }

    #[cold]
    fn rotate(&self, b: usize, seen: u64, epoch: u64) {
        let newer = seen < epoch || seen == u64::MAX;
        let won = newer
            && self.epochs[b]
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if won {
            // A count landing on another thread's stripe meanwhile may be
            // lost: the window is an estimate, not a ledger.
            for stripe in self.counts.all() {
                stripe[2 * b].store(0, Ordering::Relaxed);
                stripe[2 * b + 1].store(0, Ordering::Relaxed);
            }
        }
    }

    /// Requests and accepts over the window ending at `now`.
    fn totals(&self, now: u64) -> (u64, u64) {
        let current = now / self.bin_ns;
        let oldest = current.saturating_sub(BINS as u64 - 1);
        let live = |b: usize| (oldest..=current).contains(&self.epochs[b].load(Ordering::Acquire));
        let live: [bool; BINS] = std::array::from_fn(live);
        let (mut requests, mut accepts) = (0, 0);
        for stripe in self.counts.all() {
            for b in (0..BINS).filter(|&b| live[b]) {
                requests += stripe[2 * b].load(Ordering::Relaxed);
                accepts += stripe[2 * b + 1].load(Ordering::Relaxed);
            }
        }
        (requests, accepts)
    }

    fn probability(&self, now: u64) -> f64 {
        let (requests, accepts) = self.totals(now);
        let k = f64::from_bits(self.k.load(Ordering::Relaxed));
        let p = (requests as f64 - k * accepts as f64) / (requests as f64 + 1.0);
        p.clamp(0.0, f64::from_bits(self.max_reject.load(Ordering::Relaxed)))
    }

    /// A uniform draw in [0, 1): the `n`-th of this throttle's stream.
    fn draw(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        // SplitMix64 of seed + n·γ.
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl AdaptiveThrottle {
    /// Starts configuring a throttle; `name` labels its refusals.
    pub fn builder(name: &str) -> AdaptiveThrottleBuilder {
        AdaptiveThrottleBuilder {
            name: Arc::from(name),
            k: 2.0,
            max_reject: 0.9,
            window: Duration::from_secs(120),
            seed: None,
            clock: ClockHandle::default(),
        }
    }

    /// Counts a call; lets it through (a [`Ticket`] to record the
    /// dependency's answer on) or drops it with [`Overloaded`].
    pub fn try_acquire(&self) -> Result<Ticket, Overloaded> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let (_, b) = inner.bin(now);
        // This thread's requests in the bin so far: the first, and every
        // `REFRESH`-th, recomputes the probability.
        let stripe = inner.counts.mine();
        let before = match stripe {
            Some(stripe) => stripe[2 * b].load(Ordering::Relaxed),
            None => inner.counts.shared(2 * b).load(Ordering::Relaxed),
        };
        // The probability is of the window before this call counts itself.
        let p = if before % REFRESH == 0 {
            let p = inner.probability(now);
            inner.p_bits.store(p.to_bits(), Ordering::Relaxed);
            p
        } else {
            f64::from_bits(inner.p_bits.load(Ordering::Relaxed))
        };
        match stripe {
            Some(stripe) => stripe[2 * b].store(before + 1, Ordering::Relaxed),
            None => drop(inner.counts.shared(2 * b).fetch_add(1, Ordering::Relaxed)),
        }
        if p > 0.0 && inner.draw() < p {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Overloaded::new(
                inner.name.clone(),
                "throttled: the dependency accepts too few calls",
            ));
        }
        Ok(Ticket {
            inner: self.inner.get().clone(),
            at: now,
        })
    }

    /// The probability a call is dropped now.
    pub fn reject_probability(&self) -> f64 {
        self.inner.probability(self.inner.clock.now())
    }

    /// Requests and accepts over the window now.
    pub fn window_counts(&self) -> (u64, u64) {
        self.inner.totals(self.inner.clock.now())
    }

    /// Calls dropped since built.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The tower layer: an answer the classifier calls a `Failure` is a
    /// refusal (with HTTP give it one that counts 429 and 503, e.g.
    /// `HttpClassifier::new().failure(StatusCode::TOO_MANY_REQUESTS)`).
    pub fn layer(&self) -> AdaptiveThrottleLayer {
        AdaptiveThrottleLayer {
            throttle: self.clone(),
            classify: DefaultClassifier,
        }
    }
}

/// Configures an [`AdaptiveThrottle`].
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let throttle = AdaptiveThrottle::builder("backend")
///     .k(2.0)                                  // allow twice the accepted load
///     .max_reject(0.9)                         // never drop more than 90%
///     .window(Duration::from_secs(120))
///     .build()?;
/// # let _ = throttle; Ok(()) }
/// ```
pub struct AdaptiveThrottleBuilder {
    name: Arc<str>,
    pub(super) k: f64,
    pub(super) max_reject: f64,
    window: Duration,
    pub(super) seed: Option<u64>,
    clock: ClockHandle,
}

impl fmt::Debug for AdaptiveThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottleBuilder")
            .field("name", &self.name)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

impl AdaptiveThrottleBuilder {
    /// The multiplier `K` (default 2, at least 1): the client lets through
    /// about `K` times what the dependency accepts.
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// The highest drop probability (default 0.9; in [0, 1]).
    pub fn max_reject(mut self, p: f64) -> Self {
        self.max_reject = p;
        self
    }

    /// The rolling window (default 2 minutes), kept in 20 bins.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Seeds the draws (default: from the OS), for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The clock the window is kept on (default: tokio's when time is
    /// paused, else the fastest monotonic one).
    pub fn clock(mut self, clock: impl Into<ClockHandle>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<AdaptiveThrottle, ConfigError> {
        let bin_ns = self.validate()?;
        Ok(AdaptiveThrottle {
            inner: Handles::new(Arc::new(Inner {
                name: self.name,
                k: AtomicU64::new(self.k.to_bits()),
                max_reject: AtomicU64::new(self.max_reject.to_bits()),
                bin_ns,
                epochs: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
                counts: Striped::new(),
                p_bits: AtomicU64::new(0f64.to_bits()),
                draws: AtomicU64::new(0),
                seed: self.seed.unwrap_or_else(rand::random),
                dropped: AtomicU64::new(0),
                clock: self.clock,
            })),
        })
    }

    /// Checks the settings; the width of a bin of the window.
    pub(crate) fn validate(&self) -> Result<u64, ConfigError> {
        let bad = |field: &'static str, why: String| Err(ConfigError::new(&self.name, field, why));
        if !(self.k.is_finite() && self.k >= 1.0) {
            return bad("k", format!("must be at least 1, got {}", self.k));
        }
        if !(0.0..=1.0).contains(&self.max_reject) {
            return bad(
                "max_reject",
                format!("must be in [0, 1], got {}", self.max_reject),
            );
        }
        let bin_ns = crate::clock::nanos(self.window) / BINS as u64;
        if bin_ns == 0 {
            return bad(
                "window",
                format!("must be at least {BINS} ns, got {:?}", self.window),
            );
        }
        Ok(bin_ns)
    }
}

/// Throttles the calls of the service inside it; made by
/// [`AdaptiveThrottle::layer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let throttle = AdaptiveThrottle::builder("backend").build()?;
/// let client = ServiceBuilder::new()
///     .layer(throttle.layer().classify(seawall::http::HttpClassifier::new())) // a 5xx is a refusal
///     .service(tower::service_fn(|_req: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::new()))
///     }));
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveThrottleLayer<C = DefaultClassifier> {
    throttle: AdaptiveThrottle,
    classify: C,
}

impl<C> AdaptiveThrottleLayer<C> {
    /// What a refusal by the dependency is: an answer the classifier calls
    /// a `Failure` (default: an `Err`).
    pub fn classify<C2>(self, classify: C2) -> AdaptiveThrottleLayer<C2> {
        AdaptiveThrottleLayer {
            throttle: self.throttle,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for AdaptiveThrottleLayer<C> {
    type Service = AdaptiveThrottleService<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveThrottleService {
            inner,
            throttle: self.throttle.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// Made by [`AdaptiveThrottleLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let throttle = AdaptiveThrottle::builder("backend").build()?;
/// let mut svc = throttle.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert_eq!(throttle.window_counts(), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveThrottleService<S, C = DefaultClassifier> {
    inner: S,
    throttle: AdaptiveThrottle,
    classify: C,
}

impl<S, Req, C> Service<Req> for AdaptiveThrottleService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ThrottleFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.throttle.try_acquire() {
            Ok(ticket) => AdmitFuture::called(Settled::new(
                self.inner.call(req),
                Judged {
                    ticket,
                    classify: self.classify.clone(),
                },
            )),
            Err(dropped) => AdmitFuture::rejected(Box::new(dropped)),
        }
    }
}

/// The future of [`AdaptiveThrottleService`]: a ready drop, or the call,
/// whose answer is then judged accepted or refused.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let throttle = AdaptiveThrottle::builder("backend").build()?;
/// let mut svc = throttle.layer().layer(service_fn(|_: ()| async { Err::<(), BoxError>("refused".into()) }));
/// let future = svc.ready().await?.call(()); // records the verdict when it ends
/// let _ = future.await;
/// assert_eq!(throttle.window_counts(), (1, 0));
/// # Ok(()) }
/// ```
pub type ThrottleFuture<F, C> = AdmitFuture<Settled<F, Judged<C>>>;

/// A ticket and the classifier that will judge its call's answer.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // A ticket with the classifier that will judge its call, inside the future.
/// let throttle = AdaptiveThrottle::builder("backend").build()?;
/// let mut svc = throttle
///     .layer()
///     .classify(|r: &Result<u16, BoxError>| if matches!(r, Ok(503)) { Outcome::Failure } else { Outcome::Success })
///     .layer(service_fn(|_: ()| async { Ok::<u16, BoxError>(503) }));
/// svc.ready().await?.call(()).await?;
/// assert_eq!(throttle.window_counts(), (1, 0)); // a 503 is no accept
/// # Ok(()) }
/// ```
pub struct Judged<C> {
    ticket: Ticket,
    classify: C,
}

impl<T, C: Classify<T, BoxError>> crate::waiting::Settle<T> for Judged<C> {
    #[inline]
    fn settle(self, result: &Result<T, BoxError>) {
        self.ticket
            .record(self.classify.classify(result) != Outcome::Failure);
    }
}

impl<C> fmt::Debug for Judged<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ticket.fmt(f)
    }
}
