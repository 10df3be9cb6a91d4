//! The client preset's fused service behaves as the same layers nested
//! (`ClientStack::into_stack`): the same scripts of backend behaviour, run
//! through both on tokio's paused clock, give the same results at the same
//! times, the same attempts, and the same breaker, retry, bulkhead and
//! timeout counts.

#![cfg(feature = "http")]

mod support;

use http::{Method, Request, Response};
use proptest::prelude::*;
use seawall::bulkhead::Bulkhead;
use seawall::circuit_breaker::{CircuitBreaker, SlidingWindow};
use seawall::http::{HttpClassifier, HttpReplay, RetryHttp};
use seawall::retry::{Backoff, Jitter, Retry};
use seawall::stack::{ClientStack, Stack, SwappedClassifier};
use seawall::timeout::Timeout;
use seawall::BoxError;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

/// What the backend does for one attempt: wait, then answer or fail.
#[derive(Debug, Clone, Copy)]
enum Step {
    Answer {
        after_ms: u64,
        status: u16,
        retry_after: Option<u32>,
    },
    Fail {
        after_ms: u64,
    },
}

/// One call: what each attempt meets, the pause before it, whether the
/// caller gives up on it after a while, and its method.
#[derive(Debug, Clone)]
struct Call {
    steps: [Step; 3],
    gap_s: u64,
    cancel_after_ms: Option<u64>,
    post: bool,
}

/// Carried in the request: the call's steps and its attempt count.
#[derive(Clone)]
struct Plan {
    steps: [Step; 3],
    attempts: Arc<AtomicU32>,
}

/// What one call came to.
#[derive(Debug, PartialEq)]
struct Seen {
    result: String,
    took: Duration,
    attempts: u32,
}

/// What the run left in the instances' counts.
#[derive(Debug, PartialEq)]
struct Counts {
    breaker: String,
    retry: String,
    bulkhead: String,
    total_elapsed: u64,
    attempt_elapsed: u64,
}

/// The preset with a breaker of its own swapped in (its own classifier).
type Preset = ClientStack<RetryHttp, HttpReplay, SwappedClassifier<HttpClassifier, HttpClassifier>>;

/// The http_client preset's shape with smaller numbers: a seeded jitter
/// (so both runs draw the same delays), a breaker that opens within a
/// script and counts slow calls, a bulkhead of one slot (so a slot a call
/// fails to give back shows in the next call), a 5 s total timeout.
fn preset() -> Preset {
    let name = "script";
    let retry = Retry::builder(name)
        .max_attempts(3)
        .backoff(Backoff::Exponential {
            initial: Duration::from_millis(50),
            multiplier: 2.0,
            max: Duration::from_secs(2),
        })
        .jitter(Jitter::Full)
        .max_retry_after(Duration::from_secs(5))
        .seed(7)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder(name)
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(4)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(30))
        .permitted_number_of_calls_in_half_open_state(2)
        .slow_call_duration_threshold(Duration::from_secs(1))
        .slow_call_rate_threshold(80.0)
        .classify(HttpClassifier::new())
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder(name)
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let attempt = Timeout::builder("script.attempt")
        .duration(Duration::from_secs(2))
        .build()
        .unwrap()
        .within_deadline();
    // Shorter than three hung attempts, so it fires in some scripts.
    let total = Timeout::builder("script.total")
        .duration(Duration::from_secs(5))
        .build()
        .unwrap();
    Stack::http_client(name)
        .unwrap()
        .with_retry(retry.layer().for_http())
        .with_circuit_breaker(breaker.layer())
        .with_bulkhead(bulkhead.layer())
        .with_attempt_timeout(attempt)
        .with_total_timeout(total)
}

/// The scripted backend: each attempt does what its request's plan says.
fn backend(req: Request<()>) -> impl std::future::Future<Output = Result<Response<()>, BoxError>> {
    let plan = req.extensions().get::<Plan>().cloned().expect("a plan");
    let n = plan.attempts.fetch_add(1, Ordering::SeqCst) as usize;
    let step = plan.steps[n.min(2)];
    async move {
        match step {
            Step::Answer {
                after_ms,
                status,
                retry_after,
            } => {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                let mut res = Response::builder().status(status);
                if let Some(s) = retry_after {
                    res = res.header("retry-after", s.to_string());
                }
                Ok(res.body(()).unwrap())
            }
            Step::Fail { after_ms } => {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                Err("connection reset".into())
            }
        }
    }
}

