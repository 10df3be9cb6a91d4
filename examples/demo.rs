//! seawall demo: one real HTTP backend script on 127.0.0.1 — healthy, 30%
//! errors, latency spikes, a full outage, recovery — and the same open-loop
//! load driven through a bare hyper client and through seawall's
//! `http_client` stack (total timeout, retry with budget, circuit breaker,
//! bulkhead, attempt timeout) with a fallback on top. A side-by-side table
//! and the breaker's timeline, then the same faults as a chaos experiment
//! on paused time, with a verdict and an SVG chart of its report.
//!
//! `cargo run --release --example demo` (about 22 seconds, no set-up; faults
//! come from a fixed seed, so every run faces the same script). The stack's
//! settings are a configuration file, built in (`DEMO_CONFIG` below); run
//! `cargo run --release --example demo -- --config FILE` with your own (say
//! `examples/config/http_client.toml`, the preset's defaults, after
//! renaming `inventory` to `backend`). One pattern at a time: `cargo run
//! --release --example scenes`.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::config::{Registry, SeawallConfig};
use seawall::fallback::{Failed, Fallback};
use seawall::http::{is_degraded, mark_degraded};
use seawall::prelude::*;
use seawall::telemetry::Pattern;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// The seawall client's settings: the `http_client` preset's, changed for
/// a 20-second demo — the breaker judges the last 50 calls and stays open
/// 2 s (not 30 s), the attempt timeout is 300 ms (a spike is cut short and
/// retried).
const DEMO_CONFIG: &str = r#"
[circuit_breakers.instances.backend]
sliding_window_size = 50
minimum_number_of_calls = 20
failure_rate_threshold = "50%"
wait_duration_in_open_state = "2s"
permitted_number_of_calls_in_half_open_state = 5

[timeouts.instances."backend.attempt"]
duration = "300ms"
"#;

const PHASE: Duration = Duration::from_secs(4);
const PHASES: [&str; 5] = [
    "healthy",
    "30% errors",
    "latency spikes",
    "full outage",
    "recovery",
];
/// Offered load per client: 100 requests per second, open loop.
const REQUEST_EVERY: Duration = Duration::from_millis(10);
const SEED: u64 = 0x5EA_3A11;

/// Deterministic per-request dice: request `n` of a backend always draws
/// the same number, so both backends face the same faults.
fn dice(n: u64) -> u64 {
    let mut z = (n ^ SEED).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

fn phase_at(t: Duration) -> usize {
    ((t.as_secs_f64() / PHASE.as_secs_f64()) as usize).min(PHASES.len() - 1)
}

#[path = "support/experiment.rs"]
mod experiment;
#[path = "support/slo_summary.rs"]
mod slo_summary;
mod support;

/// The backend: what it does to request `n` depends on the phase.
async fn start_backend(started: Instant) -> (SocketAddr, Arc<AtomicU64>) {
    support::serve(move |n| async move {
        let roll = dice(n);
        let (delay, status) = match phase_at(started.elapsed()) {
            1 if roll < 30 => (5, StatusCode::SERVICE_UNAVAILABLE),
            2 if roll < 20 => (3000, StatusCode::OK), // a spike
            3 => (50, StatusCode::SERVICE_UNAVAILABLE),
            _ => (5, StatusCode::OK),
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        support::respond(status, b"fresh")
    })
    .await
}

type Body = Empty<Bytes>;

/// A hyper client whose responses arrive with their body read.
fn client(
) -> impl Service<Request<Body>, Response = Response<Bytes>, Error = BoxError, Future = impl Send>
       + Clone
       + Send
       + 'static {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    client
        .map_err(BoxError::from)
        .and_then(|res: Response<Incoming>| async move {
            let (parts, body) = res.into_parts();
            let bytes = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, bytes))
        })
}

#[derive(Default)]
struct Tally {
    fresh: u64,
    degraded: u64,
    errors: u64,
    latencies: Vec<Duration>,
    /// Those of the requests sent in the latency-spike phase.
    spike_latencies: Vec<Duration>,
}

