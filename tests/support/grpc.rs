//! A tonic server on 127.0.0.1 for the gRPC tests: the standard health
//! service, answering its first calls `UNAVAILABLE` and recording what each
//! call was told.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::transport::Server;

type Body = tonic::body::Body;

/// Answers the first `fail_first` calls `UNAVAILABLE`, recording each
/// call's `grpc-timeout`.
#[derive(Clone)]
pub struct Flaky<S> {
    inner: S,
    fail_first: u32,
    /// How long a failing answer takes.
    fail_after: Duration,
    calls: Arc<AtomicU32>,
    timeouts: Arc<Mutex<Vec<Option<String>>>>,
    previous: Arc<Mutex<Vec<Option<String>>>>,
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
        // gRFC A6: the n-th call of a retried one says n - 1 came before.
        let previous = req
            .headers()
            .get("grpc-previous-rpc-attempts")
            .map(|v| v.to_str().unwrap().to_owned());
        self.previous.lock().unwrap().push(previous);
        if n < self.fail_first {
            let after = self.fail_after;
            return Box::pin(async move {
                tokio::time::sleep(after).await;
                Ok(tonic::Status::unavailable("warming up").into_http())
            });
        }
        Box::pin(self.inner.call(req))
    }
}

/// What a test server saw: each call's `grpc-timeout` and
/// `grpc-previous-rpc-attempts`.
pub type Told = Arc<Mutex<Vec<Option<String>>>>;

pub async fn start_server(fail_first: u32) -> (String, Arc<AtomicU32>, Told, Told) {
    start_slow_server(fail_first, Duration::ZERO).await
}

pub async fn start_slow_server(
    fail_first: u32,
    fail_after: Duration,
) -> (String, Arc<AtomicU32>, Told, Told) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let calls = Arc::new(AtomicU32::new(0));
    let timeouts = Arc::new(Mutex::new(Vec::new()));
    let previous = Arc::new(Mutex::new(Vec::new()));
    let (c, t, p) = (calls.clone(), timeouts.clone(), previous.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _keep = reporter;
        Server::builder()
            .layer(tower::layer::layer_fn(move |inner| Flaky {
                inner,
                fail_first,
                fail_after,
                calls: c.clone(),
                timeouts: t.clone(),
                previous: p.clone(),
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (format!("http://{addr}"), calls, timeouts, previous)
}

/// The `grpc-timeout`s a server saw, in microseconds.
pub fn micros(told: &[Option<String>]) -> Vec<u64> {
    told.iter()
        .map(|t| {
            let t = t.as_deref().expect("every attempt carries grpc-timeout");
            let d = seawall::grpc::parse_grpc_timeout(t.as_bytes()).expect(t);
            d.as_micros() as u64
        })
        .collect()
}
