//! The whole `Stack::http_client` preset on the success path (no timer is
//! armed: every future is ready at once), against the bare service and the
//! same stack assembled from tower-resilience's layers (total time limiter,
//! retry, circuit breaker, bulkhead, attempt time limiter); the preset's
//! layers nested (what any other slot change gives); and a floor: one
//! hand-written service doing the least of it (copy the request, take a
//! breaker and a bulkhead permit, hold shared state). `cargo bench --bench
//! stack`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use seawall::bulkhead::{Bulkhead, BulkheadPermit};
use seawall::circuit_breaker::{CircuitBreaker, OwnedPermit};
use seawall::http::HttpClassifier;
use seawall::stack::Stack;
use seawall::Classify;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use support::{layer_contender_with, CopyNeverRetry};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

type Bare = tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<()>, Infallible>>>;

fn bare() -> Bare {
    tower::service_fn(|_req: Request<()>| ready(Ok(Response::new(()))))
}

fn request(_: u64) -> Request<()> {
    Request::new(())
}

/// The preset breaker's classifier, made once (as the preset's is).
fn preset_classifier() -> &'static HttpClassifier {
    static CLASSIFIER: OnceLock<HttpClassifier> = OnceLock::new();
    CLASSIFIER.get_or_init(HttpClassifier::new)
}

/// The floor under the preset without its timeouts: what a retry, a
/// breaker and a bulkhead cannot avoid doing on the success path, written
/// as one service with one future (no layers nesting, so the request is
/// passed on once): copy the request for a possible retry, take a breaker
/// permit and a bulkhead permit, hold a reference count on shared retry
/// state, record the outcome. No retry bookkeeping, no timeouts, never a
/// retry.
#[derive(Clone)]
struct Floor {
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    shared: Arc<u64>,
    inner: Bare,
}

struct FloorFuture {
    _copy: Request<()>,
    _shared: Arc<u64>,
    _slot: BulkheadPermit,
    permit: Option<OwnedPermit>,
    inner: Ready<Result<Response<()>, Infallible>>,
}

impl Future for FloorFuture {
    type Output = Result<Response<()>, BoxError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        let outcome = preset_classifier().classify(&result);
        if let Some(permit) = self.permit.take() {
            permit.record(outcome);
        }
        Poll::Ready(result.map_err(Into::into))
    }
}

impl Service<Request<()>> for Floor {
    type Response = Response<()>;
    type Error = BoxError;
    type Future = FloorFuture;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<()>) -> FloorFuture {
        // The bench's breaker stays closed and its bulkhead is never full.
        let permit = self.breaker.try_acquire_owned().ok();
        let slot = self.bulkhead.try_acquire().expect("a free slot");
        FloorFuture {
            _copy: req.clone(),
            _shared: self.shared.clone(),
            _slot: slot,
            permit,
            inner: self.inner.call(req),
        }
    }
}

