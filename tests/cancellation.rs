//! Cancellation, layer by layer and await point by await point: a call
//! polled until it stops at one await point, then dropped there, gives
//! back everything it held (a bulkhead slot, a half-open probe slot, a rate
//! limit token it had not yet been granted) and is counted as what it was.
//! Paused tokio time throughout.

mod support;

use seawall::prelude::*;
use seawall::stack::Stack;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tower::{service_fn, Layer, Service, ServiceExt};

type Answer = Result<http::Response<()>, BoxError>;

/// Polls `call` once and drops it there, asserting it was pending.
async fn drop_after_one_poll<F: Future>(call: F) {
    let mut call = pin!(call);
    let pending = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "the call should stop at its await point");
}

/// Polls `call` until it has been pending through `advance` of paused
/// time (one poll, the clock moved, one more poll), then drops it.
async fn drop_after<F: Future>(call: F, advance: Duration) {
    let mut call = pin!(call);
    for _ in 0..2 {
        let pending = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await;
        assert!(pending, "the call should still be waiting");
        tokio::time::advance(advance).await;
    }
}

/// A dependency that never answers.
fn hung(
) -> impl Service<http::Request<()>, Response = http::Response<()>, Error = BoxError, Future: Send> + Clone
{
    service_fn(|_req: http::Request<()>| std::future::pending::<Answer>())
}

/// A dependency that answers 503 to its first call and hangs after.
fn busy_then_hung() -> (
    impl Service<http::Request<()>, Response = http::Response<()>, Error = BoxError, Future: Send>
        + Clone,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let svc = service_fn(move |_req: http::Request<()>| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                let mut res = http::Response::new(());
                *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                Ok(res)
            } else {
                std::future::pending::<Answer>().await
            }
        }
    });
    (svc, calls)
}

fn get() -> http::Request<()> {
    http::Request::new(())
}

#[tokio::test(start_paused = true)]
async fn breaker_layer_in_the_call_returns_the_probe_slot() {
    let b = CircuitBreaker::builder("b")
        .sliding_window(SlidingWindow::count(2))
        .minimum_number_of_calls(2)
        .permitted_number_of_calls_in_half_open_state(1)
        .build()
        .unwrap();
    b.half_open();
    let mut svc = b.layer().layer(hung());
    drop_after_one_poll(svc.call(get())).await;
    let m = b.metrics();
    assert_eq!((m.state, m.total_cancelled), (CircuitState::HalfOpen, 1));
    // The one probe slot is free again.
    let _probe = b.try_acquire().expect("the slot came back");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_layer_in_the_call_returns_the_slot() {
    let bh = Bulkhead::builder("bh")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let mut svc = bh.layer().layer(hung());
    drop_after_one_poll(svc.call(get())).await;
    assert_eq!(bh.metrics().available, 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_bulkhead_while_queued_and_in_the_call() {
    let bh = Bulkhead::builder("bh")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let svc = bh.waiting_layer().layer(hung());
    let held = bh.try_acquire().unwrap();
    // Queued for the slot, then dropped: leaves the queue.
    drop_after(svc.clone().oneshot(get()), Duration::from_secs(1)).await;
    assert_eq!(bh.metrics().waiting, 0);
    drop(held);
    // In the call, then dropped: the slot comes back.
    drop_after_one_poll(svc.clone().oneshot(get())).await;
    let m = bh.metrics();
    assert_eq!((m.available, m.in_flight, m.waiting), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn waiting_rate_limiter_while_waiting_takes_no_token() {
    let limiter = RateLimiter::builder("l")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let svc = limiter.waiting_layer().layer(hung());
    limiter.try_acquire().unwrap();
    drop_after(svc.clone().oneshot(get()), Duration::from_millis(300)).await;
    // 600 ms passed; the token is back at 1 s, and only one: the dropped
    // waiter took none.
    tokio::time::advance(Duration::from_millis(400)).await;
    limiter
        .try_acquire()
        .expect("the token the waiter never took");
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn timeout_with_its_timer_armed_counts_nothing() {
    let t = Timeout::builder("t")
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut svc = t.layer(hung());
    drop_after(svc.call(get()), Duration::from_millis(500)).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(t.elapsed_calls(), 0, "a dropped call never times out");
}

/// The HTTP preset, fused, and its layers nested: dropped in the first
/// attempt, in the backoff after a 503, and in the second attempt.
#[tokio::test(start_paused = true)]
async fn http_preset_at_each_await_point_fused_and_nested() {
    for nested in [false, true] {
        for point in ["first attempt", "backoff", "second attempt"] {
            let stack = Stack::http_client("p").unwrap();
            let breaker = stack.circuit_breaker_layer().handle().clone();
            let bulkhead = stack.bulkhead_layer().handle().clone();
            let (dep, calls) = busy_then_hung();
            if point == "first attempt" {
                calls.store(1, Ordering::SeqCst); // hang at once
            }
            let before = calls.load(Ordering::SeqCst);
            let svc = if nested {
                tower::util::BoxCloneService::new(stack.into_stack().layer(dep))
            } else {
                tower::util::BoxCloneService::new(stack.layer(dep))
            };
            let call = svc.oneshot(get());
            match point {
                "first attempt" => drop_after_one_poll(call).await,
                // The backoff: at most 2 s; 1 ms in, the retry is asleep.
                "backoff" => drop_after(call, Duration::from_millis(1)).await,
                // Past any backoff (the first is at most 100 ms).
                _ => drop_after(call, Duration::from_millis(200)).await,
            }
            let made = calls.load(Ordering::SeqCst) - before;
            let b = bulkhead.metrics();
            assert_eq!(
                (b.available, b.in_flight),
                (64, 0),
                "{point}, nested {nested}"
            );
            let m = breaker.metrics();
            // The 503 is a recorded failure; a call dropped mid-attempt is
            // a cancelled one; a backoff holds nothing of the breaker's.
            let expected = match point {
                "first attempt" => (0, 1),
                "backoff" => (1, 0),
                _ => (1, 1),
            };
            assert_eq!(
                (m.total_failures, m.total_cancelled),
                expected,
                "{point}, nested {nested}"
            );
            assert_eq!(made, if point == "second attempt" { 2 } else { 1 });
        }
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_in_the_call_holds_nothing() {
    let layer = Fallback::builder("f").value(http::Response::new(()));
    let mut svc = layer.layer(hung());
    drop_after_one_poll(svc.call(get())).await;
    assert_eq!(layer.answered_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_bulkhead_layer_in_the_call_returns_the_keys_slot() {
    let b = seawall::bulkhead::KeyedBulkhead::<u32>::new("per-client", 1, 10).unwrap();
    let mut svc = b.layer(|_req: &http::Request<()>| 7).layer(hung());
    drop_after_one_poll(svc.call(get())).await;
    assert_eq!(b.in_flight(&7), 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_rate_limit_layer_in_the_call_spent_its_token_once() {
    let l = RateLimiter::builder("per-client")
        .rate(1, Duration::from_secs(1))
        .burst(2)
        .build_keyed::<u32>()
        .unwrap();
    let mut svc = l.layer(|_req: &http::Request<()>| 7).layer(hung());
    drop_after_one_poll(svc.call(get())).await;
    // Admitted and then dropped: its token was spent (the call was made),
    // exactly one, so one of the two is left.
    l.try_acquire(&7).expect("the second token");
    assert!(l.try_acquire(&7).is_err());
    assert_eq!(l.metrics().permitted_calls, 2);
}
