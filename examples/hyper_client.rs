//! A hyper client through seawall's `http_client` preset, against a local
//! server that answers every third request with 503: those calls are
//! retried once and succeed; the breaker stays closed (a third of the
//! attempts fail, under its 50% threshold).
//!
//! `cargo run --example hyper_client`

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::prelude::*;
use seawall::stack::Stack;
use std::sync::atomic::Ordering;
use tower::{Layer, ServiceExt};

mod support;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (addr, hits) = support::flaky_server().await;

    // The client: hyper-util's pooled client, bodies buffered (`Full<Bytes>`)
    // so requests can be replayed.
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let stack = Stack::http_client("inventory")?;
    let retry = stack.retry_layer().handle();
    let breaker = stack.circuit_breaker_layer().handle().clone();
    let svc = stack.layer(client);

    for item in 1..=10 {
        let req = Request::get(format!("http://{addr}/items/{item}")).body(Full::default())?;
        let res = svc.clone().oneshot(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        println!("item {item:>2}: {status} {body:?}");
        if status != StatusCode::OK {
            return Err(format!("item {item}: expected 200, got {status}").into());
        }
    }
    let m = retry.metrics();
    if breaker.state() != CircuitState::Closed {
        return Err("the breaker should have stayed closed".into());
    }
    println!(
        "\n10 calls, {} attempts reached the server, {} retries, {} left in the retry budget; breaker {:?}",
        hits.load(Ordering::SeqCst),
        m.retries(),
        m.budget_balance.unwrap_or(0),
        breaker.state()
    );
    Ok(())
}
