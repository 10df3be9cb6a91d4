//! Hedged requests on paused time: a heavy tail cut, within the budget;
//! non-idempotent requests never hedged; losing copies cancelled, their
//! bulkhead slots back; the deadline respected; bad input refused.

use seawall::hedge::{Hedge, HedgeDelay};
use seawall::prelude::*;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, Layer, ServiceExt};

/// A backend whose every 20th call takes 1 s and the rest 10 ms (95% at
/// 10 ms, 5% at 1 s), and its count of calls.
fn heavy_tail() -> (
    impl tower::Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone + Send,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let svc = service_fn(move |x: u32| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let ms = if n % 20 == 19 { 1000 } else { 10 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(x)
        }
    });
    (svc, calls)
}

/// p99 (ms) of the latencies of `calls` calls from 20 tasks, after `warm`
/// calls each; and the calls the backend got.
async fn p99<S>(svc: S, calls: u32, warm: u32) -> u64
where
    S: tower::Service<u32, Response = u32, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let svc = svc.clone();
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..(warm + calls / 20) {
                let start = tokio::time::Instant::now();
                svc.clone().oneshot(i).await.unwrap();
                if i >= warm {
                    seen.push(start.elapsed().as_millis() as u64);
                }
            }
            seen
        });
    }
    let mut all = Vec::new();
    while let Some(seen) = tasks.join_next().await {
        all.extend(seen.unwrap());
    }
    all.sort();
    all[all.len() * 99 / 100]
}

#[tokio::test(start_paused = true)]
async fn a_learned_p95_delay_cuts_the_tail_within_the_budget() {
    // Without hedging: p99 is the slow second.
    let (backend, _) = heavy_tail();
    assert_eq!(p99(backend, 2000, 0).await, 1000);

    // With a hedge at the p95 of the last 1 s (from 100 calls on).
    let (backend, sent) = heavy_tail();
    let hedge = Hedge::builder("search")
        .delay(HedgeDelay::Percentile {
            percentile: 95.0,
            min_samples: 100,
            window: Duration::from_secs(1),
        })
        .build()
        .unwrap();
    // 20 tasks × 100 warm-up calls (≥ 1 s): the windows have learned.
    let tail = p99(hedge.layer().layer(backend), 4000, 100).await;
    eprintln!("p99 with hedging: {tail} ms; {:?}", hedge.metrics());
    assert!(tail < 100, "p99 {tail} ms");
    let m = hedge.metrics();
    // Extra load within the budget: 10% of the calls plus 10 a second.
    assert_eq!(sent.load(Ordering::SeqCst) as u64, m.calls + m.hedges);
    assert!(m.hedges > 0 && m.hedge_wins > 0, "{m:?}");
    assert!(
        (m.hedges as f64) < 0.1 * m.calls as f64 + 10.0 * 30.0 + 10.0,
        "{m:?}"
    );
    assert!(hedge.current_delay().unwrap() < Duration::from_millis(12));
}

#[tokio::test(start_paused = true)]
async fn a_post_is_never_hedged_and_a_get_is() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let slow = service_fn(move |_req: http::Request<String>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, BoxError>(http::Response::new(String::new()))
        }
    });
    let hedge = Hedge::builder("orders")
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let svc = hedge.layer().for_http().layer(slow);
    let post = http::Request::post("/orders").body("x".to_owned()).unwrap();
    svc.clone().oneshot(post).await.unwrap();
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "sent once");
    assert_eq!(hedge.metrics().not_hedgeable, 1);
    let get = http::Request::get("/orders/7").body(String::new()).unwrap();
    svc.oneshot(get).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one copy");
}

