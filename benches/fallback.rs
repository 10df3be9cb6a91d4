//! The success path through a fallback layer against the bare service.
//! `cargo bench --bench fallback`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::fallback::Fallback;
use support::{bare, layer_contender};
use tower::Layer;

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("fallback/success");
    layer_contender(&mut g, "bare", bare());
    layer_contender(
        &mut g,
        "seawall value fallback",
        Fallback::builder("bench").value(0u64).layer(bare()),
    );
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
