//! A tonic client channel through seawall's `grpc_client` preset, against a
//! tonic server on 127.0.0.1 (the standard gRPC health service, so no code
//! generation is needed) whose first two answers are `UNAVAILABLE`: the
//! call is retried and succeeds, and the server is told the time left in
//! `grpc-timeout`.
//!
//! `cargo run --all-features --example tonic_client` (needs feature `grpc`).

use seawall::grpc::{GrpcReplay, RetryGrpc};
use seawall::prelude::*;
use seawall::stack::Stack;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceBuilder;

type Body = tonic::body::Body;

/// Server side: answers `UNAVAILABLE` until it has seen two calls.
#[derive(Clone)]
struct WarmUp<S> {
    inner: S,
    calls: Arc<AtomicU32>,
}

impl<S> tower::Service<http::Request<Body>> for WarmUp<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let timeout = req.headers().get("grpc-timeout").cloned();
        println!("server: call {n}, grpc-timeout {timeout:?}");
        if n <= 2 {
            return Box::pin(async { Ok(tonic::Status::unavailable("warming up").into_http()) });
        }
        Box::pin(self.inner.call(req))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let calls = Arc::new(AtomicU32::new(0));
    tokio::spawn(async move {
        let _keep = reporter;
        Server::builder()
            .layer(tower::layer::layer_fn(move |inner| WarmUp {
                inner,
                calls: calls.clone(),
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });

    // The client: a channel through the preset (which records each call's
    // messages as they are sent, so a retry can send them again).
    let channel = Channel::from_shared(url)?.connect().await?;
    // The preset, its retry given a 5 s deadline: each attempt tells the
    // server the time left in `grpc-timeout`.
    let retry = Retry::builder("inventory")
        .deadline(Duration::from_secs(5))
        .build()?
        .layer()
        .retry_if(RetryGrpc::new())
        .replay(GrpcReplay);
    let stack = Stack::grpc_client("inventory")?.with_retry(retry);
    let retry = stack.retry_layer().handle();
    let svc = ServiceBuilder::new().layer(stack).service(channel);
    let mut client = HealthClient::new(svc);
    let res = client
        .check(HealthCheckRequest {
            service: "inventory".into(),
        })
        .await?;
    let status = res.into_inner().status;
    let retries = retry.metrics().retries();
    println!("client: status {status} (1 = SERVING) after {retries} retries");
    if status != 1 || retries != 2 {
        return Err("expected SERVING after two retries".into());
    }
    Ok(())
}
