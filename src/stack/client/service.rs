//! The client presets' service: the whole stack fused into one service.

use super::future::{Phase, ResponseFuture};
use crate::bulkhead::{Bulkhead, BulkheadService};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerService};
use crate::outcome::Classify;
use crate::retry::{Backup, ReplayRequest, ShouldRetry};
use crate::stripes::Handles;
use crate::timeout::{Fixed, TimeoutFor, TimeoutService, WithinDeadline};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_service::Service;

/// What a retry's later attempts go through: breaker → bulkhead → attempt
/// timeout → the service, as layers (the first attempt is made by
/// [`ClientService`] itself).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Retries past the first attempt go through the layers nested (`Attempts`).
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let c = calls.clone();
/// let mut client = Stack::http_client("inventory")?.layer(service_fn(move |_req: http::Request<String>| {
///     let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///     async move {
///         let status = if n == 0 { 503 } else { 200 };
///         Ok::<_, BoxError>(http::Response::builder().status(status).body(String::new())?)
///     }
/// }));
/// let res = client.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!((res.status().as_u16(), calls.load(std::sync::atomic::Ordering::SeqCst)), (200, 2));
/// # Ok(()) }
/// ```
pub type Attempts<S, C> =
    CircuitBreakerService<BulkheadService<TimeoutService<S, WithinDeadline>>, C>;

/// What every call of one [`ClientService`] (and its clones) shares, behind
/// the one reference count a response future holds.
pub(crate) struct Shared<S, P, R, C> {
    pub(crate) total: Arc<crate::timeout::Inner>,
    pub(crate) total_timeout: Fixed,
    pub(crate) attempt: Arc<crate::timeout::Inner>,
    pub(crate) attempt_timeout: WithinDeadline,
    pub(crate) breaker: Arc<CircuitBreaker<C>>,
    pub(crate) bulkhead: Bulkhead,
    /// The retry (configuration, counts, predicate, replay), and the
    /// layered [`Attempts`] a retrying call clones for its later attempts.
    pub(crate) retry: Handles<Backup<Attempts<S, C>, P, R>>,
}

/// The service [`ClientStack`](super::ClientStack) makes: total timeout,
/// retry, circuit breaker, bulkhead and attempt timeout as one service, so
/// a call's first attempt takes one reference count, moves the request
/// once and keeps one future. Behaves as the same layers nested
/// ([`ClientStack::into_stack`](super::ClientStack::into_stack)); later
/// attempts, if any, go through them.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // The fused preset: one service doing what five nested layers would.
/// let mut client = Stack::http_client("inventory")?.layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::builder().status(503).body(String::new())?)
/// }));
/// let res = client.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(res.status(), 503); // retried, then the last answer returned
/// # Ok(()) }
/// ```
pub struct ClientService<S, P, R, C> {
    inner: S,
    shared: Handles<Shared<S, P, R, C>>,
}

impl<S, P, R, C> ClientService<S, P, R, C> {
    pub(crate) fn new(inner: S, shared: Shared<S, P, R, C>) -> Self {
        Self {
            inner,
            shared: Handles::new(Arc::new(shared)),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, P, R, C> Clone for ClientService<S, P, R, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, P, R, C> fmt::Debug for ClientService<S, P, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientService")
            .field("inner", &self.inner)
            .field("retry", &self.shared.retry.shared.name)
            .field("breaker", &self.shared.breaker.name())
            .finish()
    }
}

impl<S, Req, P, R, C> Service<Req> for ClientService<S, P, R, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError> + 'static,
    P: ShouldRetry<S::Response, BoxError>,
    R: ReplayRequest<Req>,
    C: Classify<S::Response, BoxError>,
    WithinDeadline: TimeoutFor<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, P, R, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// What the layers would do, outermost first: the total timeout's
    /// duration; the retry's count, budget deposit, idempotency test, copy
    /// and first-attempt mark; the breaker's permit; the bulkhead's slot;
    /// the attempt timeout's duration; the call.
    #[inline]
    fn call(&mut self, mut req: Req) -> Self::Future {
        // The reference count first: its locked instruction waits for the
        // store buffer to drain, which is cheapest before the copy below.
        let handle = self.shared.get().clone();
        let shared: &Shared<S, P, R, C> = &handle;
        let total = (
            TimeoutFor::<Req>::timeout_for(&shared.total_timeout, &req),
            TimeoutFor::<Req>::deadline_for(&shared.total_timeout, &req),
        );
        let (retry, replay) = (&shared.retry.shared, &shared.retry.replay);
        let start = retry.begin(replay.budget(&req));
        let deadline = start.0;
        let idempotent = replay.is_idempotent(&req);
        let copy = retry.copy_for_later(replay, &mut req);
        retry.mark_first(replay, &mut req, start);
        let first = match shared.breaker.core.try_acquire() {
            Err(open) => Phase::rejected(None, Box::new(open)),
            Ok(ticket) => match shared.bulkhead.try_take() {
                Err(full) => Phase::rejected(Some(ticket), Box::new(full)),
                Ok(()) => {
                    let after = shared.attempt_timeout.timeout_for(&req);
                    let until = shared.attempt_timeout.deadline_for(&req);
                    Phase::called(self.inner.call(req), ticket, after, until)
                }
            },
        };
        ResponseFuture::new(first, total, copy, deadline, idempotent, handle)
    }
}
