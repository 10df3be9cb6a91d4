//! A stack run as a `reqwest_middleware::Middleware`.
//!
//! A middleware gets the rest of the chain as `Next<'a>`, borrowed for
//! the one call, so no service can be built around it once and kept. The
//! stack is built once around [`RunNext`] instead, a service of
//! [`NextRequest`]s: each carries its `Next` and extensions with it, so a
//! retry's copy carries them too, and the fused preset runs as over any
//! client.

use crate::error::{find_rejection, Rejection};
use crate::http::{Deadline, HttpReplay};
use crate::retry::{Attempt, ReplayRequest};
use crate::timeout::{TimeoutFor, WithinDeadline};
use http::Extensions;
use reqwest_middleware::{Middleware, Next};
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// One request on its way down a `ClientWithMiddleware`'s chain: the
/// request, the rest of the chain, and the request's extensions.
///
/// ```
/// use seawall::reqwest::SeawallMiddleware;
/// use seawall::Stack;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// // The preset runs each request (a `NextRequest`) down the rest of the chain.
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(SeawallMiddleware::new(Stack::http_client("inventory")?))
///     .build();
/// # let _ = client; Ok(()) }
/// ```
pub struct NextRequest<'a> {
    /// The request.
    pub request: reqwest::Request,
    /// The rest of the chain.
    pub next: Next<'a>,
    /// Its extensions (`RequestBuilder::with_extension`).
    pub extensions: Extensions,
}

impl fmt::Debug for NextRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextRequest")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// The innermost service of a [`SeawallMiddleware`]'s stack: runs the
/// rest of the chain (the next middleware, or the client).
///
/// ```
/// use seawall::reqwest::{RunNext, SeawallMiddleware};
/// use seawall::Stack;
///
/// # fn main() -> Result<(), seawall::BoxError> {
/// // `RunNext` is the stack's innermost service: the rest of the chain.
/// let middleware = SeawallMiddleware::new(Stack::http_client("inventory")?);
/// let _ = RunNext;
/// # let _ = middleware; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RunNext;

impl<'a> Service<NextRequest<'a>> for RunNext {
    type Response = reqwest::Response;
    type Error = reqwest_middleware::Error;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = reqwest_middleware::Result<reqwest::Response>>
                + Send
                + 'a,
        >,
    >;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: NextRequest<'a>) -> Self::Future {
        let NextRequest {
            request,
            next,
            mut extensions,
        } = req;
        Box::pin(async move { next.run(request, &mut extensions).await })
    }
}

/// Copies with `try_clone` (a streaming body: one attempt), the chain
/// and the extensions with it; resends after a failure only idempotent
/// methods or a request marked [`RetrySafe`](crate::http::RetrySafe);
/// each attempt's [`Attempt`] goes in its extensions; the request's own
/// timeout is the whole call's budget.
impl<'a> ReplayRequest<NextRequest<'a>> for HttpReplay {
    fn replay(&self, req: &NextRequest<'a>) -> Option<NextRequest<'a>> {
        Some(NextRequest {
            request: req.request.try_clone()?,
            next: req.next.clone(),
            extensions: req.extensions.clone(),
        })
    }

    #[inline]
    fn is_idempotent(&self, req: &NextRequest<'a>) -> bool {
        super::idempotent(req.request.method())
            || req.extensions.get::<crate::http::RetrySafe>().is_some()
    }

    #[inline]
    fn before_attempt(&self, req: &mut NextRequest<'a>, attempt: Attempt) {
        attempt.mark_extensions(&mut req.extensions);
    }

    #[inline]
    fn budget(&self, req: &NextRequest<'a>) -> Option<Duration> {
        req.request.timeout().copied()
    }

    fn deadline(&self, req: &NextRequest<'a>) -> Option<tokio::time::Instant> {
        Deadline::in_extensions(&req.extensions).map(|d| d.0)
    }
}

/// The fixed attempt timeout, shortened to the request's
/// [`Deadline`] (from its extensions, or its retry's).
impl<'a> TimeoutFor<NextRequest<'a>> for WithinDeadline {
    #[inline]
    fn timeout_for(&self, _req: &NextRequest<'a>) -> Option<Duration> {
        Some(self.duration())
    }

    #[inline]
    fn deadline_for(&self, req: &NextRequest<'a>) -> Option<tokio::time::Instant> {
        if req.extensions.is_empty() {
            return None;
        }
        Deadline::in_extensions(&req.extensions).map(|d| d.0)
    }
}

/// A seawall stack as a `reqwest_middleware::Middleware`: every request
/// through the `ClientWithMiddleware` goes through it, around the rest of
/// the chain. Built once from a layer — a preset such as
/// [`Stack::http_client`](crate::stack::Stack::http_client), or any
/// layers — and shared by every request.
///
/// ```no_run
/// use seawall::prelude::*;
/// use seawall::reqwest::SeawallMiddleware;
/// use seawall::stack::Stack;
///
/// # fn main() -> Result<(), BoxError> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(SeawallMiddleware::new(Stack::http_client("payments")?))
///     .build();
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SeawallMiddleware<S> {
    service: S,
}

impl<S> SeawallMiddleware<S> {
    /// Runs `layer`'s services around the rest of the chain.
    pub fn new<L>(layer: L) -> Self
    where
        L: Layer<RunNext, Service = S>,
    {
        Self {
            service: layer.layer(RunNext),
        }
    }

    /// The stack's service (its handles: `get_ref`, ...).
    pub fn service(&self) -> &S {
        &self.service
    }
}

impl<S> fmt::Debug for SeawallMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeawallMiddleware").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<S> Middleware for SeawallMiddleware<S>
where
    S: for<'a> Service<NextRequest<'a>, Response = reqwest::Response, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    for<'a> <S as Service<NextRequest<'a>>>::Future: Send,
{
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let mut service = self.service.clone();
        let req = NextRequest {
            request: req,
            next,
            extensions: extensions.clone(),
        };
        let answer = match std::future::poll_fn(|cx| service.poll_ready(cx)).await {
            Ok(()) => service.call(req).await,
            Err(e) => Err(e),
        };
        answer.map_err(into_middleware_error)
    }
}

/// The chain's own errors pass through as they were — a retried call's
/// last one too, so `is_connect()` and `is_timeout()` answer as without
/// seawall; seawall's refusals become `Error::Middleware`, where
/// [`rejection`] finds them.
fn into_middleware_error(e: BoxError) -> reqwest_middleware::Error {
    let e = match e.downcast::<crate::retry::RetriesExhausted>() {
        Ok(gave_up) if gave_up.last_error().is::<reqwest_middleware::Error>() => {
            gave_up.into_last_error()
        }
        Ok(gave_up) => gave_up,
        Err(e) => e,
    };
    match e.downcast::<reqwest_middleware::Error>() {
        Ok(chain) => *chain,
        Err(e) => reqwest_middleware::Error::middleware(Refused(e)),
    }
}

/// seawall's refusal, as the error `Error::Middleware` holds: says what
/// the refusal says, and is its source, so [`rejection`] (and any walk of
/// the source chain) finds it.
struct Refused(BoxError);

impl fmt::Debug for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// seawall's refusal in a `reqwest_middleware::Error` (circuit open,
/// bulkhead full, rate limited, timed out, retries used up), with its
/// kind, instance name and `retry_after`; `None` for the chain's own
/// errors.
pub fn rejection(error: &reqwest_middleware::Error) -> Option<&dyn Rejection> {
    match error {
        reqwest_middleware::Error::Middleware(e) => find_rejection(&**e),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}
