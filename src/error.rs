//! The errors seawall returns: one public type per rejection, a common
//! [`Rejection`] view of them, and [`ConfigError`] for invalid configuration.
//!
//! Layers return `tower::BoxError`, like tower's own middleware; find out
//! whether (and why) seawall rejected a call with [`rejection`]:
//!
//! ```
//! use seawall::{rejection, RejectionKind};
//! # let err: tower::BoxError = Box::new(seawall::CircuitOpen::new("payments".into(), None));
//! if let Some(r) = rejection(&err) {
//!     assert_eq!(r.kind(), RejectionKind::CircuitOpen);
//!     assert_eq!(r.name(), "payments");
//! }
//! ```

use crate::telemetry::GaveUp;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tower::BoxError;

/// What kind of rejection a [`Rejection`] is.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(1)).build()?;
/// limiter.try_acquire()?;
/// let err: BoxError = Box::new(limiter.try_acquire().unwrap_err());
/// let status = match seawall::rejection(&err).map(|r| r.kind()) {
///     Some(RejectionKind::RateLimited) => 429,
///     Some(RejectionKind::Elapsed) => 504,
///     Some(_) => 503,
///     None => 500, // not seawall's: the dependency's own error
/// };
/// assert_eq!(status, 429);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// A circuit breaker refused the call ([`CircuitOpen`]).
    CircuitOpen,
    /// A rate limiter refused the call ([`RateLimited`]).
    RateLimited,
    /// A bulkhead had no free slot ([`BulkheadFull`]).
    BulkheadFull,
    /// A call ran past its timeout ([`Elapsed`]).
    Elapsed,
    /// A degradation switch has the feature disabled ([`FeatureDisabled`]).
    FeatureDisabled,
    /// A keyed limiter tracks as many keys as it may and none can be
    /// evicted ([`KeyLimitReached`]).
    KeyLimitReached,
    /// A retry gave up: attempts, deadline or budget exhausted
    /// ([`RetriesExhausted`]).
    RetriesExhausted,
    /// A fault injector failed the call on purpose ([`Injected`]).
    Injected,
    /// Refused locally because the dependency, or this service, is
    /// overloaded: a client-side throttle's draw ([`Overloaded`]).
    Overloaded,
}

/// The view common to every rejection seawall produces.
///
/// ```
/// use seawall::prelude::*;
///
/// let err: BoxError = Box::new(seawall::CircuitOpen::new("payments".into(), Some(Duration::from_secs(5))));
/// let r: &dyn Rejection = seawall::rejection(&err).expect("seawall's");
/// assert_eq!((r.kind(), r.name()), (RejectionKind::CircuitOpen, "payments"));
/// assert_eq!(r.retry_after(), Some(Duration::from_secs(5)));
/// ```
pub trait Rejection: Error + Send + Sync + 'static {
    /// Which pattern rejected the call.
    fn kind(&self) -> RejectionKind;
    /// The name of the instance that rejected it.
    fn name(&self) -> &str;
    /// How long to wait before trying again, when known.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// Whether this rejection says the dependency itself failed (a timeout
    /// does) rather than a local decision (an open breaker, a full bulkhead).
    /// Decides the default classification in an enclosing layer.
    fn is_dependency_failure(&self) -> bool {
        false
    }
}

/// Finds seawall's rejection in a `BoxError`, walking its source chain.
pub fn rejection(error: &tower::BoxError) -> Option<&dyn Rejection> {
    find_rejection(&**error)
}

