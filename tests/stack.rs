//! The standard stack: each ordering claim in `seawall::stack`'s docs,
//! proved with paused tokio time.

use seawall::prelude::*;
use seawall::stack::Stack;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// A dependency that counts its calls and answers after `delay` with `ok`.
fn dependency(
    calls: Arc<AtomicU32>,
    delay: Duration,
    ok: bool,
) -> impl tower::Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    service_fn(move |x: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            if ok {
                Ok(x)
            } else {
                Err::<u32, BoxError>("dependency failed".into())
            }
        }
    })
}

fn retry(attempts: u32) -> Retry {
    Retry::builder("dep")
        .max_attempts(attempts)
        .backoff(Backoff::Constant(100 * MS))
        .jitter(Jitter::None)
        .no_budget()
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_retry_never_retries_circuit_open() {
    let calls = Arc::new(AtomicU32::new(0));
    let breaker = CircuitBreaker::builder("dep").build().unwrap();
    breaker.force_open();
    let r = retry(5);
    let svc = Stack::new()
        .retry(r.layer())
        .circuit_breaker(breaker.layer())
        .layer(dependency(calls.clone(), MS, true));
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(
        seawall::rejection(&err).unwrap().kind(),
        RejectionKind::CircuitOpen
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(r.metrics().retries(), 0);
    assert_eq!(breaker.metrics().not_permitted_calls, 1, "rejected once");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_counts_as_a_breaker_failure() {
    let calls = Arc::new(AtomicU32::new(0));
    let breaker = CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(4)
        .build()
        .unwrap();
    let attempt = Timeout::builder("dep.attempt")
        .duration(100 * MS)
        .build()
        .unwrap();
    let svc = Stack::new()
        .circuit_breaker(breaker.layer())
        .attempt_timeout(attempt)
        .layer(dependency(calls.clone(), Duration::from_secs(60), true)); // hangs
    for _ in 0..4 {
        let err = svc.clone().oneshot(1).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::Elapsed
        );
    }
    assert_eq!(breaker.metrics().total_failures, 4);
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "a hung dependency trips it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_total_timeout_bounds_retries() {
    let calls = Arc::new(AtomicU32::new(0));
    let total = Timeout::builder("dep.total")
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let svc = Stack::new()
        .total_timeout(total)
        .retry(retry(100).layer())
        .layer(dependency(calls.clone(), 300 * MS, false));
    let start = Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        seawall::rejection(&err).unwrap().kind(),
        RejectionKind::Elapsed
    );
    // 300 ms per attempt + 100 ms between: attempts start at 0, 400, 800 ms.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limiter_is_not_charged_for_calls_the_breaker_rejected() {
    let calls = Arc::new(AtomicU32::new(0));
    let breaker = CircuitBreaker::builder("dep").build().unwrap();
    let limiter = RateLimiter::builder("dep")
        .rate(1, Duration::from_secs(60))
        .burst(1)
        .build()
        .unwrap();
    let svc = Stack::new()
        .circuit_breaker(breaker.layer())
        .rate_limit(limiter.layer())
        .layer(dependency(calls.clone(), MS, true));
    breaker.force_open();
    for _ in 0..5 {
        svc.clone().oneshot(1).await.unwrap_err();
    }
    assert_eq!(limiter.metrics().permitted_calls, 0);
    breaker.reset();
    // The one token of the burst is still there.
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn local_rejections_inside_the_breaker_are_not_its_failures() {
    let calls = Arc::new(AtomicU32::new(0));
    let breaker = CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(2))
        .minimum_number_of_calls(2)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("dep")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let svc = Stack::new()
        .circuit_breaker(breaker.layer())
        .bulkhead(bulkhead.layer())
        .layer(dependency(calls.clone(), Duration::from_secs(1), true));
    let busy = tokio::spawn(svc.clone().oneshot(1)); // holds the one slot
    tokio::task::yield_now().await;
    for _ in 0..5 {
        let err = svc.clone().oneshot(2).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::BulkheadFull
        );
    }
    assert_eq!(busy.await.unwrap().unwrap(), 1);
    let m = breaker.metrics();
    assert_eq!(
        (m.total_failures, m.total_ignored, m.state),
        (0, 5, CircuitState::Closed)
    );
}

#[cfg(feature = "http")]
mod presets {
    use super::*;
    use http::{Request, Response, StatusCode};

