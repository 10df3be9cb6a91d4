//! Which request bodies the HTTP retry can send again.

/// A request body [`HttpReplay`](super::HttpReplay) can copy for another
/// attempt, or knows it cannot: a streaming body answers `None`, and the
/// request gets one attempt (never an error, never a second send of half a
/// stream).
///
/// Implemented for the buffered bodies (`()`, `String`, `Vec<u8>`,
/// `Bytes`, `&'static str`, `&'static [u8]`, `http_body_util::Full`,
/// `Empty`) and, answering `None`, for the streaming ones
/// (`http_body_util`'s `BoxBody`, `UnsyncBoxBody`, `StreamBody`,
/// `Limited`; with the `hyper` feature, `hyper::body::Incoming`; with
/// `grpc`, `tonic::body::Body`). For a body type of your own, implement
/// it: `Some(self.clone())` if it is a buffer, `None` if it streams.
///
/// ```
/// use seawall::http::ReplayBody;
///
/// #[derive(Clone)]
/// struct Json(String);
/// impl ReplayBody for Json {
///     fn replay_body(&self) -> Option<Self> {
///         Some(self.clone())
///     }
/// }
/// assert!(Json("{}".into()).replay_body().is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "seawall's HTTP retry cannot tell whether a `{Self}` body can be sent twice",
    label = "no `ReplayBody` for this body type",
    note = "implement `seawall::http::ReplayBody` for it: `Some(self.clone())` for a buffered body, `None` for a stream (one attempt)",
    note = "for a body type from another crate, wrap it in a type of yours, or give the retry `.replay_with(..)`"
)]
pub trait ReplayBody: Sized {
    /// A copy of the body for another attempt, or `None` when it streams
    /// (the request is then sent once).
    fn replay_body(&self) -> Option<Self>;
}

macro_rules! buffered {
    ($($t:ty),* $(,)?) => {$(
        impl ReplayBody for $t {
            #[inline]
            fn replay_body(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

buffered!(
    (),
    String,
    Vec<u8>,
    bytes::Bytes,
    &'static str,
    &'static [u8]
);

impl<D: Clone> ReplayBody for http_body_util::Full<D> {
    #[inline]
    fn replay_body(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for http_body_util::Empty<D> {
    #[inline]
    fn replay_body(&self) -> Option<Self> {
        Some(http_body_util::Empty::new())
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::BoxBody<D, E> {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::UnsyncBoxBody<D, E> {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

impl<S> ReplayBody for http_body_util::StreamBody<S> {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

impl<B> ReplayBody for http_body_util::Limited<B> {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

#[cfg(feature = "hyper")]
impl ReplayBody for hyper::body::Incoming {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

#[cfg(feature = "grpc")]
impl ReplayBody for tonic::body::Body {
    fn replay_body(&self) -> Option<Self> {
        None
    }
}
