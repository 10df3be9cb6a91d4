//! Named presets with documented defaults (feature `http`).

use super::{ClientStack, Stack};
use crate::bulkhead::{Bulkhead, BulkheadLayer};
use crate::circuit_breaker::{CircuitBreaker, SlidingWindow};
use crate::error::ConfigError;
use crate::http::{HttpClassifier, HttpReplay, RetryHttp};
use crate::retry::{Backoff, Jitter, Retry};
use crate::timeout::{Fixed, Timeout, TimeoutLayer};
use std::time::Duration;
use tower_layer::Identity;

/// The stack [`Stack::http_client`] builds (fused: see [`ClientStack`]),
/// with fallback `F`.
///
/// ```
/// use seawall::stack::HttpClientStack;
/// use seawall::Stack;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let preset: HttpClientStack = Stack::http_client("inventory")?;
/// let breaker = preset.circuit_breaker_layer().handle().clone(); // the preset's own breaker
/// # let _ = breaker; Ok(()) }
/// ```
pub type HttpClientStack<F = Identity> = ClientStack<RetryHttp, HttpReplay, HttpClassifier, F>;

/// The stack [`Stack::server`] builds.
///
/// ```
/// use seawall::stack::ServerStack;
/// use seawall::Stack;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let server: ServerStack = Stack::server("api")?;     // 30 s a request, a 512-call bulkhead
/// let mut app = server.layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, seawall::BoxError>(http::Response::new(String::from("hello")))
/// }));
/// let res = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(res.body(), "hello");
/// # Ok(()) }
/// ```
pub type ServerStack =
    Stack<Identity, TimeoutLayer<Fixed>, Identity, Identity, BulkheadLayer, Identity, Identity>;

const HTTP_TOTAL: Duration = Duration::from_secs(10);

/// The stack [`Stack::grpc_client`] builds.
///
/// ```
/// # #[cfg(feature = "grpc")]
/// # fn main() -> Result<(), seawall::ConfigError> {
/// use seawall::stack::GrpcClientStack;
/// use seawall::Stack;
///
/// let preset: GrpcClientStack = Stack::grpc_client("inventory")?; // status codes, grpc-timeout
/// # let _ = preset; Ok(()) }
/// # #[cfg(not(feature = "grpc"))]
/// # fn main() {}
/// ```
#[cfg(feature = "grpc")]
pub type GrpcClientStack<F = Identity> =
    ClientStack<crate::grpc::RetryGrpc, crate::grpc::GrpcReplay, crate::grpc::GrpcClassifier, F>;

/// The stack [`Stack::grpc_server`] builds.
///
/// ```
/// # #[cfg(feature = "grpc")]
/// # fn main() -> Result<(), seawall::ConfigError> {
/// use seawall::stack::GrpcServerStack;
/// use seawall::Stack;
///
/// let preset: GrpcServerStack = Stack::grpc_server("inventory")?; // rejections as statuses
/// # let _ = preset; Ok(()) }
/// # #[cfg(not(feature = "grpc"))]
/// # fn main() {}
/// ```
#[cfg(feature = "grpc")]
pub type GrpcServerStack = Stack<
    crate::grpc::GrpcStatusLayer,
    TimeoutLayer<Fixed>,
    Identity,
    Identity,
    BulkheadLayer,
    Identity,
    Identity,
>;