/// Like [`rejection`], for any `dyn Error`.
pub fn find_rejection<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a dyn Rejection> {
    let mut current = Some(error);
    while let Some(e) = current {
        // A `dyn Error` cannot be downcast to a trait, so try each type.
        if let Some(r) = e.downcast_ref::<CircuitOpen>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<RateLimited>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<KeyLimitReached>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<BulkheadFull>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<Elapsed>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<FeatureDisabled>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<RetriesExhausted>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<Injected>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<Overloaded>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

/// A circuit breaker rejected the call: it is open (or forced open, or
/// half-open with every probe slot taken).
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// breaker.force_open();
/// let open: CircuitOpen = breaker.try_acquire().unwrap_err();
/// assert_eq!(open.to_string(), "circuit breaker `payments` is open");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitOpen {
    name: Arc<str>,
    retry_after: Option<Duration>,
}

impl CircuitOpen {
    /// A rejection by the breaker `name`, open for `retry_after` more.
    pub fn new(name: Arc<str>, retry_after: Option<Duration>) -> Self {
        Self { name, retry_after }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}` is open", self.name)?;
        if let Some(d) = self.retry_after {
            write!(f, "; retry after {d:?}")?;
        }
        Ok(())
    }
}

impl Error for CircuitOpen {}

impl Rejection for CircuitOpen {
    fn kind(&self) -> RejectionKind {
        RejectionKind::CircuitOpen
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A rate limiter rejected the call: it would fit in `retry_after`.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(1)).build()?;
/// limiter.try_acquire()?;
/// let limited: RateLimited = limiter.try_acquire().unwrap_err();
/// assert!(limited.retry_after().unwrap() <= Duration::from_secs(1)); // when to come back
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimited {
    name: Arc<str>,
    retry_after: Duration,
}

impl RateLimited {
    /// A rejection by the limiter `name`; the call would fit after `retry_after`.
    pub fn new(name: Arc<str>, retry_after: Duration) -> Self {
        Self { name, retry_after }
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limiter `{}` rejected the call; retry after {:?}",
            self.name, self.retry_after
        )
    }
}

impl Error for RateLimited {}

impl Rejection for RateLimited {
    fn kind(&self) -> RejectionKind {
        RejectionKind::RateLimited
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn retry_after(&self) -> Option<Duration> {
        Some(self.retry_after)
    }
}

/// A keyed limiter already tracks `max_keys` keys, none of which has
/// returned to full (evicting one would hand it a free burst), so a new key
/// is refused.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let per_tenant = KeyedBulkhead::new("tenants", 1, 1)?; // one key tracked at most
/// let _busy = per_tenant.try_acquire(&"acme")?;
/// let err = per_tenant.try_acquire(&"globex").unwrap_err(); // a new key, the map full of busy ones
/// assert!(err.to_string().contains("tenants"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KeyLimitReached {
    name: Arc<str>,
    max_keys: usize,
}

impl KeyLimitReached {
    /// A refusal by the keyed limiter `name`, full at `max_keys`.
    pub fn new(name: Arc<str>, max_keys: usize) -> Self {
        Self { name, max_keys }
    }
}

impl fmt::Display for KeyLimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limiter `{}` tracks its maximum of {} keys and none is idle",
            self.name, self.max_keys
        )
    }
}

impl Error for KeyLimitReached {}

impl Rejection for KeyLimitReached {
    fn kind(&self) -> RejectionKind {
        RejectionKind::KeyLimitReached
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A bulkhead had no free slot (or none freed within its `max_wait`).
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("reports").max_concurrent_calls(1).build()?;
/// let _slot = bulkhead.try_acquire()?;
/// let full: BulkheadFull = bulkhead.try_acquire().unwrap_err();
/// assert_eq!(full.kind(), RejectionKind::BulkheadFull);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadFull {
    name: Arc<str>,
    max_concurrent_calls: usize,
}

impl BulkheadFull {
    /// A refusal by the bulkhead `name`, full at `max_concurrent_calls`.
    pub fn new(name: Arc<str>, max_concurrent_calls: usize) -> Self {
        Self {
            name,
            max_concurrent_calls,
        }
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead `{}` is full ({} calls in flight)",
            self.name, self.max_concurrent_calls
        )
    }
}

impl Error for BulkheadFull {}

impl Rejection for BulkheadFull {
    fn kind(&self) -> RejectionKind {
        RejectionKind::BulkheadFull
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A call ran past its timeout and was abandoned.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = Timeout::builder("db").duration(Duration::from_secs(1)).build()?.layer(service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, BoxError>(())
/// }));
/// let err = svc.ready().await?.call(()).await.unwrap_err();
/// let elapsed = err.downcast_ref::<Elapsed>().expect("timed out");
/// assert_eq!(elapsed.name(), "db");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Elapsed {
    name: Arc<str>,
    after: Duration,
}

impl Elapsed {
    /// The timeout `name` fired after `after`.
    pub fn new(name: Arc<str>, after: Duration) -> Self {
        Self { name, after }
    }

    /// The timeout that fired.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timeout `{}` elapsed after {:?}", self.name, self.after)
    }
}

impl Error for Elapsed {}

impl Rejection for Elapsed {
    fn kind(&self) -> RejectionKind {
        RejectionKind::Elapsed
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// A timeout says the dependency was too slow: an enclosing breaker
    /// counts it as a failure.
    fn is_dependency_failure(&self) -> bool {
        true
    }
}

/// A fault injector (`seawall::chaos::Chaos`) failed the call on
/// purpose. It stands for a failure of the dependency: breakers count it
/// as a failure and retries retry it, as they would a real one.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let err: BoxError = Box::new(seawall::Injected::new("game-day".into()));
/// // A fault injector's error counts as the dependency's failure, as a real one would.
/// assert!(seawall::rejection(&err).unwrap().is_dependency_failure());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Injected {
    name: Arc<str>,
}

impl Injected {
    /// A fault injected by `name`.
    pub fn new(name: Arc<str>) -> Self {
        Self { name }
    }
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault injected by chaos `{}`", self.name)
    }
}

impl Error for Injected {}

impl Rejection for Injected {
    fn kind(&self) -> RejectionKind {
        RejectionKind::Injected
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// It plays a failed dependency: an enclosing breaker counts it.
    fn is_dependency_failure(&self) -> bool {
        true
    }
}

/// Refused locally because the dependency (or this service) is overloaded:
/// an adaptive throttle drew this call to be dropped, an adaptive
/// concurrency limit was reached, or a load shedder shed the call's
/// priority. A local decision: breakers ignore it, retries do not retry it.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let shedder = LoadShedder::builder("api").max_in_flight(1).build()?;
/// let _running = shedder.try_acquire(Priority::DEFAULT)?;
/// let shed: Overloaded = shedder.try_acquire(Priority::DEFAULT).unwrap_err();
/// assert_eq!(shed.kind(), RejectionKind::Overloaded);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Overloaded {
    name: Arc<str>,
    why: &'static str,
    retry_after: Option<Duration>,
    priority: Option<u8>,
}

impl Overloaded {
    /// A refusal by `name`, saying why (e.g. "throttled: the dependency
    /// accepts too few calls").
    pub fn new(name: Arc<str>, why: &'static str) -> Self {
        Self {
            name,
            why,
            retry_after: None,
            priority: None,
        }
    }

    /// With a hint of when to try again.
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// Saying which priority was shed.
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The priority shed, when a load shedder refused the call.
    pub fn priority(&self) -> Option<u8> {
        self.priority
    }

    /// Why the call was refused.
    pub fn reason(&self) -> &'static str {
        self.why
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` refused the call: {}", self.name, self.why)?;
        if let Some(p) = self.priority {
            write!(f, " (priority {p})")?;
        }
        Ok(())
    }
}

