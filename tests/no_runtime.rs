//! Waiting outside a tokio runtime: a panic that names seawall and the fix
//! (tokio's own, "there is no reactor running", names neither).

use seawall::prelude::*;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Waker};
use tower::{service_fn, Layer, Service};

/// Polls `f` once on this thread, where no runtime runs, and returns the
/// panic message it raised.
fn panic_of(f: impl Future) -> String {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    let panic = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = f.as_mut().poll(&mut cx);
    }))
    .expect_err("waiting outside a runtime panics");
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().unwrap_or(&"?").to_string(),
    }
}

fn names_seawall_and_the_fix(message: &str, what: &str) {
    assert!(message.starts_with("seawall: "), "{message}");
    assert!(message.contains(what), "{message}");
    assert!(message.contains("no tokio runtime"), "{message}");
    assert!(message.contains("enable_time"), "{message}");
}

#[test]
fn retry_call_backing_off() {
    let retry = Retry::builder("r").max_attempts(2).build().unwrap();
    let message = panic_of(retry.call(|_| async { Err::<(), BoxError>("down".into()) }));
    names_seawall_and_the_fix(&message, "Retry::call");
}

#[test]
fn a_timeout_on_a_pending_call() {
    let timeout = Timeout::builder("t")
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut svc = timeout.layer(service_fn(|()| {
        std::future::pending::<Result<(), BoxError>>()
    }));
    let message = panic_of(svc.call(()));
    names_seawall_and_the_fix(&message, "a timeout");
}

#[test]
fn a_waiting_rate_limiter() {
    let limiter = RateLimiter::builder("l")
        .rate(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(5))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    limiter.try_acquire().unwrap();
    names_seawall_and_the_fix(&panic_of(limiter.acquire_n(1)), "rate limiter");
}

#[test]
fn a_waiting_bulkhead() {
    let bulkhead = Bulkhead::builder("b")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    names_seawall_and_the_fix(&panic_of(bulkhead.acquire()), "bulkhead");
}
