//! The tower face of [`Chaos`]: decide, misbehave, then call (or not).

use super::{Chaos, Faults};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::time::Sleep;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// A made-up response for injected outcomes: a closure `Fn() -> Res`, or
/// [`NoOutcome`] (the default: the layer never injects outcomes).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // A closure making the response is an `InjectOutcome`: here a 503.
/// let chaos = Chaos::builder("inventory").outcome_rate(1.0).build()?;
/// let mut svc = chaos
///     .layer()
///     .outcome(|| 503u16)
///     .layer(service_fn(|_: ()| async { Ok::<_, BoxError>(200u16) }));
/// assert_eq!(svc.ready().await?.call(()).await?, 503);
/// # Ok(()) }
/// ```
pub trait InjectOutcome<Res> {
    /// Whether this can make a response at all.
    const POSSIBLE: bool = true;
    /// The response.
    fn outcome(&self) -> Option<Res>;
}

/// No made-up response: outcomes are never drawn.
///
/// ```
/// use seawall::chaos::{InjectOutcome, NoOutcome};
///
/// assert_eq!(InjectOutcome::<u16>::outcome(&NoOutcome), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOutcome;

impl<Res> InjectOutcome<Res> for NoOutcome {
    const POSSIBLE: bool = false;
    #[inline]
    fn outcome(&self) -> Option<Res> {
        None
    }
}

impl<Res, F: Fn() -> Res> InjectOutcome<Res> for F {
    fn outcome(&self) -> Option<Res> {
        Some(self())
    }
}

/// Which requests may be injected: every one, or those a closure
/// `Fn(&Req) -> bool` picks.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// // Only requests that ask for it: a closure over the request is a filter.
/// let chaos = Chaos::builder("inventory").error_rate(1.0).build()?;
/// let mut svc = chaos
///     .layer()
///     .when(|req: &String| req.starts_with("chaos:"))
///     .layer(service_fn(|req: String| async move { Ok::<_, BoxError>(req.len()) }));
/// assert!(svc.ready().await?.call("chaos:ping".into()).await.is_err());
/// assert_eq!(svc.ready().await?.call("ping".into()).await?, 4);
/// # Ok(()) }
/// ```
pub trait ChaosFilter<Req> {
    /// Whether `req` may be injected.
    fn wants(&self, req: &Req) -> bool;
}

/// Every request may be injected (the default).
///
/// ```
/// use seawall::chaos::{ChaosFilter, Everything};
///
/// assert!(Everything.wants(&"any request"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Everything;

impl<Req> ChaosFilter<Req> for Everything {
    #[inline]
    fn wants(&self, _: &Req) -> bool {
        true
    }
}

impl<Req, F: Fn(&Req) -> bool> ChaosFilter<Req> for F {
    #[inline]
    fn wants(&self, req: &Req) -> bool {
        self(req)
    }
}

/// Injects [`Chaos`]'s faults into calls of the service it wraps; made by
/// [`Chaos::layer`]. On a client it makes the dependency misbehave; on a
/// server, the server itself (a game day).
///
/// ```
/// use seawall::chaos::Chaos;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let chaos = Chaos::builder("api").outcome_rate(1.0).build()?;
/// let layer = chaos
///     .layer()
///     // An HTTP 503 with `Retry-After` instead of the real answer...
///     .outcome(|| http::Response::builder().status(503).header("retry-after", "1").body(()).unwrap())
///     // ...for requests that ask for it only.
///     .when(|req: &http::Request<()>| req.headers().get("x-chaos").is_some_and(|v| v == "on"));
/// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, seawall::BoxError>(http::Response::new(()))
/// }));
/// let tagged = http::Request::builder().header("x-chaos", "on").body(())?;
/// assert_eq!(svc.clone().oneshot(tagged).await?.status(), 503);
/// assert_eq!(svc.oneshot(http::Request::new(())).await?.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChaosLayer<O = NoOutcome, W = Everything> {
    chaos: Chaos,
    outcome: O,
    when: W,
}

impl ChaosLayer {
    /// Injects `chaos`'s faults; no outcomes until [`outcome`](Self::outcome).
    pub fn new(chaos: &Chaos) -> Self {
        Self {
            chaos: chaos.clone(),
            outcome: NoOutcome,
            when: Everything,
        }
    }
}

impl<O, W> ChaosLayer<O, W> {
    /// The response an injected outcome answers with (an HTTP 503, a gRPC
    /// `UNAVAILABLE`): made by `make` each time.
    pub fn outcome<F>(self, make: F) -> ChaosLayer<F, W> {
        ChaosLayer {
            chaos: self.chaos,
            outcome: make,
            when: self.when,
        }
    }

    /// Injects only into requests `wants` picks (a route, a tenant, a
    /// header such as `x-chaos: on`); others pass untouched and undrawn.
    pub fn when<F>(self, wants: F) -> ChaosLayer<O, F> {
        ChaosLayer {
            chaos: self.chaos,
            outcome: self.outcome,
            when: wants,
        }
    }

    /// Its injector.
    pub fn handle(&self) -> &Chaos {
        &self.chaos
    }
}

