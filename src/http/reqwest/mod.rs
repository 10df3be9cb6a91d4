//! reqwest (feature `reqwest`): the HTTP presets over a `reqwest::Client`,
//! and a [`reqwest_middleware`] middleware running them.
//!
//! **A `reqwest::Client` in a stack.** `reqwest::Client` is a tower service
//! of `reqwest::Request`s; seawall's HTTP rules read any response's status
//! and headers ([`HttpResponse`]), so the
//! presets take it as it is:
//!
//! ```no_run
//! use seawall::prelude::*;
//! use seawall::stack::Stack;
//! use tower::{Layer, Service, ServiceExt};
//!
//! # async fn run() -> Result<(), BoxError> {
//! let http = reqwest::Client::new();
//! let mut inventory = Stack::http_client("inventory")?.layer(http.clone());
//! let req = http.get("http://inventory.internal/items/7").build()?;
//! let res: reqwest::Response = inventory.ready().await?.call(req).await?;
//! # let _ = res; Ok(()) }
//! ```
//!
//! The same rules as over hyper: errors and 429/502/503/504 retried,
//! `Retry-After` honoured, 5xx counted by the breaker, only idempotent
//! methods resent. A request whose body streams (`try_clone` gives
//! `None`) gets one attempt. A request's own `timeout(..)` bounds the
//! whole call, retries included. A `reqwest::Request` carries no
//! extensions, so a POST is never resent this way; to mark one safe to
//! resend ([`RetrySafe`](crate::http::RetrySafe)), use the middleware and
//! `with_extension(RetrySafe)`.
//!
//! **With `reqwest-middleware`.** [`SeawallMiddleware`] runs a stack
//! (a preset, or any layers) around the rest of a `ClientWithMiddleware`'s
//! chain:
//!
//! ```no_run
//! use seawall::prelude::*;
//! use seawall::reqwest::SeawallMiddleware;
//! use seawall::stack::Stack;
//!
//! # async fn run() -> Result<(), BoxError> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(SeawallMiddleware::new(Stack::http_client("inventory")?))
//!     .build();
//! let res = client.get("http://inventory.internal/items/7").send().await?;
//! # let _ = res; Ok(()) }
//! ```
//!
//! Its extensions reach every attempt (copied), so
//! [`RetrySafe`](crate::http::RetrySafe) and a
//! [`Deadline`](crate::http::Deadline) work as over hyper, and each
//! attempt finds its [`Attempt`] there. A refusal (circuit open, bulkhead
//! full, timed out, retries used up) comes back as
//! `reqwest_middleware::Error::Middleware`; [`rejection`] finds it.

mod middleware;

pub use self::middleware::{rejection, NextRequest, RunNext, SeawallMiddleware};

use crate::http::{HttpReplay, HttpResponse};
use crate::retry::{Attempt, ReplayRequest};
use crate::timeout::{TimeoutFor, WithinDeadline};
use http::Method;
use std::time::Duration;

impl HttpResponse for reqwest::Response {
    #[inline]
    fn status(&self) -> http::StatusCode {
        self.status()
    }

    #[inline]
    fn headers(&self) -> &http::HeaderMap {
        self.headers()
    }
}

/// The idempotent methods: resent after a failure that may have reached
/// the server.
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// `reqwest::Request`s: copied with `try_clone` (a streaming body cannot
/// be: one attempt); resent after a failure only if the method is
/// idempotent; the request's own timeout is the whole call's budget.
impl ReplayRequest<reqwest::Request> for HttpReplay {
    #[inline]
    fn replay(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        req.try_clone()
    }

    #[inline]
    fn is_idempotent(&self, req: &reqwest::Request) -> bool {
        idempotent(req.method())
    }

    #[inline]
    fn budget(&self, req: &reqwest::Request) -> Option<Duration> {
        req.timeout().copied()
    }

    #[inline]
    fn before_attempt(&self, _req: &mut reqwest::Request, _attempt: Attempt) {}
}

/// A `reqwest::Request` carries no [`Deadline`](crate::http::Deadline):
/// the attempt timeout is its fixed duration (the retry's deadline still
/// bounds the attempts it starts).
impl TimeoutFor<reqwest::Request> for WithinDeadline {
    #[inline]
    fn timeout_for(&self, _req: &reqwest::Request) -> Option<Duration> {
        Some(self.duration())
    }
}
