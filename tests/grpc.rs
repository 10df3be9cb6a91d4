//! A tonic client channel through the `grpc_client` preset against a tonic
//! server on 127.0.0.1 (the standard health service) that answers its first
//! two calls `UNAVAILABLE`: the call is retried and succeeds; each attempt
//! tells the server its time left in `grpc-timeout`; `NOT_FOUND` is neither
//! retried nor a breaker failure.
#![cfg(feature = "grpc")]

use seawall::grpc::{BufferRequestLayer, GrpcReplay, RetryGrpc};
use seawall::prelude::*;
use seawall::stack::Stack;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceBuilder;

type Body = tonic::body::Body;

/// Answers the first `fail_first` calls `UNAVAILABLE`, recording each
/// call's `grpc-timeout`.
#[derive(Clone)]
struct Flaky<S> {
    inner: S,
    fail_first: u32,
    calls: Arc<AtomicU32>,
    timeouts: Arc<Mutex<Vec<Option<String>>>>,
}

impl<S> tower::Service<http::Request<Body>> for Flaky<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_owned());
        self.timeouts.lock().unwrap().push(timeout);
        if n < self.fail_first {
            return Box::pin(async { Ok(tonic::Status::unavailable("warming up").into_http()) });
        }
        Box::pin(self.inner.call(req))
    }
}

async fn start_server(
    fail_first: u32,
) -> (String, Arc<AtomicU32>, Arc<Mutex<Vec<Option<String>>>>) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let calls = Arc::new(AtomicU32::new(0));
    let timeouts = Arc::new(Mutex::new(Vec::new()));
    let (c, t) = (calls.clone(), timeouts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _keep = reporter;
        Server::builder()
            .layer(tower::layer::layer_fn(move |inner| Flaky {
                inner,
                fail_first,
                calls: c.clone(),
                timeouts: t.clone(),
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (format!("http://{addr}"), calls, timeouts)
}

#[tokio::test]
async fn unavailable_is_retried_and_not_found_is_ignored() {
    let (url, calls, timeouts) = start_server(2).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    // The preset, with a 10 s deadline for the retry, so each attempt tells
    // the server its time left.
    let preset = Stack::grpc_client("inventory").unwrap();
    let retry = Retry::builder("inventory")
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap()
        .layer()
        .retry_if(RetryGrpc::new())
        .replay(GrpcReplay);
    let stack = preset.with_retry(retry);
    let (retry, breaker) = (
        stack.retry_layer().handle(),
        stack.circuit_breaker_layer().handle().clone(),
    );
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new())
        .layer(stack)
        .service(channel);
    let mut client = HealthClient::new(svc);

    let res = client
        .check(HealthCheckRequest {
            service: "inventory".into(),
        })
        .await
        .unwrap();
    assert_eq!(res.into_inner().status, 1, "SERVING, on the third attempt");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(retry.metrics().retries(), 2);
    // Each attempt told the server its time left.
    let told = timeouts.lock().unwrap().clone();
    assert_eq!(told.len(), 3);
    for t in &told {
        let ms: u64 = t.as_deref().unwrap().trim_end_matches('m').parse().unwrap();
        assert!((9_000..=10_000).contains(&ms), "{t:?}");
    }
    let m = breaker.metrics();
    assert_eq!((m.total_failures, m.total_successes), (2, 1));

    // An unknown service: NOT_FOUND, not retried, ignored by the breaker.
    let err = client
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(breaker.metrics().total_ignored, 1);
}