    fn answering(
        calls: Arc<AtomicU32>,
        status: StatusCode,
    ) -> impl tower::Service<Request<()>, Response = Response<()>, Error = BoxError, Future: Send> + Clone
    {
        service_fn(move |_req: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut res = Response::new(());
                *res.status_mut() = status;
                Ok::<_, BoxError>(res)
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_http_client_preset_retries_503_and_its_breaker_counts_5xx() {
        let stack = Stack::http_client("payments").unwrap();
        let breaker = stack.circuit_breaker_layer().handle().clone();
        let calls = Arc::new(AtomicU32::new(0));
        let svc = stack.layer(answering(calls.clone(), StatusCode::SERVICE_UNAVAILABLE));
        let res = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.status(), 503, "given up: the last response as it came");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "3 attempts");
        assert_eq!(breaker.metrics().total_failures, 3);

        let calls = Arc::new(AtomicU32::new(0));
        let stack = Stack::http_client("catalog").unwrap();
        let breaker = stack.circuit_breaker_layer().handle().clone();
        let svc = stack.layer(answering(calls.clone(), StatusCode::NOT_FOUND));
        assert_eq!(svc.oneshot(Request::new(())).await.unwrap().status(), 404);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a 404 is not retried");
        assert_eq!(breaker.metrics().total_ignored, 1, "nor a breaker failure");
    }

    #[tokio::test(start_paused = true)]
    async fn the_http_client_preset_returns_a_long_retry_after_at_once() {
        let stack = Stack::http_client("quota").unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let svc = stack.layer(service_fn(move |_req: Request<()>| {
            c.fetch_add(1, Ordering::SeqCst);
            async {
                let res = Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("retry-after", "30")
                    .body(())
                    .unwrap();
                Ok::<_, BoxError>(res)
            }
        }));
        let start = Instant::now();
        let res = svc.oneshot(Request::new(())).await.unwrap();
        // Not held until the 10 s total timeout: the 429 comes back at once.
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], "30");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_http_client_preset_bounds_a_hung_attempt() {
        let stack = Stack::http_client("slow").unwrap();
        let svc = stack.layer(service_fn(|_req: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, BoxError>(Response::new(()))
        }));
        let start = Instant::now();
        let err = svc.oneshot(Request::new(())).await.unwrap_err();
        // Three attempts of 2 s each plus two backoffs (< 200 ms with full
        // jitter), well inside the 10 s total.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(6) && took < Duration::from_millis(6200),
            "{took:?}"
        );
        assert!(err.downcast_ref::<RetriesExhausted>().is_some(), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_preset_sheds_load_as_503() {
        let stack = Stack::server("api").unwrap();
        let bulkhead = stack.bulkhead_layer().handle().clone();
        bulkhead.set_max_concurrent(1).unwrap();
        let _busy = bulkhead.try_acquire().unwrap(); // the one slot is taken
        let svc = stack.layer(answering(Arc::default(), StatusCode::OK));
        let err = svc.oneshot(Request::new(())).await.unwrap_err();
        assert_eq!(seawall::http::error_response(&err).status(), 503);
    }

    /// The server's order: per-client limits outside the shared bulkhead.
    /// An abusive client (burst 2) fills the two slots; its third request
    /// is told 429 by its own limit (with the limit inside the bulkhead it
    /// met the full bulkhead first: 503, and was never rate-limited).
    #[tokio::test(start_paused = true)]
    async fn per_client_limits_outside_the_server_preset_answer_the_abuser_429() {
        let stack = Stack::server("api").unwrap();
        let bulkhead = stack.bulkhead_layer().handle().clone();
        bulkhead.set_max_concurrent(2).unwrap();
        let per_client = seawall::rate_limit::RateLimiter::builder("per-client")
            .rate(1, Duration::from_secs(3600))
            .burst(2)
            .build_keyed::<String>()
            .unwrap();
        let client_id = |req: &Request<()>| req.headers()["x-client"].to_str().unwrap().to_owned();
        let svc = tower::ServiceBuilder::new()
            .layer(per_client.layer(client_id))
            .layer(stack)
            .service(service_fn(|_req: Request<()>| async {
                tokio::time::sleep(Duration::from_secs(10)).await; // inside the 30 s
                Ok::<_, BoxError>(Response::new(()))
            }));
        let from = |client: &str| {
            Request::builder()
                .header("x-client", client)
                .body(())
                .unwrap()
        };
        let hogs: Vec<_> = (0..2)
            .map(|_| tokio::spawn(svc.clone().oneshot(from("abuser"))))
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(bulkhead.metrics().in_flight, 2);
        let err = svc.clone().oneshot(from("abuser")).await.unwrap_err();
        assert_eq!(seawall::http::error_response(&err).status(), 429);
        assert_eq!(per_client.metrics().rejected_calls, 1, "rate-limited");
        for task in hogs {
            task.await.unwrap().unwrap();
        }
        svc.oneshot(from("polite"))
            .await
            .expect("a slot for the polite client");
    }
}
