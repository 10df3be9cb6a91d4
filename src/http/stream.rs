//! A bulkhead whose slot is held until the response body ends: for
//! streaming responses (server-sent events, gRPC server streams), where the
//! work goes on after the headers.

use crate::bulkhead::{Bulkhead, BulkheadPermit};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// Limits how many responses are in flight *including their bodies*: a
/// call takes a slot of `bulkhead` (or is refused with `BulkheadFull` at
/// once, as the bulkhead's own `layer()`) and gives it back when its
/// response body has ended, failed or been dropped — not when the headers
/// arrive, which is where every other layer's work ends. Use it for
/// streams: with the plain bulkhead, a server running two long gRPC server
/// streams shows none in flight.
///
/// ```
/// use seawall::http::StreamingBulkheadLayer;
/// use seawall::prelude::*;
/// use http_body_util::BodyExt;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("streams").max_concurrent_calls(2).build()?;
/// let svc = StreamingBulkheadLayer::new(&bulkhead).layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, BoxError>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("tick"))))
/// }));
/// let res = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(bulkhead.metrics().in_flight, 1, "the body is still to be read");
/// let body = res.into_body().collect().await?.to_bytes();
/// assert_eq!((body.as_ref(), bulkhead.metrics().in_flight), (&b"tick"[..], 0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamingBulkheadLayer {
    bulkhead: Bulkhead,
}

impl StreamingBulkheadLayer {
    /// Slots of `bulkhead`, held until each response body ends.
    pub fn new(bulkhead: &Bulkhead) -> Self {
        Self {
            bulkhead: bulkhead.clone(),
        }
    }
}

impl fmt::Debug for StreamingBulkheadLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingBulkheadLayer")
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

impl<S> Layer<S> for StreamingBulkheadLayer {
    type Service = StreamingBulkhead<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StreamingBulkhead {
            inner,
            bulkhead: self.bulkhead.clone(),
        }
    }
}

/// The service of [`StreamingBulkheadLayer`].
///
/// ```
/// use seawall::http::StreamingBulkheadLayer;
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let downloads = Bulkhead::builder("downloads").max_concurrent_calls(1).build()?;
/// let mut svc = StreamingBulkheadLayer::new(&downloads).layer(service_fn(|_req: ()| async {
///     Ok::<_, BoxError>(http::Response::new(String::new()))
/// }));
/// let streaming = svc.ready().await?.call(()).await?;
/// assert!(svc.ready().await?.call(()).await.is_err()); // BulkheadFull while the body streams
/// # drop(streaming); Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamingBulkhead<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S: fmt::Debug> fmt::Debug for StreamingBulkhead<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingBulkhead")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

impl<S, Req, B> Service<Req> for StreamingBulkhead<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<GuardedBody<B>>;
    type Error = BoxError;
    type Future = StreamingBulkheadFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.bulkhead.try_acquire() {
            Ok(permit) => StreamingBulkheadFuture {
                inner: Some(self.inner.call(req)),
                permit: Some(Ok(permit)),
            },
            Err(full) => StreamingBulkheadFuture {
                inner: None,
                permit: Some(Err(full.into())),
            },
        }
    }
}

pin_project! {
    /// The response future of [`StreamingBulkhead`]: the slot travels into
    /// the response's body.
    ///
    /// ```
    /// use seawall::http::StreamingBulkheadLayer;
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let downloads = Bulkhead::builder("downloads").build()?;
    /// let mut svc = StreamingBulkheadLayer::new(&downloads).layer(service_fn(|_req: ()| async {
    ///     Ok::<_, BoxError>(http::Response::new(String::new()))
    /// }));
    /// let future = svc.ready().await?.call(());
    /// let res = future.await?;                 // a response whose body holds the slot
    /// # drop(res); Ok(()) }
    /// ```
    pub struct StreamingBulkheadFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<Result<BulkheadPermit, BoxError>>,
    }
}

impl<F, B, E> Future for StreamingBulkheadFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<GuardedBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let err = match this.permit.take() {
                Some(Err(full)) => full,
                _ => "StreamingBulkheadFuture polled after completion".into(),
            };
            return Poll::Ready(Err(err));
        };
        let res = ready!(inner.poll(cx)).map_err(Into::into)?;
        let permit = this.permit.take().and_then(Result::ok);
        Poll::Ready(Ok(res.map(|body| GuardedBody { body, permit })))
    }
}

impl<F> fmt::Debug for StreamingBulkheadFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamingBulkheadFuture")
    }
}

pin_project! {
    /// A response body holding a bulkhead slot until it ends, fails or is
    /// dropped.
    ///
    /// ```
    /// use seawall::http::{GuardedBody, StreamingBulkheadLayer};
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let downloads = Bulkhead::builder("downloads").build()?;
    /// let mut svc = StreamingBulkheadLayer::new(&downloads).layer(service_fn(|_req: ()| async {
    ///     Ok::<_, BoxError>(http::Response::new(String::from("bytes")))
    /// }));
    /// let res: http::Response<GuardedBody<String>> = svc.ready().await?.call(()).await?;
    /// drop(res.into_body());                   // the stream ended (or was dropped): slot back
    /// assert_eq!(downloads.metrics().in_flight, 0);
    /// # Ok(()) }
    /// ```
    pub struct GuardedBody<B> {
        #[pin]
        body: B,
        permit: Option<BulkheadPermit>,
    }
}

impl<B: Body> Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.body.as_mut().poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || this.body.is_end_stream() {
            // Ended or failed: the slot goes back now, not when the body is
            // dropped (a reader may keep it long after its last frame).
            this.permit.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An empty body holding no slot (what a `GrpcStatusLayer` outside
/// answers a rejection with).
impl<B: Default> Default for GuardedBody<B> {
    fn default() -> Self {
        Self {
            body: B::default(),
            permit: None,
        }
    }
}

impl<B> fmt::Debug for GuardedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedBody")
            .field("holds_slot", &self.permit.is_some())
            .finish()
    }
}
