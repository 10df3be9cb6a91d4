//! The rate-limit layers' response futures.

use super::{Denied, LimitError, RateLimiter};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The response future of the rejecting layers: a ready rejection, or the
/// inner call.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").rate(1, Duration::from_secs(1)).build()?;
/// let mut svc = limiter.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(1).await?, 1);
/// let err = svc.ready().await?.call(2).await.unwrap_err(); // a ready future: refused at once
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::RateLimited);
/// # Ok(()) }
/// ```
pub type ResponseFuture<F> = crate::future::AdmitFuture<F>;

/// The response future of [`WaitingRateLimitService`](super::WaitingRateLimitService):
/// waits for a slot (see [`SlotWait`]), then drives its own clone of the
/// inner service to readiness and calls it.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api")
///     .rate(1, Duration::from_secs(1))
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// let mut svc = limiter.waiting_layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// svc.ready().await?.call(1).await?;
/// assert_eq!(svc.ready().await?.call(2).await?, 2); // waited a second for its token
/// # Ok(()) }
/// ```
pub type WaitingResponseFuture<S, Req> = crate::waiting::WaitThenCall<S, Req, SlotWait, ()>;

pin_project! {
    /// Waits for `n` tokens of a [`RateLimiter`], up to its `max_wait`: an
    /// exact sleep to when they will be there, never a polling loop.
    /// Consumes nothing until it resolves `Ok`, so dropping it is free. The
    /// wait is bounded both on the limiter's clock and by the time actually
    /// slept, so a clock that does not follow tokio cannot make it hang.
    ///
    /// ```
    /// use seawall::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let limiter = RateLimiter::builder("api")
    ///     .rate(10, Duration::from_secs(1))
    ///     .burst(1)
    ///     .max_wait(Duration::from_secs(1))
    ///     .build()?;
    /// limiter.try_acquire()?;
    /// let start = tokio::time::Instant::now();
    /// limiter.acquire_n(1).await?;                     // sleeps until the next token
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// # Ok(()) }
    /// ```
    pub struct SlotWait {
        limiter: RateLimiter,
        n: u32,
        // Clock time the wait began; `None` until first polled.
        started: Option<u64>,
        // Nanoseconds slept so far.
        slept: u64,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl SlotWait {
    pub(crate) fn new(limiter: RateLimiter, n: u32) -> Self {
        Self {
            limiter,
            n,
            started: None,
            slept: 0,
            sleep: None,
        }
    }
}

impl Future for SlotWait {
    type Output = Result<(), LimitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                ready!(sleep.poll(cx));
                this.sleep.set(None);
            }
            let shared = &this.limiter.inner.shared;
            let now = shared.clock.now();
            let started = *this.started.get_or_insert(now);
            let waited = now.saturating_sub(started).max(*this.slept);
            match shared.decide(this.limiter.inner.cell(), now, *this.n) {
                Ok(_) => {
                    shared.permitted((waited > 0).then_some(waited));
                    return Poll::Ready(Ok(()));
                }
                Err(Denied::Wait(w))
                    if waited.saturating_add(w) <= crate::clock::nanos(shared.max_wait.get()) =>
                {
                    *this.slept = this.slept.saturating_add(w);
                    this.sleep.set(Some(crate::clock::sleep(
                        Duration::from_nanos(w),
                        "a waiting rate limiter",
                    )));
                }
                Err(d) => {
                    let d = shared.denied(d);
                    return Poll::Ready(Err(shared.limited(d).with_requested(*this.n)));
                }
            }
        }
    }
}

impl fmt::Debug for SlotWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlotWait")
    }
}
