//! The timeout's response future: the timer is armed lazily.

use super::Inner;
use super::MAX_TIMEOUT;
use crate::stripes::Handle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::BoxError;

pin_project! {
    /// The response future of [`TimeoutService`](super::TimeoutService).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let timeout = Timeout::builder("echo").duration(Duration::from_secs(1)).build()?;
    /// let mut svc = timeout.layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let future = svc.ready().await?.call(7); // the timer is armed only if the call is pending
    /// assert_eq!(future.await?, 7);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        #[pin]
        timer: Timer,
        shared: Arc<Handle<Inner>>,
    }
}

pin_project! {
    /// A timeout's timer, armed lazily.
    #[project = TimerProj]
    pub(crate) enum Timer {
        // No timer yet. The deadline is set at the first poll that finds the
        // inner future pending: `after` from then (the first poll follows the
        // call at once in practice, and this saves a clock read per call).
        Unarmed { after: Option<Duration>, until: Option<Instant> },
        // Boxed: a `Sleep` is large, and a call that completes at once (or
        // never times out) should not carry one through every move.
        Armed { sleep: Pin<Box<Sleep>>, after: Duration },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        future: F,
        after: Option<Duration>,
        until: Option<Instant>,
        shared: Arc<Handle<Inner>>,
    ) -> Self {
        Self {
            future,
            timer: Timer::new(after, until),
            shared,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out.map_err(Into::into));
        }
        let after = std::task::ready!(this.timer.poll_elapsed(cx));
        Poll::Ready(Err(Box::new(this.shared.elapsed(after))))
    }
}

impl Timer {
    pub(crate) fn new(after: Option<Duration>, until: Option<Instant>) -> Self {
        Timer::Unarmed { after, until }
    }

    /// Polls the timer, arming it first if it is not yet (call it once the
    /// guarded future is pending): `Ready(after)` once it fires, `after`
    /// being the time it allowed.
    #[inline]
    pub(crate) fn poll_elapsed(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Duration> {
        loop {
            match self.as_mut().project() {
                TimerProj::Unarmed {
                    after: None,
                    until: None,
                } => return Poll::Pending,
                TimerProj::Unarmed { after, until } => {
                    let now = Instant::now();
                    // Clamped: a `TimeoutFor` of the user's may say anything.
                    let mut at = now + after.map_or(MAX_TIMEOUT, |a| a.min(MAX_TIMEOUT));
                    if let Some(until) = *until {
                        at = at.min(until); // an outer deadline comes first
                    }
                    self.set(Timer::Armed {
                        sleep: Box::pin(crate::clock::sleep_until(at, "a timeout")),
                        after: at.saturating_duration_since(now),
                    });
                }
                TimerProj::Armed { sleep, after } => {
                    return match sleep.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(*after),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timeout::ResponseFuture")
    }
}