/// Drives one request every `REQUEST_EVERY` through `svc` for the whole
/// script, whether or not earlier ones finished.
async fn drive<S>(svc: S, addr: SocketAddr, started: Instant, slo: seawall::slo::Slo) -> Tally
where
    S: Service<Request<Body>, Response = Response<Bytes>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tick = tokio::time::interval(REQUEST_EVERY);
    let mut in_flight = tokio::task::JoinSet::new();
    while started.elapsed() < PHASE * PHASES.len() as u32 {
        tick.tick().await;
        let (svc, tally, slo) = (svc.clone(), tally.clone(), slo.clone());
        in_flight.spawn(async move {
            let req = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            let t0 = Instant::now();
            let spike = phase_at(started.elapsed()) == 2;
            let result = svc.oneshot(req).await;
            let mut t = tally.lock().unwrap();
            t.latencies.push(t0.elapsed());
            if spike {
                t.spike_latencies.push(t0.elapsed());
            }
            let answered = match result {
                Ok(res) if is_degraded(&res) => {
                    t.degraded += 1;
                    true
                }
                Ok(res) if res.status().is_success() => {
                    t.fresh += 1;
                    true
                }
                _ => {
                    t.errors += 1;
                    false
                }
            };
            let outcome = if answered {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            slo.record(outcome, t0.elapsed());
        });
    }
    while in_flight.join_next().await.is_some() {}
    Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
}