impl<O, W> fmt::Debug for ChaosLayer<O, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl<S, O: Clone, W: Clone> Layer<S> for ChaosLayer<O, W> {
    type Service = ChaosService<S, O, W>;
    fn layer(&self, inner: S) -> Self::Service {
        ChaosService {
            inner,
            chaos: self.chaos.clone(),
            outcome: self.outcome.clone(),
            when: self.when.clone(),
        }
    }
}

/// The service of [`ChaosLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("inventory").error_rate(1.0).build()?;
/// let mut svc = chaos.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// let err = svc.ready().await?.call(7).await.unwrap_err();
/// assert_eq!(seawall::rejection(&err).unwrap().kind(), RejectionKind::Injected);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChaosService<S, O = NoOutcome, W = Everything> {
    inner: S,
    chaos: Chaos,
    outcome: O,
    when: W,
}

impl<S: fmt::Debug, O, W> fmt::Debug for ChaosService<S, O, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosService")
            .field("inner", &self.inner)
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl<S, Req, O, W> Service<Req> for ChaosService<S, O, W>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    O: InjectOutcome<S::Response>,
    W: ChaosFilter<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ChaosFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if !self.when.wants(&req) {
            return ChaosFuture::calling(self.inner.call(req));
        }
        let faults = self.chaos.decide_for(O::POSSIBLE);
        if faults.is_none() {
            return ChaosFuture::calling(self.inner.call(req));
        }
        self.inject(faults, req)
    }
}

impl<S, O, W> ChaosService<S, O, W> {
    #[cold]
    #[inline(never)]
    fn inject<Req>(&mut self, faults: Faults, req: Req) -> ChaosFuture<S, Req>
    where
        S: Service<Req> + Clone,
        S::Error: Into<BoxError>,
        O: InjectOutcome<S::Response>,
    {
        if faults.behaviour {
            self.chaos.run_behaviour();
        }
        let answer = if faults.error {
            Some(Err(self.chaos.error()))
        } else if faults.outcome {
            self.outcome.outcome().map(Ok)
        } else {
            None
        };
        match faults.latency {
            // The call (or the answer) after the delay: the ready service
            // goes with the future, a clone stays (tower's idiom).
            Some(delay) => {
                let ready = answer.is_none().then(|| {
                    let clone = self.inner.clone();
                    std::mem::replace(&mut self.inner, clone)
                });
                ChaosFuture::injected(SlowState::Sleeping {
                    sleep: crate::clock::sleep(delay, "an injected delay"),
                    then: Some(match (answer, ready) {
                        (Some(answer), _) => Then::Answer(answer),
                        (None, Some(svc)) => Then::Call(svc, req),
                        (None, None) => Then::Answer(Err("chaos: nothing to call".into())),
                    }),
                })
            }
            None => match answer {
                Some(answer) => ChaosFuture::injected(SlowState::Answered {
                    answer: Some(answer),
                }),
                None => ChaosFuture::calling(self.inner.call(req)),
            },
        }
    }
}

enum Then<S: Service<Req>, Req> {
    Answer(Result<S::Response, BoxError>),
    Call(S, Req),
}

pin_project! {
    /// The response future of [`ChaosService`]: the inner call's future,
    /// or, when a fault was injected, a boxed future of its own (the
    /// passing path carries no room for a timer or an answer).
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let chaos = Chaos::builder("inventory").latency(1.0, Latency::Fixed(Duration::from_secs(1))).build()?;
    /// let mut svc = chaos.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    /// let start = tokio::time::Instant::now();
    /// assert_eq!(svc.ready().await?.call(7).await?, 7);  // delayed, then called
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # Ok(()) }
    /// ```
    pub struct ChaosFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Calling { #[pin] future: S::Future },
        Injected { slow: Pin<Box<Slow<S, Req>>> },
    }
}

pin_project! {
    /// An injected call: sleeping, then answering or calling.
    struct Slow<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: SlowState<S, Req>,
    }
}

pin_project! {
    #[project = SlowProj]
    enum SlowState<S, Req>
    where
        S: Service<Req>,
    {
        Sleeping { #[pin] sleep: Sleep, then: Option<Then<S, Req>> },
        Calling { #[pin] future: S::Future },
        Answered { answer: Option<Result<S::Response, BoxError>> },
    }
}

impl<S: Service<Req>, Req> ChaosFuture<S, Req> {
    #[inline]
    fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    #[cold]
    fn injected(state: SlowState<S, Req>) -> Self {
        Self {
            state: State::Injected {
                slow: Box::pin(Slow { state }),
            },
        }
    }
}

impl<S, Req> Future for ChaosFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Calling { future } => future.poll(cx).map_err(Into::into),
            StateProj::Injected { slow } => slow.as_mut().poll(cx),
        }
    }
}

impl<S, Req> Future for Slow<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                SlowProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
                SlowProj::Answered { answer } => {
                    return Poll::Ready(
                        answer
                            .take()
                            .unwrap_or_else(|| Err("ChaosFuture polled after completion".into())),
                    );
                }
                SlowProj::Sleeping { sleep, then } => {
                    ready!(sleep.poll(cx));
                    let next = match then.take() {
                        Some(Then::Call(mut svc, req)) => SlowState::Calling {
                            future: svc.call(req),
                        },
                        Some(Then::Answer(answer)) => SlowState::Answered {
                            answer: Some(answer),
                        },
                        None => SlowState::Answered { answer: None },
                    };
                    this.state.set(next);
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ChaosFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChaosFuture")
    }
}
