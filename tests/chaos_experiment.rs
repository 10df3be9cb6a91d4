//! A chaos experiment run as a user would: a real hyper server on
//! 127.0.0.1 behind a `ChaosLayer` (30 % 503s, then latency spikes, then a
//! full outage, then recovery), called through `Stack::http_client` with a
//! fallback, and through a bare hyper client. The hypothesis "availability
//! at least 99 % and p99 at most 500 ms" holds for the first and breaks for
//! the second, and the report says which bound broke in which phase.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase, Status, Timeline};
use seawall::chaos::{Chaos, FaultKind, Latency};
use seawall::fallback::{Failed, Fallback};
use seawall::prelude::*;
use seawall::stack::Stack;
use tower::{Layer, Service, ServiceExt};

mod support;

type Body = Empty<Bytes>;

/// A server whose every answer goes through `chaos` (made-up 503s,
/// delays) before its handler's 200.
fn chaotic_server(chaos: &Chaos) -> std::net::SocketAddr {
    let layer = chaos.layer().outcome(|| {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::from_static(b"down")))
            .unwrap()
    });
    let handler = layer.layer(tower::service_fn(
        |_req: Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                b"fresh",
            ))))
        },
    ));
    support::serve_on_thread(move |_| {
        let handler = handler.clone();
        move |req: Request<hyper::body::Incoming>| {
            let handler = handler.clone();
            async move {
                handler.oneshot(req).await.unwrap_or_else(|_| {
                    let mut res = Response::new(Full::new(Bytes::new()));
                    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    res
                })
            }
        }
    })
}

/// A hyper client whose responses arrive with their body read.
fn client(
) -> impl Service<Request<Body>, Response = Response<Bytes>, Error = BoxError, Future = impl Send>
       + Clone
       + Send
       + 'static {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    client
        .map_err(BoxError::from)
        .and_then(|res: Response<hyper::body::Incoming>| async move {
            let (parts, body) = res.into_parts();
            Ok::<_, BoxError>(Response::from_parts(
                parts,
                body.collect().await?.to_bytes(),
            ))
        })
}

/// The experiment: each phase switches the server's faults on, and off
/// after it; the rollback makes sure they are off.
fn experiment(chaos: &Chaos, timeline: &Timeline) -> Experiment {
    let phase = |name: &str, on: Box<dyn Fn(&Chaos) + Send + Sync>| {
        let (c1, c2) = (chaos.clone(), chaos.clone());
        Phase::new(name, Duration::from_secs(2), Load::per_second(40))
            .on_start(move || {
                on(&c1);
                c1.enable();
            })
            .on_end(move || {
                c2.disable();
                for kind in FaultKind::ALL {
                    c2.set_rate(kind, 0.0).unwrap();
                }
            })
    };
    let rollback = chaos.clone();
    Experiment::builder("the storefront survives its inventory service")
        .hypothesis(
            Hypothesis::new()
                .availability_at_least(99.0)
                .latency_at_most(0.99, Duration::from_millis(500)),
        )
        .steady_state(Duration::from_secs(1), Load::per_second(40))
        .phase(phase(
            "30% 503s",
            Box::new(|c| c.set_rate(FaultKind::Outcome, 0.3).unwrap()),
        ))
        .phase(phase(
            "latency spikes",
            Box::new(|c| c.set_rate(FaultKind::Latency, 0.2).unwrap()),
        ))
        .phase(phase(
            "full outage",
            Box::new(|c| c.set_rate(FaultKind::Outcome, 1.0).unwrap()),
        ))
        .rollback(move || rollback.disable())
        .timeline(timeline)
        .build()
        .unwrap()
}