/// Runs `calls` one after another through `svc`.
async fn run<S>(svc: S, calls: &[Call]) -> Vec<Seen>
where
    S: Service<Request<()>, Response = Response<()>, Error = BoxError> + Clone,
{
    let mut seen = Vec::new();
    for call in calls {
        tokio::time::sleep(Duration::from_secs(call.gap_s)).await;
        let attempts = Arc::new(AtomicU32::new(0));
        let mut req = Request::new(());
        if call.post {
            *req.method_mut() = Method::POST;
        }
        req.extensions_mut().insert(Plan {
            steps: call.steps,
            attempts: attempts.clone(),
        });
        let start = Instant::now();
        let fut = svc.clone().oneshot(req);
        let result = match call.cancel_after_ms {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), fut).await {
                Ok(r) => describe(r),
                Err(_) => "cancelled by the caller".to_string(),
            },
            None => describe(fut.await),
        };
        seen.push(Seen {
            result,
            took: start.elapsed(),
            attempts: attempts.load(Ordering::SeqCst),
        });
    }
    seen
}

fn describe(result: Result<Response<()>, BoxError>) -> String {
    match result {
        Ok(res) => format!("{} {:?}", res.status(), res.headers().get("retry-after")),
        Err(e) => format!("{e:?}"),
    }
}

/// Runs `calls` through a fresh preset, fused or layered.
fn play(calls: &[Call], fused: bool) -> (Vec<Seen>, Counts) {
    support::paused_runtime().block_on(async {
        let stack = preset();
        let breaker = stack.circuit_breaker_layer().handle().clone();
        let retry = stack.retry_layer().handle();
        let bulkhead = stack.bulkhead_layer().handle().clone();
        let (total, attempt) = (
            stack.total_timeout_layer().clone(),
            stack.attempt_timeout_layer().clone(),
        );
        let seen = if fused {
            run(stack.layer(service_fn(backend)), calls).await
        } else {
            run(stack.into_stack().layer(service_fn(backend)), calls).await
        };
        let counts = Counts {
            breaker: format!("{:?}", breaker.metrics()),
            retry: format!("{:?}", retry.metrics()),
            bulkhead: format!("{:?}", bulkhead.metrics()),
            total_elapsed: total.elapsed_calls(),
            attempt_elapsed: attempt.elapsed_calls(),
        };
        (seen, counts)
    })
}

