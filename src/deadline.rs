//! When a call must be done by: a [`Deadline`], set by the caller or by
//! `http::DeadlineLayer` and carried in `http::Request` extensions, read by
//! `within_deadline` timeouts and hedges. A deadline is no HTTP notion, so
//! it lives with the shared mechanics; the HTTP adapter puts it on
//! requests (`seawall::http::Deadline` is this type).
//!
//! ```
//! use seawall::prelude::*;
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(Deadline(Instant::now() + Duration::from_secs(3)));
//! tokio::time::advance(Duration::from_secs(1)).await;
//! assert_eq!(Deadline::of(&req).unwrap().remaining(), Duration::from_secs(2));
//! # }
//! ```

use std::time::Duration;
use tokio::time::Instant;

/// When a request must be done by; kept in `http::Request` extensions.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut svc = ServiceBuilder::new()
///     .layer(seawall::http::DeadlineLayer::new(Duration::from_secs(2)))
///     .service(service_fn(|req: http::Request<()>| async move {
///         let left = Deadline::of(&req).expect("set by the layer").remaining();
///         Ok::<_, BoxError>(left)
///     }));
/// let left = svc.ready().await?.call(http::Request::new(())).await?;
/// assert!(left <= Duration::from_secs(2));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// Time left before the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The deadline of `req`, if it carries one (feature `http`): the earlier of a
    /// [`Deadline`] in its extensions and its retry's deadline (from its
    /// [`Attempt`](crate::replay::Attempt)).
    #[cfg(feature = "http")]
    #[inline]
    pub fn of<B>(req: &http::Request<B>) -> Option<Deadline> {
        Self::in_extensions(req.extensions())
    }

    /// The deadline in a request's extensions (as [`of`](Self::of) reads
    /// them): for clients whose requests keep extensions apart, as
    /// `reqwest-middleware` does.
    #[cfg(feature = "http")]
    #[inline]
    pub fn in_extensions(ext: &http::Extensions) -> Option<Deadline> {
        // The usual case, tested inline: nothing to look up (a lookup is a
        // call, and the attempt timeout makes it on every call).
        if ext.is_empty() {
            return None;
        }
        let own = ext.get::<Deadline>().copied();
        let retry = ext
            .get::<crate::replay::Attempt>()
            .and_then(|a| a.deadline)
            .map(Deadline);
        match (own, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
