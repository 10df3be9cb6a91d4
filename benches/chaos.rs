//! A call through a fault injector that injects nothing: disabled, enabled
//! at rate 0, and enabled drawing a decision that passes (rate 1e-9: every
//! draw made, none injected), against the bare service and
//! tower-resilience's chaos layer drawing the same way.
//! `cargo bench --bench chaos`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::chaos::Chaos;
use std::time::Duration;
use support::{bare, layer_contender, layer_contender_with};
use tower::Layer;

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("chaos/passing");
    layer_contender(&mut g, "bare", bare());
    let off = Chaos::builder("off")
        .error_rate(1.0)
        .enabled(false)
        .build()
        .unwrap();
    layer_contender(&mut g, "seawall disabled", off.layer().layer(bare()));
    let zero = Chaos::builder("zero").build().unwrap();
    layer_contender(
        &mut g,
        "seawall enabled, rate 0",
        zero.layer().layer(bare()),
    );
    let drawing = Chaos::builder("drawing")
        .error_rate(1e-9)
        .seed(1)
        .build()
        .unwrap();
    layer_contender(
        &mut g,
        "seawall enabled, drawing",
        drawing.layer().layer(bare()),
    );
    let theirs = tower_resilience::chaos::ChaosLayer::builder()
        .name("theirs")
        .latency_rate(1e-9)
        .min_latency(Duration::from_millis(1))
        .max_latency(Duration::from_millis(2))
        .seed(1)
        .build();
    layer_contender_with(
        &mut g,
        "tower-resilience chaos, drawing",
        theirs.layer(bare()),
        |i| i,
        Some(rt.handle()),
    );
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
