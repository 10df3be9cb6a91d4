//! gRPC's retry buffer: a request's messages are sent on as the caller
//! writes them and recorded as they pass, so a retry can send them again,
//! up to a limit past which the call is no longer replayable.
//!
//! One recording per call, shared by the attempts' bodies:
//!
//! ```text
//! caller's body ──pull──▶ recording: frames[0..n], end ──▶ attempt 1's body (reads 0..n, pulls n+1..)
//!                                                     └──▶ attempt 2's body (replays 0..n, then pulls)
//! ```
//!
//! Whichever body reaches the end of what is recorded pulls the next frame
//! from the caller's body (under the lock, so one at a time) and records it;
//! a body that finds nothing yet waits with the others and all are woken by
//! the next frame. Attempts are sequential, so in practice one body reads
//! at a time; the waiters only matter for one an old attempt left behind.

use bytes::Bytes;
use http_body::Frame;
use parking_lot::Mutex;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tower_layer::Layer;
use tower_service::Service;

type Body = tonic::body::Body;

/// The most a call's recording holds unless set: 1 MiB, as gRPC's own
/// per-call retry buffer.
pub(crate) const DEFAULT_MAX_BYTES: usize = 1 << 20;

/// Sets how much of each request the gRPC retry keeps for replay. Optional:
/// [`GrpcReplay`](super::GrpcReplay) records every request it may retry,
/// up to 1 MiB (gRPC's per-call retry buffer); put this layer in front of
/// the retry (or the `grpc_client` preset) for another limit.
///
/// Messages are never held back: each goes on to the server as the caller
/// writes it (a client-streaming call streams), and a copy is kept as it
/// passes. A call whose messages pass the limit keeps its attempt, but is
/// no longer replayed (it counts in
/// [`RetryMetrics::not_replayable_calls`](crate::retry::RetryMetrics::not_replayable_calls)).
///
/// ```
/// use seawall::grpc::BufferRequestLayer;
/// use seawall::stack::Stack;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let layers = ServiceBuilder::new()
///     .layer(BufferRequestLayer::new().max_bytes(64 * 1024)) // 64 KiB per call
///     .layer(Stack::grpc_client("inventory")?);
/// # let _ = layers; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferRequestLayer {
    max_bytes: usize,
}

impl BufferRequestLayer {
    /// What [`new`](Self::new) keeps per request: 1 MiB.
    pub const DEFAULT_MAX_BYTES: usize = DEFAULT_MAX_BYTES;

    /// The layer, keeping up to [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES).
    pub fn new() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Keeps up to `max_bytes` of each request's messages (0: only calls
    /// without any are replayable).
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
///
/// ```
/// use seawall::grpc::BufferRequestLayer;
/// use tower::Layer;
///
/// // Records a streaming request's messages as they are sent (up to 64 KiB),
/// // so a retry can send them again.
/// let layer = BufferRequestLayer::new().max_bytes(64 * 1024);
/// let svc = layer.layer(tower::service_fn(|_req: http::Request<tonic::body::Body>| async {
///     Ok::<_, seawall::BoxError>(http::Response::new(tonic::body::Body::empty()))
/// }));
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct BufferRequest<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> Service<http::Request<Body>> for BufferRequest<S>
where
    S: Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> S::Future {
        record(&mut req, self.max_bytes);
        self.inner.call(req)
    }
}

/// A request's recording, in its extensions.
#[derive(Clone)]
pub(crate) struct Recorded(Arc<Recording>);

struct Recording {
    max_bytes: usize,
    state: Mutex<State>,
}

struct State {
    /// The caller's body, pulled by whichever attempt is furthest along.
    source: Body,
    /// The data frames pulled so far (emptied once past the limit).
    frames: Vec<Bytes>,
    /// Frames pulled, recorded or not.
    pulled: usize,
    /// Bytes pulled.
    len: usize,
    /// Past the limit: the frames are gone and no new attempt may start.
    overflowed: bool,
    end: End,
    /// Bodies waiting for the next frame.
    waiters: Vec<Waker>,
}

#[derive(Clone)]
enum End {
    Open,
    Trailers(http::HeaderMap),
    Done,
    Failed(tonic::Status),
}

/// Puts a recording of `req`'s body in its extensions (unless there is one)
/// and gives it a body that reads through it.
pub(crate) fn record(req: &mut http::Request<Body>, max_bytes: usize) {
    if req.extensions().get::<Recorded>().is_some() {
        return;
    }
    let source = std::mem::replace(req.body_mut(), Body::empty());
    let recording = Arc::new(Recording {
        max_bytes,
        state: Mutex::new(State {
            source,
            frames: Vec::new(),
            pulled: 0,
            len: 0,
            overflowed: false,
            end: End::Open,
            waiters: Vec::new(),
        }),
    });
    *req.body_mut() = Body::new(Replaying::new(recording.clone()));
    req.extensions_mut().insert(Recorded(recording));
}

impl Recorded {
    /// A body that sends the call's messages from the first, or `None`
    /// once some were let go past the limit.
    pub(crate) fn replay(&self) -> Option<Body> {
        self.can_replay()
            .then(|| Body::new(Replaying::new(self.0.clone())))
    }

    /// Whether every message so far is still held.
    pub(crate) fn can_replay(&self) -> bool {
        !self.0.state.lock().overflowed
    }
}

/// One attempt's body: the recording from the start, then the caller's.
struct Replaying {
    recording: Arc<Recording>,
    next: usize,
    trailers_sent: bool,
}

impl Replaying {
    fn new(recording: Arc<Recording>) -> Self {
        Self {
            recording,
            next: 0,
            trailers_sent: false,
        }
    }
}

impl http_body::Body for Replaying {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let max_bytes = this.recording.max_bytes;
        let mut state = this.recording.state.lock();
        loop {
            if this.next < state.pulled {
                // Behind: send what was recorded.
                let Some(frame) = state.frames.get(this.next).cloned() else {
                    return Poll::Ready(Some(Err(tonic::Status::internal(
                        "seawall: the request's messages were let go past the retry buffer's limit",
                    ))));
                };
                this.next += 1;
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            match &state.end {
                End::Open => {}
                End::Done => return Poll::Ready(None),
                End::Failed(status) => return Poll::Ready(Some(Err(status.clone()))),
                End::Trailers(trailers) if !this.trailers_sent => {
                    this.trailers_sent = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
                }
                End::Trailers(_) => return Poll::Ready(None),
            }
            // Furthest along: pull the next frame from the caller's body.
            let polled = Pin::new(&mut state.source).poll_frame(cx);
            let frame = match polled {
                Poll::Pending => {
                    if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiters.push(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    state.end = End::Done;
                    wake_all(&mut state);
                    continue;
                }
                Poll::Ready(Some(Err(status))) => {
                    state.end = End::Failed(status);
                    wake_all(&mut state);
                    continue;
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            wake_all(&mut state);
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        state.end = End::Trailers(trailers);
                    }
                    continue;
                }
            };
            state.pulled += 1;
            state.len = state.len.saturating_add(data.len());
            if state.overflowed {
                // Past the limit already: nothing is kept.
            } else if state.len > max_bytes {
                state.overflowed = true;
                state.frames = Vec::new();
            } else {
                state.frames.push(data.clone());
            }
            this.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        let state = self.recording.state.lock();
        self.next >= state.pulled
            && match state.end {
                End::Done => true,
                End::Trailers(_) => self.trailers_sent,
                End::Open => state.source.is_end_stream(),
                End::Failed(_) => false,
            }
    }
}

fn wake_all(state: &mut State) {
    state.waiters.drain(..).for_each(Waker::wake);
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorded")
    }
}
