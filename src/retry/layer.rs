//! Retries as tower middleware.

use super::primitive::rejection_of;
use super::primitive::Policy;
use super::{Delays, Retry};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::time::{Instant, Sleep};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Retries failed calls through a [`Retry`]; made by [`Retry::layer`].
///
/// The request is cloned once before the first attempt (the call consumes
/// it; with `Bytes` bodies and `Arc`s that is cheap), and the service is
/// cloned into the response future to drive retries (so `S: Clone`, like
/// tower's `Retry`). Seawall's stop signals (`CircuitOpen`, `BulkheadFull`,
/// ...) are never retried; a `RateLimited` rejection's `retry_after`
/// lengthens the delay. When the retry gives up, the last error is returned
/// as it was.
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
#[derive(Clone, Debug)]
pub struct RetryLayer {
    retry: Retry,
}

impl Retry {
    /// A tower layer retrying through this retry (sharing its budget).
    pub fn layer(&self) -> RetryLayer {
        RetryLayer {
            retry: self.clone(),
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: Arc::new(self.retry.policy().clone()),
        }
    }
}

/// A service whose failed calls are retried; made by [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, Req> Service<Req> for RetryService<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.policy.deposit();
        let copy = req.clone();
        let future = self.inner.call(req);
        ResponseFuture {
            policy: self.policy.clone(),
            service: self.inner.clone(),
            request: Some(copy),
            attempt: 1,
            // The clock is read only when a deadline needs it.
            start: self.policy.has_deadline().then(Instant::now),
            delays: None,
            state: State::Calling { future },
        }
    }
}

pin_project! {
    /// The response future of [`RetryService`].
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        policy: Arc<Policy>,
        service: S,
        request: Option<Req>,
        attempt: u32,
        start: Option<Instant>,
        delays: Option<Box<Delays>>,
        #[pin]
        state: State<S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        Sleeping { #[pin] sleep: Sleep },
        Readying,
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: Clone,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(res) => return Poll::Ready(Ok(res)),
                        Err(e) => e.into(),
                    };
                    let delays = this
                        .delays
                        .get_or_insert_with(|| Box::new(this.policy.layer_delays()));
                    let signal = rejection_of(&error);
                    match this
                        .policy
                        .next_delay(signal, true, *this.attempt, *this.start, delays)
                    {
                        Ok(delay) => this.state.set(State::Sleeping {
                            sleep: tokio::time::sleep(delay),
                        }),
                        // Gave up: the last error, as it was.
                        Err(_) => return Poll::Ready(Err(error)),
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    if let Err(e) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                    let req = match this.request.as_ref() {
                        Some(r) => r.clone(),
                        None => return Poll::Ready(Err("retry: request already consumed".into())),
                    };
                    *this.attempt += 1;
                    let future = this.service.call(req);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("retry::ResponseFuture")
            .field("attempt", &self.attempt)
            .finish()
    }
}