fn stacks(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack/http_client_success");
    // tower-resilience's time limiter arms a tokio timer on every call.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let rt = Some(rt.handle());
    layer_contender_with(&mut g, "bare", bare(), request, rt);

    let seawall = Stack::http_client("bench").unwrap().layer(bare());
    layer_contender_with(&mut g, "seawall http_client", seawall, request, rt);
    // With a fallback on top, as the demo runs it.
    let fallback = seawall::fallback::Fallback::builder("bench")
        .from_fn(|_: seawall::fallback::Failed<Response<()>>| Ok(Response::new(())));
    let with_fallback = Stack::http_client("bench")
        .unwrap()
        .fallback(fallback)
        .layer(bare());
    layer_contender_with(
        &mut g,
        "seawall http_client + fallback",
        with_fallback,
        request,
        rt,
    );
    // The preset with one attempt: no retry, so no copy of the request.
    let one_attempt = seawall::retry::Retry::builder("bench")
        .max_attempts(1)
        .build()
        .unwrap();
    let no_copy = Stack::http_client("bench")
        .unwrap()
        .with_retry(one_attempt.layer().for_http())
        .layer(bare());
    layer_contender_with(
        &mut g,
        "seawall http_client, one attempt (nothing copied)",
        no_copy,
        request,
        rt,
    );
    // The same layers nested, as any other slot change gives them.
    let layered = Stack::http_client("bench")
        .unwrap()
        .into_stack()
        .layer(bare());
    layer_contender_with(
        &mut g,
        "seawall, the same layers nested",
        layered,
        request,
        rt,
    );
    // Where the layers' cost is: without the timeouts, and the retry slot
    // alone, without and with a retry deadline (which marks each attempt).
    let no_timeouts = Stack::http_client("bench")
        .unwrap()
        .without_total_timeout()
        .without_attempt_timeout()
        .layer(bare());
    layer_contender_with(
        &mut g,
        "seawall, layers nested, no timeouts",
        no_timeouts,
        request,
        rt,
    );
    let retry = seawall::retry::Retry::builder("bench").build().unwrap();
    let retry_only = Stack::new().retry(retry.layer().for_http()).layer(bare());
    layer_contender_with(&mut g, "seawall, retry slot only", retry_only, request, rt);
    let retry = seawall::retry::Retry::builder("bench")
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap();
    let with_deadline = Stack::new().retry(retry.layer().for_http()).layer(bare());
    layer_contender_with(
        &mut g,
        "seawall, retry slot with a deadline",
        with_deadline,
        request,
        rt,
    );

    // What any retry of an `http::Request` pays: tower's own `Retry` with a
    // policy that never retries but copies the request, as it must to be
    // able to.
    let tower_retry = tower::retry::RetryLayer::new(CopyNeverRetry).layer(bare());
    layer_contender_with(
        &mut g,
        "tower Retry copying the request, never retrying",
        tower_retry,
        request,
        rt,
    );

    let floor = Floor {
        breaker: CircuitBreaker::builder("bench").build().unwrap(),
        // As large as the preset's.
        bulkhead: Bulkhead::builder("bench")
            .max_concurrent_calls(64)
            .build()
            .unwrap(),
        shared: Arc::new(0),
        inner: bare(),
    };
    layer_contender_with(
        &mut g,
        "floor: copy + breaker + bulkhead + shared state, one service",
        floor,
        request,
        rt,
    );

    use tower_resilience::{bulkhead, circuitbreaker, retry, timelimiter};
    let attempt = timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(2))
        .build();
    let bulkhead = bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(64)
        .build()
        .unwrap();
    let breaker = circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap();
    let retry = retry::RetryLayer::<Request<()>, Response<()>, BoxError>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(50))
        .build();
    let total = timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(10))
        .build();
    let inner = ServiceBuilder::new()
        .map_err(|e: timelimiter::TimeLimiterError<Infallible>| -> BoxError {
            e.to_string().into()
        })
        .layer(attempt)
        .service(bare());
    let inner = bulkhead
        .layer(inner)
        .map_err(|e| -> BoxError { format!("{e:?}").into() });
    let inner = breaker
        .layer(inner)
        .map_err(|e| -> BoxError { format!("{e:?}").into() });
    let peer = total.layer(retry.layer(inner));
    layer_contender_with(&mut g, "tower-resilience stack", peer, request, rt);
    g.finish();
}

/// What copying a request costs by itself (what any retry pays on every
/// call that succeeds; `HttpReplay` is `Request::clone`): the bench's bare
/// `GET /`, and a typical client request (absolute URI, four headers, a
/// marker in its extensions).
fn request_copy(c: &mut Criterion) {
    #[derive(Clone)]
    struct Marker;
    let mut typical = Request::builder()
        .uri("https://api.example.com/v1/items?page=2")
        .header("host", "api.example.com")
        .header("user-agent", "seawall-bench/1")
        .header("accept", "application/json")
        .header("authorization", "Bearer 0123456789abcdef")
        .body(())
        .unwrap();
    typical.extensions_mut().insert(Marker);
    for (name, req) in [("GET /", request(0)), ("typical", typical)] {
        c.bench_function(
            &format!("stack/parts/{name}: http::Request clone + drop"),
            |b| b.iter(|| drop(std::hint::black_box(std::hint::black_box(&req).clone()))),
        );
    }
}

criterion_group!(benches, stacks, request_copy);
criterion_main!(benches);
