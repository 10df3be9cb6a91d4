//! An axum server protected by seawall: per-client rate limits (by the
//! `x-client` header; a request without one is exempt) told to each client
//! in `RateLimit` and `X-RateLimit-*` headers, and a bulkhead shedding
//! load, inside the `server` preset; refusals are answered 429 (with
//! `Retry-After`) and 503, with bodies that name nothing inside, and no
//! `HandleErrorLayer`.
//!
//! `cargo run --example axum_server` starts it on 127.0.0.1, sends a burst
//! from a greedy client and a few calls from a polite one, prints what each
//! got, and exits.

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::http::RateLimitHeadersLayer;
use seawall::prelude::*;
use seawall::stack::Stack;
use std::collections::BTreeMap;
use tower::ServiceBuilder;

async fn handler() -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await; // some work
    "hello"
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Each client: 5 requests at once, then 1 per second.
    let per_client = RateLimiter::builder("per-client")
        .rate(1, Duration::from_secs(1))
        .burst(5)
        .max_keys(10_000)
        .build_keyed::<String>()?;
    // The client's id; without one, exempt (`None`).
    let client_id = |req: &Request<axum::body::Body>| {
        let id = req.headers().get("x-client")?.to_str().ok()?;
        Some(id.to_owned())
    };
    // The server preset (30 s per request, bulkhead), with a small bulkhead
    // so the demo can fill it: 8 requests in the handlers at once.
    let bulkhead = Bulkhead::builder("api").max_concurrent_calls(8).build()?;
    let stack = Stack::server("api")?.bulkhead(bulkhead.layer());
    let app = Router::new().route("/", get(handler)).layer(
        ServiceBuilder::new()
            // Per-client limits outside the shared bulkhead: a client over
            // its limit is told 429 before it can take a slot from others.
            // Every answer carries the client's limit; every error (the
            // bulkhead's too) is answered, so no HandleErrorLayer.
            .layer(RateLimitHeadersLayer::keyed(per_client, client_id).policy_name("per-client"))
            .layer(stack),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving on http://{addr}/");

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let call = |who: &'static str| {
        let client = client.clone();
        async move {
            let req = Request::get(format!("http://{addr}/"))
                .header("x-client", who)
                .body(Empty::new())
                .unwrap();
            let res = client.request(req).await?;
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap_or("?").to_owned())
            };
            let (retry_after, limit) = (header("retry-after"), header("ratelimit"));
            Ok::<_, BoxError>((who, res.status(), retry_after, limit))
        }
    };
    // 12 greedy requests at once, then 3 polite ones while the handlers are busy.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..12 {
        calls.spawn(call("greedy"));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..3 {
        calls.spawn(call("polite"));
    }
    let mut seen: BTreeMap<(&str, u16, Option<String>), u32> = BTreeMap::new();
    let mut polite_limit = None;
    while let Some(r) = calls.join_next().await {
        let (who, status, retry_after, limit) = r??;
        *seen.entry((who, status.as_u16(), retry_after)).or_default() += 1;
        if who == "polite" {
            polite_limit = polite_limit.min(limit.clone()).or(limit);
        }
    }
    for ((who, status, retry_after), n) in &seen {
        let reason = StatusCode::from_u16(*status)?
            .canonical_reason()
            .unwrap_or("");
        let after = retry_after
            .as_deref()
            .map(|s| format!(", Retry-After: {s}"))
            .unwrap_or_default();
        println!("{who:>7}: {n:>2} × {status} {reason}{after}");
    }
    println!(
        " polite: last told RateLimit: {}",
        polite_limit.as_deref().unwrap_or("-")
    );
    let got = |who: &str, status: u16| {
        seen.iter()
            .filter(|((w, s, _), _)| *w == who && *s == status)
            .map(|(_, n)| n)
            .sum::<u32>()
    };
    // The greedy client's burst of 5 passes; the rest find the bulkhead full
    // (503) or their client over its limit (429). The polite client, under
    // its own limit and within the bulkhead's spare room, is unaffected.
    if got("greedy", 200) != 5
        || got("greedy", 429) + got("greedy", 503) != 7
        || got("polite", 200) != 3
    {
        return Err("unexpected answers".into());
    }
    Ok(())
}
