//! Soak: the HTTP preset, with its breaker and bulkhead, against a real
//! hyper server on 127.0.0.1 that fails 30 % of requests, stalls some, then
//! goes down entirely, then recovers; 100,000 requests (set
//! `SEAWALL_SOAK_REQUESTS` for more) from more tasks than the bulkhead has
//! slots, about one in ten dropped at a random await point. Afterwards every
//! request is accounted for, every count the instances keep agrees with what
//! the callers saw, every slot is back, and the breaker closes again.
//!
//! Real time throughout (a real server must answer), so no assertion here
//! is about how long anything took.
#![cfg(feature = "http")]

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::prelude::*;
use seawall::stack::Stack;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use tower::{Layer, ServiceExt};

const FLAKY: u8 = 0;
const OUTAGE: u8 = 1;
const HEALTHY: u8 = 2;

const TASKS: usize = 48;
const SLOTS: usize = 32;

/// SplitMix64: a seeded stream of draws, one per task and per connection.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1000).
    fn permille(&mut self) -> u64 {
        self.next() % 1000
    }
}

/// The backend, on a thread and runtime of its own: in `FLAKY` mode 15 %
/// 503 (retried), 15 % 500 (not retried, a failure), 2 % a 20–100 ms stall
/// then 200; in `OUTAGE` mode 503 to everything; `HEALTHY`, 200.
fn serve(mode: Arc<AtomicU8>) -> SocketAddr {
    support::serve_on_thread(move |connection| {
        let mode = mode.clone();
        let draws = Arc::new(std::sync::Mutex::new(Draws(connection + 1)));
        move |_req: Request<Incoming>| {
            let (mode, draws) = (mode.clone(), draws.clone());
            async move {
                let (r, stall) = {
                    let mut d = draws.lock().unwrap();
                    (d.permille(), 20 + d.next() % 80)
                };
                let status = match mode.load(Ordering::Relaxed) {
                    OUTAGE => StatusCode::SERVICE_UNAVAILABLE,
                    HEALTHY => StatusCode::OK,
                    _ if r < 150 => StatusCode::SERVICE_UNAVAILABLE,
                    _ if r < 300 => StatusCode::INTERNAL_SERVER_ERROR,
                    _ if r < 320 => {
                        tokio::time::sleep(Duration::from_millis(stall)).await;
                        StatusCode::OK
                    }
                    _ => StatusCode::OK,
                };
                let mut res = Response::new(Full::new(Bytes::from_static(b"x")));
                *res.status_mut() = status;
                res
            }
        }
    })
}

/// What callers saw, by kind.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    server_error: AtomicU64,
    /// Requests whose error chain holds a `CircuitOpen` (first attempt or
    /// retry: a stop signal ends the request either way).
    circuit_open: AtomicU64,
    bulkhead_full: AtomicU64,
    retries_exhausted: AtomicU64,
    elapsed: AtomicU64,
    other: AtomicU64,
    cancelled: AtomicU64,
}

fn chain_has<T: std::error::Error + 'static>(err: &BoxError) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(&**err);
    while let Some(x) = e {
        if x.is::<T>() {
            return true;
        }
        e = x.source();
    }
    false
}

impl Tally {
    /// Counts `result`; true for a local rejection (the caller backs off).
    fn record(&self, result: Result<Response<Incoming>, BoxError>) -> bool {
        let field = match &result {
            Ok(res) if res.status().is_success() => &self.ok,
            Ok(_) => &self.server_error,
            Err(e) if chain_has::<seawall::CircuitOpen>(e) => &self.circuit_open,
            Err(e) if chain_has::<seawall::BulkheadFull>(e) => &self.bulkhead_full,
            Err(e) if e.is::<seawall::retry::RetriesExhausted>() => &self.retries_exhausted,
            Err(e) if chain_has::<seawall::Elapsed>(e) => &self.elapsed,
            Err(e) => {
                eprintln!("other error: {e}");
                &self.other
            }
        };
        field.fetch_add(1, Ordering::Relaxed);
        std::ptr::eq(field, &self.circuit_open) || std::ptr::eq(field, &self.bulkhead_full)
    }

