//! The hot path allocates nothing (DESIGN §5): once a thread has made its
//! first call (which builds its per-thread handles), a call through each
//! layer that succeeds at once makes no heap allocation. Counted per thread
//! by a global allocator, so tests running beside these do not interfere.

use seawall::fallback::Fallback;
use seawall::prelude::*;
use seawall::rate_limit::RateLimiter;
use seawall::retry::Retry;
use seawall::timeout::Timeout;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower::{service_fn, Layer, Service};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to `System`; the counter is a const thread-local `Cell`
// (no lazy initialisation, no destructor), so counting never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Bare = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;

fn bare() -> Bare {
    service_fn(|x: u64| ready(Ok::<u64, Infallible>(x)))
}

/// Allocations made by 100 calls through `svc` after 10 warm-up calls.
fn allocations_per_100_calls<S>(svc: S) -> u64
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    allocations_per_100_calls_of(svc, |i| i)
}

/// [`allocations_per_100_calls`] with requests made by `request` (made
/// before the count, so only the calls are counted).
fn allocations_per_100_calls_of<S, Req>(mut svc: S, request: fn(u64) -> Req) -> u64
where
    S: Service<Req>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut call = |req: Req| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = pin!(svc.call(req));
        match fut.poll(&mut cx) {
            Poll::Ready(r) => assert!(r.is_ok(), "a call failed: {:?}", r.err()),
            Poll::Pending => panic!("a call did not complete at once"),
        }
    };
    for i in 0..10 {
        call(request(i));
    }
    let requests: Vec<Req> = (0..100).map(request).collect();
    let before = ALLOCATIONS.with(Cell::get);
    for req in requests {
        call(req);
    }
    ALLOCATIONS.with(Cell::get) - before
}

/// A runtime to enter: reading tokio's clock needs its context.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn the_counter_sees_an_allocation() {
    let before = ALLOCATIONS.with(Cell::get);
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 1);
}

#[test]
fn a_closed_breaker_allocates_nothing_per_call() {
    let breaker = CircuitBreaker::builder("b").build().unwrap();
    assert_eq!(allocations_per_100_calls(breaker.layer().layer(bare())), 0);
}

#[test]
fn an_uncontended_bulkhead_allocates_nothing_per_call() {
    let bulkhead = Bulkhead::builder("b")
        .max_concurrent_calls(8)
        .build()
        .unwrap();
    assert_eq!(allocations_per_100_calls(bulkhead.layer().layer(bare())), 0);
}

#[test]
fn rate_limiters_allocate_nothing_per_call() {
    let gcra = RateLimiter::builder("g")
        .rate(1_000_000, Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(allocations_per_100_calls(gcra.layer().layer(bare())), 0);
    let window = RateLimiter::builder("w")
        .sliding_window(1_000_000, Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(allocations_per_100_calls(window.layer().layer(bare())), 0);
}

#[test]
fn a_timeout_that_is_not_reached_allocates_nothing_per_call() {
    let timeout = Timeout::builder("t")
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(allocations_per_100_calls(timeout.layer(bare())), 0);
}

#[test]
fn a_fallback_not_needed_allocates_nothing_per_call() {
    let fallback = Fallback::builder("f").value(0u64);
    assert_eq!(allocations_per_100_calls(fallback.layer(bare())), 0);
}

#[test]
fn a_retry_whose_first_attempt_succeeds_allocates_nothing_per_call() {
    let retry = Retry::builder("r").build().unwrap();
    assert_eq!(allocations_per_100_calls(retry.layer().layer(bare())), 0);
    let deadline = Retry::builder("d")
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();
    // Reads tokio's clock for the deadline: inside a runtime's context.
    let rt = runtime();
    let _entered = rt.enter();
    assert_eq!(allocations_per_100_calls(deadline.layer().layer(bare())), 0);
}

/// The whole `http_client` preset, for a request whose copy allocates
/// nothing (`GET /`, no headers: what `HttpReplay` copies is then only
/// static or empty) — the timers are not armed, nothing is marked.
#[cfg(feature = "http")]
#[test]
fn the_http_client_preset_allocates_nothing_per_call() {
    use http::{Request, Response};
    use seawall::stack::Stack;
    let svc = Stack::http_client("api")
        .unwrap()
        .layer(service_fn(|_req: Request<()>| {
            ready(Ok::<_, Infallible>(Response::new(())))
        }));
    let rt = runtime();
    let _entered = rt.enter();
    assert_eq!(allocations_per_100_calls_of(svc, |_| Request::new(())), 0);
}

#[test]
fn chaos_that_passes_allocates_nothing_per_call() {
    // Disabled, enabled at rate 0, and enabled drawing (a 1-in-a-billion
    // rate: every draw made, none injected).
    for chaos in [
        seawall::chaos::Chaos::builder("off")
            .error_rate(1.0)
            .enabled(false)
            .build()
            .unwrap(),
        seawall::chaos::Chaos::builder("zero").build().unwrap(),
        seawall::chaos::Chaos::builder("drawing")
            .error_rate(1e-9)
            .seed(1)
            .build()
            .unwrap(),
    ] {
        assert_eq!(allocations_per_100_calls(chaos.layer().layer(bare())), 0);
    }
}

#[test]
fn recording_in_an_slo_allocates_nothing_per_call() {
    let rt = runtime();
    let _guard = rt.enter();
    for slo in [
        seawall::slo::Slo::builder("plain").build().unwrap(),
        seawall::slo::Slo::builder("timed")
            .latency_threshold(std::time::Duration::from_millis(300))
            .build()
            .unwrap(),
    ] {
        assert_eq!(allocations_per_100_calls(slo.layer().layer(bare())), 0);
    }
}