#[tokio::test(start_paused = true)]
async fn the_losing_attempt_is_cancelled_and_its_slot_returned() {
    let (backend, _) = heavy_tail();
    // A bulkhead of 2 under the hedge: both attempts hold a slot.
    let bulkhead = Bulkhead::builder("pool")
        .max_concurrent_calls(2)
        .build()
        .unwrap();
    let hedge = Hedge::builder("search")
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .no_budget()
        .build()
        .unwrap();
    let svc = hedge.layer().layer(bulkhead.layer().layer(backend));
    // Calls 0..18 answer in 10 ms; call 19 is the slow one.
    for i in 0..19 {
        svc.clone().oneshot(i).await.unwrap();
    }
    let start = tokio::time::Instant::now();
    assert_eq!(svc.clone().oneshot(19).await.unwrap(), 19);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(60),
        "the copy's 10 ms after 50"
    );
    assert_eq!(
        bulkhead.metrics().available,
        2,
        "the slow attempt let its slot go"
    );
    assert_eq!(hedge.metrics().hedge_wins, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_hedged_at_once_and_the_good_answer_taken() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    // The first answers 503 after 5 ms; the copy 200 after 5 ms.
    let backend = service_fn(move |_req: http::Request<String>| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let status = if n == 0 { 503 } else { 200 };
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    let hedge = Hedge::builder("flaky")
        .delay(HedgeDelay::Fixed(Duration::from_secs(1)))
        .build()
        .unwrap();
    let svc = hedge.layer().for_http().layer(backend);
    let start = tokio::time::Instant::now();
    let res = svc
        .oneshot(http::Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(10), "no 1 s wait");
    // Both fail: the last failure comes back.
    let always = service_fn(|_req: http::Request<String>| async {
        Ok::<_, BoxError>(http::Response::builder().status(503).body(()).unwrap())
    });
    let svc = Hedge::builder("down")
        .delay(HedgeDelay::Parallel)
        .max_hedges(2)
        .build()
        .unwrap()
        .layer()
        .for_http()
        .layer(always);
    let res = svc
        .oneshot(http::Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test(start_paused = true)]
async fn no_hedge_starts_that_the_deadline_cannot_cover() {
    let slow = service_fn(|_req: http::Request<String>| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, BoxError>(http::Response::new(()))
    });
    let hedge = Hedge::builder("bounded")
        .delay(HedgeDelay::Fixed(Duration::from_millis(100)))
        .build()
        .unwrap();
    let svc = hedge.layer().for_http().layer(slow);
    // 150 ms left at the call: after 100 ms, 50 ms is less than the first had.
    let mut req = http::Request::get("/").body(String::new()).unwrap();
    req.extensions_mut().insert(seawall::http::Deadline(
        tokio::time::Instant::now() + Duration::from_millis(150),
    ));
    svc.clone().oneshot(req).await.unwrap();
    let m = hedge.metrics();
    assert_eq!((m.hedges, m.skipped_deadline), (0, 1));
    // 250 ms left: the copy goes.
    let mut req = http::Request::get("/").body(String::new()).unwrap();
    req.extensions_mut().insert(seawall::http::Deadline(
        tokio::time::Instant::now() + Duration::from_millis(250),
    ));
    svc.oneshot(req).await.unwrap();
    assert_eq!(hedge.metrics().hedges, 1);
}

#[test]
fn bad_input_is_a_config_error() {
    let field = |b: seawall::hedge::HedgeBuilder| b.build().unwrap_err().field().to_owned();
    assert_eq!(field(Hedge::builder("h").max_hedges(0)), "max_hedges");
    assert_eq!(
        field(Hedge::builder("h").delay(HedgeDelay::Fixed(Duration::ZERO))),
        "delay"
    );
    for p in [0.0, 100.0, -1.0, f64::NAN] {
        assert_eq!(
            field(Hedge::builder("h").delay(HedgeDelay::Percentile {
                percentile: p,
                min_samples: 10,
                window: Duration::from_secs(1),
            })),
            "percentile"
        );
    }
    assert_eq!(
        field(Hedge::builder("h").delay(HedgeDelay::Percentile {
            percentile: 95.0,
            min_samples: 10,
            window: Duration::ZERO,
        })),
        "window"
    );
}

#[tokio::test(start_paused = true)]
async fn in_the_http_preset_each_copy_passes_the_breaker_and_the_bulkhead() {
    use seawall::stack::Stack;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    // The first call takes 1 s, the others 10 ms.
    let backend = service_fn(move |_req: http::Request<String>| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let ms = if n == 0 { 1000 } else { 10 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(http::Response::new(()))
        }
    });
    let stack = Stack::http_client("search").unwrap();
    let (breaker, bulkhead) = (
        stack.circuit_breaker_layer().handle().clone(),
        stack.bulkhead_layer().handle().clone(),
    );
    let hedge = Hedge::builder("search")
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let svc = stack.hedge(hedge.layer().for_http()).layer(backend);
    let start = tokio::time::Instant::now();
    let req = http::Request::get("/q").body(String::new()).unwrap();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(60));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The copy's success is the breaker's; the cancelled first is nothing.
    let m = breaker.metrics();
    assert_eq!((m.total_successes, m.total_failures), (1, 0));
    assert_eq!(bulkhead.metrics().in_flight, 0, "both slots back");
}
