//! Servers that answer well, on a real axum server on 127.0.0.1: refusals
//! as responses without `HandleErrorLayer` (a body that names no instance,
//! or the user's own), a handler `?`-ing seawall's errors, and the rate
//! limit told in `RateLimit`/`RateLimit-Policy` and `X-RateLimit-*`
//! headers, per key — a request without a key exempt, or answered 401.
#![cfg(all(feature = "axum", feature = "reqwest"))]

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use seawall::http::{RateLimitHeadersLayer, Rejected, RejectionResponse};
use seawall::prelude::*;
use std::net::SocketAddr;
use tower::ServiceBuilder;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// One a minute, a burst of 2, on a clock the test moves.
fn limiter(name: &str, clock: &ManualClock) -> seawall::rate_limit::RateLimiterBuilder {
    RateLimiter::builder(name)
        .rate(1, Duration::from_secs(60))
        .burst(2)
        .clock(clock.clone())
}

#[tokio::test]
async fn refusals_are_answered_without_handle_error_layer_and_name_nothing() {
    let clock = ManualClock::new();
    let limit = limiter("internal-billing-limit", &clock).build().unwrap();
    let plain = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(RejectionResponse::new().layer())
            .layer(limit.layer()),
    );
    let problem = RejectionResponse::new().body(|r| {
        let retry = r
            .rejection
            .and_then(|r| r.retry_after())
            .unwrap_or_default();
        (
            "application/problem+json",
            format!(
                r#"{{"status":{},"title":"{}","retry_after":{}}}"#,
                r.status.as_u16(),
                r.status.canonical_reason().unwrap_or(""),
                retry.as_secs()
            ),
        )
    });
    let limit = limiter("internal-billing-limit", &clock).build().unwrap();
    let json = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(problem.layer())
            .layer(limit.layer()),
    );
    let http = reqwest::Client::new();
    for (app, body, content_type) in [
        (plain, "Too Many Requests", "text/plain; charset=utf-8"),
        (
            json,
            r#"{"status":429,"title":"Too Many Requests","retry_after":60}"#,
            "application/problem+json",
        ),
    ] {
        let addr = serve(app).await;
        for _ in 0..2 {
            let res = http.get(format!("http://{addr}/")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        let res = http.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&res, "retry-after").as_deref(), Some("60"));
        assert_eq!(header(&res, "content-type").as_deref(), Some(content_type));
        let text = res.text().await.unwrap();
        assert_eq!(text, body);
        assert!(!text.contains("billing"), "no instance name: {text}");
    }
}

#[tokio::test]
async fn a_handler_answers_with_seawalls_errors() {
    let clock = ManualClock::new();
    let quotes = limiter("quotes", &clock).build().unwrap();
    let app = Router::new().route(
        "/quote",
        get(move || {
            let quotes = quotes.clone();
            async move {
                quotes.try_acquire()?;
                Ok::<_, Rejected>("42")
            }
        }),
    );
    let addr = serve(app).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/quote");
    for _ in 0..2 {
        assert_eq!(
            http.get(&url).send().await.unwrap().text().await.unwrap(),
            "42"
        );
    }
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "retry-after").as_deref(), Some("60"));
    assert_eq!(res.text().await.unwrap(), "Too Many Requests");
}

#[tokio::test]
async fn rate_limit_headers_per_key_with_exempt_and_failing_keys() {
    let clock = ManualClock::new();
    let per_key = limiter("per-key", &clock).build_keyed::<String>().unwrap();
    // The key is the API key; a request without one is exempt.
    let optional = RateLimitHeadersLayer::keyed(per_key.clone(), |req: &http::Request<Body>| {
        let key = req.headers().get("x-api-key")?;
        Some(key.to_str().ok()?.to_owned())
    })
    .policy_name("per-key");
    // Or: a request without one is refused 401.
    #[derive(Debug)]
    struct NoApiKey;
    impl std::fmt::Display for NoApiKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no API key")
        }
    }
    impl std::error::Error for NoApiKey {}
    let required = RateLimitHeadersLayer::keyed(per_key, |req: &http::Request<Body>| {
        req.headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(NoApiKey)
    })
    .responses(
        RejectionResponse::new()
            .error_status(|e| e.is::<NoApiKey>().then_some(StatusCode::UNAUTHORIZED)),
    );
    let app = Router::new()
        .route("/open", get(|| async { "hello" }))
        .route_layer(optional)
        .merge(
            Router::new()
                .route("/closed", get(|| async { "hello" }))
                .route_layer(required),
        );
    let addr = serve(app).await;
    let http = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut req = http.get(format!("http://{addr}{path}"));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send()
    };

    // Alice: her burst of 2 counted down, then 429 with the same headers.
    let res = get("/open", Some("alice")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some(r#""per-key";q=2;w=120"#)
    );
    assert_eq!(
        header(&res, "ratelimit").as_deref(),
        Some(r#""per-key";r=1;t=60"#)
    );
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("1"));
    assert_eq!(header(&res, "x-ratelimit-reset").as_deref(), Some("60"));
    let res = get("/open", Some("alice")).await.unwrap();
    assert_eq!(
        header(&res, "ratelimit").as_deref(),
        Some(r#""per-key";r=0;t=120"#)
    );
    let res = get("/open", Some("alice")).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&res, "ratelimit").as_deref(),
        Some(r#""per-key";r=0;t=60"#)
    );
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header(&res, "retry-after").as_deref(), Some("60"));
    assert_eq!(res.text().await.unwrap(), "Too Many Requests");
    // A minute on, one more fits.
    clock.advance(Duration::from_secs(60));
    let res = get("/open", Some("alice")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("0"));

    // Bob has his own burst.
    let res = get("/open", Some("bob")).await.unwrap();
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("1"));

    // No key: exempt, however many, and told nothing.
    for _ in 0..5 {
        let res = get("/open", None).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit"), None);
    }
    // No key where one is required: 401, named by the user's error.
    let res = get("/closed", None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.text().await.unwrap(), "Unauthorized");
    let res = get("/closed", Some("carol")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
