//! The adaptive concurrency limiter against a simulated backend on paused
//! tokio time: each algorithm finds the backend's best concurrency, backs
//! off when the backend loses half its capacity, and recovers when it
//! heals. Plus admission counts, partitions, waiting and bad settings.

mod support;

use seawall::adaptive::Sample;
use seawall::adaptive::{AdaptiveLimiter, Aimd, Gradient2, LimitAlgorithm, Vegas};
use seawall::clock::ManualClock;
use seawall::error::{rejection, RejectionKind};
use seawall::prelude::*;
use seawall::telemetry::EventKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::Layer;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

/// A dependency with `k` workers and a short accept queue: a call that
/// finds `n` calls in the system takes `service · max(1, n / k)` (its
/// share of the workers), and one that finds the queue full is refused
/// after a network round trip. Throughput is `k / service` for any
/// `n ≥ k`, and latency grows past it: the best concurrency is `k`.
struct Backend {
    k: AtomicUsize,
    queue: usize,
    in_system: AtomicUsize,
    service: Duration,
}

#[derive(Debug)]
struct Refused;
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("503: queue full")
    }
}
impl std::error::Error for Refused {}

struct Leave<'a>(&'a AtomicUsize);
impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The backend's workers (halved mid-test).
const K: usize = 100;

const RTT_FLOOR: Duration = Duration::from_millis(1);

impl Backend {
    fn new(k: usize) -> Arc<Self> {
        Arc::new(Self {
            k: AtomicUsize::new(k),
            queue: 10,
            in_system: AtomicUsize::new(0),
            service: Duration::from_millis(100),
        })
    }

    async fn call(&self) -> Result<(), Refused> {
        let n = self.in_system.fetch_add(1, Ordering::SeqCst) + 1;
        let _leave = Leave(&self.in_system);
        let k = self.k.load(Ordering::SeqCst);
        if n > k + self.queue {
            tokio::time::sleep(RTT_FLOOR).await;
            return Err(Refused);
        }
        let share = (n as f64 / k as f64).max(1.0);
        tokio::time::sleep(self.service.mul_f64(share)).await;
        Ok(())
    }
}