impl Error for Overloaded {}

impl Rejection for Overloaded {
    fn kind(&self) -> RejectionKind {
        RejectionKind::Overloaded
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A degradation switch has this feature disabled (an operator's kill
/// switch): the call was not made. Distinct from a breaker's `Disabled`
/// state, which lets calls through.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let switch = DegradationSwitch::builder("storefront").build();
/// let recs = switch.feature("recommendations");
/// recs.set(FeatureState::Disabled, "incident 4711");
/// let mut svc = recs
///     .layer(|_user: u32| async { Ok::<_, BoxError>("bestsellers") })
///     .layer(service_fn(|_user: u32| async { Ok::<_, BoxError>("for you") }));
/// let err = svc.ready().await?.call(7).await.unwrap_err();
/// assert!(err.downcast_ref::<seawall::FeatureDisabled>().is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FeatureDisabled {
    name: Arc<str>,
    feature: Arc<str>,
}

impl FeatureDisabled {
    /// The switch `name` has `feature` disabled.
    pub fn new(name: Arc<str>, feature: Arc<str>) -> Self {
        Self { name, feature }
    }

    /// The disabled feature.
    pub fn feature(&self) -> &str {
        &self.feature
    }
}

impl fmt::Display for FeatureDisabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feature `{}` of switch `{}` is disabled",
            self.feature, self.name
        )
    }
}

impl Error for FeatureDisabled {}

