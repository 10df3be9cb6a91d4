//! The retry primitive under paused tokio time.

use seawall::prelude::*;
use seawall::retry::{Backoff, GaveUp, Jitter, RetriesExhausted, Retry, RetryBudget};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn exponential() -> Backoff {
    Backoff::Exponential {
        initial: 10 * MS,
        multiplier: 2.0,
        max: Duration::from_secs(1),
    }
}

/// Runs a retry against an operation that always fails with `error()`,
/// returning the offsets at which attempts started and the outcome.
async fn attempts_of(retry: &Retry, error: fn() -> BoxError) -> (Vec<Duration>, GaveUp, u32) {
    let start = Instant::now();
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    let err = retry
        .call(move |_| {
            t.lock().unwrap().push(start.elapsed());
            async move { Err::<(), BoxError>(error()) }
        })
        .await
        .unwrap_err();
    let times = times.lock().unwrap().clone();
    (times, err.gave_up, err.attempts)
}

#[tokio::test(start_paused = true)]
async fn attempts_follow_the_backoff_exactly() {
    let retry = Retry::builder("exp")
        .max_attempts(5)
        .backoff(exponential())
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let (times, gave_up, attempts) = attempts_of(&retry, || "boom".into()).await;
    assert_eq!(
        times,
        vec![Duration::ZERO, 10 * MS, 30 * MS, 70 * MS, 150 * MS]
    );
    assert_eq!((gave_up, attempts), (GaveUp::AttemptsExhausted, 5));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_never_passed() {
    let retry = Retry::builder("deadline")
        .max_attempts(100)
        .backoff(exponential())
        .jitter(Jitter::None)
        .deadline(100 * MS)
        .build()
        .unwrap();
    let (times, gave_up, _) = attempts_of(&retry, || "boom".into()).await;
    assert_eq!(times, vec![Duration::ZERO, 10 * MS, 30 * MS, 70 * MS]);
    assert_eq!(gave_up, GaveUp::DeadlineExceeded);
    assert!(times.iter().all(|t| *t < 100 * MS));
}

#[tokio::test(start_paused = true)]
async fn stop_signals_are_not_retried_and_retry_after_is_honoured() {
    let retry = Retry::builder("signals")
        .max_attempts(3)
        .backoff(exponential())
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let (times, gave_up, _) = attempts_of(&retry, || {
        Box::new(seawall::CircuitOpen::new(
            "dep".into(),
            Some(Duration::from_secs(9)),
        ))
    })
    .await;
    assert_eq!((times.len(), gave_up), (1, GaveUp::NotRetryable));

    // A rate limiter said "in 500 ms": that beats the 10 ms backoff.
    let (times, _, _) = attempts_of(&retry, || {
        Box::new(seawall::RateLimited::new("api".into(), 500 * MS))
    })
    .await;
    assert_eq!(times, vec![Duration::ZERO, 500 * MS, 1000 * MS]);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_returns_the_original_error_at_once() {
    let budget = RetryBudget::new(0.0, 0, 1).unwrap(); // no floor, nothing deposited
    let retry = Retry::builder("budget")
        .max_attempts(5)
        .budget(budget)
        .build()
        .unwrap();
    let (times, gave_up, attempts) = attempts_of(&retry, || "down".into()).await;
    assert_eq!(
        (times.len(), gave_up, attempts),
        (1, GaveUp::BudgetExhausted, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn succeeds_once_the_operation_does() {
    let retry = Retry::builder("ok")
        .max_attempts(4)
        .backoff(exponential())
        .build()
        .unwrap();
    let v = retry
        .call(|n| async move {
            if n < 3 {
                Err("not yet")
            } else {
                Ok(n * 10)
            }
        })
        .await
        .unwrap();
    assert_eq!(v, 30);
    let err = Retry::builder("x").max_attempts(0).build().unwrap_err();
    assert_eq!(err.field(), "max_attempts");
}

#[tokio::test(start_paused = true)]
async fn a_predicate_limits_what_is_retried() {
    let retry = Retry::builder("pred")
        .max_attempts(5)
        .backoff(exponential())
        .build()
        .unwrap();
    let err = retry
        .call_if(
            |_| async { Err::<(), _>(std::io::Error::from(std::io::ErrorKind::InvalidInput)) },
            |e: &std::io::Error| e.kind() != std::io::ErrorKind::InvalidInput,
        )
        .await
        .unwrap_err();
    assert_eq!((err.attempts, err.gave_up), (1, GaveUp::NotRetryable));
}

mod layer {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

    fn failing(
        calls: Arc<AtomicU32>,
    ) -> impl tower::Service<u32, Response = u32, Error = BoxError> + Clone {
        service_fn(move |_: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, BoxError>("dependency down".into()) }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_never_retries_an_open_breaker() {
        let calls = Arc::new(AtomicU32::new(0));
        let breaker = CircuitBreaker::builder("dep").build().unwrap();
        breaker.force_open();
        let retry = Retry::builder("r").max_attempts(5).build().unwrap();
        let svc = ServiceBuilder::new()
            .layer(retry.layer())
            .layer(breaker.layer())
            .service(failing(calls.clone()));
        let err = svc.oneshot(1).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::CircuitOpen
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "rejected once, not retried"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_caps_extra_load_on_a_dead_dependency() {
        // 10% extra load and no floor: over 10,000 failing requests the
        // dependency sees exactly 10,000 + 1,000 calls, not 30,000.
        let calls = Arc::new(AtomicU32::new(0));
        let budget = RetryBudget::new(0.1, 0, 1_000_000).unwrap();
        let retry = Retry::builder("budgeted")
            .max_attempts(3)
            .backoff(Backoff::Constant(MS))
            .budget(budget)
            .build()
            .unwrap();
        let svc = retry.layer().layer(failing(calls.clone()));
        for i in 0..10_000 {
            assert!(svc.clone().oneshot(i).await.is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 11_000);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_succeed_and_respect_max_attempts() {
        let calls = Arc::new(AtomicU32::new(0));
        let retry = Retry::builder("r")
            .max_attempts(4)
            .backoff(Backoff::Constant(MS))
            .build()
            .unwrap();
        let svc = retry.layer().layer(failing(calls.clone()));
        let start = Instant::now();
        let err = svc.oneshot(1).await.unwrap_err();
        let exhausted = err
            .downcast_ref::<RetriesExhausted>()
            .unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(
            (exhausted.attempts(), exhausted.gave_up()),
            (4, GaveUp::AttemptsExhausted)
        );
        assert_eq!(exhausted.last_error().to_string(), "dependency down");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(start.elapsed(), 3 * MS);
    }
}

/// `?` takes a retry's error into `BoxError` and `anyhow::Error`, the two
/// error types most callers return, and the chain still leads to what the
/// last attempt met.
#[tokio::test(start_paused = true)]
async fn a_retry_error_converts_with_question_mark() {
    let retry = Retry::builder("q")
        .max_attempts(2)
        .backoff(Backoff::Constant(MS))
        .build()
        .unwrap();
    async fn boxed(retry: &Retry) -> Result<(), BoxError> {
        retry
            .call(|_| async { Err::<(), BoxError>(Box::new(std::io::Error::other("refused"))) })
            .await?;
        Ok(())
    }
    async fn with_anyhow(retry: &Retry) -> anyhow::Result<()> {
        retry
            .call(|_| async { Err::<(), anyhow::Error>(anyhow::anyhow!("down")) })
            .await?;
        Ok(())
    }
    let err = boxed(&retry).await.unwrap_err();
    assert!(err.to_string().contains("after 2 attempts"), "{err}");
    let last = err.source().expect("the last attempt's error");
    assert!(last.downcast_ref::<std::io::Error>().is_some(), "{last:?}");
    let err = with_anyhow(&retry).await.unwrap_err();
    assert!(
        err.to_string().starts_with("down (after 2 attempts"),
        "{err}"
    );
}
