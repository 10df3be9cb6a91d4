//! seawall, one pattern at a time: a real HTTP backend on 127.0.0.1 that
//! goes down for a stretch, driven by the same load through a bare hyper
//! client and through a client guarded by a circuit breaker; then scenes for
//! a rate limiter, a bulkhead, a fallback, retries with a budget and an
//! adaptive concurrency limit.
//!
//! `cargo run --release --example scenes` (about 25 seconds, no set-up).
//! The whole standard stack against scripted failures is `--example demo`.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::prelude::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

mod support;

/// The backend's script: healthy, then down (slow 503s), then healthy again.
const HEALTHY_UNTIL: Duration = Duration::from_secs(2);
const DOWN_UNTIL: Duration = Duration::from_secs(6);
const RUN_FOR: Duration = Duration::from_secs(9);
/// Offered load: 500 requests per second.
const REQUEST_EVERY: Duration = Duration::from_millis(2);

struct Backend {
    started: Instant,
    served: AtomicU64,
    failed: AtomicU64,
}

async fn start_backend(started: Instant) -> (SocketAddr, Arc<Backend>) {
    let backend = Arc::new(Backend {
        started,
        served: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let b = backend.clone();
    let (addr, _) = support::serve(move |_| {
        let b = b.clone();
        async move {
            b.served.fetch_add(1, Ordering::Relaxed);
            let t = b.started.elapsed();
            let down = t >= HEALTHY_UNTIL && t < DOWN_UNTIL;
            let status = if down {
                // A struggling dependency: slow, then an error.
                b.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
                StatusCode::OK
            };
            support::respond(status, b"ok")
        }
    })
    .await;
    (addr, backend)
}

#[derive(Default)]
struct Tally {
    requests: u64,
    successes: u64,
    rejected_fast: u64,
    errors: u64,
    latencies: Vec<Duration>,
}

struct Report {
    tally: Tally,
    reached_backend: u64,
    failures_at_backend: u64,
    transitions: Vec<(Duration, CircuitState, CircuitState)>,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Drives an open-loop load through `svc` for the script's length: one
/// request every `REQUEST_EVERY`, whether or not earlier ones finished, so
/// both clients face exactly the same demand.
async fn drive<S>(svc: S, addr: SocketAddr) -> Tally
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let mut tick = tokio::time::interval(REQUEST_EVERY);
    let mut in_flight = tokio::task::JoinSet::new();
    while start.elapsed() < RUN_FOR {
        tick.tick().await;
        let (mut svc, tally) = (svc.clone(), tally.clone());
        in_flight.spawn(async move {
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            let t0 = Instant::now();
            let result = async {
                let res = svc
                    .ready()
                    .await
                    .map_err(Into::into)?
                    .call(req)
                    .await
                    .map_err(Into::into)?;
                let status = res.status();
                res.into_body().collect().await?;
                Ok::<_, BoxError>(status)
            }
            .await;
            let mut t = tally.lock().unwrap();
            t.requests += 1;
            t.latencies.push(t0.elapsed());
            match result {
                Ok(s) if s.is_success() => t.successes += 1,
                Err(e) if seawall::rejection(&e).is_some() => t.rejected_fast += 1,
                _ => t.errors += 1,
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
}

async fn run_bare() -> Report {
    let (addr, backend) = start_backend(Instant::now()).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let tally = drive(client, addr).await;
    Report {
        tally,
        reached_backend: backend.served.load(Ordering::Relaxed),
        failures_at_backend: backend.failed.load(Ordering::Relaxed),
        transitions: Vec::new(),
    }
}

async fn run_guarded() -> Result<Report, ConfigError> {
    let (addr, backend) = start_backend(Instant::now()).await;
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let (log, started) = (transitions.clone(), backend.started);
    let breaker = CircuitBreaker::builder("backend")
        .sliding_window(SlidingWindow::count(20))
        .minimum_number_of_calls(10)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_millis(500))
        .permitted_number_of_calls_in_half_open_state(3)
        .classify(
            |r: &Result<Response<Incoming>, hyper_util::client::legacy::Error>| match r {
                Ok(res) if res.status().is_server_error() => Outcome::Failure,
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::Failure,
            },
        )
        .on_event(move |e| {
            if let EventKind::StateTransition { from, to } = e.kind {
                log.lock().unwrap().push((started.elapsed(), from, to));
            }
        })
        .build()?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let tally = drive(breaker.layer().layer(client), addr).await;
    let transitions = transitions.lock().unwrap().clone();
    Ok(Report {
        tally,
        reached_backend: backend.served.load(Ordering::Relaxed),
        failures_at_backend: backend.failed.load(Ordering::Relaxed),
        transitions,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

const ROWS: [&str; 9] = [
    "requests",
    "successes",
    "availability",
    "fast rejections (breaker open)",
    "errors after waiting on the backend",
    "requests that reached the backend",
    "failures that reached the backend",
    "p50 latency",
    "p99 latency",
];

/// One column of the table, in the order of `ROWS`.
fn column(r: &mut Report) -> [String; 9] {
    r.tally.latencies.sort();
    let t = &r.tally;
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    [
        t.requests.to_string(),
        t.successes.to_string(),
        format!(
            "{:.1}%",
            100.0 * t.successes as f64 / t.requests.max(1) as f64
        ),
        t.rejected_fast.to_string(),
        t.errors.to_string(),
        r.reached_backend.to_string(),
        r.failures_at_backend.to_string(),
        ms(percentile(&t.latencies, 0.50)),
        ms(percentile(&t.latencies, 0.99)),
    ]
}

fn print_table(bare: &mut Report, guarded: &mut Report) {
    let (left, right) = (column(bare), column(guarded));
    println!("\n{:<36} {:>14} {:>16}", "", "bare client", "with breaker");
    println!("{}", "-".repeat(68));
    for (i, label) in ROWS.iter().enumerate() {
        println!("{:<36} {:>14} {:>16}", label, left[i], right[i]);
    }
}

#[tokio::main]
async fn main() -> Result<(), ConfigError> {
    println!(
        "Backend script: healthy 0–{}s, down {}–{}s (100 ms then 503), healthy until {}s; \
         one request every {:?} through each client.",
        HEALTHY_UNTIL.as_secs(),
        HEALTHY_UNTIL.as_secs(),
        DOWN_UNTIL.as_secs(),
        RUN_FOR.as_secs(),
        REQUEST_EVERY
    );
    println!("Running the bare client...");
    let mut bare = run_bare().await;
    println!("Running the client with a circuit breaker...");
    let mut guarded = run_guarded().await?;
    print_table(&mut bare, &mut guarded);

    println!("\nBreaker timeline (time since the backend started):");
    for (at, from, to) in &guarded.transitions {
        println!("  {:>6.2}s  {:?} -> {:?}", at.as_secs_f64(), from, to);
    }
    let spared = bare
        .failures_at_backend
        .saturating_sub(guarded.failures_at_backend);
    println!(
        "\nThe breaker spared the struggling backend {spared} failing requests and answered \
         {} calls in microseconds instead of waiting on it.",
        guarded.tally.rejected_fast
    );

    rate_limit_scene().await?;
    bulkhead_scene().await?;
    fallback_scene().await?;
    retry_scene().await?;
    adaptive_scene().await?;
    Ok(())
}

/// A backend with 20 workers and 10 ms of work a call: past 20 calls at
/// once each call gets its share of the workers, so latency grows with
/// load while throughput stays at 2,000 a second. Offered 2,500 a second,
/// a static limit set long ago (500) lets the queue grow to it; the
/// adaptive limit (Gradient2, the default) finds the backend's knee and
/// refuses the excess at once, keeping the served calls' p99 near the work
/// itself.
async fn adaptive_scene() -> Result<(), ConfigError> {
    use seawall::adaptive::AdaptiveLimiter;
    use std::sync::atomic::AtomicUsize;
    const WORKERS: usize = 20;
    println!(
        "\n== Adaptive concurrency: a backend of {WORKERS} workers (10 ms a call, slower past {WORKERS} at once), 2,500 requests/s for 3 s =="
    );
    let in_system = Arc::new(AtomicUsize::new(0));
    let (addr, _) = support::serve({
        let in_system = in_system.clone();
        move |_| {
            let in_system = in_system.clone();
            async move {
                let n = in_system.fetch_add(1, Ordering::SeqCst) + 1;
                let share = (n as f64 / WORKERS as f64).max(1.0);
                tokio::time::sleep(Duration::from_millis(10).mul_f64(share)).await;
                in_system.fetch_sub(1, Ordering::SeqCst);
                support::respond(StatusCode::OK, b"ok")
            }
        }
    })
    .await;
    for adaptive in [false, true] {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let limiter = AdaptiveLimiter::builder("inventory").build()?;
        let fixed = Bulkhead::builder("static-limit")
            .max_concurrent_calls(500)
            .build()?;
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_micros(400));
        let mut calls = tokio::task::JoinSet::new();
        while start.elapsed() < Duration::from_secs(3) {
            tick.tick().await;
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            let (client, limiter, fixed) = (client.clone(), limiter.clone(), fixed.clone());
            let (lat, refused) = (latencies.clone(), refused.clone());
            calls.spawn(async move {
                let t0 = Instant::now();
                let result = if adaptive {
                    limiter.layer().layer(client).oneshot(req).await
                } else {
                    fixed.layer().layer(client).oneshot(req).await
                };
                match result {
                    Ok(_) => lat.lock().unwrap().push(t0.elapsed()),
                    Err(_) => drop(refused.fetch_add(1, Ordering::Relaxed)),
                }
            });
        }
        while calls.join_next().await.is_some() {}
        let mut lat = latencies.lock().unwrap().clone();
        lat.sort();
        println!(
            "  {:<30} served {:>5}, p50 {:>6.1} ms, p99 {:>6.1} ms | refused at once {:>5}{}",
            if adaptive {
                "adaptive limit (Gradient2):"
            } else {
                "static limit of 500:"
            },
            lat.len(),
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            refused.load(Ordering::Relaxed),
            if adaptive {
                format!(" | limit settled at {}", limiter.limit())
            } else {
                String::new()
            },
        );
    }
    Ok(())
}

/// A backend failing every request whose number mod 10 is below `failing_in_10`.
async fn patterned_backend(failing_in_10: u64) -> (SocketAddr, Arc<AtomicU64>) {
    support::serve(move |n| async move {
        let status = if n % 10 < failing_in_10 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        support::respond(status, b"ok")
    })
    .await
}

/// Retries lift a flaky dependency's availability; against a dead one, a
/// retry budget keeps the extra load near 10% instead of tripling it.
async fn retry_scene() -> Result<(), ConfigError> {
    use seawall::retry::{Backoff, Jitter, Retry, RetryBudget};
    println!("\n== Retries: 500 requests to a flaky (30% 503) and a dead (100% 503) dependency ==");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let backoff = Backoff::Exponential {
        initial: Duration::from_millis(5),
        multiplier: 2.0,
        max: Duration::from_millis(100),
    };
    for (label, failing, retrying, budgeted) in [
        ("flaky, no retry:", 3, false, false),
        ("flaky, 3 attempts:", 3, true, false),
        ("dead, 3 attempts:", 10, true, false),
        ("dead, 3 attempts + 10% budget:", 10, true, true),
    ] {
        let (addr, served) = patterned_backend(failing).await;
        let builder = Retry::builder("demo")
            .max_attempts(if retrying { 3 } else { 1 })
            .backoff(backoff.clone())
            .jitter(Jitter::Full);
        let retry = if budgeted {
            builder.budget(RetryBudget::new(0.1, 0, 1000)?).build()?
        } else {
            builder.no_budget().build()?
        };
        // 503s are retried as responses (`for_http`: 429/502/503/504, GET).
        let stack = ServiceBuilder::new()
            .layer(retry.layer().for_http())
            .service(client.clone());
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..500 {
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            calls.spawn(stack.clone().oneshot(req));
        }
        let mut ok = 0;
        while let Some(r) = calls.join_next().await {
            ok += matches!(r.unwrap(), Ok(res) if res.status() == StatusCode::OK) as u32;
        }
        println!(
            "  {label:<32} {:>5.1}% succeeded, the dependency saw {:>4} calls ({:.2}× the requests)",
            ok as f64 / 5.0,
            served.load(Ordering::Relaxed),
            served.load(Ordering::Relaxed) as f64 / 500.0
        );
    }
    Ok(())
}

/// A backend that always answers `status` after `delay`.
async fn fixed_backend(delay: Duration, status: StatusCode) -> SocketAddr {
    let (addr, _) = support::serve(move |_| async move {
        tokio::time::sleep(delay).await;
        support::respond(status, b"ok")
    })
    .await;
    addr
}

/// One process calls a fast dependency and a slow one through a shared pool
/// of 20 outbound slots (its connection or worker budget). Without a
/// bulkhead the slow calls fill the pool and the fast ones queue behind
/// them; with a bulkhead of 5 on the slow dependency, the fast one keeps
/// its latency.
async fn bulkhead_scene() -> Result<(), ConfigError> {
    println!("\n== Bulkhead: a slow dependency (300 ms) beside a fast one (2 ms), 20 shared outbound slots ==");
    let slow = fixed_backend(Duration::from_millis(300), StatusCode::OK).await;
    let fast = fixed_backend(Duration::from_millis(2), StatusCode::OK).await;
    for isolated in [false, true] {
        let pool = tower::limit::GlobalConcurrencyLimitLayer::new(20);
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let bulkhead = Bulkhead::builder("slow-dependency")
            .max_concurrent_calls(5)
            .build()?;
        let fast_latencies = Arc::new(Mutex::new(Vec::new()));
        let (slow_rejected, slow_done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut calls = tokio::task::JoinSet::new();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(2) {
            tick.tick().await;
            n += 1;
            let to_slow = n % 2 == 0; // 100 per second each
            let addr = if to_slow { slow } else { fast };
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            let pooled = pool.layer(client.clone());
            let (bulkhead, lat, rej, done) = (
                bulkhead.clone(),
                fast_latencies.clone(),
                slow_rejected.clone(),
                slow_done.clone(),
            );
            calls.spawn(async move {
                let t0 = Instant::now();
                let result = if to_slow && isolated {
                    bulkhead.layer().layer(pooled).oneshot(req).await
                } else {
                    pooled.oneshot(req).await.map_err(Into::into)
                };
                match (to_slow, result) {
                    (false, _) => lat.lock().unwrap().push(t0.elapsed()),
                    (true, Ok(_)) => drop(done.fetch_add(1, Ordering::Relaxed)),
                    (true, Err(_)) => drop(rej.fetch_add(1, Ordering::Relaxed)),
                }
            });
        }
        while calls.join_next().await.is_some() {}
        let mut lat = fast_latencies.lock().unwrap().clone();
        lat.sort();
        println!(
            "  {:<18} fast dependency p50 {:>6.1} ms, p99 {:>6.1} ms | slow dependency: {} served, {} refused at once",
            if isolated { "with a bulkhead:" } else { "shared pool only:" },
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            slow_done.load(Ordering::Relaxed),
            slow_rejected.load(Ordering::Relaxed),
        );
    }
    Ok(())
}

/// The dependency is down (every answer a 503). A breaker stops calling it;
/// a fallback answers from a cached default instead of an error.
async fn fallback_scene() -> Result<(), ConfigError> {
    println!(
        "\n== Fallback: the dependency is down; answer a cached default instead of an error =="
    );
    let down = fixed_backend(Duration::from_millis(20), StatusCode::SERVICE_UNAVAILABLE).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    for with_fallback in [false, true] {
        let breaker = CircuitBreaker::builder("recommendations")
            .sliding_window(SlidingWindow::count(10))
            .minimum_number_of_calls(5)
            .wait_duration_in_open_state(Duration::from_secs(5))
            .build()?;
        // 5xx becomes an error so the breaker and the fallback both see it.
        let status_as_error = tower::util::MapResultLayer::new(
            |r: Result<Response<Incoming>, hyper_util::client::legacy::Error>| -> Result<String, BoxError> {
                let res = r?;
                if res.status().is_server_error() {
                    return Err(format!("dependency answered {}", res.status()).into());
                }
                Ok("fresh recommendations".to_string())
            },
        );
        let stack = ServiceBuilder::new()
            .option_layer(with_fallback.then(|| {
                Fallback::builder("recommendations").value("cached bestsellers".to_string())
            }))
            .layer(breaker.layer())
            .layer(status_as_error)
            .service(client.clone());
        let (mut degraded, mut errors, mut fast) = (0, 0, 0);
        for _ in 0..100 {
            let req = Request::get(format!("http://{down}/"))
                .body(Empty::new())
                .unwrap();
            let t0 = Instant::now();
            match stack.clone().oneshot(req).await {
                Ok(body) if body.starts_with("cached") => degraded += 1,
                Ok(_) => {}
                Err(_) => errors += 1,
            }
            if t0.elapsed() < Duration::from_millis(1) {
                fast += 1;
            }
        }
        println!(
            "  {:<22} 100 requests: {errors:>3} errors, {degraded:>3} degraded answers, {fast:>3} answered in under 1 ms",
            if with_fallback { "breaker + fallback:" } else { "breaker only:" }
        );
    }
    Ok(())
}

/// A burst of requests arrives at once; a rate limiter (20 per second,
/// burst 5) in front of the backend either rejects the excess, telling each
/// client when to come back, or smooths it by making calls wait up to 1 s.
async fn rate_limit_scene() -> Result<(), ConfigError> {
    const BURST_OF: usize = 100;
    println!("\n== Rate limiting: {BURST_OF} requests at once, limit 20/s with a burst of 5 ==");
    let (addr, backend) = start_backend_healthy().await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    for waiting in [false, true] {
        let limiter = RateLimiter::builder(if waiting { "smoothing" } else { "rejecting" })
            .rate(20, Duration::from_secs(1))
            .burst(5)
            .max_wait(Duration::from_secs(1))
            .build()?;
        let before = backend.served.load(Ordering::Relaxed);
        let start = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..BURST_OF {
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            let (limiter, client) = (limiter.clone(), client.clone());
            calls.spawn(async move {
                let result = if waiting {
                    limiter.waiting_layer().layer(client).oneshot(req).await
                } else {
                    limiter.layer().layer(client).oneshot(req).await
                };
                (result.map(|res| res.status()), start.elapsed())
            });
        }
        let (mut admitted, mut told) = (Vec::new(), Vec::new());
        while let Some(done) = calls.join_next().await {
            match done.unwrap() {
                (Ok(_), at) => admitted.push(at),
                (Err(e), _) => told.extend(seawall::rejection(&e).and_then(|r| r.retry_after())),
            }
        }
        admitted.sort();
        told.sort();
        let reached = backend.served.load(Ordering::Relaxed) - before;
        let span = admitted.last().copied().unwrap_or_default();
        println!(
            "  {:<22} admitted {:>3} (reached the backend: {reached}, last one after {:>4.0} ms), rejected {:>3}",
            if waiting { "wait up to 1 s:" } else { "reject at once:" },
            admitted.len(),
            span.as_secs_f64() * 1e3,
            told.len()
        );
        if let (Some(first), Some(last)) = (told.first(), told.last()) {
            println!(
                "  {:<22} rejected clients were told to retry after {:.0} ms to {:.0} ms",
                "",
                first.as_secs_f64() * 1e3,
                last.as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}

/// A backend that stays healthy (its outage script is already over).
async fn start_backend_healthy() -> (SocketAddr, Arc<Backend>) {
    let now = Instant::now();
    start_backend(now.checked_sub(DOWN_UNTIL).unwrap_or(now)).await
}
