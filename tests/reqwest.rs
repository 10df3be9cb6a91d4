//! reqwest through both routes — a `reqwest::Client` in the HTTP preset,
//! and the preset as `reqwest-middleware` middleware — against a real
//! HTTP server on 127.0.0.1, checking what the hyper tests check: 503 with
//! `Retry-After` twice then 200 (the waits taken from the server, as the
//! retry's counts show), a POST not resent, a breaker opening on 500s.
//!
//! Real time: the preset's attempt and total timeouts are pending while
//! the client waits on the socket, and paused time would fire them (it
//! advances whenever the runtime waits on I/O alone).
#![cfg(feature = "reqwest")]

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use seawall::http::RetrySafe;
use seawall::prelude::*;
use seawall::reqwest::{rejection, SeawallMiddleware};
use seawall::stack::Stack;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{Layer, ServiceExt};

/// A server answering `first` (with `Retry-After: 1` if 503) to its first
/// `times` requests, then 200 "done"; and its count of requests.
fn serve(first: u16, times: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let addr = support::serve_on_thread(move |_connection| {
        let hits = seen.clone();
        move |_req: Request<Incoming>| {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            async move {
                let res = if n < times {
                    Response::builder()
                        .status(first)
                        .header("retry-after", "1")
                        .body(Full::new(Bytes::from_static(b"busy")))
                } else {
                    Response::builder().body(Full::new(Bytes::from_static(b"done")))
                };
                res.unwrap()
            }
        }
    });
    (addr, hits)
}

/// A `ClientWithMiddleware` running the preset named `name`, and the
/// preset's retry (for its counts).
fn middleware_client(name: &str) -> (reqwest_middleware::ClientWithMiddleware, Retry) {
    let stack = Stack::http_client(name).unwrap();
    let retry = stack.retry_layer().handle();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SeawallMiddleware::new(stack))
        .build();
    (client, retry)
}

#[tokio::test]
async fn a_client_in_the_preset_waits_as_told_then_gets_200() {
    let (addr, hits) = serve(503, 2);
    let http = reqwest::Client::new();
    let stack = Stack::http_client("inventory").unwrap();
    let retry = stack.retry_layer().handle();
    let svc = stack.layer(http.clone());
    let start = std::time::Instant::now();
    let req = http.get(format!("http://{addr}/")).build().unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "done");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Both retries waited the server's "1 second", not the backoff's ≤ 100 ms.
    let m = retry.metrics();
    assert_eq!((m.calls, m.retries_throttled), (1, 2));
    assert!(start.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn the_middleware_waits_as_told_then_gets_200() {
    let (addr, hits) = serve(503, 2);
    let (client, retry) = middleware_client("inventory");
    let start = std::time::Instant::now();
    let res = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "done");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let m = retry.metrics();
    assert_eq!((m.calls, m.retries_throttled), (1, 2));
    assert!(start.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_post_is_sent_once_unless_marked_safe() {
    // Retry-After: 1 s each time; the third attempt gets 503 too.
    let (addr, hits) = serve(503, usize::MAX);
    let url = format!("http://{addr}/");
    // A client in the preset: the server's 503 comes back, sent once.
    let http = reqwest::Client::new();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let stack = Stack::http_client("orders").unwrap().with_retry(
        Retry::builder("orders")
            .on_event(move |e| log.lock().unwrap().push(e.kind.clone()))
            .build()
            .unwrap()
            .layer()
            .for_http(),
    );
    let retry = stack.retry_layer().handle();
    let svc = stack.layer(http.clone());
    let res = svc
        .oneshot(http.post(&url).body("order").build().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.swap(0, Ordering::SeqCst), 1);
    // Why one attempt: counted, and told.
    assert_eq!(retry.metrics().not_retried_not_idempotent, 1);
    assert!(matches!(
        seen.lock().unwrap()[..],
        [EventKind::NotRetried {
            attempts: 1,
            reason: seawall::telemetry::NotRetriedReason::NotIdempotent
        }]
    ));
    // The middleware: the same, unless the request is marked safe to resend.
    let (client, retry) = middleware_client("orders");
    let res = client.post(&url).body("order").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.swap(0, Ordering::SeqCst), 1);
    let res = client
        .post(&url)
        .body("order")
        .with_extension(RetrySafe)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.swap(0, Ordering::SeqCst), 3, "three attempts");
    assert_eq!(
        retry.metrics().not_retried_not_idempotent,
        1,
        "the unmarked one"
    );
}

#[tokio::test]
async fn the_breaker_opens_on_500s_through_both_routes() {
    let (addr, hits) = serve(500, usize::MAX);
    let url = format!("http://{addr}/");
    // The preset's breaker opens at 50% failures from 20 calls on; a 500
    // is not retried, so each call is one attempt.
    let http = reqwest::Client::new();
    let svc = Stack::http_client("ledger").unwrap().layer(http.clone());
    for _ in 0..20 {
        let res = svc
            .clone()
            .oneshot(http.get(&url).build().unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let err = svc
        .clone()
        .oneshot(http.get(&url).build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        seawall::rejection(&err).map(|r| r.kind()),
        Some(RejectionKind::CircuitOpen)
    );
    assert_eq!(hits.swap(0, Ordering::SeqCst), 20, "refused without a call");

    let (client, _) = middleware_client("ledger");
    for _ in 0..20 {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let err = client.get(&url).send().await.unwrap_err();
    let refused = rejection(&err).expect("seawall's refusal");
    assert_eq!(refused.kind(), RejectionKind::CircuitOpen);
    assert_eq!(refused.name(), "ledger");
    assert_eq!(hits.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn the_chains_own_errors_pass_through_unchanged() {
    // Nothing listens on port 1: the client's connect error comes back as
    // the chain's own error, after the retries, not as seawall's.
    let (client, retry) = middleware_client("nowhere");
    let err = client.get("http://127.0.0.1:1/").send().await.unwrap_err();
    assert!(rejection(&err).is_none(), "{err:?}");
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(retry.metrics().retries_after_error, 2, "retried first");
}