    fn total(&self) -> u64 {
        [
            &self.ok,
            &self.server_error,
            &self.circuit_open,
            &self.bulkhead_full,
            &self.retries_exhausted,
            &self.elapsed,
            &self.other,
            &self.cancelled,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

fn requests() -> u64 {
    let n = std::env::var("SEAWALL_SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    assert!(n >= 1_000, "SEAWALL_SOAK_REQUESTS must be at least 1000");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_accounted_for_and_everything_comes_back() {
    let started = std::time::Instant::now();
    let n = requests();
    let mode = Arc::new(AtomicU8::new(FLAKY));
    let addr = serve(mode.clone());

    let breaker = CircuitBreaker::builder("soak")
        .for_http()
        .sliding_window(SlidingWindow::count(50))
        .minimum_number_of_calls(20)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_millis(200))
        .permitted_number_of_calls_in_half_open_state(5)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("soak")
        .max_concurrent_calls(SLOTS)
        .build()
        .unwrap();
    let stack = Stack::http_client("soak")
        .unwrap()
        .with_circuit_breaker(breaker.layer())
        .with_bulkhead(bulkhead.layer());
    let retry = stack.retry_layer().handle().clone();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let svc = stack.layer(client);
    let uri = format!("http://{addr}/");

    let sent = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (svc, uri, sent, tally, mode) = (
                svc.clone(),
                uri.clone(),
                sent.clone(),
                tally.clone(),
                mode.clone(),
            );
            tokio::spawn(async move {
                let mut draws = Draws(1000 + t as u64);
                loop {
                    let i = sent.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        sent.fetch_sub(1, Ordering::Relaxed);
                        return;
                    }
                    // 40 % flaky, 20 % outage, 40 % healthy, by progress.
                    let phase = match i * 10 / n {
                        0..=3 => FLAKY,
                        4 | 5 => OUTAGE,
                        _ => HEALTHY,
                    };
                    mode.store(phase, Ordering::Relaxed);
                    let req = Request::get(&uri)
                        .body(Full::new(Bytes::from_static(b"ping")))
                        .unwrap();
                    let call = svc.clone().oneshot(req);
                    // Rejections finish on their first poll and cannot be
                    // dropped mid-way, so try 3 in 10 to drop about 1 in 10.
                    let rejected = if draws.permille() < 300 {
                        // Dropped at a random await point: after its first
                        // or second `Pending` (in flight, in a backoff, on
                        // a retry), unless it finished first.
                        let pendings = 1 + (draws.next() % 2) as u32;
                        match (DropAfter { call, pendings }).await {
                            Some(r) => tally.record(r),
                            None => {
                                tally.cancelled.fetch_add(1, Ordering::Relaxed);
                                false
                            }
                        }
                    } else {
                        tally.record(call.await)
                    };
                    if rejected {
                        // As a client told "not now" would: back off a little.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        })
        .collect();
    let all = futures_join(tasks);
    tokio::time::timeout(Duration::from_secs(600), all)
        .await
        .expect("no hang: every task finished");

    let t = &tally;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "soak: {n} requests in {:.1} s: ok {}, 5xx answers {}, circuit open {}, bulkhead full {}, \
         retries exhausted {}, timed out {}, other {}, cancelled {}",
        started.elapsed().as_secs_f64(),
        load(&t.ok),
        load(&t.server_error),
        load(&t.circuit_open),
        load(&t.bulkhead_full),
        load(&t.retries_exhausted),
        load(&t.elapsed),
        load(&t.other),
        load(&t.cancelled),
    );
    assert_eq!(sent.load(Ordering::Relaxed), n);
    assert_eq!(t.total(), n, "every request is one outcome");
    assert_eq!(load(&t.other), 0, "no error of a kind nobody expects");

    // Every slot came back.
    let b = bulkhead.metrics();
    assert_eq!(
        (b.available, b.in_flight, b.waiting),
        (SLOTS, 0, 0),
        "{b:?}"
    );
    // The instances' counts agree with what the callers saw.
    let m = breaker.metrics();
    assert_eq!(m.not_permitted_calls, load(&t.circuit_open), "{m:?}");
    assert_eq!(b.rejected_calls, load(&t.bulkhead_full), "{b:?}");
    let attempts_through_breaker =
        m.total_successes + m.total_failures + m.total_ignored + m.total_cancelled;
    assert_eq!(
        attempts_through_breaker,
        b.permitted_calls + b.rejected_calls,
        "every attempt the breaker let through met the bulkhead once"
    );
    // Every attempt the retry made met the breaker once; it counts a retry
    // when it schedules it, so a caller dropped during the backoff leaves at
    // most one counted that never ran.
    let r = retry.metrics();
    let met_breaker = attempts_through_breaker + m.not_permitted_calls;
    assert!(
        r.attempts() >= met_breaker && r.attempts() - met_breaker <= load(&t.cancelled),
        "{r:?}: {met_breaker} met the breaker, {} cancelled",
        load(&t.cancelled)
    );
    // The budget: at most its 10 to start, 20 % of the calls and 10 a second.
    let secs = started.elapsed().as_secs() + 1;
    assert!(
        r.retries() <= 10 + (r.calls * 200 + secs * 10_000) / 1000,
        "{r:?} over {secs} s"
    );
    assert!(m.total_failures > 0 && m.not_permitted_calls > 0, "{m:?}");

    // Healthy now: after its open wait the breaker half-opens, its probes
    // pass and it closes; a probe slot lost on the way would keep it
    // half-open for ever.
    mode.store(HEALTHY, Ordering::Relaxed);
    for _ in 0..200 {
        if breaker.state() == CircuitState::Closed {
            break;
        }
        let req = Request::get(&uri)
            .body(Full::new(Bytes::from_static(b"ping")))
            .unwrap();
        let _ = svc.clone().oneshot(req).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "{:?}",
        breaker.metrics()
    );
    let b = bulkhead.metrics();
    assert_eq!((b.available, b.in_flight), (SLOTS, 0));
}

pin_project_lite::pin_project! {
    /// `call`, dropped once it has returned `Pending` `pendings` times.
    struct DropAfter<F> {
        #[pin]
        call: F,
        pendings: u32,
    }
}

impl<F: std::future::Future> std::future::Future for DropAfter<F> {
    type Output = Option<F::Output>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        match this.call.poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => {
                *this.pendings -= 1;
                if *this.pendings == 0 {
                    return std::task::Poll::Ready(None); // `call` drops with us
                }
                std::task::Poll::Pending
            }
        }
    }
}

/// Joins every task, failing on the first panic.
async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.expect("no task panicked");
    }
}
