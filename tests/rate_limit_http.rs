//! The keyed rate-limit layer on a real axum server on 127.0.0.1: a client
//! over its limit gets HTTP 429 with `Retry-After` through axum's
//! `HandleErrorLayer`; another client is unaffected.

use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, Request as AxumRequest, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::prelude::*;
use tower::ServiceBuilder;

/// Turns a seawall rejection into the HTTP answer a client can act on.
async fn rejection_to_response(err: BoxError) -> Response {
    match seawall::rejection(&err) {
        Some(r) if r.kind() == RejectionKind::RateLimited => {
            let secs = r.retry_after().unwrap_or_default().as_secs_f64().ceil() as u64;
            let mut res = StatusCode::TOO_MANY_REQUESTS.into_response();
            res.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            res
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::test]
async fn a_client_over_its_limit_gets_429_with_retry_after_and_others_do_not() {
    let clock = ManualClock::new();
    let per_client = RateLimiter::builder("per-client")
        .rate(1, Duration::from_secs(10))
        .burst(3)
        .clock(clock.clone())
        .build_keyed::<String>()
        .unwrap();
    let key_of = |req: &AxumRequest<axum::body::Body>| {
        req.headers()
            .get("x-client")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_string()
    };
    let app = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(rejection_to_response))
            .layer(per_client.layer(key_of)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |who: &'static str| {
        let client = client.clone();
        async move {
            let req = http::Request::get(format!("http://{addr}/"))
                .header("x-client", who)
                .body(Empty::new())
                .unwrap();
            client.request(req).await.unwrap()
        }
    };

    for _ in 0..3 {
        assert_eq!(get("greedy").await.status(), StatusCode::OK);
    }
    let limited = get("greedy").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "10");
    for _ in 0..3 {
        assert_eq!(
            get("polite").await.status(),
            StatusCode::OK,
            "an independent limit"
        );
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        get("greedy").await.status(),
        StatusCode::OK,
        "after Retry-After"
    );
    assert_eq!(per_client.len(), 2);
}