impl Stack {
    /// The stack for an HTTP client calling one dependency; every instance
    /// is named after `name` (timeouts `{name}.total` and
    /// `{name}.attempt`). Defaults:
    ///
    /// | slot | default |
    /// |---|---|
    /// | fallback | none (what to answer is yours: `.fallback(..)`) |
    /// | total timeout | 10 s |
    /// | retry | 3 attempts; exponential backoff 50 ms × 2 up to 2 s, full jitter; budget 20% of the load + 10/s; errors and 429/502/503/504 retried, `Retry-After` honoured up to 5 s (a longer one: the response is returned at once, so your caller sees it); idempotent methods only ([`RetryLayer::for_http`](crate::retry::RetryLayer::for_http)) |
    /// | circuit breaker | last 100 calls, from 20 calls on; opens at 50% failures (5xx and errors; 4xx ignored); 30 s open, then 10 probes |
    /// | bulkhead | 64 calls at once, rejecting at once when full (never queueing under the breaker) |
    /// | rate limit | none (a dependency's quota is yours to state: `.rate_limit(..)`) |
    /// | attempt timeout | 2 s, shortened to a request's [`Deadline`](crate::http::Deadline) if it carries one |
    ///
    /// The total timeout bounds the call; the retry has no deadline of its
    /// own (three 2 s attempts and their backoff fit in 10 s), so the first
    /// attempt reads no clock and marks nothing in the request. Give the
    /// retry a deadline (`.retry(..)`) to have each attempt carry the time
    /// left.
    ///
    /// The layers are fused into one service ([`ClientStack`]): it behaves
    /// as them nested, at a lower cost per call. Swap a slot's layer for
    /// another of its kind (`.with_circuit_breaker(my_breaker.layer())`) or
    /// add a fallback (`.fallback(..)`) and it stays fused; put any other
    /// layer in a slot (`.rate_limit(..)`) or empty one
    /// (`.without_bulkhead()`) and you get the layered [`Stack`]. The
    /// handles are in the slots (`stack.circuit_breaker_layer().handle()`).
    pub fn http_client(name: &str) -> Result<HttpClientStack, ConfigError> {
        client(
            name,
            RetryHttp::new(),
            HttpReplay,
            HttpClassifier::new(),
            None,
        )
    }

    /// The stack for a gRPC client (a tonic `Channel`) calling one
    /// dependency (feature `grpc`). The same defaults as
    /// [`http_client`](Stack::http_client), speaking gRPC: the retry
    /// retries transport errors and `UNAVAILABLE` ([`RetryGrpc`](crate::grpc::RetryGrpc)),
    /// replays each call's messages from gRPC's retry buffer (recorded as
    /// they are sent, up to 1 MiB: [`GrpcReplay`](crate::grpc::GrpcReplay)), treats a caller's `grpc-timeout` (tonic's
    /// `set_timeout`) as the whole call's deadline, and tells the server the
    /// time left in `grpc-timeout` on every attempt (its 10 s total, or the
    /// caller's if shorter: the retry's deadline is the total timeout); the
    /// breaker counts `UNAVAILABLE`,
    /// `RESOURCE_EXHAUSTED` and `DEADLINE_EXCEEDED` as failures
    /// ([`GrpcClassifier`](crate::grpc::GrpcClassifier)).
    #[cfg(feature = "grpc")]
    pub fn grpc_client(name: &str) -> Result<GrpcClientStack, ConfigError> {
        use crate::grpc::{GrpcClassifier, GrpcReplay, RetryGrpc};
        // The total timeout as the retry's deadline too, so every attempt
        // tells the server the time left in `grpc-timeout` (never more
        // than a caller's own `set_timeout`).
        client(
            name,
            RetryGrpc::new(),
            GrpcReplay,
            GrpcClassifier::new(),
            Some(HTTP_TOTAL),
        )
    }

    /// The stack in front of an HTTP server's handlers: sheds load instead
    /// of queueing it. Defaults:
    ///
    /// | slot | default |
    /// |---|---|
    /// | total timeout | 30 s per request |
    /// | bulkhead | 512 requests at once, the rest rejected at once |
    /// | rate limit | none: put per-client limits *outside* the preset (below) |
    /// | others | none |
    ///
    /// Per-client limits go outside it, `ServiceBuilder::new()
    /// .layer(per_client.layer(client_id)).layer(Stack::server(name)?)`: a
    /// client over its limit is then told 429 before it can take one of the
    /// bulkhead's shared slots (in the rate-limit slot, inside the bulkhead,
    /// an abusive client's burst fills the bulkhead, the polite clients are
    /// refused 503, and the abusive one is never rate-limited).
    ///
    /// Turn its rejections into 429/503/504 responses with
    /// [`error_response`](crate::http::error_response) (axum:
    /// `HandleErrorLayer`).
    pub fn server(name: &str) -> Result<ServerStack, ConfigError> {
        let (total, bulkhead) = server_slots(name)?;
        Ok(Stack::new().total_timeout(total).bulkhead(bulkhead))
    }

