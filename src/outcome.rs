//! What a call's result means to a resilience pattern.
//!
//! Classification sees the inner service's typed `Result<Res, E>` before any
//! boxing, so an HTTP client can count 5xx as failures and 4xx as ignored:
//!
//! ```
//! use seawall::{Classify, Outcome};
//!
//! let by_status = |r: &Result<u16, std::io::Error>| match r {
//!     Ok(s) if *s >= 500 => Outcome::Failure,
//!     Ok(s) if *s >= 400 => Outcome::Ignored,
//!     Ok(_) => Outcome::Success,
//!     Err(_) => Outcome::Failure,
//! };
//! assert_eq!(by_status.classify(&Ok(503)), Outcome::Failure);
//! assert_eq!(by_status.classify(&Ok(404)), Outcome::Ignored);
//! ```

use crate::error::find_rejection;
use std::any::Any;
use std::error::Error;

/// The verdict on one call.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("search").build()?;
/// breaker.try_acquire()?.record(Outcome::Success);
/// breaker.try_acquire()?.record(Outcome::Ignored);   // e.g. a 404: neither good nor bad
/// assert_eq!(breaker.metrics().total_ignored, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency did its job.
    Success,
    /// The dependency failed; counts toward failure rates.
    Failure,
    /// Says nothing about the dependency's health (a 404, a local
    /// rejection); not counted at all.
    Ignored,
}

/// Decides the [`Outcome`] of a call from its typed result.
///
/// Any `Fn(&Result<Res, E>) -> Outcome` is a classifier.
///
/// ```
/// use seawall::prelude::*;
///
/// // Any `Fn(&Result<Res, E>) -> Outcome` classifies: 5xx fail, 4xx are ignored.
/// let by_status = |r: &Result<u16, std::io::Error>| match r {
///     Ok(s) if *s >= 500 => Outcome::Failure,
///     Ok(s) if *s >= 400 => Outcome::Ignored,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// };
/// assert_eq!(by_status.classify(&Ok(503)), Outcome::Failure);
/// assert_eq!(by_status.classify(&Ok(404)), Outcome::Ignored);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify a `Result<{Res}, {E}>`",
    label = "not a classifier for this service's result",
    note = "a classifier is a closure `Fn(&Result<{Res}, {E}>) -> Outcome`, `DefaultClassifier`, `HttpClassifier` (HTTP responses) or `GrpcClassifier`",
    note = "it sees the result of the service directly inside the layer: in a stack that is usually `Result<_, BoxError>`"
)]
pub trait Classify<Res, E> {
    /// The outcome of `result`.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;

    /// How long a circuit breaker should stay open because of `result`,
    /// when the result itself says so: a dependency's `Retry-After` on a
    /// 429 or 503 (the HTTP classifier's `open_for_retry_after`).
    /// The breaker then opens until then (or stays open at least that
    /// long), whatever its rates. Asked only of results not classified as a
    /// success. Default: never.
    #[inline]
    fn open_for(&self, result: &Result<Res, E>) -> Option<std::time::Duration> {
        let _ = result;
        None
    }
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// The classifier every layer uses unless told otherwise: `Ok` is a success;
/// an error is a failure, except seawall's own local rejections from layers
/// further in (`BulkheadFull`, `RateLimited`, `CircuitOpen`, ...), which say
/// nothing about the dependency and are [`Outcome::Ignored`]. A timeout
/// (seawall's `Elapsed` or tower's) stays a failure.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::DefaultClassifier;
///
/// let c = DefaultClassifier;
/// assert_eq!(c.classify(&Ok::<_, BoxError>(())), Outcome::Success);
/// // A seawall rejection from further in is not the dependency's fault:
/// let limited: BoxError = Box::new(seawall::RateLimited::new("api".into(), Duration::from_secs(1)));
/// assert_eq!(c.classify(&Err::<(), _>(limited)), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<Res, E: 'static> Classify<Res, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => classify_error(e),
        }
    }
}

/// The default verdict on an error: see [`DefaultClassifier`].
pub fn classify_error<E: 'static>(error: &E) -> Outcome {
    let any = error as &dyn Any;
    let dyn_err: Option<&(dyn Error + 'static)> =
        if let Some(boxed) = any.downcast_ref::<tower::BoxError>() {
            Some(&**boxed)
        } else if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send>>() {
            Some(&**boxed)
        } else if let Some(boxed) = any.downcast_ref::<Box<dyn Error>>() {
            Some(&**boxed)
        } else {
            None
        };
    match dyn_err.and_then(find_rejection) {
        Some(r) if !r.is_dependency_failure() => Outcome::Ignored,
        Some(_) => Outcome::Failure,
        None => Outcome::Failure,
    }
}

/// A classifier from a predicate on the error: `Ok` is a success, an error
/// is a failure when `predicate` says so and ignored otherwise (resilience4j's
/// `recordException` / `ignoreExceptions`).
///
/// ```
/// use seawall::{outcome::record_errors_where, Classify, Outcome};
/// use std::io::{Error, ErrorKind};
///
/// let c = record_errors_where(|e: &Error| e.kind() != ErrorKind::NotFound);
/// assert_eq!(c.classify(&Err::<(), _>(Error::from(ErrorKind::NotFound))), Outcome::Ignored);
/// assert_eq!(c.classify(&Err::<(), _>(Error::from(ErrorKind::TimedOut))), Outcome::Failure);
/// ```
pub fn record_errors_where<P>(predicate: P) -> RecordErrorsWhere<P> {
    RecordErrorsWhere { predicate }
}

/// See [`record_errors_where`].
///
/// ```
/// use seawall::outcome::record_errors_where;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// // Not-found is the caller's problem, not the dependency's.
/// let breaker = CircuitBreaker::builder("files")
///     .classify(record_errors_where(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound))
///     .build()?;
/// # let _ = breaker; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RecordErrorsWhere<P> {
    predicate: P,
}

impl<Res, E, P: Fn(&E) -> bool> Classify<Res, E> for RecordErrorsWhere<P> {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if (self.predicate)(e) => Outcome::Failure,
            Err(_) => Outcome::Ignored,
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::error::CircuitOpen;
    use std::sync::Arc;

    #[test]
    fn default_ignores_local_rejections_in_a_box_error() {
        let open: tower::BoxError = Box::new(CircuitOpen::new(Arc::from("inner"), None));
        assert_eq!(
            DefaultClassifier.classify(&Err::<(), _>(open)),
            Outcome::Ignored
        );
        let io: tower::BoxError = Box::new(std::io::Error::other("boom"));
        assert_eq!(
            DefaultClassifier.classify(&Err::<(), _>(io)),
            Outcome::Failure
        );
        assert_eq!(
            DefaultClassifier.classify(&Ok::<_, tower::BoxError>(())),
            Outcome::Success
        );
    }

    #[test]
    fn default_counts_tower_timeouts_as_failures() {
        let elapsed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(
            DefaultClassifier.classify(&Err::<(), _>(elapsed)),
            Outcome::Failure
        );
    }

    #[test]
    fn default_counts_plain_errors_as_failures() {
        let e = std::io::Error::other("x");
        assert_eq!(
            DefaultClassifier.classify(&Err::<(), _>(e)),
            Outcome::Failure
        );
    }
}
