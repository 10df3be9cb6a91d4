//! Retries with jittered backoff, a deadline and a retry budget, as a
//! primitive ([`Retry::call`]) and a tower layer ([`RetryLayer`]).
//!
//! Safe by default: seawall's stop signals (`CircuitOpen`, `BulkheadFull`,
//! `FeatureDisabled`, `KeyLimitReached`, an inner `RetriesExhausted`) are
//! never retried; every retry spends from a [`RetryBudget`] (by default 20%
//! of the load plus 10 per second), so a dead dependency is not hit three
//! times as hard; a `RateLimited` rejection or an HTTP `Retry-After` (with
//! the `http` feature, see `seawall::http::retry_layer`) sets the next delay
//! when it is longer than the backoff's; non-idempotent HTTP requests are not
//! resent unless marked safe.
//!
//! ```
//! use seawall::retry::{Backoff, Jitter, Retry, RetryVerdict};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let retry = Retry::builder("inventory")
//!     .max_attempts(4)
//!     .backoff(Backoff::Exponential { initial: Duration::from_millis(100), multiplier: 2.0, max: Duration::from_secs(2) })
//!     .jitter(Jitter::Full)
//!     .deadline(Duration::from_secs(5))
//!     .build()?;
//! // Retry errors and "busy" answers; accept everything else.
//! let svc = ServiceBuilder::new()
//!     .layer(retry.layer().retry_if(|res: &Result<&str, seawall::BoxError>| match res {
//!         Ok("busy") | Err(_) => RetryVerdict::Retry,
//!         Ok(_) => RetryVerdict::Accept,
//!     }))
//!     .service(service_fn(|_: ()| async { Ok::<_, seawall::BoxError>("done") }));
//! assert_eq!(svc.oneshot(()).await?, "done");
//! assert_eq!(retry.metrics().calls, 1);
//! # Ok(()) }
//! ```

pub(crate) mod backoff;
mod error;
mod future;
mod layer;
mod policy;
mod primitive;
mod throttle;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::error::RetryError;
pub use self::future::ResponseFuture;
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use self::layer::Backup;
pub use self::layer::{RetryLayer, RetryService};
pub use self::policy::{RetryErrors, RetryVerdict, ShouldRetry};
pub use self::primitive::{Retry, RetryBuilder, RetryMetrics, DEFAULT_BUDGET};
pub use self::throttle::RetryThrottle;
pub use crate::budget::{RetryBudget, FLOOR_PERIOD};
pub use crate::error::RetriesExhausted;
pub use crate::replay::{Attempt, CloneRequests, ReplayFn, ReplayRequest};
pub use crate::telemetry::{GaveUp, RetryReason};
