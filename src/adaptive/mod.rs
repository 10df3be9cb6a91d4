//! Adapting to what is measured rather than to a number set once.
//!
//! # Adaptive concurrency ([`AdaptiveLimiter`])
//!
//! A static concurrency limit is wrong the day after it is set. An
//! [`AdaptiveLimiter`] admits at most `limit()` calls at once and moves the
//! limit with what the calls it admitted measured: their round trips, and
//! their drops (a call the classifier calls a `Failure`: a 503, a timeout).
//! Three rules are provided behind the [`LimitAlgorithm`] trait, each with
//! Netflix concurrency-limits' published update rule and defaults, written
//! out beside its type: [`Aimd`] (additive increase, multiplicative
//! decrease: reacts to drops), [`Vegas`] (TCP Vegas: reads the queue from
//! how far the round trip grew past the best seen) and [`Gradient2`]
//! (follows the ratio of a long-term round trip to the latest one; the
//! default).
//!
//! ```
//! use seawall::adaptive::{AdaptiveLimiter, Aimd};
//! use seawall::prelude::*;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let limiter = AdaptiveLimiter::builder("inventory")
//!     .algorithm(Aimd::default().min_limit(5).max_limit(500))
//!     .build()?;
//! let svc = ServiceBuilder::new()
//!     .layer(limiter.layer())
//!     .service(service_fn(|id: u32| async move { Ok::<_, BoxError>(id) }));
//! assert_eq!(svc.oneshot(7).await?, 7);
//! assert_eq!(limiter.limit(), 20); // Netflix's initial limit, until a window closes
//! # Ok(()) }
//! ```
//!
//! **How the limit moves.** Each finished call adds its round trip, its
//! drop and the in-flight count it saw to its own thread's stripe. Every
//! `window` (100 ms by default, as Envoy's `concurrency_update_interval`)
//! the first call to finish after the window ends — any call, never one
//! that waits for it — sums the stripes into one [`Sample`] (mean round
//! trip of the calls not dropped, the most calls in flight, whether any
//! dropped), asks the algorithm for the new limit and resizes the
//! semaphore. A window with fewer than `min_window_calls` (10) stays open.
//! A refusal's fast round trip is left out of the mean, as Netflix's
//! `addDroppedSample`: it would read as a quiet dependency. Algorithms
//! count "samples" in windows, so Gradient2's long window of 600 is one
//! minute.
//!
//! **Hot path.** Admission is one CAS on one word (the semaphore the
//! bulkhead uses: free permits and a queued flag); finishing is one CAS,
//! plain stores to the thread's stripe and one load of the window's end.
//! Lowering the limit never drops calls in flight: new calls wait until
//! enough have finished.
//!
//! **Refusals and waiting.** Past the limit a call is refused with
//! [`Overloaded`](crate::error::Overloaded) (503 over HTTP, `UNAVAILABLE`
//! over gRPC; retries do not retry it), or, with `max_wait`, waits in
//! arrival order like the bulkhead ([`AdaptiveLimiterLayer::waiting`]).
//!
//! **Partitions** (Netflix's partitioned limiter): `.partition("batch",
//! 0.2)` reserves a share of the limit. Under the limit any partition uses
//! all of it; at the limit, a partition using less than its share is still
//! admitted, so batch traffic cannot starve interactive traffic.
//!
//! **Watching it.** `limit()` and `metrics()`; the `seawall_adaptive_limit`
//! gauge; a [`LimitMoved`](crate::telemetry::EventKind::LimitMoved) event
//! when the limit has moved by more than `report_share` (10 %) since the
//! last one.
//!
//! # Client-side adaptive throttling ([`AdaptiveThrottle`])
//!
//! The Google SRE book's "Handling Overload": a client whose dependency
//! refuses calls drops some of its own calls locally, in proportion.
//!
//! Over a rolling window (2 minutes by default) the client counts
//! `requests` (every call it was asked to make, those it dropped
//! included) and `accepts` (calls the dependency answered without
//! refusing: by the classifier, not a `Failure`). Each call is dropped
//! with probability
//!
//! ```text
//! p = max(0, (requests − K·accepts) / (requests + 1)),  at most max_reject
//! ```
//!
//! With `K = 2` (the book's default) the client lets through about twice
//! what the dependency accepts: while it accepts everything, `p` is 0;
//! when it accepts nothing, `p` climbs towards `max_reject` (0.9 here:
//! one call in ten still probes, so recovery is seen). Lower `K` is more
//! aggressive.
//!
//! grpc-go's RLS throttler is a variant: `(requests − 2·accepts) /
//! (requests + 8)` over 30 s kept in 100 bins, with no cap — slower to
//! start dropping (the `+ 8`) and quicker to forget. Here the window is
//! kept in 20 bins; a bin older than the window counts for nothing.
//!
//! Calls count themselves and their answers on their own thread's stripe
//! (no contended write), and each thread recomputes `p` on its first call
//! in a bin and every 64th after; between, it uses the last `p` computed.
//! `reject_probability()` always computes afresh.
//!
//! Draws are reproducible: the `n`-th call of a throttle built with
//! `.seed(s)` draws the same number every run (a counter through
//! SplitMix64), so tests can count drops exactly.

mod algorithm;
mod layer;
mod limiter;
mod throttle;
mod throttle_reconfigure;

pub use self::algorithm::{Aimd, Gradient2, LimitAlgorithm, Sample, Vegas};
pub use self::layer::{
    AdaptiveLimiterLayer, AdaptiveLimiterService, ClassifiedAcquire, ClassifiedLimiter,
    PartitionBy, Partitioner, ResponseFuture, Settling, WaitingAdaptiveLimiterLayer,
    WaitingAdaptiveLimiterService,
};
pub use self::limiter::{
    Acquire, AdaptiveLimiter, AdaptiveLimiterBuilder, AdaptiveLimiterMetrics, AdaptivePermit,
    MAX_LIMIT, MAX_WAIT_LIMIT,
};
pub use self::throttle::{
    AdaptiveThrottle, AdaptiveThrottleBuilder, AdaptiveThrottleLayer, AdaptiveThrottleService,
    Judged, ThrottleFuture, Ticket,
};