/// Prints a progress bar on stderr until the script ends (a line per
/// phase when stderr is not a terminal).
async fn progress(started: Instant) {
    use std::io::IsTerminal;
    let total = PHASE * PHASES.len() as u32;
    let live = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut shown = usize::MAX;
    loop {
        tick.tick().await;
        let t = started.elapsed().min(total);
        let phase = phase_at(t);
        if live {
            let done = (40.0 * t.as_secs_f64() / total.as_secs_f64()) as usize;
            eprint!(
                "\r  [{}{}] {:>4.1}s / {}s  phase {}/{}: {:<16}",
                "#".repeat(done),
                ".".repeat(40 - done),
                t.as_secs_f64(),
                total.as_secs(),
                phase + 1,
                PHASES.len(),
                PHASES[phase]
            );
            let _ = std::io::stderr().flush();
        } else if phase != shown {
            eprintln!(
                "  {:>4.1}s  phase {}/{}: {}",
                t.as_secs_f64(),
                phase + 1,
                PHASES.len(),
                PHASES[phase]
            );
            shown = phase;
        }
        if t >= total {
            if live {
                eprintln!();
            }
            return;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    let d = sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default();
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    println!(
        "Backend script, {} s per phase: {}. One request every {:?} through each client.",
        PHASE.as_secs(),
        PHASES.join(" → "),
        REQUEST_EVERY
    );
    let started = Instant::now();
    let (bare_addr, bare_served) = start_backend(started).await;
    let (guarded_addr, guarded_served) = start_backend(started).await;

    // The http_client preset for `backend` from the configuration (built
    // in, or --config FILE), a hedge sending a copy of a call slower than
    // the p95 of the last second, and a fallback answering a cached page
    // when all else fails.
    let config = match std::env::args().skip_while(|a| a != "--config").nth(1) {
        Some(path) => {
            println!("Settings from {path}.");
            SeawallConfig::from_path(path)?
        }
        None => SeawallConfig::from_toml(DEMO_CONFIG)?,
    };
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let log = timeline.clone();
    let registry = Registry::builder()
        .on_event(move |e| {
            if let (Pattern::CircuitBreaker, EventKind::StateTransition { from, to }) =
                (e.pattern, &e.kind)
            {
                log.lock().unwrap().push((started.elapsed(), *from, *to));
            }
        })
        .build(&config)?;
    let why = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let reasons = why.clone();
    let fallback = Fallback::builder("backend")
        .classify_responses(|res: &Response<Bytes>| {
            if res.status().is_server_error() {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        })
        .from_fn(move |failed: Failed<Response<Bytes>>| {
            let reason = match (&failed, failed.rejection()) {
                (Failed::Response(res), _) => format!("{} from the backend", res.status().as_u16()),
                (_, Some(r)) => format!("{:?}", r.kind()),
                (Failed::Error(_), None) => "transport error".to_string(),
            };
            *reasons.lock().unwrap().entry(reason).or_default() += 1;
            Ok(mark_degraded(Response::new(Bytes::from_static(b"cached"))))
        });
    let hedge = Hedge::builder("backend")
        .delay(HedgeDelay::Percentile {
            percentile: 95.0,
            min_samples: 50,
            window: Duration::from_secs(1),
        })
        .build()?;
    let stack = registry.http_client("backend")?.fallback(fallback);
    let breaker = stack.circuit_breaker_layer().handle().clone();
    let retry = stack.retry_layer().handle();
    let stack = stack.hedge(hedge.layer().for_http());
    let guarded = stack.layer(client());

    // An SLO per client; the seawall client's readiness from its breaker
    // (critical) and its SLO.
    let (bare_slo, bare_alerts) = slo_summary::slo("bare client")?;
    let (guarded_slo, guarded_alerts) = slo_summary::slo("seawall client")?;
    let health = seawall::health::HealthRegistry::new()
        .breaker("backend", &breaker, seawall::health::Criticality::Critical)
        .slo(&guarded_slo);
    let readiness = tokio::spawn(slo_summary::readiness_by_phase(
        started,
        PHASE,
        &PHASES,
        vec![bare_slo.clone(), guarded_slo.clone()],
        health,
    ));

    let bar = tokio::spawn(progress(started));
    let (mut bare, mut guarded) = tokio::join!(
        drive(client(), bare_addr, started, bare_slo.clone()),
        drive(guarded, guarded_addr, started, guarded_slo.clone())
    );
    let _ = bar.await;
    let readiness = readiness.await?;

    bare.latencies.sort();
    guarded.latencies.sort();
    bare.spike_latencies.sort();
    guarded.spike_latencies.sort();
    let total = |t: &Tally| t.fresh + t.degraded + t.errors;
    let pct = |n: u64, t: &Tally| format!("{:.1}%", 100.0 * n as f64 / total(t).max(1) as f64);
    let m = retry.metrics();
    let rows: Vec<(&str, String, String)> = vec![
        (
            "requests",
            total(&bare).to_string(),
            total(&guarded).to_string(),
        ),
        (
            "fresh answers (200)",
            pct(bare.fresh, &bare),
            pct(guarded.fresh, &guarded),
        ),
        (
            "degraded answers (fallback)",
            "—".into(),
            pct(guarded.degraded, &guarded),
        ),
        (
            "errors",
            pct(bare.errors, &bare),
            pct(guarded.errors, &guarded),
        ),
        (
            "availability (fresh + degraded)",
            pct(bare.fresh, &bare),
            pct(guarded.fresh + guarded.degraded, &guarded),
        ),
        (
            "p50 latency",
            percentile(&bare.latencies, 0.50),
            percentile(&guarded.latencies, 0.50),
        ),
        (
            "p95 latency",
            percentile(&bare.latencies, 0.95),
            percentile(&guarded.latencies, 0.95),
        ),
        (
            "p99 latency",
            percentile(&bare.latencies, 0.99),
            percentile(&guarded.latencies, 0.99),
        ),
        (
            "p95 / p99 in the latency spikes",
            format!(
                "{} / {}",
                percentile(&bare.spike_latencies, 0.95),
                percentile(&bare.spike_latencies, 0.99)
            ),
            format!(
                "{} / {}",
                percentile(&guarded.spike_latencies, 0.95),
                percentile(&guarded.spike_latencies, 0.99)
            ),
        ),
        (
            "requests that reached the backend",
            bare_served.load(Ordering::Relaxed).to_string(),
            guarded_served.load(Ordering::Relaxed).to_string(),
        ),
        ("retries", "—".into(), m.retries().to_string()),
        ("hedges", "—".into(), hedge.metrics().hedges.to_string()),
        (
            "retries refused by the budget",
            "—".into(),
            m.gave_up_budget.to_string(),
        ),
    ];
    println!(
        "\n{:<38} {:>14} {:>22}",
        "", "bare client", "seawall http_client"
    );
    println!("{}", "-".repeat(76));
    for (label, left, right) in rows {
        println!("{label:<38} {left:>14} {right:>22}");
    }
    println!("\nWhat the fallback answered for (seawall column):");
    for (reason, n) in why.lock().unwrap().iter() {
        println!("  {n:>6}  {reason}");
    }
    println!("\nBreaker timeline:");
    for (at, from, to) in timeline.lock().unwrap().iter() {
        println!(
            "  {:>6.2}s  ({:<14}) {:?} -> {:?}",
            at.as_secs_f64(),
            PHASES[phase_at(*at)],
            from,
            to
        );
    }
    slo_summary::print(
        [(&bare_slo, &bare_alerts), (&guarded_slo, &guarded_alerts)],
        &readiness,
    );
    closing_experiment()
}

/// The same script as a chaos experiment with a verdict: five minutes of
/// load on paused time (its own runtime, on its own thread), done in well
/// under a second; the report printed and drawn as SVG.
fn closing_experiment() -> Result<(), BoxError> {
    println!(
        "\nA chaos experiment: the same faults, five minutes on paused time, with a verdict.\n"
    );
    let report = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .map_err(BoxError::from)
            .and_then(|rt| rt.block_on(experiment::run()))
    })
    .join()
    .map_err(|_| "the experiment's thread panicked")??;
    println!("{report}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("seawall-experiment.svg");
    report.write_svg(&path)?;
    println!("\nThe report as a chart: {}", path.display());
    Ok(())
}
