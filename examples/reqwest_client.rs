//! reqwest through seawall, both ways, against a local server that answers
//! every third request with 503: a `reqwest::Client` in the `http_client`
//! preset, and the same preset as `reqwest-middleware` middleware. The
//! 503s are retried once and succeed; the breaker stays closed.
//!
//! `cargo run --features reqwest --example reqwest_client`

use http::StatusCode;
use seawall::prelude::*;
use seawall::reqwest::SeawallMiddleware;
use seawall::stack::Stack;
use std::sync::atomic::Ordering;
use tower::{Layer, ServiceExt};

mod support;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (addr, hits) = support::flaky_server().await;
    let http = reqwest::Client::new();

    // 1. A reqwest::Client in the preset: a tower service of reqwest's
    //    own requests and responses.
    let stack = Stack::http_client("inventory")?;
    let retry = stack.retry_layer().handle();
    let inventory = stack.layer(http.clone());
    for item in 1..=5 {
        let req = http.get(format!("http://{addr}/items/{item}")).build()?;
        let res = inventory.clone().oneshot(req).await?;
        if res.status() != StatusCode::OK {
            return Err(format!("item {item}: expected 200, got {}", res.status()).into());
        }
        println!(
            "preset     item {item}: {} {:?}",
            res.status(),
            res.text().await?
        );
    }
    println!("           {} retries\n", retry.metrics().retries());

    // 2. The preset as middleware of a ClientWithMiddleware.
    let stack = Stack::http_client("inventory-mw")?;
    let (retry, breaker) = (
        stack.retry_layer().handle(),
        stack.circuit_breaker_layer().handle().clone(),
    );
    let client = reqwest_middleware::ClientBuilder::new(http)
        .with(SeawallMiddleware::new(stack))
        .build();
    for item in 1..=5 {
        let res = client
            .get(format!("http://{addr}/items/{item}"))
            .send()
            .await?;
        if res.status() != StatusCode::OK {
            return Err(format!("item {item}: expected 200, got {}", res.status()).into());
        }
        println!(
            "middleware item {item}: {} {:?}",
            res.status(),
            res.text().await?
        );
    }
    if breaker.state() != CircuitState::Closed {
        return Err("the breaker should have stayed closed".into());
    }
    println!(
        "           {} retries; 10 calls took {} attempts; breaker {:?}",
        retry.metrics().retries(),
        hits.load(Ordering::SeqCst),
        breaker.state()
    );
    Ok(())
}
