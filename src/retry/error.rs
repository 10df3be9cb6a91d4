//! The errors a retry returns when it gives up.

use super::GaveUp;
use crate::error::{Rejection, RejectionKind};
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use tower::BoxError;

/// The last error of a retry loop run by [`Retry::call`](super::Retry::call),
/// with how many attempts were made and why it stopped.
#[derive(Debug)]
pub struct RetryError<E> {
    /// The last attempt's error.
    pub error: E,
    /// Attempts made.
    pub attempts: u32,
    /// Why no further attempt was made.
    pub gave_up: GaveUp,
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (after {} attempts; {:?})",
            self.error, self.attempts, self.gave_up
        )
    }
}

/// An error for any `E` that prints, so `?` works in functions returning
/// `Result<_, BoxError>` or `anyhow::Result` whatever the attempts' error
/// type (`BoxError` and `anyhow::Error` are not `std::error::Error`
/// themselves). The [`source`](Error::source) is the last attempt's error
/// when it can be seen as one: a boxed error (`BoxError`,
/// `Box<dyn Error + Send>`, `Box<dyn Error>`, `Arc<dyn Error + Send +
/// Sync>`) or an `io::Error`; use [`RetryError::error`] for the rest.
impl<E: fmt::Debug + fmt::Display + 'static> Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let any = &self.error as &dyn std::any::Any;
        if let Some(e) = any.downcast_ref::<BoxError>() {
            return Some(&**e);
        }
        if let Some(e) = any.downcast_ref::<Box<dyn Error + Send>>() {
            return Some(&**e);
        }
        if let Some(e) = any.downcast_ref::<Box<dyn Error>>() {
            return Some(&**e);
        }
        if let Some(e) = any.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            return Some(&**e);
        }
        any.downcast_ref::<std::io::Error>().map(|e| e as _)
    }
}

/// The retry layer gave up on a failing call: attempts or deadline used up,
/// or the budget refused another attempt. The last attempt's error is the
/// [`source`](Error::source), so `seawall::rejection` and error-chain walks
/// still find it. (Errors that are not retried at all — a stop signal, an
/// error the predicate rejects — come back unwrapped.)
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
