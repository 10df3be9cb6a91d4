//! A hyper client through seawall's `http_client` preset, against a local
//! server that answers every third request with 503: those calls are
//! retried once and succeed; the breaker stays closed (a third of the
//! attempts fail, under its 50% threshold).
//!
//! `cargo run --example hyper_client`

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use seawall::prelude::*;
use seawall::stack::Stack;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::{Layer, ServiceExt};

/// A server on 127.0.0.1 failing every third request with 503.
async fn flaky_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let count = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let mut res = Response::new(Full::new(Bytes::from_static(b"in stock")));
                        if n % 3 == 0 {
                            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        Ok::<_, std::convert::Infallible>(res)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (addr, hits) = flaky_server().await;

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
