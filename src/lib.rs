//! # seawall
//!
//! Resilience for Rust services: circuit breakers, rate limiters, bulkheads,
//! timeouts, fallbacks and retries, hedging and failover, adaptive
//! concurrency ([`adaptive`]) and load shedding by priority
//! ([`load_shed`]), each a plain
//! primitive and a [`tower`] layer, all on one lock-light hot path, one notion
//! of time ([`clock`]), one error model ([`error`]) and one telemetry model
//! ([`telemetry`]).
//!
//! New here? The [`guide`] walks from one breaker to the full stack, then
//! servers, the SRE layer (chaos experiments, SLOs, health), fleet-wide
//! limits and configuration files, with a table of names for those coming
//! from resilience4j, Polly, tower-resilience or governor.
//!
//! ## Quick start
//!
//! ```
//! use seawall::prelude::*;
//! use std::time::Duration;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), BoxError> {
//!     // One breaker per downstream dependency; its name labels metrics and events.
//!     let breaker = CircuitBreaker::builder("payments")
//!         .sliding_window(SlidingWindow::count(20))
//!         .minimum_number_of_calls(5)
//!         .failure_rate_threshold(50.0)
//!         .wait_duration_in_open_state(Duration::from_secs(30))
//!         .on_event(|e| println!("{}: {:?}", e.name, e.kind))
//!         .build()?;
//!
//!     // A dependency that always fails.
//!     let payments = service_fn(|_req: &'static str| async {
//!         Err::<&'static str, _>(std::io::Error::other("payments are down"))
//!     });
//!     let mut svc = ServiceBuilder::new().layer(breaker.layer()).service(payments);
//!
//!     for _ in 0..5 {
//!         let err = svc.ready().await?.call("charge").await.unwrap_err();
//!         assert!(seawall::rejection(&err).is_none()); // the dependency's own error
//!     }
//!     assert_eq!(breaker.state(), CircuitState::Open);
//!
//!     // Now calls fail fast, without reaching the dependency.
//!     let err = svc.ready().await?.call("charge").await.unwrap_err();
//!     let rejection = seawall::rejection(&err).expect("rejected by the breaker");
//!     assert_eq!(rejection.kind(), RejectionKind::CircuitOpen);
//!     assert!(rejection.retry_after().unwrap() <= Duration::from_secs(30));
//!     Ok(())
//! }
//! ```
//!
//! ## Shape of every pattern
//!
//! A builder named `builder(name)` whose setters take plain values and whose
//! `build()` validates them (`Result<_, ConfigError>`, naming the field); a
//! built instance is a cheap `Clone` handle usable from any code; `.layer()`
//! gives its tower layer, whose services all share the instance.
//!
//! ## All of them, in the right order
//!
//! [`stack::Stack`] puts the patterns together outermost first — fallback,
//! total timeout, retry, circuit breaker, bulkhead, rate limit, attempt
//! timeout — and its module docs say which failure each choice of order
//! prevents. With the `http` feature, `Stack::http_client(name)` and
//! `Stack::server(name)` are ready-made (with `grpc`, `Stack::grpc_client`);
//! the client presets are fused into one service that behaves as their
//! layers nested, at a lower cost per call ([`stack::ClientStack`]):
//!
//! ```
//! # #[cfg(feature = "http")]
//! # fn main() -> Result<(), seawall::ConfigError> {
//! use seawall::stack::Stack;
//! use tower::Layer;
//!
//! let client = tower::service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::io::Error>(http::Response::new(()))
//! });
//! let stack = Stack::http_client("inventory")?;
//! let breaker = stack.circuit_breaker_layer().handle().clone(); // inspect and control
//! let client = stack.layer(client);
//! # let _ = (client, breaker);
//! # Ok(()) }
//! # #[cfg(not(feature = "http"))]
//! # fn main() {}
//! ```
//!
//! ## Features
//!
//! - `metrics` (default): [`telemetry::export_metrics`] publishes every
//!   instance's counters and gauges to the `metrics` facade.
//! - `tracing` (default): `tracing` events on transitions and rejections.
//! - `http` (default): [`http`] deadlines in request extensions (an outer
//!   budget shortens inner timeouts), a degraded-response marker, and HTTP
//!   retries (`RetryLayer::for_http`: retryable statuses, `Retry-After`,
//!   idempotent methods only).
//! - `hyper`: `hyper::body::Incoming` as a request body the HTTP retry
//!   knows it cannot copy (a proxy forwarding it gets one attempt).
//! - `chart` (default): chaos experiment reports drawn as SVG
//!   (`chaos::experiment::Report::svg`); `serde`: reports serialized.
//!
//! Fault injection and chaos experiments ([`chaos`]) need no feature.
// The last two features' items exist only when they are on: linked then.
#![cfg_attr(
    feature = "grpc",
    doc = "- `grpc`: [`grpc`] tonic status codes for the breaker and the retry,
  gRPC's retry buffer and retry throttling, per-method stacks, rejections
  as statuses, and `Stack::grpc_client` / `Stack::grpc_server`;
  `grpc-service-config` imports a gRPC service config, `grpc-health`
  reports health through `tonic-health`."
)]
#![cfg_attr(
    not(feature = "grpc"),
    doc = "- `grpc`: the `grpc` module, tonic status codes for the breaker and the
  retry, gRPC's retry buffer and retry throttling, per-method stacks,
  rejections as statuses, and `Stack::grpc_client` / `Stack::grpc_server`;
  `grpc-service-config` imports a gRPC service config, `grpc-health`
  reports health through `tonic-health`."
)]
#![cfg_attr(
    feature = "quanta",
    doc = "- `quanta` (default): [`QuantaClock`], a TSC clock several times
  cheaper to read than the OS clock, the default clock outside paused tokio time."
)]
#![cfg_attr(
    not(feature = "quanta"),
    doc = "- `quanta` (default): `QuantaClock`, a TSC clock several times
  cheaper to read than the OS clock, the default clock outside paused tokio time."
)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adaptive;
mod budget;
pub mod bulkhead;
pub mod chaos;
pub mod circuit_breaker;
pub mod clock;
#[cfg(feature = "config")]
pub mod config;
pub mod deadline;
pub mod error;
pub mod failover;
pub mod fallback;
pub mod future;
mod growth;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod guide;
pub mod health;
pub mod hedge;
#[cfg(feature = "http")]
pub mod http;
pub mod load_shed;
pub mod outcome;
pub mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis;
mod replay;
mod semaphore;
/// reqwest (feature `reqwest`): the HTTP presets over a `reqwest::Client`,
/// and [`SeawallMiddleware`](http::reqwest::SeawallMiddleware) for
/// `reqwest-middleware` ([`http::reqwest`], here too).
#[cfg(feature = "reqwest")]
pub use http::reqwest;
pub mod retry;
pub mod slo;
pub mod stack;
mod stripes;
mod sync;
pub mod telemetry;
pub mod timeout;
pub mod waiting;
pub mod watch;

