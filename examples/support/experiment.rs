//! The demo's closing act: a chaos experiment, five minutes of load on
//! paused time (done in well under a second), its verdict printed and its
//! report drawn as SVG.

use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase, Report, Timeline};
use seawall::chaos::{Chaos, FaultKind, Latency};
use seawall::fallback::{Failed, Fallback};
use seawall::prelude::*;
use seawall::stack::Stack;
use tower::Layer;

/// An in-process dependency answering in 20 ms, behind a fault injector.
fn dependency(
    chaos: &Chaos,
) -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<&'static str>,
    Error = BoxError,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    chaos
        .layer()
        .outcome(|| {
            http::Response::builder()
                .status(503)
                .body("down")
                .expect("a valid response")
        })
        .layer(tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, BoxError>(http::Response::new("fresh"))
        }))
}

/// A phase that sets `kind`'s rate for its length.
fn phase(chaos: &Chaos, name: &str, kind: FaultKind, rate: f64) -> Phase {
    let (on, off) = (chaos.clone(), chaos.clone());
    Phase::new(name, Duration::from_secs(60), Load::per_second(200))
        .on_start(move || on.set_rate(kind, rate).expect("a rate in [0, 1]"))
        .on_end(move || off.set_rate(kind, 0.0).expect("zero is a rate"))
}

/// Runs the experiment against the http_client preset with a fallback.
pub async fn run() -> Result<Report, BoxError> {
    let chaos = Chaos::builder("inventory")
        .latency(
            0.0,
            Latency::LogNormal {
                median: Duration::from_millis(300),
                sigma: 1.0,
                max: Duration::from_secs(10),
            },
        )
        .seed(7)
        .build()?;
    let timeline = Timeline::new();
    let breaker = CircuitBreaker::builder("inventory")
        .for_http()
        .wait_duration_in_open_state(Duration::from_secs(5))
        .on_event(timeline.listener())
        .build()?;
    let fallback = Fallback::builder("inventory")
        .classify_responses(|res: &http::Response<&'static str>| {
            if res.status().is_server_error() {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        })
        .from_fn(|_failed: Failed<http::Response<&'static str>>| Ok(http::Response::new("cached")));
    let stack = Stack::http_client("inventory")?
        .with_circuit_breaker(breaker.layer())
        .with_total_timeout(
            Timeout::builder("inventory.total")
                .duration(Duration::from_millis(450))
                .build()?,
        )
        .with_attempt_timeout(
            Timeout::builder("inventory.attempt")
                .duration(Duration::from_millis(200))
                .build()?
                .within_deadline(),
        )
        .fallback(fallback);
    let system = stack.layer(dependency(&chaos));
    let experiment = Experiment::builder("the storefront survives its inventory service")
        .hypothesis(
            Hypothesis::new()
                .availability_at_least(99.0)
                .latency_at_most(0.99, Duration::from_millis(500)),
        )
        .steady_state(Duration::from_secs(30), Load::per_second(200))
        .phase(phase(&chaos, "30% 503s", FaultKind::Outcome, 0.3))
        .phase(phase(&chaos, "latency spikes", FaultKind::Latency, 0.2))
        .phase(phase(&chaos, "full outage", FaultKind::Outcome, 1.0))
        .rollback(move || chaos.disable())
        .timeline(&timeline)
        .build()?;
    Ok(experiment
        .run_judged(
            system,
            |_| http::Request::new(()),
            |r| matches!(r, Ok(res) if res.status().is_success()),
        )
        .await)
}
