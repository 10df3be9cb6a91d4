//! Buffering a unary gRPC request's body, so the retry can replay it, up to
//! a limit past which the request is sent on unbuffered (one attempt).

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;
use std::collections::VecDeque;
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
/// retry inside can send it again. Put it outside the retry.
///
/// At most [`max_bytes`](Self::max_bytes) are held per request (1 MiB
/// unless set, as gRPC's own per-call retry buffer): a body that grows
/// past it is sent on at once, the bytes read so far first, and without
/// [`BufferedBody`], so that call gets one attempt and memory stays
/// bounded. Not for client-streaming calls whose messages fit under the
/// limit: it waits for the end of the body before sending anything.
///
/// Like seawall's waiting layers, `poll_ready` reserves nothing; the
/// response future drives a clone of the inner service once the body is in.
#[derive(Debug, Clone, Copy)]
pub struct BufferRequestLayer {
    max_bytes: usize,
}

impl BufferRequestLayer {
    /// What [`new`](Self::new) holds per request: 1 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 1 << 20;

    /// The layer, buffering up to [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES).
    pub fn new() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }

    /// Buffers bodies of up to `max_bytes` (0: only empty ones); longer
    /// ones are sent on unbuffered.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

impl Default for BufferRequestLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for BufferRequestLayer {
    type Service = BufferRequest<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BufferRequest {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// Made by [`BufferRequestLayer`].
#[derive(Debug, Clone)]
pub struct BufferRequest<S> {
    inner: S,
    max_bytes: usize,
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
            state: State::Reading {
                body: Some(body),
                parts: Some(parts),
                chunks: VecDeque::new(),
                len: 0,
                max_bytes: self.max_bytes,
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
        // Reading the body: the chunks so far and their length.
        Reading {
            body: Option<Body>,
            parts: Option<http::request::Parts>,
            chunks: VecDeque<Bytes>,
            len: usize,
            max_bytes: usize,
        },
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
                StateProj::Reading {
                    body,
                    parts,
                    chunks,
                    len,
                    max_bytes,
                } => {
                    let Some(reading) = body.as_mut() else {
                        return Poll::Ready(Err(
                            "BufferRequestFuture polled after completion".into()
                        ));
                    };
                    // `Some(trailers)` to send it on unbuffered, `None` if
                    // the whole body is in.
                    let unbuffered_with = match ready!(Pin::new(reading).poll_frame(cx)) {
                        Some(Err(status)) => return Poll::Ready(Err(status.into())),
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => {
                                *len = len.saturating_add(data.len());
                                chunks.push_back(data);
                                if *len <= *max_bytes {
                                    continue;
                                }
                                // Too long to hold: send it on as it comes.
                                Some(None)
                            }
                            // Trailers, which a replay would not carry: send
                            // it on unbuffered, trailers and all.
                            Err(frame) => Some(frame.into_trailers().ok()),
                        },
                        None => None,
                    };
                    let (Some(parts), Some(body)) = (parts.take(), body.take()) else {
                        return Poll::Ready(Err(
                            "BufferRequestFuture polled after completion".into()
                        ));
                    };
                    let chunks = std::mem::take(chunks);
                    let req = match unbuffered_with {
                        None => buffered(parts, chunks, *len),
                        Some(trailers) => unbuffered(parts, body, chunks, trailers),
                    };
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

/// The whole body, read: one `Bytes` (copied only if it came in several
/// chunks), kept in the extensions and sent.
fn buffered(
    mut parts: http::request::Parts,
    mut chunks: VecDeque<Bytes>,
    len: usize,
) -> http::Request<Body> {
    let bytes = if chunks.len() <= 1 {
        chunks.pop_front().unwrap_or_default()
    } else {
        let mut all = BytesMut::with_capacity(len);
        chunks.iter().for_each(|c| all.extend_from_slice(c));
        all.freeze()
    };
    parts.extensions.insert(BufferedBody(bytes.clone()));
    http::Request::from_parts(parts, Body::new(Full::new(bytes)))
}

/// The request with a body that sends the chunks read so far, then
/// `trailers` or what is left of `rest`; without [`BufferedBody`].
fn unbuffered(
    parts: http::request::Parts,
    rest: Body,
    chunks: VecDeque<Bytes>,
    trailers: Option<http::HeaderMap>,
) -> http::Request<Body> {
    let body = Prefixed {
        chunks,
        trailers,
        rest,
    };
    http::Request::from_parts(parts, Body::new(body))
}

pin_project! {
    /// Chunks already read, then trailers already read or the rest.
    struct Prefixed {
        chunks: VecDeque<Bytes>,
        trailers: Option<http::HeaderMap>,
        #[pin]
        rest: Body,
    }
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.project();
        if let Some(chunk) = this.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        this.rest.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.trailers.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(read));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint
    }
}

impl<S: Service<http::Request<Body>>> fmt::Debug for BufferRequestFuture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BufferRequestFuture")
    }
}
