//! The hedge as tower middleware.

use super::future::ResponseFuture;
use super::{Hedge, Shared};
use crate::outcome::{Classify, DefaultClassifier};
use crate::replay::{CloneRequests, ReplayRequest};
use crate::stripes::Handles;
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Hedges the calls of the service inside it; made by [`Hedge::layer`].
/// `R` copies requests (and says which are idempotent), `C` tells a good
/// answer from a failed attempt.
///
/// ```
/// use seawall::prelude::*;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), BoxError> {
/// let hedge = Hedge::builder("search").delay(HedgeDelay::P95).build()?;
/// let client = ServiceBuilder::new()
///     .layer(hedge.layer().for_http())   // idempotent requests only; a 5xx sends the next copy
///     .service(tower::service_fn(|_req: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::new()))
///     }));
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HedgeLayer<R = CloneRequests, C = DefaultClassifier> {
    hedge: Hedge,
    replay: R,
    classify: C,
}

impl<R, C> fmt::Debug for HedgeLayer<R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HedgeLayer").field(&self.hedge).finish()
    }
}

impl HedgeLayer {
    pub(crate) fn new(hedge: Hedge) -> Self {
        Self {
            hedge,
            replay: CloneRequests,
            classify: DefaultClassifier,
        }
    }
}

impl<R, C> HedgeLayer<R, C> {
    /// How requests are copied, and which may be sent twice
    /// ([`ReplayRequest::is_idempotent`]).
    pub fn replay<R2>(self, replay: R2) -> HedgeLayer<R2, C> {
        HedgeLayer {
            hedge: self.hedge,
            replay,
            classify: self.classify,
        }
    }

    /// What a failed attempt is: an answer the classifier calls a
    /// failure is not taken while another attempt may still answer well.
    pub fn classify<C2>(self, classify: C2) -> HedgeLayer<R, C2> {
        HedgeLayer {
            hedge: self.hedge,
            replay: self.replay,
            classify,
        }
    }

    /// The shared hedge (its metrics).
    pub fn handle(&self) -> &Hedge {
        &self.hedge
    }
}

impl<S: Clone, R: Clone, C: Clone> Layer<S> for HedgeLayer<R, C> {
    type Service = HedgeService<S, R, C>;
    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            backup: Handles::new(Arc::new(Backup {
                shared: self.hedge.shared.clone(),
                replay: self.replay.clone(),
                classify: self.classify.clone(),
                service: Mutex::new(inner.clone()),
            })),
            inner,
        }
    }
}

/// What a service's calls share: the hedge, how to copy and judge, and a
/// copy of the service to clone for each hedge.
pub(crate) struct Backup<S, R, C> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) replay: R,
    pub(crate) classify: C,
    pub(crate) service: Mutex<S>,
}

/// A service whose slow calls are hedged; made by [`HedgeLayer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let hedge = Hedge::builder("echo").build()?;
/// let mut svc = hedge.layer().layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7); // answered at once: no copy sent
/// assert_eq!(hedge.metrics().hedges, 0);
/// # Ok(()) }
/// ```
pub struct HedgeService<S, R = CloneRequests, C = DefaultClassifier> {
    inner: S,
    // Per-thread handles: a call's reference count stays on its own core.
    backup: Handles<Backup<S, R, C>>,
}

impl<S: Clone, R, C> Clone for HedgeService<S, R, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            backup: self.backup.clone(),
        }
    }
}

impl<S: fmt::Debug, R, C> fmt::Debug for HedgeService<S, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeService")
            .field("inner", &self.inner)
            .field("hedge", &self.backup.shared.name)
            .finish()
    }
}

impl<S, Req, R, C> Service<Req> for HedgeService<S, R, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    R: ReplayRequest<Req>,
    C: Classify<S::Response, BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, R, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// Counts the call, keeps a copy of an idempotent request for the
    /// hedges, reads the clock if the delay is learned, and calls.
    #[inline]
    fn call(&mut self, mut req: Req) -> Self::Future {
        let handle = self.backup.get().clone();
        let backup = &*handle.0;
        let shared = &*backup.shared;
        shared.begin();
        let copy = if backup.replay.is_idempotent(&req) {
            backup.replay.prepare(&mut req);
            backup.replay.replay(&req)
        } else {
            None
        };
        if copy.is_none() {
            shared.not_hedgeable();
        }
        let started = if shared.learns() {
            shared.clock.now()
        } else {
            0
        };
        // The request's deadline, or the time its caller gave it.
        let deadline = match (backup.replay.deadline(&req), backup.replay.budget(&req)) {
            (until, None) => until,
            (until, Some(budget)) => {
                let by = tokio::time::Instant::now() + budget;
                Some(until.map_or(by, |u| u.min(by)))
            }
        };
        ResponseFuture::new(self.inner.call(req), copy, started, deadline, handle)
    }
}