impl Rejection for FeatureDisabled {
    fn kind(&self) -> RejectionKind {
        RejectionKind::FeatureDisabled
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A request for more tokens than the limiter's burst can ever hold: it
/// could never be admitted, so it fails at once instead of waiting forever.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::rate_limit::LimitError;
///
/// # fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(10, Duration::from_secs(1)).burst(5).build()?;
/// let Err(LimitError::Capacity(c)) = limiter.try_acquire_n(8) else { panic!("8 > burst") };
/// assert_eq!((c.requested, c.capacity), (8, 5));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientCapacity {
    /// Tokens requested.
    pub requested: u32,
    /// The most one call can ever take (the burst, or the window's limit).
    pub capacity: u32,
}

impl fmt::Display for InsufficientCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requested {} tokens but at most {} fit at once",
            self.requested, self.capacity
        )
    }
}

impl Error for InsufficientCapacity {}

/// Invalid configuration: names the instance, the field and the bound it broke.
///
/// ```
/// use seawall::prelude::*;
///
/// let err = Bulkhead::builder("reports").max_concurrent_calls(0).build().unwrap_err();
/// assert_eq!((err.instance(), err.field()), ("reports", "max_concurrent_calls"));
/// println!("{err}"); // names the instance, the field and what it must be
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    instance: Arc<str>,
    field: &'static str,
    message: String,
    line: Option<usize>,
}

impl ConfigError {
    pub(crate) fn new(
        instance: &Arc<str>,
        field: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            instance: instance.clone(),
            field,
            message: message.into(),
            line: None,
        }
    }

    /// The same error, at `line` of a file.
    #[cfg(feature = "config")]
    pub(crate) fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// The line of the file where the value at fault is set, when the
    /// error came from a file whose format tells it (1-based).
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The configuration field at fault, e.g. `"failure_rate_threshold"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The name of the instance being built.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The bound the value broke, with the value.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration for `{}`: {} {}",
            self.instance, self.field, self.message
        )?;
        match self.line {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

impl Error for ConfigError {}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(CircuitOpen);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn rejection_is_found_through_the_source_chain() {
        let open = CircuitOpen::new("db".into(), Some(Duration::from_secs(3)));
        let err: tower::BoxError = Box::new(Wrapper(open));
        let r = rejection(&err).expect("found");
        assert_eq!(r.kind(), RejectionKind::CircuitOpen);
        assert_eq!(r.name(), "db");
        assert_eq!(r.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            r.to_string(),
            "circuit breaker `db` is open; retry after 3s"
        );
    }

    #[test]
    fn other_errors_are_not_rejections() {
        let err: tower::BoxError = "boom".into();
        assert!(rejection(&err).is_none());
    }
}

/// The retry layer gave up on a failing call: attempts or deadline used up,
/// or the budget refused another attempt. The last attempt's error is the
/// [`source`](Error::source), so [`rejection`] and error-chain walks
/// still find it. (Errors that are not retried at all — a stop signal, an
/// error the predicate rejects — come back unwrapped.)
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("inventory").max_attempts(3).no_budget().build()?;
/// let mut svc = retry.layer().layer(service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) }));
/// let err = svc.ready().await?.call(()).await.unwrap_err();
/// let gave_up = err.downcast_ref::<RetriesExhausted>().expect("gave up");
/// assert_eq!(gave_up.attempts(), 3);
/// assert_eq!(gave_up.last_error().to_string(), "down");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RetriesExhausted {
    name: Arc<str>,
    attempts: u32,
    gave_up: GaveUp,
    source: BoxError,
}

impl RetriesExhausted {
    pub(crate) fn new(name: Arc<str>, attempts: u32, gave_up: GaveUp, source: BoxError) -> Self {
        Self {
            name,
            attempts,
            gave_up,
            source,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why no further attempt was made.
    pub fn gave_up(&self) -> GaveUp {
        self.gave_up
    }

    /// The last attempt's error.
    pub fn last_error(&self) -> &BoxError {
        &self.source
    }

    /// The last attempt's error, owned.
    pub fn into_last_error(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for RetriesExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.gave_up {
            GaveUp::BudgetExhausted => "retry budget exhausted",
            GaveUp::DeadlineExceeded => "no time left before the deadline",
            _ => "attempts exhausted",
        };
        write!(
            f,
            "retry `{}` gave up after {} attempt{} ({why}): {}",
            self.name,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.source
        )
    }
}

impl Error for RetriesExhausted {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

impl Rejection for RetriesExhausted {
    fn kind(&self) -> RejectionKind {
        RejectionKind::RetriesExhausted
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// The dependency kept failing: an enclosing breaker counts it.
    fn is_dependency_failure(&self) -> bool {
        true
    }
}
