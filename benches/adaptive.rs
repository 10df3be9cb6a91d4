//! The success path of each adaptive layer — a call that answers at once,
//! admitted — against the bare service and the peers measured in the same
//! run: tower's `ConcurrencyLimit` and `LoadShed`, and tower-resilience's
//! adaptive limiter (AIMD). The client-side throttle has no Rust peer.
//! `cargo bench --bench adaptive`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::adaptive::{AdaptiveLimiter, AdaptiveThrottle};
use seawall::load_shed::LoadShedder;
use std::time::Duration;
use support::{bare, layer_contender};
use tower::Layer;

fn limiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/limiter");
    layer_contender(&mut g, "bare", bare());
    layer_contender(
        &mut g,
        "tower ConcurrencyLimit",
        tower::limit::ConcurrencyLimitLayer::new(1000).layer(bare()),
    );
    let aimd = tower_resilience::adaptive::Aimd::builder()
        .initial_limit(20)
        .min_limit(20)
        .max_limit(200)
        .latency_threshold(Duration::from_secs(5))
        .build()
        .unwrap();
    layer_contender(
        &mut g,
        "tower-resilience AdaptiveLimiter (AIMD)",
        tower_resilience::adaptive::AdaptiveLimiterLayer::new(aimd).layer(bare()),
    );
    let l = AdaptiveLimiter::builder("bench").build().unwrap();
    layer_contender(
        &mut g,
        "seawall AdaptiveLimiterLayer (Gradient2)",
        l.layer().layer(bare()),
    );
    g.finish();
}

fn load_shed(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/load_shed");
    layer_contender(&mut g, "bare", bare());
    layer_contender(
        &mut g,
        "tower LoadShed",
        tower::load_shed::LoadShedLayer::new().layer(bare()),
    );
    layer_contender(
        &mut g,
        "tower LoadShed + ConcurrencyLimit",
        tower::load_shed::LoadShedLayer::new()
            .layer(tower::limit::ConcurrencyLimitLayer::new(1000).layer(bare())),
    );
    let s = LoadShedder::builder("bench").build().unwrap();
    layer_contender(
        &mut g,
        "seawall LoadShedLayer (not ready only)",
        s.layer().layer(bare()),
    );
    let s = LoadShedder::builder("bench")
        .max_in_flight(1000)
        .build()
        .unwrap();
    layer_contender(
        &mut g,
        "seawall LoadShedLayer (max_in_flight)",
        s.layer().layer(bare()),
    );
    g.finish();
}

fn throttle(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/throttle");
    layer_contender(&mut g, "bare", bare());
    let t = AdaptiveThrottle::builder("bench").build().unwrap();
    layer_contender(
        &mut g,
        "seawall AdaptiveThrottleLayer",
        t.layer().layer(bare()),
    );
    g.finish();
}

criterion_group!(benches, limiter, load_shed, throttle);
criterion_main!(benches);