fn step() -> impl Strategy<Value = Step> {
    let after = prop::sample::select(vec![0u64, 0, 100, 1_500, 2_500, 12_000]);
    prop_oneof![
        4 => (
            after.clone(),
            prop::sample::select(vec![200u16, 200, 404, 429, 500, 503]),
            prop::option::weighted(0.3, prop::sample::select(vec![0u32, 1, 30])),
        )
            .prop_map(|(after_ms, status, retry_after)| Step::Answer {
                after_ms,
                status,
                retry_after,
            }),
        1 => after.prop_map(|after_ms| Step::Fail { after_ms }),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    (
        [step(), step(), step()],
        prop::sample::select(vec![0u64, 0, 0, 1, 31]),
        prop::option::weighted(0.15, prop::sample::select(vec![50u64, 1_000, 2_600])),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(steps, gap_s, cancel_after_ms, post)| Call {
            steps,
            gap_s,
            cancel_after_ms,
            post,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_fused_preset_behaves_as_its_layers(calls in prop::collection::vec(call(), 1..24)) {
        let fused = play(&calls, true);
        let layered = play(&calls, false);
        prop_assert_eq!(fused, layered);
    }
}

/// The script the property test is built on covers what it claims: a run
/// with failures, timeouts, cancellations and an opened breaker.
#[test]
fn a_script_opens_the_breaker_times_out_and_cancels_alike() {
    let fail = Step::Answer {
        after_ms: 0,
        status: 503,
        retry_after: None,
    };
    let hang = Step::Answer {
        after_ms: 12_000,
        status: 200,
        retry_after: None,
    };
    let ok = Step::Answer {
        after_ms: 0,
        status: 200,
        retry_after: None,
    };
    let mut calls = vec![
        Call {
            steps: [hang, hang, hang],
            gap_s: 0,
            cancel_after_ms: None,
            post: false,
        },
        Call {
            steps: [hang, ok, ok],
            gap_s: 0,
            cancel_after_ms: Some(1_000),
            post: false,
        },
    ];
    for _ in 0..4 {
        calls.push(Call {
            steps: [fail, fail, fail],
            gap_s: 0,
            cancel_after_ms: None,
            post: false,
        });
    }
    calls.push(Call {
        steps: [ok, ok, ok],
        gap_s: 31,
        cancel_after_ms: None,
        post: false,
    });
    let (seen, counts) = play(&calls, true);
    let layered = play(&calls, false);
    assert_eq!((&seen, &counts), (&layered.0, &layered.1));
    assert!(seen[0].result.contains("script.total"), "{:?}", seen[0]);
    assert_eq!(seen[0].took, Duration::from_secs(5));
    assert_eq!(seen[0].attempts, 3, "two attempts timed out at 2 s");
    assert_eq!(seen[1].result, "cancelled by the caller");
    assert!(
        seen.iter().any(|s| s.result.contains("CircuitOpen")),
        "the breaker opened: {seen:#?}"
    );
    assert_eq!(
        seen.last().unwrap().result,
        "200 OK None",
        "half-open, then a probe"
    );
    assert_eq!((counts.attempt_elapsed, counts.total_elapsed), (2, 1));
}

/// Calls at once: the second finds the one-slot bulkhead full on its first
/// attempt, which the breaker records as ignored and the retry returns at
/// once, as the layers do.
#[test]
fn a_full_bulkhead_on_the_first_attempt_is_handled_alike() {
    let slow = Step::Answer {
        after_ms: 300,
        status: 200,
        retry_after: None,
    };
    let call = Call {
        steps: [slow, slow, slow],
        gap_s: 0,
        cancel_after_ms: None,
        post: false,
    };
    let at_once = |fused: bool| {
        support::paused_runtime().block_on(async {
            let stack = preset();
            let (breaker, bulkhead) = (
                stack.circuit_breaker_layer().handle().clone(),
                stack.bulkhead_layer().handle().clone(),
            );
            let one = [call.clone()];
            let seen = if fused {
                let svc = stack.layer(service_fn(backend));
                tokio::join!(run(svc.clone(), &one), run(svc, &one))
            } else {
                let svc = stack.into_stack().layer(service_fn(backend));
                tokio::join!(run(svc.clone(), &one), run(svc, &one))
            };
            let counts = format!("{:?} {:?}", breaker.metrics(), bulkhead.metrics());
            (seen, counts)
        })
    };
    let fused = at_once(true);
    assert_eq!(fused, at_once(false));
    let ((first, second), counts) = &fused;
    assert_eq!(first[0].result, "200 OK None");
    // A local rejection is not retried, and the breaker ignores it.
    assert!(second[0].result.starts_with("BulkheadFull"), "{second:?}");
    assert_eq!(second[0].attempts, 0);
    assert!(counts.contains("total_ignored: 1"), "{counts}");
}

/// Marks a request whose backend answers only on its second poll.
#[derive(Clone)]
struct AnswerLate;

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Four threads call one fused preset at once; every third call is dropped
/// mid-attempt (polled once, pending, dropped). Afterwards every bulkhead
/// slot is back, and the breaker and retry counted each call exactly once,
/// as completed or cancelled.
#[test]
fn concurrent_calls_and_cancellations_leave_exact_counts() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    const THREADS: u64 = 4;
    const CALLS: u64 = 5_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let stack = Stack::http_client("stress").unwrap();
    let (breaker, bulkhead, retry) = (
        stack.circuit_breaker_layer().handle().clone(),
        stack.bulkhead_layer().handle().clone(),
        stack.retry_layer().handle(),
    );
    let svc = stack.layer(service_fn(|req: Request<()>| {
        let late = req.extensions().get::<AnswerLate>().is_some();
        async move {
            YieldOnce(!late).await;
            Ok::<_, BoxError>(Response::new(()))
        }
    }));
    support::on_threads(THREADS as usize, |_| {
        let mut svc = svc.clone();
        let _entered = rt.handle().enter();
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..CALLS {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let mut req = Request::new(());
            let cancel = i % 3 == 0;
            if cancel {
                req.extensions_mut().insert(AnswerLate);
            }
            let mut fut = Box::pin(svc.call(req));
            let first = fut.as_mut().poll(&mut cx);
            if cancel {
                assert!(first.is_pending());
                drop(fut);
            } else {
                assert!(matches!(first, Poll::Ready(Ok(_))));
            }
        }
    });
    let cancelled = THREADS * CALLS.div_ceil(3);
    let completed = THREADS * CALLS - cancelled;
    let b = breaker.metrics();
    assert_eq!(
        (b.total_successes, b.total_cancelled),
        (completed, cancelled)
    );
    assert_eq!((b.total_failures, b.total_ignored), (0, 0));
    let h = bulkhead.metrics();
    assert_eq!((h.in_flight, h.available), (0, 64), "every slot given back");
    assert_eq!((h.permitted_calls, h.rejected_calls), (THREADS * CALLS, 0));
    assert_eq!(retry.metrics().calls, THREADS * CALLS);
}
