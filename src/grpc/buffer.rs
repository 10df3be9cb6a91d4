//! Buffering a unary gRPC request's body, so the retry can replay it.

use bytes::Bytes;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Full};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

type Body = tonic::body::Body;

/// The buffered bytes of a request's body, kept in its extensions by
/// [`BufferRequestLayer`] for [`GrpcReplay`](super::GrpcReplay).
#[derive(Debug, Clone)]
pub struct BufferedBody(pub Bytes);

/// Reads each request's body into memory (a unary call's one message)
/// before passing the request on, keeping the bytes in its extensions so a
/// retry inside can send it again. Put it outside the retry. Not for
/// client-streaming calls: it waits for the whole body.
///
/// Like seawall's waiting layers, `poll_ready` reserves nothing; the
/// response future drives a clone of the inner service once the body is in.
#[derive(Debug, Clone, Copy, Default)]
pub struct BufferRequestLayer(());

impl BufferRequestLayer {
    /// The layer.
    pub fn new() -> Self {
        Self(())
    }
}

impl<S> Layer<S> for BufferRequestLayer {
    type Service = BufferRequest<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BufferRequest { inner }
    }
}

/// Made by [`BufferRequestLayer`].
#[derive(Debug, Clone)]
pub struct BufferRequest<S> {
    inner: S,
}

impl<S> Service<http::Request<Body>> for BufferRequest<S>
where
    S: Service<http::Request<Body>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BufferRequestFuture<S>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let (parts, body) = req.into_parts();
        BufferRequestFuture {
            service: self.inner.clone(),
            state: State::Collecting {
                collect: body.collect(),
                parts: Some(parts),
            },
        }
    }
}

pin_project! {
    /// The response future of [`BufferRequest`].
    pub struct BufferRequestFuture<S>
    where
        S: Service<http::Request<Body>>,
    {
        service: S,
        #[pin]
        state: State<S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Collecting { #[pin] collect: Collect<Body>, parts: Option<http::request::Parts> },
        Readying { req: Option<http::Request<Body>> },
        Calling { #[pin] future: F },
    }
}

impl<S> Future for BufferRequestFuture<S>
where
    S: Service<http::Request<Body>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Collecting { collect, parts } => {
                    let bytes = ready!(collect.poll(cx))?.to_bytes();
                    let Some(mut parts) = parts.take() else {
                        return Poll::Ready(Err(
                            "BufferRequestFuture polled after completion".into()
                        ));
                    };
                    parts.extensions.insert(BufferedBody(bytes.clone()));
                    let req = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
                    this.state.set(State::Readying { req: Some(req) });
                }
                StateProj::Readying { req } => {
                    ready!(this.service.poll_ready(cx)).map_err(Into::into)?;
                    let Some(req) = req.take() else {
                        return Poll::Ready(Err(
                            "BufferRequestFuture polled after completion".into()
                        ));
                    };
                    let future = this.service.call(req);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            }
        }
    }
}

impl<S: Service<http::Request<Body>>> fmt::Debug for BufferRequestFuture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BufferRequestFuture")
    }
}
