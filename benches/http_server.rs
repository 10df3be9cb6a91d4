//! What telling callers their rate limit costs a server: an admitted
//! request through `RateLimitHeadersLayer` (the IETF `RateLimit` and
//! `RateLimit-Policy` headers and the legacy `X-RateLimit-*`), against the
//! plain `RateLimitLayer` and the bare service, in the same run; a limit
//! never reached, so every call is admitted and answered with headers.
//! `cargo bench --bench http_server`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::http::{RateLimitHeaderStyle, RateLimitHeadersLayer};
use seawall::prelude::*;
use std::convert::Infallible;
use support::layer_contender_with;
use tower::Layer;

type Handler = tower::util::ServiceFn<
    fn(http::Request<()>) -> std::future::Ready<Result<http::Response<bytes::Bytes>, Infallible>>,
>;

/// A handler that answers at once.
fn handler() -> Handler {
    tower::service_fn(|_req: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(http::Response::new(
            bytes::Bytes::from_static(b"ok"),
        )))
    })
}

fn request(_: u64) -> http::Request<()> {
    http::Request::new(())
}

fn limiter() -> RateLimiter {
    RateLimiter::builder("bench")
        .rate(1_000_000_000, Duration::from_secs(1))
        .burst(1_000_000)
        .build()
        .unwrap()
}

fn headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_server/rate limit");
    layer_contender_with(&mut g, "bare", handler(), request, None);
    layer_contender_with(
        &mut g,
        "RateLimitLayer",
        limiter().layer().layer(handler()),
        request,
        None,
    );
    layer_contender_with(
        &mut g,
        "RateLimitHeadersLayer",
        RateLimitHeadersLayer::new(limiter()).layer(handler()),
        request,
        None,
    );
    layer_contender_with(
        &mut g,
        "RateLimitHeadersLayer legacy only",
        RateLimitHeadersLayer::new(limiter())
            .style(RateLimitHeaderStyle::Legacy)
            .layer(handler()),
        request,
        None,
    );
    g.finish();
}

criterion_group!(benches, headers);
criterion_main!(benches);