// Every pattern's instance, builder and layer stands at the root as in its
// own module: `seawall::Bulkhead` is `seawall::bulkhead::Bulkhead`.
pub use adaptive::{
    AdaptiveLimiter, AdaptiveLimiterBuilder, AdaptiveLimiterLayer, AdaptiveThrottle,
    AdaptiveThrottleBuilder, AdaptiveThrottleLayer,
};
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadLayer, KeyedBulkhead};
pub use chaos::{Chaos, ChaosBuilder, ChaosLayer};
pub use circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerLayer, CircuitBreakerMetrics,
    CircuitState, KeyedCircuitBreaker, OwnedPermit, Permit, SlidingWindow, WaitDuration,
};
#[cfg(feature = "quanta")]
pub use clock::QuantaClock;
pub use clock::{Clock, ClockHandle, ManualClock, TokioClock};
#[cfg(feature = "config")]
pub use config::{Registry, SeawallConfig};
pub use deadline::Deadline;
pub use error::{
    rejection, BulkheadFull, CircuitOpen, ConfigError, Elapsed, FeatureDisabled, Injected,
    InsufficientCapacity, KeyLimitReached, Overloaded, RateLimited, Rejection, RejectionKind,
    RetriesExhausted,
};
pub use failover::{Failover, FailoverBuilder};
pub use fallback::{DegradationSwitch, Fallback, FallbackBuilder, FallbackLayer, FeatureState};
pub use health::HealthRegistry;
pub use hedge::{Hedge, HedgeBuilder, HedgeDelay, HedgeLayer};
pub use load_shed::{LoadShedLayer, LoadShedder, LoadShedderBuilder, Priority};
pub use outcome::{Classify, DefaultClassifier, Outcome};
pub use rate_limit::{KeyedRateLimiter, RateLimitLayer, RateLimiter, RateLimiterBuilder};
pub use retry::{Backoff, Jitter, Retry, RetryBudget, RetryBuilder, RetryLayer};
pub use slo::{Slo, SloBuilder, SloLayer};
pub use stack::Stack;
pub use timeout::{Timeout, TimeoutBuilder, TimeoutLayer};
pub use tower::BoxError;

// The README's examples run with the doc tests, so what a newcomer copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

/// Everything a typical user needs, in one import.
pub mod prelude {
    pub use crate::adaptive::{AdaptiveLimiter, AdaptiveThrottle, Aimd, Gradient2, Vegas};
    pub use crate::bulkhead::{Bulkhead, KeyedBulkhead};
    pub use crate::chaos::{Chaos, Latency};
    pub use crate::circuit_breaker::{
        CircuitBreaker, CircuitBreakerLayer, CircuitState, KeyedCircuitBreaker, SlidingWindow,
        WaitDuration,
    };
    pub use crate::clock::{Clock, ManualClock};
    pub use crate::deadline::Deadline;
    pub use crate::error::{
        BulkheadFull, CircuitOpen, ConfigError, Elapsed, Overloaded, RateLimited, Rejection,
        RejectionKind,
    };
    pub use crate::failover::Failover;
    pub use crate::fallback::{DegradationSwitch, Fallback, FeatureState};
    pub use crate::health::{Criticality, HealthRegistry};
    pub use crate::hedge::{Hedge, HedgeDelay};
    pub use crate::load_shed::{LoadShedder, Priority};
    pub use crate::outcome::{Classify, Outcome};
    pub use crate::rate_limit::{KeyedRateLimiter, RateLimiter};
    pub use crate::retry::{Backoff, Jitter, RetriesExhausted, Retry, RetryBudget, RetryVerdict};
    pub use crate::slo::Slo;
    pub use crate::stack::Stack;
    pub use crate::telemetry::{Event, EventKind};
    pub use crate::timeout::Timeout;
    pub use std::time::Duration;
    pub use tower::BoxError;
}
