//! The errors a retry returns when it gives up.

use super::GaveUp;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use tower::BoxError;

/// The last error of a retry loop run by [`Retry::call`](super::Retry::call),
/// with how many attempts were made and why it stopped.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::retry::GaveUp;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("inventory").max_attempts(3).no_budget().build()?;
/// let err = retry
///     .call(|_attempt| async { Err::<(), _>(std::io::Error::other("down")) })
///     .await
///     .unwrap_err();
/// assert_eq!((err.attempts, err.gave_up), (3, GaveUp::AttemptsExhausted));
/// assert_eq!(err.error.to_string(), "down");
/// # Ok(()) }
/// ```
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
