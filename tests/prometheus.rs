//! The guide's metric catalogue (`seawall::guide::sre`), scraped from a real Prometheus endpoint:
//! `metrics-exporter-prometheus` serving `/metrics` on 127.0.0.1, after a
//! little traffic through every pattern. Every name in the catalogue must
//! appear in the scrape, with its `HELP` line.
#![cfg(feature = "metrics")]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::PrometheusBuilder;
use seawall::prelude::*;
use std::net::SocketAddr;
use tower::{service_fn, Layer, ServiceExt};

/// Metric names in the guide's catalogue table.
fn catalogue() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide/sre.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `seawall_"))
        .map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_string()
        })
        .collect()
}

/// One call of every kind the catalogue counts; returns the instances,
/// which must outlive the export (it publishes live instances only).
async fn traffic() -> Vec<Box<dyn std::any::Any>> {
    let breaker = CircuitBreaker::builder("prom").build().unwrap();
    let retry = Retry::builder("prom")
        .backoff(Backoff::Constant(Duration::from_millis(1)))
        .build()
        .unwrap();
    let fails_once = service_fn(|n: u32| async move {
        if n == 0 {
            Err::<u32, BoxError>("flaky".into())
        } else {
            Ok(n)
        }
    });
    let svc = retry.layer().layer(breaker.layer().layer(fails_once));
    let _ = svc.clone().oneshot(0).await;
    let _ = svc.oneshot(1).await;

    let limiter = RateLimiter::builder("prom")
        .rate(1000, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    limiter.acquire_n(1).await.unwrap();
    limiter.acquire_n(1).await.unwrap(); // waits 1 ms (paused time): the wait histogram
    let keyed = RateLimiter::builder("prom")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .build_keyed::<u8>()
        .unwrap();
    keyed.try_acquire(&1).unwrap();
    let _ = keyed.try_acquire(&1);

    let bulkhead = Bulkhead::builder("prom")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let held = bulkhead.acquire().await.unwrap();
    let waiter = tokio::spawn({
        let b = bulkhead.clone();
        async move { b.acquire().await.map(drop) }
    });
    while bulkhead.metrics().waiting == 0 {
        tokio::task::yield_now().await; // until the waiter is queued
    }
    drop(held);
    waiter.await.unwrap().unwrap(); // waited: the bulkhead's histogram

    let timeout = Timeout::builder("prom")
        .duration(Duration::from_millis(1))
        .build()
        .unwrap();
    let hang = service_fn(|()| std::future::pending::<Result<(), std::io::Error>>());
    assert!(timeout.clone().layer(hang).oneshot(()).await.is_err());
    let fallback = seawall::fallback::Fallback::builder("prom").value(1u8);
    let failing = service_fn(|()| async { Err::<u8, _>(std::io::Error::other("x")) });
    let fallback = fallback.layer(failing);
    assert_eq!(fallback.clone().oneshot(()).await.unwrap(), 1);
    let chaos = seawall::chaos::Chaos::builder("prom")
        .error_rate(1.0)
        .build()
        .unwrap();
    assert!(chaos.decide().error);
    let slo = seawall::slo::Slo::builder("prom").build().unwrap();
    slo.record(Outcome::Success, Duration::ZERO);
    slo.evaluate();
    let hedge = seawall::hedge::Hedge::builder("prom").build().unwrap();
    let failover = seawall::failover::Failover::builder("prom")
        .build(vec![service_fn(
            |x: u8| async move { Ok::<_, BoxError>(x) },
        )])
        .unwrap();
    let adaptive = seawall::adaptive::AdaptiveLimiter::builder("prom")
        .build()
        .unwrap();
    adaptive.try_acquire().unwrap().record(Outcome::Success);
    let shedder = seawall::load_shed::LoadShedder::builder("prom")
        .max_in_flight(10)
        .build()
        .unwrap();
    drop(
        shedder
            .try_acquire(seawall::load_shed::Priority::DEFAULT)
            .unwrap(),
    );
    vec![
        Box::new(shedder),
        Box::new(adaptive),
        Box::new(failover),
        Box::new(hedge),
        Box::new(slo),
        Box::new(chaos),
        Box::new(breaker),
        Box::new(retry),
        Box::new(limiter),
        Box::new(keyed),
        Box::new(bulkhead),
        Box::new(timeout),
        Box::new(fallback),
    ]
}

// Paused time: the limiter's and the bulkhead's waits take no wall time;
// the exporter and the scrape are real sockets on loopback.
#[tokio::test(start_paused = true)]
async fn every_catalogue_name_is_served_on_metrics() {
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .unwrap();
    let _alive = traffic().await;
    seawall::telemetry::export_metrics();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/metrics").parse().unwrap();
    // The listener starts in the background: retry the first connection.
    let mut scrape = None;
    for _ in 0..100 {
        if let Ok(res) = client.get(uri.clone()).await {
            scrape = Some(res.into_body().collect().await.unwrap().to_bytes());
            break;
        }
        tokio::task::yield_now().await;
    }
    let text = String::from_utf8(scrape.expect("the exporter answers").to_vec()).unwrap();
    let served: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<String> = catalogue()
        .into_iter()
        .filter(|name| {
            !served.iter().any(|s| {
                *s == name
                    || s.strip_prefix(name.as_str())
                        .is_some_and(|rest| rest == "_sum" || rest == "_count")
            })
        })
        .collect();
    assert!(missing.is_empty(), "not in the scrape: {missing:?}\n{text}");
    // Each says what it is: a HELP line with the catalogue's meaning.
    for m in seawall::telemetry::METRICS {
        let help = format!("# HELP {} {}", m.name, m.help);
        assert!(
            text.lines().any(|l| l == help),
            "no `{help}` in the scrape:\n{text}"
        );
    }
}