    /// The stack in front of a tonic server's services (feature `grpc`),
    /// the counterpart of [`server`](Stack::server): sheds load instead of
    /// queueing it, and answers its rejections as gRPC statuses. Defaults:
    ///
    /// | slot | default |
    /// |---|---|
    /// | fallback | [`GrpcStatusLayer`](crate::grpc::GrpcStatusLayer): a full bulkhead answers `UNAVAILABLE`, a timeout `DEADLINE_EXCEEDED` (not a reset stream) |
    /// | total timeout | 30 s per call (tonic also ends a call at the caller's `grpc-timeout`) |
    /// | bulkhead | 512 calls at once, the rest refused at once |
    /// | rate limit | none: put per-client limits *outside* the preset |
    ///
    /// Per-client limits go outside it, so a client over its limit is
    /// answered `RESOURCE_EXHAUSTED` (with `grpc-retry-pushback-ms`) before it
    /// takes a bulkhead slot; wrap them in a `GrpcStatusLayer` of their own:
    /// `Server::builder().layer(GrpcStatusLayer::new()).layer(per_client)
    /// .layer(Stack::grpc_server(name)?)`. The timeout and the bulkhead end
    /// when a call's response headers are sent: a server stream's messages
    /// after them are not bounded by either (see the
    /// [`grpc`](crate::grpc) module docs on streaming). With feature
    /// `grpc-health`, [`HealthWatch`](crate::grpc::HealthWatch) reports
    /// `NOT_SERVING` while the bulkhead sheds.
    #[cfg(feature = "grpc")]
    pub fn grpc_server(name: &str) -> Result<GrpcServerStack, ConfigError> {
        let (total, bulkhead) = server_slots(name)?;
        Ok(Stack::new()
            .fallback(crate::grpc::GrpcStatusLayer::new())
            .total_timeout(total)
            .bulkhead(bulkhead))
    }
}

/// A server preset's total timeout (30 s) and bulkhead (512, rejecting).
fn server_slots(name: &str) -> Result<(TimeoutLayer<Fixed>, BulkheadLayer), ConfigError> {
    let total = Timeout::builder(&format!("{name}.total"))
        .duration(Duration::from_secs(30))
        .build()?;
    let bulkhead = Bulkhead::builder(name).max_concurrent_calls(512).build()?;
    Ok((total, bulkhead.layer()))
}

/// A client stack with the documented defaults, speaking a protocol through
/// its retry predicate, request replay and breaker classifier.
fn client<P, R, C: Clone>(
    name: &str,
    predicate: P,
    replay: R,
    classifier: C,
    deadline: Option<Duration>,
) -> Result<ClientStack<P, R, C>, ConfigError> {
    let total = Timeout::builder(&format!("{name}.total"))
        .duration(HTTP_TOTAL)
        .build()?;
    let mut retry = Retry::builder(name);
    if let Some(d) = deadline {
        retry = retry.deadline(d);
    }
    let retry = retry
        .max_attempts(3)
        .backoff(Backoff::Exponential {
            initial: Duration::from_millis(50),
            multiplier: 2.0,
            max: Duration::from_secs(2),
        })
        .jitter(Jitter::Full)
        // Half the total: a longer wait would end in the total timeout,
        // losing the response that said when to come back.
        .max_retry_after(HTTP_TOTAL / 2)
        .build()?;
    let breaker = CircuitBreaker::builder(name)
        .sliding_window(SlidingWindow::count(100))
        .minimum_number_of_calls(20)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(30))
        .permitted_number_of_calls_in_half_open_state(10)
        .classify(classifier)
        .build()?;
    let bulkhead = Bulkhead::builder(name).max_concurrent_calls(64).build()?;
    let attempt = Timeout::builder(&format!("{name}.attempt"))
        .duration(Duration::from_secs(2))
        .build()?
        .within_deadline();
    Ok(ClientStack::new(
        total,
        retry.layer().retry_if(predicate).replay(replay),
        breaker.layer(),
        bulkhead.layer(),
        attempt,
    ))
}