fn served(r: &Result<Response<Bytes>, BoxError>) -> bool {
    matches!(r, Ok(res) if res.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_keeps_the_hypothesis_and_a_bare_client_breaks_it() {
    let chaos = Chaos::builder("inventory")
        .enabled(false)
        .latency(0.0, Latency::Fixed(Duration::from_millis(800)))
        .seed(42)
        .build()
        .unwrap();
    let addr = chaotic_server(&chaos);
    let uri = format!("http://{addr}/");
    let request = move |_n: u64| Request::get(uri.as_str()).body(Body::new()).unwrap();

    // seawall: the preset, a tight time budget, and a fallback answering a
    // cached default.
    let timeline = Timeline::new();
    let breaker = CircuitBreaker::builder("inventory")
        .for_http()
        .sliding_window(SlidingWindow::count(50))
        .minimum_number_of_calls(20)
        .wait_duration_in_open_state(Duration::from_secs(1))
        .on_event(timeline.listener())
        .build()
        .unwrap();
    let fallback = Fallback::builder("inventory")
        .classify_responses(|res: &Response<Bytes>| {
            if res.status().is_server_error() {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        })
        .from_fn(|_failed: Failed<Response<Bytes>>| {
            Ok(Response::new(Bytes::from_static(b"cached")))
        });
    let stack = Stack::http_client("inventory")
        .unwrap()
        .with_circuit_breaker(breaker.layer())
        .with_total_timeout(
            Timeout::builder("inventory.total")
                .duration(Duration::from_millis(450))
                .build()
                .unwrap(),
        )
        .with_attempt_timeout(
            Timeout::builder("inventory.attempt")
                .duration(Duration::from_millis(200))
                .build()
                .unwrap()
                .within_deadline(),
        )
        .fallback(fallback);
    let guarded = stack.layer(client());
    let report = experiment(&chaos, &timeline)
        .run_judged(guarded, request.clone(), served)
        .await;
    assert_eq!(report.verdict.status, Status::Completed, "{report}");
    assert!(!report.verdict.deviated);
    assert_eq!(report.rollbacks_run, 1);
    assert_eq!(report.stretches.len(), 5);
    assert!(
        report.marks.iter().any(|m| m.what == "Closed -> Open"),
        "the outage opened the breaker: {report}"
    );

    // A bare client: the 503s break availability in the first phase.
    let report = experiment(&chaos, &Timeline::new())
        .run_judged(client(), request, served)
        .await;
    assert_eq!(report.verdict.status, Status::Failed, "{report}");
    assert!(report.verdict.deviated);
    let (stretch, broken) = report.first_breach().unwrap();
    assert_eq!(stretch.name, "30% 503s", "{report}");
    assert_eq!(broken[0].sli, "availability");
    let spikes = report.stretch("latency spikes").unwrap();
    let p99 = spikes.checks.iter().find(|c| c.sli == "p99").unwrap();
    assert!(!p99.passed, "{report}");
    assert!(report.stretch("steady state (before)").unwrap().passed());
    assert!(report.stretch("steady state (after)").unwrap().passed());
    assert!(report
        .to_string()
        .contains("first broken in `30% 503s`: availability"));
}

/// The system for the paused-time experiments: a dependency behind a
/// fault injector, answering in 10 ms.
fn paused_system(
    chaos: &Chaos,
) -> impl Service<u64, Response = u64, Error = BoxError, Future = impl Send> + Clone + Send + 'static
{
    chaos.layer().layer(tower::service_fn(|n: u64| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, BoxError>(n)
    }))
}

fn errors_phase(chaos: &Chaos, rate: f64) -> Phase {
    let (on, off) = (chaos.clone(), chaos.clone());
    Phase::new("errors", Duration::from_secs(60), Load::per_second(100))
        .on_start(move || on.set_rate(FaultKind::Error, rate).unwrap())
        .on_end(move || off.set_rate(FaultKind::Error, 0.0).unwrap())
}

/// An experiment needing 95 % availability, with a 10 s steady state
/// around `phase`.
fn around(title: &str, phase: Phase) -> seawall::chaos::experiment::ExperimentBuilder {
    Experiment::builder(title)
        .hypothesis(Hypothesis::new().availability_at_least(95.0))
        .steady_state(Duration::from_secs(10), Load::per_second(100))
        .phase(phase)
}

/// A report's status, deviation and number of stretches run.
fn outline(report: &seawall::chaos::experiment::Report) -> (Status, bool, usize) {
    (
        report.verdict.status,
        report.verdict.deviated,
        report.stretches.len(),
    )
}

#[tokio::test(start_paused = true)]
async fn verdicts_follow_chaos_toolkits_statuses() {
    let chaos = Chaos::builder("dep").seed(3).build().unwrap();
    let h = || Hypothesis::new().availability_at_least(95.0);
    // Held throughout: completed. Five minutes of load, on paused time.
    let start = tokio::time::Instant::now();
    let report = Experiment::builder("mild")
        .hypothesis(h())
        .steady_state(Duration::from_secs(60), Load::per_second(100))
        .phase(errors_phase(&chaos, 0.01))
        .phase(Phase::new(
            "quiet",
            Duration::from_secs(120),
            Load::workers(4),
        ))
        .build()
        .unwrap()
        .run(paused_system(&chaos), |n| n)
        .await;
    assert_eq!(report.verdict.status, Status::Completed, "{report}");
    assert!(start.elapsed() >= Duration::from_secs(300));
    let errors = report.stretch("errors").unwrap();
    assert_eq!(errors.stats.requests, 6000, "100 a second for 60 s");
    assert_eq!(
        errors.stats.errors("Injected"),
        errors.stats.requests - errors.stats.successes
    );
    // Four closed-loop workers at 10 ms a call: 100 a second each.
    let quiet = report.stretch("quiet").unwrap().stats.requests;
    assert!((47_000..=48_100).contains(&quiet), "{quiet}");
    assert_eq!(
        report.stretch("quiet").unwrap().stats.latency(0.99),
        Duration::from_millis(10)
    );

    // Broken by a phase: failed, deviated, every stretch still run.
    let rolled_back = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r = rolled_back.clone();
    let report = around("harsh", errors_phase(&chaos, 0.5))
        .rollback(move || {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .build()
        .unwrap()
        .run(paused_system(&chaos), |n| n)
        .await;
    assert_eq!(outline(&report), (Status::Failed, true, 3));
    assert_eq!(rolled_back.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Aborting on the breach: the recovery probe never runs.
    let report = around("harsh, aborting", errors_phase(&chaos, 0.5))
        .abort_on_breach(true)
        .rollbacks(false)
        .build()
        .unwrap()
        .run(paused_system(&chaos), |n| n)
        .await;
    assert_eq!(outline(&report), (Status::Aborted, true, 2));
    assert_eq!(report.rollbacks_run, 0);
    // At once: the first second broke it, so the 60 s phase ran one.
    let errors = report.stretch("errors").unwrap();
    assert_eq!(
        (errors.duration, errors.stats.requests),
        (Duration::from_secs(1), 100)
    );
    // Not steady to begin with: aborted before any fault, not deviated.
    chaos.set_rate(FaultKind::Error, 0.5).unwrap();
    let started = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let s = started.clone();
    let report = around(
        "unsteady",
        errors_phase(&chaos, 0.5).on_start(move || {
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }),
    )
    .build()
    .unwrap()
    .run(paused_system(&chaos), |n| n)
    .await;
    assert_eq!(outline(&report), (Status::Aborted, false, 1));
    assert_eq!(
        started.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no fault injected"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_still_running_after_the_drain_are_unfinished() {
    let hang = tower::service_fn(|_n: u64| std::future::pending::<Result<u64, BoxError>>());
    let report = Experiment::builder("hung")
        .hypothesis(Hypothesis::new().errors_at_most("unfinished", 0))
        .phase(Phase::new(
            "hang",
            Duration::from_secs(1),
            Load::per_second(10),
        ))
        .drain(Duration::from_secs(5))
        .build()
        .unwrap()
        .run(hang, |n| n)
        .await;
    let s = &report.stretches[0];
    assert_eq!((s.stats.requests, s.stats.errors("unfinished")), (10, 10));
    assert_eq!(report.verdict.status, Status::Failed);
}

#[test]
fn bad_experiments_name_their_field() {
    let field = |b: seawall::chaos::experiment::ExperimentBuilder| b.build().unwrap_err().field();
    let phase = || Phase::new("p", Duration::from_secs(1), Load::per_second(1));
    let ok = || Hypothesis::new().availability_at_least(99.0);
    assert_eq!(field(Experiment::builder("e").phase(phase())), "hypothesis");
    assert_eq!(
        field(
            Experiment::builder("e")
                .hypothesis(Hypothesis::new().availability_at_least(101.0))
                .phase(phase())
        ),
        "hypothesis"
    );
    assert_eq!(
        field(
            Experiment::builder("e")
                .hypothesis(Hypothesis::new().latency_at_most(0.0, Duration::ZERO))
                .phase(phase())
        ),
        "hypothesis"
    );
    assert_eq!(field(Experiment::builder("e").hypothesis(ok())), "phases");
    assert_eq!(
        field(Experiment::builder("e").hypothesis(ok()).phase(Phase::new(
            "p",
            Duration::ZERO,
            Load::per_second(1)
        ))),
        "duration"
    );
    assert_eq!(
        field(Experiment::builder("e").hypothesis(ok()).phase(Phase::new(
            "p",
            Duration::from_secs(1),
            Load::workers(0)
        ))),
        "load"
    );
    assert_eq!(
        field(
            Experiment::builder("e")
                .hypothesis(ok())
                .phase(phase())
                .steady_state(Duration::ZERO, Load::per_second(1))
        ),
        "duration"
    );
}

#[cfg(all(feature = "chart", feature = "serde"))]
#[tokio::test(start_paused = true)]
async fn a_report_is_drawn_and_serialized() {
    let chaos = Chaos::builder("dep").seed(9).build().unwrap();
    let timeline = Timeline::new();
    let breaker = CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(20))
        .minimum_number_of_calls(10)
        .on_event(timeline.listener())
        .build()
        .unwrap();
    let system = breaker.layer().layer(paused_system(&chaos));
    let report = Experiment::builder("drawn")
        .hypothesis(Hypothesis::new().availability_at_least(90.0))
        .steady_state(Duration::from_secs(5), Load::per_second(50))
        .phase(errors_phase(&chaos, 1.0))
        .timeline(&timeline)
        .build()
        .unwrap()
        .run(system, |n| n)
        .await;
    assert!(report
        .marks
        .iter()
        .any(|m| m.breaker_state.as_deref() == Some("Open")));
    let svg = report.svg();
    assert!(
        svg.starts_with("<svg") && svg.contains("errors") && svg.contains("Failed"),
        "{svg}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"]["status"], "Failed");
    assert_eq!(json["stretches"][1]["name"], "errors");
    assert_eq!(json["stretches"][1]["checks"][0]["passed"], false);
}
