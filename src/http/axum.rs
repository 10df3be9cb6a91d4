//! axum (feature `axum`): seawall's errors as `IntoResponse`, so a handler
//! that calls a protected client can `?` its errors into answers.

use super::RejectionResponse;
use crate::error::Rejection;
use axum_core::response::{IntoResponse, Response};
use std::fmt;
use tower::BoxError;

/// An error a handler answers with: seawall's rejection, or any error,
/// answered as [`RejectionResponse::new`] answers it (429/503/504 with
/// `Retry-After`, 500 otherwise; the reason phrase as the body). `?`
/// turns a `BoxError` or a seawall rejection into one.
///
/// ```
/// use axum::{routing::get, Router};
/// use seawall::http::Rejected;
/// use seawall::prelude::*;
///
/// async fn quote(limiter: RateLimiter) -> Result<&'static str, Rejected> {
///     limiter.try_acquire()?;                 // over the limit: 429, Retry-After
///     Ok("42")
/// }
///
/// # fn main() -> Result<(), ConfigError> {
/// let limiter = RateLimiter::builder("quotes").rate(10, Duration::from_secs(1)).build()?;
/// let app: Router = Router::new().route("/quote", get(move || quote(limiter.clone())));
/// # Ok(()) }
/// ```
pub struct Rejected(pub BoxError);

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<BoxError> for Rejected {
    fn from(e: BoxError) -> Self {
        Self(e)
    }
}

impl<R: Rejection> From<R> for Rejected {
    fn from(r: R) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        RejectionResponse::new().response(&self.0)
    }
}
