//! A hedged call's future: the first attempt inline (a call that answers
//! before the delay pays for nothing else), the hedges boxed and made only
//! once the delay has passed.

use super::layer::Backup;
use crate::outcome::{Classify, Outcome};
use crate::replay::{Attempt, ReplayRequest};
use crate::stripes::Handle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::BoxError;
use tower_service::Service;

pin_project! {
    /// The response future of [`HedgeService`](super::HedgeService).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let hedge = Hedge::builder("echo").build()?;
    /// let mut svc = hedge.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let future = svc.ready().await?.call(7); // races the first attempt and its copies
    /// assert_eq!(future.await?, 7);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<S, Req, R, C>
    where
        S: Service<Req>,
    {
        #[pin]
        first: S::Future,
        // The first attempt answered (a failure: it is not polled again).
        first_done: bool,
        // A copy for the next hedge; `None`: no hedge possible.
        copy: Option<Req>,
        // When the call began (clock ns), for a learned delay.
        started: u64,
        deadline: Option<Instant>,
        // Made when the first attempt is found pending.
        hedging: Option<Box<Hedging<S, Req>>>,
        backup: Arc<Handle<Backup<S, R, C>>>,
    }
}

/// A call's hedges, once it has waited.
struct Hedging<S: Service<Req>, Req> {
    /// When the next hedge is due; `None`: none is (no delay learned yet).
    timer: Option<Pin<Box<Sleep>>>,
    /// The delay each hedge waits (`None`: no delay learned yet: hedges
    /// go only after a failure).
    delay: Option<Duration>,
    /// The next hedge is due now (an attempt failed, or they go at once).
    due: bool,
    /// It is due because an attempt failed (not because the delay passed).
    after_failure: bool,
    /// This call's own copy of the service, readied for the next hedge.
    service: Option<S>,
    hedges: Vec<Pin<Box<S::Future>>>,
    sent: u32,
    /// The last failed answer, returned if no attempt answers well.
    failed: Option<Result<S::Response, BoxError>>,
}

impl<S, Req, R, C> ResponseFuture<S, Req, R, C>
where
    S: Service<Req>,
{
    pub(crate) fn new(
        first: S::Future,
        copy: Option<Req>,
        started: u64,
        deadline: Option<Instant>,
        backup: Arc<Handle<Backup<S, R, C>>>,
    ) -> Self {
        Self {
            first,
            first_done: false,
            copy,
            started,
            deadline,
            hedging: None,
            backup,
        }
    }
}

impl<S, Req, R, C> Future for ResponseFuture<S, Req, R, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    R: ReplayRequest<Req>,
    C: Classify<S::Response, BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let backup = &*this.backup.0;
        let shared = &*backup.shared;
        if !*this.first_done {
            let hedgeable = this.copy.is_some() || this.hedging.is_some();
            match this.first.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    shared.record(*this.started);
                    let result = result.map_err(Into::into);
                    // Not hedged, or a good answer: as it came (the hot path).
                    if !hedgeable || backup.classify.classify(&result) != Outcome::Failure {
                        return Poll::Ready(result);
                    }
                    *this.first_done = true;
                    let hedging = this
                        .hedging
                        .get_or_insert_with(|| Box::new(Hedging::start(shared.delay())));
                    hedging.failed(result);
                }
                Poll::Pending if !hedgeable => return Poll::Pending,
                Poll::Pending => {
                    this.hedging
                        .get_or_insert_with(|| Box::new(Hedging::start(shared.delay())));
                }
            }
        }
        let hedging = this.hedging.as_deref_mut().expect("made above");
        let answer = ready!(hedging.poll(cx, this.copy, *this.first_done, *this.deadline, backup));
        if !*this.first_done {
            // A hedge won while the first still ran: the first took at
            // least this long (counted, so the tail is not forgotten).
            shared.record(*this.started);
        }
        Poll::Ready(answer)
    }
}

impl<S: Service<Req>, Req> Hedging<S, Req> {
    fn start(delay: Option<Duration>) -> Self {
        Self {
            timer: delay
                .filter(|d| !d.is_zero())
                .map(|d| Box::pin(crate::clock::sleep(d, "a hedge's delay"))),
            delay,
            due: delay == Some(Duration::ZERO),
            after_failure: false,
            service: None,
            hedges: Vec::new(),
            sent: 0,
            failed: None,
        }
    }

    /// An attempt answered badly: kept, and the next hedge is due now.
    fn failed(&mut self, result: Result<S::Response, BoxError>) {
        self.failed = Some(result);
        self.due = true;
        self.after_failure = true;
    }

