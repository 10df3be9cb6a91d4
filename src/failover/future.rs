//! A call through an endpoint set: readied on its endpoint, called, and
//! moved to the next endpoint if it fails and may be sent again.

use super::{Failover, Failure, Set};
use crate::outcome::{Classify, Outcome};
use crate::replay::ReplayRequest;
use crate::stripes::Handle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_service::Service;

impl<S, Req, R, C> Service<Req> for Failover<S, R, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    R: ReplayRequest<Req>,
    C: Classify<S::Response, BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, R, C>;

    /// Always ready: each call readies the endpoint it goes to.
    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let set = self.set.get().clone();
        let health = &set.0.health;
        let endpoint = health.pick(0).unwrap_or(0);
        health.begin(endpoint, true);
        // A copy to move to another endpoint, if there is one to go to.
        let copy = if set.0.endpoints.len() > 1 && set.0.replay.is_idempotent(&req) {
            set.0.replay.replay(&req)
        } else {
            None
        };
        let service = set.0.endpoints[endpoint].clone();
        ResponseFuture {
            state: State::Readying {
                service: Some(service),
                req: Some(req),
            },
            copy,
            tried: 1 << endpoint,
            on: OnEndpoint {
                set,
                endpoint,
                live: true,
            },
        }
    }
}

pin_project! {
    /// The response future of a [`Failover`].
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let replica = tower::service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
    /// let mut set = Failover::builder("db").build(vec![replica.clone(), replica])?;
    /// let future = set.ready().await?.call(7);    // tries the endpoints in turn
    /// assert_eq!(future.await?, 7);
    /// # Ok(()) }
    /// ```
    pub struct ResponseFuture<S, Req, R, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, S::Future>,
        // A copy for the next endpoint; `None`: the call stays where it is.
        copy: Option<Req>,
        // The endpoints tried, a bit each.
        tried: u64,
        on: OnEndpoint<S, R, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, F> {
        Readying { service: Option<S>, req: Option<Req> },
        Calling { #[pin] future: F },
    }
}

/// The endpoint a call is on; a call dropped before it ends leaves it
/// (its outstanding count) all the same.
struct OnEndpoint<S, R, C> {
    set: Arc<Handle<Set<S, R, C>>>,
    endpoint: usize,
    live: bool,
}

impl<S, R, C> OnEndpoint<S, R, C> {
    fn end(&mut self, failure: Failure) {
        self.live = false;
        self.set.0.health.end(self.endpoint, Some(failure));
    }
}

impl<S, R, C> Drop for OnEndpoint<S, R, C> {
    fn drop(&mut self) {
        if self.live {
            self.set.0.health.end(self.endpoint, None);
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
        loop {
            let result = match this.state.as_mut().project() {
                StateProj::Readying { service, req } => {
                    let svc = service.as_mut().expect("readied once");
                    match ready!(svc.poll_ready(cx)) {
                        Ok(()) => {
                            let mut svc = service.take().expect("readied once");
                            let req = req.take().expect("sent once");
                            this.state.set(State::Calling {
                                future: svc.call(req),
                            });
                            continue;
                        }
                        Err(e) => Err::<S::Response, BoxError>(e.into()),
                    }
                }
                StateProj::Calling { future } => ready!(future.poll(cx)).map_err(Into::into),
            };
            let failure = match this.on.set.0.classify.classify(&result) {
                Outcome::Failure if result.is_err() => Failure::Local,
                Outcome::Failure => Failure::Answer,
                Outcome::Ignored if result.is_err() => Failure::Neutral,
                _ => Failure::None,
            };
            this.on.end(failure);
            if failure == Failure::None {
                return Poll::Ready(result); // the hot path
            }
            // Failed: on to the next endpoint, if the call may move.
            let set = &*this.on.set.0;
            let tried = *this.tried;
            let Some(next) = this.copy.as_ref().and_then(|_| set.health.pick(tried)) else {
                return Poll::Ready(result);
            };
            *this.tried |= 1 << next;
            let untried = set.endpoints.len() as u32 - this.tried.count_ones();
            let req = match this.copy.as_ref().filter(|_| untried > 0) {
                Some(copy) => set.replay.replay(copy),
                None => None,
            }
            .or_else(|| this.copy.take())
            .expect("a copy to move");
            set.health.begin(next, false);
            let service = set.endpoints[next].clone();
            this.on.endpoint = next;
            this.on.live = true;
            this.state.set(State::Readying {
                service: Some(service),
                req: Some(req),
            });
        }
    }
}

impl<S, Req, R, C> fmt::Debug for ResponseFuture<S, Req, R, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("failover::ResponseFuture")
            .field("endpoint", &self.on.endpoint)
            .finish_non_exhaustive()
    }
}
