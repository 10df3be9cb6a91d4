//! How a request is copied for another attempt, and what each attempt is
//! told about itself.

use std::time::Duration;
use tokio::time::Instant;

/// Which attempt this is and how much of the retry's deadline is left; a
/// [`ReplayRequest`] may put it in the request (the HTTP one puts it in the
/// extensions, so a client can log the attempt or set `grpc-timeout`).
///
/// ```
/// use seawall::prelude::*;
/// use seawall::retry::Attempt;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("inventory").max_attempts(3).no_budget().build()?;
/// let mut svc = retry.layer().for_http().layer(service_fn(|req: http::Request<String>| async move {
///     let attempt = Attempt::of(&req);            // 1, then 2 for the first retry
///     let status = if attempt.number == 1 { 503 } else { 200 };
///     Ok::<_, BoxError>(http::Response::builder().status(status).body(String::new())?)
/// }));
/// let res = svc.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(res.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt, 2 for the first retry, ...
    pub number: u32,
    /// Time left before the retry's deadline, if it has one.
    pub remaining: Option<Duration>,
    /// The retry's deadline (on tokio's clock), if it has one.
    pub deadline: Option<Instant>,
}

/// Copies requests for later attempts. The layer copies the request once
/// before the first attempt (the call consumes it) and again before each
/// retry but the last; a request `replay` cannot copy is simply not retried.
///
/// ```
/// use seawall::retry::ReplayRequest;
///
/// // A request type whose body is kept elsewhere: copy the handle, not the bytes.
/// #[derive(Debug)]
/// struct Upload { id: u64 }
/// struct ById;
/// impl ReplayRequest<Upload> for ById {
///     fn replay(&self, req: &Upload) -> Option<Upload> {
///         Some(Upload { id: req.id })
///     }
///     fn is_idempotent(&self, _req: &Upload) -> bool {
///         true // uploads are keyed by id: sending twice is safe
///     }
/// }
/// assert_eq!(ById.replay(&Upload { id: 7 }).unwrap().id, 7);
/// ```
#[diagnostic::on_unimplemented(
    message = "seawall's retry cannot copy a `{Req}` for another attempt with `{Self}`",
    label = "no way to replay this request",
    note = "the default replay (`CloneRequests`) needs `{Req}: Clone`; an HTTP request needs a cloneable body (`Full<Bytes>`, `Empty<Bytes>`, `String`, ...)",
    note = "for a body that cannot be cloned give the layer `.replay_with(|req| None)` (one attempt each) or your own copy; gRPC: `.replay(GrpcReplay)`"
)]
pub trait ReplayRequest<Req> {
    /// A copy of `req` for a later attempt, or `None` if it cannot be
    /// copied (then the call gets one attempt).
    fn replay(&self, req: &Req) -> Option<Req>;

    /// Whether `req` may be sent again after a failure that does not prove
    /// it never left (an HTTP POST may already have taken effect). Default:
    /// yes.
    fn is_idempotent(&self, _req: &Req) -> bool {
        true
    }

    /// Called once on a call's request, when more than one attempt is
    /// allowed, before the copy for later attempts is made: a replay that
    /// records the body as it is sent (gRPC's retry buffer, [`GrpcReplay`])
    /// sets up its recording here. Default: nothing.
    ///
    /// [`GrpcReplay`]: https://docs.rs/seawall/latest/seawall/grpc/struct.GrpcReplay.html
    #[inline]
    fn prepare(&self, _req: &mut Req) {}

    /// Whether a copy made earlier can still be sent: a recording copy
    /// expires once the original's body passes its limit. Asked only when
    /// a retry is about to be scheduled. Default: yes.
    #[inline]
    fn can_replay(&self, _copy: &Req) -> bool {
        true
    }

    /// Called on each attempt's request just before it is sent. Default:
    /// nothing.
    fn before_attempt(&self, _req: &mut Req, _attempt: Attempt) {}

    /// When the request must be done by, if it carries a deadline (HTTP: a
    /// [`Deadline`](crate::deadline::Deadline)
    /// in its extensions): a hedge is not sent when what is left would not
    /// cover it. Default: none.
    #[inline]
    fn deadline(&self, _req: &Req) -> Option<Instant> {
        None
    }

    /// The time the caller gave the whole call, when the request says
    /// (gRPC's `grpc-timeout`): the retry's deadline is then the earlier
    /// of its own and this, so no attempt starts, and no attempt is told
    /// it has, more than the caller allowed. Default: the request says
    /// nothing.
    #[inline]
    fn budget(&self, _req: &Req) -> Option<Duration> {
        None
    }
}

/// Copies requests with `Clone` (the default).
///
/// ```
/// use seawall::retry::{CloneRequests, ReplayRequest};
///
/// assert_eq!(CloneRequests.replay(&"GET /items".to_string()).as_deref(), Some("GET /items"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequests;

impl<Req: Clone> ReplayRequest<Req> for CloneRequests {
    #[inline]
    fn replay(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Copies requests with a user's function; made by
/// [`RetryLayer::replay_with`](https://docs.rs/seawall/latest/seawall/retry/struct.RetryLayer.html#method.replay_with).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer};
///
/// # fn main() -> Result<(), BoxError> {
/// // Large requests are sent once; small ones may be retried.
/// let layer = Retry::builder("uploads")
///     .build()?
///     .layer()
///     .replay_with(|req: &Vec<u8>| (req.len() < 1024).then(|| req.clone()));
/// let svc = layer.layer(service_fn(|req: Vec<u8>| async move { Ok::<_, BoxError>(req.len()) }));
/// # let _ = svc; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReplayFn<F>(pub(crate) F);

impl<F, Req> ReplayRequest<Req> for ReplayFn<F>
where
    F: Fn(&Req) -> Option<Req>,
{
    fn replay(&self, req: &Req) -> Option<Req> {
        (self.0)(req)
    }
}