    fn poll<R, C>(
        &mut self,
        cx: &mut Context<'_>,
        copy: &mut Option<Req>,
        first_done: bool,
        deadline: Option<Instant>,
        backup: &Backup<S, R, C>,
    ) -> Poll<Result<S::Response, BoxError>>
    where
        S: Clone,
        S::Error: Into<BoxError>,
        R: ReplayRequest<Req>,
        C: Classify<S::Response, BoxError>,
    {
        let shared = &*backup.shared;
        loop {
            // Answers from the hedges in flight.
            let mut i = 0;
            while i < self.hedges.len() {
                match self.hedges[i].as_mut().poll(cx) {
                    Poll::Pending => i += 1,
                    Poll::Ready(result) => {
                        drop(self.hedges.swap_remove(i));
                        let result = result.map_err(Into::into);
                        if backup.classify.classify(&result) != Outcome::Failure {
                            shared.won();
                            return Poll::Ready(result);
                        }
                        self.failed(result);
                    }
                }
            }
            if let Some(timer) = self.timer.as_mut() {
                if timer.as_mut().poll(cx).is_ready() {
                    self.timer = None;
                    self.due = true;
                }
            }
            if self.due && copy.is_some() && self.sent < shared.max_hedges() {
                if let Some(sent) = self.send(cx, copy, deadline, backup) {
                    if sent {
                        continue; // poll the new hedge
                    }
                } else {
                    return Poll::Pending; // the service is not ready yet
                }
            }
            let running = !first_done || !self.hedges.is_empty();
            if running {
                return Poll::Pending;
            }
            // Nothing runs and nothing more will be sent: the last failure.
            return Poll::Ready(
                self.failed
                    .take()
                    .unwrap_or_else(|| Err("hedge: no attempt answered".into())),
            );
        }
    }

    /// Sends the next hedge if the deadline, the service and the budget
    /// allow: `Some(true)` sent, `Some(false)` never will be (the copy is
    /// given up), `None` the service is not ready yet.
    fn send<R, C>(
        &mut self,
        cx: &mut Context<'_>,
        copy: &mut Option<Req>,
        deadline: Option<Instant>,
        backup: &Backup<S, R, C>,
    ) -> Option<bool>
    where
        S: Clone,
        S::Error: Into<BoxError>,
        R: ReplayRequest<Req>,
    {
        let shared = &*backup.shared;
        let now = Instant::now();
        if let Some(deadline) = deadline {
            // A hedge needs at least the time the first had before it
            // (after a failure: any time at all).
            let left = deadline.saturating_duration_since(now);
            let needed = match self.delay {
                Some(d) if !self.after_failure => d,
                _ => Duration::ZERO,
            };
            if left.is_zero() || left < needed {
                shared.skipped_for_deadline();
                *copy = None;
                return Some(false);
            }
        }
        let service = self
            .service
            .get_or_insert_with(|| backup.service.lock().clone());
        match service.poll_ready(cx) {
            Poll::Pending => return None,
            Poll::Ready(Err(e)) => {
                self.failed.get_or_insert(Err(e.into()));
                *copy = None;
                return Some(false);
            }
            Poll::Ready(Ok(())) => {}
        }
        if !shared.try_hedge(self.sent + 1) {
            *copy = None;
            return Some(false);
        }
        self.sent += 1;
        let more = self.sent < shared.max_hedges();
        // Keep a copy while another hedge may follow.
        let mut req = match copy
            .as_ref()
            .filter(|_| more)
            .and_then(|c| backup.replay.replay(c))
        {
            Some(next) => next,
            None => copy.take().expect("checked by the caller"),
        };
        backup.replay.before_attempt(
            &mut req,
            Attempt {
                number: self.sent + 1,
                remaining: deadline.map(|d| d.saturating_duration_since(now)),
                deadline,
            },
        );
        let mut service = self.service.take().expect("readied above");
        self.hedges.push(Box::pin(service.call(req)));
        self.due = false;
        self.after_failure = false;
        if more && copy.is_some() {
            match self.delay {
                Some(d) if d.is_zero() => self.due = true,
                Some(d) => self.timer = Some(Box::pin(crate::clock::sleep(d, "a hedge's delay"))),
                None => {}
            }
        }
        Some(true)
    }
}

impl<S, Req, R, C> fmt::Debug for ResponseFuture<S, Req, R, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("hedge::ResponseFuture")
            .field("hedges", &self.hedging.as_ref().map_or(0, |h| h.sent))
            .finish_non_exhaustive()
    }
}
