//! Retries as tower middleware.

use super::policy::{RetryErrors, Shared};
use super::{ResponseFuture, Retry, ShouldRetry};
use crate::replay::{CloneRequests, ReplayFn, ReplayRequest};
use crate::stripes::{Handle, Handles};
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Retries failed calls through a [`Retry`]; made by [`Retry::layer`].
///
/// What is retried: errors, by default (seawall's stop signals —
/// `CircuitOpen`, `BulkheadFull`, ... — never); choose with
/// [`retry_if`](Self::retry_if), which sees the inner service's typed
/// `Result` so responses such as HTTP 503 can be retried too. A
/// `RateLimited` rejection's `retry_after`, or a
/// [`RetryVerdict::RetryAfter`](super::RetryVerdict), lengthens the delay.
///
/// Requests are copied for later attempts with `Clone` by default, or a
/// function of yours ([`replay_with`](Self::replay_with)); one that cannot
/// be copied gets one attempt. A call that retries sends its retries
/// through a clone of the inner service of its own (so `S: Clone`, like
/// tower's `Retry`), made from a copy the layer keeps when its first retry
/// is due; a call whose first attempt succeeds clones nothing and costs one
/// reference count, however deep the stack inside.
///
/// When it gives up after retrying, or the budget refuses a retry, the error
/// is a [`RetriesExhausted`](super::RetriesExhausted) whose source is the
/// last error; a retried response is returned as it came. Errors never
/// retried come back unchanged.
///
/// ```
/// use seawall::retry::Retry;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let calls = Arc::new(AtomicU32::new(0));
/// let c = calls.clone();
/// let flaky = service_fn(move |x: u32| {
///     let n = c.fetch_add(1, Ordering::SeqCst);
///     async move { if n == 0 { Err("transient".into()) } else { Ok::<_, seawall::BoxError>(x) } }
/// });
/// let svc = ServiceBuilder::new().layer(Retry::builder("api").build()?.layer()).service(flaky);
/// assert_eq!(svc.oneshot(7).await?, 7);
/// assert_eq!(calls.load(Ordering::SeqCst), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RetryLayer<P = RetryErrors, R = CloneRequests> {
    shared: Arc<Shared>,
    predicate: P,
    replay: R,
}

impl Retry {
    /// A tower layer retrying through this retry (sharing its budget and
    /// counts).
    pub fn layer(&self) -> RetryLayer {
        RetryLayer {
            shared: self.shared.clone(),
            predicate: RetryErrors,
            replay: CloneRequests,
        }
    }
}

impl<P, R> RetryLayer<P, R> {
    /// The retry this layer retries through (its metrics, its budget).
    pub fn handle(&self) -> Retry {
        Retry {
            shared: self.shared.clone(),
        }
    }

    /// Decide from the inner service's typed result what to retry: a
    /// [`ShouldRetry`], e.g. a closure
    /// `|res: &Result<Res, E>| -> RetryVerdict`.
    pub fn retry_if<P2>(self, predicate: P2) -> RetryLayer<P2, R> {
        RetryLayer {
            shared: self.shared,
            predicate,
            replay: self.replay,
        }
    }

    /// Copy requests with `f` (`None`: this request is not retried), for
    /// request types that are not `Clone`.
    pub fn replay_with<F>(self, f: F) -> RetryLayer<P, ReplayFn<F>> {
        self.replay(ReplayFn(f))
    }

    /// Copy requests with a [`ReplayRequest`] (e.g. the HTTP one, which
    /// also keeps non-idempotent requests from being resent).
    pub fn replay<R2>(self, replay: R2) -> RetryLayer<P, R2> {
        RetryLayer {
            shared: self.shared,
            predicate: self.predicate,
            replay,
        }
    }
}

impl<P: fmt::Debug, R: fmt::Debug> fmt::Debug for RetryLayer<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("name", &self.shared.name)
            .field("predicate", &self.predicate)
            .field("replay", &self.replay)
            .finish()
    }
}

impl<S: Clone, P: Clone, R: Clone> Layer<S> for RetryLayer<P, R> {
    type Service = RetryService<S, P, R>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            shared: self.shared.clone(),
            stripes: self.backup(inner.clone()),
            inner,
        }
    }
}

impl<P: Clone, R: Clone> RetryLayer<P, R> {
    /// What retrying calls share: this layer's retry, predicate and replay,
    /// and `service` to clone for their later attempts.
    pub(crate) fn backup<S>(&self, service: S) -> Handles<Backup<S, P, R>> {
        Handles::new(Arc::new(Backup {
            shared: self.shared.clone(),
            predicate: self.predicate.clone(),
            replay: self.replay.clone(),
            service: Mutex::new(service),
        }))
    }
}

/// What a response future needs once an attempt fails, shared by every call
/// of one service (and its clones) behind one `Arc`: the retry, the
/// predicate and replay, and a copy of the inner service that a retrying
/// call clones its own from (the lock is taken for that clone only). So the
/// first attempt costs one reference count, however deep the inner stack.
pub(crate) struct Backup<S, P, R> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) predicate: P,
    pub(crate) replay: R,
    pub(crate) service: Mutex<S>,
}

/// A response future's handle to the [`Backup`]: this thread's
/// ([`Handles`]), so the reference count a call takes and drops is not
/// bounced between cores (27 → 9 ns a call on two threads).
pub(crate) type Stripe<S, P, R> = Handle<Backup<S, P, R>>;

/// A service whose failed calls are retried; made by [`RetryLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("echo").max_attempts(3).no_budget().build()?;
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let c = calls.clone();
/// let mut svc = retry.layer().layer(service_fn(move |x: u32| {
///     let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///     async move { if n == 0 { Err::<u32, BoxError>("flaky".into()) } else { Ok(x) } }
/// }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7); // the second attempt answered
/// assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
/// # Ok(()) }
/// ```
pub struct RetryService<S, P = RetryErrors, R = CloneRequests> {
    inner: S,
    // Also in the backup; here too so a call reads it with one pointer
    // hop fewer (`cargo bench --bench retry`: 7.2–7.5 ns against 8.0–8.2
    // without this field).
    shared: Arc<Shared>,
    stripes: Handles<Backup<S, P, R>>,
}

impl<S: Clone, P, R> Clone for RetryService<S, P, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            stripes: self.stripes.clone(),
        }
    }
}

impl<S: fmt::Debug, P, R> fmt::Debug for RetryService<S, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("name", &self.shared.name)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, Req, P, R> Service<Req> for RetryService<S, P, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError> + 'static,
    P: ShouldRetry<S::Response, S::Error>,
    R: ReplayRequest<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, P, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let stripe = self.stripes.get();
        ResponseFuture::start(&mut self.inner, &self.shared, stripe, req)
    }
}