/// The limit, once a second, under 120 callers for 180 s: the backend has
/// `k` workers, `k / 2` from 60 s, `k` again from 120 s.
async fn trace(algorithm: impl LimitAlgorithm, k: usize) -> Vec<usize> {
    let backend = Backend::new(k);
    let limiter = AdaptiveLimiter::builder("sim")
        .algorithm(algorithm)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(limiter.layer())
        .service(service_fn({
            let backend = backend.clone();
            move |()| {
                let backend = backend.clone();
                async move { backend.call().await }
            }
        }));
    let mut workers = Vec::new();
    for _ in 0..250 {
        let mut svc = svc.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let r = svc.ready().await.unwrap().call(()).await;
                if r.is_err() {
                    // Refused, here or by the backend: come back a little later.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    let mut limits = Vec::new();
    for second in 0..180 {
        if second == 60 {
            backend.k.store(k / 2, Ordering::SeqCst);
        }
        if second == 120 {
            backend.k.store(k, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        limits.push(limiter.limit());
    }
    for w in workers {
        w.abort();
    }
    limits
}

fn mean(xs: &[usize]) -> f64 {
    xs.iter().sum::<usize>() as f64 / xs.len() as f64
}

/// Each phase's last 20 s average within 20 % of the backend's best
/// concurrency, and every sample of them within 35 %.
fn assert_tracks(name: &str, limits: &[usize], k: usize) {
    for (phase, best) in [(0, k), (1, k / 2), (2, k)] {
        let settled = &limits[phase * 60 + 40..phase * 60 + 60];
        let m = mean(settled);
        let best = best as f64;
        assert!(
            (m - best).abs() <= 0.2 * best,
            "{name}, phase {phase}: settled mean {m:.1} not within 20% of {best}: {limits:?}"
        );
        for &l in settled {
            assert!(
                (l as f64 - best).abs() <= 0.35 * best,
                "{name}, phase {phase}: {l} strays past 35% of {best}: {limits:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn aimd_finds_the_best_concurrency_backs_off_and_recovers() {
    let limits = trace(Aimd::default().min_limit(5), K).await;
    eprintln!("aimd {limits:?}");
    assert_tracks("aimd", &limits, K);
}

#[tokio::test(start_paused = true)]
async fn vegas_finds_the_best_concurrency_backs_off_and_recovers() {
    let limits = trace(Vegas::default(), K).await;
    eprintln!("vegas {limits:?}");
    assert_tracks("vegas", &limits, K);
}

#[tokio::test(start_paused = true)]
async fn gradient2_finds_the_best_concurrency_backs_off_and_recovers() {
    let limits = trace(Gradient2::default().min_limit(5), K).await;
    eprintln!("gradient2 {limits:?}");
    assert_tracks("gradient2", &limits, K);
}

/// A limit that never moves, to count admissions against.
struct Fixed(usize);
impl LimitAlgorithm for Fixed {
    fn initial_limit(&self) -> usize {
        self.0
    }
    fn update(&mut self, limit: usize, _: &Sample) -> usize {
        limit
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_is_exact_under_ten_thousand_concurrent_tasks() {
    let limiter = AdaptiveLimiter::builder("exact")
        .algorithm(Fixed(7))
        .max_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    let peak = Arc::new(AtomicUsize::new(0));
    let svc = limiter
        .layer()
        .waiting()
        .layer(support::peak_gauge(peak.clone()));
    support::call_all_at_once(svc, 10_000).await;
    assert!(
        peak.load(Ordering::SeqCst) <= 7,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    let m = limiter.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (10_000, 0));
    assert_eq!((m.in_flight, m.waiting), (0, 0), "every slot came back");
}

#[tokio::test]
async fn the_rejecting_layer_refuses_exactly_the_overflow_and_a_dropped_call_frees_its_slot() {
    let limiter = AdaptiveLimiter::builder("reject")
        .algorithm(Fixed(3))
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let svc = limiter.layer().layer(service_fn({
        let gate = gate.clone();
        move |()| {
            let gate = gate.clone();
            async move {
                let _ = gate.acquire().await;
                Ok::<_, BoxError>(())
            }
        }
    }));
    let mut held: Vec<_> = (0..3)
        .map(|_| svc.clone().oneshot(()))
        .map(Box::pin)
        .collect();
    for f in &mut held {
        assert!(futures_poll(f).is_none(), "admitted, waiting on the gate");
    }
    let e = svc.clone().oneshot(()).await.unwrap_err();
    assert_eq!(rejection(&e).unwrap().kind(), RejectionKind::Overloaded);
    assert_eq!(limiter.metrics().in_flight, 3);
    drop(held.pop()); // cancelled: its slot comes back, no sample taken
    assert_eq!(limiter.metrics().in_flight, 2);
    gate.add_permits(10);
    for f in held {
        f.await.unwrap();
    }
    let m = limiter.metrics();
    assert_eq!(
        (m.permitted_calls, m.rejected_calls, m.in_flight),
        (3, 1, 0)
    );
}

/// Polls a future once.
fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn a_failure_is_a_drop_the_window_backs_off_on_and_the_move_is_an_event() {
    let clock = ManualClock::new();
    let moves = Arc::new(std::sync::Mutex::new(Vec::new()));
    let limiter = AdaptiveLimiter::builder("drops")
        .algorithm(Aimd::default().initial_limit(50).min_limit(1))
        .window(Duration::from_millis(100))
        .min_window_calls(1)
        .sample_every(1)
        .report_share(0.05)
        .clock(clock.clone())
        .on_event({
            let moves = moves.clone();
            move |e| {
                if let EventKind::LimitMoved { from, to } = e.kind {
                    moves.lock().unwrap().push((from, to));
                }
            }
        })
        .build()
        .unwrap();
    let mut svc = limiter.layer().layer(service_fn(|fail: bool| async move {
        if fail {
            Err::<(), BoxError>("503".into())
        } else {
            Ok(())
        }
    }));
    svc.ready().await.unwrap().call(true).await.unwrap_err();
    assert_eq!(limiter.limit(), 50, "the window is still open");
    clock.advance(Duration::from_millis(100));
    // The next call to end closes the window: one drop in it.
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(limiter.limit(), 45);
    assert_eq!(*moves.lock().unwrap(), vec![(50, 45)]);
    // A window of successes from one call in flight: app-limited, no growth.
    clock.advance(Duration::from_millis(100));
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(limiter.limit(), 45);
}

#[test]
fn a_partition_keeps_its_share_when_another_fills_the_limit() {
    let limiter = AdaptiveLimiter::builder("parts")
        .algorithm(Fixed(10))
        .partition("interactive", 0.5)
        .partition("batch", 0.5)
        .build()
        .unwrap();
    // Under the limit, batch may borrow all of it.
    let batch: Vec<_> = (0..10)
        .map(|_| limiter.try_acquire_in("batch").unwrap())
        .collect();
    let e = limiter.try_acquire_in("batch").unwrap_err();
    assert_eq!(
        e.to_string(),
        "`parts` refused the call: the adaptive concurrency limit is reached"
    );
    assert!(
        limiter.try_acquire().is_err(),
        "no partition: the limit only"
    );
    // Interactive still gets its reserved five.
    let interactive: Vec<_> = (0..5)
        .map(|_| {
            limiter
                .try_acquire_in("interactive")
                .expect("reserved share")
        })
        .collect();
    assert!(
        limiter.try_acquire_in("interactive").is_err(),
        "past its share"
    );
    assert_eq!(limiter.partition_in_flight("interactive"), 5);
    assert_eq!(limiter.partition_in_flight("batch"), 10);
    drop(interactive);
    drop(batch);
    let m = limiter.metrics();
    assert_eq!(
        (m.in_flight, m.permitted_calls, m.rejected_calls),
        (0, 15, 3)
    );
    assert!(
        limiter.try_acquire().is_ok(),
        "the debt was repaid, the pool is whole"
    );
    assert_eq!(limiter.partition_in_flight("batch"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_is_admitted_when_a_slot_frees_or_refused_after_max_wait() {
    let limiter = AdaptiveLimiter::builder("wait")
        .algorithm(Fixed(1))
        .max_wait(Duration::from_millis(50))
        .build()
        .unwrap();
    let first = limiter.try_acquire().unwrap();
    let waiting = tokio::spawn({
        let l = limiter.clone();
        async move { l.acquire().await.map(|p| p.record(Outcome::Success)) }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(limiter.metrics().waiting, 1);
    first.record(Outcome::Success);
    waiting.await.unwrap().expect("handed the freed slot");
    let _held = limiter.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    let e = limiter.acquire().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(
        e.to_string(),
        "`wait` refused the call: the adaptive concurrency limit is reached"
    );
    assert_eq!(limiter.metrics().waiting, 0);
}

#[test]
fn bad_settings_are_config_errors_naming_the_field() {
    let field =
        |b: seawall::adaptive::AdaptiveLimiterBuilder| b.build().unwrap_err().field().to_string();
    let b = || AdaptiveLimiter::builder("bad");
    assert_eq!(
        field(b().algorithm(Aimd::default().min_limit(10).max_limit(5))),
        "max_limit"
    );
    assert_eq!(
        field(b().algorithm(Gradient2::default().min_limit(0))),
        "min_limit"
    );
    assert_eq!(
        field(b().algorithm(Vegas::default().initial_limit(0))),
        "initial_limit"
    );
    assert_eq!(
        field(b().algorithm(Gradient2::default().smoothing(0.0))),
        "smoothing"
    );
    assert_eq!(
        field(b().algorithm(Vegas::default().smoothing(1.01))),
        "smoothing"
    );
    assert_eq!(field(b().algorithm(Fixed(0))), "initial_limit");
    assert_eq!(field(b().window(Duration::ZERO)), "window");
    assert_eq!(field(b().sample_every(3)), "sample_every");
    assert_eq!(
        field(b().partition("a", 0.7).partition("b", 0.5)),
        "partition"
    );
    assert_eq!(field(b().partition("a", 0.0)), "partition");
    assert_eq!(field(b().max_wait(Duration::from_secs(7200))), "max_wait");
    let e = b()
        .algorithm(Aimd::default().min_limit(10).max_limit(5))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("max_limit"), "{e}");
}

/// As the README layers it: HTTP 5xx answers are drops, and requests are
/// partitioned by path.
#[cfg(feature = "http")]
#[tokio::test]
async fn http_503s_are_drops_and_paths_pick_partitions_as_in_the_readme() {
    use http::{Request, Response, StatusCode};
    use seawall::http::HttpClassifier;
    let clock = ManualClock::new();
    let limiter = AdaptiveLimiter::builder("inventory")
        .algorithm(Aimd::default().initial_limit(40).min_limit(1))
        .partition("interactive", 0.8)
        .partition("batch", 0.2)
        .min_window_calls(1)
        .sample_every(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut client = ServiceBuilder::new()
        .layer(
            limiter
                .layer()
                .classify(HttpClassifier::new())
                .partition_by(|req: &Request<()>| {
                    if req.uri().path().starts_with("/batch") {
                        "batch"
                    } else {
                        "interactive"
                    }
                }),
        )
        .service(service_fn(|req: Request<()>| async move {
            let status = if req.uri().path() == "/down" {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let mut res = Response::new(());
            *res.status_mut() = status;
            Ok::<_, BoxError>(res)
        }));
    let get = |path: &str| Request::get(path).body(()).unwrap();
    let res = client
        .ready()
        .await
        .unwrap()
        .call(get("/down"))
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "the answer passes through untouched");
    clock.advance(Duration::from_millis(100));
    client
        .ready()
        .await
        .unwrap()
        .call(get("/batch/report"))
        .await
        .unwrap();
    assert_eq!(limiter.limit(), 36, "the 503 was a drop: 40 × 0.9");
    assert_eq!(limiter.partition_in_flight("batch"), 0);
}

#[test]
fn a_refusal_hints_to_retry_after_about_one_round_trip() {
    use seawall::error::Rejection;
    let clock = ManualClock::new();
    let limiter = AdaptiveLimiter::builder("hint")
        .algorithm(Fixed(1))
        .min_window_calls(1)
        .sample_every(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let held = limiter.try_acquire().unwrap();
    assert_eq!(
        limiter.try_acquire().unwrap_err().retry_after(),
        None,
        "nothing measured yet"
    );
    clock.advance(Duration::from_millis(120));
    held.record(Outcome::Success); // a 120 ms round trip, closing the window
    let _held = limiter.try_acquire().unwrap();
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(120)));
}
