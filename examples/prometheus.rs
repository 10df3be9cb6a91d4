//! seawall's metrics in Prometheus: `metrics-exporter-prometheus` serves
//! `/metrics` on 127.0.0.1; seawall's instances publish to it through the
//! `metrics` facade (`spawn_metrics_exporter` refreshes every second, and
//! `export_metrics` on demand). The program runs a little traffic through a
//! breaker, a limiter, a bulkhead and a retry, scrapes its own `/metrics`
//! and prints seawall's lines.
//!
//! `cargo run --example prometheus`

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::PrometheusBuilder;
use seawall::prelude::*;
use std::net::SocketAddr;
use tower::{service_fn, Layer, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // A free port on loopback for the exporter's listener.
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()?;
    seawall::telemetry::spawn_metrics_exporter(Duration::from_secs(1));

    // Some traffic: a retry over a breaker over a flaky dependency, and a
    // limiter and a bulkhead turning calls away.
    let breaker = CircuitBreaker::builder("payments").build()?;
    let retry = Retry::builder("payments")
        .backoff(Backoff::Constant(Duration::from_millis(1)))
        .build()?;
    let flaky = service_fn(|n: u32| async move {
        if n % 3 == 0 {
            Err::<u32, BoxError>("flaky".into())
        } else {
            Ok(n)
        }
    });
    let svc = retry.layer().layer(breaker.layer().layer(flaky));
    for n in 0..30 {
        let _ = svc.clone().oneshot(n).await;
    }
    let limiter = RateLimiter::builder("search")
        .rate(10, Duration::from_secs(1))
        .burst(5)
        .build()?;
    let admitted = (0..10).filter(|_| limiter.try_acquire().is_ok()).count();
    let bulkhead = Bulkhead::builder("reports")
        .max_concurrent_calls(1)
        .build()?;
    let _held = bulkhead.try_acquire()?;
    let refused = bulkhead.try_acquire().is_err();
    println!("limiter admitted {admitted} of 10; bulkhead refused the second call: {refused}");

    seawall::telemetry::export_metrics(); // now, rather than within the second
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let res = client
        .get(format!("http://{addr}/metrics").parse()?)
        .await?;
    let text = String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?;
    println!("GET http://{addr}/metrics — seawall's lines:");
    let ours: Vec<&str> = text.lines().filter(|l| l.starts_with("seawall_")).collect();
    for line in &ours {
        println!("  {line}");
    }
    if ours.is_empty() {
        return Err("no seawall metrics in the scrape".into());
    }
    Ok(())
}
