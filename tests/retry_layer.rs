//! The retry layer: what it retries, how long it waits when told, which
//! requests it resends, and what it reports. Paused tokio time throughout.
#![cfg(feature = "http")]

use http::{Method, Request, Response, StatusCode};
use seawall::http::{Deadline, RetrySafe};
use seawall::prelude::*;
use seawall::retry::{
    Attempt, Backoff, GaveUp, Jitter, RetriesExhausted, Retry, RetryBudget, RetryReason,
    RetryVerdict,
};
use seawall::telemetry::{EventKind, EventMask};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

const MS: Duration = Duration::from_millis(1);

fn retry(max_attempts: u32) -> Retry {
    Retry::builder("api")
        .max_attempts(max_attempts)
        .backoff(Backoff::Constant(10 * MS))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// What each attempt's request carried.
type Seen = Arc<Mutex<Vec<(Option<Attempt>, Option<Deadline>)>>>;

/// A service answering with `statuses` in turn (then 200), counting calls
/// and keeping what each request carried.
#[derive(Clone, Default)]
struct Script {
    statuses: Arc<Vec<(u16, Option<&'static str>)>>,
    calls: Arc<AtomicU32>,
    seen: Seen,
}

impl Script {
    fn new(statuses: Vec<(u16, Option<&'static str>)>) -> Self {
        Self {
            statuses: Arc::new(statuses),
            ..Self::default()
        }
    }

    fn service(
        &self,
    ) -> impl tower::Service<Request<String>, Response = Response<()>, Error = BoxError> + Clone
    {
        let s = self.clone();
        service_fn(move |req: Request<String>| {
            let n = s.calls.fetch_add(1, Ordering::SeqCst) as usize;
            s.seen.lock().unwrap().push((
                req.extensions().get::<Attempt>().copied(),
                Deadline::of(&req),
            ));
            let (status, retry_after) = s.statuses.get(n).copied().unwrap_or((200, None));
            let mut res = Response::builder().status(status);
            if let Some(v) = retry_after {
                res = res.header("retry-after", v);
            }
            async move { Ok::<_, BoxError>(res.body(()).unwrap()) }
        })
    }
}

fn get() -> Request<String> {
    Request::new(String::from("hello"))
}

fn post() -> Request<String> {
    Request::builder()
        .method(Method::POST)
        .body(String::from("order"))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_and_retry_after_is_honoured() {
    let script = Script::new(vec![(503, Some("2")), (503, None)]);
    let svc = retry(3).layer().for_http().layer(script.service());
    let start = Instant::now();
    let res = svc.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // 2 s as told, then the 10 ms backoff.
    assert_eq!(start.elapsed(), 2 * Duration::from_secs(1) + 10 * MS);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn giving_up_on_responses_returns_the_last_one() {
    let script = Script::new(vec![(503, None); 5]);
    let svc = retry(3).layer().for_http().layer(script.service());
    let res = svc.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    // A 500 is not retried by default (it may have had effects).
    let script = Script::new(vec![(500, None)]);
    let svc = retry(3).layer().for_http().layer(script.service());
    assert_eq!(svc.oneshot(get()).await.unwrap().status(), 500);
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
}

/// A GET through `r`'s HTTP layer over `script`: the response, and how
/// long it took (paused time).
async fn timed_get(r: &Retry, script: &Script) -> (Response<()>, Duration) {
    let svc = r.layer().for_http().layer(script.service());
    let start = Instant::now();
    let res = svc.oneshot(get()).await.unwrap();
    (res, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let r = Retry::builder("api")
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();
    let script = Script::new(vec![(429, Some("60"))]);
    let (res, took) = timed_get(&r, &script).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(took, Duration::ZERO);
    assert_eq!(r.metrics().gave_up_deadline, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_max_retry_after_is_returned_at_once() {
    let r = Retry::builder("api")
        .max_retry_after(Duration::from_secs(5))
        .build()
        .unwrap();
    // Told 60 s: the 429 comes back at once, its Retry-After intact.
    let script = Script::new(vec![(429, Some("60"))]);
    let (res, took) = timed_get(&r, &script).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(took, Duration::ZERO);
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.metrics().gave_up_deadline, 1);
    // Told 5 s, the limit itself: waited as told, then retried.
    let script = Script::new(vec![(503, Some("5"))]);
    let (res, took) = timed_get(&r, &script).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(took, Duration::from_secs(5));
    assert_eq!(script.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn post_is_not_resent_unless_marked_safe() {
    let script = Script::new(vec![(503, None)]);
    let svc = retry(3).layer().for_http().layer(script.service());
    assert_eq!(svc.oneshot(post()).await.unwrap().status(), 503);
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);

    let script = Script::new(vec![(503, None)]);
    let svc = retry(3).layer().for_http().layer(script.service());
    let mut safe = post();
    safe.extensions_mut().insert(RetrySafe);
    assert_eq!(svc.oneshot(safe).await.unwrap().status(), 200);
    assert_eq!(script.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn post_is_resent_when_the_failure_proves_it_never_left() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    // A local limiter refused the first attempt, the connection was refused
    // on the second: neither reached the server.
    let inner = service_fn(move |_: Request<String>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Err(Box::new(seawall::RateLimited::new("local".into(), 5 * MS)) as BoxError),
                1 => Err(
                    Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
                        as BoxError,
                ),
                2 => Err("reset after sending".into()),
                _ => Ok(Response::new(())),
            }
        }
    });
    let svc = retry(5).layer().for_http().layer(inner);
    let err = svc.oneshot(post()).await.unwrap_err();
    assert_eq!(err.to_string(), "reset after sending");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_carries_its_number_and_the_time_left() {
    let r = Retry::builder("api")
        .max_attempts(3)
        .backoff(Backoff::Constant(100 * MS))
        .jitter(Jitter::None)
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let script = Script::new(vec![(503, None), (503, None)]);
    let svc = r.layer().for_http().layer(script.service());
    let start = Instant::now();
    svc.oneshot(get()).await.unwrap();
    let seen = script.seen.lock().unwrap().clone();
    let numbers: Vec<_> = seen.iter().map(|(a, _)| a.unwrap().number).collect();
    let left: Vec<_> = seen
        .iter()
        .map(|(a, _)| a.unwrap().remaining.unwrap())
        .collect();
    let deadlines: Vec<_> = seen.iter().map(|(_, d)| d.unwrap().0).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(left, [1000 * MS, 900 * MS, 800 * MS]);
    assert!(deadlines
        .iter()
        .all(|d| *d == start + Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_gets_one_attempt() {
    // Not `Clone`: a replay function decides.
    struct Job(u32);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let inner = service_fn(move |job: Job| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Err::<u32, BoxError>(format!("job {} failed", job.0).into()) }
    });
    let replayable = |job: &Job| (job.0 % 2 == 0).then_some(Job(job.0));
    let svc = retry(3).layer().replay_with(replayable).layer(inner);
    let err = svc.clone().oneshot(Job(2)).await.unwrap_err();
    assert!(err.downcast_ref::<RetriesExhausted>().is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let err = svc.oneshot(Job(1)).await.unwrap_err();
    assert_eq!(err.to_string(), "job 1 failed", "returned as it came");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn events_and_metrics_tell_what_happened() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let r = Retry::builder("api")
        .max_attempts(3)
        .backoff(Backoff::Constant(10 * MS))
        .jitter(Jitter::None)
        .budget(RetryBudget::new(0.0, 0, 2).unwrap()) // nothing to spend
        .on_events(EventMask::RETRIES, move |ev| {
            e.lock().unwrap().push(ev.kind.clone())
        })
        .build()
        .unwrap();
    let svc = r
        .layer()
        .retry_if(|res: &Result<u32, BoxError>| match res {
            Ok(0) => RetryVerdict::Retry,
            Ok(_) => RetryVerdict::Accept,
            Err(_) => RetryVerdict::Retry,
        })
        .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    assert_eq!(svc.clone().oneshot(0).await.unwrap(), 0);
    assert_eq!(
        events.lock().unwrap().as_slice(),
        [EventKind::BudgetExhausted { attempts: 1 }]
    );
    let m = r.metrics();
    assert_eq!((m.calls, m.retries(), m.gave_up_budget), (1, 0, 1));

    // With a budget, a failing call is retried twice, then gives up.
    events.lock().unwrap().clear();
    let r = Retry::builder("api2")
        .max_attempts(3)
        .backoff(Backoff::Constant(10 * MS))
        .jitter(Jitter::None)
        .on_events(EventMask::RETRIES, {
            let e = events.clone();
            move |ev| e.lock().unwrap().push(ev.kind.clone())
        })
        .build()
        .unwrap();
    let svc = r.layer().layer(service_fn(|_: u32| async {
        Err::<u32, BoxError>("down".into())
    }));
    svc.oneshot(1).await.unwrap_err();
    let scheduled = |attempt| EventKind::RetryScheduled {
        attempt,
        delay: 10 * MS,
        reason: RetryReason::Error,
    };
    assert_eq!(
        events.lock().unwrap().as_slice(),
        [
            scheduled(2),
            scheduled(3),
            EventKind::RetriesExhausted {
                attempts: 3,
                gave_up: GaveUp::AttemptsExhausted
            }
        ]
    );
    let m = r.metrics();
    assert_eq!(
        (
            m.calls,
            m.attempts(),
            m.retries_after_error,
            m.gave_up_attempts
        ),
        (1, 3, 2, 1)
    );
    // The default budget: 10 to start, 0.2 per call, 2 spent.
    assert_eq!(m.budget_balance, Some(8));
}

#[tokio::test(start_paused = true)]
async fn invalid_configuration_names_the_field() {
    let err = Retry::builder("x")
        .deadline(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "deadline");
    // Too long to add to an instant: refused here, not a panic per call.
    let err = Retry::builder("x")
        .deadline(Duration::MAX)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "deadline");
    let err = Retry::builder("x")
        .backoff(Backoff::Exponential {
            initial: MS,
            multiplier: 0.5,
            max: Duration::from_secs(1),
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "backoff.multiplier");
}

/// Clones of one retry service on four threads (each call's future holds a
/// per-thread handle): every call is retried exactly once through the one
/// shared copy, and the counts add up exactly.
#[test]
fn clones_on_many_threads_retry_every_call_and_count_exactly() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 2_000;
    let retry = Retry::builder("stress")
        .max_attempts(2)
        .backoff(Backoff::Constant(MS))
        .jitter(Jitter::None)
        .no_budget()
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    // Fails a request's first attempt, answers its second.
    let flaky = service_fn(move |failed_once: Arc<std::sync::atomic::AtomicBool>| {
        a.fetch_add(1, Ordering::Relaxed);
        let retried = failed_once.swap(true, Ordering::Relaxed);
        async move {
            if retried {
                Ok::<_, seawall::BoxError>(())
            } else {
                Err("transient".into())
            }
        }
    });
    let svc = retry.layer().layer(flaky);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let svc = svc.clone();
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    for _ in 0..CALLS {
                        let req = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        svc.clone().oneshot(req).await.unwrap();
                    }
                });
            });
        }
    });
    let m = retry.metrics();
    assert_eq!(m.calls, THREADS * CALLS);
    assert_eq!(m.retries_after_error, THREADS * CALLS);
    assert_eq!(
        u64::from(attempts.load(Ordering::Relaxed)),
        2 * THREADS * CALLS
    );
}
