//! Retries of concurrent calls through an inner service whose readiness
//! can be `Pending` (a concurrency limit, a `Buffer`, a connecting
//! channel): every waiting retry is woken, none is lost.

use seawall::prelude::*;
use seawall::retry::{Backoff, GaveUp, Jitter, RetriesExhausted, Retry};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimit;
use tower::{service_fn, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// A retry waiting exactly 10 ms between attempts.
fn every_10ms() -> seawall::retry::RetryBuilder {
    Retry::builder("api")
        .backoff(Backoff::Constant(10 * MS))
        .jitter(Jitter::None)
}

#[tokio::test(start_paused = true)]
async fn retries_waiting_for_readiness_are_all_woken() {
    // First attempt of each request fails; its retry succeeds.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let s = seen.clone();
    let flaky = service_fn(move |id: u32| {
        let first = s.lock().unwrap().insert(id);
        async move {
            if first {
                Err::<u32, BoxError>("transient".into())
            } else {
                Ok(id)
            }
        }
    });
    // One call at a time, through a semaphore the test can hold.
    let permits = Arc::new(Semaphore::new(1));
    let limited = ConcurrencyLimit::with_semaphore(flaky, permits.clone());
    let retry = every_10ms().max_attempts(2).no_budget().build().unwrap();
    let svc = retry.layer().layer(limited);

    let calls: Vec<_> = (1..=3)
        .map(|id| tokio::spawn(svc.clone().oneshot(id)))
        .collect();
    // Let every first attempt fail and its retry start sleeping, then hold
    // the only permit so every retry finds the service not ready.
    tokio::time::sleep(MS).await;
    let held = permits.clone().acquire_owned().await.unwrap();
    tokio::time::sleep(20 * MS).await;
    drop(held);

    let all = tokio::time::timeout(Duration::from_secs(5), async {
        let mut out = Vec::new();
        for call in calls {
            out.push(call.await.unwrap().unwrap());
        }
        out
    })
    .await
    .expect("a retry waiting for readiness was never woken");
    assert_eq!(all, vec![1, 2, 3]);
}

/// A service answering `Err` to ids it has not seen, counting its clones.
struct CountingClones {
    clones: Arc<std::sync::atomic::AtomicU32>,
    seen: Arc<Mutex<HashSet<u32>>>,
}

impl Clone for CountingClones {
    fn clone(&self) -> Self {
        self.clones
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self {
            clones: self.clones.clone(),
            seen: self.seen.clone(),
        }
    }
}

impl tower::Service<u32> for CountingClones {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, id: u32) -> Self::Future {
        let first = self.seen.lock().unwrap().insert(id);
        std::future::ready(if first {
            Err("transient".into())
        } else {
            Ok(id)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn only_a_call_that_retries_clones_the_inner_service() {
    use std::sync::atomic::Ordering::SeqCst;
    let clones = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::new(Mutex::new(HashSet::from([1, 2, 3])));
    let inner = CountingClones {
        clones: clones.clone(),
        seen,
    };
    let retry = every_10ms().build().unwrap();
    let mut svc = retry.layer().layer(inner);
    let after_layering = clones.load(SeqCst);
    // Seen ids succeed at once: no clone.
    for id in 1..=3 {
        assert_eq!(svc.ready().await.unwrap().call(id).await.unwrap(), id);
    }
    assert_eq!(clones.load(SeqCst), after_layering);
    // A new id fails once and is retried through one clone.
    assert_eq!(svc.ready().await.unwrap().call(9).await.unwrap(), 9);
    assert_eq!(clones.load(SeqCst), after_layering + 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waiting_for_readiness_gives_up_at_the_deadline() {
    let failing = service_fn(|_: u32| async { Err::<u32, BoxError>("transient".into()) });
    let permits = Arc::new(Semaphore::new(1));
    let limited = ConcurrencyLimit::with_semaphore(failing, permits.clone());
    let retry = every_10ms()
        .max_attempts(3)
        .deadline(100 * MS)
        .build()
        .unwrap();
    let svc = retry.layer().layer(limited);
    let start = tokio::time::Instant::now();
    let call = tokio::spawn(svc.oneshot(1));
    // The first attempt fails at once; then the only permit is held, so the
    // retry finds the service not ready, and stays so past the deadline.
    tokio::time::sleep(MS).await;
    let _held = permits.clone().acquire_owned().await.unwrap();

    let err = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the retry waited past its deadline")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        start.elapsed(),
        100 * MS,
        "gave up at the deadline, not later"
    );
    let exhausted = err
        .downcast_ref::<RetriesExhausted>()
        .expect("RetriesExhausted");
    assert_eq!(exhausted.gave_up(), GaveUp::DeadlineExceeded);
    assert_eq!(exhausted.attempts(), 1);
    assert_eq!(exhausted.last_error().to_string(), "transient");
    assert_eq!(retry.metrics().gave_up_deadline, 1);
}
